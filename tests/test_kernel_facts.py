"""Issue 8: one implementation of each kernel fact. The parsers (mountinfo, zoneinfo, maps, the process's
cgroup line) are pure functions tested on verbatim text, and every reader uses them."""

from __future__ import annotations

import ast
import tarfile
from pathlib import Path

import pytest

from memtype.parse.maps import file_mappings, parse_maps
from memtype.parse.mountinfo import cgroup_mounts, mount_types, parse_mountinfo, shmem_devices
from memtype.parse.procfiles import memory_cgroup
from memtype.parse.zoneinfo import high_watermark_pages, parse_zoneinfo, pcp_free_pages

from conftest import SHARED_SNAPSHOT

SRC = Path(__file__).parent.parent / "src" / "memtype"

# /proc/self/mountinfo of this VM (6.18, cgroup v1 memory beside a v2 mount: "hybrid"), verbatim, plus a
# mount point holding a blank (the kernel writes it as \040).
MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683568k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 27 0:300 /sub /mnt/with\\040space rw shared:7 master:2 - tmpfs none rw
garbage line
51 27 x:1 / /bad rw - ext4 /dev/x rw
"""

# /proc/zoneinfo of the shared GPU capture, zone Normal, verbatim but for the nr_*/numa_* lines left out.
ZONEINFO = """\
Node 0, zone      DMA
  pages free     2816
        boost    0
        min      3
        low      6
        high     9
  pagesets
    cpu: 0
              count:    0
              high:     0
              batch:    1
  vm stats threshold: 4
Node 0, zone   Normal
  pages free     16401
        boost    0
        min      9295
        low      11618
        high     13941
        promo    16264
        spanned  32768000
        present  32768000
        managed  950272
        cma      0
        protection: (0, 0, 0, 0, 0)
  pagesets
    cpu: 0
              count:    6948
              high:     42727
              batch:    63
              high_min: 5200
              high_max: 47104
  vm stats threshold: 24
    cpu: 1
              count:    11244
              high:     34549
              batch:    63
  vm stats threshold: 24
  node_unreclaimable:  0
  start_pfn:           1048576
Node 0, zone  Movable
  pages free     0
        boost    12
        min      0
        low      0
        high     32
"""

# /proc/421/maps of the shared GPU capture (verbatim lines), and two damaged ones.
MAPS = """\
200600000-200800000 rw-s 00000000 00:06 143                              /dev/nvidia0
5581b0c00000-5581b0c2d000 r--p 00000000 fe:00 264062                     /usr/bin/python3.11
7f3a00000000-7f3a00021000 rw-p 00000000 00:00 0 
7f3a10000000-7f3a10100000 rw-s 00000000 00:01 1050                       /memfd:shm (deleted)
7ffd5a1e4000-7ffd5a205000 rw-p 00000000 00:00 0                          [stack]
7f3a20000000-7f3a20001000 r--p 00000000 fe:00 77 /tmp/a file with blanks
zzzz-7f3a20001000 r--p 00000000 fe:00 77 /x
7f3a20002000-7f3a20001000 r--p 00000000 fe:00 77 /start-above-end
"""


def test_issue8_one_mountinfo_parser() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert len(mounts) == 9  # the garbage line and the bad device are left out
    spaced = mounts[-1]
    assert (spaced.mountpoint, spaced.root, spaced.fstype, spaced.source) == ("/mnt/with space", "/sub", "tmpfs",
                                                                               "none")
    assert (spaced.major, spaced.minor, spaced.smaps_dev) == (0, 300, "00:12c")
    assert shmem_devices(mounts) == frozenset({"00:17", "00:1c", "00:12c"})
    types = mount_types(mounts)
    assert types[(254, 0)] == "ext4" and types[(0, 21)] == "proc"
    cg = [(m.mountpoint, m.version, m.memory) for m in cgroup_mounts(mounts)]
    assert cg == [("/sys/fs/cgroup/cpu", 1, False), ("/sys/fs/cgroup/memory", 1, True),
                  ("/sys/fs/cgroup/systemd", 1, False), ("/sys/fs/cgroup/unified", 2, False)]


def test_issue8_one_zoneinfo_parser() -> None:
    zones = parse_zoneinfo(ZONEINFO)
    assert [(z.node, z.name) for z in zones] == [(0, "DMA"), (0, "Normal"), (0, "Movable")]
    normal = zones[1]
    assert (normal.free, normal.min, normal.low, normal.high, normal.managed) == (16401, 9295, 11618, 13941, 950272)
    assert normal.pcp_count == 6948 + 11244  # a pageset's "high:" is its list limit, not the watermark
    assert pcp_free_pages(zones) == 6948 + 11244
    assert high_watermark_pages(zones) == 9 + 13941 + 32 + 12  # high_wmark_pages(): high + boost


def test_issue8_zoneinfo_of_the_shared_capture() -> None:
    """The whole file of the shared capture: the pagesets' counts (awk '$1=="count:"') and watermarks."""
    if not SHARED_SNAPSHOT.exists():
        pytest.skip("shared/fixtures is not here")
    with tarfile.open(SHARED_SNAPSHOT) as tar:
        member = tar.extractfile("snap/proc/zoneinfo")
        assert member is not None
        text = member.read().decode()
    zones = parse_zoneinfo(text)
    assert len(zones) == 5 and pcp_free_pages(zones) == 15262 and high_watermark_pages(zones) == 25371


def test_issue8_maps_parser() -> None:
    lines = parse_maps(MAPS)
    assert [m.path for m in lines] == ["/dev/nvidia0", "/usr/bin/python3.11", "", "/memfd:shm (deleted)", "[stack]",
                                       "/tmp/a file with blanks"]
    first = lines[0]
    assert (first.start, first.end, first.range, first.perms, first.offset, first.dev, first.inode) == (
        0x200600000, 0x200800000, "200600000-200800000", "rw-s", 0, "00:06", 143)
    assert [m.path for m in file_mappings(lines)] == ["/dev/nvidia0", "/usr/bin/python3.11", "/memfd:shm (deleted)",
                                                      "/tmp/a file with blanks"]


def test_issue8_memory_cgroup_line() -> None:
    assert memory_cgroup("0::/process_api/904259aeb7c1b67fa4c503781a411935\n") == \
        "/process_api/904259aeb7c1b67fa4c503781a411935"
    hybrid = "9:name=systemd:/\n4:memory:/process_api/6c4f\n1:cpu:/\n0::/\n"
    assert memory_cgroup(hybrid) == "/process_api/6c4f"  # the v1 memory line wins
    assert memory_cgroup("garbage\n") is None


def _defs(tree: ast.AST) -> set[str]:
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def test_issue8_no_second_parser_in_collect() -> None:
    """The parsers the review found in collect/ (and the second zoneinfo one) are gone from there."""
    gone = {"collect/process.py": {"memory_cgroup"}, "collect/pressure.py": {"_keyed", "memory_hierarchy", "_number"},
            "collect/filesystems.py": {"parse_mount_types"}, "collect/system.py": {"pcp_free_pages"},
            "parse/swapfiles.py": {"parse_zone_high"}, "parse/procfiles.py": {"parse_mountinfo_shmem_devs"},
            "parse/cgroupfiles.py": {"parse_cgroup_mounts", "Mount"}}
    for rel, names in gone.items():
        defined = _defs(ast.parse((SRC / rel).read_text()))
        assert not names & defined, (rel, names & defined)
    for path in (SRC / "collect").rglob("*.py"):
        text = path.read_text()
        assert '" - "' not in text and "mountinfo\", encoding" not in text, path  # no mountinfo splitting
        assert '"count"' not in text and "\"high\"" not in text, path  # no zoneinfo lines


# ------------------------------------------------------------------ the page size comes from the kernel
def _pages_of(root: Path, kib: int) -> None:
    """Make a capture's smaps say ``kib`` KiB pages (KernelPageSize, MMUPageSize), as arm64 64K kernels do."""
    for smaps in root.glob("proc/*/smaps"):
        text = smaps.read_text()
        for name in ("KernelPageSize:", "MMUPageSize:"):
            text = text.replace(f"{name:<16}{4:>8} kB", f"{name:<16}{kib:>8} kB")
        smaps.write_text(text)


ZONE_64K = ("Node 0, zone   Normal\n  pages free     16384\n        boost    0\n        high     1024\n"
            "  pagesets\n    cpu: 0\n              count:    100\n              high:     500\n")


def test_issue8_page_size_of_a_64k_capture(tmp_path: Path) -> None:
    from memtype import Root
    from memtype.collect.pressure import pressure
    from memtype.collect.scan import host_info
    from memtype.collect.system import system_memory

    from test_reclaim import synthetic_root

    base = synthetic_root(tmp_path)
    _pages_of(base, 64)
    (base / "proc/zoneinfo").write_text(ZONE_64K)
    with Root(str(base)) as root:
        host = host_info(root)
        assert host.page_size == 65536 and host.page_size_note is None  # from smaps KernelPageSize
        sm = system_memory(root, processes=False)
        assert sm.detail["free.per_cpu"] == 100 * 65536
        rep = pressure(root, 64 << 20, file_folio=1)
        assert rep.free == 1048576 * 1024 - 1024 * 65536  # MemFree above the high watermark, 64K pages
        assert all(n % 65536 == 0 for n in rep.prediction.taken.values())
        assert not any("page size" in n for n in rep.notes)
    (base / "manifest.json").write_text('{"page_size": 16384}')  # snapshot's record wins
    with Root(str(base)) as root:
        assert host_info(root).page_size == 16384


def test_issue8_page_size_unknown_is_4k_with_a_note(tmp_path: Path) -> None:
    from memtype import Root, scan
    from memtype.collect.pressure import pressure

    from test_reclaim import synthetic_root

    base = synthetic_root(tmp_path)
    for smaps in base.glob("proc/*/smaps"):
        smaps.write_text("".join(line + "\n" for line in smaps.read_text().splitlines()
                                 if not line.startswith(("KernelPageSize", "MMUPageSize"))))
    with Root(str(base)) as root:
        result = scan(root)
        assert result.host.page_size == 4096
        assert any("4096 bytes assumed" in w for w in result.warnings)
        assert any("4096 bytes assumed" in n for n in pressure(root, 1 << 20, file_folio=1).notes)


def test_issue8_no_page_size_literal_in_the_models() -> None:
    for rel in ("model/pressure.py", "model/reclaim.py", "model/files.py", "collect/pressure.py"):
        tree = ast.parse((SRC / rel).read_text())
        literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == 4096]
        assert not literals, rel
