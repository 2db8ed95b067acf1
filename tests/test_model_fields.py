"""The field registry (model/fields*.py): every record's public attribute has a field or an explicit
exclusion; ids are unique, stable in form and listed in docs/fields.md; every JSON path, metric name,
alias, partition and CSV column is consistent (issue 8, "One field registry for every record";
architecture-review.md §3 anchor A: below's ``test_model_field_ids``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from memtype.model.fields import METRIC_KINDS, UNITS, Registry, covers, registries
from memtype.output.fields_doc import markdown
from memtype.output.json import plan

DOC = Path(__file__).resolve().parents[1] / "docs" / "fields.md"
ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
METRIC = re.compile(r"^memtype_[a-z0-9_]+$")
ALL = registries()


def public_attributes(cls: type) -> set[str]:
    """Slots and properties of ``cls`` (and its bases), without methods or private names."""
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(getattr(klass, "__slots__", ()))
        names.update(n for n, v in vars(klass).items() if isinstance(v, property))
    return {n for n in names if not n.startswith("_")}


def covered(registry: Registry, prefix: str) -> set[str]:
    """Attributes below ``prefix`` ("" = the record itself) that a field reads or an exclusion names."""
    head = prefix + "." if prefix else ""
    found = set()
    for name in [f.attr for f in registry] + list(registry.exclude):
        if name.startswith(head):
            found.add(name[len(head):].split(".")[0])
    return found


@pytest.mark.parametrize(("registry", "record"), covers(), ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")))
def test_every_public_attribute_has_a_field_or_an_exclusion(registry: Registry, record: type) -> None:
    missing = public_attributes(record) - covered(registry, "")
    assert not missing, f"{record.__name__} attributes with no {registry.name} field nor exclusion: {sorted(missing)}"
    for prefix, nested in registry.nested.items():
        missing = public_attributes(nested) - covered(registry, prefix)
        assert not missing, f"{registry.name}: {prefix} ({nested.__name__}) lacks fields for {sorted(missing)}"


@pytest.mark.parametrize("registry", ALL.values(), ids=lambda r: r.name)
def test_model_field_ids(registry: Registry) -> None:
    """Ids are unique (also as metric series and JSON paths) and stable in form; everything a
    registry names exists."""
    assert ID.match(registry.name.replace("_", "")) or ID.match(registry.name)
    for f in registry:
        assert ID.match(f.id), f"{registry.name}: id {f.id!r} is not lower-case dotted"
        assert f.unit in UNITS and f.kind in METRIC_KINDS, f
        assert f.title and f.help, f
        assert METRIC.match(f.metric_name(registry.name)), f.metric_name(registry.name)
        if f.kind == "counter":
            assert f.metric_name(registry.name).endswith("_total")
    plan(registry)  # every JSON path is taken once and no path runs through another field's value
    series = [(f.metric_name(registry.name), f.labels) for f in registry if f.numeric]
    assert len(series) == len(set(series)), "two fields would be the same metric series"
    for alias, target in registry.aliases.items():
        assert target in registry, f"{registry.name}: alias {alias!r} -> unknown {target!r}"
    for total, parts in registry.partitions.items():
        assert total in registry and all(p in registry for p in parts), (registry.name, total)
    assert all(i in registry for i in registry.labels)
    assert all(i in registry for i in registry.csv or ())
    assert registry.resolve(next(iter(registry.fields))).id == next(iter(registry.fields))


def test_ids_are_stable_and_documented() -> None:
    """docs/fields.md is generated from the registry (UPDATE_GOLDEN=1 rewrites it): renaming a field,
    changing its unit or metric kind shows in the diff, and the list users read is never stale."""
    text = markdown(ALL.values())
    if os.environ.get("UPDATE_GOLDEN") == "1":
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text)
    assert text == DOC.read_text()


def test_registry_names_the_kinds_and_the_units() -> None:
    ps = ALL["process"]
    assert ps["cow.rss"].path == ("categories", "cow", "rss") and ps["cow.rss"].unit == "bytes"
    assert ps["cow.rss"].metric_name("process") == "memtype_process_kind_rss_bytes"
    assert ps["cow.rss"].labels == (("kind", "cow"),) and ps.resolve("COW").id == "cow.rss"
    assert ALL["system"]["kernel.slab_reclaimable"].path == ("detail", "kernel.slab_reclaimable")
    assert ALL["cgroup"]["oom_kills"].metric_name("cgroup") == "memtype_cgroup_oom_kills_total"
    assert ps["swap_pss"].needs == ("SwapPss",)
    with pytest.raises(KeyError, match="unknown field 'bogus'; choose from pid, comm"):
        ps.resolve("bogus")
