"""Memtype's history: raw Samples in an SQLite database (``memtype record`` writes, the readers replay).

``Store.open(path, readonly=True)`` reads while a recorder writes; ``Store.open(path)`` is the one
writer. See ``store.py`` (the database), ``codec.py`` (a Sample as a frame), ``retain.py``
(retention and downsampling). This package imports only model, kinds, errors, parse, source and
the standard library.
"""

from memtype.store.base import StoreError, StoreInfo
from memtype.store.store import Store

__all__ = ["Store", "StoreError", "StoreInfo"]
