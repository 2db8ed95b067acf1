"""Human formatting, applied only in tables (style.md rule 8): JSON and CSV keep bytes.

Sizes are binary: K, M, G, T, P are KiB, MiB, GiB, TiB, PiB (``UNITS_NOTE`` says so under every table).
"""

from __future__ import annotations

_UNITS = ("B", "K", "M", "G", "T", "P")
UNITS_NOTE = "Sizes: K, M, G, T, P = KiB, MiB, GiB, TiB, PiB (1024-based)."


def size(n: int | None) -> str:
    """Compact binary size with at most three significant digits: 0, 512B, 4.0K, 70.3M, 843M, 0.98G.

    The unit steps up at 1000 of the smaller one (not at 1024), so no figure has four integer
    digits: 1008 KiB is "0.98M", printed beside "1.0M" rather than as "1008K". Every size is then at
    most five characters (six with a sign), and a longer figure in a column is a larger one.
    """
    if n is None:
        return "-"
    if n == 0:
        return "0"
    value, unit = float(abs(n)), 0
    while value >= 999.5 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    sign = "-" if n < 0 else ""
    if unit == 0:
        return f"{sign}{int(value)}B"
    if value < 0.995:
        text = f"{value:.2f}"  # 0.98M: what a step at 1000 leaves below 1
    elif value < 99.95:
        text = f"{value:.1f}"
    else:
        text = f"{value:.0f}"
    return f"{sign}{text}{_UNITS[unit]}"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def fit_path(path: str, room: int) -> str:
    """Shorten a path to ``room`` characters, keeping its file name whole where it fits and cutting
    the directories in the middle: "/opt…torch/lib/libtorch_cpu.so". A name longer than the room
    keeps its end ("…ublasLt.so.13")."""
    if len(path) <= room:
        return path
    if room <= 1:
        return "…"[:room]
    name = path.rsplit("/", 1)[-1]
    rest = room - 1 - len(name)  # what the directories get besides the ellipsis
    if rest < 4:
        return "…" + path[len(path) - room + 1:]
    head = rest // 3
    tail = rest - head
    return path[:head] + "…" + path[len(path) - len(name) - tail:]


def cut(text: str, room: int) -> str:
    """Cut ``text`` to ``room`` characters with an ellipsis at the end."""
    return text if len(text) <= room else text[: max(0, room - 1)] + "…"
