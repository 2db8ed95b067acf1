"""Issue 8: one cgroup reader (collect/cgroups.CgroupFiles) with one "unlimited" rule, used by `memtype
cgroups` and the pressure model, and its race policy: a removed cgroup is skipped, one bad file affects
its cgroup only."""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype import Root
from memtype.collect import cgroups as cgmod
from memtype.collect.cgroups import read_cgroups
from memtype.collect.pressure import read_cgroup
from memtype.errors import MemtypeError
from memtype.parse.cgroupfiles import parse_bytes, v1_unlimited

from conftest import ROOTS, Result

V2_ROOT = ROOTS / "gpu-cgroups"
V1_ROOT = ROOTS / "v1-hybrid"
V1_CG = "sys/fs/cgroup/memory/memtype-test-fixture"
CORE = "/process_api/core"
Run = Callable[..., Result]
SRC = Path(__file__).parent.parent / "src" / "memtype"


def _copy(src: Path, tmp: Path) -> Path:
    dst = tmp / src.name
    shutil.copytree(src, dst)  # symlinks followed: a self-contained copy to damage
    return dst


def _set_v1_limit(root: Path, value: int) -> None:
    for rel in (V1_CG, f"{V1_CG}/inner"):
        (root / rel / "memory.limit_in_bytes").write_text(f"{value}\n")
        stat = root / rel / "memory.stat"
        lines = [f"hierarchical_memory_limit {value}" if line.startswith("hierarchical_memory_limit ") else line
                 for line in stat.read_text().splitlines()]
        stat.write_text("\n".join(lines) + "\n")


def _limits(root: Path) -> tuple[int | None, int | None]:
    """The inner cgroup's limit as `memtype cgroups` reads it and as the pressure model reads it."""
    with Root(str(root)) as r:
        tree = {cg.path: cg for cg in read_cgroups(r).cgroups}
        return tree["/memtype-test-fixture/inner"].limit, read_cgroup(r, "/memtype-test-fixture/inner").limit


def test_issue8_one_unlimited_rule(tmp_path: Path) -> None:
    """The kernel's rule (PAGE_COUNTER_MAX * PAGE_SIZE) in both readers; the pressure model used 1 << 62."""
    root = _copy(V1_ROOT, tmp_path)
    _set_v1_limit(root, 9223372036854771712)  # as this VM prints "no limit" (4 KiB pages)
    assert _limits(root) == (None, None)
    real = (1 << 62) + 4096  # a limit (4 EiB): the old pressure reader took it for none
    _set_v1_limit(root, real)
    assert _limits(root) == (real, real)
    # 64 KiB pages (arm64): "no limit" is 2^63 - 65536, which is a limit on a 4 KiB machine
    _set_v1_limit(root, (1 << 63) - 65536)
    for smaps in root.glob("proc/*/smaps"):
        smaps.write_text(smaps.read_text().replace("KernelPageSize:        4 kB", "KernelPageSize:       64 kB"))
    assert _limits(root) == (None, None)
    assert parse_bytes(f"{(1 << 63) - 65536}\n", 4096) == (1 << 63) - 65536
    assert v1_unlimited(((1 << 31) - 1) * 4096, 4096)  # 32-bit kernels: PAGE_COUNTER_MAX is LONG_MAX pages


def test_issue8_pressure_has_no_cgroup_reader_of_its_own() -> None:
    tree = ast.parse((SRC / "collect/pressure.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert not names & {"UNLIMITED", "memory_hierarchy", "_keyed", "parse_keyed", "find_hierarchy", "_V1", "_V2"}
    assert "scandir" not in (SRC / "collect/pressure.py").read_text()
    assert "mountinfo" not in (SRC / "collect/filecgroup.py").read_text()


# ------------------------------------------------------------------ race policy
def test_issue8_cgroup_removed_after_open_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     run_cli: Run) -> None:
    """ENODEV: kernfs refuses reads of a removed cgroup's open files (Root maps it to a MemtypeError)."""
    root = _copy(V2_ROOT, tmp_path)
    real = cgmod.CgroupFiles.text

    def vanishing(self: cgmod.CgroupFiles, path: str, name: str) -> str:
        if path == CORE and name == "memory.stat":
            shutil.rmtree(root / f"sys/fs/cgroup{CORE}")  # removed between the listing and this read
            raise MemtypeError(f"cannot read sys/fs/cgroup{CORE}/memory.stat: No such device")
        return real(self, path, name)

    monkeypatch.setattr(cgmod.CgroupFiles, "text", vanishing)
    with Root(str(root)) as r:
        tree = read_cgroups(r)
    assert tree.gone == 1 and CORE not in {cg.path for cg in tree.cgroups} and not tree.warnings
    shutil.copytree(V2_ROOT / f"sys/fs/cgroup{CORE}", root / f"sys/fs/cgroup{CORE}")
    r = run_cli("cgroups", "--root", str(root), "--format", "json")
    assert r.code == 0, r.err
    assert "removed while being read" in r.err


def test_issue8_cgroup_removed_while_its_files_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """memory.stat was read, then the cgroup went: what was read of it is not reported."""
    root = _copy(V2_ROOT, tmp_path)
    real = cgmod.CgroupFiles.text

    def vanishing(self: cgmod.CgroupFiles, path: str, name: str) -> str:
        if path == CORE and name == "memory.current":
            shutil.rmtree(root / f"sys/fs/cgroup{CORE}")
        return real(self, path, name)

    monkeypatch.setattr(cgmod.CgroupFiles, "text", vanishing)
    with Root(str(root)) as r:
        tree = read_cgroups(r)
    assert tree.gone == 1 and CORE not in {cg.path for cg in tree.cgroups}


def _damage(root: Path, how: str) -> None:
    d = root / f"sys/fs/cgroup{CORE}"
    if how == "directory":
        (d / "memory.stat").unlink()
        (d / "memory.stat").mkdir()
    elif how == "no active_file":
        stat = d / "memory.stat"
        stat.write_text("".join(line + "\n" for line in stat.read_text().splitlines()
                                if not line.startswith("active_file ")))
    else:
        (d / "cgroup.procs").write_text("413\n4²4\n")


@pytest.mark.parametrize("how", ["directory", "no active_file", "non-ASCII digit"])
def test_issue8_one_bad_cgroup_file_affects_that_cgroup_only(tmp_path: Path, run_cli: Run, how: str) -> None:
    root = _copy(V2_ROOT, tmp_path)
    good = json.loads(run_cli("cgroups", "--root", str(root), "--format", "json").out)
    _damage(root, how)
    r = run_cli("cgroups", "--root", str(root), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    cgs = {c["path"]: c for c in doc["cgroups"]}
    before = {c["path"]: c for c in good["cgroups"]}
    assert set(cgs) == set(before)  # listed, with what could not be read unknown
    assert any(w.startswith(f"cgroup {CORE}:") for w in doc["warnings"]), doc["warnings"]
    for path in cgs.keys() - {CORE}:
        assert cgs[path]["categories"] == before[path]["categories"], path
        assert cgs[path]["charged"] == before[path]["charged"], path
    core = cgs[CORE]
    assert core["charged"] == before[CORE]["charged"] and core["limit"] == before[CORE]["limit"]  # other files
    if how == "directory":
        assert not any((core["categories"] or {}).values()) and core["reclaim"] is None  # null: unknown
        assert core["other"] is None  # not "all of charged": the rows are unknown, not zero
    elif how == "no active_file":
        assert core["reclaim"] is None and core["categories"] == before[CORE]["categories"]
    else:
        assert core["pids"] == [] and core["categories"] == before[CORE]["categories"]
    table = run_cli("cgroups", "--root", str(root), "--width", "100")
    assert table.code == 0 and CORE in table.out and f"cgroup {CORE}" in table.err
