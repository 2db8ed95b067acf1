"""`memtype cgroups`: parsers on verbatim kernel text, readable names on real path shapes, the v2 tree
of the captured GPU host (``gpu-cgroups``), a v1 tree captured on this hybrid VM (``v1-hybrid``), and
the CLI: golden tables, JSON, sorting, errors; ``ps --group cgroup`` and the ps Cgroup column.

Expected numbers are the capture's own file contents (kernel-spec.md D.1, D.2 for the mapping).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype import Kind, Root
from memtype.collect import cgroups as cgmod
from memtype.collect.cgroups import attach_members, find_hierarchy, read_cgroups
from memtype.collect.scan import scan
from memtype.errors import MemtypeError
from memtype.model.cgroups import cgroup_label, component_name
from memtype.parse.cgroupfiles import parse_bytes, parse_keyed, parse_pressure, parse_procs
from memtype.parse.mountinfo import cgroup_mounts, parse_mountinfo
from memtype.parse.procfiles import memory_cgroup

from conftest import GPU_ROOT, HERE, ROOTS, Result

V2_ROOT = ROOTS / "gpu-cgroups"
V1_ROOT = ROOTS / "v1-hybrid"
GOLDEN = HERE / "golden"
WORKLOAD = "/process_api/904259aeb7c1b67fa4c503781a411935"
MiB = 1 << 20
Run = Callable[..., Result]


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 rewrites it (review the diff)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def _file(root: Path, rel: str) -> str:
    return (root / rel).read_text()


# -- parsers -------------------------------------------------------------------------------------------

def test_parse_keyed_on_v1_and_v2_stat_and_oom_control() -> None:
    v1 = _file(V1_ROOT, "sys/fs/cgroup/memory/memtype-test-fixture/memory.stat")
    stat = parse_keyed(v1)
    assert (stat["rss"], stat["total_rss"], stat["total_shmem"]) == (0, 32 * MiB, 16 * MiB)
    assert stat["hierarchical_memory_limit"] == 256 * MiB
    v2 = parse_keyed(_file(V2_ROOT, f"sys/fs/cgroup{WORKLOAD}/memory.stat"))
    assert (v2["anon"], v2["file"], v2["shmem"]) == (1421627392, 1000157184, 10829824)
    oom = parse_keyed(_file(V1_ROOT, "sys/fs/cgroup/memory/memory.oom_control"))
    assert oom == {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 0}
    assert parse_keyed("anon 1\nbogus line here\nfile x\n") == {"anon": 1}


@pytest.mark.parametrize(("text", "value"), [
    ("max\n", None),                       # v2: no limit
    ("9223372036854771712\n", None),       # v1: PAGE_COUNTER_MAX * 4 KiB (observed here)
    ("9223372036854710272\n", None),       # the same with 64 KiB pages
    ("137438953472\n", 137438953472),      # the capture's /process_api memory.max
    ("0\n", 0),
])
def test_parse_bytes_limits(text: str, value: int | None) -> None:
    page = 65536 if text.startswith("9223372036854710272") else 4096
    assert parse_bytes(text, page) == value


def test_parse_bytes_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_bytes("12k\n", 4096)


def test_parse_pressure_and_procs() -> None:
    p = parse_pressure("some avg10=1.50 avg60=0.20 avg300=0.00 total=123456\n"
                       "full avg10=0.75 avg60=0.10 avg300=0.00 total=6000\n")
    assert p.some == {"avg10": 1.5, "avg60": 0.2, "avg300": 0.0, "total": 123456}
    assert p.full is not None and p.full["total"] == 6000
    assert parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").full is None  # CPU-style file
    assert parse_procs(_file(V2_ROOT, f"sys/fs/cgroup{WORKLOAD}/cgroup.procs")) == [
        409, 413, 414, 415, 416, 421, 450, 451, 452, 453, 470, 471]


def test_parse_cgroup_mounts_hybrid_and_v2() -> None:
    hybrid = ("31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
              "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
              "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
              "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
              "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    mounts = cgroup_mounts(parse_mountinfo(hybrid))
    assert [(m.mountpoint, m.version, m.memory) for m in mounts] == [
        ("/sys/fs/cgroup/cpu", 1, False), ("/sys/fs/cgroup/memory", 1, True), ("/sys/fs/cgroup/systemd", 1, False),
        ("/sys/fs/cgroup/unified", 2, False)]
    v2 = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    assert [(m.mountpoint, m.version) for m in cgroup_mounts(parse_mountinfo(v2))] == [("/sys/fs/cgroup", 2)]


def test_memory_cgroup_of_a_hybrid_process() -> None:
    """On a hybrid host /proc/PID/cgroup lists both; the v1 memory line wins over ``0::/``."""
    (pid_dir,) = (V1_ROOT / "proc").glob("[0-9]*")
    assert memory_cgroup((pid_dir / "cgroup").read_text()) == "/memtype-test-fixture/inner"
    assert memory_cgroup(_file(V2_ROOT, "proc/421/cgroup")) == WORKLOAD


# -- readable names ------------------------------------------------------------------------------------

CID = "1a2b3c4d5e6f" + "0" * 52
UID = "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"


@pytest.mark.parametrize(("path", "label"), [
    ("/", "/"),
    (None, "?"),
    (f"/docker/{CID}", "docker:1a2b3c4d5e6f"),                                     # docker, cgroupfs driver
    (f"/system.slice/docker-{CID}.scope", "docker:1a2b3c4d5e6f"),                  # docker, systemd driver
    (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID.replace('-', '_')}.slice/"
     f"cri-containerd-{CID}.scope", "pod:0c1d2e3f/containerd:1a2b3c4d5e6f"),
    (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID.replace('-', '_')}.slice/"
     f"crio-{CID}.scope", "pod:0c1d2e3f/crio:1a2b3c4d5e6f"),
    (f"/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/crio-conmon-{CID}.scope",
     "pod:0c1d2e3f/crio-conmon:1a2b3c4d5e6f"),                                     # guaranteed QoS, conmon
    (f"/kubepods/burstable/pod{UID}/{CID}", "pod:0c1d2e3f/ctr:1a2b3c4d5e6f"),      # kubelet cgroupfs driver
    (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID.replace('-', '_')}.slice",
     "pod:0c1d2e3f"),
    ("/kubepods.slice/kubepods-burstable.slice", "unit:kubepods-burstable.slice"),
    (f"/machine.slice/libpod-{CID}.scope", "podman:1a2b3c4d5e6f"),
    (f"/machine.slice/libpod-{CID}.scope/container", "podman:1a2b3c4d5e6f/container"),
    (f"/libpod_parent/libpod-{CID}", "podman:1a2b3c4d5e6f"),
    (f"/docker/{CID}/system.slice/nginx.service", "docker:1a2b3c4d5e6f/system.slice/nginx.service"),
    ("/system.slice/nginx.service", "unit:nginx.service"),
    ("/system.slice", "unit:system.slice"),
    ("/user.slice/user-1000.slice/session-3.scope", "user:1000/session-3.scope"),
    ("/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1.scope",
     "user:1000/vte-spawn-1.scope"),
    ("/user.slice/user-1000.slice", "user:1000"),
    ("/lxc.payload.web1", "lxc:web1"),
    ("/lxc/web1", "lxc:web1"),
    (WORKLOAD, "/process_api/904259aeb7c1"),                                       # the GPU capture: long id cut
    ("/memtype-test-fixture/inner", "/memtype-test-fixture/inner"),
])
def test_cgroup_label_on_real_shapes(path: str | None, label: str) -> None:
    assert cgroup_label(path) == label


def test_component_names_for_the_tree() -> None:
    assert component_name(f"docker-{CID}.scope", "system.slice") == ("container", "docker:1a2b3c4d5e6f")
    assert component_name(CID, "docker") == ("container", "docker:1a2b3c4d5e6f")
    assert component_name("nginx.service", "system.slice") == ("unit", "nginx.service")
    assert component_name("904259aeb7c1b67fa4c503781a411935", "process_api") == ("plain", "904259aeb7c1")


# -- collection: v2 (GPU capture) ------------------------------------------------------------------------

def test_v2_capture_tree_maps_memory_stat_onto_kinds() -> None:
    with Root(str(V2_ROOT)) as root:
        h = find_hierarchy(root)
        tree = read_cgroups(root, h)
    assert (h.version, h.rel, h.hybrid) == (2, "sys/fs/cgroup", False)
    assert [cg.path for cg in tree.cgroups] == ["/", "/process_api", WORKLOAD, "/process_api/core"]
    cg = {c.path: c for c in tree.cgroups}
    w = cg[WORKLOAD]
    assert (w.version, w.hierarchical, w.charged, w.swap, w.limit) == (2, True, 2456543232, 0, None)
    assert w.categories == {"anonymous": 1421627392, "shared": 10829824, "file": 1000157184 - 10829824}
    assert (w.kernel, w.swapcached) == (32489472, 0)
    assert w.other == 2456543232 - 1421627392 - 1000157184 - 32489472  # = 2.2 MiB: per-CPU charge batches
    assert w.effective_limit == 137438953472 == cg["/process_api"].limit  # 128 GiB, set on the parent
    assert w.oom_kills is None  # the capture has no memory.events
    assert w.pressure is not None and w.pressure.some == {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0}
    assert w.pids == [409, 413, 414, 415, 416, 421, 450, 451, 452, 453, 470, 471]
    top = cg["/"]
    assert top.charged is None and top.other is None and top.limit is None  # the root has no memory.current
    assert top.categories["anonymous"] == 1422544896
    assert cg["/process_api/core"].pids == [1]


def test_v2_members_sum_the_subtree_processes() -> None:
    with Root(str(V2_ROOT)) as root:
        tree = read_cgroups(root)
        result = scan(root, cgroup=True)
        attach_members(tree, result, root)
    cg = {c.path: c for c in tree.cgroups}
    w, api, top = cg[WORKLOAD], cg["/process_api"], cg["/"]
    read = [p for p in result.processes if p.pid in w.pids]
    assert sorted(w.members.pids) == sorted(p.pid for p in read) == [409, 415, 421, 450, 451, 452, 453, 471]
    assert w.members.totals.pss == sum(p.totals.pss for p in read)
    for k in Kind:
        assert w.members.categories[k].pss == sum(p.categories[k].pss for p in read)
    assert w.unread == {"not captured": 4}  # 413 414 416 470: trimmed from the fixture
    assert api.members.totals.pss == w.members.totals.pss and api.members.count == 8  # hierarchical
    assert api.unread == {"not captured": 5}  # + PID 1 in /process_api/core (its smaps was unreadable)
    assert top.unread["not captured"] > 100  # the kernel threads the trimmed capture left out
    # Charged vs the processes' view (spec D.3): anon + COW of the workers ~ the cgroup's anon (each
    # physical page once), while most of the page cache the dataset read is mapped by nobody.
    anon_cow = w.members.categories[Kind.ANONYMOUS].pss + w.members.categories[Kind.COW].pss
    assert w.categories["anonymous"] is not None
    assert abs(anon_cow - w.categories["anonymous"]) < 0.02 * w.categories["anonymous"]
    assert w.members.categories[Kind.FILE].pss < (w.categories["file"] or 0) / 3


def test_v2_cgroup_without_memory_controller_joins_its_parent(tmp_path: Path) -> None:
    """A v2 child cgroup without memory.stat (memory not in the parent's subtree_control) is charged to
    the parent: it is not listed, its processes are summed into the parent, and it is not "gone"."""
    root_dir = tmp_path / "root"
    shutil.copytree(V2_ROOT, root_dir)  # symlinks followed: a self-contained copy
    sub = root_dir / "sys/fs/cgroup/process_api/core/nomem"
    sub.mkdir()
    (sub / "cgroup.procs").write_text("471\n")
    w = root_dir / f"sys/fs/cgroup{WORKLOAD}/cgroup.procs"
    w.write_text("\n".join(x for x in w.read_text().split() if x != "471") + "\n")
    (root_dir / "proc/471/cgroup").write_text("0::/process_api/core/nomem\n")
    with Root(str(root_dir)) as root:
        tree = read_cgroups(root)
        attach_members(tree, scan(root, cgroup=True), root)
    cg = {c.path: c for c in tree.cgroups}
    assert "/process_api/core/nomem" not in cg and tree.gone == 0
    assert cg["/process_api/core"].members.pids == [471]


def test_a_cgroup_removed_while_walking_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    real = cgmod.CgroupFiles.children
    monkeypatch.setattr(cgmod.CgroupFiles, "children", lambda self, path: real(self, path) + (
        ["/vanished"] if path == "/" else []))
    with Root(str(V2_ROOT)) as root:
        tree = read_cgroups(root)
    assert tree.gone == 1 and len(tree.cgroups) == 4


# -- collection: v1 (this hybrid VM) ---------------------------------------------------------------------

def test_v1_capture_uses_total_fields_limits_and_kmem() -> None:
    with Root(str(V1_ROOT)) as root:
        h = find_hierarchy(root)
        tree = read_cgroups(root, h)
        attach_members(tree, scan(root, cgroup=True), root)
    assert (h.version, h.rel, h.hybrid) == (1, "sys/fs/cgroup/memory", True)  # unified/ has only hugetlb
    cg = {c.path: c for c in tree.cgroups}
    outer, inner, top = cg["/memtype-test-fixture"], cg["/memtype-test-fixture/inner"], cg["/"]
    # the workload: 32 MiB anon, 16 MiB memfd, 16 MiB file page cache, all written by the child in inner
    for c in (outer, inner):
        assert (c.version, c.hierarchical) == (1, True)
        assert c.categories == {"anonymous": 32 * MiB, "shared": 16 * MiB, "file": 16 * MiB}
        assert (c.swap, c.swapcached, c.oom_kills) == (0, 0, 0)  # swap from total_swap (memsw present)
    assert outer.self_categories == {"anonymous": 0, "shared": 0, "file": 0}  # non-total: its own pages
    assert inner.self_categories == inner.categories
    assert (outer.limit, inner.limit, inner.effective_limit) == (256 * MiB, None, 256 * MiB)
    assert (inner.charged, inner.kernel) == (67895296, 671744)  # usage_in_bytes, kmem.usage_in_bytes
    assert inner.other == 67895296 - 64 * MiB - 671744
    assert (outer.pids, len(inner.pids)) == ([], 1)
    assert inner.members.count == 1 and inner.members.categories[Kind.SHARED].pss == 16 * MiB
    assert top.kernel is None  # v1 root usage is rss + cache only (no kmem): see cgroups.py
    assert top.pressure is not None  # the machine's PSI, from the v2 root beside it


def test_v1_swap_falls_back_to_memsw_minus_usage(tmp_path: Path) -> None:
    root_dir = tmp_path / "root"
    shutil.copytree(V1_ROOT, root_dir)
    d = root_dir / "sys/fs/cgroup/memory/memtype-test-fixture/inner"
    stat = (d / "memory.stat").read_text().splitlines()
    (d / "memory.stat").write_text("\n".join(x for x in stat if "swap " not in x) + "\n")
    (d / "memory.memsw.usage_in_bytes").write_text(str(67895296 + 3 * MiB) + "\n")
    with Root(str(root_dir)) as root:
        cg = {c.path: c for c in read_cgroups(root).cgroups}
    assert cg["/memtype-test-fixture/inner"].swap == 3 * MiB


def test_no_memory_hierarchy_is_one_error(run_cli: Run) -> None:
    with Root(str(GPU_ROOT)) as root, pytest.raises(MemtypeError, match="no memory cgroup hierarchy"):
        find_hierarchy(root)
    r = run_cli("cgroups", "--root", str(GPU_ROOT))
    assert r.code == 1 and r.out == ""
    assert r.err.startswith("memtype: error: no memory cgroup hierarchy") and r.err.count("\n") == 1


# -- CLI -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "root", "args"), [
    ("cgroups-100.txt", V2_ROOT, ["--width", "100"]),
    ("cgroups-tree-100.txt", V2_ROOT, ["--tree", "--width", "100"]),
    ("cgroups-80.txt", V2_ROOT, ["--width", "80"]),
    ("cgroups-v1-tree-100.txt", V1_ROOT, ["--tree", "--width", "100"]),
])
def test_golden_cgroup_tables(run_cli: Run, name: str, root: Path, args: list[str]) -> None:
    r = run_cli("cgroups", "--root", str(root), *args)
    assert r.code == 0, r.err
    check_golden(name, r.out)
    width = int(args[args.index("--width") + 1])
    assert max(len(line) for line in r.out.splitlines()) <= width


def test_golden_ps_has_a_cgroup_column(run_cli: Run) -> None:
    r = run_cli("ps", "--root", str(V2_ROOT), "--width", "120", "--cgroup")
    assert r.code == 0, r.err
    check_golden("ps-cgroup-120.txt", r.out)
    assert "Cgroup" in r.out and "/process_api/904259aeb7c1" in r.out
    plain = run_cli("ps", "--root", str(GPU_ROOT), "--width", "120").out  # no cgroup files: no column
    assert "Cgroup" not in plain


def test_cgroups_json_schema(run_cli: Run) -> None:
    r = run_cli("cgroups", "--root", str(V2_ROOT), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["schema"] == "memtype/2" and doc["hierarchy"] == {"version": 2, "mount": "/sys/fs/cgroup",
                                                                 "hybrid": False}
    assert any("first touched" in n for n in doc["notes"])
    items = doc["cgroups"]
    assert [c["path"] for c in items] == ["/process_api", WORKLOAD, "/process_api/core", "/"]  # by charged
    for c in items:
        assert c["path"].startswith("/") and c["version"] == 2 and c["hierarchical"] is True
        assert set(c["categories"]) == {"anonymous", "shared", "file"}
        assert c["limit"] is None or isinstance(c["limit"], int)
        assert isinstance(c["charged"], int) or c["path"] == "/"
        assert all(isinstance(p, int) for p in c["pids"])
        assert set(c["processes"]["categories"]) == {k.value for k in Kind}
    w = items[1]
    assert (w["name"], w["charged"], w["swap"], w["limit"], w["effective_limit"]) == (
        "/process_api/904259aeb7c1", 2456543232, 0, None, 137438953472)
    assert w["processes"]["count"] == 8 and w["processes"]["unread"] == {"not captured": 4}
    assert "self_categories" not in w  # v1 only


def test_cgroups_sort_top_tree_and_no_processes(run_cli: Run) -> None:
    def paths(*args: str) -> list[str]:
        r = run_cli("cgroups", "--root", str(V2_ROOT), "--format", "json", *args)
        assert r.code == 0, r.err
        return [c["path"] for c in json.loads(r.out)["cgroups"]]

    assert paths("--sort", "name")[0] == "/"
    assert paths("--sort", "file", "--top", "1") == ["/"]  # the root's stat has the most page cache
    assert paths("--sort", "cow.pss")[0] in ("/", "/process_api", WORKLOAD)
    assert paths("--tree") == ["/", "/process_api", WORKLOAD, "/process_api/core"]
    doc = json.loads(run_cli("cgroups", "--root", str(V2_ROOT), "--format", "json", "--no-processes").out)
    assert "processes" not in doc["cgroups"][0] and doc["summary"]["processes"] == 0
    r = run_cli("cgroups", "--root", str(V2_ROOT), "--sort", "bogus")
    assert r.code == 2 and r.err.count("\n") == 1 and "unknown sort column" in r.err  # as `ps --sort`: usage
    r = run_cli("cgroups", "--root", str(V2_ROOT), "--top", "0")
    assert r.code == 2 and "memtype: error:" in r.err
    assert "not in the capture" in run_cli("cgroups", "--root", str(V2_ROOT)).err


def test_ps_group_cgroup_uses_the_label(run_cli: Run) -> None:
    r = run_cli("ps", "--root", str(V2_ROOT), "--group", "cgroup", "--format", "json")
    groups = json.loads(r.out)["groups"]
    assert [(g["cgroup"], g["count"]) for g in groups] == [("/process_api/904259aeb7c1", 8)]
    doc = json.loads(run_cli("ps", "--root", str(V2_ROOT), "--format", "json", "--pid", "421", "--cgroup").out)
    assert doc["processes"][0]["cgroup"] == WORKLOAD


def test_every_cgroup_has_reclaim_classes_in_json(run_cli: Callable[..., Result]) -> None:
    """Issue 4: a ``reclaim`` object with drop/writeback/swap/never on each cgroup (no swap in the capture:
    anon and shmem are ``never``)."""
    doc = json.loads(run_cli("cgroups", "--root", str(ROOTS / "gpu-cgroups"), "--format", "json",
                             "--no-processes").out)
    for cg in doc["cgroups"]:
        assert set(cg["reclaim"]) == {"drop", "writeback", "swap", "never"}, cg["path"]
        assert cg["reclaim"]["swap"] == 0
