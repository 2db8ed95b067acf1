#!/usr/bin/env python3
"""Speed / peak-RSS benchmark of `memtype ps --format json` against the smaps floor and peer tools.

Usage::

    python bench/bench_ps.py --procs 300 1000 --rounds 3 [--json results.json]

For each N in --procs the script starts N helper processes with realistic, mixed
memory (see ``_zygote_main``), waits until every one of them has reported ready,
then times each tool round by round (A B C D E, A B C D E, ...) with
``time.perf_counter`` and records its peak RSS from ``os.wait4`` (``ru_maxrss``).
The helpers are killed and reaped before the next N, and on Ctrl-C, SIGTERM or error.

Standard library only.  Linux only.  Run as root to see every process.
"""

from __future__ import annotations

import sys

# --------------------------------------------------------------------------------------------
# Helper ("zygote") side.  Kept above the heavier imports so helper start-up stays cheap.
# --------------------------------------------------------------------------------------------

PAGE = 4096
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, arg: int) -> bool:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, arg, 0, 0, 0) == 0


def _touch(m, size: int, val: int, step: int = PAGE) -> None:
    """Write one (non-zero) byte in every page, so every page becomes resident and dirty."""
    val = (val % 255) + 1
    for off in range(0, size, step):
        m[off] = val


def _die_with_parent(expected_ppid: int) -> None:
    import os
    import signal

    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != expected_ppid:  # parent already gone before prctl took effect
        os._exit(1)


def _python_helper_setup(idx: int, files: list[str]) -> list:
    """Give this (Python) process a realistic mix of mappings.  Returns objects to keep alive."""
    import mmap
    import os

    keep: list = []
    # private anonymous, written (256..768 KiB)
    size = (64 + (idx % 5) * 32) * PAGE
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    _touch(m, size, idx)
    keep.append(m)
    # MAP_SHARED anonymous (shmem), written (128 KiB)
    size = 32 * PAGE
    m = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    _touch(m, size, idx + 1)
    keep.append(m)
    # memfd, mapped shared and written (128 KiB); keep the fd open as real programs do
    fd = os.memfd_create(f"bench-memfd-{idx}")
    size = 32 * PAGE
    os.ftruncate(fd, size)
    m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    _touch(m, size, idx + 2)
    keep.extend([fd, m])
    # private file map of a small (64 KiB) file: read every page, dirty one (-> one COW page)
    path = files[idx % len(files)]
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    total = 0
    for off in range(0, len(m), PAGE):
        total += m[off]
    m[0] = (idx % 255) + 1
    keep.append(m)
    return keep


def _idle_forever() -> None:
    import os
    import signal

    while True:
        try:
            os.wait()  # reap a child of ours that died early, if any
        except ChildProcessError:
            signal.pause()


def _zygote_main(argv: list[str]) -> None:
    """One batch of helpers.  argv: ready_fd bench_pid first_idx n_sleep n_single n_pair sleep_path files..."""
    import mmap
    import os

    ready_fd, bench_pid, first_idx, n_sleep, n_single, n_pair = (int(a) for a in argv[:6])
    sleep_path = argv[6]
    files = argv[7:]
    _die_with_parent(bench_pid)
    os.set_inheritable(ready_fd, False)  # exec'd `sleep`s must not hold the ready pipe
    me = os.getpid()

    # fork-shared region: written before the forks, then only read by the children -> COW-shared
    zsize = 256 * PAGE
    zshared = mmap.mmap(-1, zsize, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    _touch(zshared, zsize, first_idx)
    keep = _python_helper_setup(first_idx, files)  # noqa: F841  (held: the mappings must stay)

    def ready(tag: bytes) -> None:
        os.write(ready_fd, tag)

    # 1) small C processes: fork + exec `sleep`, confirm the exec through a CLOEXEC pipe
    for _ in range(n_sleep):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                _die_with_parent(me)
                os.execv(sleep_path, [sleep_path, "86400"])
            except BaseException as e:  # noqa: BLE001 - report and vanish
                try:
                    os.write(w, repr(e).encode()[:200])
                finally:
                    os._exit(127)
        os.close(w)
        err = os.read(r, 256)
        os.close(r)
        if err:
            ready(b"E")
            sys.stderr.write(f"bench helper: exec {sleep_path} failed: {err.decode(errors='replace')}\n")
        else:
            ready(b"s")

    # 2) Python processes; some of them fork once (-> pair sharing a COW region)
    idx = first_idx + 1
    for kind, count in (("single", n_single), ("pair", n_pair)):
        for _ in range(count):
            idx += 1
            pid = os.fork()
            if pid:
                continue
            try:
                _die_with_parent(me)
                child_keep = _python_helper_setup(idx, files)
                total = sum(zshared[off] for off in range(0, zsize, 16 * PAGE))  # read (share) the zygote region
                if kind == "pair":
                    psize = 64 * PAGE
                    pre = mmap.mmap(-1, psize, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
                    _touch(pre, psize, idx + 3)
                    parent = os.getpid()
                    if os.fork() == 0:
                        _die_with_parent(parent)
                        _touch(pre, psize // 2, idx + 4)  # break COW on half of it
                        ready(b"g")
                        _idle_forever()
                    child_keep.append(pre)
                ready(b"p")
                del total
                _idle_forever()
            except BaseException as e:  # noqa: BLE001
                try:
                    sys.stderr.write(f"bench helper {os.getpid()}: {e!r}\n")
                    ready(b"E")
                finally:
                    os._exit(1)
    ready(b"z")
    _idle_forever()  # `keep` and `zshared` stay referenced by this frame


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--_zygote":
    try:
        _zygote_main(sys.argv[2:])
    except BaseException as exc:  # noqa: BLE001
        import os

        sys.stderr.write(f"bench zygote {os.getpid()}: {exc!r}\n")
        try:
            os.write(int(sys.argv[2]), b"E")
        finally:
            os._exit(1)
    raise SystemExit(0)


# --------------------------------------------------------------------------------------------
# Benchmark driver
# --------------------------------------------------------------------------------------------

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import select  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import launch  # noqa: E402  (bench/launch.py, beside this script)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET_LINE = "memtype target: <=1.5x cat, peak RSS <= 64 MiB at 1000 processes"
TARGET_RATIO = 1.5
TARGET_RSS_MIB = 64.0
TARGET_N = 1000


class ToolTimeout(Exception):
    pass


class Fatal(Exception):
    pass


@dataclass
class Tool:
    name: str
    argv: list[str]
    note: str = ""
    check_rc: bool = True

    @property
    def cmdline(self) -> str:
        return shlex.join(self.argv) + " > /dev/null"


@dataclass
class Sample:
    seconds: float
    maxrss_kib: int
    rc: int


@dataclass
class HelperSet:
    pgid: int = 0
    zygotes: list[int] = field(default_factory=list)
    started: int = 0


# ---------------------------------------------------------------- environment


def raise_limits(n_max: int) -> list[str]:
    notes = []
    for name, want in (("RLIMIT_NOFILE", 4096), ("RLIMIT_NPROC", n_max * 2 + 1024)):
        lim = getattr(resource, name)
        soft, hard = resource.getrlimit(lim)
        if soft != resource.RLIM_INFINITY and soft < want:
            new = hard if hard == resource.RLIM_INFINITY else max(soft, min(hard, want))
            if hard != resource.RLIM_INFINITY and hard < want and os.geteuid() == 0:
                hard = new = want
            try:
                resource.setrlimit(lim, (new, hard))
                notes.append(f"{name} {soft} -> {new}")
            except (ValueError, OSError) as e:
                notes.append(f"{name}: could not raise ({e})")
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        if pid_max < n_max + 2048:
            notes.append(f"warning: kernel.pid_max={pid_max} is low for {n_max} helpers")
    except OSError:
        pass
    return notes


def damon_note() -> str:
    states = []
    for kd in sorted(glob.glob("/sys/kernel/mm/damon/admin/kdamonds/[0-9]*")):
        try:
            state = Path(kd, "state").read_text().strip()
            actions = sorted(
                {Path(a).read_text().strip() for a in glob.glob(f"{kd}/contexts/*/schemes/*/action")}
            )
            ops = sorted({Path(a).read_text().strip() for a in glob.glob(f"{kd}/contexts/*/operations")})
            states.append(f"{Path(kd).name}:{state} ops={','.join(ops) or '-'} actions={','.join(actions) or '-'}")
        except OSError:
            continue
    if Path("/sys/module/damon_reclaim/parameters/enabled").exists():
        try:
            states.append("damon_reclaim enabled=" + Path("/sys/module/damon_reclaim/parameters/enabled").read_text().strip())
        except OSError:
            pass
    return "; ".join(states) if states else "none found"


def cpu_busy(interval: float = 1.0) -> float:
    """Fraction of all CPUs busy over `interval` seconds (anything else running skews timings)."""

    def snap() -> tuple[int, int]:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = f[3] + (f[4] if len(f) > 4 else 0)
        return sum(f[:8]), idle

    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return 0.0 if t1 == t0 else 1.0 - (i1 - i0) / (t1 - t0)


def count_proc() -> int:
    return sum(1 for e in os.listdir("/proc") if e.isdigit())


def pids_in_group(pgid: int) -> list[int]:
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            stat = Path("/proc", e, "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        # fields[0]=state [1]=ppid [2]=pgrp
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            out.append(int(e))
    return out


def machine_info() -> dict:
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "mem_total_mib": mem_total,
        "euid": os.geteuid(),
        "python": sys.version.split()[0],
        "damon": damon_note(),
    }


# ---------------------------------------------------------------- tools


def find_memtype(venv: Path, override: str | None) -> Tool | None:
    py = venv / "bin" / "python"
    candidates: list[tuple[list[str], str]] = []
    if override:
        candidates.append((shlex.split(override), "from --memtype"))
    else:
        if (venv / "bin" / "memtype").exists():
            candidates.append(([str(venv / "bin" / "memtype"), "ps", "--format", "json"], ""))
        if py.exists():
            candidates.append(([str(py), "-m", "memtype", "ps", "--format", "json"], "CLI script missing; via python -m"))
    src = Path(__file__).resolve().parent.parent / "src" / "memtype"
    if py.exists() and src.is_dir():
        # An installed package has its bytecode compiled; an editable checkout under
        # PYTHONDONTWRITEBYTECODE=1 would recompile every module on every run.
        subprocess.run([str(py), "-m", "compileall", "-q", str(src)], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=120)
    for argv, note in candidates:
        try:
            cp = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            print(f"  memtype probe {shlex.join(argv)!r}: {e}", file=sys.stderr)
            continue
        ok = cp.returncode == 0
        if ok:
            try:
                json.loads(cp.stdout)
            except ValueError:
                ok = False
        if ok:
            return Tool("memtype", argv, note)
        err = cp.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        print(f"  memtype probe {shlex.join(argv)!r} failed (rc={cp.returncode}): {err[0][:200]}", file=sys.stderr)
    if py.exists() and not override:
        argv = [str(py), "-c", "import memtype; memtype.scan()"]
        cp = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        if cp.returncode == 0:
            return Tool("memtype*", argv, "CLI not available: library scan() only, no JSON output")
    return None


def build_tools(args: argparse.Namespace) -> tuple[list[Tool], dict[str, str]]:
    tools: list[Tool] = []
    skipped: dict[str, str] = {}
    venv = Path(args.venv)

    mt = find_memtype(venv, args.memtype)
    if mt:
        tools.append(mt)
        if mt.name == "memtype" and not args.memtype:
            # memtype reads with one thread per CPU by default; also show the single-reader cost.
            tools.append(Tool("memtype-j1", mt.argv + ["--jobs", "1"], "one reader thread"))
            tools.append(Tool("memtype-py", ["env", "MEMTYPE_PURE_PYTHON=1"] + mt.argv,
                              "without the compiled smaps reader"))
            tools.append(Tool("memtype-exact", mt.argv + ["--exact"], "every page (issue 3: <= 2x memtype)"))
            tools.append(Tool("memtype-freed", mt.argv + ["--freed"],
                              "freed if killed (issue 12): also every fd and maps, and the tmpfs mounts"))
    else:
        skipped["memtype"] = f"neither {venv}/bin/memtype, python -m memtype nor memtype.scan() work"

    sh = shutil.which("sh") or "/bin/sh"
    tools.append(Tool("cat", [sh, "-c", "cat /proc/[0-9]*/smaps > /dev/null 2>/dev/null"],
                      "floor: raw smaps read", check_rc=False))

    smem = "/usr/bin/smem"
    if os.access(smem, os.X_OK):
        tools.append(Tool("smem", [smem, "-c", "pid pss"]))
    else:
        skipped["smem"] = f"{smem} not installed"

    ps_mem = venv / "bin" / "ps_mem"
    if os.access(ps_mem, os.X_OK):
        tools.append(Tool("ps_mem", [str(ps_mem)], "reads smaps_rollup, not smaps"))
    else:
        skipped["ps_mem"] = f"{ps_mem} not installed"

    smemstat = "/usr/bin/smemstat"
    if os.access(smemstat, os.X_OK):
        tools.append(Tool("smemstat", [smemstat, "-q", "-o", "/dev/null"], "one-shot, JSON report to /dev/null"))
    else:
        skipped["smemstat"] = f"{smemstat} not installed"

    if args.only:
        want = set(args.only) | {"cat"}
        for t in tools:
            if t.name.rstrip("*") not in want:
                skipped[t.name] = "not selected (--only)"
        tools = [t for t in tools if t.name.rstrip("*") in want]
    return tools, skipped


_running_pids: list[int] = []  # launcher sh and tool of the run in progress, for clean-up

# The tool is started through bench/launch.py (see its docstring): a tiny `sh` starts it held at a
# gate and exits; the tool, reparented to us (the child subreaper), is released and wait4()ed here, so
# its ru_maxrss carries only the few hundred KiB of the forked sh, not this script's ~18 MiB.  The same
# path is timed with /bin/true as "launch" overhead.
SH = launch.SH
LAUNCH_SCRIPT = launch.LAUNCH_SCRIPT


def _on_alarm(signum, frame):  # noqa: ANN001
    raise ToolTimeout()


def run_tool(tool: Tool, timeout: float, errfile: int) -> Sample:
    """Run the tool with stdout to /dev/null and stderr to errfile; wall clock + ru_maxrss."""
    os.ftruncate(errfile, 0)
    os.lseek(errfile, 0, os.SEEK_SET)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        pid, gate = launch.spawn(tool.argv, errfile)
        _running_pids[:] = [pid]
        t0 = time.perf_counter()
        os.close(gate)
        _, status, ru = os.wait4(pid, 0)
        t1 = time.perf_counter()
        _running_pids.clear()
    except ToolTimeout:
        kill_running_tool()
        raise Fatal(f"{tool.name} exceeded --tool-timeout {timeout}s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return Sample(t1 - t0, ru.ru_maxrss, os.waitstatus_to_exitcode(status))


def kill_running_tool() -> None:
    pids = list(_running_pids)
    _running_pids.clear()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def read_err(errfile: int) -> str:
    os.lseek(errfile, 0, os.SEEK_SET)
    return os.read(errfile, 4096).decode(errors="replace").strip()


# ---------------------------------------------------------------- helpers


def plan(n: int, sleep_frac: float, fork_frac: float, per_zygote: int) -> list[tuple[int, int, int]]:
    """Split n processes into zygote batches: [(n_sleep, n_single, n_pair)], each zygote counting 1."""
    n_sleep = round(n * sleep_frac)
    n_py = max(1, n - n_sleep)
    n_sleep = n - n_py
    z = min(n_py, max(1, math.ceil(n / per_zygote)))
    rest = n_py - z
    n_pair = int(rest * fork_frac) // 2
    n_single = rest - 2 * n_pair

    def split(total: int) -> list[int]:
        return [total // z + (1 if i < total % z else 0) for i in range(z)]

    batches = list(zip(split(n_sleep), split(n_single), split(n_pair)))
    assert sum(1 + s + a + 2 * p for s, a, p in batches) == n
    return batches


def make_files(d: Path, count: int = 16, size: int = 64 * 1024) -> list[str]:
    paths = []
    for i in range(count):
        p = d / f"mapped-{i:02d}.bin"
        p.write_bytes(bytes([(i * 7 + j) % 251 + 1 for j in range(256)]) * (size // 256))
        paths.append(str(p))
    return paths


def start_helpers(n: int, args: argparse.Namespace, files: list[str], hs: HelperSet) -> float:
    """Start n helpers (in parallel zygote batches); return seconds until all reported ready."""
    batches = plan(n, args.sleep_frac, args.fork_frac, args.per_zygote)
    sleep_path = shutil.which("sleep") or "/bin/sleep"
    r, w = os.pipe()
    os.set_inheritable(w, True)
    devnull_fa = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
    ]
    t0 = time.perf_counter()
    idx = 0
    try:
        for n_sleep, n_single, n_pair in batches:
            argv = [sys.executable, "-S", "-E", str(Path(__file__).resolve()), "--_zygote",
                    str(w), str(os.getpid()), str(idx), str(n_sleep), str(n_single), str(n_pair), sleep_path, *files]
            pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=devnull_fa,
                                 setpgroup=hs.pgid)  # 0 for the first: new group led by zygote 0
            if not hs.pgid:
                hs.pgid = pid
            hs.zygotes.append(pid)
            hs.started += 1 + n_sleep + n_single + 2 * n_pair
            idx += 2 + n_single + n_pair + 8
        os.close(w)
        w = -1
        got = 0
        deadline = time.monotonic() + args.start_timeout
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fatal(f"only {got}/{n} helpers ready after {args.start_timeout}s")
            rd, _, _ = select.select([r], [], [], min(left, 1.0))
            if rd:
                data = os.read(r, 65536)
                if not data:
                    raise Fatal(f"ready pipe closed after {got}/{n} helpers")
                if b"E" in data:
                    raise Fatal("a helper failed to start (see stderr)")
                got += len(data)
            else:
                for z in hs.zygotes:
                    if os.waitpid(z, os.WNOHANG)[0]:
                        raise Fatal(f"helper zygote {z} exited during start-up")
        return time.perf_counter() - t0
    finally:
        if w >= 0:
            os.close(w)
        os.close(r)


def teardown(hs: HelperSet) -> None:
    """SIGKILL the whole helper process group and reap everything (we are the child subreaper)."""
    if not hs.pgid:
        return
    for _ in range(20):
        try:
            os.killpg(hs.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # Reap the zygotes and, as child subreaper, every orphan reparented to us.  No tool is
        # running here (kill_running_tool() reaps it first), so all our children are helpers.
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
        if not pids_in_group(hs.pgid):
            break
        time.sleep(0.1)
    else:
        print(f"warning: processes of helper group {hs.pgid} survive teardown", file=sys.stderr)
    hs.pgid, hs.zygotes, hs.started = 0, [], 0


# ---------------------------------------------------------------- main


def fmt_table(res: dict) -> str:
    rows = [("tool", "median s", "min s", "x cat", "peak RSS MiB", "rc!=0")]
    for name, t in res["tools"].items():
        ratio = "-" if t["ratio_to_cat"] is None else f"{t['ratio_to_cat']:.2f}"
        rows.append((name, f"{t['median_s']:.3f}", f"{t['min_s']:.3f}", ratio,
                     f"{t['peak_rss_mib']:.1f}", str(t["failed_runs"]) if t["check_rc"] else "n/a"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        if k == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def bench_one(n: int, args: argparse.Namespace, tools: list[Tool], files: list[str], hs: HelperSet,
              errfile: int) -> dict:
    before = count_proc()
    print(f"\n== N={n}: starting helpers ({before} processes in /proc before) ...", flush=True)
    startup_s = start_helpers(n, args, files, hs)
    time.sleep(args.settle)
    alive = len(pids_in_group(hs.pgid))
    busy_before = cpu_busy()
    print(f"   {alive} helpers ready in {startup_s:.2f}s; CPU busy (idle check, 1 s) {busy_before:.0%}", flush=True)
    if busy_before > 0.15:
        print(f"   warning: machine not idle ({busy_before:.0%} CPU busy before timing); timings will be noisy",
              file=sys.stderr)
    if alive != n:
        print(f"   warning: {alive} helpers alive, expected {n}", file=sys.stderr)

    samples: dict[str, list[Sample]] = {t.name: [] for t in tools}
    errors: dict[str, str] = {}
    for _ in range(args.warmup):
        for t in tools:
            s = run_tool(t, args.tool_timeout, errfile)
            if t.check_rc and s.rc != 0:
                errors.setdefault(t.name, f"warm-up rc={s.rc}: {read_err(errfile)[-300:]}")
    procs_start = count_proc()
    for rnd in range(args.rounds):
        for t in tools:
            s = run_tool(t, args.tool_timeout, errfile)
            samples[t.name].append(s)
            if t.check_rc and s.rc != 0:
                errors.setdefault(t.name, f"round {rnd + 1} rc={s.rc}: {read_err(errfile)[-300:]}")
        print(f"   round {rnd + 1}/{args.rounds}: "
              + "  ".join(f"{t.name} {samples[t.name][-1].seconds:.3f}s" for t in tools), flush=True)
    procs_end = count_proc()
    alive_end = len(pids_in_group(hs.pgid))
    busy_after = cpu_busy()
    teardown(hs)

    cat_med = statistics.median(s.seconds for s in samples["cat"])
    out_tools = {}
    for t in tools:
        ss = samples[t.name]
        med = statistics.median(s.seconds for s in ss)
        out_tools[t.name] = {
            "command": t.cmdline,
            "note": t.note,
            "check_rc": t.check_rc,
            "seconds": [round(s.seconds, 6) for s in ss],
            "median_s": med,
            "min_s": min(s.seconds for s in ss),
            "ratio_to_cat": (med / cat_med) if cat_med > 0 else None,
            "maxrss_mib": [round(s.maxrss_kib / 1024, 2) for s in ss],
            "peak_rss_mib": max(s.maxrss_kib for s in ss) / 1024,
            "returncodes": [s.rc for s in ss],
            "failed_runs": sum(1 for s in ss if s.rc != 0),
        }
    return {
        "procs_requested": n,
        "helpers_alive_start": alive,
        "helpers_alive_end": alive_end,
        "procs_in_proc_start": procs_start,
        "procs_in_proc_end": procs_end,
        "startup_s": round(startup_s, 3),
        "cpu_busy_before": round(busy_before, 3),
        "cpu_busy_after": round(busy_after, 3),
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
        "rounds": args.rounds,
        "tools": out_tools,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, nargs="+", default=[300, 1000], help="helper process counts (default 300 1000)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per tool (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds before timing (default 1)")
    ap.add_argument("--json", metavar="FILE", help="also write results as JSON to FILE")
    ap.add_argument("--only", nargs="+", metavar="TOOL", help="only these tools (cat is always run)")
    ap.add_argument("--memtype", metavar="CMD", help="memtype command line to time instead of the auto-detected one")
    ap.add_argument("--venv", default=str(REPO / ".venv"), help="venv holding memtype and ps_mem (default: repo .venv)")
    ap.add_argument("--sleep-frac", type=float, default=0.4, help="fraction of helpers that are `sleep` (default 0.4)")
    ap.add_argument("--fork-frac", type=float, default=0.3,
                    help="fraction of Python helpers that are fork pairs (default 0.3)")
    ap.add_argument("--per-zygote", type=int, default=50, help="helpers per parallel start batch (default 50)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait after all helpers are ready")
    ap.add_argument("--start-timeout", type=float, default=300.0, help="seconds allowed for helper start-up")
    ap.add_argument("--tool-timeout", type=float, default=600.0, help="seconds allowed per tool run")
    args = ap.parse_args(argv)
    if args.rounds < 1 or any(n < 1 for n in args.procs):
        ap.error("--rounds and --procs must be >= 1")

    if sys.platform != "linux":
        print("bench_ps: Linux only", file=sys.stderr)
        return 2

    def on_term(signum, frame):  # noqa: ANN001
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.signal(signal.SIGALRM, _on_alarm)

    info = machine_info()
    print(f"bench_ps: kernel {info['kernel']}, {info['cpus']} CPUs, {info['mem_total_mib']} MiB RAM, "
          f"euid {info['euid']}, python {info['python']}")
    print(f"DAMON: {info['damon']}")
    if os.geteuid() != 0:
        print("warning: not root; tools see only this user's processes", file=sys.stderr)
    for note in raise_limits(max(args.procs)):
        print(f"limits: {note}")
    if not _prctl(PR_SET_CHILD_SUBREAPER, 1):
        print("bench_ps: cannot become child subreaper (prctl PR_SET_CHILD_SUBREAPER)", file=sys.stderr)
        return 2

    tools, skipped = build_tools(args)
    print("commands:")
    for t in tools:
        print(f"  {t.name:9s} {t.cmdline}" + (f"   [{t.note}]" if t.note else ""))
    for name, why in skipped.items():
        print(f"  {name:9s} SKIPPED: {why}")

    hs = HelperSet()
    launch_info: dict = {}
    tmpdir = Path(tempfile.mkdtemp(prefix="bench_ps-", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp")))
    errfd = os.open(tmpdir / "stderr", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    results = []
    rc = 0
    try:
        files = make_files(tmpdir)
        true = Tool("launch", [shutil.which("true") or "/bin/true"])
        ls = [run_tool(true, 30, errfd) for _ in range(7)]
        launch_info = {"command": f"{SH} -c {shlex.quote(LAUNCH_SCRIPT)} sh {true.argv[0]}",
                  "median_s": statistics.median(x.seconds for x in ls),
                  "peak_rss_mib": max(x.maxrss_kib for x in ls) / 1024}
        print(f"launch overhead (gate release + wait4, timing /bin/true): {launch_info['median_s'] * 1000:.1f} ms, "
              f"ru_maxrss floor {launch_info['peak_rss_mib']:.1f} MiB")
        for n in args.procs:
            res = bench_one(n, args, tools, files, hs, errfd)
            results.append(res)
            print(f"\nN={n}: {res['procs_in_proc_start']} processes in /proc (end {res['procs_in_proc_end']}), "
                  f"{res['helpers_alive_start']} helpers, {res['rounds']} rounds, helpers started in {res['startup_s']:.2f}s, "
                  f"CPU busy before/after {res['cpu_busy_before']:.0%}/{res['cpu_busy_after']:.0%}")
            print(fmt_table(res))
            for name, err in res["errors"].items():
                print(f"  ! {name}: {err}")
    except KeyboardInterrupt as e:
        print(f"\ninterrupted ({str(e) or 'Ctrl-C'}); tearing down helpers", file=sys.stderr)
        rc = 130
    except Fatal as e:
        print(f"\nbench_ps: error: {e}", file=sys.stderr)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # don't let a second Ctrl-C abort the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kill_running_tool()
        teardown(hs)
        os.close(errfd)
        shutil.rmtree(tmpdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    print()
    print(TARGET_LINE)
    for res in results:
        mt = next((v for k, v in res["tools"].items() if k.startswith("memtype")), None)
        if mt is None:
            continue
        ok = (mt["ratio_to_cat"] is not None and mt["ratio_to_cat"] <= TARGET_RATIO
              and mt["peak_rss_mib"] <= TARGET_RSS_MIB)
        verdict = ("MET" if ok else "MISSED") if res["procs_requested"] == TARGET_N else "(target is for 1000)"
        ratio = "?" if mt["ratio_to_cat"] is None else f"{mt['ratio_to_cat']:.2f}"
        print(f"  N={res['procs_requested']}: memtype {ratio}x cat, "
              f"peak RSS {mt['peak_rss_mib']:.1f} MiB  {verdict}")
        ex = res["tools"].get("memtype-exact")
        if ex and mt["median_s"]:
            print(f"  N={res['procs_requested']}: memtype --exact {ex['median_s'] / mt['median_s']:.2f}x memtype "
                  f"(target <= 2x), peak RSS {ex['peak_rss_mib']:.1f} MiB")

    if args.json:
        doc = {
            "benchmark": "memtype ps --format json vs smaps floor and peers",
            "target": TARGET_LINE,
            "machine": info,
            "argv": sys.argv,
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "commands": {t.name: t.cmdline for t in tools},
            "launch_overhead": launch_info,
            "skipped": skipped,
            "results": results,
            "complete": rc == 0,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
