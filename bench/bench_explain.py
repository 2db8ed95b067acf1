#!/usr/bin/env python3
"""Cost of ``memtype explain`` at N processes, beside what a user would run instead (issue 15).

Usage::

    sudo .venv/bin/python bench/bench_explain.py [--procs 300 1000] [--rounds 5] [--json FILE]

For each N it starts bench_ps.py's N helper processes, then times, alternately, through launch.py
(wall time, CPU, peak RSS of the tool itself):

* ``memtype explain --format json``: every process's smaps, the cgroups, the shm objects (maps and
  fds), then the findings;
* ``memtype ps --format json`` and ``memtype shm --format json``: the two reads explain is made of;
* the floor ``cat /proc/[0-9]*/smaps`` + ``ls -l /proc/[0-9]*/fd`` (every smaps and fd link read
  once: what any explanation by kind and holder cannot do with less), run by one ``sh``;
* ``smem -t`` (PSS per process, what users run to see where memory goes), when installed.

It prints the medians and the ratios to the floor. Linux; run as root (other users' smaps and fds).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import bench_ps  # noqa: E402  (bench/ is on sys.path when run as a script)
import launch  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def tools(venv: str) -> dict[str, list[str]]:
    memtype = str(Path(venv) / "bin" / "memtype")
    out = {
        "memtype explain": [memtype, "explain", "--format", "json"],
        "memtype ps": [memtype, "ps", "--format", "json"],
        "memtype shm": [memtype, "shm", "--format", "json"],
        "floor: cat smaps + ls -l fd": [
            "sh", "-c", "cat /proc/[0-9]*/smaps > /dev/null 2>&1; ls -l /proc/[0-9]*/fd/ > /dev/null 2>&1; true"],
    }
    if shutil.which("smem"):
        out["smem -t"] = ["sh", "-c", "smem -t > /dev/null 2>&1; true"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--venv", default=str(REPO / ".venv"))
    launch.add_workload_args(ap)
    args = ap.parse_args(argv)
    launch.stop_on_signals()
    launch.become_subreaper()
    bench_ps.raise_limits(max(args.procs))
    tmp = launch.bench_tmpdir("bench_explain")
    results = []
    rc = 0
    try:
        for n in args.procs:
            hs = bench_ps.HelperSet()
            try:
                bench_ps.start_helpers(n, args, bench_ps.make_files(tmp), hs)
                res = {"procs": n, "proc_entries": bench_ps.count_proc(),
                       "tools": launch.measure_tools(tools(args.venv), args.rounds, tmp)}
            finally:
                bench_ps.teardown(hs)
            results.append(res)
            t = res["tools"]
            floor = next((v["wall_s"] for k, v in t.items() if k.startswith("floor")), None)
            print(f"N={n} ({res['proc_entries']} /proc entries):")
            for name, v in t.items():
                ratio = f"  x{v['wall_s'] / floor:.2f} the floor" if floor else ""
                print(f"  {name:40s} {v['wall_s'] * 1000:8.0f} ms wall {v['cpu_s'] * 1000:8.0f} ms CPU "
                      f"{v['maxrss_mib']:6.1f} MiB{ratio}", flush=True)
    except KeyboardInterrupt:
        rc = 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        launch.write_results(args.json, "explain", results)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
