#!/usr/bin/env python3
"""Exporters side by side: memtype exporter, process-exporter with smaps, node_exporter (issue 10).

Usage::

    sudo .venv/bin/python bench/bench_exporter.py [--procs 300 1000] [--interval 15] [--duration 120] [--json FILE]

For each N in --procs it starts bench_ps.py's N helper processes plus bench/churn.py's churning
workload (as bench_top.py does), then starts all three exporters at once on free loopback ports and
scrapes each every --interval seconds for --duration seconds, the way Prometheus does (its Accept
header: OpenMetrics preferred, gzip), the three scrapes spread over the interval:

* ``memtype``: ``memtype exporter --listen 127.0.0.1:PORT --interval I`` (its background sampler
  ticks at the scrape interval; a scrape serves the last sample).
* ``process-exporter``: ``prometheus-process-exporter -gather-smaps=true`` grouping every process
  with a command line by ``{{.ExeBase}}`` (per program, as memtype does); its other flags are the
  defaults (-threads=true: per-thread-name series too).
* ``node_exporter``: ``prometheus-node-exporter`` with its default collectors (no per-process data:
  the cost floor of a host exporter).

Each exporter is started through bench/launch.py (our child, so ``wait4`` gives its own peak RSS).
Reported per exporter: scrapes and failures, scrape latency (request sent to the last byte read)
median / p95 / max, series (sample lines) and body size of the last scrape, CPU (utime+stime from
/proc/PID/stat) from its first answered scrape to the end, as seconds per minute and average % of one
core ("steady"), the CPU of its start-up (up to its first answer) apart, and peak RSS. Then
memtype / process-exporter ratios, and the issue's targets at the largest N. Standard library only.
Linux only. Run as root (the exporters read every process). Not for CI: the default run takes
about 6 minutes.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace

import bench_ps  # the helper processes (bench/bench_ps.py, beside this script)
import bench_top  # the churn workload, proc_cpu
import launch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# What Prometheus 2.x sends (scrape/scrape.go acceptHeader): OpenMetrics first, then the text format.
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
TARGET_N, TARGET_LATENCY_MS, TARGET_CPU_PCT = 1000, 50.0, 2.0
TARGET_LINE = ("memtype exporter target at 1000 processes, 15 s scrapes: scrape latency <= 50 ms, CPU <= 2% "
               "of one core, less CPU than process-exporter with smaps")
PE_CONFIG = """process_names:
  - name: "{{.ExeBase}}"
    cmdline:
      - '.+'
"""


@dataclass
class Exporter:
    name: str
    argv: list[str]
    port: int
    pid: int = 0
    errpath: str = ""
    launched: float = 0.0                   # monotonic time of the launch
    start_cpu: float = 0.0                  # CPU up to the first answered scrape
    cpu_at_ready: float | None = None
    ready_at: float | None = None           # monotonic time of the first answered scrape
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    series: int | None = None
    body_kib: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Result:
    tool: str
    procs: int
    in_proc: int
    interval: float
    scrapes: int
    failures: int
    latency_median_ms: float | None
    latency_p95_ms: float | None
    latency_max_ms: float | None
    series: int | None
    body_kib: float | None
    steady_s: float
    cpu_steady_s: float
    cpu_start_s: float
    peak_rss_mib: float
    failed: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def cpu_per_min(self) -> float:
        return 60.0 * self.cpu_steady_s / self.steady_s if self.steady_s else 0.0

    @property
    def avg_pct(self) -> float:
        return 100.0 * self.cpu_steady_s / self.steady_s if self.steady_s else 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int, timeout: float) -> tuple[float, bytes]:
    """One scrape as Prometheus does it: (milliseconds until the last byte, the decoded body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        t0 = time.perf_counter()
        conn.request("GET", "/metrics", headers={"Accept": ACCEPT, "Accept-Encoding": "gzip",
                                                  "X-Prometheus-Scrape-Timeout-Seconds": f"{timeout:g}"})
        resp = conn.getresponse()
        raw = resp.read()
        ms = (time.perf_counter() - t0) * 1000.0
        if resp.status != 200:
            raise OSError(f"HTTP {resp.status}: {raw[:200]!r}")
        if resp.getheader("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        return ms, raw
    finally:
        conn.close()


def count_series(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def memtype_argv(args: argparse.Namespace, port: int) -> list[str]:
    exe = Path(args.venv) / "bin" / "memtype"
    base = [str(exe)] if exe.exists() else [str(Path(args.venv) / "bin" / "python"), "-m", "memtype"]
    return [*base, "exporter", "--listen", f"127.0.0.1:{port}", "--interval", f"{args.interval:g}",
            *args.memtype_args]


def build(args: argparse.Namespace, tmp: Path) -> list[Exporter]:
    out = []
    if "memtype" in args.only:
        port = free_port()
        out.append(Exporter("memtype", memtype_argv(args, port), port))
    pe = shutil.which("prometheus-process-exporter") or shutil.which("process-exporter")
    if "process-exporter" in args.only:
        if pe is None:
            print("bench_exporter: prometheus-process-exporter is not installed (apt-get install "
                  "prometheus-process-exporter); skipped", file=sys.stderr)
        else:
            cfg = tmp / "process-exporter.yml"
            cfg.write_text(PE_CONFIG)
            port = free_port()
            out.append(Exporter("process-exporter", [pe, "-web.listen-address", f"127.0.0.1:{port}",
                                                     "-gather-smaps=true", "-config.path", str(cfg)], port))
    ne = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if "node_exporter" in args.only:
        if ne is None:
            print("bench_exporter: prometheus-node-exporter is not installed; skipped", file=sys.stderr)
        else:
            port = free_port()
            out.append(Exporter("node_exporter", [ne, f"--web.listen-address=127.0.0.1:{port}"], port))
    return out


def start(ex: Exporter, tmp: Path) -> None:
    ex.errpath = str(tmp / f"{ex.name}.stderr")
    fd = os.open(ex.errpath, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        ex.pid, gate = launch.spawn(ex.argv, fd)
    finally:
        os.close(fd)
    ex.launched = time.monotonic()
    os.close(gate)


def stderr_tail(ex: Exporter) -> str:
    try:
        return Path(ex.errpath).read_text(errors="replace").strip()[-400:]
    except OSError:
        return ""


def wait_ready(exporters: list[Exporter], timeout: float) -> None:
    """Until each answers a scrape (memtype's first sample reads every smaps: seconds at 1000)."""
    deadline = time.monotonic() + timeout
    pending = list(exporters)
    while pending:
        for ex in list(pending):
            if os.waitpid(ex.pid, os.WNOHANG)[0]:
                raise bench_ps.Fatal(f"{ex.name} exited during start-up: {stderr_tail(ex)}")
            try:
                _, body = scrape(ex.port, 5.0)
            except OSError:
                continue
            if ex.name == "memtype" and b"memtype_system_total_bytes" not in body:
                continue
            ex.cpu_at_ready = bench_top.proc_cpu(ex.pid)
            ex.start_cpu = ex.cpu_at_ready
            ex.ready_at = time.monotonic()
            pending.remove(ex)
        if pending and time.monotonic() > deadline:
            raise bench_ps.Fatal(f"not serving after {timeout:g} s: {', '.join(e.name for e in pending)}")
        time.sleep(0.2)


def run_scrapes(exporters: list[Exporter], interval: float, duration: float) -> float:
    """Scrape each every ``interval`` s, spread over the interval, for ``duration`` s; CPU is counted
    from here (each is warm: it has answered once). Returns the measured wall time."""
    t0 = time.monotonic()
    for ex in exporters:
        ex.cpu_at_ready = bench_top.proc_cpu(ex.pid)
    due = [(t0 + i * interval / len(exporters), ex) for i, ex in enumerate(exporters)]
    end = t0 + duration
    while True:
        due.sort(key=lambda d: d[0])
        when, ex = due[0]
        if when >= end:
            break
        time.sleep(max(0.0, when - time.monotonic()))
        try:
            ms, body = scrape(ex.port, interval)
            ex.latencies_ms.append(ms)
            ex.series, ex.body_kib = count_series(body), len(body) / 1024
            if ex.name == "memtype":
                ex.extra["last_body"] = body
        except OSError as exc:
            ex.failures.append(f"{type(exc).__name__}: {exc}")
        due[0] = (when + interval, ex)
    time.sleep(max(0.0, end - time.monotonic()))
    return time.monotonic() - t0


def sampler_figures(body: bytes) -> dict:
    """The memtype exporter's own account (memtype_sampler_*) from its last scrape."""
    out: dict = {}
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("memtype_sampler_cpu_seconds_total"):
            out["sampler_cpu_s"] = out.get("sampler_cpu_s", 0.0) + float(line.rsplit(" ", 1)[1])
        for key in ("memtype_sampler_ticks_total", "memtype_sampler_processes",
                    "memtype_sampler_last_tick_cpu_seconds", "memtype_sampler_last_tick_reads_left"):
            if line.startswith(key + " "):
                out[key.removeprefix("memtype_sampler_")] = float(line.rsplit(" ", 1)[1])
    return out


def stop(ex: Exporter) -> tuple[float, float]:
    """SIGTERM (SIGKILL after 10 s) and reap: (CPU seconds of its life, ru_maxrss MiB)."""
    try:
        os.kill(ex.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 10
    while True:
        pid, status, ru = os.wait4(ex.pid, os.WNOHANG)
        if pid:
            return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024
        if time.monotonic() > deadline:
            os.kill(ex.pid, signal.SIGKILL)
            _, status, ru = os.wait4(ex.pid, 0)
            return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024
        time.sleep(0.05)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def bench_one(n: int, args: argparse.Namespace, tmp: Path, files: list[str], hs: bench_ps.HelperSet) -> list[Result]:
    started = bench_ps.start_helpers(n, args, files, hs)
    bench_top.start_churn(SimpleNamespace(args=args, hs=hs))  # type: ignore[arg-type]
    time.sleep(1.0)
    busy = bench_ps.cpu_busy()
    in_proc = bench_ps.count_proc()
    print(f"\n== N={n}: helpers ready in {started:.1f} s, {in_proc} processes in /proc, CPU busy before "
          f"{busy:.0%}", flush=True)
    exporters = build(args, tmp)
    results: list[Result] = []
    try:
        for ex in exporters:
            start(ex, tmp)
        wait_ready(exporters, args.start_timeout)
        print("   serving after " + ", ".join(f"{ex.name} {(ex.ready_at or 0) - ex.launched:.1f} s" for ex in exporters)
              + f"; scraping for {args.duration:g} s", flush=True)
        wall = run_scrapes(exporters, args.interval, args.duration)
        ends = {ex.name: bench_top.proc_cpu(ex.pid) for ex in exporters}
    finally:
        reaped = {}
        for ex in exporters:
            if ex.pid:
                reaped[ex.name] = stop(ex)
    for ex in exporters:
        cpu_life, rss = reaped[ex.name]
        lat = ex.latencies_ms
        extra = sampler_figures(ex.extra.pop("last_body", b"")) if ex.name == "memtype" else {}
        r = Result(ex.name, n, in_proc, args.interval, len(lat), len(ex.failures),
                   statistics.median(lat) if lat else None, pct(lat, 0.95), max(lat) if lat else None,
                   ex.series, ex.body_kib, wall, ends[ex.name] - (ex.cpu_at_ready or 0.0), ex.start_cpu, rss,
                   failed="; ".join(ex.failures[:3]) or None, extra={**extra, "cpu_life_s": cpu_life})
        results.append(r)
        print(f"   {r.tool}: {r.scrapes} scrapes ({r.failures} failed), latency median {fmt_ms(r.latency_median_ms)} "
              f"p95 {fmt_ms(r.latency_p95_ms)} max {fmt_ms(r.latency_max_ms)} ms, {r.series} series, CPU "
              f"{r.cpu_per_min:.2f} s/min ({r.avg_pct:.2f}% of one core), start-up {r.cpu_start_s:.2f} s, peak RSS "
              f"{r.peak_rss_mib:.1f} MiB", flush=True)
    print(f"   CPU busy after {bench_ps.cpu_busy():.0%}")
    return results


def fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def table(results: list[Result]) -> str:
    rows = [("N", "exporter", "scrapes", "p50 ms", "p95 ms", "max ms", "series", "KiB", "CPU s/min",
             "% core", "start CPU s", "peak RSS MiB")]
    for r in results:
        rows.append((str(r.procs), r.tool, f"{r.scrapes - r.failures}/{r.scrapes}", fmt_ms(r.latency_median_ms),
                     fmt_ms(r.latency_p95_ms), fmt_ms(r.latency_max_ms), str(r.series or "-"),
                     "-" if r.body_kib is None else f"{r.body_kib:.0f}", f"{r.cpu_per_min:.2f}",
                     f"{r.avg_pct:.2f}", f"{r.cpu_start_s:.2f}", f"{r.peak_rss_mib:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  " + "  ".join(c.ljust(widths[i]) if i == 1 else c.rjust(widths[i]) for i, c in enumerate(row))
             for row in rows]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    for n in sorted({r.procs for r in results}):
        m = next((r for r in results if r.procs == n and r.tool == "memtype"), None)
        p = next((r for r in results if r.procs == n and r.tool == "process-exporter"), None)
        if m is None or p is None:
            continue
        parts = []
        for label, a, b in (("CPU", m.cpu_steady_s, p.cpu_steady_s), ("p50 latency", m.latency_median_ms, p.latency_median_ms),
                            ("series", m.series, p.series), ("peak RSS", m.peak_rss_mib, p.peak_rss_mib)):
            parts.append(f"{label} {a / b:.2f}x" if a is not None and b else f"{label} -")
        lines.append(f"  N={n} memtype / process-exporter: " + ", ".join(parts))
        e = m.extra
        if "sampler_cpu_s" in e:
            lines.append(f"  N={n} memtype's own account: {e.get('ticks_total', 0):.0f} ticks, sampler CPU "
                         f"{e['sampler_cpu_s']:.2f} s over its life ({e['cpu_life_s']:.2f} s for the whole process), "
                         f"last tick {1000 * e.get('last_tick_cpu_seconds', 0):.1f} ms CPU, "
                         f"{e.get('processes', 0):.0f} processes")
    return "\n".join(lines)


def verdict(results: list[Result]) -> str:
    big = max((r.procs for r in results), default=0)
    m = next((r for r in results if r.tool == "memtype" and r.procs == big), None)
    if m is None or big < TARGET_N * 0.9:
        return "target: not judged (needs --procs 1000 with memtype)"
    p = next((r for r in results if r.tool == "process-exporter" and r.procs == big), None)
    checks = [("scrapes", m.failures == 0 and m.scrapes > 0, f"{m.scrapes - m.failures}/{m.scrapes} answered"),
              ("scrape latency", m.latency_max_ms is not None and m.latency_max_ms <= TARGET_LATENCY_MS,
               f"max {fmt_ms(m.latency_max_ms)} ms (p95 {fmt_ms(m.latency_p95_ms)}) <= {TARGET_LATENCY_MS:g} ms"),
              ("CPU", m.avg_pct <= TARGET_CPU_PCT, f"{m.avg_pct:.2f}% <= {TARGET_CPU_PCT:g}% of one core")]
    if p is not None:
        checks.append(("below process-exporter", m.cpu_steady_s < p.cpu_steady_s,
                       f"{m.cpu_steady_s:.2f} s < {p.cpu_steady_s:.2f} s"))
    return "\n".join(f"  {'MET   ' if ok else 'MISSED'} {name}: {why}" for name, ok, why in checks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--interval", type=float, default=15.0, help="scrape (and memtype sampling) interval, s")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of scraping per N (default 120)")
    ap.add_argument("--only", nargs="+", default=["memtype", "process-exporter", "node_exporter"],
                    choices=["memtype", "process-exporter", "node_exporter"])
    ap.add_argument("--memtype-args", nargs=argparse.REMAINDER, default=[],
                    help="more arguments for memtype exporter (last on the line)")
    ap.add_argument("--busy", type=int, default=10, help="churn: busy processes (default 10)")
    ap.add_argument("--spawn", type=float, default=2.0, help="churn: short-lived forks per second (default 2)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--venv", default=str(REPO / ".venv"))
    launch.add_workload_args(ap)
    args = ap.parse_args(argv)

    launch.stop_on_signals()
    info = bench_ps.machine_info()
    print(f"bench_exporter: kernel {info['kernel']}, {info['cpus']} CPUs, {info['mem_total_mib']} MiB RAM, "
          f"euid {info['euid']}; scrape every {args.interval:g} s for {args.duration:g} s; exporters: "
          f"{', '.join(args.only)}")
    for note in bench_ps.raise_limits(max(args.procs)):
        print(f"limits: {note}")
    launch.become_subreaper()
    tmp = Path(tempfile.mkdtemp(prefix="bench_exporter-", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp")))
    hs = bench_ps.HelperSet()
    results: list[Result] = []
    rc = 0
    try:
        files = bench_ps.make_files(tmp)
        for n in args.procs:
            try:
                results += bench_one(n, args, tmp, files, hs)
            finally:
                bench_ps.teardown(hs)
        print("\n" + table(results))
        print(TARGET_LINE)
        print(verdict(results))
    except KeyboardInterrupt as e:
        print(f"\ninterrupted ({str(e) or 'Ctrl-C'})", file=sys.stderr)
        rc = 130
    except bench_ps.Fatal as e:
        print(f"\nbench_exporter: error: {e}", file=sys.stderr)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench_ps.teardown(hs)
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "exporters: scrape latency, CPU, series, peak RSS", "target": TARGET_LINE,
            "machine": info, "argv": sys.argv,
            "results": [{**asdict(r), "cpu_per_min": r.cpu_per_min, "avg_pct": r.avg_pct} for r in results],
            "complete": rc == 0}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
