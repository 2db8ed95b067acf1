"""Issue 10, ``memtype exporter`` on the live kernel, scraped over HTTP as Prometheus does.

A child interpreter runs under a program name of its own (a copy of the interpreter binary: the
program is the executable's name), writes 200 MiB of private anonymous memory and forks: until
either side writes, those pages are mapped by both, copy-on-write (kernel-spec A.6), so the program's
``kind="cow"`` PSS is the 200 MiB (each process holds half) and its RSS twice that. Then the kid is
killed: within a tick its series are gone from the next scrape (fresh families, no stale series).
The exporter, the child and its kid are stopped and reaped even when a test fails.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client", reason="the exporter extra (prometheus-client) is not installed")

from prometheus_client.parser import text_string_to_metric_families

import memhelpers
from memhelpers import PAGE, Child
from test_cgroups_live import v1lab  # noqa: F401  (a fixture: cgroups made and removed)

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

MiB = 1 << 20
COW = 200 * MiB
SLACK = 24 * MiB  # the interpreter's own heap is shared after the fork too (a few MiB)
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (reads every process's smaps)")


class Exporter:
    """``memtype exporter`` in a child process on a free loopback port; ``close`` always stops it."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "memtype", "exporter", "--listen", "127.0.0.1:0", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.url = ""
        self.err: list[str] = []
        deadline = time.monotonic() + 120
        assert self.proc.stderr is not None
        while not self.url:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.close()
                pytest.fail(f"the exporter did not start: {''.join(self.err)}")
            ready, _, _ = select.select([self.proc.stderr], [], [], left)
            if ready:
                line = self.proc.stderr.readline()
                self.err.append(line)
                m = re.search(r"serving (http://\S+)", line)
                if m:
                    self.url = m.group(1)

    def scrape(self) -> Series:
        with urllib.request.urlopen(self.url, timeout=10) as resp:
            text = resp.read().decode()
        out: Series = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def wait_for(self, check: object, timeout: float = 60.0) -> Series:
        """Scrape until ``check(series)`` is true; the last scrape."""
        assert callable(check)
        deadline = time.monotonic() + timeout
        while True:
            found = self.scrape()
            if check(found):
                return found
            if time.monotonic() > deadline:
                return found
            time.sleep(0.3)

    def close(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode


def pick(found: Series, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {k[1]: v for k, v in found.items() if k[0] == name and all((a, b) in k[1] for a, b in labels.items())}


def one(found: Series, name: str, **labels: str) -> float | None:
    got = pick(found, name, **labels)
    assert len(got) <= 1, got
    return next(iter(got.values()), None)


@pytest.fixture
def program(tmp_path: Path) -> Iterator[str]:
    """A copy of this interpreter under a unique name: the program of the processes it runs."""
    name = f"memtype-exp-{os.getpid()}"
    path = tmp_path / name
    shutil.copy2(os.path.realpath(sys.executable), path)
    yield str(path)


def test_issue10_live_cow_after_fork_in_its_programs_series_then_gone(program: str) -> None:
    needs_root()
    name = os.path.basename(program)
    child = Child(program)
    exporter = None
    try:
        pages = COW // PAGE
        addr = child.call("map_anon", pages)
        child.call("write", addr, pages)
        kid = child.fork()
        exporter = Exporter("--interval", "0.5", "--pid", str(kid.pid), "--groups", "0")

        def settled(found: Series) -> bool:
            cow = one(found, "memtype_group_program_kind_pss_bytes", program=name, kind="cow")
            return cow is not None and cow >= COW and one(found, "memtype_group_program_members", program=name) == 2

        found = exporter.wait_for(settled)
        cow_pss = one(found, "memtype_group_program_kind_pss_bytes", program=name, kind="cow")
        cow_rss = one(found, "memtype_group_program_kind_rss_bytes", program=name, kind="cow")
        assert cow_pss is not None and COW <= cow_pss <= COW + SLACK, cow_pss
        assert cow_rss is not None and 2 * COW <= cow_rss <= 2 * (COW + SLACK), cow_rss
        assert one(found, "memtype_group_program_members", program=name) == 2
        kid_cow = one(found, "memtype_process_kind_pss_bytes", pid=str(kid.pid), kind="cow")
        assert kid_cow is not None and COW / 2 <= kid_cow <= COW / 2 + SLACK, kid_cow
        # the machine's rows add up to MemTotal in the same scrape
        rows = pick(found, "memtype_system_row_bytes")
        assert sum(rows.values()) == one(found, "memtype_system_total_bytes")

        os.kill(kid.pid, signal.SIGKILL)  # its parent (the child) reaps it: serve() waits on SIGCHLD-free kids
        ticks = one(found, "memtype_sampler_ticks_total") or 0
        found = exporter.wait_for(lambda f: (one(f, "memtype_sampler_ticks_total") or 0) >= ticks + 2)
        assert not [k for k in found if ("pid", str(kid.pid)) in k[1]], "series of an exited process"
        assert one(found, "memtype_group_program_members", program=name) == 1
        child.close()
        ticks = one(found, "memtype_sampler_ticks_total") or 0
        found = exporter.wait_for(lambda f: (one(f, "memtype_sampler_ticks_total") or 0) >= ticks + 2)
        assert not [k for k in found if ("program", name) in k[1]], "series of a program that is gone"
        assert time.time() - (one(found, "memtype_sampler_last_tick_timestamp_seconds") or 0) < 5
        assert (one(found, "memtype_sampler_errors_total") or 0) == 0
    finally:
        child.close()
        if exporter is not None:
            assert exporter.close() == 0, "".join(exporter.err)


def test_issue10_live_once_prints_rows_that_add_up() -> None:
    needs_root()
    out = subprocess.run([sys.executable, "-m", "memtype", "exporter", "--once"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    found: Series = {}
    for fam in text_string_to_metric_families(out.stdout):
        for s in fam.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert sum(pick(found, "memtype_system_row_bytes").values()) == one(found, "memtype_system_total_bytes")
    assert one(found, "memtype_sampler_skipped_processes", reason="not_sampled") == 0


def test_issue10_live_through_a_real_prometheus(program: str, prometheus: Any) -> None:
    """The same checks through the Debian package's Prometheus scraping the exporter (tests/prom.py):
    the machine rows sum to MemTotal in PromQL, the fork's copy-on-write is in its program's series
    with the right bytes, and the series of an exited process go stale at the next scrape."""
    needs_root()
    name = os.path.basename(program)
    child = Child(program)
    exporter = None
    try:
        pages = COW // PAGE
        addr = child.call("map_anon", pages)
        child.call("write", addr, pages)
        kid = child.fork()
        exporter = Exporter("--interval", "0.5", "--pid", str(kid.pid), "--groups", "0")
        target = exporter.url.split("//", 1)[1].split("/", 1)[0]
        prom = prometheus([target], interval=1.0)
        prom.wait_scraped(2)
        cow = f'memtype_group_program_kind_pss_bytes{{program="{name}",kind="cow"}}'
        prom.wait_for(f"{cow} >= {COW}", timeout=60)
        got = prom.value(cow)
        assert got is not None and COW <= got <= COW + SLACK, got
        got = prom.value(f'sum(memtype_group_program_kind_rss_bytes{{program="{name}",kind="cow"}})')
        assert got is not None and 2 * COW <= got <= 2 * (COW + SLACK), got
        assert prom.value("sum(memtype_system_row_bytes) - sum(memtype_system_total_bytes)") == 0
        kid_cow = prom.value(f'memtype_process_kind_pss_bytes{{pid="{kid.pid}",kind="cow"}}')
        assert kid_cow is not None and COW / 2 <= kid_cow <= COW / 2 + SLACK, kid_cow
        assert prom.value('up{job="test"}') == 1
        os.kill(kid.pid, signal.SIGKILL)
        prom.wait_for(f'memtype_process_kind_pss_bytes{{pid="{kid.pid}"}}', predicate=lambda r: not r, timeout=30)
        assert prom.value(f'memtype_group_program_members{{program="{name}"}}') == 1
        assert prom.value("memtype_sampler_errors_total") == 0
    finally:
        child.close()
        if exporter is not None:
            assert exporter.close() == 0, "".join(exporter.err)


def test_issue10_live_a_cgroup_by_kind_with_its_limit(v1lab: Any) -> None:
    """A real memory cgroup (v1 on this hybrid VM; the lab skips where there is none) with a limit and a
    child holding 32 MiB anon, 16 MiB memfd and 16 MiB page cache: its series say so by kind."""
    import uuid

    from test_cgroups_live import ANON, FILE, SHMEM, TOL, _allocate

    workdir = memhelpers.disk_tmpdir()
    if workdir is None:
        pytest.skip("no disk filesystem for the page-cache file")
    name = f"memtype-test-{uuid.uuid4().hex[:8]}"
    v1lab.cgroup(name, limit_in_bytes=256 * MiB)
    child = v1lab.child(os.path.join(v1lab.base, name))
    _allocate(child, workdir)
    exporter = Exporter("--interval", "0.5", "--cgroups", "0")
    try:
        path = f"/{name}"

        def ready(found: Series) -> bool:
            anon = one(found, "memtype_cgroup_kind_bytes", path=path, kind="anonymous")
            return anon is not None and anon >= ANON - TOL

        found = exporter.wait_for(ready)
        assert one(found, "memtype_cgroup_limit_bytes", path=path) == 256 * MiB
        for kind, want in (("anonymous", ANON), ("shared", SHMEM), ("file", FILE)):
            got = one(found, "memtype_cgroup_kind_bytes", path=path, kind=kind)
            assert got is not None and abs(got - want) <= TOL, (kind, got, want)
        charged = one(found, "memtype_cgroup_charged_bytes", path=path)
        assert charged is not None and charged >= ANON + SHMEM + FILE - TOL
        assert one(found, "memtype_cgroup_oom_kills_total", path=path) == 0
        assert (one(found, "memtype_sampler_cgroups") or 0) >= 1
    finally:
        assert exporter.close() == 0, "".join(exporter.err)


def _vmstat() -> dict[str, int]:
    out = {}
    for line in Path("/proc/vmstat").read_text().splitlines():
        key, _, value = line.partition(" ")
        out[key] = int(value)
    return out


def _activity_expected(v: dict[str, int]) -> dict[tuple[str, tuple[tuple[str, str], ...]], int]:
    """What memtype_activity_* and the named agents of memtype_reclaim_* should say of one /proc/vmstat
    read: a line the kernel lacks, no series."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for what, name in (("pgscan", "scanned"), ("pgsteal", "stolen")):
        for r in ("kswapd", "direct", "khugepaged", "proactive"):
            if f"{what}_{r}" in v:
                out[(f"memtype_reclaim_{name}_pages_total", (("agent", r),))] = v[f"{what}_{r}"]
    for what in ("refault", "activate"):
        for t in ("anon", "file"):
            if f"workingset_{what}_{t}" in v:
                out[(f"memtype_activity_workingset_{what}_pages_total", (("type", t),))] = v[f"workingset_{what}_{t}"]
    for key in ("pgrefill", "pswpin", "pswpout", "zswpin", "zswpout"):
        if key in v:
            out[(f"memtype_activity_{key}_pages_total", ())] = v[key]
    for key in ("pgmajfault", "oom_kill"):
        if key in v:
            out[(f"memtype_activity_{key}_total", ())] = v[key]
    stalls = [n for k, n in v.items() if k == "allocstall" or k.startswith("allocstall_")]
    if stalls:
        out[("memtype_activity_allocstall_total", ())] = sum(stalls)
    return out


def test_issue10_live_activity_counters_are_proc_vmstat_between_two_reads() -> None:
    """memtype_activity_* of a sample read after /proc/vmstat's first read and before its second lie
    between the two reads, series for series (the lines this kernel prints, and only those); the next
    sample's are no smaller (counters); PSI's stall totals too, against /proc/pressure/memory."""
    needs_root()
    psi = Path("/proc/pressure/memory")
    tick = "memtype_sampler_last_tick_timestamp_seconds"
    before, t0 = _vmstat(), time.time()
    psi0 = psi.read_text() if psi.exists() else None
    exporter = Exporter("--interval", "0.5", "--groups", "0")
    try:
        first = exporter.wait_for(lambda f: (one(f, tick) or 0) > t0)
        assert (one(first, tick) or 0) > t0, "no fresh sample within 60 s"
        after = _vmstat()
        psi1 = psi.read_text() if psi.exists() else None
        low, high = _activity_expected(before), _activity_expected(after)
        named = {"memtype_reclaim_scanned_pages_total", "memtype_reclaim_stolen_pages_total"}
        got = {k: v for k, v in first.items() if (k[0].startswith("memtype_activity_") and "pressure" not in k[0])
               or (k[0] in named and k[1] != (("agent", "unattributed"),))}
        assert set(got) == set(high), set(got) ^ set(high)
        for key, value in got.items():
            assert low[key] <= value <= high[key], (key, low[key], value, high[key])
        if psi0 is not None and psi1 is not None:
            for line, a, b in zip(("some", "full"), psi0.splitlines(), psi1.splitlines()):
                lo, hi = (int(t.split("total=")[1]) for t in (a, b))  # µs
                value = one(first, f"memtype_activity_pressure_{line}_stall_seconds_total")
                assert value is not None and lo <= round(value * 1e6) <= hi, (line, lo, value, hi)
                ratio = one(first, f"memtype_activity_pressure_{line}_avg10_ratio")
                assert ratio is not None and 0 <= ratio <= 1
        else:
            assert not [k for k in first if k[0].startswith("memtype_activity_pressure_")]
        second = exporter.wait_for(lambda f: (one(f, tick) or 0) > (one(first, tick) or 0))
        later = _activity_expected(_vmstat())
        for key, value in got.items():
            assert value <= second[key] <= later[key], (key, value, second[key], later[key])
    finally:
        assert exporter.close() == 0, "".join(exporter.err)
