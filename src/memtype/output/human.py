"""Human formatting, applied only in tables (style.md rule 8): JSON and CSV keep bytes."""

from __future__ import annotations

_UNITS = ("B", "K", "M", "G", "T", "P")


def size(n: int | None) -> str:
    """Compact binary size: 0, 512B, 4.0K, 70.3M, 1.2G, 843M."""
    if n is None:
        return "-"
    if n == 0:
        return "0"
    value, unit = float(abs(n)), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    sign = "-" if n < 0 else ""
    if unit == 0:
        return f"{sign}{int(value)}B"
    text = f"{value:.1f}" if value < 99.95 else f"{value:.0f}"
    return f"{sign}{text}{_UNITS[unit]}"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"
