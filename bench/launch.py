"""Run one benchmarked command and measure it: wall time, CPU time and the command's own peak RSS.

Shared by bench_ps.py, bench_system.py, bench_files.py and bench_top.py. Why a launcher: posix_spawn
and fork start the child on a copy of this Python process, and the kernel folds that mm's high-water
RSS into the child's ru_maxrss, so every tool would report at least the benchmark's own RSS. The tool
is started from a tiny ``sh`` instead; we are the child subreaper, so once that sh exits the tool is
our child and we wait4() it directly: its ru_maxrss carries only the few hundred KiB of the sh.

The tool waits at a gate until the sh has exited. A first version ran ``"$@" & echo $!``: a tool that
finished before the sh did was reaped by the sh (dash reaps its finished background jobs), and our
wait4() failed with ``ChildProcessError: No child processes`` (1080 of 1500 runs of /bin/true on a
loaded 2-CPU machine). Now the background subshell blocks reading the gate pipe (fd 3) before it
execs the tool, so the tool cannot exit before the sh has, and it is reparented to us first; timing
starts when we open the gate, so the sh's own start-up is no longer in the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
# The subshell's stdout is /dev/null from the start: were it our pid pipe, we would wait for its EOF
# while it waits at the gate.
LAUNCH_SCRIPT = '( read _ <&3; exec "$@" 3<&- ) > /dev/null & echo $!'
SH = shutil.which("sh") or "/bin/sh"


@dataclass
class Sample:
    seconds: float
    maxrss_kib: int
    code: int
    cpu: float = 0.0  # ru_utime + ru_stime of the tool (and of the children it waited for)


def become_subreaper() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def spawn(argv: list[str], errfile: int) -> tuple[int, int]:
    """Start ``argv`` held at its gate, stderr to ``errfile``: ``(pid, gate)``. The process is already
    our child (the sh is reaped); ``os.close(gate)`` lets it exec the tool. We must be the subreaper."""
    r, w = os.pipe()
    gate_r, gate_w = os.pipe()
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, w, 1),
          (os.POSIX_SPAWN_DUP2, errfile, 2), (os.POSIX_SPAWN_DUP2, gate_r, 3)]
    try:
        sh = os.posix_spawn(SH, [SH, "-c", LAUNCH_SCRIPT, "sh", *argv], os.environ, file_actions=fa)
    except BaseException:
        os.close(gate_w)
        raise
    finally:
        os.close(w)
        os.close(gate_r)
    out = b""
    try:
        while chunk := os.read(r, 64):
            out += chunk
    finally:
        os.close(r)
    os.waitpid(sh, 0)  # after this the tool is our child (reparented to the subreaper), still at the gate
    try:
        return int(out.split()[0]), gate_w
    except (IndexError, ValueError):
        os.close(gate_w)
        raise OSError(f"launcher printed no PID for {argv[0]!r}") from None


def run(argv: list[str], errfile: int) -> Sample:
    """Run ``argv`` with stdout to /dev/null and stderr to ``errfile`` (truncated first)."""
    os.ftruncate(errfile, 0)
    os.lseek(errfile, 0, os.SEEK_SET)
    pid, gate = spawn(argv, errfile)
    t0 = time.perf_counter()
    os.close(gate)
    _, status, ru = os.wait4(pid, 0)
    return Sample(time.perf_counter() - t0, ru.ru_maxrss, os.waitstatus_to_exitcode(status),
                  ru.ru_utime + ru.ru_stime)


def add_workload_args(ap: argparse.ArgumentParser) -> None:
    """The options of bench_ps.py's helper workload (``bench_ps.HelperSet``), for every benchmark."""
    ap.add_argument("--sleep-frac", type=float, default=0.4, help="fraction of helpers that are `sleep` (default 0.4)")
    ap.add_argument("--fork-frac", type=float, default=0.3, help="fraction of helpers that fork once more (default 0.3)")
    ap.add_argument("--per-zygote", type=int, default=50, help="helpers per parallel start batch (default 50)")
    ap.add_argument("--start-timeout", type=float, default=300.0, help="seconds allowed for helper start-up")


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP end the benchmark as Ctrl-C does, so its cleanup (helpers, servers, temp dirs) runs."""
    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)


def bench_tmpdir(name: str) -> Path:
    """A fresh temp dir ``<name>-XXXX`` under $BENCH_TMPDIR (default /var/tmp), for a benchmark's files."""
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp")))


def measure_tools(argv_by_name: dict[str, list[str]], rounds: int, tmp: Path) -> dict[str, dict[str, float]]:
    """Run each command once (warm-up), then ``rounds`` times alternately: per name the median wall and CPU
    seconds and the largest peak RSS. A command that fails its warm-up raises ``bench_ps.Fatal``."""
    import bench_ps  # noqa: E402  (bench_ps imports this module)

    errfile = os.open(tmp / "stderr", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    samples: dict[str, list[Sample]] = {name: [] for name in argv_by_name}
    try:
        for name, argv in argv_by_name.items():  # warm-up (page cache, dentries)
            s = run(argv, errfile)
            if s.code != 0:
                raise bench_ps.Fatal(f"{name} exited {s.code}: {bench_ps.read_err(errfile)}")
        for _ in range(rounds):
            for name, argv in argv_by_name.items():
                samples[name].append(run(argv, errfile))
    finally:
        os.close(errfile)
    return {name: {"wall_s": statistics.median(x.seconds for x in ss), "cpu_s": statistics.median(x.cpu for x in ss),
                   "maxrss_mib": max(x.maxrss_kib for x in ss) / 1024} for name, ss in samples.items()}


def write_results(path: str, benchmark: str, results: list) -> None:
    """The ``--json`` file: ``{"benchmark", "argv", "results"}``, indented."""
    Path(path).write_text(json.dumps({"benchmark": benchmark, "argv": sys.argv, "results": results}, indent=2) + "\n")
