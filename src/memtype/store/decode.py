"""Frames back into Samples: ``Decoder`` replays a chain (the layout is in codec.py's docstring).

A replay applies each frame to its state (``advance``: the machine part, the process dicts and the
smaps rows, these kept as the transformed bytes they are XOR-ed against) and builds a Sample only
when asked (``build``): reading one sample replays its chain but makes one Sample. Every check a
hostile frame could fail raises ``Damaged`` (and resets the state: the next frame must be a keyframe).
"""

from __future__ import annotations

import json
import struct

from memtype.model.sample import ProcessSample, Sample, SmapsRows
from memtype.model.sample_dict import from_dict
from memtype.store import columns
from memtype.store.codec import LENGTH, Damaged, base_ns, expected_order, unruns
from memtype.store.patch import apply

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.sample import Header, ProcessKey


class Decoder:
    """Replays frames in chain order; ``decode`` gives the Sample of each (module docstring)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started = False
        self.machine: Any = None
        self._docs: dict[ProcessKey, dict[str, Any]] = {}
        # per process: its smaps as (field names, headers, transformed numbers: columns.transform) and
        # smaps_at; numbers become SmapsRows only when a Sample is built (a replay XORs bytes, no more)
        self._rows: dict[ProcessKey, tuple[tuple[str, ...] | None, tuple[Header, ...], bytes | None, Any]] = {}
        self._procs: dict[ProcessKey, ProcessSample] = {}
        self._stale: set[ProcessKey] = set()  # docs or rows changed since their ProcessSample was built
        self._order: list[ProcessKey] = []
        self._names: list[tuple[str, ...]] = []
        self._headers: list[Header] = []

    def decode(self, payload: bytes) -> Sample:
        """The Sample of the next frame; Damaged if it does not decode or fit the chain so far
        (the state is then reset: the next frame must be a keyframe)."""
        self.advance(payload)
        return self.build()

    def advance(self, payload: bytes) -> None:
        """Apply the next frame without building its Sample (a read replaying its chain: only the
        last frame's Sample is wanted; ``build`` makes it)."""
        try:
            self._decode(payload)
        except Damaged:
            self.reset()
            raise
        except (KeyError, IndexError, TypeError, ValueError, OverflowError, AttributeError, RecursionError,
                UnicodeDecodeError, struct.error) as exc:
            self.reset()
            raise Damaged(f"{type(exc).__name__}: {exc}") from None

    def build(self) -> Sample:
        """The Sample the frames so far stand for."""
        try:
            return self._build()
        except Damaged:
            self.reset()
            raise
        except (KeyError, IndexError, TypeError, ValueError, OverflowError, AttributeError, RecursionError) as exc:
            self.reset()
            raise Damaged(f"{type(exc).__name__}: {exc}") from None

    def _build(self) -> Sample:
        if not self.started:
            raise Damaged("no frame yet")
        docs, rows, procs, stale = self._docs, self._rows, self._procs, self._stale
        doc = dict(self.machine)
        doc.update(processes=[{**docs[k], "smaps": None} for k in stale], names=[], headers=[])
        base = from_dict(doc)
        for ps in base.processes.values():
            if ps.key not in stale:
                raise Damaged(f"process {ps.pid} is listed under another key")
            got = rows.get(ps.key)
            if got is not None:
                names, headers, data, when = got
                smaps = None if names is None or data is None else \
                    SmapsRows(names, headers, columns.untransform(data, 4 + len(names)))
                ps = ps.replace(smaps=smaps, smaps_at=when)
            procs[ps.key] = ps
        if len(base.processes) != len(stale):
            raise Damaged("a process is listed twice")
        self._stale = set()
        return base.replace(processes={k: procs[k] for k in self._order})

    def _decode(self, payload: bytes) -> None:
        (length,) = LENGTH.unpack_from(payload)
        if length > len(payload) - 4:
            raise Damaged("the document runs past the frame")
        frame = json.loads(payload[4:4 + length])
        blob = memoryview(payload)[4 + length:]
        if type(frame) is not dict:
            raise Damaged("the document is not an object")
        if frame["key"] is True:
            self.reset()
            self.machine = frame["m"]
        elif not self.started:
            raise Damaged("a delta without the frames before it")
        else:
            self.machine = apply(self.machine, frame["m"])
        if type(self.machine) is not dict:
            raise Damaged("the machine part is not an object")
        self._names += [tuple(str(x) for x in n) for n in frame["names"]]
        self._headers += [(str(a), str(b), str(c), str(d)) for a, b, c, d in frame["headers"]]
        docs, rows, procs, stale = self._docs, self._rows, self._procs, self._stale
        gone = {(int(pid), st) for pid, st in frame["gone"]}
        for k in gone:
            del docs[k]
            rows.pop(k, None)
            procs.pop(k, None)
            stale.discard(k)
        before = [k for k in self._order if k not in gone] if gone else self._order
        new: list[ProcessKey] = []
        changed: dict[ProcessKey, None] = {}
        for pid, st, change in frame["p"]:
            k = (pid, st)
            old = docs.get(k)
            if old is None:
                if type(change) is not dict:
                    raise Damaged(f"process {pid} is new but given as a patch")
                docs[k] = change
                new.append(k)
            else:
                docs[k] = apply(old, change)
            changed[k] = None
        order = expected_order(before, new, docs, [*before, *new])
        if "order" in frame:
            order = [(pid, st) for pid, st in frame["order"]]
            if len(order) != len(docs) or set(order) != docs.keys():
                raise Damaged("the process order does not list the processes")
        self._order = order
        moved = self._smaps(frame, blob)
        for k in moved:
            if k not in docs:
                raise Damaged(f"smaps of process {k[0]}, which is not in the sample")
        stale.update(changed)
        stale.update(moved)
        self.started = True

    def _smaps(self, frame: dict[str, Any], blob: memoryview) -> list[ProcessKey]:
        """Rebuild the smaps rows the frame carries; the processes whose rows it set."""
        data: dict[int, tuple[bytes, list[int]]] = {}
        at = 0
        for n, entries, codes in frame["cols"]:
            width = 4 + len(self._names[n])
            numbers, used = columns.unpack(blob[at:], entries, width, codes)
            data[n] = (numbers, [0])
            at += used
        if at != len(blob):
            raise Damaged(f"{len(blob) - at} bytes of numbers left over")
        moved = []
        clock = base_ns(self.machine.get("monotonic"))
        position = -1
        for entry in frame["s"]:
            if len(entry) == 2:  # format 3: [steps after the previous one in the order, spec]
                step, spec = entry
                position += step
                if type(step) is not int or step < 1 or position >= len(self._order):
                    raise Damaged("an smaps entry past the processes")
                k = self._order[position]
            else:
                pid, st, spec = entry
                k = (pid, st)
            pid = k[0]
            if "t" in spec:
                if type(spec["t"]) is not int or abs(spec["t"]) > 1 << 62:
                    raise Damaged("a time is not a number of nanoseconds")
                clock += spec["t"]
                when = clock / 1e9
            else:
                when = spec["at"]
            if "n" not in spec:
                self._rows[k] = (None, (), None, when)
                moved.append(k)
                continue
            n = spec["n"]
            names = self._names[n]
            width = 4 + len(names)
            if "r" in spec:  # another process's rows, as they stand at this point of the frame
                last = self._rows.get((spec["r"][0], spec["r"][1]))
                if last is None or last[2] is None:
                    raise Damaged(f"process {pid}'s rows refer to a process without rows")
            else:
                last = self._rows.get(k) if ("m" in spec or spec["h"] == "=") else None
                if last is not None and last[2] is None:
                    last = None
            if last is not None and last[0] != names:
                raise Damaged(f"process {pid}'s rows refer to rows of other fields")
            if spec["h"] == "=":
                if last is None:
                    raise Damaged(f"process {pid}'s rows refer to rows not in the chain")
                headers, mapping = last[1], None
            else:
                listed = [self._headers[i] for i in unruns(spec["h"]) if i >= 0 or _bad("a header index of -1")]
                mapping = spec.get("m")
                if mapping is None:
                    headers = tuple(listed)
                elif last is None:
                    raise Damaged(f"process {pid}'s rows refer to rows not in the chain")
                else:
                    headers = _matched_headers(last[1], mapping, listed)
            numbers, pos = data[n]
            size = len(headers) * width * 8
            chunk = numbers[pos[0]:pos[0] + size]
            if len(chunk) != size:
                raise Damaged("the numbers end early")
            pos[0] += size
            if last is not None and last[2] is not None:
                chunk = columns.xor(chunk, columns.aligned(last[2], mapping, len(headers), width))
            self._rows[k] = (names, headers, chunk, when)
            moved.append(k)
        for n, (numbers, pos) in data.items():
            if pos[0] != len(numbers):
                raise Damaged("numbers no process takes")
        return moved


def _matched_headers(old: tuple[Header, ...], mapping: Any, listed: list[Header]) -> tuple[Header, ...]:
    """The headers of entries given as runs of ``old``'s (``mapping``) and, for runs of -1, ``listed`` in turn."""
    if type(mapping) is not list or len(mapping) % 2:
        raise Damaged("runs are [first, count] pairs")
    out: list[Header] = []
    taken = 0
    for first, n in zip(mapping[::2], mapping[1::2]):
        if type(first) is not int or type(n) is not int or n < 1 or first < -1 or (first >= 0 and first + n > len(old)):
            raise Damaged(f"a run of entries [{first!r}, {n!r}] outside the {len(old)} there are")
        if first < 0:
            out += listed[taken:taken + n]
            taken += n
        else:
            out += old[first:first + n]
    if taken != len(listed) or len(out) != sum(mapping[1::2]):
        raise Damaged("the entries' headers do not add up")
    return tuple(out)


def _bad(what: str) -> bool:
    raise Damaged(what)
