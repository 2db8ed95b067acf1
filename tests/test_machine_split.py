"""Issue 8: one meminfo split for `memtype` and `memtype system` (same rows, same free and unaccounted),
copy-on-write with its file part told from its anon part in every view (item 9), file THP beside
anon THP (item 10)."""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype.kinds import Kind
from memtype.model.classify import Classifier
from memtype.model.machine import ROW_IDS
from memtype.parse import smaps as smaps_mod
from memtype.parse.smaps import parse_smaps

from conftest import GPU_ROOT, SHARED_SNAPSHOT, Result
from test_reclaim import vma

Run = Callable[..., Result]
SRC = Path(__file__).parent.parent / "src" / "memtype"
ZONEINFO = ("Node 0, zone   Normal\n  pages free     5809214\n        high     12798\n  pagesets\n    cpu: 0\n"
            "              count:    18754\n              high:     18925\n    cpu: 1\n"
            "              count:    29450\n")


def _both(run_cli: Run, root: str) -> tuple[dict[str, int | None], dict[str, int | None]]:
    """The machine rows of the overview's JSON and of `memtype system`'s JSON."""
    overview = run_cli("--root", root, "--format", "json")
    system = run_cli("system", "--root", root, "--format", "json")
    assert overview.code == 0 and system.code == 0, overview.err + system.err
    return json.loads(overview.out)["machine"]["rows"], json.loads(system.out)["rows"]


def test_issue8_one_meminfo_split_overview_equals_system(run_cli: Run, tmp_path: Path) -> None:
    """With zoneinfo's per-CPU free lists the overview said free = MemFree and put the lists in unaccounted
    while `system` counted them free (60.7M vs 13.9M unaccounted on one capture)."""
    root = tmp_path / "gpu"
    shutil.copytree(GPU_ROOT, root)
    (root / "proc/zoneinfo").write_text(ZONEINFO)
    over, system = _both(run_cli, str(root))
    assert list(over) == list(system) == list(ROW_IDS)
    assert over == system
    mi = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in (root / "proc/meminfo").read_text().splitlines()
          if line.endswith(" kB")}
    assert over["free"] == mi["MemFree"] + (18754 + 29450) * 4096
    assert sum(v or 0 for v in over.values()) == mi["MemTotal"]
    over_table = run_cli("--root", str(root), "--width", "100").out
    system_table = run_cli("system", "--root", str(root), "--width", "100").out
    for title in ("free", "unaccounted", "copy-on-write", "file cache"):
        line = next(x for x in over_table.splitlines() if x.strip().startswith(title))
        assert line.split()[len(title.split())] in system_table, title  # the same size in both tables


def test_issue8_one_meminfo_split_on_the_shared_capture(run_cli: Run) -> None:
    if not SHARED_SNAPSHOT.exists():
        pytest.skip("shared/fixtures is not here")
    over, system = _both(run_cli, str(SHARED_SNAPSHOT))
    assert over == system and over["free"] is not None and over["unaccounted"] is not None


def test_issue8_one_split_function() -> None:
    """Rows are made in one place: only model.machine builds MachineRow, and the renderers take their
    titles from it (no second table of row titles or "what it is" texts in output/)."""
    builders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "MachineRow"]
        if calls and path.name != "machine.py":
            builders.append(path)
    assert builders == [SRC / "cli/commands/overview.py"] or builders == []  # the CSV's "total" line only
    text = (SRC / "output/system_table.py").read_text()
    assert "HELP_MEMINFO" not in text and "TITLES = {" not in text
    assert "def machine_table" not in (SRC / "output/table.py").read_text()


# ------------------------------------------------------------------ item 9: cow's two parts
def test_issue8_cow_file_part_of_a_private_writable_map() -> None:
    """A private writable file map with 100 kB resident, 40 kB of it written (anon copies, Private_Dirty):
    the other 60 kB are page cache, cow's file part; compiled and Python agree."""
    text = vma(0x1000000, "rw-p", "/usr/lib/libx.so", "rd wr mr mw me ac", "fe:00", 12, Rss=100, Pss=100,
               Private_Clean=60, Private_Dirty=40, Anonymous=40)
    text += vma(0x2000000, "rw-p", Rss=64, Pss=32, Shared_Dirty=64, Anonymous=64)  # anon after fork
    parsed = parse_smaps(text.encode(), accelerated=False)
    totals, kinds, maps = Classifier().split(parsed.names, parsed.vmas, True)
    assert (totals.cow_file, totals.cow_file_pss) == (60 * 1024, 60 * 1024)
    assert kinds[Kind.COW].rss == (60 + 64) * 1024 and kinds[Kind.ANONYMOUS].rss == 40 * 1024
    assert maps is not None and maps[0].totals.cow_file == 60 * 1024 and maps[1].totals.cow_file == 0
    compiled = Classifier().summarize(text.encode())
    if smaps_mod.compiled() is not None:
        assert compiled is not None and compiled[0] == totals and compiled[1] == kinds


def test_issue8_cow_parts_in_ps_json_and_cgroups(run_cli: Run) -> None:
    doc = json.loads(run_cli("ps", "--root", str(GPU_ROOT), "--format", "json").out)
    for p in doc["processes"]:
        cow = p["categories"]["cow"]
        assert p["cow_file"] + p["cow_anon"] == cow["rss"] and p["cow_file_pss"] + p["cow_anon_pss"] == cow["pss"]
    assert sum(p["cow_file"] for p in doc["processes"]) > 0  # python's private writable maps
    cg = json.loads(run_cli("cgroups", "--root", str(GPU_ROOT.parent / "gpu-cgroups"), "--format", "json").out)
    members = cg["cgroups"][0]["processes"]
    assert members["cow_file"] + members["cow_anon"] == members["categories"]["cow"]["rss"]


def test_issue8_reconciliation_names_the_definition(run_cli: Run) -> None:
    doc = json.loads(run_cli("system", "--root", str(GPU_ROOT), "--format", "json").out)
    rec = {r["kind"]: r for r in doc["reconcile"]}
    assert rec["cow"]["difference"] == 0 and "estimate" not in rec["cow"]["difference_is"]
    assert rec["file"]["system"] == doc["rows"]["file"]
    assert "SysV" in rec["shared"]["difference_is"]
    notes = " ".join(doc["notes"])
    assert "detached" in notes or "no process attaches" in notes  # shmem no process maps: what it holds
    assert "could not read" in notes


# ------------------------------------------------------------------ item 10: file THP
def test_issue8_file_huge_beside_anon_huge(run_cli: Run) -> None:
    text = vma(0x40000000, "r-xp", "/usr/bin/big", "rd ex mr mw me", "fe:00", 9, Rss=4096, Pss=4096,
               Private_Clean=4096, FilePmdMapped=2048)
    text += vma(0x80000000, "rw-p", Rss=4096, Pss=4096, Private_Dirty=4096, Anonymous=4096, AnonHugePages=2048)
    parsed = parse_smaps(text.encode(), accelerated=False)
    totals, _, _ = Classifier().split(parsed.names, parsed.vmas)
    assert (totals.file_huge, totals.anon_huge) == (2048 * 1024, 2048 * 1024)
    if smaps_mod.compiled() is not None:
        fast = Classifier().summarize(text.encode())
        assert fast is not None and fast[0] == totals
    doc = json.loads(run_cli("ps", "--root", str(GPU_ROOT), "--format", "json").out)
    assert all("file_huge" in p and "anon_huge" in p for p in doc["processes"])
