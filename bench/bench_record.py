#!/usr/bin/env python3
"""Bytes and recorder CPU per sample of ``memtype record`` at N processes (issue 11: <= 8 KiB at 1000).

Usage::

    sudo .venv/bin/python bench/bench_record.py [--procs 300 1000] [--samples 120] [--speedup 10] [--json FILE]

For each N it starts bench_ps.py's N helper processes and bench/churn.py (``--busy`` processes whose
memory moves every 0.5 s, ``--spawn`` short-lived forks per recorded second), then runs the real
``memtype record --count SAMPLES`` through launch.py (its CPU is the recorder's own: ru_utime +
ru_stime, start-up included) into a new database, and reads the database back: its size on disk,
the frames' bytes (keyframes and deltas apart), and a read of every sample.

Time is compressed: ``--speedup 10`` records at a 1 s interval with the sampler's refresh (60 s) and
big-process interval (300 s) divided by 10 too, and the churn's fork rate multiplied by 10, so each
sample sees what a 10 s interval would (the same share of processes re-read, the same forks per
sample) in a tenth of the time. The helpers are idle otherwise, like most of a real machine's
processes; a machine whose processes all move every 10 s writes more. Linux; run as root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import bench_ps  # noqa: E402  (bench/ is on sys.path when run as a script)
import launch  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET = 8 * 1024  # bytes per sample at 1000 processes


def measure(n: int, args: argparse.Namespace, tmp: Path) -> dict:
    db = tmp / f"record-{n}.db"
    interval = 10.0 / args.speedup
    argv = [str(Path(args.venv) / "bin" / "memtype"), "record", str(db), "--count", str(args.samples),
            "--interval", f"{interval:g}", "--refresh", f"{60 / args.speedup:g}",
            "--big-interval", f"{300 / args.speedup:g}", "--budget", f"{args.budget:g}"]
    errfile = os.open(tmp / "stderr", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        run = launch.run(argv, errfile)
        err = bench_ps.read_err(errfile)
    finally:
        os.close(errfile)
    if run.code != 0:
        raise bench_ps.Fatal(f"memtype record exited {run.code}: {err}")
    c = sqlite3.connect(db)
    rows = c.execute("SELECT base IS NULL, length(data), size, processes FROM samples ORDER BY id").fetchall()
    c.close()
    keys = [r[1] for r in rows if r[0]]
    deltas = [r[1] for r in rows if not r[0]]
    on_disk = sum(os.stat(p).st_size for p in (db, Path(f"{db}-wal")) if p.exists())
    sys.path.insert(0, str(REPO / "src"))
    from memtype.store import Store

    t0 = time.perf_counter()
    with Store.open(str(db), readonly=True) as st:
        ids = [i for i, _ in st.times()]
        for i in ids:
            st.sample(i)
        last = time.perf_counter()
        st.sample(ids[len(ids) // 2 + 7])  # a cold read: replays from its keyframe
        cold = time.perf_counter() - last
    read = time.perf_counter() - t0
    count = len(rows)
    return {"procs": n, "in_proc": round(sum(r[3] or 0 for r in rows) / count), "samples": count,
            "bytes_per_sample_disk": on_disk / count, "bytes_per_sample_frames": (sum(keys) + sum(deltas)) / count,
            "keyframe_bytes": sum(keys) / max(1, len(keys)), "delta_bytes": sum(deltas) / max(1, len(deltas)),
            "keyframes": len(keys), "raw_bytes_per_sample": sum(r[2] for r in rows) / count,
            "cpu_per_sample_ms": run.cpu / count * 1000, "recorder_maxrss_mib": run.maxrss_kib / 1024,
            "read_all_s": read, "cold_read_s": cold}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--samples", type=int, default=120, help="samples per N (default 120: two keyframe chains)")
    ap.add_argument("--speedup", type=float, default=10.0, help="time compression (default 10: a 1 s interval)")
    ap.add_argument("--budget", type=float, default=0.15)
    ap.add_argument("--busy", type=int, default=10, help="churn: busy processes (default 10)")
    ap.add_argument("--spawn", type=float, default=0.2, help="churn: forks per recorded second (default 0.2)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--keep", metavar="DIR", help="keep the databases in DIR (record-N.db)")
    ap.add_argument("--venv", default=str(REPO / ".venv"))
    launch.add_workload_args(ap)
    args = ap.parse_args(argv)

    launch.stop_on_signals()
    launch.become_subreaper()
    tmp = launch.bench_tmpdir("bench_record")
    results = []
    rc = 0
    try:
        for n in args.procs:
            hs = bench_ps.HelperSet()
            try:
                bench_ps.start_helpers(n, args, bench_ps.make_files(tmp), hs)
                r, w = os.pipe()
                os.set_inheritable(w, True)
                os.posix_spawn(sys.executable, [sys.executable, str(HERE / "churn.py"), "--busy", str(args.busy),
                                                "--spawn", f"{args.spawn * args.speedup:g}", "--ready-fd", str(w),
                                                "--parent", str(os.getpid())], os.environ, setpgroup=hs.pgid)
                os.close(w)
                os.read(r, 1)
                os.close(r)
                time.sleep(1.0)
                res = measure(n, args, tmp)
                res["proc_entries"] = bench_ps.count_proc()
            finally:
                bench_ps.teardown(hs)
            results.append(res)
            print(f"N={n} ({res['in_proc']} processes per sample): {res['bytes_per_sample_disk'] / 1024:.2f} KiB/sample "
                  f"on disk ({res['bytes_per_sample_frames'] / 1024:.2f} KiB of frames: keyframe "
                  f"{res['keyframe_bytes'] / 1024:.0f} KiB x {res['keyframes']}, delta {res['delta_bytes'] / 1024:.2f} KiB;"
                  f" {res['raw_bytes_per_sample'] / 1024:.0f} KiB before zlib); recorder CPU "
                  f"{res['cpu_per_sample_ms']:.1f} ms/sample, max RSS {res['recorder_maxrss_mib']:.0f} MiB; "
                  f"reading all {res['samples']} samples {res['read_all_s']:.2f} s, a cold read "
                  f"{res['cold_read_s'] * 1000:.0f} ms", flush=True)
        big = [r for r in results if r["procs"] >= 1000]
        if big:
            ok = all(r["bytes_per_sample_disk"] <= TARGET for r in big)
            print(f"target <= 8 KiB per sample at 1000 processes: {'MET' if ok else 'MISSED'}")
            rc = 0 if ok else 1
    except KeyboardInterrupt:
        rc = 130
    finally:
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for db in tmp.glob("record-*.db"):
                shutil.move(str(db), os.path.join(args.keep, db.name))
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        launch.write_results(args.json, "record", results)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
