"""``memtype top``: the Textual app. A header (the machine by kind, swap, PSI, reclaim), the process
table, and screens for a process's detail, the cgroups, and the keys.

Ticks follow dolphie's pattern (landscape-next.md section 1.3): the feed is read in a worker thread,
the result is shown on the app's thread, and only then is the next read timed, so reads never
overlap and a slow read stretches the interval instead of piling up. A static feed (a capture)
gives one Model and no timer.

Errors: an exception anywhere (a widget, the feed) ends the app; Textual restores the terminal
first (its driver leaves the alternate screen, shows the cursor and stops mouse reporting), and the
error is kept in ``failure`` for the command to report in one line (or as a traceback with
``--debug``), instead of Textual's own traceback with locals.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import deque
from functools import partial

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from memtype.tui import header, replay_keys
from memtype.tui.feed import Feed
from memtype.tui.grid import ProcessGrid
from memtype.tui.rows import (FIGURES, MODES, Line, group_lines, process_lines, sort_lines, tree_lines, walk)
from memtype.tui.screens import CgroupScreen, DetailScreen, HelpScreen
from memtype.tui.replay_keys import JumpInput, ReplayKeys
from memtype.tui.table import WIDE_VALUE, Column, layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from textual.events import Resize

    from memtype.model.derive import Model
    from memtype.tui.rows import Marks

HISTORY = 60  # ticks of PSS kept per line for the sparkline
SORTS = ("pss", *FIGURES[1:], "pid", "user", "name")
KEYS_LINE = "q quit  ? keys  / filter  s/S sort  r reverse  g group  t tree  ⏎ detail  c cgroups  d changes"
KEYS_SHORT = "q quit ? keys / filter s sort r reverse g group t tree ⏎ detail c cgroups"


class FilterInput(Input):
    BINDINGS = [Binding("escape", "cancel", "clear the filter", show=False)]

    def action_cancel(self) -> None:
        self.value = ""
        self.app.action_close_filter()  # type: ignore[attr-defined]


class TopApp(ReplayKeys, App[int]):
    """The live view. ``failure`` holds the exception that ended it, if one did."""

    TITLE = "memtype top"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #machine { height: auto; }
    #status, #title, #keys { height: 1; }
    #title { background: $boost; text-style: bold; }
    #notes { height: auto; color: $warning; }
    #procs { height: 1fr; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 0; }
    #filter { height: 1; border: none; padding: 0 1; display: none; }
    #filter.shown { display: block; }
    #keys { color: $text-muted; }
    """ + replay_keys.CSS
    BINDINGS = [
        Binding("q", "quit", "quit"), Binding("ctrl+c", "quit", "quit", show=False, priority=True),
        Binding("question_mark", "keys", "keys"), Binding("slash", "filter", "filter"),
        Binding("escape", "clear_filter", "clear the filter", show=False),
        Binding("s", "sort(1)", "next sort column"), Binding("S", "sort(-1)", "previous sort column"),
        Binding("greater_than_sign", "sort(1)", show=False), Binding("less_than_sign", "sort(-1)", show=False),
        Binding("r", "reverse", "reverse the order"), Binding("g", "group", "group: process, program, user, cgroup"),
        Binding("t", "tree", "tree view"), Binding("space", "fold", "fold or unfold a subtree"),
        Binding("enter", "detail", "the process's detail", show=False),
        Binding("c", "cgroups", "cgroups"), Binding("d", "changes", "changes in place of figures"),
        *replay_keys.BINDINGS,
    ]

    def __init__(self, feed: Feed, *, autotick: bool = True) -> None:
        """``autotick``: read the feed again every interval (tests drive ``fetch`` themselves)."""
        super().__init__()
        self.feed, self.autotick = feed, autotick
        self.model: Model | None = None
        self.marks: Marks | None = None
        self.previous: Model | None = None
        self.failure: BaseException | None = None
        self.mode = "process"
        self.tree_view = False
        self.sort_key = "pss"
        self.descending: bool | None = None  # None: the column's natural order
        self.needle = ""
        self.changes_only = False
        self.folded: set[str] = set()
        self.history: dict[str, deque[int]] = {}
        self.shown: list[Line] = []
        self.shown_text: dict[str, Text] = {}
        self.layout_kind = ""
        self.columns: list[Column] = []
        self.ticks = 0
        self.first_data_at: float | None = None  # time.monotonic() when the first Model was shown

    # -- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text("memtype top · reading…", style="bold"), id="machine")
        yield Static("", id="status")
        yield Static("", id="notes")
        yield Static("", id="title")
        yield FilterInput(placeholder="filter by name (Enter keeps it, Esc clears it)", id="filter")
        yield JumpInput(placeholder="jump to a time: 14:05, 2026-12-01T14:05, 10m ago (Enter jumps, Esc closes)",
                        id="jump")
        yield ProcessGrid(id="procs")
        yield Static("", id="keys")

    @property
    def table(self) -> ProcessGrid:
        return self.query_one("#procs", ProcessGrid)

    def on_mount(self) -> None:
        self.table.focus()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):  # a kill or a closed terminal: leave as `q` does
            loop.add_signal_handler(sig, partial(self.exit, return_code=128 + sig))
        self.fetch()

    def on_resize(self, event: Resize) -> None:
        self.refresh_view()

    # -- ticks --------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="tick")
    def fetch(self) -> None:
        started = time.monotonic()
        model = self.feed.tick()
        fresh = self.feed.freshness
        marks = {key: fresh(key) for key in model.by_key} if fresh is not None else None  # before the next tick
        self.call_from_thread(self.arrived, model, marks, started)

    def arrived(self, model: Model, marks: Marks | None, started: float) -> None:
        if model is self.model:  # a paused replay: the same Model again, nothing to draw
            self.refresh_view()
            if self.feed.interval is not None and self.autotick:
                self.set_timer(max(0.05, self.feed.interval - (time.monotonic() - started)), self.fetch)
            return
        self.previous, self.model, self.marks = self.model, model, marks
        self.ticks += 1
        self.refresh_view(new_data=True)
        if self.first_data_at is None:
            self.first_data_at = time.monotonic()
        screen = self.screen
        if isinstance(screen, (DetailScreen, CgroupScreen)):
            screen.update_from(model, marks) if isinstance(screen, DetailScreen) else screen.update_from(model)
        if self.feed.interval is not None and self.autotick:
            self.set_timer(max(0.05, self.feed.interval - (time.monotonic() - started)), self.fetch)

    def _handle_exception(self, error: Exception) -> None:
        """Keep the error for the command (module docstring); Textual still restores the terminal."""
        if self.failure is None:
            self.failure = getattr(error, "error", None) or error  # a WorkerFailed carries the worker's error
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        self._exit_renderables.clear()  # the command reports ``failure`` after the terminal is restored

    # -- the table -------------------------------------------------------------------------------------

    def lines(self) -> list[Line]:
        """The current view's lines, sorted, as shown (folded subtrees hidden)."""
        model = self.model
        if model is None:
            return []
        if self.tree_view:
            roots = tree_lines(model, self.needle, self.previous, self.marks)
            for line in walk(roots, all_lines=True):
                line.folded = line.key in self.folded and bool(line.children)
        elif self.mode == "process":
            roots = process_lines(model, self.needle, self.marks)
        else:
            roots = group_lines(model, self.mode, self.needle, self.previous)
        key = self.sort_key if self.sort_key in SORTS else "pss"
        return list(walk(sort_lines(roots, key, self.descending)))

    def view_name(self) -> str:
        return "tree" if self.tree_view else self.mode

    def refresh_view(self, new_data: bool = False) -> None:
        """Rebuild the header and the table (columns too when the width or the mode changed)."""
        model = self.model
        width = max(40, self.size.width - 1)
        if model is not None:
            self._set("#machine", self._machine_text(model, width))
            self._set("#status", header.status_line(model, self.previous, live=self.feed.live))
            notes = self.feed.notes(model) if self.feed.notes is not None else []
            self._set("#notes", Text("\n".join(notes)))
        gpu = model is not None and model.gpu is not None and bool(model.gpu.uses)
        kind, columns = layout(width, "process" if self.tree_view else self.mode, gpu)
        table = self.table
        at = self._cursor_key()
        changed = kind != self.layout_kind or [(c.key, c.width) for c in columns] != [(c.key, c.width)
                                                                                  for c in self.columns]
        self.layout_kind = kind
        headers = [self._header(c) for c in columns]
        if changed:
            table.set_columns(columns, headers)
            self.columns = columns
        else:
            table.set_headers(headers)
        shown = self.lines()
        view = self.view_name()
        if new_data:
            self._remember(shown if not self.tree_view else list(walk(shown, all_lines=True)), view)
        prefix = f"{view}/"
        table.show(shown, columns, kind, changes_only=self.changes_only,
                   history={line.key: self.history.get(prefix + line.key, ()) for line in shown})
        self.shown = shown
        if at is not None:
            index = next((i for i, line in enumerate(shown) if line.key == at), None)
            if index is not None:
                table.move_cursor(row=index, animate=False, scroll=False)
        self._set("#title", self._title(len(shown)))
        keys = KEYS_LINE + (replay_keys.KEYS_LINE if self.feed.replay is not None else "")
        self._set("#keys", Text(keys if width >= len(keys) else KEYS_SHORT))

    def _set(self, widget: str, text: Text) -> None:
        """Update a Static only when its text changed: an update lays the screen out again."""
        if self.shown_text.get(widget) != text:
            self.shown_text[widget] = text
            self.query_one(widget, Static).update(text)

    def _remember(self, lines: list[Line], view: str) -> None:
        seen = set()
        for line in lines:
            key = f"{view}/{line.key}"
            seen.add(key)
            h = self.history.get(key)
            if h is None:
                h = self.history[key] = deque(maxlen=HISTORY)
            h.append(line.values["pss"])
        for key in [k for k in self.history if k.startswith(view + "/") and k not in seen]:
            del self.history[key]  # exited processes, vanished groups: bounded memory

    def _cursor_key(self) -> str | None:
        table = self.table
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row].key

    def _header(self, c: Column) -> Text:
        title = c.title
        if c.key == self.sort_key:
            desc = (c.key not in ("pid", "user", "name")) if self.descending is None else self.descending
            title += "▼" if desc else "▲"
        if c.key in FIGURES and self.layout_kind == "wide":  # over the figure, not over its change
            return Text(f"{title:>{WIDE_VALUE + 1}}".ljust(c.width), style="bold")
        if c.key in FIGURES:  # over the figure, not over its mark of change
            return Text(title.rjust(c.width - 1) + " ", style="bold")
        return Text(title.rjust(c.width) if c.right else " " + title, style="bold")

    def _machine_text(self, model: Model, width: int) -> Text:
        host = model.scan.host
        where = "live" if self.feed.live else f"capture {host.root.rstrip('/').rsplit('/', 1)[-1]}"
        if self.feed.replay is not None:
            where = self.feed.replay.where()
        every = f" · every {self.feed.interval:g}s" if self.feed.interval is not None else " · one sample"
        text = Text()
        text.append("memtype top", style="bold")
        text.append(f"{' · ' + host.hostname if host.hostname else ''} · {where}{every} · {len(model.scan.processes):,} processes\n")
        text.append_text(header.machine_bar(model.machine, width))
        return text

    def _title(self, shown: int) -> Text:
        model = self.model
        text = Text()
        if model is None:
            return text
        what = ("process" if self.mode == "process" else self.mode) + ("" if shown == 1 else
                                                                      "es" if self.mode == "process" else "s")
        text.append(f" {'tree of ' if self.tree_view else ''}{shown:,} {what}")
        title = next((c.title for c in self.columns if c.key == self.sort_key), self.sort_key)
        text.append(f" · sort {title.strip()} · figures are PSS")
        if self.layout_kind == "wide":
            text.append(", each with its change since the last tick")
        if self.tree_view:
            text.append(" · a parent: its subtree's sum" if self.layout_kind == "narrow"
                        else " · a parent's figures are its subtree's sum (PSS adds up)")
        if self.changes_only:
            text.append(" · showing changes", style="yellow")
        if self.needle:
            text.append(f" · filter “{self.needle}”", style="yellow")
        return text

    # -- actions -------------------------------------------------------------------------------------

    def on_process_grid_header_clicked(self, event: ProcessGrid.HeaderClicked) -> None:
        key = event.column_key
        if key == "trend":
            key = "pss"
        if key == self.sort_key:
            self.action_reverse()
            return
        self.sort_key, self.descending = key, None
        self.refresh_view()

    def on_process_grid_row_activated(self, event: ProcessGrid.RowActivated) -> None:
        self.action_detail()

    def action_detail(self) -> None:
        index = self.table.cursor_row
        if self.model is None or not (0 <= index < len(self.shown)):
            return
        line = self.shown[index]
        if line.proc is None:
            self.notify("a group: press g for one line per process, then Enter", timeout=3)
            return
        self.push_screen(DetailScreen(self.model, line.proc.key, self.feed))

    def action_sort(self, step: int) -> None:
        keys = [c.key for c in self.columns if c.key != "trend"]
        at = keys.index(self.sort_key) if self.sort_key in keys else 0
        self.sort_key, self.descending = keys[(at + step) % len(keys)], None
        self.refresh_view()

    def action_reverse(self) -> None:
        natural = self.sort_key not in ("pid", "user", "name")
        current = natural if self.descending is None else self.descending
        self.descending = not current
        self.refresh_view()

    def action_group(self) -> None:
        self.tree_view = False
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        if self.sort_key == "pid" and self.mode != "process":
            self.sort_key = "pss"
        self.refresh_view()

    def action_tree(self) -> None:
        self.tree_view = not self.tree_view
        self.mode = "process"
        self.refresh_view()

    def action_fold(self) -> None:
        index = self.table.cursor_row
        if not self.tree_view or not (0 <= index < len(self.shown)):
            return
        line = self.shown[index]
        if line.children or line.folded:
            self.folded.symmetric_difference_update({line.key})
            self.refresh_view()

    def action_changes(self) -> None:
        self.changes_only = not self.changes_only
        self.refresh_view()

    def action_filter(self) -> None:
        box = self.query_one("#filter", FilterInput)
        box.add_class("shown")
        box.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#filter", FilterInput)
        box.remove_class("shown")
        self.table.focus()
        if self.needle != box.value:
            self.needle = box.value
            self.refresh_view()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", FilterInput)
        if self.needle or box.value:
            box.value = ""
            self.action_close_filter()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "jump":
            return
        self.needle = event.value
        self.refresh_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "jump":
            problem = self.jump_to(event.value)
            if problem:
                self.notify(problem, severity="error", timeout=4)
                return
            event.input.value = ""
            event.input.remove_class("shown")
            self.table.focus()
            return
        self.action_close_filter()

    def action_keys(self) -> None:
        self.push_screen(HelpScreen(replay=self.feed.replay is not None))

    def action_cgroups(self) -> None:
        if self.model is None:
            return
        if self.feed.cgroups is None:
            self.notify("no memory cgroups to show in this root", timeout=3)
            return
        self.push_screen(CgroupScreen(self.model, self.feed))
