#!/usr/bin/env python3
"""Speed / peak-RSS benchmark of `memtype system --exact` against just reading the two files.

Usage::

    sudo .venv/bin/python bench/bench_system.py --rounds 7 [--json results.json]

Each round runs, alternately, ``memtype system --exact --format json`` (every PFN of
/proc/kpageflags and /proc/kpagecount, plus meminfo and the per-process comparison) and the floor
``cat /proc/kpageflags /proc/kpagecount > /dev/null``, timing each with ``time.perf_counter`` and
recording its peak RSS from ``os.wait4`` (``ru_maxrss``). It prints the median wall time of each,
their ratio (the goal: <= 1.5), and memtype's peak RSS (the goal: <= 200 MiB). ``--no-processes``
times the page scan alone.

Standard library only. Linux only. Needs root (kpageflags is mode 0400).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

from launch import Sample, become_subreaper, run  # bench/launch.py, beside this script

# high-water RSS into its ru_maxrss at exec. The tool is started as a background job of a tiny
# `sh`, which exits at once; the tool is reparented to us (the child subreaper) and we wait4() it.
HERE = os.path.dirname(os.path.abspath(__file__))


def memtype_argv(extra: list[str]) -> list[str]:
    exe = os.path.join(os.path.dirname(HERE), ".venv", "bin", "memtype")
    base = [exe] if os.access(exe, os.X_OK) else [sys.executable, "-m", "memtype"]
    return base + ["system", "--exact", "--format", "json"] + extra


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-processes", action="store_true", help="time the page scan alone (no smaps)")
    ap.add_argument("--json", metavar="FILE", help="write the samples and medians here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_system: needs root (kpageflags is mode 0400)", file=sys.stderr)
        return 2
    become_subreaper()
    tools = {"memtype": memtype_argv(["--no-processes"] if args.no_processes else []),
             "cat": ["sh", "-c", "cat /proc/kpageflags /proc/kpagecount > /dev/null"]}
    samples: dict[str, list[Sample]] = {name: [] for name in tools}
    with tempfile.TemporaryFile() as err:
        for name, argv in tools.items():  # warm-up: page cache of the interpreter, numpy, the binaries
            if run(argv, err.fileno()).code != 0:
                err.seek(0)
                print(f"bench_system: {name} failed: {err.read().decode(errors='replace')[-500:]}", file=sys.stderr)
                return 1
        for _ in range(args.rounds):
            for name, argv in tools.items():
                samples[name].append(run(argv, err.fileno()))
    med = {name: statistics.median(s.seconds for s in ss) for name, ss in samples.items()}
    peak = {name: max(s.maxrss_kib for s in ss) / 1024 for name, ss in samples.items()}
    with open("/proc/meminfo") as f:
        ram_kib = int(f.readline().split()[1])
    print(f"RAM {ram_kib / 2**20:.1f} GiB; {args.rounds} rounds; memtype: {' '.join(tools['memtype'])}")
    for name in tools:
        times = " ".join(f"{s.seconds:.3f}" for s in samples[name])
        print(f"  {name:8} median {med[name]:.3f} s  peak RSS {peak[name]:6.1f} MiB   ({times})")
    ratio = med["memtype"] / med["cat"]
    print(f"  ratio memtype / cat: {ratio:.2f}x (goal <= 1.5x); memtype peak RSS {peak['memtype']:.1f} MiB "
          "(goal <= 200 MiB)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ram_kib": ram_kib, "rounds": args.rounds, "argv": tools, "median_s": med, "peak_rss_mib": peak,
                       "ratio": ratio, "samples": {n: [s.__dict__ for s in ss] for n, ss in samples.items()}}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
