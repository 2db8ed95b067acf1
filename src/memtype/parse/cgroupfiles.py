"""Parsers for memory cgroup files (v1 and v2). (Readable names for cgroup paths: ``memtype.model.cgroups``;
cgroup mounts: ``memtype.parse.mountinfo``.)

Pure functions on text (style.md rule 2); absent values are ``None`` (rule 3). File semantics:
kernel-spec.md section D (D.1 v1, D.2 v2) and the kernel's cgroup-v1/memory.rst and cgroup-v2.rst.
"""

from __future__ import annotations

from sys import intern

from memtype.parse.numbers import is_uint, to_int


def v1_unlimited(value: int, page_size: int) -> bool:
    """Whether a v1 limit (memory.limit_in_bytes, memsw, hierarchical_memory_limit) means "no limit".

    v1 prints a limit as ``(u64)page_counter.max * PAGE_SIZE`` (mm/memcontrol-v1.c mem_cgroup_read_u64,
    memcg1_stat_format) and "no limit" is PAGE_COUNTER_MAX, which is ``LONG_MAX / PAGE_SIZE`` on 64-bit
    kernels and ``LONG_MAX`` on 32-bit ones (include/linux/page_counter.h). So the value is LONG_MAX
    rounded down to a page: 9223372036854771712 with 4 KiB pages (observed here), 2^63 - 65536 with 64
    KiB; on a 32-bit kernel (2^31 - 1) pages. v2 prints ``max`` instead.
    """
    return value >= ((1 << 63) - 1) // page_size * page_size or value == ((1 << 31) - 1) * page_size


def parse_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.stat, memory.events, memory.oom_control) -> {key: int}.

    Lines that are not ``word integer`` are ignored, so new or odd lines do no harm.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            value = parts[1]
            digits = value[1:] if value[:1] == "-" else value
            if digits.isascii() and digits.isdigit():  # parse.numbers.to_int, inlined: a sampler reads
                out[intern(parts[0])] = int(value)      # ~50 lines per cgroup per tick; one key string each
    return out


def parse_bytes(text: str, page_size: int) -> int | None:
    """A one-number file (memory.current, memory.usage_in_bytes, memory.max, memory.limit_in_bytes).

    Args:
        page_size: the machine's page size, which v1's "no limit" value depends on (``v1_unlimited``).

    Returns:
        The bytes, or ``None`` for "no limit": v2 ``max`` and v1's PAGE_COUNTER_MAX value.

    Raises:
        ValueError: the text is not a number (ASCII digits).
    """
    word = text.strip()
    if word == "max":
        return None
    value = to_int(word)
    return None if v1_unlimited(value, page_size) else value


def parse_procs(text: str) -> list[int]:
    """cgroup.procs: one PID per line (the cgroup's own members, not its descendants').

    Raises:
        ValueError: a line is not a PID (ASCII digits: '²' is str.isdigit() but no number int() takes).
    """
    words = text.split()
    bad = next((w for w in words if not is_uint(w)), None)
    if bad is not None:
        raise ValueError(f"not a PID: {bad[:20]!r}")
    return sorted(int(w) for w in words)


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
