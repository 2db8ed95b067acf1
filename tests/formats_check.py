"""Checks shared by tests/test_formats.py (captured roots) and tests/live/test_formats_live.py (this
machine): the JSON envelope, records made from their registry, CSV headers that are registry ids,
CSV cells equal to the JSON values, and partitions that add up (issue 8, R2)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from memtype.model.fields import Registry
from memtype.output.csv import cell

SCHEMA = "memtype/2"


def check_envelope(doc: dict[str, Any]) -> None:
    """``{schema, host, summary, <sections>, notes?, warnings}`` in that order."""
    keys = list(doc)
    assert keys[:3] == ["schema", "host", "summary"], keys
    assert keys[-1] == "warnings", keys
    assert doc["schema"] == SCHEMA
    host = doc["host"]
    assert {"hostname", "kernel", "page_size", "live", "root", "captured_at", "memtype_version",
            "smaps_absent"} <= set(host)
    assert isinstance(host["smaps_absent"], list)
    assert isinstance(doc["summary"], dict)
    assert isinstance(doc["warnings"], list) and all(isinstance(w, str) for w in doc["warnings"])
    if "notes" in doc:
        assert keys[-2] == "notes" and all(isinstance(n, str) for n in doc["notes"])


def value_at(item: dict[str, Any] | None, path: Sequence[str]) -> Any:
    """The value at a JSON path; None below an object that is null (nothing in it known)."""
    node: Any = item
    for key in path:
        if node is None:
            return None
        node = node[key]
    return node


def check_partitions(registry: Registry, get: Any, what: str = "", present: Iterable[str] | None = None) -> None:
    """Each partition: the known parts add up to the total (unknown parts are counted elsewhere, e.g.
    meminfo's cow inside anonymous); skipped where the total or every part is unknown, or (``present``)
    where the document does not have its fields."""
    have = set(registry.fields) if present is None else set(present)
    for total_id, part_ids in registry.partitions.items():
        if total_id not in have or not have.issuperset(part_ids):
            continue
        total = get(total_id)
        parts = [get(p) for p in part_ids]
        known = [p for p in parts if p is not None]
        if total is None or not known:
            continue
        assert sum(known) == total, f"{registry.name} {what}: {total_id}={total} but {dict(zip(part_ids, parts))}"


def check_records(registry: Registry, items: Iterable[dict[str, Any]], options: Iterable[str] = ()) -> int:
    """Every item has exactly the registry's top-level keys (for ``options``), and its partitions add up."""
    present = registry.present(options)
    keys = list(dict.fromkeys(f.path[0] for f in present))
    n = 0
    for item in items:
        assert [k for k in item if k in keys] == [k for k in keys if k in item]  # registry order
        assert set(keys) - set(item) <= {"self_categories"}, set(keys) - set(item)  # v1 only
        assert not set(item) - set(keys), f"{registry.name}: keys no field names: {set(item) - set(keys)}"
        check_partitions(registry, lambda i: value_at(item, registry[i].path),
                         str(item.get(registry.labels[0])) if registry.labels else "", [f.id for f in present])
        n += 1
    return n


def parse_csv(text: str) -> tuple[list[str], list[list[str]]]:
    assert text.endswith("\n") and "\r" not in text
    lines = list(csv.reader(io.StringIO(text)))
    assert lines, "no header"
    header, rows = lines[0], lines[1:]
    assert all(len(r) == len(header) for r in rows)
    return header, rows


def check_csv(registry: Registry, text: str, options: Iterable[str] = ()) -> list[dict[str, str]]:
    """The header is the registry's CSV columns, ids unique; returns the rows as dicts."""
    header, rows = parse_csv(text)
    assert header == registry.csv_columns(options), header
    assert len(set(header)) == len(header), "a column twice"
    return [dict(zip(header, r)) for r in rows]


def check_csv_equals_json(registry: Registry, rows: Sequence[dict[str, str]], items: Sequence[dict[str, Any]]) -> None:
    """Each CSV cell is the JSON value of the same field, as the CSV writes it (null: empty)."""
    assert len(rows) == len(items), (len(rows), len(items))
    for row, item in zip(rows, items):
        for fid, text in row.items():
            want = cell(value_at(item, registry[fid].path))
            assert text == str(want), f"{registry.name} {fid}: CSV {text!r}, JSON {want!r}"


def check_row_table(rows: Sequence[dict[str, str]]) -> None:
    """A table of ``Row``s: the known top-level rows add up to the last one (the total)."""
    *body, total = rows
    known = [int(r["bytes"]) for r in body if not r["parent"] and r["bytes"] != ""]
    assert total["parent"] == "" and sum(known) == int(total["bytes"]), (total, known)
    for r in body:  # sub-rows name their parent, which comes before them
        assert not r["parent"] or r["row"].startswith(r["parent"] + "."), r
