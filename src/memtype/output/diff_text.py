"""``memtype diff`` in words and as a JSON document (no rich: the tables are ``output/diff_table.py``).

The summary is what one screen says first: the span, per kind the net change and who made it, each
broken fork family, and how many processes grew, shrank, moved, appeared and went away.
"""

from __future__ import annotations

from memtype.model.diff import APPEARED, CHANGES, GREW, MOVED, SAME, SHRANK, WENT_AWAY, Diff, Headline
from memtype.model.fields_diff import DIFF_COW_BREAK, DIFF_GROUP, DIFF_MACHINE, DIFF_PROCESS
from memtype.model.records import HostInfo
from memtype.output.human import size
from memtype.output.json import envelope, records

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

KIND_WORDS = {"anonymous": "anonymous", "shared": "shared memory", "cow": "copy-on-write", "file": "page cache",
              "device": "device memory"}


def signed(n: int | None) -> str:
    """A change for people: ``+1.1G``, ``-64M``, ``0``, ``-`` (unknown)."""
    if n is None:
        return "-"
    return ("+" if n > 0 else "") + size(n)


def process_word(n: int) -> str:
    return "1 process" if n == 1 else f"{n} processes"


def headline(h: Headline) -> str:
    """``+1.1G anonymous in 4 pt_data_worker processes`` (``in 7 processes, +1.0G of it in 4
    pt_data_worker processes``): the program that moved nine tenths of it or more is named alone."""
    what = KIND_WORDS.get(h.kind.value, h.kind.value)
    if h.program is None:
        return f"{signed(h.delta)} {what}"
    sign, gross = (1 if h.delta >= 0 else -1), h.moved
    if h.program_count == h.count or h.mostly:
        who = f"{h.program_count} {h.program} process" + ("" if h.program_count == 1 else "es")
        gross = h.program_bytes  # named alone: its own figure
    else:
        who = (f"{process_word(h.count)}, {signed(sign * h.program_bytes)} of it in {h.program_count} {h.program} "
               "process" + ("" if h.program_count == 1 else "es"))
    if gross * 10 > abs(h.delta) * 11:  # others moved it back (processes that went away): say both, not the net alone
        return (f"{signed(h.delta)} {what}: {signed(sign * gross)} in {who}, {signed(h.delta - sign * gross)} "
                "in the other processes")
    return f"{signed(h.delta)} {what} in {who}"


def summary_lines(d: Diff, *, before: str, after: str) -> list[str]:
    """The one-screen summary: span, headlines, broken families, counts. ``before``/``after``: how A
    and B are named (a time, a capture)."""
    span = f"A {before} -> B {after}"
    if d.elapsed is not None:
        span += f" ({_elapsed(d.elapsed)} apart)"
    lines = [span, f"processes' PSS {signed(d.pss)}: " + ", ".join(
        f"{signed(d.kinds[k])} {k.label}" for k in d.kinds if d.kinds[k]) if d.pss or any(d.kinds.values())
        else "processes' PSS: no change"]
    lines += [headline(h) for h in d.headlines]
    for c in d.cow_breaks:
        writers = f" (wrote: PID {', '.join(map(str, c.writers))})" if c.writers else ""
        lines.append(f"copy-on-write {signed(c.delta)}: sharing with PID {c.pid} ({c.comm}) broken in a family of "
                     f"{process_word(len(c.members))}{writers}")
    counts = [f"{d.counts[c]} {c}" for c in (GREW, SHRANK, MOVED, APPEARED, WENT_AWAY, SAME) if d.counts[c]]
    lines.append(", ".join(counts) if counts else "no process in either")
    return lines


def _elapsed(seconds: float) -> str:
    s = int(round(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m {s % 60}s"
    return f"{s // 3600}h {s % 3600 // 60}m"


def diff_document(d: Diff, host: HostInfo, *, before: dict[str, Any], after: dict[str, Any], top: int | None,
                  summary: list[str]) -> dict[str, Any]:
    """The JSON document: ``before``/``after`` (what A and B are), the summary lines, the processes that
    changed (``top``: the first N; ``same`` ones are counted, not listed), the groups, the machine rows
    and the broken families."""
    changed = [p for p in d.processes if p.change != SAME][:top]
    return envelope(host, {"changes": {c: d.counts[c] for c in CHANGES}, "pss": d.pss,
                           "kinds": {k.value: v for k, v in d.kinds.items()}}, [],
                    before=before, after=after, elapsed=d.elapsed, lines=summary,
                    processes=records(DIFF_PROCESS, changed),
                    groups={by: records(DIFF_GROUP, gs[:top]) for by, gs in d.groups.items()},
                    machine=None if d.machine is None else records(DIFF_MACHINE, d.machine),
                    cow_breaks=records(DIFF_COW_BREAK, d.cow_breaks))
