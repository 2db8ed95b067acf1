"""The host side of GPU processes (``model.gpu_host``): their smaps read again, in Python, for the few
processes a GPU names (``ps`` streams every smaps through compiled code and keeps no paths)."""

from __future__ import annotations

from memtype.errors import MemtypeError
from memtype.model.gpu_host import HostSide, host_side
from memtype.parse.smaps import parse_smaps
from memtype.source.root import Root


def read_host_sides(root: Root, pids: list[int]) -> dict[int, HostSide]:
    """``{pid: HostSide}`` of those of ``pids`` that map an NVIDIA device (the others are left out;
    a process that exited or denies its smaps too)."""
    found = {}
    for pid in pids:
        try:
            parsed = parse_smaps(root.read_bytes(f"proc/{pid}/smaps", pid))
        except MemtypeError:
            continue
        side = host_side(parsed.names, parsed.vmas)
        if side is not None:
            found[pid] = side
    return found
