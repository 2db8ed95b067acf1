"""Issue 8, race policy on a live memory hierarchy: a cgroup removed while `memtype cgroups` walks the
tree is skipped and counted, never an exit 1. The kernel's answer to reading a removed cgroup's open
file is ENODEV (kernfs deactivates the node; observed here on 6.18 v1), which the race policy must take
for "gone" as it takes ENOENT."""

from __future__ import annotations

import errno
import os
import sys
import uuid
from collections.abc import Iterator

import pytest

from memtype import Root
from memtype.collect import cgroups as cgmod
from memtype.collect.cgroups import read_cgroups

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

V1 = "/sys/fs/cgroup/memory"


@pytest.fixture
def doomed() -> Iterator[tuple[str, str]]:
    """A fresh v1 memory cgroup with one child, removed afterwards whatever happened: (path, child)."""
    if os.geteuid() != 0 or not os.path.isfile(f"{V1}/memory.stat"):
        pytest.skip("needs root and the v1 memory controller (this VM's layout)")
    parent = f"{V1}/memtype-race-{uuid.uuid4().hex[:10]}"
    child = f"{parent}/gone"
    os.mkdir(parent)
    os.mkdir(child)
    try:
        yield parent, child
    finally:
        for d in (child, parent):
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass


def test_issue8_live_enodev_after_rmdir(doomed: tuple[str, str]) -> None:
    """The kernel fact: an open memory.stat of a removed cgroup reads ENODEV."""
    _, child = doomed
    fd = os.open(f"{child}/memory.stat", os.O_RDONLY)
    try:
        os.rmdir(child)
        with pytest.raises(OSError) as info:
            os.read(fd, 4096)
        assert info.value.errno == errno.ENODEV
    finally:
        os.close(fd)


@pytest.mark.parametrize("when", ["before open", "after open"])
def test_issue8_live_cgroup_removed_while_walking(doomed: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
                                                  when: str) -> None:
    parent, child = doomed
    rel_child = "/" + os.path.relpath(child, V1)
    real = cgmod.CgroupFiles.text

    def racing(self: cgmod.CgroupFiles, path: str, name: str) -> str:
        if path != rel_child or name != "memory.stat":
            return real(self, path, name)
        rel = f"{self.rel(path)}/{name}"
        if when == "before open":
            os.rmdir(child)
            return real(self, path, name)  # ENOENT
        fd = self.root.open_fd(rel)
        try:
            os.rmdir(child)
            try:
                data = os.read(fd, 1 << 16)  # ENODEV: Root.read_bytes between its open and read
            except OSError as exc:
                raise self.root.read_error(exc, rel) from None
        finally:
            os.close(fd)
        return data.decode()

    monkeypatch.setattr(cgmod.CgroupFiles, "text", racing)
    with Root("/") as root:
        tree = read_cgroups(root)
    paths = {cg.path for cg in tree.cgroups}
    assert "/" + os.path.relpath(parent, V1) in paths and rel_child not in paths
    assert tree.gone == 1 and not [w for w in tree.warnings if rel_child in w]


# ------------------------------------------------------------------ holders: the scan's race policy
def test_issue8_holders_use_the_race_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """A process that exits before its maps are read is gone, one whose fds are refused is denied (its
    mappings still count), a damaged read is skipped with a warning: no exception escapes scan_holders."""
    import subprocess

    from memtype.collect.holders import scan_holders
    from memtype.errors import AccessDenied, MemtypeError

    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    try:
        exits, refused, broken = (p.pid for p in sleepers)
        real_read, real_list = Root.read_text, Root.listdir

        def read_text(self: Root, rel: str, pid: int | None = None) -> str:
            if rel == f"proc/{exits}/maps":
                sleepers[0].kill()
                sleepers[0].wait()  # reaped: /proc/PID is gone
            if rel == f"proc/{broken}/maps":
                raise MemtypeError(f"cannot read {rel}: Input/output error")
            return real_read(self, rel, pid)

        def listdir(self: Root, rel: str, pid: int | None = None) -> list[str]:
            if rel == f"proc/{refused}/fd":
                raise AccessDenied(pid, rel)
            return real_list(self, rel, pid)

        monkeypatch.setattr(Root, "read_text", read_text)
        monkeypatch.setattr(Root, "listdir", listdir)
        with Root("/") as root:
            holders = scan_holders(root)
        assert holders.gone >= 1 and holders.denied >= 1
        assert holders.skipped.get("error", 0) >= 1 and any(str(broken) in w or "Input/output" in w
                                                            for w in holders.warnings)
        sleep_maps = [h for h in holders.files.values() if refused in h.mapped_by]
        assert sleep_maps  # the refused process's mappings are still counted
    finally:
        for p in sleepers:
            p.kill()
            p.wait()


def test_issue8_holders_have_no_raw_os_calls() -> None:
    import ast
    from pathlib import Path

    src = Path(__file__).parents[2] / "src/memtype/collect/holders.py"
    tree = ast.parse(src.read_text())
    handlers = [ast.unparse(h.type) for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.type]
    import memtype.errors

    policy = {name for name, v in vars(memtype.errors).items()
              if isinstance(v, type) and issubclass(v, memtype.errors.MemtypeError)}
    assert all(h in policy for h in handlers), handlers  # only the race policy's errors (MemtypeError and its kinds)
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not calls & {"os.stat", "os.listdir", "os.readlink", "open"}
