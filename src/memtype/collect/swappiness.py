"""Where each swappiness is in force (``memtype.model.swappiness.SwappinessView``): ``vm.swappiness``,
every v1 memory cgroup's ``memory.swappiness`` that differs from it, whether ``memory.reclaim`` exists
(v2), and whether MGLRU runs (``/sys/kernel/mm/lru_gen/enabled``)."""

from __future__ import annotations

from memtype.collect.cgroups import CgroupFiles
from memtype.collect.swapinfo import read_swappiness
from memtype.errors import MemtypeError
from memtype.model.swappiness import CgroupSwappiness, SwappinessView
from memtype.source.root import Root

MAX_CGROUPS = 100_000  # a walk bound: systemd hosts have thousands, none has this many


def read_mglru(root: Root) -> bool | None:
    """lru_gen enabled ("0x0007": on, "0x0000": off); None where the file is absent or unreadable."""
    try:
        text = root.read_text("sys/kernel/mm/lru_gen/enabled").strip()
    except MemtypeError:
        return None
    try:
        return int(text, 16) != 0
    except ValueError:
        return None


def read_swappiness_view(root: Root, files: CgroupFiles | None) -> SwappinessView:
    """The machine's swappiness and, on v1, every cgroup whose own value differs from it."""
    machine = read_swappiness(root)
    version = files.version if files is not None else None
    if machine is None and files is not None and version == 1:  # the v1 root's memory.swappiness is vm.swappiness
        machine = files.number("/", "memory.swappiness")
    found: list[CgroupSwappiness] = []
    reclaim_arg = False
    if files is not None and version == 1 and machine is not None:
        stack = [("/", machine)]
        seen = 0
        while stack and seen < MAX_CGROUPS:
            path, parent = stack.pop()
            for child in files.children(path):
                seen += 1
                value = files.number(child, "memory.swappiness")
                if value is None:  # removed meanwhile, or not captured
                    continue
                if value != machine:
                    found.append(CgroupSwappiness(child, value, inherited=value == parent and path != "/"))
                stack.append((child, value))
        found.sort(key=lambda c: c.path)
    elif files is not None and version == 2:
        reclaim_arg = any(files.root.exists(f"{files.rel(c)}/memory.reclaim") for c in files.children("/")[:1])
    return SwappinessView(machine, version, found, read_mglru(root), reclaim_arg)
