"""A live smoke test of ``memtype top`` in a real pseudo-terminal (tmux): start it on this machine, sort,
drill down, quit, and check that the terminal was given back: the alternate screen left, the cursor
shown, mouse reporting off, the shell's prompt back. Issue 9, "`memtype top`" (and the same after an
internal error). The tmux server is a private one (its own socket) and is killed even on failure."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("textual", reason="memtype top needs Textual: pip install -e '.[test]'")
TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")
PROMPT = "READY$ "
EXITED = re.compile(r"^EXIT=\d+", re.MULTILINE)  # the echo's output, not the command line that holds it


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        return done.stdout

    def screen(self, history: int = 0) -> str:
        """The pane's text (``history``: with that many lines scrolled off above it)."""
        return self.tmux("capture-pane", "-p", "-t", "t", *(["-S", f"-{history}"] if history else []))

    def flag(self, name: str) -> str:
        return self.tmux("display-message", "-p", "-t", "t", f"#{{{name}}}").strip()

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def wait(self, what: Callable[[str], bool], why: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if what(shown):
                return shown
            if time.monotonic() > end:
                pytest.fail(f"timed out waiting for {why}; the screen:\n{shown}")
            time.sleep(0.1)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    t = Terminal(f"memtype-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    env = f"env -i PATH={shlex.quote(os.environ.get('PATH', '/usr/bin:/bin'))} TERM=xterm-256color " \
          f"HOME={shlex.quote(os.environ.get('HOME', '/tmp'))} PS1={shlex.quote(PROMPT)}"
    t.tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "100", "-y", "30", f"{env} bash --norc --noprofile")
    try:
        t.wait(lambda s: PROMPT.rstrip() in s, "the shell")
        yield t
    finally:
        t.tmux("kill-server")


def _restored(t: Terminal) -> None:
    assert t.flag("alternate_on") == "0", "still on the alternate screen"
    assert t.flag("cursor_flag") == "1", "the cursor is still hidden"
    assert t.flag("mouse_any_flag") == "0", "mouse reporting is still on"


def test_issue9_top_live_in_tmux_start_sort_drill_down_quit(terminal: Terminal) -> None:
    t = terminal
    t.send(f"{shlex.quote(sys.executable)} -m memtype top --interval 1; echo EXIT=$?", "Enter")
    t.wait(lambda s: " PID " in s and "sort PSS" in s and "processes" in s, "the first frame")
    assert t.flag("alternate_on") == "1"
    t.wait(lambda s: "every 1s" in s and "reclaim " in s and "pages/s" in s, "a second tick (reclaim per second)")
    t.send("s")
    t.wait(lambda s: "sort Anon" in s and "Anon▼" in s, "the sort by Anon")
    t.send("Enter")
    t.wait(lambda s: ("files and regions by kind" in s and "fork family" in s)
           or "exited, or its smaps was not read" in s, "the detail of a process (or that it just exited)")
    t.send("Escape")
    t.wait(lambda s: "sort Anon" in s, "the table again")
    t.send("q")
    shown = t.wait(lambda s: EXITED.search(s) is not None, "the exit")
    assert "EXIT=0" in shown, shown
    assert shown.rstrip().endswith(PROMPT.rstrip()), shown
    _restored(t)


def test_issue9_top_terminal_restored_after_an_internal_error(terminal: Terminal, tmp_path: object) -> None:
    """An exception inside the app: the terminal comes back first, then one error line (exit 3)."""
    t = terminal
    script = (f"import sys; sys.argv=['memtype', 'top', '--root', {str(_gpu_root())!r}]; "
              "import memtype.tui.header as h; "
              "h.status_line = lambda *a, **k: 1 / 0; "
              "from memtype.cli.main import main; sys.exit(main())")
    t.send(f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}; echo EXIT=$?", "Enter")
    shown = t.wait(lambda s: EXITED.search(s) is not None, "the exit")
    assert "EXIT=3" in shown and "memtype: internal error: ZeroDivisionError" in shown, shown
    assert "Traceback" not in shown, shown
    _restored(t)
    t.send("clear", "Enter")
    t.wait(lambda s: EXITED.search(s) is None, "a clear screen")
    debug = script.replace("'top', '--root'", "'top', '--debug', '--root'")
    t.send(f"{shlex.quote(sys.executable)} -c {shlex.quote(debug)}; echo EXIT=$?", "Enter")
    t.wait(lambda s: EXITED.search(s) is not None, "the exit with --debug")
    shown = t.screen(history=500)
    assert "EXIT=3" in shown and "Traceback (most recent call last)" in shown, shown  # printed after restoring
    assert "ZeroDivisionError" in shown.split("Traceback (most recent call last)", 1)[1], shown
    _restored(t)


def _gpu_root() -> str:
    return os.path.join(os.path.dirname(__file__), "fixtures", "roots", "gpu-dataloader")


def test_issue9_top_terminal_restored_after_sigterm(terminal: Terminal) -> None:
    """``kill`` (SIGTERM) ends it as ``q`` does: the terminal is given back, exit 143."""
    t = terminal
    t.send(f"{shlex.quote(sys.executable)} -m memtype top --root {shlex.quote(_gpu_root())}; echo EXIT=$?", "Enter")
    t.wait(lambda s: " processes · sort " in s, "the first frame")
    shell = t.flag("pane_pid")
    child = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True, timeout=10).stdout.split()
    assert child, "no memtype process under the shell"
    os.kill(int(child[0]), signal.SIGTERM)
    shown = t.wait(lambda s: EXITED.search(s) is not None, "the exit")
    assert "EXIT=143" in shown, shown
    _restored(t)
