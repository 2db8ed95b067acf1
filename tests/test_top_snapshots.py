"""SVG snapshots of ``memtype top`` (pytest-textual-snapshot) at 80x24 and 160x48, from the captured GPU
host's two deterministic ticks (tests/tui_data.py: no clock, fixed data). ``pytest --snapshot-update``
rewrites them (tests/__snapshots__/); look at the report it writes before committing one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("pytest_textual_snapshot", reason="needs pytest-textual-snapshot: pip install -e '.[test]'")

import tui_data  # noqa: E402
from tui_data import settle  # noqa: E402

from textual.pilot import Pilot  # noqa: E402

SIZES = [(80, 24), (160, 48)]


def _ready(*keys: str) -> Callable[[Pilot[int]], object]:
    async def run_before(pilot: Pilot[int]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_issue9_snapshot_processes(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    assert snap_compare(tui_data.app(), terminal_size=size, run_before=_ready())


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_issue9_snapshot_tree_sorted_by_cow(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    assert snap_compare(tui_data.app(), terminal_size=size, run_before=_ready("t", "s", "s", "s"))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_issue9_snapshot_detail_of_a_worker(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    assert snap_compare(tui_data.app(), terminal_size=size, run_before=_ready("down", "enter"))
