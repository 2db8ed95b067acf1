"""``memtype report``: one self-contained HTML file (inline SVG charts drawn here, no network, readable
without JavaScript) made from the records the command gathers (``data.ReportInput``).

Layer: imports only memtype.model, kinds, errors, output, _version and the standard library; the
command (``cli/commands/report.py``) reads the machine, a capture or a database.

``render(data)`` returns a ``Report``: the page, and each chart as its own SVG (``--svg DIR``).
Figures are in ``data-*`` attributes (bytes), the same numbers as ``ps``/``system --format json``.
"""

from __future__ import annotations

from memtype._version import __version__
from memtype.report import sections, sections_history, sections_more
from memtype.report.data import ReportInput
from memtype.report.page import page

__all__ = ["Report", "ReportInput", "render"]


class Report:
    """``html``: the page; ``svgs``: chart name -> a standalone SVG document."""

    def __init__(self, html: str, svgs: dict[str, str]) -> None:
        self.html, self.svgs = html, svgs


def render(data: ReportInput) -> Report:
    """The report of ``data``: the sections of the moment, then (with a history) those over time."""
    parts = [sections.machine(data), sections.processes(data), sections.treemap(data), sections.families(data),
             sections_more.devices(data), sections_more.shm(data), sections_more.cgroups(data),
             sections_more.swap(data), sections_more.files(data)]
    if data.history is not None:
        h = data.history
        parts = [sections_history.machine_over_time(h), sections_history.growers(h),
                 sections_history.programs_over_time(h)] + parts
    host = data.scan.host
    skipped = data.scan.skip_counts()
    prov = [f"memtype {__version__} · {data.source}",
            f"kernel {host.kernel or '?'}" + ("" if data.redacted or not host.hostname else f" · host {host.hostname}")
            + f" · {len(data.scan.processes)} processes" + (f", {sum(skipped.values())} not read ("
                                                              + ", ".join(f"{n} {r}" for r, n in sorted(skipped.items()))
                                                              + ")" if skipped else "")
            + (" · exact (page flags)" if any(p.exact for p in data.scan.processes) else " · from smaps")]
    prov += data.notes
    html = page("Memory report" + ("" if data.redacted or not host.hostname else f": {host.hostname}"), prov, parts,
                sections.kind_help())
    svgs = {c.name: c.done(standalone=True) + "\n" for s in parts for c in s.charts}
    return Report(html, svgs)
