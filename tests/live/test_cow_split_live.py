"""Issue 8 item 9, kernel truth: copy-on-write has one definition in `ps` and `system`, and its file part
(page cache under a private writable file mapping, read but not written: droppable) is told from its
anonymous part (anon pages still shared after fork: swappable).

A child maps a 16 MiB file MAP_PRIVATE|PROT_WRITE and reads every page (no write), writes 16 MiB of
private anon memory, then forks. fork copies no PTEs of a file mapping without anon pages (the kid
faults them in when it touches them, mm/memory.c vma_needs_copy), so the parent alone maps the file's
pages: its cow file part is 16 MiB (PSS 16 MiB); the anon pages are mapped by both: each has 16 MiB of
cow anon (PSS 8 MiB).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

import memhelpers
from memhelpers import PAGE, Child
from memtype import Kind, ProcessMemory, Root, scan
from memtype.collect.system import machine_memory, system_memory
from test_kinds import disk_dir, disk_file, spawn  # noqa: F401  (fixtures)
from test_kinds import N, NOISE, SIZE, mapping_at

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)


def _made(spawn: Callable[[], Child], path: str) -> tuple[Child, int, int, int]:
    c = spawn()
    f = c.call("map_path", path, N, False, True)  # private, writable
    anon = c.call("map_anon", N)
    c.call("write", anon, N)
    kid = c.fork().pid
    c.call("read", f, N)  # after the fork: the parent's PTEs only; read faults, no write
    return c, kid, f, anon


def _scan(pids: list[int]) -> dict[int, ProcessMemory]:
    result = scan("/", pids=pids, mappings=True)
    return {p.pid: p for p in result.processes}


def test_issue8_cow_file_and_anon_parts_in_ps_and_system(spawn: Callable[[], Child],
                                                          disk_file: Callable[[int], str]) -> None:
    path = disk_file(N)
    c, kid, f, anon = _made(spawn, path)
    for _ in range(3):  # DAMON may drop idle page cache (test_kinds): read again and rescan
        procs = _scan([c.pid, kid])
        if memhelpers.smaps_entry(c.pid, f)["Rss"] == SIZE // 1024:
            break
        c.call("read", f, N)
    parent, child = procs[c.pid], procs[kid]
    fm, am, kid_am = mapping_at(parent, f), mapping_at(parent, anon), mapping_at(child, anon)
    # ps/maps: the file part and the anon part of cow, page-exact per mapping
    assert fm.mapclass == "file-cow" and fm.categories[Kind.COW].rss == SIZE
    assert (fm.totals.cow_file, fm.totals.cow_file_pss) == (SIZE, SIZE)  # droppable part
    for m in (am, kid_am):
        assert m.categories[Kind.COW].rss == SIZE and m.totals.cow_file == 0  # anon part: swappable
        assert abs(m.categories[Kind.COW].pss - SIZE // 2) <= PAGE
    assert mapping_at(child, f).categories[Kind.COW].rss == 0
    assert SIZE <= parent.totals.cow_file <= SIZE + 4 * NOISE  # + the interpreter's unwritten .data pages
    assert child.categories[Kind.COW].rss - child.totals.cow_file >= SIZE  # the anon part, and its heap

    # system (meminfo): cow's file part is the processes' Σ PSS of it, out of file cache, as in ps
    with Root("/") as root:
        sm = system_memory(root)
        mm = machine_memory(root, sm.processes)
    assert sm.processes is not None and sm.reconcile is not None
    seen = {p.pid: p for p in sm.processes.processes}
    assert abs(seen[c.pid].totals.cow_file_pss - parent.totals.cow_file_pss) <= NOISE
    assert sm.detail["cow.file"] == sum(p.totals.cow_file_pss for p in sm.processes.processes) >= SIZE
    assert sm.row("cow") == sm.detail["cow.file"] and sm.detail["cow.anon"] is None
    assert sm.row("file") == sm.machine.page_cache - sm.detail["cow.file"]
    rec = {r.kind: r for r in sm.reconcile}
    assert rec["cow"].difference == 0  # one definition on both sides: no "estimate" left
    assert "estimate" not in " ".join(r.meaning for r in sm.reconcile)
    # the overview (memtype) shows the same rows from the same inputs
    assert [r.id for r in mm.rows] == [r.id for r in sm.machine.rows]
    assert mm.row("cow") == sm.row("cow")


def test_issue8_cow_parts_with_exact(spawn: Callable[[], Child], disk_file: Callable[[int], str]) -> None:
    """system --exact: the fork-shared anon pages are cow by their page count (cow.anon), the file part
    still the processes' (no page flag says "under a private writable map")."""
    import os

    if os.geteuid() != 0:
        pytest.skip("--exact reads /proc/kpageflags (root)")
    pytest.importorskip("numpy")
    path = disk_file(N)
    c, kid, f, anon = _made(spawn, path)
    with Root("/") as root:
        sm = system_memory(root, exact=True)
    assert sm.exact and sm.detail["cow.anon"] is not None and sm.detail["cow.anon"] >= SIZE
    assert sm.detail["cow.anon"] == (sm.detail["cow.fork"] or 0) + (sm.detail["cow.ksm"] or 0)
    assert sm.detail["cow.file"] is not None and sm.detail["cow.file"] >= SIZE - 4 * NOISE
    assert sm.row("cow") == sm.detail["cow.anon"] + sm.detail["cow.file"]
    assert sum(v for v in sm.rows.values()) == sm.total
    rec = {r.kind: r for r in sm.reconcile or []}
    assert "estimate" not in rec["cow"].meaning
    c.call("read", f, N)
    from memtype.collect.scan_exact import scan_exact  # ps --exact

    p = scan_exact("/", pids=[c.pid]).processes[0]
    assert p.exact and 0 <= p.totals.cow_file <= p.categories[Kind.COW].rss
    assert p.totals.cow_file >= SIZE - 4 * NOISE
