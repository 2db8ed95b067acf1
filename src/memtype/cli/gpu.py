"""GPU figures for a command's rows (issue 14): the Source's GPU view, attached to process records.

``view(src, pids)``: a Root is read now (``collect.gpu.read_gpu``: NVML live or recorded, DRM fdinfo),
a recorded sample gives its ``Sample.gpu``. ``attach`` puts each process's ``"gpu"`` (model.gpu.
process_gpu, with the host side of ``model.gpu_host`` where it maps an NVIDIA device) on its record.
``say_why`` prints, once, why GPU figures are missing where a GPU was to be expected.
"""

from __future__ import annotations

from memtype.cli import notes

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.cli.source import Source
    from memtype.model.gpu import GpuView
    from memtype.model.gpu_host import HostSide
    from memtype.model.gpu_sample import GpuSample
    from memtype.model.records import Scan


def view(src: Source, pids: list[int] | None = None) -> GpuView | None:
    """The GPUs of the source; ``None``: nothing was read (no GPU here, a sample without GPUs)."""
    from memtype.model.gpu import gpu_view  # only commands that show GPUs pay for these imports

    if src.root is not None:
        from memtype.collect.gpu import read_gpu

        gpu: GpuSample | None = read_gpu(src.root, pids)
        present = set(src.root.pids()) if gpu is not None and gpu.host_pidns is False else None
        meminfo = _meminfo(src)
    else:
        sample = src.sample()
        gpu, meminfo = sample.gpu, sample.meminfo
        present = {ps.pid for ps in sample.processes.values()}
    return gpu_view(gpu, meminfo, present)


def host_sides(src: Source, pids: list[int]) -> dict[int, HostSide]:
    """The NVIDIA host side of ``pids`` (a recorded sample: from its smaps rows)."""
    if src.root is not None:
        from memtype.collect.gpu.host import read_host_sides

        return read_host_sides(src.root, pids)
    from memtype.model.gpu_host import host_side

    found = {}
    wanted = set(pids)
    for ps in src.sample().processes.values():
        if ps.pid in wanted and ps.smaps is not None:
            side = host_side(ps.smaps.names, ps.smaps.vmas())
            if side is not None:
                found[ps.pid] = side
    return found


def attach(result: Scan, gpu: GpuView | None, sides: dict[int, HostSide]) -> Scan:
    """``result`` with each process's ``gpu`` (``model.gpu.attach_gpu``)."""
    from memtype.model.gpu import attach_gpu

    return result if gpu is None else result.replace(processes=attach_gpu(result.processes, gpu, sides))


def has_data(gpu: GpuView | None) -> bool:
    return gpu is not None and bool(gpu.devices or gpu.uses)


def say_why(gpu: GpuView | None) -> None:
    """One note per reason GPU figures are missing or partial (not for a capture that simply predates
    GPU capture, nor for a machine with no GPU device)."""
    from memtype.collect.gpu import NOT_RECORDED

    if gpu is None:
        return
    for problem in gpu.problems:
        if problem != NOT_RECORDED:
            notes.note(f"GPU columns: {problem}")
    if gpu.outside:
        total = sum(b for _, _, b in gpu.outside if b is not None)
        notes.note(f"GPU: {notes.count(len(gpu.outside))} on the GPU that are not in this PID namespace "
                   f"({total / 2**20:.0f} MiB; NVML reports host PIDs: run on the host to see them)")
    if any(u.vram is None for u in gpu.uses):
        notes.note("GPU: NVML reports per-process VRAM as not available here (MIG or WDDM): shown as unknown, "
                   "not 0")


def _meminfo(src: Source) -> dict[str, int]:
    from memtype.errors import MemtypeError
    from memtype.parse.procfiles import parse_meminfo

    assert src.root is not None
    try:
        return parse_meminfo(src.root.read_text("proc/meminfo"))
    except MemtypeError:
        return {}
