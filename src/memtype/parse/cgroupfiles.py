"""Parsers for memory cgroup files (v1 and v2). (Readable names for cgroup paths: ``memtype.model.cgroups``;
cgroup mounts: ``memtype.parse.mountinfo``.)

Pure functions on text (style.md rule 2); absent values are ``None`` (rule 3). File semantics:
kernel-spec.md section D (D.1 v1, D.2 v2) and the kernel's cgroup-v1/memory.rst and cgroup-v2.rst.
"""

from __future__ import annotations

from memtype.parse.numbers import is_uint, to_int

# v1 reports "no limit" as PAGE_COUNTER_MAX pages: LONG_MAX rounded down to a page
# (9223372036854771712 with 4 KiB pages, observed here). Any value within 1 MiB of 2^63 is that,
# whatever the page size (up to 1 MiB pages); no real limit is within 1 MiB of 8 EiB.
_V1_UNLIMITED = (1 << 63) - (1 << 20)


def parse_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.stat, memory.events, memory.oom_control) -> {key: int}.

    Lines that are not ``word integer`` are ignored, so new or odd lines do no harm.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = to_int(parts[1])
            except ValueError:
                continue
    return out


def parse_bytes(text: str) -> int | None:
    """A one-number file (memory.current, memory.usage_in_bytes, memory.max, memory.limit_in_bytes).

    Returns:
        The bytes, or ``None`` for "no limit": v2 ``max`` and v1's PAGE_COUNTER_MAX value.

    Raises:
        ValueError: the text is not a number.
    """
    word = text.strip()
    if word == "max":
        return None
    value = to_int(word)
    return None if value >= _V1_UNLIMITED else value


def parse_procs(text: str) -> list[int]:
    """cgroup.procs: one PID per line (the cgroup's own members, not its descendants')."""
    return sorted(int(w) for w in text.split() if is_uint(w))


class Pressure:
    """PSI of one resource (memory.pressure, /proc/pressure/memory): the share of wall time some (or
    all, ``full``) non-idle tasks were stalled waiting for memory, in %, over 10/60/300 s, and the
    total stall time in microseconds (Documentation/accounting/psi.rst)."""

    __slots__ = ("some", "full")

    def __init__(self, some: dict[str, float] | None, full: dict[str, float] | None) -> None:
        self.some, self.full = some, full

    def as_dict(self) -> dict[str, dict[str, float] | None]:
        return {"some": self.some, "full": self.full}


def parse_pressure(text: str) -> Pressure:
    """``some avg10=0.00 avg60=0.00 avg300=0.00 total=0`` and the same for ``full``."""
    lines: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        head, _, rest = line.partition(" ")
        if head not in ("some", "full"):
            continue
        values: dict[str, float] = {}
        for item in rest.split():
            key, _, value = item.partition("=")
            try:
                values[key] = int(value) if key == "total" else float(value)
            except ValueError:
                continue
        lines[head] = values
    return Pressure(lines.get("some"), lines.get("full"))
