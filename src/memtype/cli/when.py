"""TIME as ``--at``, ``history --export FROM TO`` and ``diff --db DB FROM TO`` take it, and times as
the output names them (local time, the zone the user's TZ says).

Accepted: ``now``; ``14:05`` or ``14:05:10`` (today, local time; yesterday when that is still to
come); ``2026-12-01T14:05`` or ``2026-12-01 14:05[:10]`` (local time); ISO 8601 with a zone
(``2026-12-01T14:05:00+01:00``, ``...Z``); ``10m ago`` (``s``, ``m``, ``h``, ``d``, ``w``, combined:
``1h30m ago``); a Unix time (``1764597910``, ``@1764597910.5``). Anything else is one line naming
what is accepted (argparse turns the ArgumentTypeError into ``memtype: error: ...``, exit 2).
"""

from __future__ import annotations

import argparse
import re
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

ACCEPTED = "14:05, 2026-12-01T14:05, ISO 8601 with a zone, 10m ago / 2h ago / 1d ago, now, or a Unix time"
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_AGO = re.compile(r"((?:\d{1,6}(?:\.\d{1,3})?\s*[smhdw]\s*)+)ago")
_PART = re.compile(r"(\d{1,6}(?:\.\d{1,3})?)\s*([smhdw])")
_UNIX = re.compile(r"@?(\d{9,11}(?:\.\d{1,9})?)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
LATEST = 4102444800.0  # 2100-01-01: a Unix time beyond is a typo (or milliseconds)


def parse_time(text: str, now: float | None = None) -> float:
    """TIME -> a Unix time (module docstring). ``now``: the present (tests pass a fixed one).

    Raises:
        ValueError: not a time this accepts, with what is.
    """
    from datetime import datetime, timedelta  # here: every reading command imports this module (start-up)

    at = time.time() if now is None else now
    t = text.strip().lower()
    if t == "now":
        return at
    m = _AGO.fullmatch(t)
    if m:
        return at - sum(float(n) * _SECONDS[u] for n, u in _PART.findall(m.group(1)))
    m = _CLOCK.fullmatch(t)
    if m:
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"not a time of day: {_shown(text)}")
        today = datetime.fromtimestamp(at).replace(hour=hour, minute=minute, second=second, microsecond=0)
        wall = today.timestamp()
        # A time of day still to come means yesterday's ("what happened at 23:50?" asked at 00:10).
        return (today - timedelta(days=1)).timestamp() if wall > at else wall
    m = _UNIX.fullmatch(t)
    if m:
        wall = float(m.group(1))
        if wall > LATEST:
            raise ValueError(f"not a Unix time in seconds: {_shown(text)} (milliseconds?)")
        return wall
    if _DATE.fullmatch(t.upper()):
        try:
            iso = text.strip().upper().replace(" ", "T")
            if iso.endswith("Z"):  # UTC: datetime.fromisoformat takes "Z" only from Python 3.11
                iso = iso[:-1] + "+00:00"
            parsed = datetime.fromisoformat(iso)
        except ValueError:
            raise ValueError(f"not a date and time: {_shown(text)}") from None
        return parsed.timestamp()  # without a zone: local time (datetime's naive = local)
    raise ValueError(f"not a time: {_shown(text)} (give {ACCEPTED})")


def time_arg(text: str) -> str:
    """argparse type: TIME checked now (a typo fails before anything is read), kept as text so that
    ``10m ago`` means ten minutes before the command reads, and the output can quote what was asked."""
    try:
        parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _local(wall: float) -> datetime:
    from datetime import datetime

    return datetime.fromtimestamp(wall)


def shown(wall: float, *, date: bool = True) -> str:
    """A Unix time as the output names it: ``2026-12-01 14:05:10`` (local time)."""
    return _local(wall).strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def span(first: float, last: float) -> str:
    """A range: ``2026-12-01 09:00:00 to 11:30:00`` (the date once when it is one day)."""
    a, b = _local(first), _local(last)
    end = b.strftime("%H:%M:%S" if a.date() == b.date() else "%Y-%m-%d %H:%M:%S")
    return f"{a.strftime('%Y-%m-%d %H:%M:%S')} to {end}"


def duration(seconds: float) -> str:
    """``3d 4h``, ``2h 5m``, ``4m 10s``, ``12s``: the two largest units."""
    s = int(round(max(0.0, seconds)))
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{n}{u}" for n, u in parts[:2] if n or u == parts[0][1])


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
