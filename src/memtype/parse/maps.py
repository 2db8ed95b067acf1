"""/proc/PID/maps: one line per mapping (VMA).

Pure functions on text (style.md rule 2). The line format is proc(5) ("/proc/pid/maps") and
fs/proc/task_mmu.c show_map_vma:

    7f2c1e600000-7f2c1e628000 r--p 00000000 fd:01 1054728                    /usr/lib/libc.so.6

address range (hex), permissions, offset (hex), device ``%02x:%02x`` (hex), inode (decimal), then,
padded with blanks, the path; a path may hold blanks and ends with `` (deleted)`` once unlinked.
"""

from __future__ import annotations

import re


class MapsLine:
    """One mapping of /proc/PID/maps; ``range`` is the header's ``start-end`` text (the map_files name)."""

    __slots__ = ("start", "end", "range", "perms", "offset", "dev", "inode", "path")

    def __init__(self, start: int, end: int, range: str, perms: str, offset: int, dev: str, inode: int,
                 path: str) -> None:
        self.start, self.end, self.range, self.perms, self.offset = start, end, range, perms, offset
        self.dev, self.inode, self.path = dev, inode, path

    def __repr__(self) -> str:
        return f"MapsLine({self.range} {self.perms} {self.dev} {self.inode} {self.path!r})"


def parse_maps(text: str) -> list[MapsLine]:
    """Every well-formed line, in file order; a malformed line (or one whose start is above its end)
    is left out."""
    out: list[MapsLine] = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        rng, perms, offset, dev, inode = parts[:5]
        lo, dash, hi = rng.partition("-")
        if not dash or len(perms) != 4 or not inode.isascii() or not inode.isdigit():
            continue
        major, colon, minor = dev.partition(":")
        if not (_is_hex(lo) and _is_hex(hi) and _is_hex(offset) and colon and _is_hex(major) and _is_hex(minor)):
            continue
        start, end, off = int(lo, 16), int(hi, 16), int(offset, 16)
        if start > end:
            continue
        out.append(MapsLine(start, end, rng, perms, off, dev, int(inode), parts[5] if len(parts) > 5 else ""))
    return out


_HEX = re.compile(r"[0-9a-f]+").fullmatch  # int(w, 16) alone would also take "1_0" and " 1"


def _is_hex(word: str) -> bool:
    return _HEX(word) is not None  # a compiled regex: 5x a per-character check (memtype shm walks every maps)


def file_mappings(lines: list[MapsLine]) -> list[MapsLine]:
    """Mappings of an inode with an absolute path (files, but also "/memfd:x", "/dev/zero (deleted)" and
    device nodes: a caller that wants regular files still stats them); anonymous ones have inode 0."""
    return [m for m in lines if m.inode != 0 and m.path.startswith("/")]
