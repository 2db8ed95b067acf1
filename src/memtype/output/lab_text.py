"""``memtype lab``'s table: per form, created beside measured, and the one-line reason (plain text)."""

from __future__ import annotations

import textwrap

from memtype.model.findings import size
from memtype.model.lab import LabRow

_MARK = {True: "ok", False: "DIFFERS", None: "-"}


def lab_text(rows: list[LabRow], width: int, kept: list[int], notes: list[str]) -> str:
    lines = ["memtype lab: each kind made in real processes, beside what memtype measures", ""]
    for kind in dict.fromkeys(r.kind for r in rows):
        lines.append(f"{kind}")
        last: tuple[str, int | None, int | None] | None = None
        for r in (r for r in rows if r.kind == kind):
            if r.missing:
                lines += textwrap.wrap(f"{r.form}: not shown: {r.missing}", width, initial_indent="  - ",
                                       subsequent_indent="    ")
                continue
            if (r.form, r.pid, r.addr) != last:  # a form measured by more than one figure is named once
                where = ", ".join(x for x in (f"PID {r.pid}" if r.pid is not None else "",
                                              f"{r.addr:x}" if r.addr is not None else "") if x)
                lines += textwrap.wrap(f"{r.form} ({where})", width, initial_indent="  - ", subsequent_indent="    ")
                lines += textwrap.wrap(r.why, width, initial_indent="    ", subsequent_indent="    ")
                last = (r.form, r.pid, r.addr)
            lines.append(f"    made {size(r.created)} {r.figure}, memtype measures {size(r.measured)}: {_MARK[r.ok]}")
        lines.append("")
    good = sum(1 for r in rows if r.ok)
    measured = sum(1 for r in rows if r.ok is not None)
    lines.append(f"{good} of {measured} measured forms match what was made (within 2% or 8 pages)"
                 + (f"; {len(rows) - measured} not shown (above: what is missing)" if len(rows) > measured else ""))
    if kept:
        lines += textwrap.wrap(f"kept running: PIDs {' '.join(map(str, kept))} (memtype explain PID, memtype maps "
                               f"PID; kill {' '.join(map(str, kept))} to free them)", width)
    for note in notes:
        lines += textwrap.wrap(note, width)
    return "\n".join(lines) + "\n"
