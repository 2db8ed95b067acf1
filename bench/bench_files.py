#!/usr/bin/env python3
"""Speed / peak-RSS benchmark of `memtype files -R TREE --format json` against `vmtouch TREE`.

Usage::

    apt-get install -y vmtouch          # Debian/Ubuntu; the benchmark skips vmtouch without it
    sudo .venv/bin/python bench/bench_files.py --tree /usr --rounds 5 [--json results.json]

Each round runs, alternately, ``memtype files -R TREE --format json > /dev/null`` (cachestat(2) per
file: cached, dirty, writeback, evicted; plus who maps or holds each file), ``memtype files -R TREE
--mincore --format json`` (resident pages only, vmtouch's method) and ``vmtouch TREE`` (its summary
mode: open, mmap, mincore, munmap per file), timing each with ``time.perf_counter`` and recording
its peak RSS from ``os.wait4`` (``ru_maxrss``). An untimed warm-up round first fills the dentry and
inode caches, so every timed round walks the same warm tree. It prints the median wall time of each,
the ratio memtype / vmtouch (the goal: <= 1.5) and the peak RSS.

Standard library only. Linux only. Run as root to see every file (unreadable ones cost the same).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

from launch import Sample, become_subreaper, run  # bench/launch.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
INSTALL_VMTOUCH = "apt-get install -y vmtouch"


def memtype_argv(tree: str, extra: list[str]) -> list[str]:
    exe = os.path.join(os.path.dirname(HERE), ".venv", "bin", "memtype")
    base = [exe] if os.access(exe, os.X_OK) else [sys.executable, "-m", "memtype"]
    return base + ["files", "-R", tree, "--format", "json"] + extra


def count_files(tree: str) -> tuple[int, int]:
    """Regular files and directories under ``tree``, symlinks not followed (what both tools visit)."""
    files = dirs = 0
    for _, dnames, fnames in os.walk(tree):
        dirs += len(dnames)
        files += len(fnames)
    return files, dirs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", default="/usr", help="directory to scan (default /usr)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-mincore", action="store_true", help="skip the memtype --mincore variant")
    ap.add_argument("--json", metavar="FILE", help="write the samples and medians here")
    args = ap.parse_args()
    become_subreaper()
    tools = {"memtype": memtype_argv(args.tree, [])}
    if not args.no_mincore:
        tools["memtype --mincore"] = memtype_argv(args.tree, ["--mincore"])
    vmtouch = shutil.which("vmtouch")
    if vmtouch:
        tools["vmtouch"] = [vmtouch, args.tree]
    else:
        print(f"bench_files: vmtouch is not installed, so there is nothing to compare with; install it "
              f"(`{INSTALL_VMTOUCH}` on Debian/Ubuntu) and rerun. Timing memtype alone.", file=sys.stderr)
    samples: dict[str, list[Sample]] = {name: [] for name in tools}
    with tempfile.TemporaryFile() as err:
        for name, argv in tools.items():  # warm-up: dentries, inodes, the interpreter's own files
            if run(argv, err.fileno()).code != 0:
                err.seek(0)
                print(f"bench_files: {name} failed: {err.read().decode(errors='replace')[-500:]}", file=sys.stderr)
                return 1
        for _ in range(args.rounds):
            for name, argv in tools.items():
                samples[name].append(run(argv, err.fileno()))
    med = {name: statistics.median(s.seconds for s in ss) for name, ss in samples.items()}
    peak = {name: max(s.maxrss_kib for s in ss) / 1024 for name, ss in samples.items()}
    files, dirs = count_files(args.tree)
    print(f"{args.tree}: {files:,} files (symlinks included) in {dirs:,} directories; {os.cpu_count()} CPUs; "
          f"{args.rounds} rounds, alternating")
    for name in tools:
        times = " ".join(f"{s.seconds:.2f}" for s in samples[name])
        print(f"  {name:18} median {med[name]:6.3f} s  peak RSS {peak[name]:6.1f} MiB   ({times})")
    ratios: dict[str, float] = {}
    if "vmtouch" in med:
        for name in tools:
            if name != "vmtouch":
                ratios[name] = med[name] / med["vmtouch"]
                print(f"  ratio {name} / vmtouch: {ratios[name]:.2f}x (goal <= 1.5x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tree": args.tree, "files": files, "dirs": dirs, "rounds": args.rounds, "argv": tools,
                       "median_s": med, "peak_rss_mib": peak, "ratio": ratios,
                       "samples": {n: [s.__dict__ for s in ss] for n, ss in samples.items()}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
