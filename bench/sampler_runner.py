"""The sampler side of bench_top.py: iterate ``memtype.Sampler`` for a while, write what each tick cost.

    python bench/bench_top.py --_sampler --interval 2 --duration 60 --out FILE [--probe-pid P --probe-fifo F]

Halfway through it opens the probe's FIFO and writes one byte: the probe then allocates and writes
``--probe-mib`` MiB of anonymous memory. The JSON it writes says after how many ticks a model first
showed the probe's anonymous RSS at that size (``probe_ticks``; the tick that triggered is 0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval", type=float, required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--budget", type=float, default=0.15)
    ap.add_argument("--out", required=True)
    ap.add_argument("--probe-pid", type=int)
    ap.add_argument("--probe-fifo")
    ap.add_argument("--probe-mib", type=int, default=100)
    args = ap.parse_args(argv)

    import memtype

    start = time.monotonic()
    end, probe_at = start + args.duration, start + args.duration / 2
    sampler = memtype.Sampler(interval=args.interval, budget=args.budget)
    reports = []
    flips = 0  # ticks where the swap room appeared or went: derive then classifies every process again
    room: bool | None = None
    triggered: int | None = None
    shown: int | None = None
    want = args.probe_mib << 20
    for model in sampler:
        report = sampler.report
        assert report is not None
        reports.append(report)
        flips += room is not None and model.swap_room != room
        room = model.swap_room
        if args.probe_pid and triggered is not None and shown is None:
            p = next((p for p in model.scan.processes if p.pid == args.probe_pid), None)
            if p is not None and p.categories[memtype.Kind.ANONYMOUS].rss >= want:
                shown = report.index - triggered
        if args.probe_fifo and triggered is None and time.monotonic() >= probe_at:
            with open(args.probe_fifo, "wb") as f:
                f.write(b"x")
            triggered = report.index
        if time.monotonic() + args.interval > end:
            break
    steady = reports[1:] or reports

    def mean(name: str) -> float:
        return statistics.fmean(getattr(r, name) for r in steady)

    reads: dict[str, int] = {}
    for r in reports:
        for why, n in r.reads.items():
            reads[why] = reads.get(why, 0) + n
    doc = {"ticks": len(reports), "first_tick_cpu": reports[0].cpu, "tick_cpu_mean": mean("cpu"),
           "counters_cpu_mean": mean("counters_cpu"), "smaps_cpu_mean": mean("smaps_cpu"),
           "derive_cpu_mean": mean("derive_cpu"), "derive_cpu_max": max(r.derive_cpu for r in reports),
           "swap_room_flips": flips, "smaps_cpu_max": max(r.smaps_cpu for r in reports),
           "reads": reads, "left_max": max(r.left for r in steady), "left_last": reports[-1].left,
           "processes_last": reports[-1].processes, "probe_ticks": shown,
           "probe_triggered_tick": triggered, "vm_hwm_kib": _hwm()}
    with open(args.out, "w") as f:
        json.dump(doc, f)
    return 0


def _hwm() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0
