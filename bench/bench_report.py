#!/usr/bin/env python3
"""bench_report.py: ``memtype report`` at N processes (default 300 and 1000, bench_ps.py's helper workload):
generation time and peak RSS (launch.py: the tool's own ru_maxrss), the file's size against the 1 MiB
budget, and the time the page takes in headless Chromium to its first contentful paint and to its
load event (tests/browser.py; skipped with the reason when there is no Chromium).

Each figure is the median of ``--runs`` runs (default 3), the range beside it. ``--files 0`` (the
default here) leaves out the walk of every open file that the page cache's list costs; ``--with-files``
measures it too. There is no peer to compare with: no other tool writes one offline HTML file of a
machine's memory (smem draws matplotlib images, memray's reports are of one Python process).

    sudo bench/bench_report.py [--procs 300 1000] [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import bench_ps  # noqa: E402  (bench/ is on sys.path when run as a script)
import launch  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BUDGET = 1 << 20


def generate(n: int, args: argparse.Namespace, tmp: Path) -> dict:  # type: ignore[type-arg]
    out = tmp / f"report-{n}.html"
    argv = [str(Path(args.venv) / "bin" / "memtype"), "report", str(out)]
    if not args.with_files:
        argv += ["--files", "0"]
    errfile = os.open(tmp / "stderr", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    runs = []
    try:
        for _ in range(args.runs):
            run = launch.run(argv, errfile)
            if run.code != 0:
                raise bench_ps.Fatal(f"memtype report exited {run.code}: {bench_ps.read_err(errfile)}")
            runs.append(run)
    finally:
        os.close(errfile)
    text = out.read_text()
    secs = [r.seconds for r in runs]
    rss = [r.maxrss_kib / 1024 for r in runs]
    import re

    found = re.search(r"(?:All|largest of) (\d+) processes", text)
    return {"procs": n, "in_report": int(found[1]) if found else None, "seconds": statistics.median(secs),
            "seconds_range": [min(secs), max(secs)], "cpu_s": statistics.median(r.cpu for r in runs),
            "maxrss_mib": statistics.median(rss), "bytes": len(text.encode()), "within_budget": len(text.encode())
            <= BUDGET, "file": str(out)}


def paint(path: str, runs: int) -> dict:  # type: ignore[type-arg]
    sys.path.insert(0, str(REPO / "tests"))
    from browser import DESKTOP, Browser, Unavailable

    try:
        browser = Browser.start()
    except Unavailable as exc:
        return {"skipped": str(exc)}
    fcp, load = [], []
    with browser as page:
        for _ in range(runs):
            page.send("Network.clearBrowserCache")
            seconds = page.open(Path(path).as_uri(), DESKTOP)
            time.sleep(0.2)
            entries = page.js("performance.getEntriesByType('paint').map(function(e){return [e.name, e.startTime]})")
            fcp.append(dict(entries).get("first-contentful-paint", float("nan")) / 1000)
            load.append(seconds)
    return {"first_contentful_paint_s": statistics.median(fcp), "fcp_range": [min(fcp), max(fcp)],
            "load_s": statistics.median(load), "load_range": [min(load), max(load)]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--with-files", action="store_true", help="include the page cache's files (walks open files)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--keep", metavar="DIR", help="copy the reports into DIR")
    ap.add_argument("--venv", default=str(REPO / ".venv"))
    launch.add_workload_args(ap)
    args = ap.parse_args(argv)

    launch.stop_on_signals()
    launch.become_subreaper()
    tmp = launch.bench_tmpdir("bench_report")
    results = []
    try:
        for n in args.procs:
            hs = bench_ps.HelperSet()
            try:
                bench_ps.start_helpers(n, args, bench_ps.make_files(tmp), hs)
                time.sleep(1.0)
                res = generate(n, args, tmp)
                res["proc_entries"] = bench_ps.count_proc()
            finally:
                bench_ps.teardown(hs)
            res.update(paint(res["file"], args.runs))
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                Path(args.keep, f"report-{n}.html").write_bytes(Path(res["file"]).read_bytes())
            results.append(res)
            fcp = res.get("first_contentful_paint_s")
            print(f"N={n} ({res['in_report']} processes in the report, {res['proc_entries']} in /proc): "
                  f"{res['seconds']:.2f} s "
                  f"({res['seconds_range'][0]:.2f}-{res['seconds_range'][1]:.2f}), CPU {res['cpu_s']:.2f} s, "
                  f"peak RSS {res['maxrss_mib']:.1f} MiB, {res['bytes'] / 1024:.0f} KiB "
                  f"({'within' if res['within_budget'] else 'OVER'} 1 MiB); "
                  + (f"first paint {fcp * 1000:.0f} ms, load {res['load_s'] * 1000:.0f} ms" if fcp is not None
                     else f"browser: {res.get('skipped')}"), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(r["within_budget"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
