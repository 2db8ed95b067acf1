#!/usr/bin/env python3
"""Cost of ``memtype shm`` at N processes, beside what a user would run instead (issue 12).

Usage::

    sudo .venv/bin/python bench/bench_shm.py [--procs 300 1000] [--rounds 5] [--json FILE]

For each N it starts bench_ps.py's N helper processes (the Python ones each hold a written
MAP_SHARED|MAP_ANONYMOUS region and a memfd they map and keep open: hundreds of shmem objects with
holders), then times, alternately, through launch.py (wall time, CPU, peak RSS of the tool itself):

* ``memtype shm --format json``: every object, its holders by maps and fds, residency by cachestat;
* ``memtype shm --rss --format json``: the same, plus the mappers' smaps for each holder's Rss;
* the floor ``lsipc -m`` + ``ls -l /proc/[0-9]*/fd`` (the segments, and every fd link read once: what
  the fd half of the walk cannot do with less), run by one ``sh``;
* ``lsof -n`` (what users run to find deleted-but-held and mapped files: ``lsof | grep DEL``), when
  installed.

It prints the medians and the ratios to the floor. Linux; run as root (other users' fds and maps).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import bench_ps  # noqa: E402  (bench/ is on sys.path when run as a script)
import launch  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def tools(venv: str) -> dict[str, list[str]]:
    memtype = str(Path(venv) / "bin" / "memtype")
    out = {
        "memtype shm": [memtype, "shm", "--format", "json"],
        "memtype shm --rss": [memtype, "shm", "--rss", "--format", "json"],
    }
    if shutil.which("lsipc"):
        out["floor: lsipc -m + ls -l /proc/*/fd"] = [
            "sh", "-c", "lsipc -m > /dev/null; ls -l /proc/[0-9]*/fd/ > /dev/null 2>&1; true"]
    if shutil.which("lsof"):
        out["lsof -n"] = ["sh", "-c", "lsof -n > /dev/null 2>&1; true"]
    return out


def objects_seen(venv: str) -> int:
    import subprocess

    out = subprocess.run([str(Path(venv) / "bin" / "memtype"), "shm", "--format", "json", "--top",
                          "100000"], capture_output=True, check=True).stdout
    return int(json.loads(out)["summary"]["objects"])


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
    tmp = launch.bench_tmpdir("bench_shm")
    results = []
    rc = 0
    try:
        for n in args.procs:
            hs = bench_ps.HelperSet()
            try:
                bench_ps.start_helpers(n, args, bench_ps.make_files(tmp), hs)
                res = {"procs": n, "proc_entries": bench_ps.count_proc(), "objects": objects_seen(args.venv),
                       "tools": launch.measure_tools(tools(args.venv), args.rounds, tmp)}
            finally:
                bench_ps.teardown(hs)
            results.append(res)
            t = res["tools"]
            floor = next((v["wall_s"] for k, v in t.items() if k.startswith("floor")), None)
            print(f"N={n} ({res['proc_entries']} /proc entries, {res['objects']} shm objects):")
            for name, v in t.items():
                ratio = f"  x{v['wall_s'] / floor:.2f} the floor" if floor else ""
                print(f"  {name:40s} {v['wall_s'] * 1000:8.0f} ms wall {v['cpu_s'] * 1000:8.0f} ms CPU "
                      f"{v['maxrss_mib']:6.1f} MiB{ratio}", flush=True)
    except KeyboardInterrupt:
        rc = 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        launch.write_results(args.json, "shm", results)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
