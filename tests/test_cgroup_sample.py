"""Issues 10 and 11 foundation: the memory cgroups in the raw Sample (``Sample.cgroups``), read from the
fixture roots (v2: the captured GPU host; v1 beside v2: this hybrid VM), derived into ``Model.cgroups``
(the records of `memtype cgroups`), and stored (``to_dict``/``from_dict``).

Expected numbers are the fixture files' own contents (kernel-spec.md D.1, D.2).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from memtype import Root
from memtype.collect import cgroups as cgmod
from memtype.collect.cgroups import attach_members, read_cgroups, read_cgroups_sample
from memtype.collect.sample import read_sample, read_system
from memtype.collect.sampler import Sampler
from memtype.collect.scan import scan
from memtype.model.cgroups import CgroupTree
from memtype.model.derive import derive
from memtype.model.sample import CgroupSample, CgroupsSample
from memtype.model.sample_dict import from_dict, to_dict
from memtype.parse.cgroupfiles import parse_keyed

from conftest import GPU_ROOT, MODELS, ROOTS, get_sample_model

sys.path.insert(0, str(MODELS))
import make as make_models  # noqa: E402  (tests/fixtures/models/make.py)

V2_ROOT = ROOTS / "gpu-cgroups"
V1_ROOT = ROOTS / "v1-hybrid"
WORKLOAD = "/process_api/904259aeb7c1b67fa4c503781a411935"
MiB = 1 << 20


def _stat(root: Path, rel: str) -> dict[str, int]:
    return parse_keyed((root / rel / "memory.stat").read_text())


def _records(tree: CgroupTree | None) -> list[tuple[Any, ...]]:
    """Every figure of every cgroup record (members and unread included), comparable."""
    assert tree is not None
    out: list[tuple[Any, ...]] = [(tree.hierarchy.as_dict(), tree.gone, tuple(tree.warnings))]
    for cg in tree.cgroups:
        m = cg.members
        out.append((cg.path, cg.version, cg.hierarchical, cg.charged, cg.categories, cg.self_categories, cg.kernel,
                    cg.swapcached, cg.swap, cg.limit, cg.effective_limit, cg.oom_kills,
                    None if cg.pressure is None else cg.pressure.as_dict(), cg.pids, cg.unread, cg.reclaim, cg.other,
                    m.totals.as_dict(), {k: vars_of(u) for k, u in m.categories.items()}, m.pids, m.count))
    return out


def vars_of(u: Any) -> tuple[int, ...]:
    return (u.rss, u.pss, u.swap, u.swap_pss)


# -- reading: the raw files ------------------------------------------------------------------------------

def test_issue10_v2_sample_holds_the_files_as_read() -> None:
    sample = read_system(str(V2_ROOT), cgroups=True)
    cs = sample.cgroups
    assert cs is not None and (cs.version, cs.rel, cs.hybrid, cs.gone) == (2, "sys/fs/cgroup", False, 0)
    assert list(cs.groups) == ["/", "/process_api", WORKLOAD, "/process_api/core"]  # parents first
    w = cs.groups[WORKLOAD]
    assert w.stat == _stat(V2_ROOT, f"sys/fs/cgroup{WORKLOAD}")  # memory.stat whole, as printed
    assert (w.current, w.swap_current, w.limit) == (2456543232, 0, None)  # memory.max: "max"
    # Not in the capture: unknown, never 0. v1-only fields are None in v2.
    assert (w.events, w.high, w.swap_limit, w.kmem, w.memsw, w.memsw_limit) == (None,) * 6
    assert w.pressure == {"some": {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0},
                          "full": {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0}}
    assert w.procs == (409, 413, 414, 415, 416, 421, 450, 451, 452, 453, 470, 471) and w.problems == ()
    top = cs.groups["/"]
    assert top.current is None and top.limit is None  # the v2 root has neither file
    assert cs.groups["/process_api"].limit == 128 << 30


def test_issue10_v2_events_high_and_swap_max_are_read(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(V2_ROOT, root)
    d = root / f"sys/fs/cgroup{WORKLOAD}"
    (d / "memory.events").write_text("low 0\nhigh 7\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n")
    (d / "memory.high").write_text(f"{1 << 30}\n")
    (d / "memory.swap.max").write_text("max\n")
    cs = read_system(str(root), cgroups=True).cgroups
    assert cs is not None
    w = cs.groups[WORKLOAD]
    assert w.events == {"low": 0, "high": 7, "max": 3, "oom": 2, "oom_kill": 1, "oom_group_kill": 0}
    assert (w.high, w.swap_limit) == (1 << 30, None)
    cg = {c.path: c for c in derive(read_sample(str(root), cgroups=True)).cgroups.cgroups}  # type: ignore[union-attr]
    assert cg[WORKLOAD].oom_kills == 1


def test_issue10_v1_sample_holds_total_stat_usage_limits_memsw_and_oom_control() -> None:
    cs = read_system(str(V1_ROOT), cgroups=True).cgroups
    assert cs is not None and (cs.version, cs.rel, cs.hybrid) == (1, "sys/fs/cgroup/memory", True)
    assert list(cs.groups) == ["/", "/memtype-test-fixture", "/memtype-test-fixture/inner"]
    inner = cs.groups["/memtype-test-fixture/inner"]
    stat = _stat(V1_ROOT, "sys/fs/cgroup/memory/memtype-test-fixture/inner")
    assert inner.stat == stat and stat["total_rss"] == 32 * MiB  # own and total_* fields, whole
    assert (inner.current, inner.kmem, inner.limit) == (67895296, 671744, None)  # limit: PAGE_COUNTER_MAX
    assert inner.memsw_limit is None  # unlimited too
    assert inner.memsw is None  # memory.stat has the swap counter: memsw.usage is not needed
    assert inner.events == {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 0}  # memory.oom_control
    assert (inner.high, inner.swap_current, inner.swap_limit, inner.pressure) == (None,) * 4  # v2 only
    assert cs.groups["/memtype-test-fixture"].limit == 256 * MiB
    top = cs.groups["/"]
    assert top.kmem is None  # not read at the v1 root (its usage holds no kmem)
    assert top.pressure is not None and "some" in top.pressure  # the machine's, from the v2 root beside


def test_issue10_no_hierarchy_leaves_cgroups_none() -> None:
    assert read_system(str(GPU_ROOT), cgroups=True).cgroups is None  # the capture has no sys/fs/cgroup
    assert read_system(str(V2_ROOT)).cgroups is None  # not asked for
    assert read_sample(str(V2_ROOT), smaps=False).cgroups is None
    assert derive(read_sample(str(GPU_ROOT), cgroups=True)).cgroups is None


def test_issue10_a_cgroup_removed_mid_read_is_skipped_not_an_error(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    """One cgroup listed but gone before its memory.stat, one removed after it: both skipped and counted."""
    copy = tmp_path / "root"
    shutil.copytree(V2_ROOT, copy)
    real_children, real_text = cgmod.CgroupFiles.children, cgmod.CgroupFiles.text
    monkeypatch.setattr(cgmod.CgroupFiles, "children", lambda self, path: real_children(self, path) + (
        ["/vanished"] if path == "/" else []))

    def vanishing(self: cgmod.CgroupFiles, path: str, name: str) -> str:
        if path == "/process_api/core" and name == "cgroup.procs":  # removed after its memory.stat was read
            shutil.rmtree(Path(self.root.path) / self.rel(path))
        return real_text(self, path, name)

    monkeypatch.setattr(cgmod.CgroupFiles, "text", vanishing)
    with Root(str(copy)) as root:
        cs = read_cgroups_sample(root)
    assert cs.gone == 2 and list(cs.groups) == ["/", "/process_api", WORKLOAD]


# -- derive: the records of `memtype cgroups` -------------------------------------------------------------

@pytest.mark.parametrize("root", [V2_ROOT, V1_ROOT], ids=["v2", "v1"])
def test_issue10_derived_tree_is_the_cgroups_commands(root: Path) -> None:
    """derive(read_sample(cgroups=True)).cgroups == read_cgroups + attach_members of a scan: every figure."""
    model = derive(read_sample(str(root), cgroup=True, cgroups=True))
    with Root(str(root)) as r:
        tree = read_cgroups(r)
        attach_members(tree, scan(r, cgroup=True), r)
    assert _records(model.cgroups) == _records(tree)
    assert model.cgroups is not None and model.cgroups.hierarchy.as_dict() == tree.hierarchy.as_dict()


def test_issue10_derive_from_a_stored_sample_needs_no_root() -> None:
    """The v1-hybrid model fixture (a stored Sample) derives to the same tree as the root it came from."""
    stored = get_sample_model("v1-hybrid")
    live = derive(read_sample(str(V1_ROOT), cgroup=True, cgroups=True))
    assert _records(stored.cgroups) == _records(live.cgroups)
    inner = {c.path: c for c in stored.cgroups.cgroups}["/memtype-test-fixture/inner"]  # type: ignore[union-attr]
    assert inner.categories == {"anonymous": 32 * MiB, "shared": 16 * MiB, "file": 16 * MiB}
    assert inner.members.count == 1


def test_issue10_sampler_reads_cgroups_when_asked() -> None:
    with Sampler(str(V2_ROOT), cgroups=True, cgroup=True) as s:
        model = s.tick()
    assert model.sample.cgroups is not None and model.cgroups is not None
    assert [c.path for c in model.cgroups.cgroups] == ["/", "/process_api", WORKLOAD, "/process_api/core"]
    with Sampler(str(V2_ROOT)) as s:
        assert s.tick().cgroups is None


# -- storing: to_dict / from_dict --------------------------------------------------------------------------

@pytest.mark.parametrize("root", [V2_ROOT, V1_ROOT], ids=["v2", "v1"])
def test_issue11_cgroups_round_trip(root: Path) -> None:
    sample = read_sample(str(root), cgroup=True, cgroups=True)
    doc = json.loads(json.dumps(to_dict(sample)))
    back = from_dict(doc)
    assert back == sample and back.cgroups == sample.cgroups and back.cgroups is not None
    first = next(iter(doc["cgroups"]["groups"].values()))
    assert "kmem" not in first and "problems" not in first  # None and empty fields are left out


def test_issue11_an_old_dict_without_cgroups_loads_as_none() -> None:
    doc = to_dict(read_sample(str(V2_ROOT), cgroups=True))
    del doc["cgroups"]
    assert from_dict(doc).cgroups is None
    stored = json.loads((MODELS / "gpu-dataloader.json").read_text())
    stored.pop("cgroups", None)
    assert from_dict(stored).cgroups is None


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.update(version=3), "cgroup version 3"),
    (lambda c: c["groups"].update({"no-slash": {}}), "cgroup path 'no-slash'"),
    (lambda c: c["groups"]["/"].update(nonsense=1), "no field 'nonsense'"),
    (lambda c: c["groups"]["/"].update(current="12"), "not an integer: '12'"),
    (lambda c: c["groups"]["/"].update(current=True), "not an integer: True"),
    (lambda c: c["groups"]["/"]["stat"].update(anon=1.5), "not an integer: 1.5"),
    (lambda c: c["groups"]["/"].update(procs=["1"]), "not an integer: '1'"),
    (lambda c: c.pop("groups"), "KeyError"),
    (lambda c: c.update(groups=[1, 2]), "AttributeError"),  # a list for a dict
    (lambda c: c["groups"].update({"/": [1]}), "cgroup /: not an object"),
    (lambda c: c["groups"]["/"].update(stat=[1]), "AttributeError"),
    (lambda c: c["groups"]["/"].update(pressure="some"), "AttributeError"),
    (lambda c: c["groups"]["/"].update(procs=7), "TypeError"),
])
def test_issue11_damaged_cgroups_are_one_value_error(change: Any, message: str) -> None:
    doc = json.loads(json.dumps(to_dict(read_sample(str(V2_ROOT), smaps=False, cgroups=True))))
    change(doc["cgroups"])
    with pytest.raises(ValueError, match="damaged memtype-sample/1 document") as err:
        from_dict(doc)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_issue11_model_fixtures_are_current() -> None:
    for case in make_models.CASES:
        stored = json.loads((MODELS / f"{case}.json").read_text())
        assert stored == make_models.model_doc(case), f"stale {case}: python tests/fixtures/models/make.py"


def test_issue10_records_are_read_only() -> None:
    cs = CgroupsSample(2, "sys/fs/cgroup", False, {"/": CgroupSample("/", {"anon": 1})})
    with pytest.raises(AttributeError, match="read-only"):
        cs.groups["/"].current = 1  # type: ignore[misc]
    assert cs.groups["/"].replace(current=5).current == 5 and cs.groups["/"].current is None


def test_issue10_top_cgroup_view_has_one_code_path() -> None:
    """`memtype top`'s cgroup view: a Model with cgroups gives its own tree; one without (a sampler with
    cgroups off) has them read on demand, in the same steps: the same records."""
    from memtype.cli.commands.top import _cgroups

    with Root(str(V1_ROOT)) as r:
        read = _cgroups(r)
        assert read is not None
        with_cgroups = derive(read_sample(r, exe=True, cgroup=True, cgroups=True))
        assert read(with_cgroups) is with_cgroups.cgroups
        on_demand = read(derive(read_sample(r, exe=True, cgroup=True)))
    assert _records(on_demand) == _records(with_cgroups.cgroups)
    with Root(str(GPU_ROOT)) as r:
        assert _cgroups(r) is None  # no hierarchy: the view says so


def test_issue11_a_stored_sample_with_odd_cgroups_derives_with_warnings() -> None:
    """Stored cgroups are untrusted: a child without its parent, a memory.stat without LRU fields, a
    trailing slash, PIDs nobody has: a tree with unknowns and warnings, never an exception."""
    base = read_sample(str(V2_ROOT), cgroup=True, cgroups=True)
    odd = CgroupsSample(2, "sys/fs/cgroup", False, {
        "/": CgroupSample("/", None, problems=("memory.stat: missing",)),
        "/orphan/child/": CgroupSample("/orphan/child/", {"anon": 5}, current=9, limit=4, procs=(421, 99999)),
    }, gone=3)
    tree = derive(base.replace(cgroups=odd)).cgroups
    assert tree is not None and tree.gone == 3
    cg = {c.path: c for c in tree.cgroups}
    child = cg["/orphan/child/"]
    assert child.categories == {"anonymous": 5, "shared": None, "file": None} and child.other == 4
    assert (child.limit, child.effective_limit, child.members.pids) == (4, 4, [421])
    assert child.unread == {"not captured": 1} and 421 in cg["/"].members.pids  # the rest join / by their cgroup
    assert any("memory.stat lacks" in w for w in tree.warnings)
    assert any(w.startswith("cgroup /: memory.stat: missing") for w in tree.warnings)
