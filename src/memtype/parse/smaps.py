"""Parse /proc/PID/smaps (and smaps_rollup) text into raw mapping tuples.

Pure: bytes in, records out (style.md rule 2). The format is in kernel-spec.md A.1/A.2 and
Documentation/filesystems/proc.rst. A compiled fast path (``_smaps.c``) handles well-formed text;
anything it rejects is re-read by the tolerant parser below, which keeps every intact entry and
names the damaged lines, so a garbled capture loses only what depends on the damage.
"""

from __future__ import annotations

import os
import re
from collections import namedtuple

_compiled: Any = None
if os.environ.get("MEMTYPE_PURE_PYTHON") != "1":  # set to compare with the pure-Python path
    try:  # optional accelerator, built by setup.py when a C compiler is present
        from memtype.parse import _smaps as _compiled  # type: ignore[attr-defined, no-redef]
    except ImportError:  # pragma: no cover - memtype then parses in Python
        _compiled = None


TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any, Final, NamedTuple

    class RawVma(NamedTuple):
        """One smaps entry as the kernel printed it. ``values`` align with ``SmapsText.names`` (kB)."""

        start: int
        end: int
        perms: str
        offset: int
        dev: str
        inode: int
        path: str
        vmflags: str
        values: tuple[int, ...]
else:  # the same tuple type at run time (the compiled reader fills instances of it)
    RawVma = namedtuple("RawVma", "start end perms offset dev inode path vmflags values")


class SmapsText:
    """The parsed file: field names (kB fields, file order), entries, and any damage found."""

    __slots__ = ("names", "vmas", "problems")

    def __init__(self, names: tuple[str, ...], vmas: list[RawVma], problems: tuple[str, ...] = ()) -> None:
        self.names, self.vmas, self.problems = names, vmas, problems


_HEADER = r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+) ?\s*(.*)$"
_FIELD = r"^(\w+):\s+(\d+) kB$"

# Positions in a RawVma, for loops that index the tuples (faster than attribute access).
START: Final = 0
END: Final = 1
PERMS: Final = 2
OFFSET: Final = 3
DEV: Final = 4
INODE: Final = 5
PATH: Final = 6
VMFLAGS: Final = 7
VALUES: Final = 8

# The largest kB value an entry can hold: 2^56 bytes, the whole user address space with 5-level
# paging (Documentation/arch/x86/x86_64/mm.rst). A larger one is a damaged file, as is a mapping that
# starts above its end or a header number beyond 64 bits; such an entry is skipped (the compiled
# reader exports the same bound: _smaps.MAX_KB).
MAX_KB = 1 << 46
_MAX_U64 = (1 << 64) - 1


def parse_smaps(data: bytes, *, accelerated: bool = True) -> SmapsText:
    """Parse smaps text.

    Args:
        data: the file's bytes.
        accelerated: use the compiled parser when available (tests turn it off to compare).

    Returns:
        The entries; ``problems`` lists damaged lines (empty for a well-formed file). Entries with
        impossible numbers are skipped and named in one problem line.
    """
    if accelerated and _compiled is not None:
        try:
            names, vmas = _compiled.parse(data, RawVma)
            return SmapsText(names, vmas)
        except ValueError:
            pass  # damaged: the tolerant parser says where, and keeps the rest
    return _parse_tolerant(data.decode("utf-8", "surrogateescape"))


def _parse_tolerant(text: str) -> SmapsText:
    header_re, field_re = re.compile(_HEADER), re.compile(_FIELD)  # re caches compiled patterns
    names: list[str] | None = None
    vmas: list[RawVma] = []
    problems: list[str] = []
    impossible: list[str] = []  # entries with out-of-range numbers: said once, with a count
    header: tuple[int, int, str, int, str, int, str] | None = None
    fields: dict[str, int] = {}
    order: list[str] = []
    damaged = False
    said = False  # the current entry's damage is already in ``impossible``

    def finish(vmflags: str) -> None:
        nonlocal names, header, damaged, said
        if header is None:
            return
        if names is None and not damaged:
            names = list(order)
        if damaged or names is None or any(n not in fields for n in names):
            if not said:
                problems.append(f"mapping {header[0]:x}-{header[1]:x} {header[6]}: incomplete entry skipped")
        else:
            vmas.append(RawVma(*header, vmflags, tuple(fields[n] for n in names)))
        header, damaged, said = None, False, False
        fields.clear()
        order.clear()

    def impossible_entry(why: str) -> None:
        nonlocal damaged, said
        assert header is not None
        if not said:
            impossible.append(f"mapping {header[0]:x}-{header[1]:x} {header[6]}: {why}")
        damaged = said = True

    lines = text.split("\n")
    complete = text.endswith("\n")
    for lineno, line in enumerate(lines, 1):
        if not line:
            continue
        if lineno == len(lines) and not complete:
            problems.append(f"line {lineno}: truncated")
            damaged = True
            break
        m = header_re.match(line)
        if m:
            finish("")
            start, end, perms, off, dev, inode, path = m.groups()
            header = (int(start, 16), int(end, 16), perms, int(off, 16), dev, _decimal(inode), path)
            if max(header[0], header[1], header[3], header[5]) > _MAX_U64:
                impossible_entry("a header number beyond 64 bits")
            elif header[0] > header[1]:
                impossible_entry("it starts above its end")
            continue
        if header is None:
            problems.append(f"line {lineno}: not inside a mapping: {line[:40]!r}")
            continue
        if line.startswith("VmFlags:"):
            finish(line[8:].strip())
            continue
        f = field_re.match(line)
        if f:
            value = _decimal(f.group(2))
            if value > MAX_KB:
                shown = f.group(2) if len(f.group(2)) < 30 else f"a {len(f.group(2))}-digit number of"
                impossible_entry(f"{f.group(1)} {shown} kB is beyond any address space")
            fields[f.group(1)] = value
            order.append(f.group(1))
        elif ":" in line and not line.rstrip().endswith("kB"):
            continue  # fields without a kB unit (THPeligible, ProtectionKey)
        else:
            problems.append(f"line {lineno}: unreadable: {line[:40]!r}")
            damaged = True
    if header is not None and (damaged or not complete):
        damaged = True
    finish("")
    if impossible:
        more = f" (and {len(impossible) - 1} more such entries)" if len(impossible) > 1 else ""
        problems.append(f"{impossible[0]}; skipped{more}")
    return SmapsText(tuple(names or ()), vmas, tuple(problems))


_KERNEL_PAGE = rb"^KernelPageSize:\s+(\d+) kB$"


def kernel_page_size(data: bytes) -> int | None:
    """The base page size (bytes) from smaps text: the smallest ``KernelPageSize`` of its entries (a
    hugetlb mapping shows its huge page size there, every other one the base page; proc.rst), or
    None without the field (kernels before 2.6.29, or an empty smaps)."""
    sizes = [int(m) for m in re.findall(_KERNEL_PAGE, data, re.MULTILINE)]
    return min(sizes) * 1024 if sizes else None


def _decimal(digits: str) -> int:
    """int(digits), or 2^64 for numbers too long for that (int() refuses over 4300 digits)."""
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= 20 else 1 << 64


def compiled() -> Any:
    """The compiled reader module, or None (memtype then parses in Python)."""
    return _compiled


def accelerated() -> bool:
    """Whether the compiled parser is in use."""
    return _compiled is not None


# smaps fields memtype reads that older kernels do not print (proc(5)): SwapPss 4.3, *_Hugetlb 4.4,
# LazyFree 4.12, KSM 6.1; the others are older than any kernel memtype runs on, but a capture may lack them.
OPTIONAL_FIELDS = ("Swap", "SwapPss", "Shared_Hugetlb", "Private_Hugetlb", "Locked", "LazyFree", "AnonHugePages",
                   "KSM")


def absent_fields(data: bytes) -> frozenset[str]:
    """The ``OPTIONAL_FIELDS`` the first entry of an smaps text lacks: every entry of one kernel has
    the same fields, so one entry tells what the kernel prints."""
    found: set[str] = set()
    for line in data[:16384].split(b"\n")[1:]:
        key, sep, _ = line.partition(b":")
        if not sep or b" " in key:  # the next entry's header ("7f..-7f.. r-xp 0 08:01 ...")
            break
        found.add(key.decode("ascii", "replace"))
    return frozenset(n for n in OPTIONAL_FIELDS if n not in found)
