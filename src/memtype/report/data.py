"""What a report is made from: the records the command gathers (``cli/commands/report.py``), plain values.

The report package reads no Root and no database: the command reads them and hands over these. Every
part but ``scan`` may be ``None`` (not read, or not in this source): its section then says so in one
line instead of drawing a chart of zeros (unknown is not 0).
"""

from __future__ import annotations

from memtype.kinds import KINDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.cgroups import CgroupTree
    from memtype.model.gpu import GpuView
    from memtype.model.machine import SystemMemory
    from memtype.model.records import ProcessMemory, Scan
    from memtype.model.shm import ShmAccount

KIND_IDS: tuple[str, ...] = tuple(k.value for k in KINDS)


class FamilyMember:
    """One process of a fork family: ``still`` its copy-on-write resident bytes still shared since the
    fork, ``copied`` anonymous bytes in mappings it inherited (pages written, hence copied, since the
    fork), ``own`` anonymous bytes in mappings of its own (``None``: its mappings were not read)."""

    __slots__ = ("proc", "depth", "still", "copied", "own")

    def __init__(self, proc: ProcessMemory, depth: int, still: int, copied: int | None, own: int | None) -> None:
        self.proc, self.depth, self.still, self.copied, self.own = proc, depth, still, copied, own


class DeviceMap:
    """Driver memory by mapped name (``/dev/nvidiactl``, ``anon_inode:dmabuf``...), summed over processes."""

    __slots__ = ("path", "rss", "pss", "size", "pids")

    def __init__(self, path: str, rss: int, pss: int, size: int, pids: list[int]) -> None:
        self.path, self.rss, self.pss, self.size, self.pids = path, rss, pss, size, pids


class HistoryPoint:
    """One recorded sample, reduced to what the history charts draw: ``rows`` (``memtype system``'s rows,
    from meminfo; ``None`` not known), ``swap_used``, and each program's PSS per kind (``KIND_IDS`` order)."""

    __slots__ = ("wall", "rows", "swap_used", "programs")

    def __init__(self, wall: float, rows: dict[str, int | None], swap_used: int | None,
                 programs: dict[str, tuple[int, ...]]) -> None:
        self.wall, self.rows, self.swap_used, self.programs = wall, rows, swap_used, programs


class History:
    """The points drawn (at most ``cli``'s budget, evenly spread over the range) out of ``samples``."""

    __slots__ = ("db", "points", "samples", "first", "last")

    def __init__(self, db: str, points: list[HistoryPoint], samples: int, first: float | None,
                 last: float | None) -> None:
        self.db, self.points, self.samples, self.first, self.last = db, points, samples, first, last


class ReportInput:
    """Everything one report shows. ``source``: a line naming where it comes from (this machine, a capture,
    a database's sample); ``redacted``: host name, users and paths were hidden by the command."""

    def __init__(self, scan: Scan, *, source: str, system: SystemMemory | None = None,
                 cgroups: CgroupTree | None = None, families: list[list[FamilyMember]] | None = None,
                 devices: list[DeviceMap] | None = None, files: list[tuple[str, int]] | None = None,
                 shm: ShmAccount | None = None, gpu: GpuView | None = None, history: History | None = None,
                 redacted: bool = False, notes: list[str] | None = None, families_found: int | None = None) -> None:
        self.scan, self.source, self.system, self.cgroups = scan, source, system, cgroups
        self.families, self.devices, self.files, self.shm, self.gpu = families, devices, files, shm, gpu
        self.history, self.redacted = history, redacted
        self.families_found = families_found if families_found is not None else len(families or ())
        self.notes = notes or []


def kind_pss(p: ProcessMemory) -> dict[str, int]:
    """A process's PSS per kind (they add up to its PSS)."""
    return {k.value: p.categories[k].pss for k in KINDS}
