"""The records of ``memtype lab``: what a child made beside what memtype measured (bytes; ``None``: unknown).

``LabRow.ok`` is the comparison within the live tests' tolerance (kernel-spec.md F: 2% or 8 pages,
for LRU and read-ahead lag); ``missing`` says why a form could not be made or read (no swap, no root,
a locked-down /proc), instead of failing.
"""

from __future__ import annotations

from memtype.model.frozen import FrozenValue, fill

TOLERANCE_PAGES = 8
TOLERANCE_PERCENT = 2


def within(created: int, measured: int | None, page: int) -> bool:
    """Whether ``measured`` is ``created`` within 2% or 8 pages."""
    return measured is not None and abs(measured - created) <= max(created * TOLERANCE_PERCENT // 100,
                                                                     TOLERANCE_PAGES * page)


class LabRow(FrozenValue):
    """One form of one kind: which process, what figure memtype shows for it (``figure``: ``cow``,
    ``anonymous.swap``, ``page_cache``...), created and measured bytes, and the one-line explanation."""

    __slots__ = ("kind", "form", "pid", "addr", "figure", "created", "measured", "ok", "why", "missing")

    kind: str
    form: str
    pid: int | None
    addr: int | None
    figure: str | None
    created: int | None
    measured: int | None
    ok: bool | None
    why: str
    missing: str | None

    def __init__(self, kind: str, form: str, pid: int | None, addr: int | None, figure: str | None,
                 created: int | None, measured: int | None, ok: bool | None, why: str,
                 missing: str | None = None) -> None:
        fill(self, kind, form, pid, addr, figure, created, measured, ok, why, missing)

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "form": self.form, "pid": self.pid,
                "addr": None if self.addr is None else f"{self.addr:x}", "figure": self.figure,
                "created": self.created, "measured": self.measured, "ok": self.ok, "why": self.why,
                "missing": self.missing}
