#!/usr/bin/env python3
"""A churning workload for the continuous benchmarks (bench_top.py, bench_soak.py). Standard library only.

    python bench/churn.py --busy 10 --spawn 5 [--life 0.2 2.0] [--ready-fd FD]

* ``--busy N``: N forked children that, every 0.5 s, free the block they held and write a new one of
  256 KiB to 4 MiB (their RSS and faults move every tick; as forks of this process they also share
  its pages copy-on-write, and rewrite part of a 1 MiB region they inherited, so fork families move).
* ``--spawn R``: R short-lived forks per second, each writing 1 MiB and living ``--life`` seconds
  (uniform between the two bounds): PIDs appear and exit all the time.

Every child dies with this process (PR_SET_PDEATHSIG) and this process dies with its parent, so a
killed benchmark leaves nothing behind. It writes one byte to ``--ready-fd`` once the busy children run.
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import random
import signal
import sys
import time

PAGE = 4096
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _touch(m: mmap.mmap, size: int, value: int) -> None:
    m[:size] = bytes([value % 255 + 1]) * size


def _busy(parent: int, seed: int, inherited: mmap.mmap) -> None:
    _die_with_parent(parent)
    rnd = random.Random(seed)
    _touch(inherited, len(inherited) // 2, seed)  # break sharing on half of what we inherited
    block = None
    while True:
        size = rnd.randrange(64, 1024) * PAGE
        if block is not None:
            block.close()
        block = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        _touch(block, size, rnd.randrange(255))
        time.sleep(0.5)


def _short(parent: int, life: float) -> None:
    _die_with_parent(parent)
    m = mmap.mmap(-1, 256 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    _touch(m, len(m), 7)
    time.sleep(life)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--busy", type=int, default=10)
    ap.add_argument("--spawn", type=float, default=5.0, help="short-lived processes per second")
    ap.add_argument("--life", type=float, nargs=2, default=(0.2, 2.0), metavar=("MIN", "MAX"))
    ap.add_argument("--ready-fd", type=int, default=-1)
    ap.add_argument("--parent", type=int, default=0, help="die when this PID is no longer our parent")
    args = ap.parse_args(argv)
    me = os.getpid()
    if args.parent:
        _die_with_parent(args.parent)
    inherited = mmap.mmap(-1, 256 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    _touch(inherited, len(inherited), 3)  # written before the forks: shared copy-on-write with them
    for i in range(args.busy):
        if os.fork() == 0:
            _busy(me, i, inherited)
    if args.ready_fd >= 0:
        os.write(args.ready_fd, b"c")
        os.close(args.ready_fd)
    rnd = random.Random(0)
    period = 1.0 / args.spawn if args.spawn > 0 else None
    while True:
        if period is None:
            signal.pause()
        time.sleep(period)  # type: ignore[arg-type]
        life = rnd.uniform(*args.life)
        if os.fork() == 0:
            _short(me, life)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


if __name__ == "__main__":
    sys.exit(main())
