"""Retention, tiered downsampling and cuts of a history database, done by the recorder itself.

* ``--retain AGE``: samples older than AGE go.
* Tiers (``TIERS``, the documented default ``1d:100s``): past each tier's age, samples are thinned
  to at least its spacing apart (every sample for a day, then one per 100 s: one in ten at the
  default 10 s interval). A tier's spacing is kept from sample to sample across chains, so thinning
  twice keeps what the first pass kept.
* ``--max-size SIZE``: the oldest chains go until the database (file and write-ahead log) fits.

Deltas refer to the sample before them, so thinning or cutting a chain re-encodes what it keeps
(``rewrite``: the first sample kept becomes a keyframe), all in one transaction: a recorder killed
meanwhile leaves the database as it was. The chain being recorded is never touched.
"""

from __future__ import annotations

import sqlite3

from memtype.store import codec, decode
from memtype.store.base import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from memtype.model.sample import Sample
    from memtype.store.store import Store

DAY = 86400.0
TIERS: tuple[tuple[float, float], ...] = ((DAY, 100.0),)  # (age, spacing) in seconds: "1d:100s"
SLACK = 0.95  # a sample is kept when at least 95% of the spacing after the last kept (clock jitter)
GROUP = 8  # chains thinned in one transaction (bounds its time and the write-ahead log)


class Retained:
    """What a ``retain`` pass did: samples removed by age, by tiers and by size, and the size after."""

    def __init__(self) -> None:
        self.aged = self.thinned = self.sized = 0
        self.size_bytes = 0

    @property
    def removed(self) -> int:
        return self.aged + self.thinned + self.sized


def retain(st: Store, now: float, retain_for: float | None, max_size: int | None,
           tiers: Sequence[tuple[float, float]] = TIERS) -> Retained:
    """One retention pass over ``st`` (module docstring) at Unix time ``now``."""
    done = Retained()
    if retain_for is not None:
        done.aged = _by_age(st, now - retain_for)
    for level, (age, spacing) in enumerate(sorted(tiers), 1):
        done.thinned += _thin(st, now - age, spacing, level)
    if max_size is not None:
        done.sized = _by_size(st, max_size)
    if done.removed:
        _shrink(st)
    done.size_bytes = st.size_bytes()
    return done


def _rows(st: Store, sql: str, *params: object) -> list[tuple[int, float, int]]:
    return [(int(i), float(w), int(c)) for i, w, c in st._query(sql, *params)]


def _by_age(st: Store, cutoff: float) -> int:
    old = _rows(st, "SELECT id, wall, chain FROM samples WHERE wall < ? ORDER BY id", cutoff)
    old = [r for r in old if r[2] != st._chain]
    if not old:
        return 0
    chains = {c for _, _, c in old}
    ids = [i for i, _, _ in _rows(st, f"SELECT id, wall, chain FROM samples WHERE chain IN "
                                  f"({','.join('?' * len(chains))}) ORDER BY id", *chains)]
    gone = {i for i, _, _ in old}
    rewrite(st, ids, lambda i: i not in gone, None)
    return len(gone)


def _thin(st: Store, before: float, spacing: float, level: int) -> int:
    """Thin the chains wholly older than ``before`` to ``spacing`` (those not thinned to ``level`` yet)."""
    rows = _rows(st, "SELECT id, wall, chain FROM samples WHERE chain IN (SELECT chain FROM samples GROUP BY chain "
                 "HAVING max(wall) < ? AND min(tier) < ?) ORDER BY wall, id", before, level)
    rows = [r for r in rows if r[2] != st._chain]
    removed = 0
    while rows:
        chains: list[int] = []
        for _, _, c in rows:
            if c not in chains:
                chains.append(c)
        group = set(chains[:GROUP])
        part = [r for r in rows if r[2] in group]
        rows = [r for r in rows if r[2] not in group]
        prior = st._query("SELECT max(wall) FROM samples WHERE wall < ? AND chain NOT IN "
                          f"({','.join('?' * len(group))})", part[0][1], *group)[0][0]
        last = None if prior is None else float(prior)
        keep = set()
        for sid, wall, _ in part:
            if last is None or wall - last >= spacing * SLACK:
                keep.add(sid)
                last = wall
        rewrite(st, [i for i, _, _ in sorted(part)], keep.__contains__, level)
        removed += len(part) - len(keep)
    return removed


def _by_size(st: Store, max_size: int) -> int:
    removed = 0
    for _ in range(4):  # page overhead makes the first estimate short at times
        excess = st.size_bytes() - max_size
        if excess <= 0:
            break
        chains = st._query("SELECT chain, count(*), sum(length(data)) FROM samples GROUP BY chain ORDER BY min(wall)")
        drop: list[int] = []
        freed = 0
        for chain, count, size in chains:
            if chain == st._chain or len(drop) == len(chains) - 1 or freed >= excess:
                break
            drop.append(int(chain))
            freed += int(size) + 64 * int(count)
            removed += int(count)
        if not drop:
            break
        with st._write():
            st._conn.execute(f"DELETE FROM samples WHERE chain IN ({','.join('?' * len(drop))})", drop)
        _shrink(st)
    return removed


def _shrink(st: Store) -> None:
    """Give freed pages back to the file system, and cut the write-ahead log."""
    try:
        st._conn.execute("PRAGMA incremental_vacuum")
        st._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.DatabaseError:
        pass  # a reader holds the log: the next pass shrinks it


def frames(st: Store, ids: Sequence[int]) -> Iterator[tuple[int, Sample]]:
    """The samples ``ids`` (ascending, whole chains from their keyframes or continuing them), each
    row read just before it is yielded: a caller may rewrite the rows it has seen."""
    decoder = decode.Decoder()
    last: int | None = None
    for sid in ids:
        row = st._query("SELECT base, dict, CAST(data AS BLOB) FROM samples WHERE id = ?", sid)
        if not row:
            raise StoreError(f"{st.path}: sample {sid} is missing")
        base, zid, data = row[0]
        if base is not None and base != last:
            raise StoreError(f"{st.path}: sample {sid} cannot be read: its chain is broken")
        try:
            sample = decoder.decode(codec.decompress(bytes(data), st._dict(zid)))
        except codec.Damaged as exc:
            raise StoreError(f"{st.path}: sample {sid} is damaged: {exc}") from None
        last = sid
        yield sid, sample


def rewrite(st: Store, ids: Sequence[int], keep: Callable[[int], bool], tier: int | None) -> None:
    """Re-encode the samples ``ids`` (whole chains, ascending), keeping those ``keep`` says, in one
    transaction; kept samples keep their ids (and ``tier`` is set on them unless None)."""
    encoder = codec.Encoder()
    chain: int | None = None
    last: int | None = None
    with st._write():
        st._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', "
                         "coalesce((SELECT value FROM meta WHERE key = 'generation'), 0) + 1)")
        for sid, sample in frames(st, ids):
            if not keep(sid):
                st._conn.execute("DELETE FROM samples WHERE id = ?", (sid,))
                continue
            key = chain is None or encoder.count >= st.keyframe_every
            payload = encoder.encode(sample, key)
            encoder.accept()
            base = None if key else last
            chain = sid if key else chain
            last = sid
            row = st._query("SELECT tier FROM samples WHERE id = ?", sid)[0]
            st._conn.execute("UPDATE samples SET chain = ?, base = ?, dict = NULL, tier = ?, size = ?, data = ? "
                             "WHERE id = ?", (chain, base, row[0] if tier is None else tier, len(payload),
                                              codec.compress(payload), sid))
    st._decoded = None  # the reader's cache may stand in a rewritten chain
