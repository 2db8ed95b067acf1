"""The race policy at its edges (style.md rule 4, issue 8): kernel threads and zombies, from captured files."""

from __future__ import annotations

from pathlib import Path

import memtype
from conftest import GPU_ROOT
from memtype.model.records import SKIP_REASONS, Skipped
from memtype.parse.procfiles import parse_stat, status_state

# /proc/PID/stat of a zombie and of a kernel thread (flags 0x208040: PF_KTHREAD), as this kernel prints them.
ZOMBIE_STAT = "4242 (sleep) Z 4241 4241 4100 34816 4241 4228108 90 0 0 0 0 0 0 0 20 0 1 0 777 0 0 " \
              "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
ZOMBIE_STATUS = "Name:\tsleep\nUmask:\t0022\nState:\tZ (zombie)\nTgid:\t4242\nPid:\t4242\nPPid:\t4241\n" \
                "Uid:\t0\t0\t0\t0\nThreads:\t1\n"


def _root(tmp_path: Path, pid: int, files: dict[str, str]) -> str:
    (tmp_path / "proc" / str(pid)).mkdir(parents=True)
    for name, text in files.items():
        (tmp_path / "proc" / str(pid) / name).write_text(text)
    (tmp_path / "proc" / "meminfo").write_text((GPU_ROOT / "proc/meminfo").read_text())
    return str(tmp_path)


def test_issue8_stat_gives_state_flags_and_faults() -> None:
    kthreadd = parse_stat((GPU_ROOT / "proc/2/stat").read_text())
    assert kthreadd.kernel_thread and kthreadd.state == "S"
    python = parse_stat((GPU_ROOT / "proc/421/stat").read_text())
    assert not python.kernel_thread and (python.minflt, python.majflt, python.starttime) == (197297, 321, 2490)
    zombie = parse_stat(ZOMBIE_STAT)
    assert zombie.state == "Z" and not zombie.kernel_thread
    assert status_state(ZOMBIE_STATUS) == "Z"


def test_issue8_zombie_is_skipped_as_zombie_not_counted_as_kernel_thread(tmp_path: Path) -> None:
    root = _root(tmp_path, 4242, {"status": ZOMBIE_STATUS, "stat": ZOMBIE_STAT, "smaps": ""})
    result = memtype.scan(root)
    assert result.skipped == [Skipped(4242, "zombie")] and result.kernel_threads == 0
    assert result.skip_counts() == {"zombie": 1}


def test_issue8_zombie_without_stat_uses_the_status_state(tmp_path: Path) -> None:
    root = _root(tmp_path, 4242, {"status": ZOMBIE_STATUS})  # no smaps either: never read
    assert memtype.scan(root).skipped == [Skipped(4242, "zombie")]


def test_issue8_empty_smaps_of_a_user_process_is_a_zombie(tmp_path: Path) -> None:
    """It exited between its stat and its smaps: no user memory left, and no kernel thread."""
    stat = ZOMBIE_STAT.replace(" Z ", " S ")
    root = _root(tmp_path, 4242, {"status": ZOMBIE_STATUS.replace("Z (zombie)", "S (sleeping)"), "stat": stat,
                                  "smaps": ""})
    result = memtype.scan(root)
    assert result.skipped == [Skipped(4242, "zombie")] and result.kernel_threads == 0


def test_issue8_kernel_thread_by_pf_kthread_without_reading_smaps(tmp_path: Path) -> None:
    """A kernel before 5.16 has no ``Kthread:`` line in status: stat's flags tell, and smaps is not read."""
    status = "\n".join(line for line in (GPU_ROOT / "proc/2/status").read_text().splitlines()
                       if not line.startswith("Kthread:")) + "\n"
    root = _root(tmp_path, 2, {"status": status, "stat": (GPU_ROOT / "proc/2/stat").read_text()})
    result = memtype.scan(root)
    assert result.skipped == [Skipped(2, "kernel")] and result.kernel_threads == 1
    assert result.skip_counts() == {}


def test_issue8_ps_pid_2_says_why_it_shows_nothing() -> None:
    result = memtype.scan(str(GPU_ROOT), [2])
    assert result.processes == [] and result.skipped == [Skipped(2, "kernel")]
    assert SKIP_REASONS[result.skipped[0].reason] == "a kernel thread: no user memory"
