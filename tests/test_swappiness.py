"""Issue 17, hermetic: `pressure --swappiness N` / `--sweep` and the swappiness part of `memtype swap`, on
the synthetic machine of test_reclaim (cgroup v2, a swapfile) and a copy of the v1-hybrid capture; the
model's swappiness rule (memtype.model.swappiness) on hand-made lists."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype.model.pressure import LruSizes, predict
from memtype.model.swappiness import DEFAULT_SWEEP, sweep, sweep_values, verdict
from memtype.output.human import size

from conftest import HERE, Result
from test_cli import check_golden
from test_reclaim import synthetic_root

Run = Callable[..., Result]
MiB = 1 << 20
PAGE = 4096
V1 = HERE / "fixtures" / "roots" / "v1-hybrid"


def lists(ia: int, aa: int, if_: int, af: int, shmem: int = 0) -> LruSizes:
    return LruSizes(ia * MiB, aa * MiB, if_ * MiB, af * MiB, 0, shmem * MiB, 0)


def v1_root(tmp: Path, fixture: int = 10, inner: int = 10) -> Path:
    """The v1-hybrid capture with its two cgroups' memory.swappiness changed (the root's stays 60)."""
    root = tmp / "v1"
    shutil.copytree(V1, root)
    base = root / "sys/fs/cgroup/memory/memtype-test-fixture"
    (base / "memory.swappiness").write_text(f"{fixture}\n")
    (base / "inner/memory.swappiness").write_text(f"{inner}\n")
    return root


# ------------------------------------------------------------------ the CLI
@pytest.mark.parametrize("bad", ["201", "-1", "ten", "1e2", "60.5", "999999999999"])
def test_issue17_swappiness_outside_the_kernels_range_is_one_line(tmp_path: Path, run_cli: Run, bad: str) -> None:
    """0-200, as sysctl and memory.swappiness take (both refuse 201 and -1 with EINVAL on 6.18)."""
    root = str(synthetic_root(tmp_path))
    for args in (["--swappiness", bad], ["--sweep", f"0,{bad}"]):
        r = run_cli("pressure", "--root", root, "--need", "1G", *args)
        assert r.code == 2 and r.err.count("\n") == 1 and "Traceback" not in r.err, (args, r.err)
    r = run_cli("pressure", "--root", root, "--need", "1G", "--swappiness", "10", "--sweep")
    assert r.code == 2 and "not allowed with" in r.err


@pytest.mark.parametrize("edge", ["0", "200"])
def test_issue17_the_range_ends_are_taken(tmp_path: Path, run_cli: Run, edge: str) -> None:
    r = run_cli("pressure", "--root", str(synthetic_root(tmp_path)), "--need", "1G", "--swappiness", edge,
                "--file-folio", "1")
    assert r.code == 0, r.err


def test_issue17_sweep_golden_80(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("pressure", "--root", str(synthetic_root(tmp_path)), "--need", "2G", "--sweep", "--file-folio", "1",
                "--width", "80")
    assert r.code == 0, r.err
    check_golden("pressure-sweep-80.txt", r.out)
    assert max(len(line) for line in r.out.splitlines()) <= 80
    assert "Swappiness matters here between 100 and 200" in r.out


def test_issue17_what_if_golden_80(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("pressure", "--root", str(synthetic_root(tmp_path)), "--need", "2G", "--swappiness", "200",
                "--file-folio", "1", "--width", "80")
    assert r.code == 0, r.err
    check_golden("pressure-swappiness-80.txt", r.out)
    assert max(len(line) for line in r.out.splitlines()) <= 80


def test_issue17_sweep_json_adds_up_and_marks_the_value_in_force(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("pressure", "--root", str(synthetic_root(tmp_path)), "--need", "2G", "--sweep", "0,200",
                "--file-folio", "1", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    rows = doc["sweep"]
    assert [row["swappiness"] for row in rows] == ["0", "60", "200"]  # the value in force joins the sweep
    assert [row["current"] for row in rows] == [False, True, False]
    for row in rows:
        assert row["from_free"] + sum(row["predicted"].values()) + row["short"] == 2 << 30
        assert row["swap"] == row["predicted"]["anonymous"] + row["predicted"]["shared"]
    assert rows[0]["swap"] == 0 and rows[2]["swap"] > 0
    assert doc["target"] == {"cgroup": None, "version": 2, "need": 2 << 30, "swap_room": (262140 - 49152) * 1024,
                             "swappiness": 60}  # /proc/swaps: size - used
    assert doc["verdict"].startswith("Swappiness matters here") and doc["model"] == "classic-lru/1"
    r = run_cli("pressure", "--root", str(synthetic_root(tmp_path / "b")), "--need", "2G", "--sweep", "0,200",
                "--file-folio", "1", "--format", "csv")
    assert r.code == 0 and r.out.splitlines()[0].startswith("swappiness,") and len(r.out.splitlines()) == 4


def test_issue17_what_if_json_has_the_difference(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("pressure", "--root", str(synthetic_root(tmp_path)), "--need", "2G", "--swappiness", "200",
                "--file-folio", "1", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    w = doc["what_if"]
    assert (w["swappiness"], w["current_swappiness"], doc["target"]["swappiness"]) == (200, 60, 200)
    for kind in ("file", "anonymous", "shared"):
        assert w["difference"][kind] == doc["predicted"][kind] - w["current"]["predicted"][kind]
    assert w["difference"]["swap"] == doc["swap"] - w["current"]["swap"] > 0
    assert any("as if vm.swappiness were 200" in n for n in doc["notes"])


def test_issue17_v2_cgroup_what_if_says_v2_has_no_per_cgroup_knob(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("pressure", "--root", str(synthetic_root(tmp_path)), "--need", "1.5G", "--cgroup", "/app",
                "--swappiness", "0", "--file-folio", "1", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["swap"] == 0 and doc["what_if"]["current"]["swap"] > 0  # 0 in a cgroup's own reclaim: SCAN_FILE
    assert any("cgroup v2 has no per-cgroup swappiness" in n for n in doc["notes"])


def test_issue17_v1_cgroup_sweep_without_swap_is_flat(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("pressure", "--root", str(v1_root(tmp_path)), "--cgroup", "/memtype-test-fixture", "--need", "40M",
                "--sweep", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["target"]["swappiness"] == 10 and doc["target"]["version"] == 1  # the cgroup's own value
    assert len({json.dumps(row["predicted"]) for row in doc["sweep"]}) == 1
    assert "no swap room" in doc["verdict"]


# ------------------------------------------------------------------ memtype swap
def test_issue17_swap_names_the_v1_cgroups_that_differ(tmp_path: Path, run_cli: Run) -> None:
    root = str(v1_root(tmp_path, fixture=10, inner=10))
    r = run_cli("swap", "--root", root, "--format", "json")
    assert r.code == 0, r.err
    s = json.loads(r.out)["swappiness_in_force"]
    assert s["machine"] == 60 and s["cgroup_version"] == 1  # the v1 root's memory.swappiness is vm.swappiness
    assert s["cgroups"] == [{"path": "/memtype-test-fixture", "value": 10, "inherited": False},
                            {"path": "/memtype-test-fixture/inner", "value": 10, "inherited": True}]
    assert "not 'no swap'" in s["zero_means"] and "memory.swappiness 0" in s["zero_means"]
    r = run_cli("swap", "--root", root, "--width", "80")
    assert r.code == 0 and "/memtype-test-fixture/inner: memory.swappiness 10" in r.out
    assert max(len(line) for line in r.out.splitlines()) <= 80


def test_issue17_swap_on_v2_says_there_is_no_per_cgroup_swappiness(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("swap", "--root", str(synthetic_root(tmp_path)), "--format", "json")
    s = json.loads(r.out)["swappiness_in_force"]
    assert s["cgroups"] == [] and "no per-cgroup swappiness" in s["per_cgroup"] and s["mglru"] is None


# ------------------------------------------------------------------ the model's rule
def _points(lru: LruSizes, need: int, room: int, *, cgroup: bool, folio: float = 1.0, free: int | None = None
            ) -> list:  # type: ignore[type-arg]
    return sweep(lambda s: predict(need, lru, s, room, page_size=PAGE, cgroup=cgroup, file_folio=folio, free=free),
                 DEFAULT_SWEEP, 60)


def test_issue17_cache_trim_makes_swappiness_irrelevant() -> None:
    """Plenty of inactive page cache: every value takes page cache only (cache_trim_mode comes before
    SCAN_FRACT in get_scan_count), 200 included."""
    points = _points(lists(64, 64, 512, 64), 64 * MiB, 256 * MiB, cgroup=True)
    assert all(p.prediction.swap == 0 for p in points)
    assert verdict(points, True, 256 * MiB, size).startswith("Swappiness makes no difference")
    assert "page cache goes first" in verdict(points, True, 256 * MiB, size)


def test_issue17_zero_in_a_cgroup_never_swaps_and_is_short() -> None:
    lru = lists(64, 0, 8, 56, shmem=32)  # page cache active: no cache trim
    zero = predict(96 * MiB, lru, 0, 256 * MiB, page_size=PAGE, cgroup=True)
    assert zero.swap == 0 and zero.short > 0
    sixty = predict(96 * MiB, lru, 60, 256 * MiB, page_size=PAGE, cgroup=True)
    assert sixty.swap > 0 and sixty.short == 0


def test_issue17_zero_machine_wide_still_swaps_when_page_cache_runs_out() -> None:
    """vm.swappiness 0 is not "no swap": with no page cache left (file_is_tiny) machine reclaim swaps anon."""
    p = predict(32 * MiB, lists(64, 0, 0, 0), 0, 256 * MiB, page_size=PAGE, cgroup=False, free=0)
    assert p.swap == 32 * MiB and p.short == 0
    c = predict(32 * MiB, lists(64, 0, 0, 0), 0, 256 * MiB, page_size=PAGE, cgroup=True)
    assert c.swap == 0 and c.short == 32 * MiB


def test_issue17_200_is_not_anon_only_and_100_weighs_both_the_same() -> None:
    lru = lists(64, 0, 8, 56)  # page cache all active-ish: no cache trim, SCAN_FRACT decides
    at200 = predict(60 * MiB, lru, 200, 256 * MiB, page_size=PAGE, cgroup=True)
    assert at200.swap > 55 * MiB  # file weight 0 under SCAN_FRACT, but not "anon only": see the next
    at100 = predict(60 * MiB, lru, 100, 256 * MiB, page_size=PAGE, cgroup=True)
    assert at100.taken["file"] > 0 and at100.swap > 0  # both lists scanned at 100
    assert predict(60 * MiB, lists(64, 0, 512, 64), 200, 256 * MiB, page_size=PAGE, cgroup=True).swap == 0  # trim


def test_issue17_no_swap_room_is_flat_and_says_why() -> None:
    points = _points(lists(64, 64, 8, 56), 96 * MiB, 0, cgroup=True)
    assert {p.taken() for p in points} == {points[0].taken()}
    assert "no swap room" in verdict(points, True, 0, size)


def test_issue17_sweep_values_include_the_value_in_force_once() -> None:
    assert sweep_values((0, 60, 200), 60) == [0, 60, 200]
    assert sweep_values((200, 0), 33) == [0, 33, 200]


def test_issue17_mglru_on_is_said_where_the_classic_rule_does_not_apply(tmp_path: Path, run_cli: Run) -> None:
    root = synthetic_root(tmp_path)
    (root / "sys/kernel/mm/lru_gen").mkdir(parents=True)
    (root / "sys/kernel/mm/lru_gen/enabled").write_text("0x0007\n")
    r = run_cli("pressure", "--root", str(root), "--need", "1G", "--sweep", "--file-folio", "1", "--format", "json")
    assert r.code == 0 and any(n.startswith("MGLRU is on") for n in json.loads(r.out)["notes"])
    r = run_cli("swap", "--root", str(root), "--format", "json")
    assert json.loads(r.out)["swappiness_in_force"]["mglru"] is True
    (root / "sys/kernel/mm/lru_gen/enabled").write_text("0x0000\n")
    r = run_cli("pressure", "--root", str(root), "--need", "1G", "--sweep", "--file-folio", "1", "--format", "json")
    assert not any(n.startswith("MGLRU") for n in json.loads(r.out)["notes"])


def test_issue17_machine_wide_on_v1_names_the_cgroups_with_their_own_value(tmp_path: Path, run_cli: Run) -> None:
    root = v1_root(tmp_path, fixture=0, inner=0)
    (root / "proc/sys/vm").mkdir(parents=True)
    (root / "proc/sys/vm/swappiness").write_text("60\n")
    r = run_cli("pressure", "--root", str(root), "--need", "64M", "--sweep", "0,60", "--format", "json")
    assert r.code == 0, r.err
    notes = json.loads(r.out)["notes"]
    assert any(n.startswith("2 v1 memory cgroups have their own memory.swappiness (/memtype-test-fixture 0,")
               for n in notes), notes
