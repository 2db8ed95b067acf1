"""The screens over the process table: a process's detail, the cgroups, and the keys.

Detail (``Enter``): the process's figures, its mappings summed by file or region (as ``memtype maps
PID --group path``: classified again from the Sample's rows, no read), its fork family with the
copy-on-write still shared and the anonymous bytes already copied (``memtype.tui.family``), and its
memory cgroup. Cgroups (``c``): ``memtype cgroups --tree``, refreshed with every tick (read in a
worker thread: the feed's ``cgroups``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from memtype.kinds import KINDS, Kind
from memtype.model.cgroups import cgroup_label
from memtype.model.fields_process import PROCESS, group_registry
from memtype.model.fields_cgroups import CGROUP
from memtype.model.records import ProcessMemory
from memtype.output.cgroups_table import tree_name, tree_order
from memtype.output.human import fit_path, size
from memtype.tui.family import family, mappings_by_path, with_mappings
from memtype.tui.feed import BIG, WAITING, Feed
from memtype.tui.replay_keys import KEYS as REPLAY_KEYS
from memtype.tui.table import age_text, short_title

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.cgroups import CgroupTree
    from memtype.model.derive import Model
    from memtype.model.sample import ProcessKey
    from memtype.tui.rows import Marks

_BACK: list[Binding | tuple[str, str] | tuple[str, str, str]] = [Binding("escape", "app.pop_screen", "back"), Binding("q", "app.pop_screen", "back", show=False)]
_FIGURES = ("pss", *(f"{k.value}.pss" for k in KINDS), "swap_pss")


def _right(text: str, width: int, style: str = "") -> Text:
    return Text(text.rjust(width), style=style, no_wrap=True)


def _columns(table: DataTable[Text], spec: Iterable[tuple[str, str, int, bool]]) -> None:
    table.clear(columns=True)
    for key, title, width, right in spec:
        table.add_column(Text(title.rjust(width) if right else " " + title, style="bold"), width=width, key=key)


class DetailScreen(Screen[None]):
    """One process (module docstring)."""

    CSS = """
    DetailScreen { layout: vertical; }
    #who { height: auto; }
    .part { height: 1; background: $boost; text-style: bold; }
    #maps { height: 1fr; scrollbar-size-vertical: 1; }
    #family { height: auto; max-height: 9; scrollbar-size-vertical: 1; }
    #detail-keys { height: 1; color: $text-muted; }
    """
    BINDINGS = _BACK

    def __init__(self, model: Model, key: ProcessKey, feed: Feed) -> None:
        super().__init__()
        self.model, self.key, self.feed = model, key, feed

    def compose(self) -> ComposeResult:
        yield Static("", id="who")
        yield Static("", id="maps-title", classes="part")
        yield DataTable(id="maps", cursor_type="row", cell_padding=0)
        yield Static("", id="family-title", classes="part")
        yield DataTable(id="family", cursor_type="none", cell_padding=0)
        yield Static("Esc back  q back", id="detail-keys")

    def on_mount(self) -> None:
        self.query_one("#maps", DataTable).focus()
        app = self.app
        self.update_from(self.model, getattr(app, "marks", None))

    def update_from(self, model: Model, marks: Marks | None = None) -> None:
        self.model = model
        p = with_mappings(model, self.key)
        who = self.query_one("#who", Static)
        if p is None:
            who.update(Text(f"PID {self.key[0]}: exited, or its smaps was not read", style="yellow"))
            return
        fresh = marks.get(self.key) if marks is not None else None
        text = Text()
        text.append(f"PID {p.pid} ", style="bold")
        text.append(f"{p.comm}", style="bold cyan")
        text.append(f" · user {p.user or p.uid} · parent {p.ppid}")
        if fresh is not None and fresh.age is not None and fresh.state in (WAITING, BIG):
            text.append(f" · figures {age_text(fresh.age)} old: {fresh.why}", style="yellow")
        text.append("\n")
        t = p.totals
        text.append("  ".join(f"{PROCESS[f].title} {size(PROCESS[f].get(p))}" for f in ("pss", "rss", "uss", "swap")))
        text.append("\nPSS by kind: " + "  ".join(f"{k.label} {size(p.categories[k].pss)}" for k in KINDS))
        if t.hugetlb:
            text.append(f"  hugetlb {size(t.hugetlb)}")
        if p.gpu is not None:  # issue 14: VRAM beside host memory, and the host side of a CUDA process
            gpu, host = p.gpu, p.gpu.get("host") or {}
            devices = ", ".join(f"{d} {size(v)}" for d, v in (gpu.get("devices") or {}).items())
            text.append(f"\nGPU {size(gpu.get('vram'))}" + (f" ({devices})" if devices else ""))
            if host:
                text.append(f"  driver pages {size(host.get('driver'))}  likely pinned {size(host.get('pinned_likely'))}"
                            f"  UVM in RAM {size(host.get('uvm_resident'))}")
        text.append(f"\ncgroup {cgroup_label(p.cgroup) if p.cgroup else '-'}")
        if p.cgroup:
            text.append(f" ({p.cgroup})", style="dim")
        who.update(text)
        self._maps(p)
        self._family(model)

    def _maps(self, p: ProcessMemory) -> None:
        registry = group_registry("path")
        table = self.query_one("#maps", DataTable)
        width = max(40, self.size.width - 1)
        fig = 7
        spec = [("path", registry["path"].title, max(16, width - fig * len(_FIGURES)), False)]
        spec += [(f, short_title(f, registry[f].title), fig, True) for f in _FIGURES]
        _columns(table, spec)
        groups = mappings_by_path(p)
        room = spec[0][2] - 1
        for g in groups:
            table.add_row(Text(" " + fit_path(g.key, room), no_wrap=True, overflow="ellipsis"),
                          *(_right(size(registry[f].get(g)), fig) for f in _FIGURES))
        self.query_one("#maps-title", Static).update(
            f" {len(groups)} files and regions by kind (PSS; as memtype maps {p.pid} --group path)")

    def _family(self, model: Model) -> None:
        members = family(model, self.key)
        table = self.query_one("#family", DataTable)
        width = max(40, self.size.width - 1)
        spec = [("pid", "PID", 8, True), ("name", "Name", max(12, width - 8 - 3 * 12), False),
                ("pss", PROCESS["pss"].title, 12, True), ("shared", "CoW shared", 12, True),
                ("copied", "copied", 12, True)]
        _columns(table, spec)
        for m in members:
            table.add_row(_right(str(m.proc.pid), 8, "bold" if m.proc.key == self.key else ""),
                          Text(" " + "  " * m.depth + m.proc.comm, no_wrap=True),
                          _right(size(m.proc.totals.pss), 12), _right(size(m.shared), 12),
                          _right(size(m.copied), 12))
        title = self.query_one("#family-title", Static)
        if len(members) > 1:
            shared = sum(m.proc.categories[Kind.COW].pss for m in members)  # each shared page once
            copied = sum(m.copied for m in members)
            title.update(f" fork family of {len(members)}: CoW shared {size(shared)} (once), "
                         f"copied since the fork {size(copied)}")
        else:
            title.update(" fork family: none (no relative shares its address-space layout)")


class CgroupScreen(Screen[None]):
    """``memtype cgroups --tree``, live."""

    CSS = """
    CgroupScreen { layout: vertical; }
    #cg-title { height: 1; background: $boost; text-style: bold; }
    #cgroups { height: 1fr; scrollbar-size-vertical: 1; }
    #cg-keys { height: 1; color: $text-muted; }
    """
    BINDINGS = _BACK
    FIELDS = ("charged", "limit", "anonymous", "shared", "file", "kernel", "swap", "pressure.some.avg10",
              "processes.pss")

    def __init__(self, model: Model, feed: Feed) -> None:
        super().__init__()
        self.model, self.feed = model, feed

    def compose(self) -> ComposeResult:
        yield Static(" memory cgroups: reading…", id="cg-title")
        yield DataTable(id="cgroups", cursor_type="row", cell_padding=0)
        yield Static("Esc back  q back", id="cg-keys")

    def on_mount(self) -> None:
        self.query_one("#cgroups", DataTable).focus()
        self.update_from(self.model)

    def update_from(self, model: Model) -> None:
        self.model = model
        self.read(model)

    @work(thread=True, exclusive=True, group="cgroups")
    def read(self, model: Model) -> None:
        assert self.feed.cgroups is not None
        tree = self.feed.cgroups(model)
        self.app.call_from_thread(self.show, tree)

    def show(self, tree: CgroupTree) -> None:
        table = self.query_one("#cgroups", DataTable)
        width = max(40, self.size.width - 1)
        fields: Sequence[str] = self.FIELDS if width >= 100 else ("charged", "anonymous", "shared", "file", "swap",
                                                                   "pressure.some.avg10", "processes.pss")
        fig = 8
        spec = [("name", CGROUP["name"].title, max(16, width - fig * len(fields)), False)]
        spec += [(f, CGROUP[f].title, fig, True) for f in fields]
        at = table.cursor_row
        _columns(table, spec)
        rows = tree_order(tree.cgroups, "charged")
        for cg in rows:
            values = []
            for f in fields:
                v = CGROUP[f].get(cg)
                values.append(_right("-" if v is None else f"{v:.2f}" if isinstance(v, float) else size(v), fig))
            table.add_row(Text(" " + tree_name(cg), no_wrap=True, overflow="ellipsis"), *values)
        if 0 <= at < len(rows):
            table.move_cursor(row=at, animate=False)
        self.query_one("#cg-title", Static).update(
            f" {len(rows)} memory cgroups (v{tree.hierarchy.version}): charged by memory.stat, PSS of their "
            f"processes; PSI % of 10 s")


KEYS = [("q", "quit (Esc: back from a screen)"), ("/", "filter by name (Enter keeps it, Esc clears it)"),
        ("s  S", "sort by the next / previous column (or click its title)"),
        ("r", "reverse the order"), ("g", "group: process, program, user, cgroup"),
        ("t", "tree view (a parent: its subtree's sum)"), ("space", "fold or unfold a subtree"),
        ("Enter", "the process's mappings by kind, fork family, cgroup"), ("c", "the memory cgroups, live"),
        ("d", "changes in place of the figures"), ("?", "these keys")]


class HelpScreen(ModalScreen[None]):
    """The keys (with the replay's under ``--replay``); any key closes it."""

    CSS = """
    HelpScreen { align: center middle; }
    #help { width: auto; max-width: 90%; height: auto; max-height: 90%; border: round $accent; padding: 0 1;
            background: $surface; }
    """

    def __init__(self, replay: bool = False) -> None:
        super().__init__()
        self.replay = replay

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("memtype top: keys", style="bold")
        for keys, what in KEYS + (REPLAY_KEYS if self.replay else []):
            text.append(f"\n{keys:>9}  ", style="bold cyan")
            text.append(what)
        text.append("\n\nFigures are PSS: the kinds add up to PSS, so sums (groups, subtrees) count a shared "
                    "page once. ▲▼: changed since the last tick. 12s after a name: figures read that long "
                    "ago (it changed since); 3m*: a big process, read rarely.", style="dim")
        text.append("\nany key closes this", style="dim")
        yield Static(text, id="help")

    def on_key(self) -> None:
        self.dismiss()
