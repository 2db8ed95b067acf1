"""Databases for the replay tests: ``make_db(path, samples)`` writes them with ``memtype.store`` (PLAN.md,
contract 3). Until the store lands on main, ``ensure_store()`` stands a minimal JSON-lines store in for it
(same reading API), so the readers are tested against the contract now."""

from __future__ import annotations

import importlib
import json
import sys
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from memtype.errors import MemtypeError
from memtype.model.sample import Sample
from memtype.model.sample_dict import from_dict, to_dict


def ensure_store() -> None:
    """Make ``import memtype.store`` work: the real one, else the stand-in below."""
    try:
        importlib.import_module("memtype.store")
    except ImportError:
        module = types.ModuleType("memtype.store")
        module.Store = _Store  # type: ignore[attr-defined]
        module.StoreError = _StoreError  # type: ignore[attr-defined]
        sys.modules["memtype.store"] = module


def make_db(path: Path, samples: Iterable[Sample]) -> Path:
    ensure_store()
    store: Any = importlib.import_module("memtype.store")
    with store.Store.open(str(path)) as st:
        for s in samples:
            st.append(s)
    return path


class _StoreError(MemtypeError):
    pass


class _Info:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class _Store:
    def __init__(self, path: str, readonly: bool) -> None:
        self.path, self.readonly = path, readonly
        self.rows: list[tuple[float, str]] = []
        p = Path(path)
        if p.exists():
            for line in p.read_text().splitlines():
                wall, doc = line.split("\t", 1)
                self.rows.append((float(wall), doc))
        elif readonly:
            raise _StoreError(f"no database at {path}")

    @classmethod
    def open(cls, path: str, readonly: bool = False) -> _Store:
        return cls(path, readonly)

    def __enter__(self) -> _Store:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.readonly:
            Path(self.path).write_text("".join(f"{w}\t{d}\n" for w, d in self.rows))

    def append(self, sample: Sample) -> int:
        assert sample.wall is not None
        self.rows.append((sample.wall, json.dumps(to_dict(sample))))
        return len(self.rows)

    def info(self) -> _Info:
        walls = [w for w, _ in self.rows]
        return _Info(first_wall=walls[0] if walls else None, last_wall=walls[-1] if walls else None,
                     count=len(walls), size_bytes=Path(self.path).stat().st_size, schema_version=1, host=None,
                     path=self.path)

    def times(self) -> list[tuple[int, float]]:
        return [(i + 1, w) for i, (w, _) in enumerate(self.rows)]

    def nearest(self, wall: float) -> tuple[int, float]:
        return min(self.times(), key=lambda t: abs(t[1] - wall))

    def sample(self, sample_id: int) -> Sample:
        return from_dict(json.loads(self.rows[sample_id - 1][1]))

    def between(self, wall0: float, wall1: float) -> Iterator[Sample]:
        for w, doc in self.rows:
            if wall0 <= w <= wall1:
                yield from_dict(json.loads(doc))

    def cut(self, out_path: str, wall0: float, wall1: float, redact: bool = False) -> int:
        with _Store(out_path, False) as out:
            for s in self.between(wall0, wall1):
                if redact:  # as the store's cut: exe paths and the host name
                    s = s.replace(processes={k: p.replace(exe=None) for k, p in s.processes.items()},
                                  host=s.host.replace(hostname=None))
                out.append(s)
        return len(out.rows)
