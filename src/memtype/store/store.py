"""The history database: ``Store.open(path)`` to record, ``Store.open(path, readonly=True)`` to read.

SQLite (stdlib ``sqlite3``) in WAL mode: a reader never blocks the recorder nor is blocked by it,
and each sample is one transaction, so a recorder killed (even ``kill -9``) loses at most the sample
it was writing. ``synchronous=NORMAL``: a power cut may lose the last samples too, never the rest
(sqlite.org/wal.html). Samples are frames (``codec.py``): a keyframe every ``keyframe_every`` samples
and at the start of each recording session, deltas against the previous sample between, so reading
a sample replays at most that many frames, and a damaged frame spoils the rest of its chain only.

Reading is bounded: a frame larger than ``codec.MAX_FRAME`` compressed or uncompressed, a field of
the wrong type, a chain that does not link up: ``StoreError`` naming the sample, never a traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

from memtype._version import __version__
from memtype.model.records import HostInfo
from memtype.store import codec, decode, files, retain, schema
from memtype.store.base import StoreError, StoreInfo
from memtype.store.cut import cut as cut_range

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from memtype.model.sample import Sample
    from memtype.store.retain import Retained

KEYFRAME_EVERY = 120  # samples: 20 minutes at the default 10 s; a read replays at most this many frames
BUSY_MS = 5000  # a reader waits this long for a checkpoint in progress; the recorder for a reader's lock
DEFAULT_INTERVAL = 10.0
WALL = "CAST(wall AS REAL)"  # a hostile database may hold text there: never a ValueError


class _Stale(Exception):
    """The frames after where the decoder stands no longer follow it (their chain was re-encoded)."""


class Store:
    """A history database (module docstring). Use ``Store.open``; a context manager."""

    def __init__(self, path: str, conn: sqlite3.Connection, readonly: bool, lock: files.WriterLock | None,
                 keyframe_every: int) -> None:
        self.path, self.readonly, self.keyframe_every = path, readonly, keyframe_every
        self._conn, self._lock = conn, lock
        self._encoder = codec.Encoder()
        self._decoder = decode.Decoder()
        self._decoded: tuple[int, int] | None = None  # (chain, id) the decoder stands at
        self._last: Sample | None = None  # the sample it gave there
        self._generation: object = None  # meta 'generation' when it got there (bumped by each rewrite)
        self._dicts: dict[int, bytes] = {}
        self._last_id: int | None = None
        self._chain: int | None = None
        self.version = _check(path, conn)
        if not readonly and self.version < schema.VERSION:  # what we append is of our version: say so
            with self._write():
                self._set_meta(schema_version=str(schema.VERSION))
            self.version = schema.VERSION

    @classmethod
    def open(cls, path: str, readonly: bool = False, keyframe_every: int = KEYFRAME_EVERY) -> Store:
        """Open (writable: create if missing) the database at ``path``.

        Raises:
            StoreError: not a memtype database, a newer schema, a link or a file of another user
                where the database or its sidecars are, or (writable) another recorder on it.
        """
        path = os.fspath(path)
        exists = files.check_existing(path, writable=not readonly)
        if readonly and not exists:
            raise StoreError(f"{path}: no such database")
        lock = None
        try:
            if not readonly:
                if not exists:
                    files.create(path)
                lock = files.WriterLock(path)
            conn = _connect(path, readonly, new=not exists)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        try:
            return cls(path, conn, readonly, lock, max(1, keyframe_every))
        except BaseException:
            conn.close()
            if lock is not None:
                lock.release()
            raise

    # -- writing ---------------------------------------------------------------------------------
    def append(self, sample: Sample, interval: float | None = None) -> int:
        """Store ``sample`` (one transaction); its id. ``interval``: the recorder's, for ``nearest``.

        Raises:
            StoreError: the disk is full or the database cannot be written; nothing of this sample is
                kept, the database stays readable.
        """
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")
        key = self._chain is None or self._encoder.count >= self.keyframe_every
        try:
            payload = self._encoder.encode(sample, key)
            wall = sample.wall if sample.wall is not None else time.time()
            with self._write():
                data = codec.compress(payload)
                row = self._conn.execute("SELECT coalesce(max(id), 0) + 1 FROM samples").fetchone()
                sid = int(row[0])
                chain = sid if key else self._chain
                self._conn.execute("INSERT INTO samples (id, wall, chain, base, dict, tier, processes, size, data) "
                                   "VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
                                   (sid, wall, chain, None if key else self._last_id, None,
                                    len(sample.processes), len(payload), data))
                if key:
                    self._set_meta(host=json.dumps(codec.host_dict(sample.host)))
                if interval is not None:
                    self._set_meta(interval=repr(float(interval)))
        except BaseException:
            self._encoder.reset()  # the next sample starts a new chain: nothing refers to a lost frame
            self._chain = None
            raise
        self._encoder.accept()
        self._last_id, self._chain = sid, chain
        return sid

    def _write(self) -> _transaction:
        """A write transaction (``with st._write(): ...``)."""
        return _transaction(self._conn, self.path)

    def retain(self, now: float | None = None, retain_for: float | None = None, max_size: int | None = None,
               tiers: Sequence[tuple[float, float]] | None = None) -> Retained:
        """Drop samples older than ``retain_for`` seconds, thin them by ``tiers`` ((age, spacing) pairs,
        default ``retain.TIERS``), keep the database under ``max_size`` bytes (``retain.py``)."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")
        return retain.retain(self, time.time() if now is None else now, retain_for, max_size,
                             retain.TIERS if tiers is None else tiers)

    def cut(self, out_path: str, wall0: float, wall1: float, redact: bool = False) -> int:
        """Write the samples from ``wall0`` to ``wall1`` into a new database ``out_path`` (``cut.py``:
        ``redact``: as ``snapshot --redact``, ``store/cut.py``); the number of samples written."""
        return cut_range(self, out_path, wall0, wall1, redact)

    def _set_meta(self, **values: str) -> None:
        self._conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())

    # -- reading ---------------------------------------------------------------------------------
    def times(self) -> list[tuple[int, float]]:
        """Every sample's (id, Unix time), in time order."""
        return [(int(i), float(w)) for i, w in self._query(f"SELECT id, {WALL} FROM samples ORDER BY 2, id")]

    def nearest(self, wall: float) -> tuple[int, float]:
        """The sample nearest to Unix time ``wall``; StoreError when ``wall`` is outside the recorded
        range by more than the recording interval (or the database is empty)."""
        first = self._query(f"SELECT min({WALL}), max({WALL}) FROM samples")[0]
        if first[0] is None:
            raise StoreError(f"{self.path} holds no samples yet")
        lo, hi = float(first[0]), float(first[1])
        slack = self._interval() or DEFAULT_INTERVAL
        if wall < lo - slack or wall > hi + slack:
            raise StoreError(f"no sample near {_clock(wall, lo, hi)}: the record covers "
                             f"{_clock(lo, lo, hi)}-{_clock(hi, lo, hi)}")
        below = self._query(f"SELECT id, {WALL} FROM samples WHERE wall <= ? ORDER BY wall DESC, id DESC LIMIT 1", wall)
        above = self._query(f"SELECT id, {WALL} FROM samples WHERE wall >= ? ORDER BY wall, id LIMIT 1", wall)
        best = min(below + above, key=lambda r: abs(float(r[1]) - wall))
        return int(best[0]), float(best[1])

    def sample(self, sample_id: int) -> Sample:
        """The Sample stored as ``sample_id``, exactly as it was appended."""
        own = not self._conn.in_transaction
        if own:  # one snapshot for the lookups and the replay: a rewrite commits before or after
            self._query("BEGIN")
        try:
            return self._sample(sample_id)
        finally:
            if own:
                self._conn.execute("COMMIT")

    def _sample(self, sample_id: int) -> Sample:
        row = self._query("SELECT CAST(chain AS INTEGER), (SELECT value FROM meta WHERE key = 'generation') "
                          "FROM samples WHERE id = ?", sample_id)
        if not row:
            raise StoreError(f"{self.path} has no sample {sample_id}")
        chain = int(row[0][0])
        if row[0][1] != self._generation:  # retention re-encoded chains since: what the decoder holds is stale
            self._generation, self._decoded = row[0][1], None
        at = self._decoded
        if at == (chain, sample_id) and self._last is not None:
            return self._last
        start = at[1] if at is not None and at[0] == chain and at[1] < sample_id else 0  # step on from there
        try:
            self._advance(chain, start, sample_id)
        except _Stale:  # the recorder re-encoded this chain (retention) since the last read: from its keyframe
            self._advance(chain, 0, sample_id)
        if self._decoded != (chain, sample_id):
            raise StoreError(f"{self.path}: sample {sample_id} cannot be read: its chain does not reach it")
        try:
            self._last = self._decoder.build()
        except codec.Damaged as exc:
            self._decoded = None
            raise StoreError(f"{self.path}: sample {sample_id} is damaged: {exc}") from None
        return self._last

    def between(self, wall0: float, wall1: float) -> Iterator[Sample]:
        """The samples from ``wall0`` to ``wall1`` (Unix times, both included), in time order, one at a time."""
        ids = [int(r[0]) for r in self._query("SELECT id FROM samples WHERE wall >= ? AND wall <= ? ORDER BY wall, id",
                                              wall0, wall1)]
        for sid in ids:
            yield self.sample(sid)

    def _advance(self, chain: int, after: int, upto: int) -> None:
        """Apply chain ``chain``'s frames after id ``after`` (0: from the keyframe) up to ``upto``."""
        self._last = None
        if after == 0:
            self._decoder.reset()
            self._decoded = None
        expect = None if after == 0 else after
        cur = self._conn.execute(
            "SELECT id, base, dict, length(data), CASE WHEN length(data) <= ? THEN CAST(data AS BLOB) END FROM samples "
            "WHERE chain = ? AND id > ? AND id <= ? ORDER BY id", (codec.MAX_FRAME, chain, after, upto))
        try:
            for sid, base, zid, length, data in cur:
                where = f"{self.path}: sample {sid}"
                if base != expect:
                    self._decoded = None
                    if after:
                        raise _Stale
                    raise StoreError(f"{where} cannot be read: its chain is broken (a frame before it is missing)")
                if data is None:
                    raise StoreError(f"{where} is damaged: a frame of {length} bytes (the limit is "
                                     f"{codec.MAX_FRAME >> 20} MiB)")
                try:
                    self._decoder.advance(codec.decompress(bytes(data), self._dict(zid)))
                except codec.Damaged as exc:
                    self._decoded = None
                    raise StoreError(f"{where} is damaged: {exc}") from None
                self._decoded, expect = (chain, int(sid)), sid
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        finally:
            cur.close()

    def _dict(self, zid: Any) -> bytes | None:
        if zid is None:
            return None
        if zid not in self._dicts:
            row = self._query("SELECT data FROM dicts WHERE id = ?", zid)
            if not row or not isinstance(row[0][0], bytes) or len(row[0][0]) > 1 << 16:
                raise StoreError(f"{self.path}: compression dictionary {zid} is missing or damaged")
            self._dicts[zid] = row[0][0]
        return self._dicts[zid]

    def info(self) -> StoreInfo:
        count, lo, hi = self._query(f"SELECT count(*), min({WALL}), max({WALL}) FROM samples")[0]
        host = None
        text = self._meta("host")
        if text is not None:
            try:
                host = codec.host_from(json.loads(text))
            except (ValueError, TypeError, KeyError):
                raise StoreError(f"{self.path}: the recorded host is damaged") from None
        return StoreInfo(self.path, self.version, int(count), lo, hi, self.size_bytes(), host, self._interval())

    def size_bytes(self) -> int:
        """The database file and its write-ahead log, in bytes on disk."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(self.path + suffix).st_size
            except OSError:
                pass
        return total

    def _interval(self) -> float | None:
        text = self._meta("interval")
        try:
            value = float(text) if text is not None else None
        except ValueError:
            return None
        return value if value is not None and 0 < value < 1e9 else None

    def _meta(self, key: str) -> str | None:
        row = self._query("SELECT value FROM meta WHERE key = ?", key)
        return str(row[0][0]) if row else None

    def _query(self, sql: str, *params: Any) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    # -- the rest --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close; a writer leaves the database in rollback-journal mode when no reader is on it, so
        that readers (read-only connections) need and leave no ``-wal``/``-shm`` files beside it."""
        try:
            if not self.readonly:
                try:
                    self._conn.execute("PRAGMA busy_timeout = 100")
                    self._conn.execute("PRAGMA journal_mode = DELETE")
                except sqlite3.DatabaseError:
                    pass  # a reader is on it: it stays in WAL mode, as after a crash
            self._conn.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: str, readonly: bool, new: bool) -> sqlite3.Connection:
    """A connection with the pragmas of a store; the tables made if ``new``."""
    from urllib.parse import quote  # only here: the reading commands import the store lazily

    uri = f"file:{quote(os.path.abspath(path))}?mode={'ro' if readonly else 'rw'}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_MS / 1000, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from None
    try:
        # a database may come from anyone: no code from its schema, cells checked, no mmap of it
        for pragma in ("trusted_schema = OFF", "cell_size_check = ON", "mmap_size = 0", f"busy_timeout = {BUSY_MS}"):
            conn.execute(f"PRAGMA {pragma}")
        if not readonly:
            if new:
                conn.execute("PRAGMA page_size = 1024")  # a frame's last page is half empty on average: 0.5 KiB
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before the first table: size can shrink
                conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA journal_size_limit = 8388608")  # the WAL is cut back to 8 MiB after a checkpoint
            if new:
                with _transaction(conn, path):
                    for sql in (*schema.TABLES.values(), *schema.INDEXES):
                        conn.execute(sql)
                    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                     [("schema_version", str(schema.VERSION)), ("created", repr(time.time())),
                                      ("memtype", __version__)])
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "locked" in str(exc):  # a reader on a database in rollback mode keeps us from WAL for > BUSY_MS
            raise StoreError(f"{path} is busy (a reader holds it); try again") from None
        raise StoreError(f"{path} is not a memtype database ({exc})") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _check(path: str, conn: sqlite3.Connection) -> int:
    """The schema version of an opened database; StoreError if it is not one we can read."""
    try:
        tables = {name: sql for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            raise StoreError(f"{path} is not a memtype database (no meta table)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        columns = {t: tuple(r[1] for r in conn.execute(f"PRAGMA table_info({t})")) for t in schema.COLUMNS
                   if t in tables}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a memtype database ({exc})") from None
    try:
        version = int(row[0]) if row is not None else None
    except (TypeError, ValueError):
        version = None
    if version is None:
        raise StoreError(f"{path} is not a memtype database (no schema version)")
    if version > schema.VERSION:
        raise StoreError(f"{path} was written by a newer memtype (store schema {version}; this memtype reads "
                         f"up to {schema.VERSION}): upgrade memtype to read it")
    if version not in schema.READS or columns != schema.COLUMNS:
        raise StoreError(f"{path} is damaged: its tables are not those of store schema {version}")
    return version


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error; SQLite errors as one-line StoreErrors."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn, self.path = conn, path

    def __enter__(self) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise StoreError(_write_error(self.path, exc)) from None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if kind is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.DatabaseError as error:
                exc = error
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass
        if isinstance(exc, sqlite3.DatabaseError):
            raise StoreError(_write_error(self.path, exc)) from None


def _write_error(path: str, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "full" in text:
        return f"{path}: the disk is full; recording stopped (the samples so far are kept and readable)"
    return f"cannot write {path}: {text}"


def _clock(wall: float, lo: float, hi: float) -> str:
    """``14:05`` (local time), with the date where the range spans days or ``wall`` is on another."""
    days = {time.strftime("%Y-%m-%d", time.localtime(t)) for t in (wall, lo, hi)}
    return time.strftime("%H:%M" if len(days) == 1 else "%Y-%m-%d %H:%M", time.localtime(wall))
