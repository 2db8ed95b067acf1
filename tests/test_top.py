"""``memtype top`` driven by Textual's own harness (``App.run_test`` + Pilot), fed from the captured GPU
host (tests/tui_data.py): deterministic, no live /proc. Issue 9, "`memtype top`"."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest

pytest.importorskip("textual", reason="memtype top needs Textual: pip install -e '.[test]'")

import tui_data  # noqa: E402
from tui_data import GROWN_KIB, settle  # noqa: E402

from memtype.kinds import Kind  # noqa: E402
from memtype.model.derive import derive  # noqa: E402
from memtype.model.records import HostInfo  # noqa: E402
from memtype.model.sample import Counters, ProcessSample, Sample  # noqa: E402
from memtype.tui.app import TopApp  # noqa: E402
from memtype.tui.feed import Feed  # noqa: E402
from memtype.tui.screens import CgroupScreen, DetailScreen, HelpScreen  # noqa: E402

WORKERS = {450, 451, 452, 453}


def drive(app: TopApp, body: Callable[..., Awaitable[None]], size: tuple[int, int] = (120, 40)) -> None:
    async def go() -> None:
        async with app.run_test(size=size) as pilot:
            await body(pilot)

    asyncio.run(go())


def line_of(app: TopApp, pid: int) -> object:
    return next(line for line in app.shown if line.pid == pid)


def row_text(app: TopApp, key: str) -> str:
    index = next(i for i, line in enumerate(app.table.lines) if line.key == key)
    return " ".join(app.table.cells_at(index))


def in_step(app: TopApp) -> bool:
    """The table, redrawn only where a line changed tick after tick, shows the lines in order with the
    cells a fresh build would draw, and its screen rows say the same."""
    from memtype.tui.table import cells

    table = app.table
    assert [line.key for line in table.lines] == [line.key for line in app.shown]
    view = app.view_name()
    for i, line in enumerate(app.shown):
        fresh = cells(line, app.columns, app.layout_kind, changes_only=app.changes_only,
                      history=app.history.get(f"{view}/{line.key}", ()))
        assert table.cells_at(i) == [c.plain for c in fresh], line
        strip = table._row_strip(i)  # the row's strip, the sparkline apart
        drawn = "".join(c.plain for c, col in zip(fresh, app.columns) if col.key != "trend")
        assert strip.text.replace(" ", "") == drawn.replace(" ", "") or "…" in strip.text, (strip.text, line)
    return True


def test_issue9_top_tree_dataloader_family_sorted_by_cow() -> None:
    """The tree view of the DataLoader family, sorted by copy-on-write: the trainer's line carries its
    subtree's sums, PSS-correct (htop#1154), and the workers follow it in CoW order."""
    app = tui_data.app()

    async def body(pilot: object) -> None:
        await settle(pilot)  # type: ignore[arg-type]
        await pilot.press("t")  # type: ignore[attr-defined]
        while app.sort_key != "cow.pss":
            await pilot.press("s")  # type: ignore[attr-defined]
        assert app.tree_view
        model = app.model
        assert model is not None
        procs = {p.pid: p for p in model.scan.processes}
        order = [line.pid for line in app.shown]
        assert order[:2] == [415, 421] and set(order[2:6]) == WORKERS  # bash > python3 > its workers
        workers = app.shown[2:6]
        cows = [w.values["cow.pss"] for w in workers]
        assert cows == sorted(cows, reverse=True) and all(w.depth == 2 for w in workers)
        trainer = app.shown[1]
        family = [procs[421], *(procs[p] for p in WORKERS)]
        for fid, get in (("pss", lambda p: p.totals.pss), ("cow.pss", lambda p: p.categories[Kind.COW].pss),
                         ("anonymous.pss", lambda p: p.categories[Kind.ANONYMOUS].pss)):
            assert trainer.values[fid] == sum(get(p) for p in family)
        # the whole tree adds up to the machine's processes: no page counted twice
        roots = [line for line in app.shown if line.depth == 0]
        assert sum(r.values["pss"] for r in roots) == sum(p.totals.pss for p in model.scan.processes)
        # the change since the last tick: 450 wrote 100 MiB, and its ancestors' subtrees show it
        assert trainer.deltas["anonymous.pss"] == GROWN_KIB * 1024
        assert app.shown[0].deltas["pss"] == GROWN_KIB * 1024
        # folding the trainer hides its workers and says how many
        app.table.move_cursor(row=1)
        await pilot.press("space")  # type: ignore[attr-defined]
        assert [line.pid for line in app.shown][:2] == [415, 421] and not WORKERS & {x.pid for x in app.shown}
        assert "+4" in row_text(app, app.shown[1].key)
        assert in_step(app)
        await pilot.press("space", "t")  # type: ignore[attr-defined]
        assert in_step(app) and len(app.shown) == 8

    drive(app, body)


def test_issue9_top_process_table_sort_keys_mouse_filter_and_marks() -> None:
    app = tui_data.app()

    async def body(pilot: object) -> None:
        await settle(pilot)  # type: ignore[arg-type]
        assert [c.key for c in app.columns][:3] == ["pid", "user", "name"]
        assert [c.key for c in app.columns][3:10] == ["pss", "anonymous.pss", "shared.pss", "cow.pss", "file.pss",
                                                       "device.pss", "swap_pss"]
        assert app.shown[0].pid == 421  # by PSS
        assert line_of(app, 450).deltas["anonymous.pss"] == GROWN_KIB * 1024  # type: ignore[attr-defined]
        assert "▲" in row_text(app, line_of(app, 450).key)  # type: ignore[attr-defined]
        # a header click sorts by that column; a second click reverses
        x = sum(c.width for c in app.columns[:3]) + 2  # inside the PSS column's title
        anon_x = x + app.columns[3].width
        await pilot.click("#procs", offset=(anon_x, 0))  # type: ignore[attr-defined]
        assert app.sort_key == "anonymous.pss" and app.shown[0].pid == 450
        await pilot.click("#procs", offset=(anon_x, 0))  # type: ignore[attr-defined]
        assert app.descending is False and app.shown[-1].pid == 450
        await pilot.press("r")  # type: ignore[attr-defined]
        assert app.shown[0].pid == 450
        # keys: S goes back one column (to PSS)
        await pilot.press("S")  # type: ignore[attr-defined]
        assert app.sort_key == "pss"
        # the filter
        await pilot.press("slash", "p", "t", "_", "enter")  # type: ignore[attr-defined]
        assert {line.pid for line in app.shown} == WORKERS and app.needle == "pt_"
        assert app.focused is app.table
        await pilot.press("escape")  # type: ignore[attr-defined]
        assert app.needle == "" and len(app.shown) == 8 and in_step(app)
        # the cursor stays on its process when the order changes
        app.table.move_cursor(row=next(i for i, line in enumerate(app.shown) if line.pid == 452))
        await pilot.press("s", "s")  # type: ignore[attr-defined]
        assert app.shown[app.table.cursor_row].pid == 452 and in_step(app)
        await pilot.press("d")  # type: ignore[attr-defined]
        assert in_step(app) and "+100M" in row_text(app, line_of(app, 450).key)  # type: ignore[attr-defined]
        await pilot.press("d", "S", "S")  # type: ignore[attr-defined]
        # stale and big (the sampler's freshness): 451 changed since its read 30 s ago; 421 is big, read rarely
        assert "30s" in row_text(app, line_of(app, 451).key)  # type: ignore[attr-defined]
        assert "2m*" in row_text(app, line_of(app, 421).key)  # type: ignore[attr-defined]
        assert "30s" not in row_text(app, line_of(app, 450).key)  # type: ignore[attr-defined]

    drive(app, body)


def test_issue9_top_grouping_by_program_user_cgroup() -> None:
    app = tui_data.app()

    async def body(pilot: object) -> None:
        await settle(pilot)  # type: ignore[arg-type]
        model = app.model
        assert model is not None
        await pilot.press("g")  # type: ignore[attr-defined]
        assert app.mode == "program"
        by = {line.name: line for line in app.shown}
        assert set(by) == {"python3", "pt_data_worker", "bash"}
        assert by["pt_data_worker"].count == 4
        assert by["pt_data_worker"].values["pss"] == sum(p.totals.pss for p in model.scan.processes
                                                         if p.pid in WORKERS)
        assert by["pt_data_worker"].deltas["pss"] == GROWN_KIB * 1024
        await pilot.press("g")  # type: ignore[attr-defined]
        assert app.mode == "user" and [line.name for line in app.shown] == ["root"]
        await pilot.press("g")  # type: ignore[attr-defined]
        assert app.mode == "cgroup" and len(app.shown) == 1  # the capture has no cgroup files: one "?"
        await pilot.press("enter")  # type: ignore[attr-defined]
        assert not isinstance(app.screen, DetailScreen)  # a group has no detail; a note says so
        await pilot.press("g")  # type: ignore[attr-defined]
        assert app.mode == "process" and len(app.shown) == 8

    drive(app, body)


def test_issue9_top_detail_mappings_family_and_cgroup() -> None:
    app = tui_data.app()

    async def body(pilot: object) -> None:
        await settle(pilot)  # type: ignore[arg-type]
        index = next(i for i, line in enumerate(app.shown) if line.pid == 450)
        app.table.move_cursor(row=index)
        await pilot.press("enter")  # type: ignore[attr-defined]
        await pilot.pause()  # type: ignore[attr-defined]
        screen = app.screen
        assert isinstance(screen, DetailScreen) and screen.key[0] == 450
        maps = screen.query_one("#maps")
        family = screen.query_one("#family")
        assert maps.row_count > 10  # type: ignore[attr-defined]
        first = " ".join(c.plain for c in maps.get_row_at(0))  # type: ignore[attr-defined]
        assert "[anon]" in first or "[heap]" in first
        assert family.row_count == 5  # type: ignore[attr-defined]
        rows = [[c.plain.strip() for c in family.get_row_at(i)] for i in range(5)]  # type: ignore[attr-defined]
        assert rows[0][0] == "421" and {int(r[0]) for r in rows[1:]} == WORKERS
        title = str(screen.query_one("#family-title").render())
        assert "fork family of 5" in title and "copied since the fork" in title and len(title) <= 79
        await pilot.press("escape")  # type: ignore[attr-defined]
        assert not isinstance(app.screen, DetailScreen)

    drive(app, body)


def test_issue9_top_family_copied_bytes_follow_the_write() -> None:
    """The 100 MiB worker 450 wrote into its inherited heap count as copied, in it and not in its siblings."""
    from memtype.tui.family import family

    first, second = tui_data.models()
    before = {m.proc.pid: m for m in family(first, next(k for k in first.by_key if k[0] == 450))}
    after = {m.proc.pid: m for m in family(second, next(k for k in second.by_key if k[0] == 450))}
    assert set(after) == {421, *WORKERS}
    assert after[450].copied - before[450].copied == GROWN_KIB * 1024
    assert after[451].copied == before[451].copied
    assert all(m.shared == m.proc.categories[Kind.COW].rss for m in after.values())
    bash = next(k for k in second.by_key if k[0] == 415)
    assert [m.proc.pid for m in family(second, bash)] == [415]  # 421 was exec'd: another layout


def test_issue9_top_help_quit_and_cgroups_without_a_hierarchy() -> None:
    app = tui_data.app()

    async def body(pilot: object) -> None:
        await settle(pilot)  # type: ignore[arg-type]
        await pilot.press("question_mark")  # type: ignore[attr-defined]
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("x")  # type: ignore[attr-defined]
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("c")  # type: ignore[attr-defined]
        assert not isinstance(app.screen, CgroupScreen)  # the feed has no cgroups: a note, no screen
        await pilot.press("q")  # type: ignore[attr-defined]

    drive(app, body)
    assert app.return_code == 0 and app.failure is None


def test_issue9_top_cgroup_view_lists_the_tree() -> None:
    from memtype.cli.commands.top import make_feed
    from memtype.source.root import Root

    root = tui_data.GPU_ROOT.parent / "v1-hybrid"
    with Root(str(root)) as r:
        feed = make_feed(r, 2.0, 1)
        assert feed.cgroups is not None
        app = TopApp(feed, autotick=False)

        async def body(pilot: object) -> None:
            await settle(pilot, 1)  # type: ignore[arg-type]
            await pilot.press("c")  # type: ignore[attr-defined]
            await app.workers.wait_for_complete()
            await pilot.pause()  # type: ignore[attr-defined]
            screen = app.screen
            assert isinstance(screen, CgroupScreen)
            table = screen.query_one("#cgroups")
            assert table.row_count >= 1  # type: ignore[attr-defined]
            assert "memory cgroups (v1)" in str(screen.query_one("#cg-title").render())
            await pilot.press("escape")  # type: ignore[attr-defined]

        drive(app, body)
    assert app.failure is None


def _sparse_sample() -> Sample:
    """A machine where almost nothing is known: no meminfo, vmstat, PSI, users, PPIDs or start times."""
    real = tui_data.first_sample()
    rows = next(p for p in real.processes.values() if p.pid == 409).smaps
    unknown = Counters(None, None, None, None, None, None)
    procs = {(7, None): ProcessSample(7, None, "lonely", None, None, None, unknown, rows, None),
             (8, None): ProcessSample(8, None, "unread", None, 7, None, unknown)}
    return Sample(HostInfo(None, None, 4096, None, "r", False), None, None, None, {}, None, None, frozenset(), {},
                  procs)


@pytest.mark.parametrize("size", [(80, 24), (160, 48), (40, 12)])
def test_issue9_top_renders_when_data_is_missing(size: tuple[int, int]) -> None:
    """None everywhere (no meminfo, no PSI, no vmstat, unknown user, age, PPID): every view draws."""
    model = derive(_sparse_sample())
    again = derive(_sparse_sample(), model)
    app = TopApp(Feed(tui_data.ticking([model, again]), interval=2.0, live=True, notes=lambda m: ["a note"],
                      freshness=lambda k: tui_data.Fresh("pending", None, "not read yet")), autotick=False)

    async def body(pilot: object) -> None:
        await settle(pilot)  # type: ignore[arg-type]
        assert [line.name for line in app.shown] == ["lonely"]
        for key in ("t", "space", "s", "d", "g", "g", "g", "g", "enter"):
            await pilot.press(key)  # type: ignore[attr-defined]
        await pilot.pause()  # type: ignore[attr-defined]
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape", "question_mark", "x", "c", "slash", "z", "enter")  # type: ignore[attr-defined]
        assert app.shown == []
        await pilot.press("q")  # type: ignore[attr-defined]

    drive(app, body, size)
    assert app.failure is None


def test_issue9_top_an_exception_ends_the_app_and_is_kept_for_the_command() -> None:
    def broken() -> object:
        raise RuntimeError("the feed broke")

    app = TopApp(Feed(broken, interval=2.0, live=True), autotick=False)  # type: ignore[arg-type]

    async def body(pilot: object) -> None:
        await app.workers.wait_for_complete()
        await pilot.pause()  # type: ignore[attr-defined]

    with pytest.raises(Exception):
        drive(app, body)
    assert isinstance(app.failure, RuntimeError) and str(app.failure) == "the feed broke"
    assert not app._exit_renderables  # nothing printed by Textual: the command reports it in one line


def test_issue9_top_without_a_terminal_points_to_ps(run_cli: Callable[..., object], gpu_root: str) -> None:
    r = run_cli("top", "--root", gpu_root)
    assert r.code == 1  # type: ignore[attr-defined]
    assert r.err.strip().splitlines() == [  # type: ignore[attr-defined]
        "memtype: error: memtype top needs a terminal, and standard output is not one; for a table use "
        "`memtype ps`"]
    assert r.out == ""  # type: ignore[attr-defined]


def test_issue9_top_interval_is_checked(run_cli: Callable[..., object]) -> None:
    for bad in ("0", "-1", "nan", "1e3", "4000", "x"):
        r = run_cli("top", "--interval", bad)
        assert r.code == 2 and "memtype: error:" in r.err and "Traceback" not in r.err  # type: ignore[attr-defined]


def test_issue9_ps_does_not_import_textual(gpu_root: str) -> None:
    code = ("import sys; from memtype.cli.main import main; main(['ps', '--root', %r]); "
            "sys.exit(3 if 'textual' in sys.modules else 0)" % gpu_root)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_issue9_sample_carries_memory_psi(tmp_path: object) -> None:
    """The header's PSI comes from the Sample: /proc/pressure/memory read by read_sample, kept by to_dict."""
    import os
    import shutil
    from pathlib import Path

    from memtype.collect.sample import read_sample
    from memtype.model.sample_dict import from_dict, to_dict

    root = Path(str(tmp_path)) / "root"
    shutil.copytree(tui_data.GPU_ROOT, root)
    (root / "proc" / "pressure").mkdir()
    (root / "proc" / "pressure" / "memory").write_text(
        "some avg10=1.25 avg60=0.50 avg300=0.10 total=123456\nfull avg10=0.50 avg60=0.20 avg300=0.05 total=23456\n")
    s = read_sample(str(root), jobs=1)
    assert s.pressure == tui_data.PSI
    assert from_dict(to_dict(s)) == s
    old = to_dict(s)
    del old["pressure"]  # a document written before PSI was carried
    assert from_dict(old).pressure is None
    assert read_sample(str(tui_data.GPU_ROOT), [409], jobs=1).pressure is None  # the capture has no PSI file
    if os.path.exists("/proc/pressure/memory"):
        live = read_sample("/", [os.getpid()], jobs=1).pressure
        assert live is not None and set(live["some"]) >= {"avg10", "avg60", "avg300", "total"}
