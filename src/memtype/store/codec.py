"""A Sample as a store frame, and back: a keyframe holds it whole, a delta only what moved since the
previous sample of its chain (``Encoder`` here, ``decode.Decoder``; ``store.py`` keeps the chain in SQLite).

A frame is one format byte, then LZMA2 (format 3; zlib with the database's preset dictionary in the
formats 1 and 2 of store schema 1, still read) of: the length of a JSON document (4 bytes,
little-endian), the document, and the smaps numbers (``columns.py``). The document::

    {"key": true|false,
     "m": the machine part: to_dict(sample) without processes (keyframe), or its patch (patch.py),
     "names": [[field, ...]], "headers": [[perms, dev, path, vmflags]],  # appended to the chain's tables
     "gone": [[pid, starttime]],                         # processes gone since the previous sample
     "p": [[pid, starttime, dict | patch]],              # new processes whole, changed ones as patches
     "s": [[step, {"t": ns | "at": smaps_at, "n": names, "h": [header...] | "=",
                   "m": [previous entry], "r": [pid, starttime]}]],  # step: places after the last in order
     "cols": [[names, entries, [column code...]]],      # the numbers' layout, per field list
     "order": [[pid, starttime]]}                        # only where not in (pid, starttime) order

A process whose ``ProcessSample`` is the previous one (a sampler's unchanged process, its smaps
carried forward with its ``smaps_at``) costs nothing; one whose counters moved costs a patch of a
few bytes; one whose smaps was read again, its entries XOR-ed with the last read (mostly zeros).
Everything the Sample holds goes through ``model.sample_dict``: a field it gains is stored too.
"""

from __future__ import annotations

import bisect
import json
import lzma
import struct
import zlib

from memtype.model.records import HostInfo
from memtype.model.sample import ProcessSample, Sample, SmapsRows
from memtype.model.sample_dict import to_dict
from memtype.store import columns
from memtype.store.patch import diff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.sample import Header, ProcessKey

# The frame's first byte. 1: zlib with the database's preset dictionary (store schema 1); 2: the same,
# with "*" patches and "t" times; 3 (what is written): the document of 2, LZMA2-compressed, "s" entries
# by position. All three are read.
FORMAT = LZMA_FORMAT = 3
FORMATS = (1, 2, 3)
LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 3}]  # a raw stream: no header to trust or pay for
LENGTH = struct.Struct("<I")
MiB = 1 << 20
# A frame's decompressed size is capped: a keyframe at 1000 processes and 60,000 mappings is ~20 MiB
# before compression; a hostile record must not make a reader allocate gigabytes.
MAX_FRAME = 512 * MiB


class Damaged(ValueError):
    """A frame that does not decode (the store names the sample)."""


def _order_key(key: ProcessKey) -> tuple[int, int]:
    return (key[0], -1 if key[1] is None else key[1])


class Encoder:
    """Turns each appended Sample into a frame against the previous one (``encode``, then ``accept``
    once the frame is stored: a frame that failed to be written must not become the next one's base)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """The next frame is a keyframe."""
        self.count = 0  # frames in the chain so far
        self._prev: Sample | None = None
        self._machine: Any = None
        self._docs: dict[ProcessKey, dict[str, Any]] = {}
        self._names: dict[tuple[str, ...], int] = {}
        self._headers: dict[Header, int] = {}
        self._pending: tuple[Any, ...] | None = None
        self._tcache: dict[int, tuple[SmapsRows, bytes]] = {}

    def encode(self, sample: Sample, key: bool) -> bytes:
        """The frame's uncompressed payload (a keyframe if ``key`` or if there is no previous sample)."""
        key = key or self._prev is None
        prev = None if key else self._prev
        before = {} if prev is None else prev.processes
        names = {} if key else dict(self._names)
        headers = {} if key else dict(self._headers)
        docs = {} if key else dict(self._docs)
        changed = {k: p for k, p in sample.processes.items() if before.get(k) is not p}
        doc = to_dict(sample.replace(processes={k: p.replace(smaps=None, smaps_at=None) for k, p in changed.items()}))
        process_docs = doc.pop("processes")
        doc.pop("names")
        doc.pop("headers")
        frame: dict[str, Any] = {"key": key, "m": doc if key else diff(self._machine, doc)}
        ops, specs = [], []
        groups: dict[int, list[bytes]] = {}
        entries: dict[int, int] = {}
        new_names, new_headers = len(names), len(headers)
        refs = _References(before, sample, self._tcache)
        clock = base_ns(doc.get("monotonic"))
        position = {k: i for i, k in enumerate(sample.processes)}
        last_at = -1
        for (k, p), d in zip(changed.items(), process_docs):
            del d["smaps"]
            old = docs.get(k)
            if old is None:
                ops.append([k[0], k[1], d])
            else:
                change = diff(old, d)
                if change is not None:
                    ops.append([k[0], k[1], change])
            docs[k] = d
            q = before.get(k)
            if q is None:
                if p.smaps is None and p.smaps_at is None:
                    continue
            elif q.smaps_at == p.smaps_at and (q.smaps is p.smaps or q.smaps == p.smaps):
                continue
            spec: dict[str, Any] = {}
            clock = _time(spec, p.smaps_at, clock)
            at = position[k]
            specs.append([at - last_at, spec])  # its place in the sample's order, after the one before
            last_at = at
            rows = p.smaps
            if rows is None:
                refs.rows.pop(k, None)
                continue
            n = spec["n"] = names.setdefault(rows.names, len(names))
            last = refs.rows.get(k)
            mapping: list[int] | None
            if last is not None and last.names == rows.names:
                mapping = columns.match(last, rows)
            else:  # new, or unread until now: XOR against its parent or another run of its program
                ref = refs.find(p, rows.names)
                last = None if ref is None else refs.rows[ref]
                mapping = [-1] * len(rows) if last is None else columns.match_headers(last, rows)
                if ref is not None:
                    spec["r"] = list(ref)
            if mapping is None:
                spec["h"] = "="
            else:  # a matched entry has its previous header: only the others are listed
                spec["h"] = runs([headers.setdefault(h, len(headers))
                                  for h, j in zip(rows.headers, mapping) if j < 0])
                if last is not None:
                    spec["m"] = runs(mapping)
            data = refs.transformed(k, rows)
            if last is not None:
                data = columns.xor(data, columns.aligned(refs.transformed(None, last),
                                                         None if mapping is None else spec["m"], len(rows),
                                                         rows.width))
            refs.update(k, p, rows)
            groups.setdefault(n, []).append(data)
            entries[n] = entries.get(n, 0) + len(rows)
        for k in before.keys() - sample.processes.keys():
            del docs[k]
        frame["names"] = [list(x) for x in list(names)[new_names:]]
        frame["headers"] = [list(x) for x in list(headers)[new_headers:]]
        frame["gone"] = [list(k) for k in before if k not in sample.processes]
        frame["p"], frame["s"] = ops, specs
        blobs, frame["cols"] = [], []
        by_index = list(names)
        for n in sorted(groups):
            codes, blob = columns.pack(b"".join(groups[n]), 4 + len(by_index[n]))
            frame["cols"].append([n, entries[n], codes])
            blobs.append(blob)
        order = list(sample.processes)
        if order != expected_order(list(before), sample.processes.keys() - before.keys(), sample.processes, order):
            frame["order"] = [list(k) for k in order]
        text = json.dumps(frame, separators=(",", ":")).encode()
        self._pending = (sample, doc, docs, names, headers, key)
        return LENGTH.pack(len(text)) + text + b"".join(blobs)

    def accept(self) -> None:
        """The last frame was stored: it is the base of the next."""
        if self._pending is None:
            raise ValueError("no frame to accept")
        self._prev, self._machine, self._docs, self._names, self._headers, key = self._pending
        self._pending = None
        live = {id(p.smaps) for p in self._prev.processes.values() if p.smaps is not None}
        self._tcache = {i: v for i, v in self._tcache.items() if i in live}  # the rows still held
        self.count = 1 if key else self.count + 1


def base_ns(monotonic: Any) -> int:
    """The nanosecond clock a frame's "t" times count from: its sample's monotonic time."""
    return round(monotonic * 1e9) if type(monotonic) is float and abs(monotonic) < 1e12 else 0


def _time(spec: dict[str, Any], at: float | None, clock: int) -> int:
    """Put ``at`` (a smaps read's CLOCK_BOOTTIME, a float of nanoseconds / 1e9) in ``spec`` as "t": its
    nanoseconds after ``clock`` (the frame's previous time), 9 digits fewer than the float; as "at"
    where the nanoseconds would not give the very float back. Returns the new clock."""
    if at is not None and abs(at) < 1e12:
        ns = round(at * 1e9)
        if ns / 1e9 == at:
            spec["t"] = ns - clock
            return ns
    spec["at"] = at
    return clock


class _References:
    """The rows a Decoder holds while it reads a frame's smaps (the previous sample's, replaced as the
    frame's are read, in order), and where to find a reference for a process with none of its own:
    its parent if it runs the same executable (a fork), else the last process of the same executable,
    else of the same comm."""

    def __init__(self, before: dict[ProcessKey, ProcessSample], sample: Sample,
                 cache: dict[int, tuple[SmapsRows, bytes]]) -> None:
        self.rows = {k: p.smaps for k, p in before.items() if p.smaps is not None and k in sample.processes}
        self._cache = cache  # id(rows) -> (rows, columns.transform of them): the encoder's, across frames
        self._now = sample.processes
        self._pids = {k[0]: k for k in sample.processes}
        self._exe: dict[str, ProcessKey] = {}
        self._comm: dict[str, ProcessKey] = {}
        for k in self.rows:
            self._note(k, before[k])

    def _note(self, k: ProcessKey, p: ProcessSample) -> None:
        if p.exe is not None:
            self._exe[p.exe] = k
        self._comm[p.comm] = k

    def transformed(self, k: ProcessKey | None, rows: SmapsRows) -> bytes:
        got = self._cache.get(id(rows))
        if got is not None and got[0] is rows:
            return got[1]
        data = columns.transform(rows.numbers, rows.width)
        self._cache[id(rows)] = (rows, data)
        return data

    def update(self, k: ProcessKey, p: ProcessSample, rows: SmapsRows) -> None:
        self.rows[k] = rows
        self._note(k, p)

    def find(self, p: ProcessSample, names: tuple[str, ...]) -> ProcessKey | None:
        parent = self._pids.get(p.ppid) if p.ppid is not None else None
        fork = parent if parent is not None and p.exe is not None and self._now[parent].exe == p.exe else None
        for k in (fork, self._exe.get(p.exe) if p.exe is not None else None, self._comm.get(p.comm)):
            if k is not None and k != p.key:
                rows = self.rows.get(k)
                if rows is not None and rows.names == names:
                    return k
        return None


def expected_order(before: list[ProcessKey], new: set[ProcessKey] | Any, now: dict[ProcessKey, Any],
                    order: list[ProcessKey]) -> list[ProcessKey]:
    """The order a Decoder gives without an explicit one: a keyframe's as listed; else the previous
    order less the gone, and once new processes come, by (pid, starttime)."""
    if not before:
        return order
    kept = [k for k in before if k in now]
    for k in sorted(new, key=_order_key):  # a few new ones into a sorted list: no sort of the whole
        bisect.insort(kept, k, key=_order_key)
    return kept


def host_dict(h: HostInfo) -> dict[str, Any]:
    return {"hostname": h.hostname, "kernel": h.kernel, "page_size": h.page_size, "captured_at": h.captured_at,
            "root": h.root, "live": h.live, "page_size_note": h.page_size_note, "smaps_absent": sorted(h.smaps_absent)}


def host_from(d: dict[str, Any]) -> HostInfo:
    """The HostInfo ``host_dict`` gave (TypeError, KeyError: not one)."""
    return HostInfo(d["hostname"], d["kernel"], int(d["page_size"]), d["captured_at"], str(d["root"]),
                    bool(d["live"]), d["page_size_note"], frozenset(str(x) for x in d["smaps_absent"]))


def runs(values: list[int]) -> list[int]:
    """``values`` as [first, count, ...]: a run counts up by 1 from ``first`` (a run of -1 stays -1).
    Entry lists are mostly runs: the same mappings in the same order, new headers numbered in turn."""
    out: list[int] = []
    for v in values:
        if out:
            first, count = out[-2], out[-1]
            if (v == first == -1) or (first >= 0 and v == first + count):
                out[-1] += 1
                continue
        out += (v, 1)
    return out


def unruns(flat: list[int]) -> list[int]:
    """The values ``runs`` gave (ValueError: not pairs of ints, or too long)."""
    if type(flat) is not list or len(flat) % 2:
        raise ValueError("runs are [first, count] pairs")
    out: list[int] = []
    for first, count in zip(flat[::2], flat[1::2]):
        if type(first) is not int or type(count) is not int or first < -1 or count < 1 or len(out) + count > 1 << 22:
            raise ValueError("a bad run")
        out += [-1] * count if first == -1 else range(first, first + count)
    return out


def compress(payload: bytes) -> bytes:
    """A frame of format 3: LZMA2 (stdlib lzma, raw, preset 3). On frames of 1000 processes it gave
    35% fewer bytes than zlib with a preset dictionary (formats 1 and 2) for the same CPU, and
    decompresses as fast (bench/bench_record.py's databases, recompressed)."""
    return bytes((FORMAT,)) + lzma.compress(payload, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)


def decompress(data: bytes, zdict: bytes | None, limit: int = MAX_FRAME) -> bytes:
    """The payload of a stored frame, at most ``limit`` bytes; Damaged otherwise. ``zdict``: the
    database's preset dictionary, for the zlib frames of formats 1 and 2."""
    if not data or data[0] not in FORMATS:
        raise Damaged(f"unknown frame format {data[:1]!r}")
    body = memoryview(data)[1:]
    if data[0] == LZMA_FORMAT:
        try:
            x = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)
            out = x.decompress(body, limit)
        except lzma.LZMAError as exc:
            raise Damaged(f"lzma: {exc}") from None
        if not x.eof:
            raise Damaged(f"larger than {limit // MiB} MiB uncompressed" if len(out) >= limit
                          else "the compressed frame is cut short")
        return out
    try:
        d = zlib.decompressobj() if zdict is None else zlib.decompressobj(zdict=zdict)
        out = d.decompress(body, limit)
        if d.unconsumed_tail:
            raise Damaged(f"larger than {limit // MiB} MiB uncompressed")
        out += d.flush()
    except zlib.error as exc:
        raise Damaged(f"zlib: {exc}") from None
    if not d.eof:
        raise Damaged("the compressed frame is cut short")
    return out
