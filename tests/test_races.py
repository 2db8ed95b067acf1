"""The race policy (style.md rule 4) against the real kernel: processes that exit mid-scan."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import memtype
from memtype.collect.process import read_process
from memtype.errors import NoSuchProcess, ProcessGone
from memtype.model.classify import Classifier
from memtype.source.root import Root


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_reading_an_exited_process_raises_process_gone() -> None:
    with pytest.raises(ProcessGone):
        read_process(Root("/"), _dead_pid(), Classifier(), {})


class _StaleListing(Root):
    """/proc listed a moment ago: the listing still holds a PID that has since exited."""

    def __init__(self, extra: int) -> None:
        super().__init__("/")
        self.extra = extra

    def pids(self) -> list[int]:
        return sorted(super().pids() + [self.extra])


def test_scan_skips_and_counts_processes_that_exit() -> None:
    dead = _dead_pid()
    result = memtype.scan(_StaleListing(dead))
    assert dead in [s.pid for s in result.skipped if s.reason == "gone"]  # others may exit too
    assert any(p.pid == os.getpid() for p in result.processes)


def test_scan_while_processes_come_and_go() -> None:
    """Many short-lived children during a full scan: no exception, everything else reported."""
    churn = subprocess.Popen([sys.executable, "-c",
                              "import subprocess\nfor _ in range(60): subprocess.Popen(['true']).wait()"])
    try:
        for _ in range(3):
            result = memtype.scan()
            assert any(p.pid == os.getpid() for p in result.processes)
            for p in result.processes:
                assert sum(u.rss for u in p.categories.values()) == p.totals.rss
    finally:
        churn.kill()
        churn.wait()


def test_asking_for_a_pid_that_does_not_exist() -> None:
    with pytest.raises(NoSuchProcess, match="no process with PID"):
        memtype.scan("/", [_dead_pid()])
