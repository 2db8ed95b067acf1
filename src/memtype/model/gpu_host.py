"""The host side of a GPU process, from its smaps: driver pages, likely-pinned buffers, managed memory.

What the captured H200 host shows (tests/fixtures/roots/gpu-dataloader, PID 421, driver 580.159.04):

* ``/dev/nvidiactl`` mappings (VmFlags ``de dd mm``: VM_DONTEXPAND, VM_DONTDUMP, VM_MIXEDMAP) with Rss:
  pages the driver allocated and mapped in (kpageflags: not on the LRU), already the *device* kind.
  ``/dev/nvidia0`` mappings are ``pf io`` (BAR space, no RAM); ``/dev/nvidia-uvm`` maps managed memory
  (its Size is the managed range, its Rss the part resident in host RAM).
* Pinned host buffers (``cudaHostAlloc``, ``torch...pin_memory()``) are ``MAP_SHARED`` anonymous memory
  the driver then pins: the mapping is ``/dev/zero (deleted)`` with VmFlags ``rd wr sh mr mw me ms``,
  exactly those of any other ``MAP_SHARED|MAP_ANONYMOUS`` mapping, and its pages are ordinary shmem
  pages on the LRU (kpageflags 0x4838: uptodate, dirty, lru, mmap, swapbacked). The kernel keeps a pin
  count per page but shows it nowhere in /proc (``page_maybe_dma_pinned`` is internal), so nothing
  userspace can read tells a pinned buffer from an unpinned one: such a mapping in a process that
  holds the NVIDIA control device is **likely** pinned (``pinned_likely``), not known to be. memtype
  keeps it in the *shared* kind and says so, rather than move it to *device* on a guess. A forked
  child (a DataLoader worker) inherits both mappings (no MADV_DONTFORK on them); only the pages it
  has touched count in its Rss (none in the capture's workers: they flag 0 bytes).

All sizes in bytes.
"""

from __future__ import annotations

from memtype.model.frozen import FrozenValue, fill

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from memtype.model.records import Mapping
    from memtype.parse.smaps import RawVma

CONTROL = "/dev/nvidiactl"
UVM = "/dev/nvidia-uvm"
SHARED_ANON = "/dev/zero (deleted)"  # MAP_SHARED|MAP_ANONYMOUS (shmem_zero_setup names it so)
PINNED_WHY = ("MAP_SHARED anonymous memory in a process holding /dev/nvidiactl: how CUDA pinned host memory "
              "(cudaHostAlloc, pin_memory()) appears; counted as shared, but if pinned the driver holds it in "
              "RAM (neither swapped nor dropped). /proc shows no pin count, so this is likely, not certain")


class HostSide(FrozenValue):
    """A process's GPU-related host mappings.

    Attributes:
        driver: Rss of its ``/dev/nvidia*`` mappings (driver pages; the device kind already).
        pinned_likely: Rss of its ``/dev/zero (deleted)`` shared mappings while it maps /dev/nvidiactl;
            ``pinned_maps``: their ``(start, end, rss)``.
        uvm_size, uvm_resident: Size and Rss of its ``/dev/nvidia-uvm`` mappings (managed memory: the
            range, and what of it is in host RAM now; what is on the GPU NVML does not split per process).
    """

    __slots__ = ("driver", "pinned_likely", "pinned_maps", "uvm_size", "uvm_resident")

    driver: int
    pinned_likely: int
    pinned_maps: tuple[tuple[int, int, int], ...]
    uvm_size: int
    uvm_resident: int

    def __init__(self, driver: int, pinned_likely: int, pinned_maps: tuple[tuple[int, int, int], ...],
                 uvm_size: int, uvm_resident: int) -> None:
        fill(self, driver, pinned_likely, pinned_maps, uvm_size, uvm_resident)

    def as_dict(self) -> dict[str, Any]:
        return {"driver": self.driver, "pinned_likely": self.pinned_likely, "uvm_size": self.uvm_size,
                "uvm_resident": self.uvm_resident,
                "pinned_maps": [{"start": f"{s:x}", "end": f"{e:x}", "rss": r} for s, e, r in self.pinned_maps]}


def host_side(names: Sequence[str], vmas: Sequence[RawVma]) -> HostSide | None:
    """The process's GPU host side; ``None`` where it maps no NVIDIA device (nothing to say)."""
    try:
        rss_at = list(names).index("Rss")
    except ValueError:
        return None
    if not any(v.path == CONTROL for v in vmas):
        return None
    driver = pinned = uvm_size = uvm_rss = 0
    maps = []
    for v in vmas:
        rss = v.values[rss_at] * 1024
        if v.path.startswith("/dev/nvidia"):
            driver += rss
            if v.path == UVM:
                uvm_size += v.end - v.start
                uvm_rss += rss
        elif v.path == SHARED_ANON and v.perms[3:4] == "s" and rss:
            pinned += rss
            maps.append((v.start, v.end, rss))
    return HostSide(driver, pinned, tuple(maps), uvm_size, uvm_rss)


def likely_pinned(mappings: Sequence[Mapping]) -> list[Mapping] | None:
    """The mappings of one process that are likely pinned host memory (``HostSide.pinned_likely``'s
    rule, on classified mappings: ``maps PID``); ``None`` where it maps no NVIDIA control device."""
    if not any(m.path == CONTROL for m in mappings):
        return None
    return [m for m in mappings if m.path == SHARED_ANON and m.perms[3:4] == "s" and m.totals.rss]


def pinned_detail(mappings: Sequence[Mapping]) -> dict[str, Any] | None:
    """``maps`` JSON's ``"gpu_host"``: the likely-pinned mappings, their bytes and why (``None``: not a
    process that maps /dev/nvidiactl)."""
    found = likely_pinned(mappings)
    if found is None:
        return None
    return {"pinned_likely": sum(m.totals.rss for m in found), "why": PINNED_WHY,
            "pinned_maps": [{"start": f"{m.start:x}", "end": f"{m.end:x}", "rss": m.totals.rss} for m in found]}
