"""``Store.cut``: a time range of a database as a new, smaller one to share (atop#358's ask).

The new database is created as any other (0600, ``O_EXCL``: an existing file is never replaced),
its samples re-encoded from the first one kept (a keyframe), and it is left as one self-contained
file (``journal_mode=DELETE``: no ``-wal`` to forget when copying it). ``redact`` hides what names
more than memory, as ``snapshot --redact`` does (``source/redact.py``): each executable keeps only
its name (``/home/alice/bin/train`` -> ``train``: grouping by program is unchanged), each mapped
file's path is cut to ``/.../NAME`` (kernel object names such as ``/memfd:``, ``/SYSV``, and device
nodes stay: the classifier reads them, so no figure changes), and the host name is dropped.
Command lines and environments are never in a database at all; process names (comm), user names
and cgroup paths stay.
"""

from __future__ import annotations

import os
import sqlite3

from memtype.model.sample import SmapsRows
from memtype.source.redact import redact_path
from memtype.store.base import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.sample import Sample
    from memtype.store.store import Store


def redacted(sample: Sample) -> Sample:
    """``sample`` with executables cut to their names, mapped paths to ``/.../NAME``, no host name."""
    pool: dict[object, object] = {}  # equal headers stay shared between processes
    processes = {}
    for key, p in sample.processes.items():
        exe = None if p.exe is None else p.exe.rsplit("/", 1)[-1]
        rows = p.smaps
        if rows is not None:
            headers = tuple(pool.setdefault(h, (h[0], h[1], _path(h[2]), h[3])) for h in rows.headers)
            rows = SmapsRows(rows.names, headers, rows.numbers)  # type: ignore[arg-type]
        processes[key] = p.replace(exe=exe, smaps=rows)
    return sample.replace(processes=processes, host=sample.host.replace(hostname=None))


def _path(path: str) -> str:
    return os.fsdecode(redact_path(os.fsencode(path))) if path.startswith("/") else path


def cut(st: Store, out_path: str, wall0: float, wall1: float, redact: bool) -> int:
    """Write the samples from ``wall0`` to ``wall1`` into the new database ``out_path``; how many."""
    out_path = os.fspath(out_path)
    if os.path.lexists(out_path):
        raise StoreError(f"{out_path} already exists; give a new file for the cut")
    ids = [int(r[0]) for r in st._query("SELECT id FROM samples WHERE wall >= ? AND wall <= ? ORDER BY wall, id",
                                        wall0, wall1)]
    if not ids:
        raise StoreError(f"{st.path} has no samples in that range")
    interval = st._interval()
    count = 0
    with type(st).open(out_path, keyframe_every=st.keyframe_every) as out:
        for sid in ids:
            sample = st.sample(sid)
            out.append(redacted(sample) if redact else sample, interval=interval)
            count += 1
    try:
        conn = sqlite3.connect(out_path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")
        finally:
            conn.close()
        os.unlink(f"{out_path}-lock")
    except (sqlite3.DatabaseError, OSError) as exc:
        raise StoreError(f"cannot finish {out_path}: {exc}") from None
    return count
