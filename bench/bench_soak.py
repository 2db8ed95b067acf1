#!/usr/bin/env python3
"""Flat memory: memtype.Sampler's RSS after 10 ticks against after 1,000, on a churning workload.

Usage::

    sudo .venv/bin/python bench/bench_soak.py [--ticks 1000] [--interval 0.1] [--procs 200] [--spawn 20]

It starts bench_ps.py's ``--procs`` helpers and bench/churn.py (``--busy`` processes whose memory moves
every 0.5 s, ``--spawn`` short-lived forks per second living 0.2-2 s: PIDs come and go all the time),
then iterates a Sampler in this process for ``--ticks`` ticks, calling ``since_start()`` and
``freshness()`` of every process as a view would. ``--refresh`` is short (default 5 s) so that rows
are replaced all the time too. It prints this process's VmRSS at ticks 10, 100, 250, 500, 750 and
every 500th and the last, with the sampler's live state (processes tracked, header pool size) and the
live Python objects (``sys.getallocatedblocks()``: a leak grows it; allocator slack does not), and the verdict
against the target: RSS after the last tick within ``--slack`` MiB (default 4) of RSS after tick 10.
Linux only; run as root. Not for CI (about 2-3 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import bench_ps  # noqa: E402  (the helper processes; bench/ is on sys.path when run as a script)
import launch  # noqa: E402

HERE = Path(__file__).resolve().parent
MARKS = (10, 100, 250, 500, 750)


def vm_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ticks", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--budget", type=float, default=0.15)
    ap.add_argument("--refresh", type=float, default=5.0)
    ap.add_argument("--procs", type=int, default=200)
    ap.add_argument("--busy", type=int, default=20)
    ap.add_argument("--spawn", type=float, default=20.0)
    ap.add_argument("--slack", type=float, default=4.0, help="MiB allowed between tick 10 and the last")
    ap.add_argument("--json", metavar="FILE")
    launch.add_workload_args(ap)
    args = ap.parse_args(argv)

    launch.stop_on_signals()
    launch.become_subreaper()
    tmp = Path(tempfile.mkdtemp(prefix="bench_soak-", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp")))
    hs = bench_ps.HelperSet()
    marks: list[dict] = []
    rc = 0
    try:
        bench_ps.start_helpers(args.procs, args, bench_ps.make_files(tmp), hs)
        r, w = os.pipe()
        os.set_inheritable(w, True)
        os.posix_spawn(sys.executable, [sys.executable, str(HERE / "churn.py"), "--busy", str(args.busy),
                                        "--spawn", str(args.spawn), "--ready-fd", str(w), "--parent",
                                        str(os.getpid())], os.environ, setpgroup=hs.pgid)
        os.close(w)
        os.read(r, 1)
        os.close(r)
        import memtype

        sampler = memtype.Sampler(interval=args.interval, budget=args.budget, refresh=args.refresh)
        started = time.monotonic()
        print(f"bench_soak: {args.ticks} ticks every {args.interval:g} s, {bench_ps.count_proc()} processes in "
              f"/proc ({args.procs} helpers, {args.busy} busy, {args.spawn:g} forks/s)", flush=True)
        seen = 0  # processes seen so far (a count: a set here would grow this process's RSS itself)
        for i, model in enumerate(sampler, 1):
            seen += len(model.sample.processes) if model.changes is None else len(model.changes.new)
            if i % 10 == 0:
                sampler.since_start()
            for key in model.sample.processes:
                sampler.freshness(key)
            if i in MARKS or i % 500 == 0 or i == args.ticks:
                report = sampler.report
                assert report is not None
                mark = {"tick": i, "seconds": round(time.monotonic() - started, 1), "rss_kib": vm_rss_kib(),
                        "processes": report.processes, "seen": seen, "py_blocks": sys.getallocatedblocks(),
                        "header_pool": len(sampler._interned), "users": len(sampler._users)}
                marks.append(mark)
                print(f"  tick {i:5d}: RSS {mark['rss_kib'] / 1024:6.1f} MiB, {mark['processes']} processes now, "
                      f"{mark['seen']} seen so far, header pool {mark['header_pool']}, "
                      f"{mark['py_blocks']} Python blocks", flush=True)
            if i >= args.ticks:
                break
        grew = (marks[-1]["rss_kib"] - marks[0]["rss_kib"]) / 1024
        ok = grew <= args.slack
        first_n, last_n = marks[0]["processes"], marks[-1]["processes"]
        # The sampler holds every live process: a machine whose other processes came or went during the
        # run moves its RSS for that reason alone (seen: 265 -> 764 while a test elsewhere ran 500).
        steady = abs(last_n - first_n) <= max(20, first_n // 10)
        verdict = ("MET" if ok else "MISSED") if steady else "NOT JUDGED"
        print(f"RSS after tick {marks[-1]['tick']} minus after tick 10: {grew:+.1f} MiB "
              f"({seen} distinct processes seen) -> {verdict} (target <= {args.slack:g} MiB)")
        if not steady:
            print(f"  the machine's processes went from {first_n} to {last_n} during the run: run it on a quiet "
                  "machine (compare the Python blocks of marks with the same process count)")
        rc = 0 if ok and steady else 1
    except KeyboardInterrupt:
        rc = 130
    finally:
        bench_ps.teardown(hs)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"benchmark": "sampler soak", "argv": sys.argv, "marks": marks},
                                              indent=2) + "\n")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
