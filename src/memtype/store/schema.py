"""The database's tables (schema version 1) and the checks an opened database must pass.

``meta`` holds ``schema_version``, ``created`` (Unix time), ``memtype`` (the writer's version),
``host`` (the last session's ``HostInfo`` as JSON), ``interval`` (the recorder's seconds). A
sample is one row of ``samples``: its Unix time, the id of its chain's keyframe (``chain``: its
own for a keyframe), the sample it is a delta against (``base``; NULL for a keyframe), the zlib
preset dictionary it was compressed with (``dict``, a row of ``dicts``), the downsampling tier
applied to it (``tier``, 0 = as recorded), its process count and its frame (``codec.py``).

Version 2 has the tables of 1; its frames may use what codec.py's format 2 adds. A newer memtype reads every older version (a reader per version is kept, with a fixture database
of it in tests); a database of a newer version is refused with a message saying so.
"""

from __future__ import annotations

VERSION = 2
READS = (1, 2)  # 2: frames of format 2 ("*" page patches, "t" nanosecond times); the tables are as in 1
APPLICATION_ID = 0x6D656D74  # "memt": PRAGMA application_id, so file(1) and we can tell our databases

TABLES = {
    "meta": "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "dicts": "CREATE TABLE dicts (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    "samples": "CREATE TABLE samples (id INTEGER PRIMARY KEY, wall REAL NOT NULL, chain INTEGER NOT NULL, "
               "base INTEGER, dict INTEGER, tier INTEGER NOT NULL DEFAULT 0, processes INTEGER, "
               "size INTEGER NOT NULL, data BLOB NOT NULL)",
}
INDEXES = ("CREATE INDEX samples_wall ON samples (wall)", "CREATE INDEX samples_chain ON samples (chain, id)")
COLUMNS = {"meta": ("key", "value"), "dicts": ("id", "data"),
           "samples": ("id", "wall", "chain", "base", "dict", "tier", "processes", "size", "data")}
