"""The report's sections for one moment: the machine, processes and programs, the treemap, fork
families. Each is a ``Section``: a title, a paragraph for a newcomer, charts and HTML tables.
(``sections_more.py``: devices, shared memory, cgroups, swap, files; ``sections_history.py``: time.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memtype.kinds import KINDS
from memtype.model.cgroups import cgroup_label
from memtype.model.group import group_processes
from memtype.model.machine import TITLES
from memtype.output.human import size
from memtype.report import charts
from memtype.report.data import KIND_IDS, ReportInput, kind_pss
from memtype.report.svg import Chart, esc, legend
from memtype.report.table import Col, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.records import ProcessMemory

KIND_TITLES = {k.value: k.label for k in KINDS} | {"swap": "Swap"}
TOP_BARS = 25  # processes (and programs) drawn as bars; the table below has them all
TREEMAP_PROCESSES = 200
TABLE_PROCESSES = 500  # rows of the process table; the rest is one summed row (the file stays under 1 MiB)
FAMILY_MEMBERS = 12  # children drawn per fork family (those that copied the most); the sums count them all  # leaves of the treemap: the rest of a program is one "N more" box


class Section:
    """One part of the report: ``id`` (the anchor), ``title``, ``explain`` (one paragraph, HTML-escaped
    text), ``charts`` and ``html`` (tables and notes, already markup)."""

    def __init__(self, id: str, title: str, explain: str, charts: list[Chart] | None = None, html: str = "") -> None:
        self.id, self.title, self.explain, self.charts, self.html = id, title, explain, charts or [], html


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def machine(data: ReportInput) -> Section:
    explain = ("Every byte of the machine's RAM (MemTotal) in one bar, by kind. Anonymous memory is what programs "
               "allocate for themselves (heap, stacks); shared is shmem (tmpfs, /dev/shm, shared mappings); "
               "copy-on-write is memory still shared since a fork() or not yet written; file is the page cache, "
               "copies of files the kernel can drop and read again; device is driver memory mapped into processes. "
               "Kernel, free and the swap cache are the rest, and what no counter explains is shown as "
               "\"unaccounted\", never hidden. The second bar says what the kernel could do to get memory back: "
               "drop clean page cache, write dirty pages back first, swap anonymous pages out, or nothing.")
    sm = data.system
    if sm is None:
        return Section("machine", "The machine by kind", explain, html=note("No /proc/meminfo in this source."))
    mm = sm.machine
    rows = [(r.id, TITLES.get(r.id, r.id), r.bytes) for r in mm.rows]
    unknown = [TITLES.get(r, r) for r in sm.unknown]
    out = [charts.whole_bar("machine", f"MemTotal {size(sm.total)} by kind", rows, sm.total,
                            f"Unknown from meminfo ({', '.join(unknown)}): counted in the rows that hold them "
                            "(memtype system --exact splits them)." if unknown else "")]
    free = sm.row("free")
    if free is not None and sm.total > free:  # most of a quiet machine is free: the rest, on its own scale
        in_use = sm.total - free
        out.append(charts.whole_bar("in-use", f"The {size(in_use)} in use (MemTotal less free), by kind",
                                    [row for row in rows if row[0] != "free"], in_use))
    if sm.reclaim is not None:
        r = sm.reclaim
        free = sm.row("free") or 0
        rest = sm.total - sum(r.values()) - free
        parts = [("drop", "drop (clean page cache)", r.get("drop")), ("writeback", "write back, then drop",
                 r.get("writeback")), ("swap", "swap out", r.get("swap")),
                 ("never", "never (no swap room, unevictable, hugetlb)", r.get("never")), ("room", "free", free),
                 ("none", "kernel and the rest (not on the LRU lists)", rest)]
        out.append(charts.whole_bar("reclaim", "What the kernel could reclaim", parts, sm.total))
    swap = sm.swap
    total, used = swap.get("total"), swap.get("used")
    if total:
        out.append(charts.whole_bar("swap-use", "Swap in use", [("swap", "used", used), ("room", "free",
                                    None if used is None else total - used)], total))
    html = note("No swap device is active: anonymous and shared memory cannot leave RAM." if not total else
                f"Swap: {size(used)} used of {size(total)}; {size(swap.get('cached'))} of it also in RAM "
                "(the swap cache).")
    html += table("machine-rows", [Col("Row", "id"), Col("Bytes", "bytes", num=True), Col("Share", "share")],
                  [({"row": rid, "bytes": b}, [title, size(b), f"{100 * b / sm.total:.1f}%" if b is not None and
                                               sm.total else "-"]) for rid, title, b in rows]
                  + [({"row": "total", "bytes": sm.total}, ["total (MemTotal)", size(sm.total), "100%"])])
    return Section("machine", "The machine by kind", explain, out, html)


def _bar_rows(items: Sequence[tuple[str, Mapping[str, int], Mapping[str, object]]]) -> Sequence[
        tuple[str, Mapping[str, int], Mapping[str, object]]]:
    return items[:TOP_BARS]


def processes(data: ReportInput) -> Section:
    explain = ("The processes holding the most memory, each bar split by kind. Sizes are PSS (proportional set "
               "size): a page shared by N processes counts 1/N in each, so the bars add up to what the processes "
               "hold together. RSS counts a shared page in full in every process that maps it; the table has "
               "both. A program is every process of one executable (a browser's tabs, a server's workers). "
               "Click a column title to sort.")
    procs = sorted(data.scan.processes, key=lambda p: (-p.totals.pss, p.pid))
    rows = [(f"{p.comm} {p.pid}", kind_pss(p), {"pid": p.pid, "pss": p.totals.pss}) for p in procs]
    out = [charts.stacked_rows("processes", "Top processes by PSS, by kind", _bar_rows(rows), KIND_IDS,
                               KIND_TITLES, "PSS: the kinds add up to each bar.")]
    groups = sorted(group_processes(procs, lambda p: p.program), key=lambda g: (-g.totals.pss, g.key))
    grows = [(f"{g.key} ({g.count})", {k.value: g.categories[k].pss for k in KINDS},
              {"program": g.key, "pss": g.totals.pss, "count": g.count}) for g in groups]
    out.append(charts.stacked_rows("programs", "Top programs by PSS, by kind", _bar_rows(grows), KIND_IDS,
                                   KIND_TITLES, "PSS, summed over each program's processes (their count in brackets)."))
    html = _process_table(data, procs)
    return Section("processes", "Processes and programs", explain, out, html)


def _process_table(data: ReportInput, procs: list[ProcessMemory]) -> str:
    with_cgroup = any(p.cgroup for p in procs)
    cols = [Col("PID", "pid", num=True), Col("Name", ""), Col("Program", ""), Col("User", "")]
    if with_cgroup:
        cols.append(Col("Cgroup", ""))
    cols += [Col("PSS", "pss", num=True), Col("RSS", "rss", num=True), Col("USS", "uss", num=True),
             Col("Swap", "swap", num=True)]
    freed = any(p.freed is not None for p in procs)
    if freed:
        cols.append(Col("Freed if killed", "freed", num=True))
    cols += [Col(f"{k.label} PSS", k.value, num=True, kind=k.value) for k in KINDS]
    body = []
    for p in procs[:TABLE_PROCESSES]:  # numbers in data-* (bytes: sorting, tests); text columns sort by their cell
        kp = kind_pss(p)
        d: dict[str, object] = {"pid": p.pid, "pss": p.totals.pss, "rss": p.totals.rss, "uss": p.totals.uss,
                                "swap": p.totals.swap, **kp}
        cells = [str(p.pid), p.comm, p.program, p.user or str(p.uid)]
        if with_cgroup:
            cells.append(_cgroup_name(p.cgroup))
        sizes = _sizes(p.totals.pss, p.totals.rss, p.totals.uss, p.totals.swap, kp)
        if freed:
            d["freed"] = p.freed.bytes if p.freed is not None else None
            sizes.insert(4, size(d["freed"]))  # type: ignore[arg-type]
        body.append((d, cells + sizes))
    foot = []
    rest = procs[TABLE_PROCESSES:]
    if rest:  # the remainder is a row of its own: the column sums stay those of every process
        kr = {k: sum(kind_pss(p)[k] for p in rest) for k in KIND_IDS}
        sums = [sum(getattr(p.totals, f) for p in rest) for f in ("pss", "rss", "uss", "swap")]
        foot.append(({"rest": len(rest), "pss": sums[0], "rss": sums[1], "uss": sums[2], "swap": sums[3], **kr},
                     ["", f"{len(rest)} smaller processes", "", ""] + ([""] if with_cgroup else [])
                     + _with_gap(_sizes(sums[0], sums[1], sums[2], sums[3], kr), freed)))
    shown = f"The {TABLE_PROCESSES} largest of {len(procs)} processes, then the rest summed" if rest else \
        f"All {len(procs)} processes"
    return table("processes", cols, body, caption=f"{shown}, by PSS; sizes in KiB/MiB/GiB (1024-based). RSS sums "
                 "count shared pages once per process.", foot=foot)


def _with_gap(sizes: list[str], freed: bool) -> list[str]:
    """The remainder row has no "freed" figure (a kill frees one process's, not a sum's)."""
    return sizes[:4] + [""] + sizes[4:] if freed else sizes


def _sizes(pss: int, rss: int, uss: int, swap: int, kinds: dict[str, int]) -> list[str]:
    return [size(pss), size(rss), size(uss), size(swap)] + [size(kinds[k]) for k in KIND_IDS]


def _cgroup_name(path: str | None) -> str:
    return cgroup_label(path) if path else "?"


def treemap(data: ReportInput) -> Section:
    explain = ("The same memory as nested boxes: each box's area is its PSS. The outer boxes are memory cgroups "
               "(containers, systemd services), inside them programs, then processes, then the kinds. A big "
               "orange box (copy-on-write) inside a program of many processes is memory they still share; many "
               "vermillion boxes of the same size are copies each process made of its own.")
    root = charts.Node("all")
    by_cg: dict[str, dict[str, list[ProcessMemory]]] = {}
    for p in data.scan.processes:
        by_cg.setdefault(_cgroup_name(p.cgroup) if p.cgroup else "processes", {}).setdefault(p.program, []).append(p)
    ranked = sorted(data.scan.processes, key=lambda p: -p.totals.pss)
    shown = {p.key for p in ranked[:TREEMAP_PROCESSES]}
    for cg, programs in by_cg.items():
        cnode = charts.Node(cg, tip=cg)
        for prog, members in programs.items():
            pnode = charts.Node(prog, tip=f"{cg} › {prog}")
            rest: dict[str, int] = dict.fromkeys(KIND_IDS, 0)
            hidden = 0
            for p in members:
                if p.key not in shown:
                    hidden += 1
                    for k, v in kind_pss(p).items():
                        rest[k] += v
                    continue
                tip = f"{cg} › {prog} › {p.comm} {p.pid}"
                pnode.children.append(charts.Node(f"{p.comm} {p.pid}", [charts.Node(k, kind=k, value=v, tip=tip)
                                                                        for k, v in kind_pss(p).items()], tip=tip))
            if hidden:
                tip = f"{cg} › {prog} › {hidden} smaller processes"
                pnode.children.append(charts.Node(f"{hidden} more", [charts.Node(k, kind=k, value=v, tip=tip)
                                                                     for k, v in rest.items()], tip=tip))
            cnode.children.append(pnode)
        root.children.append(cnode)
    chart = charts.treemap("treemap", "Treemap: cgroup, program, process, kind (area: PSS)", root)
    legend(chart, [(f"k-{k}", KIND_TITLES[k], None) for k in KIND_IDS], sizes=False)
    chart.notes.append("Hover (or tap) a box for its name and size; boxes too small to name are still drawn.")
    return Section("treemap", "Where the memory is: cgroup › program › process › kind", explain, [chart])


def families(data: ReportInput) -> Section:
    explain = ("fork() gives a child a copy of its parent's memory without copying anything: both map the same "
               "pages, marked copy-on-write, and only a write makes a private copy. A PyTorch DataLoader forks its "
               "workers from the trainer this way. \"still shared\" is copy-on-write memory the process still shares "
               "with its family (RSS: each of them counts it); \"copied\" is anonymous memory in mappings it "
               "inherited, pages written since the fork and so duplicated; \"own\" is anonymous memory in mappings "
               "it made itself. In Python, merely reading an object writes its reference count, so copies grow.")
    fams = data.families
    if fams is None:
        return Section("families", "Fork families: shared and already copied", explain,
                       html=note("Not computed for this source."))
    if not fams:
        return Section("families", "Fork families: shared and already copied", explain,
                       html=note("No process here shares copy-on-write memory with a child it forked."))
    out, html = [], ""
    for fam in fams:
        head = fam[0].proc
        drawn = [fam[0]] + sorted(fam[1:], key=lambda m: (-(m.copied or 0), -m.still, m.proc.pid))[:FAMILY_MEMBERS]
        rows = [("  " * m.depth + f"{m.proc.comm} {m.proc.pid}",
                 {"still": m.still, "copied": m.copied or 0, "own": m.own or 0},
                 {"pid": m.proc.pid, "still": m.still, "copied": m.copied, "own": m.own}) for m in drawn]
        out.append(charts.stacked_rows(f"family-{head.pid}", f"Fork family of PID {head.pid} ({head.comm})", rows,
                                       ("still", "copied", "own"),
                                       {"still": "still shared (cow)", "copied": "copied since fork", "own": "own"},
                                       "RSS of each member."))
        if len(drawn) < len(fam):
            out[-1].notes.append(f"{len(fam) - len(drawn)} more children not drawn (those that copied the least).")
        copied = sum(m.copied or 0 for m in fam[1:])
        html += note(f"PID {head.pid} ({head.comm}) and {len(fam) - 1} forked: {size(max(m.still for m in fam))} "
                     f"still shared copy-on-write, {size(copied)} already copied by the children.")
    if data.families_found > len(fams):
        html += note(f"{data.families_found - len(fams)} more fork families, sharing less, not drawn.")
    return Section("families", "Fork families: shared and already copied", explain, out, html)


def kind_help() -> str:
    """A definition list of the kinds, for the glossary at the end."""
    items = "".join(f'<dt><span class="sw k-{k.value}"></span>{esc(k.label)}</dt><dd>{esc(k.help)}</dd>'
                    for k in KINDS)
    items += ('<dt><span class="sw k-swap"></span>Swap</dt><dd>pages of anonymous or shared memory the kernel '
              'wrote to a swap device to free RAM; each kind has its own swapped part</dd>')
    return f'<dl class="kinds">{items}</dl>'

