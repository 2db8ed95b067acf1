"""Run one benchmarked command and measure it: wall time and the command's own peak RSS.

Shared by bench_system.py and bench_files.py. Why a launcher: posix_spawn and fork start the child
on a copy of this Python process, and the kernel folds that mm's high-water RSS into the child's
ru_maxrss, so every tool would report at least the benchmark's own RSS. The tool is started as a
background job of a tiny ``sh`` that exits at once; the tool is reparented to us (we are the child
subreaper) and we wait4() it directly, so its ru_maxrss carries only the few hundred KiB of the sh.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

PR_SET_CHILD_SUBREAPER = 36
LAUNCH_SCRIPT = '"$@" > /dev/null & echo $!'
SH = shutil.which("sh") or "/bin/sh"


@dataclass
class Sample:
    seconds: float
    maxrss_kib: int
    code: int


def become_subreaper() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def run(argv: list[str], errfile: int) -> Sample:
    """Run ``argv`` with stdout to /dev/null and stderr to ``errfile`` (truncated first)."""
    os.ftruncate(errfile, 0)
    os.lseek(errfile, 0, os.SEEK_SET)
    r, w = os.pipe()
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, w, 1),
          (os.POSIX_SPAWN_DUP2, errfile, 2)]
    t0 = time.perf_counter()
    sh = os.posix_spawn(SH, [SH, "-c", LAUNCH_SCRIPT, "sh", *argv], os.environ, file_actions=fa)
    os.close(w)
    out = b""
    while chunk := os.read(r, 64):
        out += chunk
    os.close(r)
    os.waitpid(sh, 0)
    _, status, ru = os.wait4(int(out.split()[0]), 0)
    return Sample(time.perf_counter() - t0, ru.ru_maxrss, os.waitstatus_to_exitcode(status))
