"""``ps --exact`` / ``maps --exact``: a scan whose reader threads also read each process's pagemap,
then every resident page classified by kernel-spec.md B.3 (``memtype.collect.exact``).

This module sits beside ``collect.scan`` and uses both it and ``collect.exact``; ``collect.exact``
itself never imports ``collect.scan`` (tests/test_layers.py), so the page-level readers stay a
leaf that ``collect.system`` and ``collect.pressure`` can use too.
"""

from __future__ import annotations

import os
import threading

from memtype.collect.exact.account import DETAIL, UNPRIVILEGED_NOTE
from memtype.collect.exact.numpy_import import numpy
from memtype.collect.exact.numpy_pass import classify_all
from memtype.collect.exact.process import PagemapReader, classify_compiled, open_kpage
from memtype.collect.scan import scan, shmem_devs
from memtype.errors import Unsupported
from memtype.model.classify import Classifier
from memtype.model.records import Scan
from memtype.parse.smaps import compiled
from memtype.source.root import Root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["DETAIL", "UNPRIVILEGED_NOTE", "scan_exact"]


def scan_exact(root: str | Root = "/", pids: Iterable[int] | None = None, *, mappings: bool = False,
               cmdline: bool = False, exe: bool = False, jobs: int | None = None, cgroup: bool = False) -> Scan:
    """Like ``memtype.scan`` with every page classified (root for PFNs; see UNPRIVILEGED_NOTE)."""
    r = root if isinstance(root, Root) else Root(root)
    if not r.live:
        raise Unsupported("--exact", "--exact reads pagemap of live processes; it does not work on a capture (--root)")
    c_reader = compiled()
    kpage_fds = open_kpage(r)
    use_compiled = c_reader is not None and hasattr(c_reader, "classify_pages") and kpage_fds is not None
    importer = None if use_compiled else _import_numpy_in_background()  # hidden behind the smaps reads
    try:
        reader = PagemapReader(Classifier(shmem_devs(r)), os.sysconf("SC_PAGE_SIZE"), r)
        result = scan(r, pids, mappings=mappings, cmdline=cmdline, exe=exe, jobs=jobs, visit=reader, cgroup=cgroup)
        procs = [p for p in result.processes if p.pid in reader.pages]
        notes: list[str] = []
        if use_compiled and kpage_fds is not None:
            procs = classify_compiled(c_reader, procs, reader.pages, kpage_fds, result.host.page_size, mappings)
        else:
            if importer is not None:
                importer.join()
            numpy()  # the one-line error if numpy is missing
            if procs:
                procs, notes = classify_all(procs, reader.pages, result.host.page_size, mappings, kpage_fds)
    finally:
        for fd in kpage_fds or ():
            os.close(fd)
    exact = {p.pid: p for p in procs}  # records are read-only: the page-level ones replace the scan's
    return result.replace(processes=[exact.get(p.pid, p) for p in result.processes],
                          warnings=result.warnings + notes)


def _import_numpy_in_background() -> threading.Thread:
    def run() -> None:
        try:
            import numpy  # noqa: F401
        except ImportError:
            pass  # numpy() reports it in the caller's thread

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t
