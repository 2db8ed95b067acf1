#!/usr/bin/env python3
"""CPU time and peak RSS of continuous memory front ends: memtype's Sampler beside htop with PSS.

Usage::

    sudo .venv/bin/python bench/bench_top.py [--procs 300 1000] [--intervals 1 2] [--duration 60] [--json FILE]

For each N in --procs it starts bench_ps.py's N helper processes plus a small churning workload
(bench/churn.py: busy processes whose memory moves every 0.5 s, and short-lived forks), then, for each
interval, runs each contender for --duration seconds, one after the other, on the same workload:

* ``memtype-sampler``: ``memtype.Sampler(interval=I)`` iterated in its own process (started through
  bench/launch.py, so its ``wait4`` rusage and ru_maxrss are its own). Halfway through, a probe process
  allocates and writes 100 MiB; the sampler reports after how many ticks its model shows it.
* ``htop-pss``: htop with its PSS column (``fields=... M_PSS ...`` in an htoprc in a temporary HOME),
  ``-d`` set to the interval, in a detached tmux session (it needs a terminal). Its CPU is utime+stime
  from /proc/PID/stat just before it is stopped, its peak RSS VmHWM.
* ``memtype-top``: ``memtype top --interval I`` in tmux the same way: the sampler plus Textual's drawing.
  The first frame is timed by polling the pane (first paint, and first frame with the table's data).

Each figure covers the whole run, start-up included (CPU seconds / duration = average share of one
core); "steady" is the second half alone. Standard library only (and memtype for the sampler). Linux
only. Run as root. Not for CI: the default run takes about 13 minutes (about 8 with
``--only memtype-sampler htop-pss``).
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--_sampler":
    import sampler_runner  # bench/sampler_runner.py, beside this script

    raise SystemExit(sampler_runner.main(sys.argv[2:]))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_ps  # noqa: E402  (the helper processes)
import launch  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_N, TARGET_INTERVAL = 1000, 2.0
TARGET_CPU_PCT, TARGET_RSS_MIB, TARGET_PROBE_TICKS = 5.0, 100.0, 2
TARGET_LINE = ("sampler target at 1000 processes, 2 s: CPU <= 5% of one core and below htop-with-PSS, "
               "peak RSS <= 100 MiB, a 100 MiB allocation shown within 2 ticks")
PROBE_MIB = 100
TARGET_TOP_CPU_PCT, TARGET_FIRST_FRAME_S = 10.0, 1.0
TARGET_TOP_LINE = ("memtype top target at 1000 processes, 2 s: CPU including drawing <= 10% of one core, "
                   "first frame <= 1 s, peak RSS <= 100 MiB")


@dataclass
class Result:
    tool: str
    procs: int
    interval: float
    duration: float
    cpu_s: float                 # utime + stime over the whole run
    steady_pct: float | None     # CPU share of one core over the second half
    peak_rss_mib: float
    note: str = ""
    extra: dict = field(default_factory=dict)
    failed: str | None = None    # why the tool did not run the whole time (its exit and last line)

    @property
    def avg_pct(self) -> float:
        return 100.0 * self.cpu_s / self.duration


@dataclass
class Context:
    args: argparse.Namespace
    tmp: Path
    hs: bench_ps.HelperSet
    errfd: int


# ------------------------------------------------------------------ measuring a running process


def proc_cpu(pid: int) -> float:
    """utime + stime of ``pid`` (seconds), from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_in_tmux(ctx: Context, name: str, command: str, env: dict[str, str], interval: float,
                probe: Callable[[int], dict] | None = None) -> Result:
    """Run ``command`` (a shell line; ``exec`` it so the pane's process is the tool) in a detached tmux
    session of 200x50 for --duration seconds; CPU and VmHWM from /proc. The ``memtype top`` row can use
    this too (``probe`` is called with the tool's PID halfway, e.g. to time the first frame by polling
    ``tmux capture-pane``)."""
    duration = ctx.args.duration
    server = f"memtype-bench-{os.getpid()}"
    conf = ctx.tmp / "tmux.conf"  # the pane stays after its process exits: a tool that died is seen, not timed
    conf.write_text("set -g remain-on-exit on\n")
    tmux = ["tmux", "-L", server, "-f", str(conf)]
    subprocess.run(tmux + ["new-session", "-d", "-x", "200", "-y", "50", command], env=env, check=True,
                   stdin=subprocess.DEVNULL)
    failed = None
    try:
        t0 = time.monotonic()
        pid = int(subprocess.run(tmux + ["list-panes", "-F", "#{pane_pid}"], capture_output=True, text=True,
                                 check=True).stdout.split()[0])
        extra = probe(pid) if probe is not None else {}
        cpu = hwm = half = 0.0
        comm = "?"
        try:  # the tool may have exited (the pane then says so, below)
            time.sleep(max(0.0, t0 + duration / 2 - time.monotonic()))
            half = proc_cpu(pid)
            time.sleep(max(0.0, t0 + duration - time.monotonic()))
            cpu, hwm = proc_cpu(pid), proc_hwm_kib(pid)
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            pass
        dead = subprocess.run(tmux + ["list-panes", "-F", "#{pane_dead} #{pane_dead_status}"], capture_output=True,
                              text=True).stdout.split()
        if dead and dead[0] == "1":
            screen = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True, text=True).stdout
            last = next((line.strip() for line in reversed(screen.splitlines())
                         if line.strip() and not line.startswith("Pane is dead")), "")  # tmux's own line
            failed = f"exited with status {dead[1] if len(dead) > 1 else '?'}: {last[:200]}"
            print(f"   {name}: FAILED, {failed}", flush=True)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
        _reap_strays()
    return Result(name, ctx.hs.started, interval, duration, cpu, 100.0 * (cpu - half) / (duration / 2), hwm / 1024,
                  f"pane process: {comm}", extra, failed)


def _reap_strays() -> None:
    """The tmux server daemonizes and, we being the subreaper, becomes our child: reap it."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)
            if not _tmux_alive():
                return


def _tmux_alive() -> bool:
    server = f"memtype-bench-{os.getpid()}"
    return subprocess.run(["tmux", "-L", server, "has-session"], capture_output=True).returncode == 0


# ------------------------------------------------------------------ contenders


def run_sampler(ctx: Context, interval: float) -> Result:
    """memtype.Sampler in its own process for --duration s; a 100 MiB probe halfway."""
    args = ctx.args
    out = ctx.tmp / "sampler.json"
    fifo = ctx.tmp / "probe.fifo"
    for p in (out, fifo):
        p.unlink(missing_ok=True)
    os.mkfifo(fifo, 0o600)
    probe = os.posix_spawn(sys.executable, [sys.executable, "-S", "-c", PROBE_SCRIPT, str(fifo), str(PROBE_MIB)],
                           os.environ, setpgroup=ctx.hs.pgid)
    argv = [str(Path(args.venv) / "bin" / "python"), str(HERE / "bench_top.py"), "--_sampler", "--interval",
            str(interval), "--duration", str(args.duration), "--budget", str(args.budget), "--out", str(out),
            "--probe-pid", str(probe), "--probe-fifo", str(fifo), "--probe-mib", str(PROBE_MIB)]
    try:
        pid, gate = launch.spawn(argv, ctx.errfd)
        os.close(gate)
        t0 = time.monotonic()
        time.sleep(args.duration / 2)
        half = proc_cpu(pid)
        _, status, ru = os.wait4(pid, 0)
        wall = time.monotonic() - t0
    finally:
        _kill(probe)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise bench_ps.Fatal(f"sampler runner exited {code}: {bench_ps.read_err(ctx.errfd)[-500:]}")
    extra = json.loads(out.read_text())
    cpu = ru.ru_utime + ru.ru_stime
    return Result("memtype-sampler", ctx.hs.started, interval, wall, cpu, 100.0 * (cpu - half) / (wall - wall / 2),
                  ru.ru_maxrss / 1024, f"budget {args.budget} s/tick", extra)


def run_htop(ctx: Context, interval: float) -> Result:
    """htop with its PSS column, -d at the interval, in tmux (a pty)."""
    home = ctx.tmp / "htop-home"
    (home / ".config" / "htop").mkdir(parents=True, exist_ok=True)
    (home / ".config" / "htop" / "htoprc").write_text(HTOPRC)
    env = dict(os.environ, HOME=str(home), TERM="xterm-256color")
    htop = shutil.which("htop") or "htop"
    return run_in_tmux(ctx, "htop-pss", f"exec {htop} -d {max(1, round(interval * 10))}", env, interval)


def run_top(ctx: Context, interval: float) -> Result:
    """``memtype top`` itself in tmux (a pty, 200x50): the sampler plus drawing; the first frame timed."""
    env = dict(os.environ, TERM="xterm-256color")
    top = Path(ctx.args.venv) / "bin" / "memtype"
    return run_in_tmux(ctx, "memtype-top", f"exec {top} top --interval {interval:g}", env, interval,
                       probe=first_frame)


def first_frame(pid: int) -> dict:
    """Seconds from the start until ``memtype top`` painted (its header) and until its first frame with
    data (the table's title line), by polling ``tmux capture-pane`` every 20 ms (tmux's CPU, not top's)."""
    server = f"memtype-bench-{os.getpid()}"
    t0 = time.monotonic()
    paint = data = None
    while data is None and time.monotonic() - t0 < 30:
        screen = subprocess.run(["tmux", "-L", server, "capture-pane", "-p"], capture_output=True, text=True).stdout
        now = time.monotonic() - t0
        if paint is None and "memtype top" in screen:
            paint = now
        if " processes · sort " in screen:
            data = now
        time.sleep(0.02)
    return {"first_paint_s": paint, "first_frame_s": data}


CONTENDERS: list[tuple[str, Callable[[Context, float], Result]]] = [
    ("memtype-sampler", run_sampler),
    ("htop-pss", run_htop),
    ("memtype-top", run_top),
]

HTOPRC = """fields=PID USER M_RESIDENT M_PSS M_SWAP PERCENT_CPU TIME Command
hide_kernel_threads=1
hide_userland_threads=1
tree_view=0
"""

PROBE_SCRIPT = r"""
import ctypes, mmap, os, signal, sys, time
ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
with open(sys.argv[1], "rb") as f:
    f.read(1)
size = int(sys.argv[2]) << 20
m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
m[:] = b"\x01" * size
signal.pause()
"""


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


# ------------------------------------------------------------------ workload and report


def start_churn(ctx: Context) -> None:
    args = ctx.args
    if args.busy <= 0 and args.spawn <= 0:
        return
    r, w = os.pipe()
    os.set_inheritable(w, True)
    os.posix_spawn(sys.executable, [sys.executable, str(HERE / "churn.py"), "--busy", str(args.busy), "--spawn",
                                    str(args.spawn), "--ready-fd", str(w), "--parent", str(os.getpid())],
                   os.environ, setpgroup=ctx.hs.pgid)
    os.close(w)
    if os.read(r, 1) != b"c":
        raise bench_ps.Fatal("the churn workload did not start")
    os.close(r)


def fmt(results: list[Result]) -> str:
    htop = {(r.procs, r.interval): r for r in results if r.tool == "htop-pss"}
    rows = [("N", "interval", "tool", "CPU s", "avg % core", "steady %", "peak RSS MiB", "CPU vs htop")]
    for r in results:
        ref = htop.get((r.procs, r.interval))
        ratio = f"{r.cpu_s / ref.cpu_s:.2f}x" if ref is not None and ref.cpu_s > 0 else "-"
        rows.append((str(r.procs), f"{r.interval:g} s", r.tool, f"{r.cpu_s:.2f}", f"{r.avg_pct:.2f}",
                     "-" if r.steady_pct is None else f"{r.steady_pct:.2f}", f"{r.peak_rss_mib:.1f}", ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  " + "  ".join(c.rjust(widths[i]) if i != 2 else c.ljust(widths[i]) for i, c in enumerate(row))
             for row in rows]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    for r in results:
        if r.tool == "memtype-sampler":
            e = r.extra
            lines.append(f"  sampler N={r.procs} {r.interval:g} s: {e['ticks']} ticks; per tick CPU mean "
                         f"{e['tick_cpu_mean'] * 1000:.1f} ms (counters {e['counters_cpu_mean'] * 1000:.1f}, smaps "
                         f"{e['smaps_cpu_mean'] * 1000:.1f}, derive {e['derive_cpu_mean'] * 1000:.1f}), smaps max "
                         f"{e['smaps_cpu_max'] * 1000:.1f} ms; reads {e['reads']}; left max {e['left_max']}; swap room "
                         f"came or went {e.get('swap_room_flips', 0)} times (derive max {e.get('derive_cpu_max', 0) * 1000:.0f} ms); "
                         f"probe {PROBE_MIB} MiB shown after {e['probe_ticks']} tick(s)")
        if r.tool == "memtype-top":
            e = r.extra
            paint, frame = e.get("first_paint_s"), e.get("first_frame_s")
            lines.append(f"  top N={r.procs} {r.interval:g} s: first paint "
                         f"{'-' if paint is None else f'{paint:.2f} s'}, first frame with data "
                         f"{'-' if frame is None else f'{frame:.2f} s'}")
    return "\n".join(lines)


def verdict(results: list[Result]) -> str:
    s = next((r for r in results if r.tool == "memtype-sampler" and r.procs >= TARGET_N * 0.9
              and r.interval == TARGET_INTERVAL), None)
    t = next((r for r in results if r.tool == "memtype-top" and r.procs >= TARGET_N * 0.9
              and r.interval == TARGET_INTERVAL), None)
    if s is None and t is None:
        return "target: not measured (needs --procs 1000 and --intervals 2)"
    checks = []
    for r, cpu_target, prefix in ((s, TARGET_CPU_PCT, ""), (t, TARGET_TOP_CPU_PCT, "top ")):
        if r is None:
            continue
        h = next((x for x in results if x.tool == "htop-pss" and x.procs == r.procs and x.interval == r.interval),
                 None)
        if r.failed is not None:
            checks.append((f"{prefix}run", False, f"{r.tool} {r.failed}"))
            continue
        checks += [(f"{prefix}CPU", r.avg_pct <= cpu_target, f"{r.avg_pct:.2f}% <= {cpu_target}%")]
        if h is not None:  # not judged when htop did not run (--only, or not installed)
            checks.append((f"{prefix}below htop", r.cpu_s < h.cpu_s, f"{r.cpu_s:.2f} s < {h.cpu_s:.2f} s"))
        checks += [(f"{prefix}peak RSS", r.peak_rss_mib <= TARGET_RSS_MIB, f"{r.peak_rss_mib:.1f} <= {TARGET_RSS_MIB} MiB")]
    if s is not None:
        checks.append(("probe", s.extra.get("probe_ticks") is not None and s.extra["probe_ticks"] <= TARGET_PROBE_TICKS,
                       f"{s.extra.get('probe_ticks')} <= {TARGET_PROBE_TICKS} ticks"))
    if t is not None and t.failed is None:
        frame = t.extra.get("first_frame_s")
        checks.append(("top first frame", frame is not None and frame <= TARGET_FIRST_FRAME_S,
                       f"{'-' if frame is None else f'{frame:.2f}'} <= {TARGET_FIRST_FRAME_S} s"))
    return "\n".join(f"  {'MET   ' if ok else 'MISSED'} {name}: {why}" for name, ok, why in checks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--intervals", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds each contender runs (default 60)")
    ap.add_argument("--budget", type=float, default=0.15, help="the sampler's smaps CPU budget per tick")
    ap.add_argument("--only", nargs="+", metavar="TOOL", help="only these contenders")
    ap.add_argument("--busy", type=int, default=10, help="churn: busy processes (default 10)")
    ap.add_argument("--spawn", type=float, default=2.0, help="churn: short-lived forks per second (default 2)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--venv", default=str(REPO / ".venv"))
    launch.add_workload_args(ap)
    args = ap.parse_args(argv)
    contenders = [(n, f) for n, f in CONTENDERS if not args.only or n in args.only]
    if shutil.which("htop") is None or shutil.which("tmux") is None:
        print("bench_top: htop or tmux not installed (Debian: apt-get install htop tmux); htop-pss skipped",
              file=sys.stderr)
        contenders = [(n, f) for n, f in contenders if n != "htop-pss"]

    launch.stop_on_signals()
    info = bench_ps.machine_info()
    print(f"bench_top: kernel {info['kernel']}, {info['cpus']} CPUs, {info['mem_total_mib']} MiB RAM, "
          f"euid {info['euid']}; {args.duration:g} s per run; contenders: {', '.join(n for n, _ in contenders)}")
    for note in bench_ps.raise_limits(max(args.procs)):
        print(f"limits: {note}")
    launch.become_subreaper()
    tmp = Path(tempfile.mkdtemp(prefix="bench_top-", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp")))
    errfd = os.open(tmp / "stderr", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    hs = bench_ps.HelperSet()
    ctx = Context(args, tmp, hs, errfd)
    results: list[Result] = []
    machine: list[dict] = []
    rc = 0
    try:
        files = bench_ps.make_files(tmp)
        for n in args.procs:
            started = bench_ps.start_helpers(n, args, files, hs)
            start_churn(ctx)
            time.sleep(1.0)
            busy = bench_ps.cpu_busy()
            print(f"\n== N={n}: helpers ready in {started:.1f} s, {bench_ps.count_proc()} processes in /proc, "
                  f"CPU busy before {busy:.0%}", flush=True)
            machine.append({"procs": n, "in_proc": bench_ps.count_proc(), "busy_before": busy})
            for interval in args.intervals:
                for name, fn in contenders:
                    r = fn(ctx, interval)
                    results.append(r)
                    print(f"   {name} @ {interval:g} s: CPU {r.cpu_s:.2f} s ({r.avg_pct:.2f}% of one core, steady "
                          f"{r.steady_pct:.2f}%), peak RSS {r.peak_rss_mib:.1f} MiB", flush=True)
            machine[-1]["busy_after"] = bench_ps.cpu_busy()
            bench_ps.teardown(hs)
        print("\n" + fmt(results))
        print(TARGET_LINE)
        print(TARGET_TOP_LINE)
        print(verdict(results))
    except KeyboardInterrupt as e:
        print(f"\ninterrupted ({str(e) or 'Ctrl-C'})", file=sys.stderr)
        rc = 130
    except bench_ps.Fatal as e:
        print(f"\nbench_top: error: {e}", file=sys.stderr)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench_ps.teardown(hs)
        os.close(errfd)
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.json:
        Path(args.json).write_text(json.dumps({"benchmark": "continuous front ends: CPU and peak RSS",
                                               "target": TARGET_LINE, "machine": info, "argv": sys.argv,
                                               "workload": machine, "results": [asdict(r) for r in results],
                                               "complete": rc == 0}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
