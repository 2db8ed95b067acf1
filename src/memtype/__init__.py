"""memtype: what kind of memory a Linux machine is using.

Library API (the CLI is a thin front end over it)::

    import memtype
    result = memtype.scan()                 # this machine, every process
    result = memtype.scan("snap.tar.gz")    # a capture made by `memtype snapshot`
    for p in result.processes:
        print(p.pid, p.comm, p.categories[memtype.Kind.COW].rss)

    sampler = memtype.Sampler(interval=2.0, budget=0.15)   # a bounded-cost live view
    for model in sampler:                   # one Model per tick, with .changes since the last
        ...
"""

from memtype.collect.scan import scan
from memtype.collect.system import machine_memory, system_memory
from memtype.errors import AccessDenied, MemtypeError, NoSuchProcess, ParseError, ProcessGone, RootError, Unsupported
from memtype.kinds import KINDS, Kind
from memtype.model.machine import MachineMemory, SystemMemory
from memtype.model.records import HostInfo, KindUsage, Mapping, ProcessMemory, Scan, Skipped, Totals
from memtype.source.root import Root

from memtype._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.collect.sampler import Sampler


def __getattr__(name: str) -> object:
    if name == "Sampler":  # imported on first use: every CLI command imports this package (start-up is benchmarked)
        from memtype.collect.sampler import Sampler

        return Sampler
    raise AttributeError(f"module 'memtype' has no attribute {name!r}")

__all__ = [
    "KINDS", "AccessDenied", "HostInfo", "Kind", "KindUsage", "MachineMemory", "Mapping", "MemtypeError",
    "NoSuchProcess", "ParseError", "ProcessGone", "ProcessMemory", "Root", "RootError", "Sampler", "Scan", "Skipped",
    "SystemMemory", "Totals", "Unsupported", "__version__", "machine_memory", "scan", "system_memory",
]
