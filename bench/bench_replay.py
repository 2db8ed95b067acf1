"""Reading the past, timed: ``memtype ps --db DB --at TIME`` and ``memtype diff --db DB A B`` over a day of
10 s samples at 300 processes (8,640 samples), each command started fresh (start-up included), as a user
runs it. Issue 11's bound: each answers in under 1 s.

The day is synthetic but written with the real store (``memtype.store``, as ``memtype record`` writes):
300 processes of this machine read once (``read_sample``: their real smaps), then, per 10 s step, 5 %
of them move (an anonymous entry grows or shrinks by a few pages, their fault counters move) and every
100th step one exits and another starts. The database is kept (``--db``) and reused when it exists.

    .venv/bin/python bench/bench_replay.py                       # makes /tmp/memtype-bench-day.db once
    .venv/bin/python bench/bench_replay.py --samples 1000 --rounds 3 --json /tmp/replay.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from array import array
from datetime import datetime

from memtype.collect.sample import read_sample
from memtype.model.sample import ENTRY_COLUMNS, ProcessSample, Sample, SmapsRows

DAY = 8640
STEP = 10.0


def base_sample(procs: int) -> Sample:
    s = read_sample("/")
    keep = [k for k, p in s.processes.items() if p.smaps is not None][:procs]
    if len(keep) < procs:  # a small machine: copies under other PIDs
        pool = list(keep)
        extra = {}
        for i in range(procs - len(keep)):
            p = s.processes[pool[i % len(pool)]]
            q = p.replace(pid=4_000_000 - i, starttime=(p.starttime or 0) + i + 1)
            extra[q.key] = q
        return s.replace(processes={**{k: s.processes[k] for k in keep}, **extra})
    return s.replace(processes={k: s.processes[k] for k in keep})


def moved(p: ProcessSample, rng: random.Random) -> ProcessSample:
    """``p`` with one anonymous entry grown or shrunk by 1-64 pages (Rss, Pss, Private_Dirty)."""
    rows = p.smaps
    assert rows is not None
    idx = {n: i + len(ENTRY_COLUMNS) for i, n in enumerate(rows.names)}
    anon = [e for e, h in enumerate(rows.headers) if h[0].endswith("p") and h[2] in ("", "[heap]")]
    if not anon or "Private_Dirty" not in idx:
        return p
    n = rows.numbers.tolist()
    b = rng.choice(anon) * rows.width
    kb = 4 * rng.randint(1, 64) * rng.choice((1, 1, 1, -1))
    for name in ("Rss", "Pss", "Private_Dirty", "Anonymous"):
        if name in idx:
            n[b + idx[name]] = max(0, n[b + idx[name]] + kb)
    c = p.counters
    counters = c.replace(minflt=(c.minflt or 0) + abs(kb) // 4, rss_anon=max(0, (c.rss_anon or 0) + kb * 1024))
    return p.replace(smaps=SmapsRows(rows.names, rows.headers, array("Q", n)), counters=counters)


def make_day(path: str, samples: int, procs: int) -> float:
    """Write the synthetic day; returns the wall time of its first sample."""
    from memtype.store import Store

    rng = random.Random(11)
    s = base_sample(procs)
    first = time.time() - samples * STEP
    mono = (s.monotonic or 0.0) - samples * STEP
    started = time.monotonic()
    with Store.open(path) as st:
        for i in range(samples):
            procs_now = dict(s.processes)
            for key in rng.sample(list(procs_now), max(1, len(procs_now) // 20)):
                procs_now[key] = moved(procs_now[key], rng)
            if i and i % 100 == 0:
                gone = rng.choice(list(procs_now))
                p = procs_now.pop(gone)
                new = p.replace(pid=3_000_000 + i, starttime=int((mono + i * STEP) * 100))
                procs_now[new.key] = new
            s = s.replace(processes=procs_now, wall=first + i * STEP, monotonic=mono + i * STEP)
            st.append(s)
            if i % 500 == 0:
                print(f"  {i}/{samples} samples written ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return first


def timed(argv: list[str], rounds: int) -> tuple[float, list[float], float]:
    """Median wall seconds, every run's, and the median CPU seconds (user + system) of the command: on a
    busy machine the wall time counts the others' work too, the CPU time only the command's."""
    runs, cpu = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True)
        runs.append(time.monotonic() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return statistics.median(runs), runs, statistics.median(cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="/tmp/memtype-bench-day.db")
    ap.add_argument("--samples", type=int, default=DAY)
    ap.add_argument("--procs", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    if not os.path.exists(a.db):
        print(f"writing {a.samples} samples of {a.procs} processes to {a.db}", file=sys.stderr)
        t = time.monotonic()
        make_day(a.db, a.samples, a.procs)
        print(f"  done in {time.monotonic() - t:.0f} s", file=sys.stderr)
    from memtype.store import Store

    with Store.open(a.db, readonly=True) as st:
        info = st.info()
    span = info.last_wall - info.first_wall
    at = datetime.fromtimestamp(info.first_wall + span * 0.37).strftime("%Y-%m-%dT%H:%M:%S")
    a_t = datetime.fromtimestamp(info.first_wall + span * 0.25).strftime("%Y-%m-%dT%H:%M:%S")
    b_t = datetime.fromtimestamp(info.first_wall + span * 0.75).strftime("%Y-%m-%dT%H:%M:%S")
    me = [sys.executable, "-m", "memtype"]
    results = {"db": a.db, "samples": info.count, "size_bytes": info.size_bytes,
               "bytes_per_sample": info.size_bytes // max(1, info.count), "procs": a.procs}
    for name, argv in (("ps --db --at", [*me, "ps", "--db", a.db, "--at", at]),
                       ("ps --db --at --format json", [*me, "ps", "--db", a.db, "--at", at, "--format", "json"]),
                       ("diff --db", [*me, "diff", "--db", a.db, a_t, b_t]),
                       ("history", [*me, "history", a.db])):
        median, runs, cpu = timed(argv, a.rounds)
        results[name] = {"median_s": round(median, 3), "runs_s": [round(r, 3) for r in runs], "cpu_s": round(cpu, 3)}
        verdict = "" if name == "history" else ("  MET (< 1 s)" if median < 1.0 else "  NOT MET (>= 1 s)")
        print(f"{name:28} median {median:.3f} s, CPU {cpu:.3f} s  ({', '.join(f'{r:.3f}' for r in runs)}){verdict}")
    results["load_average"] = os.getloadavg()
    print(f"load average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")
    print(f"database: {info.count} samples, {info.size_bytes / 2**20:.1f} MiB "
          f"({results['bytes_per_sample']} bytes per sample)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
