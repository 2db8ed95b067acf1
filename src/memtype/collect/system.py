"""Read the whole machine by kind: the inputs of ``memtype.model.machine`` from a Root.

``machine_memory`` (the overview) and ``system_memory`` read the same inputs, meminfo and the
per-CPU free lists of /proc/zoneinfo (and take cow's file part from a process scan), and split them
with the one ``memtype.model.machine.split_machine``. With ``exact`` ``system_memory`` also runs the page census of
``memtype.collect.exact.system`` over /proc/kpageflags + /proc/kpagecount, reading meminfo once the scanner's
own memory is allocated (so that it is in both figures, see PageScanner) and the processes' smaps
during the page scan; the split, the rows and the reconciliation are ``memtype.model.machine``'s.
"""

from __future__ import annotations

from memtype.collect.scan import host_info, open_root, scan
from memtype.errors import AccessDenied, FileMissing, MemtypeError, ParseError, Unsupported
from memtype.model.machine import MachineMemory, SystemMemory, cow_file_of, split_machine, system_from_meminfo
from memtype.parse.procfiles import parse_meminfo
from memtype.parse.zoneinfo import parse_zoneinfo, pcp_free_pages
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    from memtype.model.records import Scan


def machine_memory(root: Root | str = "/", processes: Scan | None = None) -> MachineMemory:
    """The machine's rows from meminfo and zoneinfo, as ``memtype system`` splits them.

    Args:
        processes: a scan of the same Root, for cow's file part (else it stays in file cache).

    Raises:
        FileMissing: the root has no proc/meminfo. ParseError: it lacks MemTotal.
    """
    r = open_root(root)
    mi, pcp = _meminfo(r)
    page_size = processes.host.page_size if processes is not None else host_info(r).page_size
    return split_machine(mi, page_size, per_cpu_pages=pcp, cow_file=cow_file_of(processes))


def system_memory(root: Root | str = "/", *, exact: bool = False, processes: bool = True,
                  jobs: int | None = None) -> SystemMemory:
    """Every byte of MemTotal by kind.

    Args:
        root: this machine ("/"), a capture directory or ``.tar.gz`` (for ``exact``, taken with
            ``snapshot --exact``), or an open Root.
        exact: scan every page (root; numpy).
        processes: also scan every process (smaps) and reconcile the kinds (``SystemMemory.reconcile``).
        jobs: reader threads of the process scan.

    Raises:
        Unsupported: --exact where the kernel or the capture lacks the page files.
        MemtypeError: other one-line reasons: --exact without root, no numpy.
    """
    r = open_root(root)
    host = host_info(r)
    census = None
    procs: Scan | None = None
    if exact:
        from memtype.collect.exact.system import PageScanner

        flags_file, count_file = _open_kpage(r)
        started: list[_Background] = []
        read: list[tuple[dict[str, int], int | None]] = []
        own: list[int | None] = []

        def ready() -> None:  # numpy and the scanner's buffers are in memory; nothing counted yet
            read.append(_meminfo(r))
            own.append(_own_anon() if r.live else None)
            if processes:  # smaps of every process during the page scan: the same interval, and the
                # smaps readers use the CPU time the page scan leaves idle
                started.append(_Background(lambda: scan(r, jobs=jobs)))

        with flags_file, count_file:
            census = PageScanner().scan(flags_file, count_file, ready=ready)
            procs = started[0].result() if started else None
        mi, pcp = read[0]
    else:
        mi, pcp = _meminfo(r)
        procs = scan(r, jobs=jobs) if processes else None
        own = []
    return system_from_meminfo(host, mi, pcp, census, own[0] if exact else None, procs)


class _Background:
    """Run one call in a thread; ``result`` joins it and returns its value or raises its exception."""

    def __init__(self, work: Callable[[], Scan]) -> None:
        import threading

        self._work = work
        self._value: Scan | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="memtype-smaps", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def result(self) -> Scan:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _meminfo(r: Root) -> tuple[dict[str, int], int | None]:
    """meminfo, and the pages on per-CPU free lists from zoneinfo (``None``: no zoneinfo)."""
    mi = parse_meminfo(r.read_text("proc/meminfo"))
    if "MemTotal" not in mi or "MemFree" not in mi:
        raise ParseError("proc/meminfo", "no MemTotal/MemFree")
    try:
        pcp: int | None = pcp_free_pages(parse_zoneinfo(r.read_text("proc/zoneinfo")))
    except MemtypeError:
        pcp = None
    return mi, pcp


def _own_anon() -> int | None:
    """This process's resident anonymous memory (RssAnon), in bytes."""
    try:
        for line in Root("/").read_text("proc/self/status").splitlines():  # this memtype, even on a capture
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except (MemtypeError, ValueError, IndexError):
        pass
    return None


def _open_kpage(r: Root) -> tuple[BinaryIO, BinaryIO]:
    opened: list[BinaryIO] = []
    try:
        for rel in ("proc/kpageflags", "proc/kpagecount"):
            opened.append(r.open_binary(rel))
    except AccessDenied:
        for f in opened:
            f.close()
        raise MemtypeError("--exact reads /proc/kpageflags and /proc/kpagecount, which only root can read "
                           "(mode 0400): run it as root, or drop --exact") from None
    except FileMissing as exc:
        for f in opened:
            f.close()
        if r.live:
            raise Unsupported("--exact", f"--exact needs /{exc.path}, which this kernel lacks "
                              "(CONFIG_PROC_PAGE_MONITOR)") from None
        raise Unsupported("--exact", f"--exact: the capture has no {exc.path}(.gz); take it with `memtype snapshot "
                          "--exact`") from None
    return opened[0], opened[1]
