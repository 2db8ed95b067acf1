"""The race policy at its edges on the live kernel (issue 8): a real zombie is a zombie, kthreadd a kernel thread."""

from __future__ import annotations

import os
import subprocess
import time

import memtype
from memtype.collect.sample import read_sample
from memtype.model.records import Skipped


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()[0]


def test_issue8_real_zombie_child_is_a_zombie_not_a_kernel_thread() -> None:
    child = subprocess.Popen(["true"])  # exits at once; not reaped until wait() below
    try:
        deadline = time.monotonic() + 10
        while _state(child.pid) != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        result = memtype.scan("/", [child.pid])
        assert result.skipped == [Skipped(child.pid, "zombie")] and result.kernel_threads == 0
        sample = read_sample("/", [child.pid])
        assert sample.skipped == (Skipped(child.pid, "zombie"),) and not sample.processes
    finally:
        child.wait()


def test_issue8_kthreadd_is_a_kernel_thread() -> None:
    if not os.path.exists("/proc/2/stat"):
        return
    with open("/proc/2/stat") as f:
        if "(kthreadd)" not in f.read():  # in a PID namespace, PID 2 is someone else
            return
    assert memtype.scan("/", [2]).skipped == [Skipped(2, "kernel")]
