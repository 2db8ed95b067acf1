"""The report's sections over time, from a database of ``memtype record``: the machine by kind as stacked
areas, the programs that grew most in each kind, and the kinds of the biggest programs over time."""

from __future__ import annotations

import time

from memtype.model.machine import ROW_IDS, TITLES
from memtype.output.human import size
from memtype.report import charts
from memtype.report.data import KIND_IDS, History
from memtype.report.sections import KIND_TITLES, Section, note
from memtype.report.svg import Chart, legend
from memtype.report.table import Col, table

PROGRAM_CHARTS = 6
GROWERS = 5


def ticks(first: float, last: float, n: int = 6) -> list[tuple[float, str]]:
    """About ``n`` time labels across the range, in the local time of the machine that made the report (as
    every memtype command shows times; the note under the chart names its UTC offset)."""
    if last <= first:
        return [(first, _hm(first, 0))]
    step = (last - first) / (n - 1)
    return [(first + i * step, _hm(first + i * step, last - first)) for i in range(n)]


def _hm(t: float, span: float) -> str:
    fmt = "%H:%M:%S" if span < 600 else "%H:%M" if span < 86400 else "%m-%d %H:%M"
    return time.strftime(fmt, time.localtime(t))


def machine_over_time(h: History) -> Section:
    explain = ("The machine's memory over the recorded time, by kind (from /proc/meminfo at each sample, as "
               "memtype history shows it): the bands stack up to MemTotal. A band that grows steadily is memory "
               "being taken; file cache growing into free memory is normal, the kernel gives it back on demand.")
    pts = h.points
    if not pts:
        return Section("history", "The machine over time", explain, html=note("No sample in this range."))
    walls = [p.wall for p in pts]
    series = {rid: [p.rows.get(rid) for p in pts] for rid in ROW_IDS}
    total = max((sum(v or 0 for v in p.rows.values()) for p in pts), default=0)
    used = [r for r in ROW_IDS if r != "free"]
    in_use = charts.areas("history-in-use", "Memory in use (MemTotal less free) by kind over time", walls, series,
                          used, TITLES, ticks(walls[0], walls[-1]))
    legend(in_use, [(f"k-{r}", TITLES[r], None) for r in used if any(series[r])], sizes=False)
    free = [v for v in series["free"] if v is not None]
    if free:
        in_use.notes.append(f"Free memory, not drawn here: {size(min(free))} at least, {size(max(free))} at most.")
    chart = charts.areas("history-machine", "All of MemTotal by kind over time", walls, series, ROW_IDS, TITLES,
                         ticks(walls[0], walls[-1]), height=160, top=total)
    legend(chart, [(f"k-{r}", TITLES[r], None) for r in ROW_IDS if any(series[r])], sizes=False)
    html = (note(f"{len(pts)} points drawn of {h.samples} samples, {_span(h)} (local time where the report was made)."))
    swap = [p.swap_used for p in pts]
    if any(swap):
        html += note(f"Swap used: {size(swap[0])} at the start, {size(swap[-1])} at the end, "
                     f"{size(max(s or 0 for s in swap))} at most.")
    return Section("history", "The machine over time", explain, [in_use, chart], html)


def _span(h: History) -> str:
    if h.first is None or h.last is None:
        return "no time range"
    f = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h.first))
    t = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(h.last))
    return f"from {f} to {t}"


def growers(h: History) -> Section:
    explain = ("For each kind, the programs whose PSS of that kind grew the most from the first sample drawn to "
               "the last: where to look first for a leak (anonymous), a cache (file) or a fork family losing its "
               "sharing (copy-on-write turning into anonymous).")
    pts = h.points
    if len(pts) < 2:
        return Section("growers", "Top growers per kind", explain, html=note("Needs two samples or more."))
    first, last = pts[0].programs, pts[-1].programs
    rows = []
    for i, kind in enumerate(KIND_IDS):
        grown = sorted(((last.get(p, _zero())[i] - first.get(p, _zero())[i], p) for p in set(first) | set(last)),
                       key=lambda x: (-x[0], x[1]))
        for delta, prog in [g for g in grown if g[0] > 0][:GROWERS]:
            rows.append(({"kind": kind, "program": prog, "growth": delta, "first": first.get(prog, _zero())[i],
                          "last": last.get(prog, _zero())[i]},
                         [KIND_TITLES[kind], prog, "+" + size(delta), size(first.get(prog, _zero())[i]),
                          size(last.get(prog, _zero())[i])]))
    html = table("growers", [Col("Kind", "kind"), Col("Program", "program"), Col("Growth", "growth", num=True),
                             Col("First", "first", num=True), Col("Last", "last", num=True)], rows,
                 caption="PSS by kind, first and last sample drawn") if rows else note("No program grew.")
    return Section("growers", "Top growers per kind", explain, html=html)


def _zero() -> tuple[int, ...]:
    return (0,) * len(KIND_IDS)


def programs_over_time(h: History) -> Section:
    explain = ("The biggest programs (by PSS at the last sample), each with its kinds over time: one stacked area "
               "per program, all on the same scale so that they compare.")
    pts = h.points
    if not pts:
        return Section("program-history", "Programs over time", explain, html=note("No sample in this range."))
    last = pts[-1].programs
    ranked = sorted(last, key=lambda p: (-sum(last[p]), p))[:PROGRAM_CHARTS]
    walls = [p.wall for p in pts]
    peak = max((sum(p.programs.get(prog, _zero())) for p in pts for prog in ranked), default=0)
    # a program under 2% of the biggest would be a flat line on the shared scale
    top = [prog for prog in ranked if max(sum(p.programs.get(prog, _zero())) for p in pts) * 50 >= peak]
    out: list[Chart] = []
    for prog in top:
        series: dict[str, list[int | None]] = {k: [p.programs.get(prog, _zero())[i] for p in pts]
                                               for i, k in enumerate(KIND_IDS)}
        c = charts.areas(f"history-{prog}", f"{prog}: PSS by kind over time", walls, series, KIND_IDS, KIND_TITLES,
                         ticks(walls[0], walls[-1], 4), height=120, top=peak)
        if not out:
            legend(c, [(f"k-{k}", KIND_TITLES[k], None) for k in KIND_IDS], sizes=False)
        out.append(c)
    skipped = len(ranked) - len(top)
    return Section("program-history", "Programs over time", explain, out,
                   (note(f"{skipped} smaller programs not drawn (under 2% of the biggest).") if skipped else "")
                   + ("" if top else note("No process was recorded.")))
