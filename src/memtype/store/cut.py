"""``Store.cut``: a time range of a database as a new, smaller one to share (atop#358's ask).

The new database is created as any other (0600, ``O_EXCL``: an existing file is never replaced),
its samples re-encoded from the first one kept (a keyframe), and it is left as one self-contained
file (``journal_mode=DELETE``: no ``-wal`` to forget when copying it). ``redact`` drops what names
more than memory: each process's executable path (``exe``) and the host name. Command lines and
environments are never in a database at all; process names (comm), users, cgroup paths and the
paths of mapped files stay (the classifier reads the latter).
"""

from __future__ import annotations

import os
import sqlite3

from memtype.store.base import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.sample import Sample
    from memtype.store.store import Store


def redacted(sample: Sample) -> Sample:
    processes = {k: p.replace(exe=None) if p.exe is not None else p for k, p in sample.processes.items()}
    return sample.replace(processes=processes, host=sample.host.replace(hostname=None))


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
