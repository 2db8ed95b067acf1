"""CSV for every command that prints a table: one header line of field ids, then one line per record.

The header is the records' field ids (``memtype.model.fields``), exactly as ``--fields`` and
``--sort`` spell them and as they sit in the JSON; sizes are bytes; an unknown value is an empty
cell; a list is its items joined by spaces, a mapping ``key=value`` pairs joined by ``;``; a flag is
``true``/``false``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from memtype.model.fields import Registry

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any


def cell(value: Any) -> Any:
    """A value as the csv module should write it."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in value.items())
    return value


def csv_text(registry: Registry, items: Iterable[Any], ids: Sequence[str], *, absent: Iterable[str] = ()) -> str:
    """The CSV of ``items`` with the columns ``ids`` (fields of ``registry``); fields computed from a
    kernel field in ``absent`` are empty (unknown)."""
    missing = frozenset(absent)
    fields = [registry[i] for i in ids]
    getters = [(lambda _: None) if missing.intersection(f.needs) else f.get for f in fields]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(ids)
    w.writerows([cell(g(r)) for g in getters] for r in items)
    return out.getvalue()
