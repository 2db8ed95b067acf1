"""Tables of ``memtype files``: files with their page cache, directory totals, and the machine's file
cache split into the part processes map or hold open, Buffers, and the rest (named, not dropped)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.model.cgroups import cgroup_label
from memtype.model.files import CacheTotal, FileCache, FilesReport, MachineCache
from memtype.output.console import EDGES, new_table
from memtype.output.human import UNITS_NOTE, cut, fit_path, percent, size

UNKNOWN = "unknown"
WHY = {
    "denied": "the kernel shows a file's cache only to whoever may write it or owns it (cachestat refuses, "
              "mincore would claim every page resident); run as root",
    "unsupported": "cachestat does not support this filesystem (hugetlbfs)",
    "unreachable": "the file could not be reopened",
}


def _cell(f: FileCache | CacheTotal, name: str) -> str:
    v = getattr(f, name)
    if v is not None:
        return size(v)
    return UNKNOWN if name == "cached" else "-"


def _pct(f: FileCache | CacheTotal) -> str:
    if f.cached is None or f.size is None:
        return "-"
    return percent(f.cached, f.span) if f.span else "-"


def _table(title: str) -> Table:
    return new_table(title)


Column = tuple[str, bool]  # header, right-justified


def _path_table(title: str, columns: Sequence[Column], body: list[list[str]], paths: list[str],
                totals: int, width: int) -> Table:
    """Columns sized to their cells, then the path, cut at the front to the room left in ``width``;
    the last ``totals`` rows are a bold section of totals. Cells are never read as markup."""
    widths = [max([len(h)] + [len(row[i]) for row in body]) for i, (h, _) in enumerate(columns)]
    room = max(12, width - sum(w + 1 for w in widths) - EDGES)  # each column and its divider; both edges
    t = _table(title)
    for (header, right), w in zip(columns, widths):
        t.add_column(header, justify="right" if right else "left", no_wrap=True, min_width=w)
    t.add_column("Path", no_wrap=True, overflow="ellipsis", max_width=room)
    for i, (row, path) in enumerate(zip(body, paths)):
        if i == len(body) - totals:
            t.add_section()
        t.add_row(*[Text(c) for c in row + [fit_path(path, room)]], style="bold" if i >= len(body) - totals else None)
    return t


def report_table(report: FilesReport, rows: Sequence[FileCache], width: int) -> RenderableType:
    """Files (``rows``: the ones to show), then one total per directory and a grand total."""
    n = len(report.files)
    title = f"{len(rows)} of {n} files, most cached first" if len(rows) < n else \
        f"{n} file{'' if n == 1 else 's'}, most cached first"
    if report.action:
        title += f"; figures after --{report.action}"
    cols = ["size", "cached", "%", "dirty", "writeback", "evicted", "recently_evicted"]
    heads = {"size": "Size", "cached": "Cached", "%": "%", "dirty": "Dirty", "writeback": "Wback",
             "evicted": "Evicted", "recently_evicted": "Recent", "before": "Before"}
    if width < 90:
        cols = cols[:4]  # Size Cached % Dirty
    if report.action:
        cols.insert(1, "before")

    def cells(f: FileCache | CacheTotal) -> list[str]:
        out = []
        for c in cols:
            if c == "%":
                out.append(_pct(f))
            elif c == "before":
                out.append(size(f.before) if isinstance(f, FileCache) else "")
            else:
                out.append(_cell(f, c))
        return out

    body = [cells(f) for f in rows]
    paths = [f.path for f in rows]
    totals = list(report.dirs) + ([report.total] if report.arguments > 1 else [])
    for tot in totals:
        body.append(cells(tot))
        label = "total" if tot is report.total else f"total {tot.path}"
        paths.append(f"{label} ({_count(tot.files, 'file')})")
    table = _path_table(title, [(heads[c], True) for c in cols], body, paths, len(totals), width)
    if report.action:
        return Group(table, action_line(report), Text(UNITS_NOTE, style="dim"))
    return Group(table, Text(UNITS_NOTE, style="dim"))


def machine_table(mc: MachineCache, width: int) -> RenderableType:
    """The top files processes map or hold open, then the machine's file cache split three ways."""
    narrow = width < 100
    body: list[list[str]] = []
    if mc.live:
        title = f"Top {len(mc.files)} of {_count(mc.count, 'file')} that processes map or hold open, by page cache"
        columns = [("Cached", True), ("Size", True), ("Dirty", True), ("Mapped by", False), ("Open by", False),
                   ("Cgroup", False)]
        for f in mc.files:
            body.append([_cell(f, "cached"), size(f.size), _cell(f, "dirty"), _pids(f.mapped_by), _pids(f.open_by),
                         cut(cgroup_label(f.cgroup), 16) if f.cgroup else "-"])
        if narrow:  # no Size, no Cgroup
            columns = [columns[0]] + columns[2:5]
            body = [[r[0]] + r[2:5] for r in body]
    else:
        title = f"Top {len(mc.files)} of {_count(mc.count, 'file')} the captured processes map, by mapped PSS"
        columns = [("Mapped", True), ("Procs", True), ("Mapped by", False)]
        body = [[size(f.mapped_pss), str(len(f.mapped_by or ())), _pids(f.mapped_by)] for f in mc.files]
    paths = [f.path + (" (shmem)" if f.kind == "shmem" else "") for f in mc.files]
    return Group(_path_table(title, columns, body, paths, 0, width), split_table(mc), Text(UNITS_NOTE, style="dim"))


def split_table(mc: MachineCache) -> Table:
    """The file cache in parts that add up to it (kernel-spec C.1): none is dropped."""
    t = _table("Machine file cache (Cached − Shmem + Buffers, /proc/meminfo)")
    t.add_column("part", no_wrap=True, overflow="ellipsis", ratio=1)
    t.add_column("size", justify="right", no_wrap=True, min_width=6)
    t.add_column("%", justify="right", no_wrap=True, min_width=6)
    whole = mc.file_cache or 0

    def row(label: str, v: int | None, style: str | None = None) -> None:
        t.add_row(label, size(v), percent(v, whole) if v is not None else "-", style=style)

    if mc.live:
        unknown = f"; {_count(mc.held_unknown, 'file')} unknown" if mc.held_unknown else ""
        row(f"files processes map or hold open ({_count(mc.count, 'file')}{unknown})", mc.held)
    else:
        row("files the captured processes map (Σ PSS of their mappings)", mc.mapped)
    row("Buffers: block-device cache (filesystem metadata)", mc.buffers)
    row("files no process maps" + (" or holds open (read earlier, closed)" if mc.live else
                                   " (open or closed: a capture cannot tell)"), mc.unheld)
    t.add_section()
    row("total", mc.file_cache, "bold")
    if mc.shmem:
        t.add_row("shmem files mapped or open (tmpfs, memfd): in Shmem instead", size(mc.shmem), "")
    return t


def action_line(report: FilesReport) -> Text:
    """What --evict/--warm did, over the files whose cache is known before and after; the others are
    counted as unknown (the action still happened: an unprivileged user may evict, not measure)."""
    acted = [f for f in report.files if f.size is not None]
    known = [f for f in acted if f.before is not None and f.cached is not None]
    unknown = len(acted) - len(known)
    if not known:
        return Text(f"{report.action}: done; the figures are unknown for {_count(unknown, 'file')} (see the notes)")
    before = sum(f.before or 0 for f in known)
    after = sum(f.cached or 0 for f in known)
    if report.action == "evict":
        dirty = [(f.dirty or 0) + (f.writeback or 0) for f in known if f.dirty is not None]
        mapped = sum(f.cached or 0 for f in known if f.mapped_by)
        line = (f"evicted {size(max(0, before - after))}; {size(after)} stayed (dirty or under writeback: "
                f"{size(sum(dirty)) if len(dirty) == len(known) else 'unknown'}; in files processes map: "
                f"{size(mapped)})")
    else:
        line = f"warmed {size(max(0, after - before))}; now cached {size(after)}"
    if unknown:
        line += f"; unknown for {_count(unknown, 'other file')}"
    return Text(line)


def notes(report: FilesReport) -> list[str]:
    """One line per kind of skip and of unknown figure (style.md rule 6)."""
    out = list(report.notes)
    reasons: dict[str, int] = {}
    for s in report.skipped:
        reasons[s.reason] = reasons.get(s.reason, 0) + 1
    for reason, n in sorted(reasons.items()):
        what = {"symlink": "symlinks not followed", "special": "special files (FIFOs, sockets, devices)"}.get(
            reason, reason)
        out.append(f"skipped {n}: {what}")
    unknown: dict[str, int] = {}
    for f in report.files:
        if f.why:
            unknown[f.why] = unknown.get(f.why, 0) + 1
    for why, n in sorted(unknown.items()):
        out.append(f"{_count(n, 'file')} unknown: {WHY.get(why, why)}")
    if any(f.kind == "shmem" for f in report.files):
        out.append("tmpfs and memfd files are shmem (counted in Shmem): their \"evicted\" pages are swapped out")
    if report.method == "mincore" and report.files:
        out.append("mincore(2) was used: it has no dirty, writeback or evicted figures (cachestat needs Linux 6.5)")
    return out


def _pids(pids: Sequence[int] | None, room: int = 3) -> str:
    if pids is None:
        return "?"
    if not pids:
        return "-"
    shown = ",".join(str(p) for p in pids[:room])
    return shown + (f"+{len(pids) - room}" if len(pids) > room else "")


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
