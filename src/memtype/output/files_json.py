"""JSON of ``memtype files`` (schema "memtype/2", the envelope of ``output/json.py``): sizes in bytes,
``null`` where unknown.

``{"schema", "host", "method": "cachestat"|"mincore"|null, "files": [item...], ...}``; each item has
``path``, ``size``, ``cached``, ``dirty``, ``writeback``, ``evicted``, ``recently_evicted``, ``kind``
("file" or "shmem"), ``method``, ``unknown`` (null, or why the figures are null: "denied",
"unsupported", "capture"...), ``mapped_by`` and ``open_by`` (PIDs; null where they cannot be known),
plus ``cached_before`` after --evict/--warm, ``cgroup`` in ``--top`` and ``mapped_pss`` in captures.
With paths: ``action``, ``directories`` and ``total`` (``files``, ``size``, the figures summed over the
files that report them, ``unknown_files``), ``skipped`` ([{path, reason}]) and ``notes``. With
``--top``: ``machine`` (``file_cache`` = ``held`` + ``buffers`` + ``unheld``; ``mapped_pss`` instead of
``held`` in a capture) and ``notes``.

Streamed in batches: a recursive scan of /usr has ~143,000 items, and one ``json.dumps`` of them all
would hold every item's dict and the whole text in memory at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from memtype.model.fields_files import CACHE_TOTAL, FILE, MACHINE_CACHE
from memtype.model.files import FileCache, FilesReport, MachineCache
from memtype.model.records import HostInfo
from memtype.output.json import build, dumps, envelope, plan, record, records

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.output.json import Plan

_BATCH = 4096
_PLANS: dict[frozenset[str], Plan] = {}


def _plan(options: frozenset[str]) -> Plan:
    found = _PLANS.get(options)
    if found is None:
        found = _PLANS[options] = plan(FILE.present(options))
    return found


def file_dict(f: FileCache, options: Iterable[str] = ()) -> dict[str, Any]:
    """One ``"files"`` item: the file registry's fields present with ``options`` (action, capture, top)."""
    return build(_plan(frozenset(options)), f)


_str = json.encoder.encode_basestring_ascii  # the C encoder json.dumps uses


def file_json(f: FileCache, options: frozenset[str] = frozenset()) -> str:
    """``dumps(file_dict(f, options))``, formatted directly for the common case: ~4x faster."""
    if options or f.method != "cachestat" or f.size is None or f.mapped_by is None or f.open_by is None:
        return dumps(file_dict(f, options))
    return (f'{{"path":{_str(f.path)},"size":{f.size},"cached":{f.cached},"dirty":{f.dirty},'
            f'"writeback":{f.writeback},"evicted":{f.evicted},"recently_evicted":{f.recently_evicted},'
            f'"kind":"{f.kind}","method":"cachestat","unknown":null,'
            f'"mapped_by":{_pids(f.mapped_by)},"open_by":{_pids(f.open_by)}}}')


def _pids(pids: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, pids)) + "]" if pids else "[]"


def report_summary(report: FilesReport, denied: int) -> dict[str, Any]:
    """Files measured, paths skipped by reason, processes whose maps/fds could not be read."""
    reasons: dict[str, int] = {}
    for s in report.skipped:
        reasons[s.reason] = reasons.get(s.reason, 0) + 1
    return {"files": len(report.files), "skipped": reasons, "processes_unreadable": denied}


def write_report(out: TextIO, host: HostInfo, report: FilesReport, files: Iterable[FileCache], *, denied: int = 0,
                 notes: Iterable[str] = ()) -> None:
    """``memtype files PATH...``: the files (as given, e.g. sorted), directory totals, grand total, skips."""
    options = frozenset({"action"} if report.action else ())
    doc = envelope(host, report_summary(report, denied), [], notes=list(notes), method=report.method,
                   action=report.action, files=_STREAM, directories=records(CACHE_TOTAL, report.dirs),
                   total=record(CACHE_TOTAL, report.total),
                   skipped=[{"path": s.path, "reason": s.reason} for s in report.skipped])
    _write(out, doc, files, options)


def write_machine(out: TextIO, host: HostInfo, mc: MachineCache, method: str | None) -> None:
    """``memtype files --top N``: the top files with their cgroup, then the machine's file cache split."""
    options = frozenset({"top"} | (set() if mc.live else {"capture"}))
    summary = {"files": mc.count, "processes": mc.processes, "processes_unreadable": mc.denied,
               "processes_gone": mc.gone}
    doc = envelope(host, summary, [], notes=mc.notes, method=method, files=_STREAM, machine=record(MACHINE_CACHE, mc))
    _write(out, doc, mc.files, options)


_STREAM = "\x00files\x00"  # where the streamed items go in the envelope's text


def _write(out: TextIO, doc: dict[str, Any], files: Iterable[FileCache], options: frozenset[str]) -> None:
    head, tail = dumps(doc).split(json.dumps(_STREAM), 1)
    out.write(head + "[")
    first = True
    for batch in _batches(files):
        body = ",".join([file_json(f, options) for f in batch])
        out.write(body if first else "," + body)
        first = False
    out.write("]" + tail + "\n")


def _batches(files: Iterable[FileCache]) -> Iterator[list[FileCache]]:
    batch: list[FileCache] = []
    for f in files:
        batch.append(f)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
