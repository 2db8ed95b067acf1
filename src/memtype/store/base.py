"""The summary ``Store.info`` gives, and the store's error (defined in errors.py with the others)."""

from __future__ import annotations

from memtype.errors import StoreError
from memtype.model.frozen import FrozenValue, fill
from memtype.model.records import HostInfo


__all__ = ["StoreError", "StoreInfo"]


class StoreInfo(FrozenValue):
    """A database at a glance. ``first_wall``/``last_wall``: Unix times of the first and last sample
    (``None`` when empty); ``size_bytes``: the database file and its write-ahead log on disk;
    ``host``: the machine of the last recording session (``None`` when empty); ``interval``: the
    recorder's interval in seconds (``None``: not recorded by ``memtype record``)."""

    __slots__ = ("path", "schema_version", "count", "first_wall", "last_wall", "size_bytes", "host", "interval")

    path: str
    schema_version: int
    count: int
    first_wall: float | None
    last_wall: float | None
    size_bytes: int
    host: HostInfo | None
    interval: float | None

    def __init__(self, path: str, schema_version: int, count: int, first_wall: float | None,
                 last_wall: float | None, size_bytes: int, host: HostInfo | None, interval: float | None) -> None:
        fill(self, path, schema_version, count, first_wall, last_wall, size_bytes, host, interval)
