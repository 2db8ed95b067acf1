"""The one printer of notes and warnings on stderr, for every command (style.md rule 6: bulk views
degrade, and say so in one line per kind of gap).

Each line starts ``memtype: note:`` or ``memtype: warning:`` and is printed once per run however many
parts of a command report it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.records import Scan

MAX_WARNINGS = 10
# Why a process was not reported (model.records.Skipped.reason) -> what the note says; {n} is
# "3 processes", {what} the command's own addition. A reason not listed is printed as it is.
SKIP_TEXT = {
    "denied": "access denied for {n}{what}; run as root for all",
    "gone": "{n} exited while being read{what}",
    "not captured": "{n} not in the capture (their smaps could not be read when it was made){what}",
    "unreadable": "{n} skipped{what}: their files are damaged (see the warnings)",
    "error": "{n} skipped after read errors{what} (see the warnings)",
    "not sampled": "{n} without smaps in this sample{what} (the recorder had not read them yet)",
}
SILENT = frozenset({"kernel", "zombie", "no user memory"})  # no user memory: nothing was missed
_printed: set[str] = set()


def count(n: int, noun: str = "process") -> str:
    """``1 process``, ``3 processes``, ``1 file``, ``2 files``."""
    plural = noun + ("es" if noun.endswith(("s", "x")) else "s")
    return f"{n:,} {noun if n == 1 else plural}"


def note(text: str) -> None:
    _emit("note", text)


def warning(text: str) -> None:
    _emit("warning", text)


def warnings(lines: Sequence[str]) -> None:
    """The first MAX_WARNINGS warnings, then how many more there were."""
    for line in lines[:MAX_WARNINGS]:
        warning(line)
    if len(lines) > MAX_WARNINGS:
        warning(f"... and {len(lines) - MAX_WARNINGS} more")


ROOT_REFUSED = "access denied even to root (a security module such as SELinux or AppArmor, or a sandbox, refuses it)"


def refused_root(n: int, pids: Sequence[int], noun: str = "process") -> str:
    """What to say when root itself was refused: name the PIDs; advising root would be no help."""
    shown = sorted(pids)
    listed = ", ".join(str(p) for p in shown[:5]) + (" ..." if len(shown) > 5 else "")
    who = f"PID {listed}" if n == 1 and shown else f"{count(n, noun)}" + (f" (PID {listed})" if shown else "")
    return f"{who} not read: {ROOT_REFUSED}"


def skips(reasons: Mapping[str, int], *, noun: str = "process", what: str = "", live: bool = True,
          denied_pids: Sequence[int] = ()) -> None:
    """One note per reason, in a fixed order. As root on a live machine, "denied" names the PIDs the
    kernel refused to root instead of advising root."""
    for text in skip_lines(reasons, noun=noun, what=what, live=live, denied_pids=denied_pids):
        note(text)


def skip_lines(reasons: Mapping[str, int], *, noun: str = "process", what: str = "", live: bool = True,
               denied_pids: Sequence[int] = ()) -> list[str]:
    """The texts of ``skips``'s notes (a full-screen view shows them itself)."""
    order = list(SKIP_TEXT) + sorted(set(reasons) - set(SKIP_TEXT))
    out = []
    for reason in order:
        n = reasons.get(reason, 0)
        if not n or reason in SILENT:
            continue
        if reason == "denied" and live and os.geteuid() == 0:
            out.append(refused_root(n, denied_pids, noun) + what)
            continue
        template = SKIP_TEXT.get(reason, "{n} skipped{what}: " + reason)
        out.append(template.format(n=count(n, noun), what=what))
    return out


def scan_notes(scan: Scan, *, what: str = "") -> None:
    """The skips and warnings of a scan."""
    skips(scan.skip_counts(), what=what, live=scan.host.live,
          denied_pids=[s.pid for s in scan.skipped if s.reason == "denied"])
    warnings(scan.warnings)


def _emit(kind: str, text: str) -> None:
    line = f"memtype: {kind}: {text}"
    if line in _printed:
        return
    _printed.add(line)
    print(line, file=sys.stderr)


def reset() -> None:
    """Forget what was printed (a new run in the same process: tests, embedding)."""
    _printed.clear()
