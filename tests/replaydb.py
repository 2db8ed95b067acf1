"""Databases for the replay tests: ``make_db(path, samples)`` writes them with the real store
(``memtype.store``, as ``memtype record`` does)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from memtype.model.sample import Sample
from memtype.store import Store


def make_db(path: Path, samples: Iterable[Sample]) -> Path:
    with Store.open(str(path)) as st:
        for s in samples:
            st.append(s)
    return path
