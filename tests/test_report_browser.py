"""``memtype report`` in a real browser (issue 13): headless Chromium over the DevTools protocol
(tests/browser.py) opens reports of the GPU capture and of a small recorded history, at desktop and
phone widths, with JavaScript on and off: no console error, no request but the file itself, charts
whose pixels are drawn in the kinds' colours, and numbers read from the DOM equal to ``--format json``.

Skips with the reason when Chromium or websocket-client is missing. MEMTYPE_SCREENSHOTS=DIR keeps the
screenshots (to look at them); the live scan's report is tests/live/test_report_live.py.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from memtype.kinds import KIND_COLOURS, KINDS
from memtype.model.sample import Sample
from memtype.model.sample_dict import from_dict

from browser import DESKTOP, PHONE, Browser, Page, Unavailable, colours, external, hex_rgb
from conftest import GPU_ROOT, HERE, Result
from replaydb import make_db

Run = Callable[..., Result]
KIND_IDS = [k.value for k in KINDS]
MIB = 1 << 20
BASE = datetime(2026, 12, 1, 14, 0, 0).timestamp()


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    try:
        browser = Browser.start()
    except Unavailable as exc:
        pytest.skip(str(exc))
    with browser as p:
        yield p


def shots(tmp_path: Path) -> Path:
    where = os.environ.get("MEMTYPE_SCREENSHOTS")
    out = Path(where) if where else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


def _json(run_cli: Run, *args: str) -> dict:  # type: ignore[type-arg]
    r = run_cli(*args, "--format", "json")
    assert r.code == 0, r.err
    return json.loads(r.out)  # type: ignore[no-any-return]


def check_clean(page: Page, url: str) -> None:
    assert page.errors == []
    assert external(page.requests, url) == []  # nothing fetched: no CDN, no font, no image


def chart_pixels(page: Page, name: str) -> dict[tuple[int, int, int], int]:
    box = page.js(f"(function(){{var r=document.querySelector('svg[data-chart=\"{name}\"]').getBoundingClientRect();"
                  "return {x:r.left+scrollX,y:r.top+scrollY,width:r.width,height:r.height}})()")
    assert box["width"] > 100 and box["height"] > 20, (name, box)
    return colours(page.screenshot(clip=box, full=True))


def kind_pixels(seen: dict[tuple[int, int, int], int], kinds: list[str]) -> dict[str, int]:
    return {k: seen.get(hex_rgb(KIND_COLOURS[k]), 0) for k in kinds}


@pytest.fixture(scope="module")
def gpu_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from memtype.cli.main import main

    out = tmp_path_factory.mktemp("report") / "gpu.html"
    assert main(["report", "--root", str(GPU_ROOT), str(out)]) == 0
    return out


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_issue13_browser_capture(page: Page, gpu_report: Path, run_cli: Run, tmp_path: Path,
                                 viewport: tuple[int, int, bool]) -> None:
    url = gpu_report.as_uri()
    page.open(url, viewport)
    check_clean(page, url)
    name = "desktop" if viewport == DESKTOP else "phone"
    page.screenshot(shots(tmp_path) / f"report-gpu-{name}.png")
    # the charts drew: the kinds' colours fill their pixels
    machine = kind_pixels(chart_pixels(page, "in-use"), ["anonymous", "file"])
    assert all(n > 20 for n in machine.values()), machine
    tree = kind_pixels(chart_pixels(page, "treemap"), ["cow", "anonymous", "file", "device"])
    assert all(n > 20 for n in tree.values()), tree
    assert kind_pixels(chart_pixels(page, "family-421"), ["cow"])["cow"] > 50
    # numbers from the DOM equal ps/system --format json
    rows = page.js("Array.from(document.querySelectorAll('table[data-table=processes] tbody tr')).map("
                   "function(r){return Object.assign({}, r.dataset)})")
    doc = _json(run_cli, "ps", "--root", str(GPU_ROOT))
    by_pid = {int(r["pid"]): r for r in rows}
    assert set(by_pid) == {p["pid"] for p in doc["processes"]}
    for p in doc["processes"]:
        assert int(by_pid[p["pid"]]["pss"]) == p["pss"]
        assert [int(by_pid[p["pid"]][k]) for k in KIND_IDS] == [p["categories"][k]["pss"] for k in KIND_IDS]
    system = _json(run_cli, "system", "--root", str(GPU_ROOT))
    segs = page.js("Array.from(document.querySelectorAll('svg[data-chart=machine] [data-row]')).map("
                   "function(e){return [e.dataset.row, +e.dataset.bytes]})")
    assert dict(segs) == {k: v for k, v in system["rows"].items() if v}
    assert sum(v for _, v in segs) == system["total"]
    # no horizontal scroll of the page itself at a phone's width (wide charts scroll in their own box)
    assert page.js("document.documentElement.scrollWidth") <= viewport[0] + 1


def test_issue13_browser_sort_and_no_script(page: Page, gpu_report: Path, tmp_path: Path) -> None:
    url = gpu_report.as_uri()
    page.open(url)
    pss = "Array.from(document.querySelectorAll('table[data-table=processes] tbody tr')).map(function(r){" \
          "return +r.dataset.pss})"
    first = page.js(pss)
    assert first == sorted(first, reverse=True)
    page.js("document.querySelector('table[data-table=processes] th[data-key=pss]').click()")
    assert page.js(pss) == sorted(first, reverse=True)  # first click: descending (as shown)
    page.js("document.querySelector('table[data-table=processes] th[data-key=pss]').click()")
    assert page.js(pss) == sorted(first)
    check_clean(page, url)
    page.open(url, script=False)  # readable without JavaScript: the charts are SVG drawn in Python
    page.screenshot(shots(tmp_path) / "report-gpu-noscript.png")
    assert kind_pixels(chart_pixels(page, "treemap"), ["cow"])["cow"] > 50
    assert page.errors == []


@functools.cache
def _base() -> Sample:
    s = from_dict(json.loads((HERE / "fixtures" / "models" / "gpu-dataloader.json").read_text()))
    exe = {"python3": "/usr/bin/python3.12", "pt_data_worker": "/usr/bin/python3.12", "bash": "/usr/bin/bash"}
    return s.replace(processes={k: p.replace(exe=exe.get(p.comm)) for k, p in s.processes.items()})


def recorded(i: int) -> Sample:
    """The capture at 14:00 + i minutes, AnonPages i * 8 MiB larger; the DataLoader's workers start one by
    one (a worker more every 5 minutes): the program grows."""
    s = _base()
    mi = dict(s.meminfo)
    mi["AnonPages"] += i * 8 * MIB
    mi["MemFree"] -= i * 8 * MIB
    workers = sorted(k for k, p in s.processes.items() if p.comm == "pt_data_worker")
    gone = set(workers[min(len(workers), i // 5 + 1):])
    procs = {k: p for k, p in s.processes.items() if k not in gone}
    return s.replace(wall=BASE + 60 * i, monotonic=1000.0 + 60 * i, meminfo=mi, processes=procs)


def _programs(s: Sample) -> dict[str, dict[str, int]]:
    from memtype.model.derive import derive
    from memtype.model.group import group_processes

    groups = group_processes(derive(s).scan.processes, lambda p: p.program)
    return {g.key: {k.value: g.categories[k].pss for k in KINDS} for g in groups}


def test_issue13_browser_history(page: Page, run_cli: Run, tmp_path: Path) -> None:
    db = make_db(tmp_path / "h.db", [recorded(i) for i in range(30)])
    out = tmp_path / "history.html"
    r = run_cli("report", "--db", str(db), "--from", "2026-12-01 14:05", "--to", "2026-12-01 14:29", str(out))
    assert r.code == 0, r.err
    url = out.as_uri()
    page.open(url)
    check_clean(page, url)
    page.screenshot(shots(tmp_path) / "report-history-desktop.png")
    drawn = kind_pixels(chart_pixels(page, "history-in-use"), ["anonymous", "file"])
    assert all(n > 50 for n in drawn.values()), drawn
    last = page.js("Object.fromEntries(Array.from(document.querySelectorAll('svg[data-chart=history-machine] "
                   "[data-series]')).map(function(e){return [e.dataset.series, +e.dataset.last]}))")
    doc = json.loads(run_cli("history", str(db), "--export", "2026-12-01 14:05", "2026-12-01 14:29",
                             "--format", "json").out)
    end = doc["rows"][-1]["rows"]
    assert last == {k: v for k, v in end.items() if v}  # the last point of each band: the export's last row
    growers = page.js("Array.from(document.querySelectorAll('table[data-table=growers] tbody tr')).map("
                      "function(r){return [r.dataset.kind, r.dataset.program, +r.dataset.growth]})")
    first, final = _programs(recorded(5)), _programs(recorded(29))  # the first and last samples drawn
    want = [[k, prog, final[prog][k] - first.get(prog, {}).get(k, 0)] for k in KIND_IDS for prog in final
            if final[prog][k] > first.get(prog, {}).get(k, 0)]
    assert growers == want and ["cow", "python3.12"] in [g[:2] for g in growers]
    names = page.js("Array.from(document.querySelectorAll('svg[data-chart^=history-]')).map("
                    "function(e){return e.dataset.chart})")
    assert "history-python3.12" in names
    page.open(url, PHONE)
    check_clean(page, url)
    page.screenshot(shots(tmp_path) / "report-history-phone.png")
