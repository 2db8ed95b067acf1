"""Every command x {json, csv} on the captured roots: one JSON envelope, records made from their field
registry, CSV headers that are registry ids, CSV cells equal to the JSON values, partitions that add
up, and null (JSON) / empty (CSV) where a figure is unknown (issue 8: "One field registry for every
record", new-user item 6 "CSV gaps")."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memtype.model.fields import registries
from memtype.model.pressure import KINDS as PRESSURE_KINDS

from conftest import GPU_ROOT, ROOTS, Result
from formats_check import (check_csv, check_csv_equals_json, check_envelope, check_partitions, check_records,
                           check_row_table, parse_csv, value_at)
from test_reclaim import synthetic_root

Run = Callable[..., Result]
CG_ROOT, V1_ROOT = ROOTS / "gpu-cgroups", ROOTS / "v1-hybrid"
WORKLOAD = "/process_api/904259aeb7c1b67fa4c503781a411935"
REG = registries()
Items = Callable[[dict[str, Any]], list[dict[str, Any]]]


def key(name: str) -> Items:
    return lambda doc: list(doc[name])


def _holders(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"source": source, "kind": kind, **item} for source, kinds in doc["from"].items()
            for kind, items in kinds.items() for item in items]


def _takes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"kind": "free", "taken": doc["from_free"], "of": doc["target"]["free_above_watermarks"]}]
    if doc["target"]["cgroup"] is not None:
        rows = []
    rows += [{"kind": k, "taken": doc["predicted"][k], "of": doc["holds"][k]} for k in PRESSURE_KINDS]
    return rows + [{"kind": "short", "taken": doc["short"], "of": None},
                   {"kind": "need", "taken": doc["target"]["need"], "of": None}]


def _system_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for rid, value in doc["rows"].items():
        rows.append({"row": rid, "parent": None, "bytes": value})
        rows += [{"row": d, "parent": rid, "bytes": v} for d, v in doc["detail"].items() if d.startswith(rid + ".")]
    return rows + [{"row": "total", "parent": None, "bytes": doc["total"]}]


def _set_swap(smaps: Path, path: str, swap_kb: int, swap_pss_kb: int) -> None:
    """Give the first entry of ``path`` in an smaps file ``swap_kb`` of Swap and ``swap_pss_kb`` of SwapPss."""
    lines = smaps.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.endswith(path) and "-" in line.split(" ", 1)[0])
    for i in range(at + 1, len(lines)):
        if lines[i].startswith("Swap:"):
            lines[i] = f"Swap:           {swap_kb} kB"
        elif lines[i].startswith("SwapPss:"):
            lines[i] = f"SwapPss:        {swap_pss_kb} kB"
            break
    smaps.write_text("\n".join(lines))


def swapped_root(tmp_path: Path) -> Path:
    """The GPU capture with a swap file in use: 8 MiB of PID 421's heap and 4 KiB of a /dev/shm object
    (which PID 453 maps too) in swap, and 100 KiB of swap no process holds (the rest)."""
    root = tmp_path / "swapped"
    shutil.copytree(GPU_ROOT, root)
    _set_swap(root / "proc/421/smaps", "[heap]", 8192, 8192)
    for pid in (421, 453):
        _set_swap(root / f"proc/{pid}/smaps", "/dev/shm/sem.kIvT4I (deleted)", 4, 0)
    used = 8192 + 4 + 100
    mi = root / "proc/meminfo"
    mi.write_text(mi.read_text().replace("SwapTotal:             0 kB", "SwapTotal:       1048576 kB")
                  .replace("SwapFree:              0 kB", f"SwapFree:        {1048576 - used} kB"))
    (root / "proc/swaps").write_text(f"Filename\tType\tSize\tUsed\tPriority\n/swapfile file\t1048576\t{used}\t-2\n")
    return root


# name, root (None: pressure's synthetic root), arguments, registry of the CSV (and of the JSON items),
# options, the JSON items
CASES: list[tuple[str, Path | Callable[[Path], Path] | None, list[str], str, set[str], Items]] = [
    ("overview", GPU_ROOT, ["--top", "3"], "process", set(), key("processes")),
    ("ps", GPU_ROOT, ["ps"], "process", set(), key("processes")),
    ("ps-cgroup", CG_ROOT, ["ps", "--cgroup"], "process", {"cgroup"}, key("processes")),
    ("ps-cmdline-program", GPU_ROOT, ["ps", "--cmdline", "--name", "py"], "process", {"cmdline", "program"},
     key("processes")),
    ("ps-program", GPU_ROOT, ["ps", "--group", "program"], "group_program", set(), key("groups")),
    ("ps-user", GPU_ROOT, ["ps", "--group", "user"], "group_user", set(), key("groups")),
    ("ps-group-cgroup", CG_ROOT, ["ps", "--group", "cgroup"], "group_cgroup", set(), key("groups")),
    ("maps", GPU_ROOT, ["maps", "421"], "mapping", set(), key("mappings")),
    ("maps-path", GPU_ROOT, ["maps", "421", "--group", "path"], "group_path", set(), key("groups")),
    ("maps-all-path", GPU_ROOT, ["maps", "--all", "--group", "path"], "group_path", set(), key("groups")),
    ("system", GPU_ROOT, ["system"], "row", set(), _system_rows),
    ("system-reconcile", GPU_ROOT, ["system", "--table", "reconcile"], "reconcile", set(), key("reconcile")),
    ("cgroups-v2", CG_ROOT, ["cgroups"], "cgroup", {"processes"}, key("cgroups")),
    ("cgroups-v1", V1_ROOT, ["cgroups"], "cgroup", {"processes", "v1"}, key("cgroups")),
    ("cgroups-no-processes", CG_ROOT, ["cgroups", "--no-processes"], "cgroup", set(), key("cgroups")),
    ("swap-processes", swapped_root, ["swap"], "swap_process", set(), key("processes")),
    ("swap-devices", swapped_root, ["swap", "--table", "devices"], "swap_device", set(), key("devices")),
    ("swap-zram", GPU_ROOT, ["swap", "--table", "zram"], "zram", set(), key("zram")),
    ("swap-objects", swapped_root, ["swap", "--table", "objects"], "shmem_object", set(), key("objects")),
    ("swap-mappings", swapped_root, ["swap", "--table", "mappings"], "swapped_mapping", set(), key("mappings")),
    ("pressure", None, ["pressure", "--need", "3G", "--file-folio", "4"], "kind_take", set(), _takes),
    ("pressure-holders", None, ["pressure", "--need", "3G", "--table", "holders"], "holder", set(), _holders),
    ("pressure-cgroup", None, ["pressure", "--need", "1.5G", "--cgroup", "/app"], "kind_take", set(), _takes),
    ("files-top", CG_ROOT, ["files", "--top", "5"], "file", {"top", "capture"}, key("files")),
]


def _run(run_cli: Run, where: Path, args: list[str], fmt: str) -> str:
    r = run_cli(*args, "--root", str(where), "--format", fmt)
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    return r.out


@pytest.mark.parametrize(("name", "root", "args", "reg", "options", "items"), CASES, ids=[c[0] for c in CASES])
def test_every_command_json_and_csv(run_cli: Run, tmp_path: Path, name: str, root: Path | Callable[[Path], Path] | None,
                                    args: list[str], reg: str, options: set[str], items: Items) -> None:
    where = synthetic_root(tmp_path) if root is None else root if isinstance(root, Path) else root(tmp_path)
    doc = json.loads(_run(run_cli, where, args, "json"))
    check_envelope(doc)
    registry = REG[reg]
    expected = items(doc)
    assert expected or name in ("swap-zram", "system-reconcile"), "a case with nothing to check"
    if reg not in ("row", "kind_take", "holder"):  # those are rebuilt from the document's own shape
        check_records(registry, expected, options)
    rows = check_csv(registry, _run(run_cli, where, args, "csv"), options)
    check_csv_equals_json(registry, rows, expected)
    if reg in ("row", "kind_take"):
        check_row_table(rows) if reg == "row" else _adds_up(rows)


def _adds_up(rows: list[dict[str, str]]) -> None:
    *parts, need = rows
    assert need["kind"] == "need" and sum(int(r["taken"]) for r in parts) == int(need["taken"])


@pytest.mark.parametrize(("args", "registry", "section"), [
    (["system"], "system", None), (["swap"], "swap", None), (["pressure", "--need", "3G"], "pressure", None),
    (["files", "--top", "3"], "machine_cache", "machine"),
])
def test_summaries_are_their_registry(run_cli: Run, tmp_path: Path, args: list[str], registry: str,
                                      section: str | None) -> None:
    """The document's own figures (not a list) are the registry's fields, and they add up."""
    root = synthetic_root(tmp_path) if args[0] == "pressure" else (CG_ROOT if args[0] == "files" else GPU_ROOT)
    doc = json.loads(run_cli(*args, "--root", str(root), "--format", "json").out)
    body = doc[section] if section else doc
    reg = REG[registry]
    for f in reg:
        value_at(body, f.path)  # every field has its place
    check_partitions(reg, lambda i: value_at(body, reg[i].path))


def test_row_tables_add_up(run_cli: Run, tmp_path: Path) -> None:
    swapped = swapped_root(tmp_path)
    for args, root in ((["swap", "--table", "attribution"], swapped), (["files", "--top", "3", "--table", "split"],
                                                                       CG_ROOT)):
        r = run_cli(*args, "--root", str(root), "--format", "csv")
        assert r.code == 0, r.err
        check_row_table(check_csv(REG["row"], r.out))
    rows = check_csv(REG["machine_row"], run_cli("--root", str(GPU_ROOT), "--format", "csv", "--table", "machine").out)
    assert rows[-1]["row"] == "total" and sum(int(r["bytes"] or 0) for r in rows[:-1]) == int(rows[-1]["bytes"])
    overview = json.loads(run_cli("--root", str(GPU_ROOT), "--format", "json").out)["machine"]
    check_partitions(REG["machine"], lambda i: value_at(overview, REG["machine"][i].path))
    assert overview["rows"]["anonymous"] == int(rows[0]["bytes"])
    doc = json.loads(run_cli("swap", "--root", str(swapped), "--format", "json").out)
    assert doc["attribution"] == {"anonymous": 8 << 20, "shared": 4 << 10, "rest": 100 << 10}
    assert [o["mapped_by"] for o in doc["objects"]] == [[421, 453]]


def test_issue8_csv_gaps(run_cli: Run) -> None:
    """Item 6: ``ps --cgroup`` CSV has the cgroup; ``maps`` CSV has ``end`` and ``pss`` once; a group's
    count is ``count`` in CSV as in JSON."""
    header, rows = parse_csv(run_cli("ps", "--cgroup", "--root", str(CG_ROOT), "--format", "csv").out)
    assert "cgroup" in header and WORKLOAD in {r[header.index("cgroup")] for r in rows}
    header, _ = parse_csv(run_cli("maps", "421", "--root", str(GPU_ROOT), "--format", "csv").out)
    assert header.count("pss") == 1 and header[:2] == ["start", "end"]
    header, rows = parse_csv(run_cli("ps", "--group", "user", "--root", str(GPU_ROOT), "--format", "csv").out)
    doc = json.loads(run_cli("ps", "--group", "user", "--root", str(GPU_ROOT), "--format", "json").out)
    assert header[:2] == ["user", "count"] and "processes" not in header
    assert int(rows[0][1]) == doc["groups"][0]["count"] == 8
    header, _ = parse_csv(run_cli("maps", "--all", "--group", "path", "--root", str(GPU_ROOT), "--format", "csv").out)
    assert header[:3] == ["path", "count", "processes"]  # mappings summed, and the distinct processes


def test_fields_chooses_columns_and_sort_takes_any_field(run_cli: Run) -> None:
    r = run_cli("ps", "--root", str(GPU_ROOT), "--format", "csv", "--fields", "pid,COW,cow.pss,reclaim.never",
                "--sort", "cow.pss")
    header, rows = parse_csv(r.out)
    assert header == ["pid", "cow.rss", "cow.pss", "reclaim.never"]
    assert [int(x[2]) for x in rows] == sorted((int(x[2]) for x in rows), reverse=True)
    r = run_cli("cgroups", "--root", str(CG_ROOT), "--format", "csv", "--fields", "path,charged,oom_kills",
                "--sort", "psi")
    assert r.code == 0 and r.out.splitlines()[0] == "path,charged,oom_kills"
    r = run_cli("ps", "--root", str(GPU_ROOT), "--format", "csv", "--fields", "pid,bogus")
    assert r.code != 0 and "unknown field 'bogus'" in r.err and len(r.err.splitlines()) == 1
    table = run_cli("ps", "--root", str(GPU_ROOT), "--fields", "pid,comm,pss,cow.pss", "--width", "120").out
    head = table.splitlines()[2:4]  # the kinds' columns name their measure on a second header line
    assert "CoW" in head[0] and head[1].split() == ["PID", "User", "Name", "PSS", "PSS"] and "Shared" not in table


def test_system_unknown_rows_are_null_not_zero(run_cli: Run) -> None:
    """meminfo has no driver-page or anon cow figure: null in JSON, empty in CSV (the table says "-"); cow
    holds its file part (from the processes); with --no-processes that is unknown too."""
    doc = json.loads(run_cli("system", "--root", str(GPU_ROOT), "--format", "json").out)
    assert doc["rows"]["cow"] == doc["detail"]["cow.file"] and doc["rows"]["device"] is None
    rows = {r["row"]: r for r in check_csv(REG["row"], run_cli("system", "--root", str(GPU_ROOT), "--format",
                                                                 "csv").out)}
    assert rows["device"]["bytes"] == "" and rows["cow.fork"]["bytes"] == "" and rows["cow.anon"]["bytes"] == ""
    bare = json.loads(run_cli("system", "--root", str(GPU_ROOT), "--format", "json", "--no-processes").out)
    assert bare["rows"]["cow"] is None and bare["detail"]["cow.file"] is None
    assert rows["anonymous"]["bytes"] == str(doc["rows"]["anonymous"])


def test_smaps_fields_the_kernel_lacks_are_null(run_cli: Run, tmp_path: Path) -> None:
    """A kernel without LazyFree (< 4.12) or SwapPss (< 4.3): those figures are unknown (null; empty in
    CSV), not 0, and the host says which fields were absent (review L3)."""
    root = tmp_path / "root"
    shutil.copytree(GPU_ROOT, root)
    for smaps in root.glob("proc/*/smaps"):
        lines = smaps.read_bytes().split(b"\n")
        smaps.write_bytes(b"\n".join(x for x in lines if not x.startswith((b"SwapPss:", b"LazyFree:"))))
    doc = json.loads(run_cli("ps", "--root", str(root), "--format", "json").out)
    assert doc["host"]["smaps_absent"] == ["LazyFree", "SwapPss"]
    p = doc["processes"][0]
    assert p["swap_pss"] is None and p["lazyfree"] is None and p["swap"] == 0 and p["pss"] > 0
    assert all(c["swap_pss"] is None and c["rss"] is not None for c in p["categories"].values())
    rows = check_csv(REG["process"], run_cli("ps", "--root", str(root), "--format", "csv").out)
    assert rows[0]["swap_pss"] == "" and rows[0]["cow.swap_pss"] == "" and rows[0]["pss"] != ""
    full = json.loads(run_cli("ps", "--root", str(GPU_ROOT), "--format", "json").out)
    assert full["host"]["smaps_absent"] == [] and full["processes"][0]["swap_pss"] == 0


def test_ps_json_is_compact(run_cli: Run) -> None:
    """No indent: json.dumps stays on its C encoder (the ps benchmark's JSON path)."""
    out = run_cli("ps", "--root", str(GPU_ROOT), "--format", "json").out
    assert out.count("\n") == 1 and '", "' not in out and '": ' not in out
