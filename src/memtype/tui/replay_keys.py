"""The replay keys of ``TopApp`` (``memtype top --replay DB``): ``←``/``→`` a sample back/on, ``p`` play or
pause, ``j`` jump to a time (an input line; TIME as ``--at`` takes it). Without a replay they do nothing."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from memtype.tui.feed import Feed

BINDINGS = [Binding("left", "replay_step(-1)", "a sample back", show=False),
            Binding("right", "replay_step(1)", "a sample on", show=False),
            Binding("p", "replay_play", "play or pause", show=False),
            Binding("j", "replay_jump", "jump to a time", show=False)]
KEYS = [("← →", "replay: a sample back / on"), ("p", "replay: play or pause"),
        ("j", "replay: jump to a time (14:05, 10m ago...)")]
KEYS_LINE = "  ←/→ step  p play  j jump"
CSS = """
#jump { height: 1; border: none; padding: 0 1; display: none; }
#jump.shown { display: block; }
"""


class JumpInput(Input):
    BINDINGS = [Binding("escape", "cancel", "close", show=False)]

    def action_cancel(self) -> None:
        self.value = ""
        self.remove_class("shown")
        self.app.set_focus(None)
        self.app.query_one("#procs").focus()


class ReplayKeys:
    """Mixed into TopApp: its ``feed``, ``fetch`` and ``notify`` drive the feed's ``replay``."""

    feed: Feed
    fetch: Callable[..., Any]  # TopApp's worker: the next tick

    def action_replay_step(self, n: int) -> None:
        replay = self.feed.replay
        if replay is not None:
            replay.step(n)
            self.fetch()

    def action_replay_play(self) -> None:
        replay = self.feed.replay
        if replay is not None:
            replay.toggle()
            self.fetch()

    def action_replay_jump(self) -> None:
        if self.feed.replay is None:
            return
        box = self.query_one("#jump", JumpInput)  # type: ignore[attr-defined]
        box.add_class("shown")
        box.focus()

    def jump_to(self, text: str) -> str | None:
        """Jump to TIME ``text``; the error's one line if it is not a time."""
        replay = self.feed.replay
        if replay is None or not text.strip():
            return None
        try:
            replay.seek(replay.parse_time(text))
        except ValueError as exc:
            return str(exc)
        self.fetch()
        return None
