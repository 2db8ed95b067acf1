#!/usr/bin/env python3
"""The memory cgroups' share of a sampler tick: ``Sampler(cgroups=True)``'s ``TickReport.cgroups_cpu``.

Usage::

    sudo .venv/bin/python bench/bench_cgroups.py [--cgroups 200] [--ticks 20]

It ticks a sampler on the host's own cgroups, then makes ``--cgroups`` empty memory cgroups under one
parent (cgroup v2 with the memory controller delegated, else v1's ``memory`` hierarchy) and ticks again;
for each it prints the cgroups read and the CPU (thread time) of reading them per tick (best, median),
per cgroup, and the derive step with the tree built. The cgroups are removed at the end, even after
an error or Ctrl-C. Linux only; run as root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from memtype import Root  # noqa: E402
from memtype.collect.cgroups import find_hierarchy  # noqa: E402
from memtype.collect.sampler import Sampler  # noqa: E402


def measure(ticks: int) -> tuple[int, list[float], list[float]]:
    """(cgroups read, CPU of reading them per tick, derive CPU per tick)."""
    with Sampler(Root("/"), cgroups=True, cgroup=True) as sampler:
        sampler.tick()  # the first tick reads every smaps
        cpu, derive = [], []
        for _ in range(ticks):
            sampler.tick()
            report = sampler.report
            assert report is not None and report.cgroups_cpu is not None
            cpu.append(report.cgroups_cpu)
            derive.append(report.derive_cpu)
        return report.cgroups or 0, cpu, derive


def show(what: str, got: tuple[int, list[float], list[float]]) -> None:
    n, cpu, derive = got
    best, median = min(cpu), statistics.median(cpu)
    print(f"{what}: {n} cgroups: reading {best * 1e3:.1f} ms best, {median * 1e3:.1f} ms median per tick "
          f"({median / max(n, 1) * 1e6:.0f} us per cgroup); derive (all of it) {statistics.median(derive) * 1e3:.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cgroups", type=int, default=200)
    ap.add_argument("--ticks", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_cgroups: needs root (creates memory cgroups)", file=sys.stderr)
        return 2
    hierarchy = find_hierarchy(Root("/"))
    base = "/" + hierarchy.rel
    show("this host", measure(args.ticks))
    parent = os.path.join(base, f"memtype-bench-{uuid.uuid4().hex[:8]}")
    made: list[str] = []
    try:
        os.mkdir(parent)
        made.append(parent)
        if hierarchy.version == 2:
            with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                f.write("+memory")
        for i in range(args.cgroups):
            path = os.path.join(parent, f"c{i:04d}")
            os.mkdir(path)
            made.append(path)
        show(f"+{args.cgroups} made (v{hierarchy.version})", measure(args.ticks))
    finally:
        for path in reversed(made):
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except OSError:
                    time.sleep(0.1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
