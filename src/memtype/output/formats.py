"""JSON and CSV writers. JSON is the stable "memtype/1" schema documented in the README."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence

from memtype._version import __version__
from memtype.kinds import KINDS, Kind
from memtype.model.group import Group
from memtype.model.records import KindUsage, Mapping, ProcessMemory, Scan, Totals
from memtype.output.fields import FIELDS

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.output.fields import HasMemory

SCHEMA = "memtype/1"
_TOTAL_KEYS = ("size", "rss", "pss", "uss", "swap", "swap_pss", "hugetlb", "device_mapped", "locked", "lazyfree",
               "anon_huge")


def _categories(c: dict[Kind, KindUsage]) -> dict[str, dict[str, int]]:
    return {k.value: {"rss": c[k].rss, "pss": c[k].pss, "swap": c[k].swap, "swap_pss": c[k].swap_pss}
            for k in KINDS}


def _totals(t: Totals) -> dict[str, int]:
    return {k: getattr(t, k) for k in _TOTAL_KEYS}


def process_dict(p: ProcessMemory, *, cmdline: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"pid": p.pid, "comm": p.comm, "user": p.user, "uid": p.uid, "ppid": p.ppid,
                         "starttime": p.starttime}
    if p.exe is not None or p.cmdline is not None:
        d["program"] = p.program
    if cmdline:
        d["cmdline"] = p.cmdline
    d.update(_totals(p.totals))
    d["categories"] = _categories(p.categories)
    d["incomplete"] = bool(p.problems)
    d["exact"] = p.exact
    if p.pages is not None:
        d["pages"] = p.pages
    if p.cgroup is not None:
        d["cgroup"] = p.cgroup
    if p.reclaim is not None:
        d["reclaim"] = p.reclaim
    return d


def group_dict(g: Group, by: str) -> dict[str, Any]:
    d: dict[str, Any] = {by: g.key, "count": g.count, "pids": g.pids}
    d.update(_totals(g.totals))
    d["categories"] = _categories(g.categories)
    return d


def mapping_dict(m: Mapping) -> dict[str, Any]:
    d: dict[str, Any] = {"start": f"{m.start:x}", "end": f"{m.end:x}", "perms": m.perms, "offset": m.offset,
                         "dev": m.dev, "inode": m.inode, "path": m.path, "vmflags": list(m.vmflags),
                         "class": m.mapclass}
    d.update(_totals(m.totals))
    d["categories"] = _categories(m.categories)
    return d


def host_dict(scan: Scan) -> dict[str, Any]:
    h = scan.host
    return {"hostname": h.hostname, "kernel": h.kernel, "page_size": h.page_size, "live": h.live,
            "root": h.root, "captured_at": h.captured_at, "memtype_version": __version__}


def summary_dict(scan: Scan) -> dict[str, Any]:
    return {"processes": len(scan.processes), "kernel_threads": scan.kernel_threads, "skipped": scan.skip_counts()}


def document(scan: Scan, **sections: Any) -> str:
    doc: dict[str, Any] = {"schema": SCHEMA, "host": host_dict(scan), "summary": summary_dict(scan),
                           "exact": bool(scan.processes) and all(p.exact for p in scan.processes)}
    doc.update(sections)
    doc["warnings"] = scan.warnings
    return json.dumps(doc, separators=(",", ":"))  # compact: the C encoder, ~10x faster than indent


def csv_text(rows: Sequence[HasMemory], key_columns: Sequence[tuple[str, Any]], field_ids: Iterable[str]) -> str:
    """CSV with a header line; sizes in bytes. key_columns: (header, function of the row)."""
    ids = list(field_ids)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([h for h, _ in key_columns] + ids)
    for r in rows:
        w.writerow([f(r) for _, f in key_columns] + [FIELDS[i].get(r) for i in ids])
    return out.getvalue()
