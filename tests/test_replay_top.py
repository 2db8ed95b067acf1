"""Issue 11, ``memtype top --replay DB``: the live view's widgets over recorded samples, driven by Textual's
Pilot over a small database made in the test: step back/forward, play/pause, jump to a time, the keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest

pytest.importorskip("textual", reason="memtype top needs Textual: pip install -e '.[test]'")

from conftest import MODELS  # noqa: E402
from memtype.cli.commands.top import replay_feed  # noqa: E402
from memtype.kinds import Kind  # noqa: E402
from memtype.model.sample import Sample  # noqa: E402
from memtype.model.sample_dict import from_dict  # noqa: E402
from memtype.tui.app import TopApp  # noqa: E402
from memtype.tui.screens import HelpScreen  # noqa: E402
from replaydb import make_db  # noqa: E402
from test_replay_diff import grow_anon  # noqa: E402

BASE = datetime(2026, 12, 1, 14, 0, 0).timestamp()


def samples() -> list[Sample]:
    """Five samples a minute apart; PID 450 grows by 64 MiB of anonymous memory in each."""
    s = from_dict(json.loads((MODELS / "gpu-dataloader.json").read_text()))
    out = []
    for i in range(5):
        one = s.replace(wall=BASE + 60 * i, monotonic=1000.0 + 60 * i)
        for _ in range(i):
            one = grow_anon(one, 450, 64 * 1024)
        out.append(one)
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_db(tmp_path_factory.mktemp("replay") / "h.db", samples())


def drive(app: TopApp, body: Callable[..., Awaitable[None]]) -> None:
    async def go() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await body(pilot)

    asyncio.run(go())


async def until(pilot: object, ok: Callable[[], bool]) -> None:
    for _ in range(200):
        await pilot.pause(0.02)  # type: ignore[attr-defined]
        if ok():
            return
    raise AssertionError("the view did not get there")


def anon_450(app: TopApp) -> int:
    assert app.model is not None
    return next(p for p in app.model.scan.processes if p.pid == 450).categories[Kind.ANONYMOUS].pss


def test_issue11_top_replay_steps_plays_and_jumps(db: Path) -> None:
    feed = replay_feed(str(db), None, 0.1)
    replay = feed.replay
    assert replay is not None
    app = TopApp(feed)

    async def body(pilot: object) -> None:
        await until(pilot, lambda: app.model is not None)
        assert replay.index == 0 and not replay.playing
        first = anon_450(app)
        machine = str(app.query_one("#machine").render())
        assert "replay h.db · 2026-12-01 14:00:00 · 1/5 · paused" in machine
        await pilot.press("right")  # type: ignore[attr-defined]
        await until(pilot, lambda: app.model is not None and app.model.sample.wall == BASE + 60)
        assert anon_450(app) - first == 64 << 20
        assert app.model is not None and app.model.changes is not None  # marks: since the sample before
        assert app.model.changes.processes[next(k for k in app.model.by_key if k[0] == 450)].kinds[
            Kind.ANONYMOUS].pss == 64 << 20
        await pilot.press("left")  # type: ignore[attr-defined]
        await until(pilot, lambda: app.model is not None and app.model.sample.wall == BASE)
        await pilot.press("p")  # type: ignore[attr-defined]
        await until(pilot, lambda: app.model is not None and app.model.sample.wall == BASE + 240)
        await until(pilot, lambda: not replay.playing)  # stops at the end
        assert anon_450(app) - first == 4 * (64 << 20)
        await pilot.press("j")  # type: ignore[attr-defined]
        await pilot.press(*"14:02", "enter")  # type: ignore[attr-defined]
        await until(pilot, lambda: app.model is not None and app.model.sample.wall == BASE + 120)
        await pilot.press("j", *"teatime", "enter")  # type: ignore[attr-defined]
        await pilot.pause(0.1)  # type: ignore[attr-defined]
        assert replay.index == 2  # not a time: a notice, the position kept
        await pilot.press("escape")  # type: ignore[attr-defined]
        await pilot.press("question_mark")  # type: ignore[attr-defined]
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one("#help").render())
        assert "replay: play or pause" in text and "replay: jump to a time" in text
        await pilot.press("x")  # type: ignore[attr-defined]
        await pilot.press("q")  # type: ignore[attr-defined]

    drive(app, body)
    assert app.failure is None


def test_issue11_top_replay_starts_at(db: Path) -> None:
    feed = replay_feed(str(db), "2026-12-01T14:03", 1.0)
    assert feed.replay is not None and feed.replay.index == 3


def test_issue11_top_replay_usage(tmp_path: Path) -> None:
    from memtype.cli.main import main

    assert main(["top", "--at", "14:00"]) in (1, 2)


def test_issue11_top_replay_shows_the_recorded_cgroups(tmp_path: Path) -> None:
    from conftest import ROOTS
    from memtype.collect.sample import read_sample
    from memtype.tui.screens import CgroupScreen

    s = read_sample(str(ROOTS / "gpu-cgroups"), cgroup=True, cgroups=True)
    db = make_db(tmp_path / "cg.db", [s.replace(wall=BASE), s.replace(wall=BASE + 60)])
    feed = replay_feed(str(db), None, 1.0)
    assert feed.cgroups is not None
    app = TopApp(feed)

    async def body(pilot: object) -> None:
        await until(pilot, lambda: app.model is not None)
        await pilot.press("c")  # type: ignore[attr-defined]
        await until(pilot, lambda: isinstance(app.screen, CgroupScreen))
        await until(pilot, lambda: "memory cgroups (v" in str(app.screen.query_one("#cg-title").render()))
        await pilot.press("escape", "q")  # type: ignore[attr-defined]

    drive(app, body)
    assert app.failure is None
    bare = replay_feed(str(make_db(tmp_path / "bare.db", samples()[:1])), None, 1.0)
    assert bare.cgroups is None  # "no memory cgroups to show", as for a root without them
