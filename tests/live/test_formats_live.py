"""Every command x {json, csv} on this machine (issue 8, R2): the envelope, records made from their
registry, CSV headers that are registry ids, partitions that add up; and, from one scan, CSV cells equal
to the JSON values (separate runs would see memory move in between)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import memtype
from memtype.model.fields import registries
from memtype.model.fields_process import PROCESS, group_registry
from memtype.model.group import group_processes
from memtype.output import json as jsonout
from memtype.output.csv import csv_text

from conftest import Result
from formats_check import (check_csv, check_csv_equals_json, check_envelope, check_partitions, check_records,
                           check_row_table)

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

Run = Callable[..., Result]
REG = registries()

# arguments, registry of the CSV, options, the JSON list its lines are (None: a table of Rows)
CASES = [
    (["ps"], "process", set(), "processes"),
    (["ps", "--cgroup"], "process", {"cgroup"}, "processes"),
    (["ps", "--group", "program"], "group_program", set(), "groups"),
    (["ps", "--group", "cgroup"], "group_cgroup", set(), "groups"),
    (["maps", str(os.getpid())], "mapping", set(), "mappings"),
    (["maps", "--all", "--group", "path", "--top", "50"], "group_path", set(), "groups"),
    (["system"], "row", set(), None),
    (["system", "--table", "reconcile"], "reconcile", set(), "reconcile"),
    (["cgroups"], "cgroup", {"processes"}, "cgroups"),
    (["swap"], "swap_process", set(), "processes"),
    (["swap", "--table", "devices"], "swap_device", set(), "devices"),
    (["swap", "--table", "attribution"], "row", set(), None),
    (["pressure", "--need", "64M"], "kind_take", set(), None),
    (["pressure", "--need", "64M", "--table", "holders"], "holder", set(), None),
    (["files", "--top", "5"], "file", {"top"}, "files"),
    (["files", "--top", "5", "--table", "split"], "row", set(), None),
]


@pytest.mark.parametrize(("args", "reg", "options", "section"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_live_json_and_csv(run_cli: Run, args: list[str], reg: str, options: set[str], section: str | None) -> None:
    r = run_cli(*args, "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    check_envelope(doc)
    registry = REG[reg]
    if section is not None:
        if reg == "cgroup" and doc["hierarchy"]["version"] == 1:
            options = options | {"v1"}
        assert check_records(registry, doc[section], options) == len(doc[section])
    r = run_cli(*args, "--format", "csv")
    assert r.code == 0, r.err
    rows = check_csv(registry, r.out, options)
    if reg == "row":
        check_row_table(rows)
    elif reg == "kind_take":
        *parts, need = rows
        assert sum(int(x["taken"]) for x in parts) == int(need["taken"]) == 64 << 20


def test_live_files_paths(run_cli: Run, tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"f{i}").write_bytes(os.urandom(8192 * (i + 1)))
    r = run_cli("files", str(tmp_path), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    check_envelope(doc)
    check_records(REG["file"], doc["files"])
    rows = check_csv(REG["file"], run_cli("files", str(tmp_path), "--format", "csv").out)
    check_csv_equals_json(REG["file"], rows, doc["files"])  # nothing moved: the files were written above
    check_csv(REG["cache_total"], run_cli("files", str(tmp_path), "--format", "csv", "--table", "directories").out)


def test_live_one_scan_gives_the_same_figures_in_json_and_csv() -> None:
    """One live scan written both ways: every CSV cell is the JSON value; the kinds add up to the totals."""
    scan = memtype.scan(cgroup=True)
    absent = scan.host.smaps_absent
    items = jsonout.records(PROCESS, scan.processes, options={"cgroup"}, absent=absent)
    doc = jsonout.scan_document(scan, processes=items)
    check_envelope(json.loads(jsonout.dumps(doc)))
    check_records(PROCESS, items, {"cgroup"})
    rows = check_csv(PROCESS, csv_text(PROCESS, scan.processes, PROCESS.csv_columns({"cgroup"}), absent=absent),
                     {"cgroup"})
    check_csv_equals_json(PROCESS, rows, items)
    groups = group_processes(scan.processes, lambda p: p.comm)
    reg = group_registry("program")
    for g in jsonout.records(reg, groups, absent=absent):
        check_partitions(reg, lambda i, g=g: _at(g, reg[i].path))
    assert sum(p["pss"] for p in items) == sum(g.totals.pss for g in groups)


def _at(item: dict[str, object], path: tuple[str, ...]) -> object:
    node: object = item
    for key in path:
        node = node[key] if isinstance(node, dict) else None
    return node
