"""A Sample as a JSON-ready dict and back, exactly (``from_dict(to_dict(s)) == s``).

The layout (``SCHEMA`` ``memtype-sample/1``; new fields get defaults, old ones keep their meaning,
style.md rule 9)::

    {"schema": ..., "host": {...}, "monotonic": s, "wall": s, "duration": s,
     "meminfo": {...}, "vmstat": {...} | null, "zoneinfo": [{...}] | null,
     "shmem_devs": [...], "users": {"uid": name},
     "names": [[field, ...], ...],                  # distinct smaps field lists
     "headers": [[perms, dev, path, vmflags], ...], # distinct entry headers
     "processes": [{"pid", "starttime", "comm", "uid", "ppid", "state",
                    "counters": [rss_anon, rss_file, rss_shmem, vm_swap, minflt, majflt],
                    "exe", "cgroup", "problems",
                    "smaps": {"at": s, "names": i, "headers": [j, ...], "numbers": [...]} | null}],
     "skipped": [[pid, reason, path], ...], "warnings": [...],
     "pressure": {"some": {...}, "full": {...}} | null,   # absent in older documents: null
     "cgroups": {"version": 1 | 2, "rel": dir, "hybrid": bool, "gone": n,  # absent in older documents: null
                 "groups": {path: {"stat": {...} | null, "current": n, ...}}} | null,
     "gpu": {"nvml": {...} | null, "drm": [[pid, fd, {key: value}], ...] | null,  # absent: not read (null)
             "nspid": {"pid": [pid, ...]}, "host_pidns": bool | null, "problems": [...]} | null}

A cgroup's entry holds ``CgroupSample``'s fields by name, those that are ``None`` (or, for
``problems``, empty) left out: most v1 cgroups have no ``high``, v2 ones no ``kmem``.

``numbers`` is ``SmapsRows.numbers`` as is: per entry start, end, offset, inode, then one kB value
per field name. Paths keep undecodable bytes as surrogate escapes, which JSON carries as ``\\udcXX``.
"""

from __future__ import annotations

from array import array

from memtype.model.gpu_sample import from_dict as gpu_from_dict, to_dict as gpu_to_dict
from memtype.model.records import HostInfo, Skipped
from memtype.model.sample import (COUNTERS, SCHEMA, CgroupSample, CgroupsSample, Counters, ProcessSample, Sample,
                                  SmapsRows)

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

_HOST = ("hostname", "kernel", "page_size", "captured_at", "root", "live", "page_size_note")  # + smaps_absent
_CGROUP = CgroupSample.__slots__[1:]  # after path, which is the key
_CGROUP_NUMBERS = ("current", "limit", "high", "swap_current", "swap_limit", "memsw", "memsw_limit", "kmem")


def to_dict(sample: Sample) -> dict[str, Any]:
    """The sample as plain dicts, lists, strings and numbers (``json.dumps`` takes it as is)."""
    names: dict[tuple[str, ...], int] = {}
    headers: dict[tuple[str, str, str, str], int] = {}
    processes = []
    for p in sample.processes.values():
        smaps = None
        if p.smaps is not None:
            rows = p.smaps
            smaps = {"at": p.smaps_at, "names": names.setdefault(rows.names, len(names)),
                     "headers": [headers.setdefault(h, len(headers)) for h in rows.headers],
                     "numbers": rows.numbers.tolist()}
        processes.append({"pid": p.pid, "starttime": p.starttime, "comm": p.comm, "uid": p.uid, "ppid": p.ppid,
                          "state": p.state, "counters": list(p.counters.as_tuple()), "exe": p.exe,
                          "cgroup": p.cgroup, "problems": list(p.problems), "smaps": smaps})
    h = sample.host
    doc = {"schema": SCHEMA, "host": {**{k: getattr(h, k) for k in _HOST}, "smaps_absent": sorted(h.smaps_absent)},
            "monotonic": sample.monotonic, "wall": sample.wall, "duration": sample.duration,
            "meminfo": dict(sample.meminfo), "vmstat": None if sample.vmstat is None else dict(sample.vmstat),
            "zoneinfo": None if sample.zoneinfo is None else [dict(z) for z in sample.zoneinfo],
            "shmem_devs": sorted(sample.shmem_devs), "users": {str(k): v for k, v in sample.users.items()},
            "names": [list(n) for n in names], "headers": [list(x) for x in headers],
            "processes": processes, "skipped": [[s.pid, s.reason, s.path] for s in sample.skipped],
            "warnings": list(sample.warnings),
            "pressure": None if sample.pressure is None else {k: dict(v) for k, v in sample.pressure.items()},
            "cgroups": None if sample.cgroups is None else _cgroups_dict(sample.cgroups)}
    if sample.gpu is not None:  # left out when not read: a document without GPUs keeps its old shape
        doc["gpu"] = gpu_to_dict(sample.gpu)
    if sample.damon is not None:  # the same: left out when not read
        doc["damon"] = sample.damon
    return doc


def _cgroups_dict(cs: CgroupsSample) -> dict[str, Any]:
    groups = {}
    for path, cg in cs.groups.items():
        item: dict[str, Any] = {}
        for name in _CGROUP:
            value = getattr(cg, name)
            if value is None or (name == "problems" and not value):
                continue
            if name == "pressure":
                value = {k: dict(v) for k, v in value.items()}
            item[name] = list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, dict) else value
        groups[path] = item
    return {"version": cs.version, "rel": cs.rel, "hybrid": cs.hybrid, "gone": cs.gone, "groups": groups}


def from_dict(doc: dict[str, Any]) -> Sample:
    """The sample ``to_dict`` gave.

    Raises:
        ValueError: not a memtype sample of a schema this version reads.
    """
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"not a {SCHEMA} document (schema: {found!r})")
    try:
        return _sample(doc)
    except (KeyError, IndexError, TypeError, ValueError, OverflowError, AttributeError) as exc:  # a list for a dict...
        raise ValueError(f"damaged {SCHEMA} document: {type(exc).__name__}: {exc}") from None


def _sample(doc: dict[str, Any]) -> Sample:
    names = [tuple(n) for n in doc["names"]]
    headers = [(str(a), str(b), str(c), str(d)) for a, b, c, d in doc["headers"]]
    processes = {}
    for p in doc["processes"]:
        s = p["smaps"]
        rows = None if s is None else SmapsRows(names[s["names"]], tuple(headers[i] for i in s["headers"]),
                                                array("Q", s["numbers"]))
        counters = p["counters"]
        if len(counters) != len(COUNTERS):
            raise TypeError(f"{len(counters)} counters, not {len(COUNTERS)}")
        ps = ProcessSample(p["pid"], p["starttime"], p["comm"], p["uid"], p["ppid"], p["state"], Counters(*counters),
                           rows, None if s is None else s["at"], p["exe"], p["cgroup"], tuple(p["problems"]))
        processes[ps.key] = ps
    h = doc["host"]
    zones = doc["zoneinfo"]
    host = HostInfo(h["hostname"], h["kernel"], h["page_size"], h["captured_at"], h["root"], h["live"],
                    h["page_size_note"], frozenset(h["smaps_absent"]))
    return Sample(host, doc["monotonic"], doc["wall"], doc["duration"],
                  dict(doc["meminfo"]), None if doc["vmstat"] is None else dict(doc["vmstat"]),
                  None if zones is None else tuple(dict(z) for z in zones), frozenset(doc["shmem_devs"]),
                  {int(k): v for k, v in doc["users"].items()}, processes,
                  tuple(Skipped(pid, reason, path) for pid, reason, path in doc["skipped"]), tuple(doc["warnings"]),
                  _pressure(doc.get("pressure")), _cgroups(doc.get("cgroups")), gpu_from_dict(doc.get("gpu")),
                  _damon(doc.get("damon")))


def _damon(doc: Any) -> dict[str, Any] | None:
    """The raw DAMON tree: nested dicts of text (model.damon reads it defensively); anything else: None."""
    return doc if isinstance(doc, dict) else None


def _pressure(doc: Any) -> dict[str, dict[str, float]] | None:
    if doc is None:
        return None
    return {str(line): {str(k): v for k, v in values.items()} for line, values in doc.items()}


def _cgroups(doc: Any) -> CgroupsSample | None:
    if doc is None:
        return None
    version = doc["version"]
    if version not in (1, 2):
        raise ValueError(f"cgroup version {version!r}")
    groups = {}
    for path, item in doc["groups"].items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"cgroup path {path!r}")
        if not isinstance(item, dict):
            raise ValueError(f"cgroup {path}: not an object")
        unknown = set(item).difference(_CGROUP)
        if unknown:
            raise ValueError(f"cgroup {path}: no field {sorted(unknown)[0]!r}")
        stat, events, procs = item.get("stat"), item.get("events"), item.get("procs")
        n = {name: _count(item.get(name)) for name in _CGROUP_NUMBERS}
        groups[path] = CgroupSample(
            path, None if stat is None else _counts(stat), n["current"], n["limit"], n["high"], n["swap_current"],
            n["swap_limit"], n["memsw"], n["memsw_limit"], n["kmem"], None if events is None else _counts(events),
            _pressure(item.get("pressure")), None if procs is None else tuple(_int(p) for p in procs),
            tuple(str(p) for p in item.get("problems", ())))
    return CgroupsSample(version, str(doc["rel"]), bool(doc["hybrid"]), groups, _int(doc["gone"]))


def _count(value: Any) -> int | None:
    """A figure or PID as stored: an int as the kernel printed it (bool is not one), or None."""
    return None if value is None else _int(value)


def _counts(doc: Any) -> dict[str, int]:
    """memory.stat or memory.events: {name: int}."""
    return {str(k): _int(v) for k, v in doc.items()}


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"not an integer: {value!r}")
    return value
