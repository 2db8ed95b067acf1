"""``memtype report`` without a browser (issue 13): the file from the GPU capture and from a recorded
history, its numbers read back from the markup's data-* attributes against ``--format json`` of the
same source, the size budget, no network reference, the treemap layout, and safe file creation.
(``test_report_browser.py`` opens the same files in headless Chromium.)"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from memtype.kinds import KIND_COLOURS, KINDS
from memtype.report.treemap import squarify

from conftest import GPU_ROOT, Result

Run = Callable[..., Result]
KIND_IDS = [k.value for k in KINDS]


class Elements(HTMLParser):
    """Every element with its attributes, the chart (``data-chart``) and table (``data-table``) it is in."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], str | None, str | None]] = []
        self.stack: list[tuple[str, str | None, str | None]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        chart = a.get("data-chart") or (self.stack[-1][1] if self.stack else None)
        table = a.get("data-table") or (self.stack[-1][2] if self.stack else None)
        self.found.append((tag, a, chart, table))
        self._in_script = tag == "script"
        if tag not in ("br", "meta", "input", "link"):  # void elements (a <td> without </td> ends at </tr>)
            self.stack.append((tag, chart, table))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.found.append((tag, a, self.stack[-1][1] if self.stack else None,
                           self.stack[-1][2] if self.stack else None))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            top = self.stack.pop()[0]
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def in_chart(self, name: str, attr: str) -> list[dict[str, str]]:
        return [a for _, a, chart, _ in self.found if chart == name and attr in a]

    def rows(self, table: str) -> list[dict[str, str]]:
        return [a for tag, a, _, t in self.found if tag == "tr" and t == table and a]


CELLS = re.compile(r'<tr data-pid="(\d+)"[^>]*><td class=n>\d+<td>([^<]*)<td>([^<]*)<td>([^<]*)')


def process_cells(path: Path) -> dict[int, tuple[str, str, str]]:
    """PID -> (name, program, user) as the process table shows them."""
    return {int(m[1]): (m[2], m[3], m[4]) for m in CELLS.finditer(path.read_text())}


def parse(path: Path) -> Elements:
    e = Elements()
    e.feed(path.read_text())
    return e


def _json(run_cli: Run, *args: str) -> dict:  # type: ignore[type-arg]
    r = run_cli(*args, "--format", "json")
    assert r.code == 0, r.err
    return json.loads(r.out)  # type: ignore[no-any-return]


@pytest.fixture
def gpu_report(run_cli: Run, tmp_path: Path) -> Path:
    out = tmp_path / "gpu.html"
    r = run_cli("report", "--root", str(GPU_ROOT), str(out), "--svg", str(tmp_path / "svg"))
    assert r.code == 0, r.err
    return out


def test_issue13_machine_bar_equals_system_json(run_cli: Run, gpu_report: Path) -> None:
    doc = _json(run_cli, "system", "--root", str(GPU_ROOT))
    e = parse(gpu_report)
    segs = {a["data-row"]: int(a["data-bytes"]) for a in e.in_chart("machine", "data-row")}
    known = {k: v for k, v in doc["rows"].items() if v}  # a segment per known, non-zero row
    assert segs == known
    total = [a["data-total"] for a in e.in_chart("machine", "data-total")]
    assert total == [str(doc["total"])]
    assert sum(segs.values()) == doc["total"]  # the bar sums to MemTotal, remainder included
    table = {a["data-row"]: a["data-bytes"] for a in e.rows("machine-rows")}
    assert table.pop("total") == str(doc["total"])
    assert table == {k: "null" if v is None else str(v) for k, v in doc["rows"].items()}
    reclaim = {a["data-row"]: int(a["data-bytes"]) for a in e.in_chart("reclaim", "data-row")}
    for cls in ("drop", "writeback", "swap", "never"):
        assert reclaim.get(cls, 0) == doc["reclaim"][cls]
    assert sum(reclaim.values()) == doc["total"]


def test_issue13_processes_equal_ps_json(run_cli: Run, gpu_report: Path) -> None:
    doc = _json(run_cli, "ps", "--root", str(GPU_ROOT))
    e = parse(gpu_report)
    rows = {int(a["data-pid"]): a for a in e.rows("processes")}
    assert set(rows) == {p["pid"] for p in doc["processes"]}
    for p in doc["processes"]:
        r = rows[p["pid"]]
        for f in ("pss", "rss", "uss", "swap"):
            assert int(r[f"data-{f}"]) == p[f], (p["pid"], f)
        for k in KIND_IDS:
            assert int(r[f"data-{k}"]) == p["categories"][k]["pss"], (p["pid"], k)
    cells = process_cells(gpu_report)
    assert {pid: c[0] for pid, c in cells.items()} == {p["pid"]: p["comm"] for p in doc["processes"]}
    # the bars: each process's segments add up to its PSS
    bars: dict[str, int] = {}
    for tag, a, chart, _ in e.found:
        if chart == "processes" and tag == "g" and "data-pid" in a:
            bars[a["data-pid"]] = int(a["data-pss"])
    assert bars == {str(p["pid"]): p["pss"] for p in doc["processes"]}


def test_issue13_fork_family_dataloader(gpu_report: Path) -> None:
    """The GPU capture's DataLoader: parent 421, workers 450-453 (explain's cow-broken finding: 119 MiB
    copied of 1.2 GiB still shared)."""
    e = parse(gpu_report)
    members = {int(a["data-pid"]): a for a in e.in_chart("family-421", "data-still") if "data-pid" in a}
    assert sorted(members) == [421, 450, 451, 452, 453]
    copied = sum(int(members[p]["data-copied"]) for p in (450, 451, 452, 453))
    assert 110 << 20 < copied < 130 << 20
    assert members[421]["data-copied"] == "null"  # the parent inherited nothing: unknown, not 0
    assert all(int(m["data-still"]) > 1 << 30 for m in members.values())
    assert not e.in_chart("family-415", "data-still")  # bash 415 exec'd python3 421: not a fork family


def test_issue13_self_contained_and_small(gpu_report: Path, tmp_path: Path) -> None:
    text = gpu_report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # no network reference
    assert "@import" not in text and "url(" not in text and "@font-face" not in text
    assert "default-src 'none'" in text  # and the page forbids any fetch
    assert text.count("<svg") >= 6
    for colour in KIND_COLOURS.values():  # the one palette
        assert colour in text
    assert stat.S_IMODE(os.stat(gpu_report).st_mode) == (0o600 if os.geteuid() == 0 else 0o666 & ~_umask())
    svgs = sorted(p.name for p in (tmp_path / "svg").iterdir())
    assert {"machine.svg", "processes.svg", "treemap.svg", "family-421.svg"} <= set(svgs)
    assert (tmp_path / "svg" / "machine.svg").read_text().startswith('<svg xmlns="http://www.w3.org/2000/svg"')


def _umask() -> int:
    m = os.umask(0o022)
    os.umask(m)
    return m


def test_issue13_out_is_never_followed(run_cli: Run, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "out.html"
    link.symlink_to(victim)
    r = run_cli("report", "--root", str(GPU_ROOT), str(link))
    assert r.code == 0, r.err
    assert victim.read_text() == "keep"  # the link was replaced, not followed
    assert link.is_file() and not link.is_symlink()
    fifo = tmp_path / "fifo.html"
    os.mkfifo(fifo)
    r = run_cli("report", "--root", str(GPU_ROOT), str(fifo))
    assert r.code != 0 and "FIFO" in r.err and "Traceback" not in r.err
    r = run_cli("report", "--root", str(GPU_ROOT), str(tmp_path / "nodir" / "x.html"))
    assert r.code != 0 and r.err.startswith("memtype: error:")


def test_issue13_usage_errors(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli("report", "--root", str(GPU_ROOT), "--from", "10:00", str(tmp_path / "x.html"))
    assert r.code != 0 and "--db" in r.err
    r = run_cli("report", "--db", str(tmp_path / "none.db"), str(tmp_path / "x.html"))
    assert r.code != 0 and "no database" in r.err


def test_issue13_redact(run_cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert run_cli("report", "--root", str(GPU_ROOT), "--redact", str(out)).code == 0
    cells = process_cells(out)
    assert cells and all(user == "0" for _, _, user in cells.values())  # uids, no user names
    assert {name for name, _, _ in cells.values()} >= {"python3", "pt_data_worker"}  # names stay
    text = out.read_text()
    assert "/usr/" not in text and "/home/" not in text  # directories hidden (/.../NAME)


def test_issue13_treemap_tiles_exactly() -> None:
    sizes = [6.0, 6, 4, 3, 2, 2, 1]
    boxes = squarify(sizes, 0, 0, 6, 4)
    for s, (_, _, w, h) in zip(sizes, boxes):
        assert w * h == pytest.approx(s)  # areas proportional (the total is the box: 24)
    for x, y, w, h in boxes:
        assert x >= -1e-9 and y >= -1e-9 and x + w <= 6 + 1e-9 and y + h <= 4 + 1e-9
    worst = max(max(w / h, h / w) for _, _, w, h in boxes)
    assert worst < 3  # squarified: no slivers for this classic example (Bruls et al. fig. 3)


def test_issue13_thousand_processes_under_budget() -> None:
    """1000 processes (the capture's 8, each 125 times under new PIDs and 50 programs): the file stays under
    1 MiB, the table shows the 500 largest and one summed row of the rest, and the numbers still add up."""
    from conftest import get_sample_model
    from memtype.model.machine import system_from_meminfo
    from memtype.report import ReportInput, render

    model = get_sample_model()
    procs = [p.replace(pid=10000 + i * 10 + j, ppid=1, comm=f"{p.comm}{i % 50}", exe=None)
             for i in range(125) for j, p in enumerate(model.scan.processes)]
    scan = model.scan.replace(processes=procs)
    s = model.sample
    system = system_from_meminfo(s.host, s.meminfo, None, None, None, scan)
    html = render(ReportInput(scan, source="test", system=system, families=[])).html
    assert len(html.encode()) <= 1 << 20, len(html.encode())
    e = Elements()
    e.feed(html)
    rows = e.rows("processes")
    body = [r for r in rows if "data-pid" in r]
    rest = [r for r in rows if "data-rest" in r]
    assert len(body) == 500 and len(rest) == 1 and rest[0]["data-rest"] == "500"
    for f in ("pss", "rss", "swap", *KIND_IDS):
        assert sum(int(r[f"data-{f}"]) for r in body + rest) == sum(
            p.totals.pss if f == "pss" else p.totals.rss if f == "rss" else p.totals.swap if f == "swap"
            else p.categories[next(k for k in KINDS if k.value == f)].pss for p in procs), f
