"""JSON for every command, schema ``memtype/2`` (README "JSON schema"), built here and only here.

One envelope: ``{"schema", "host", "summary", <sections>, "notes"?, "warnings"}``. Records become
dicts through their field registry (``memtype.model.fields``): each field's value at its JSON path,
``null`` where unknown. Sizes are bytes. The text is compact (``separators``), which keeps
``json.dumps`` on its C encoder: an indented dump of ``ps`` takes ~10x longer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from memtype._version import __version__
from memtype.model.fields import Field, Registry

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.records import HostInfo, Scan

    from collections.abc import Callable

    Plan = Callable[[Any], dict[str, Any]]

SCHEMA = "memtype/2"


def host_dict(h: HostInfo) -> dict[str, Any]:
    """The machine: ``smaps_absent`` names the smaps fields this kernel lacks (their figures are null)."""
    return {"hostname": h.hostname, "kernel": h.kernel, "page_size": h.page_size, "live": h.live,
            "root": h.root, "captured_at": h.captured_at, "memtype_version": __version__,
            "smaps_absent": sorted(h.smaps_absent)}


def scan_summary(scan: Scan | None) -> dict[str, Any]:
    """What was read: processes, kernel threads, skips by reason (``null`` counts: no process was read)."""
    if scan is None:
        return {"processes": None, "kernel_threads": None, "skipped": {}}
    return {"processes": len(scan.processes), "kernel_threads": scan.kernel_threads, "skipped": scan.skip_counts()}


def envelope(host: HostInfo, summary: dict[str, Any], warnings: Sequence[str], *, notes: Sequence[str] | None = None,
             **sections: Any) -> dict[str, Any]:
    """The one document shape of every command."""
    doc: dict[str, Any] = {"schema": SCHEMA, "host": host_dict(host), "summary": summary}
    doc.update(sections)
    if notes is not None:
        doc["notes"] = list(notes)
    doc["warnings"] = list(warnings)
    return doc


def scan_document(scan: Scan, *, notes: Sequence[str] | None = None, **sections: Any) -> dict[str, Any]:
    """The envelope of a document about a scan (``ps``, ``maps``, ``cgroups``): its host, summary and
    warnings, and ``exact`` (every process classified page by page)."""
    exact = bool(scan.processes) and all(p.exact for p in scan.processes)
    return envelope(scan.host, scan_summary(scan), scan.warnings, notes=notes, exact=exact, **sections)


def dumps(doc: dict[str, Any]) -> str:
    """Compact text: the C encoder (no indent)."""
    return json.dumps(doc, separators=(",", ":"))


# -- records by field --------------------------------------------------------------------------------

def plan(fields: Iterable[Field], absent: Iterable[str] = (), null_objects: Iterable[str] = ()) -> Plan:
    """How to build a record's dict: each field at its path; fields computed from a kernel field in
    ``absent`` (``HostInfo.smaps_absent``) read as null; the objects at ``null_objects`` (dotted JSON
    paths, ``Registry.null_objects``) are null when nothing in them is known.

    Raises:
        ValueError: two fields want the same path, or one's path runs through another's value.
    """
    missing = frozenset(absent)
    root: dict[str, Any] = {}
    for f in fields:
        node = root
        for key in f.path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"field {f.id!r}: {key!r} is a value, not an object")
        if f.path[-1] in node:
            raise ValueError(f"field {f.id!r}: path {'.'.join(f.path)} taken twice")
        node[f.path[-1]] = None if missing.intersection(f.needs) else f.get
    getters: dict[str, Any] = {"_or_null": _or_null}
    # One dict display per record type, compiled once (as namedtuple and dataclasses build their code):
    # ``ps --format json`` at 1000 processes then spends ~1.5x less here than walking the paths per record.
    source = "lambda r: " + _display(root, frozenset(null_objects), "", getters)
    built: Plan = eval(source, getters)  # the source holds only repr()'d keys and names made here
    return built


def _display(node: dict[str, Any], nullable: frozenset[str], at: str, getters: dict[str, Any]) -> str:
    """The source of a dict display that reads each field with its getter (``g0(r)``...)."""
    items = []
    for key, value in node.items():
        path = at + key
        if isinstance(value, dict):
            inner = _display(value, nullable, path + ".", getters)
            expr = f"_or_null({inner})" if path in nullable else inner
        elif value is None:
            expr = "None"
        else:
            name = f"g{len(getters)}"
            getters[name] = value
            expr = f"{name}(r)"
        items.append(f"{key!r}: {expr}")
    return "{" + ", ".join(items) + "}"


def _or_null(d: dict[str, Any]) -> dict[str, Any] | None:
    return None if all(v is None for v in d.values()) else d


def build(p: Plan, record: Any) -> dict[str, Any]:
    """One record's dict from its plan."""
    return p(record)


def records(registry: Registry, items: Iterable[Any], *, options: Iterable[str] = (),
            absent: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Dicts of ``items``: every field present with ``options`` (``Registry.present``)."""
    p = plan(registry.present(options), absent, registry.null_objects)
    return [p(r) for r in items]


def record(registry: Registry, item: Any, *, options: Iterable[str] = (), absent: Iterable[str] = ()) -> dict[str, Any]:
    return records(registry, [item], options=options, absent=absent)[0]
