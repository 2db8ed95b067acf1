"""Read the swap of a Root: devices, swappiness, zswap and zram, and SysV segments (kernel-spec.md E.1);
the records are ``memtype.model.swap``'s.

Every source is optional but meminfo (bulk view, style.md rule 6): a capture without
``proc/sys/vm/swappiness`` or the zswap parameters reports ``None`` for them. ``room`` is what the
reclaim classes need: "a swap device with free room is active" (zswap sits in front of one and
zram is one, so both are covered by /proc/swaps).
"""

from __future__ import annotations

from memtype.errors import MemtypeError
from memtype.model.swap import SwapInfo, Zram, Zswap
from memtype.parse.numbers import is_uint
from memtype.parse.procfiles import parse_meminfo
from memtype.parse.swapfiles import SwapDevice, parse_swaps, parse_sysvipc_shm, parse_zram_mm_stat
from memtype.source.root import Root


def _text(root: Root, rel: str) -> str | None:
    try:
        return root.read_text(rel)
    except MemtypeError:
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if is_uint(text[1:] if text[:1] == "-" else text) else None  # '²'.isdigit() is True


def read_swappiness(root: Root) -> int | None:
    """``vm.swappiness`` (0-200), or ``None`` where the capture lacks it."""
    return _int(_text(root, "proc/sys/vm/swappiness"))


def read_devices(root: Root) -> list[SwapDevice] | None:
    """Active swap areas from /proc/swaps; ``None`` when the file is missing or unreadable."""
    text = _text(root, "proc/swaps")
    if text is None:
        return None
    try:
        return parse_swaps(text)
    except ValueError:
        return None


def swap_room(root: Root) -> bool:
    """Whether a swap device with room is active: /proc/swaps, else meminfo ``SwapFree``."""
    devices = read_devices(root)
    if devices is not None:
        return any(d.free > 0 for d in devices)
    mi = parse_meminfo(_text(root, "proc/meminfo") or "")
    return mi.get("SwapFree", 0) > 0


def _zswap(root: Root, mi: dict[str, int]) -> Zswap:
    base = "sys/module/zswap/parameters/"
    enabled = _text(root, base + "enabled")
    compressor = _text(root, base + "compressor")
    return Zswap(None if enabled is None else enabled.strip() in ("Y", "1"),
                 None if compressor is None else compressor.strip(), _int(_text(root, base + "max_pool_percent")),
                 mi.get("Zswap"), mi.get("Zswapped"))


def _zram(root: Root, devices: list[SwapDevice]) -> list[Zram]:
    try:
        names = sorted(n for n in root.listdir("sys/block") if n.startswith("zram"))
    except MemtypeError:
        return []
    swap_paths = {d.path for d in devices}
    out = []
    for name in names:
        disksize = _int(_text(root, f"sys/block/{name}/disksize"))
        if not disksize:
            continue  # not initialised: no capacity, nothing stored
        stat_text = _text(root, f"sys/block/{name}/mm_stat")
        try:
            mm = parse_zram_mm_stat(stat_text) if stat_text is not None else None
        except ValueError:
            mm = None
        algo = _text(root, f"sys/block/{name}/comp_algorithm")
        chosen = None
        if algo is not None:  # "lzo [lz4] zstd": the bracketed one is in use
            chosen = next((a.strip("[]") for a in algo.split() if a.startswith("[")), algo.strip() or None)
        out.append(Zram(name, disksize, chosen, mm["stored"] if mm else None, mm["compressed"] if mm else None,
                        mm["pool"] if mm else None, f"/dev/{name}" in swap_paths))
    return out



def swap_info(root: Root) -> SwapInfo:
    """Read the machine's swap state.

    Raises:
        FileMissing: the root has no proc/meminfo.
    """
    mi = parse_meminfo(root.read_text("proc/meminfo"))
    devices = read_devices(root) or []
    shm_text = _text(root, "proc/sysvipc/shm")
    try:
        shm = parse_sysvipc_shm(shm_text) if shm_text is not None else None
    except ValueError:
        shm = None
    return SwapInfo(devices, mi.get("SwapTotal", 0), mi.get("SwapFree", 0), mi.get("SwapCached", 0),
                    read_swappiness(root), _zswap(root, mi), _zram(root, devices), shm)
