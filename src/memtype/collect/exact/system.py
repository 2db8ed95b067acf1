"""The whole machine page by page: every PFN of /proc/kpageflags and /proc/kpagecount (``system --exact``).

Streaming, so peak memory does not grow with RAM (1 TiB of RAM is 2 GiB of flags): both files are
read in equal chunks of ``CHUNK_PFNS`` entries into buffers allocated once, in two threads (each
read is kernel time on its own CPU; readinto drops the GIL), while the previous chunk is counted.
numpy does no classification: it packs the KPF bits that decide a page and a count class (0, 1,
more) into a 14-bit key and histograms it (``np.bincount``). The decision table is
``memtype.model.pages`` (the one the per-process pass uses too), applied once per distinct key (a
few hundred) by ``page_bucket``, so the rules are the same ones tested on the verbatim signatures of
kernel-spec.md B.4. The other KPF bits are ignored. Kernel and free memory come from meminfo, not
from these buckets.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from memtype.collect.exact.numpy_import import numpy
from memtype.errors import MemtypeError, ParseError
from memtype.model.machine import PageCensus
from memtype.model.pages import RULES, page_bucket
from memtype.parse.pagebits import KPF, kpf_mask

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any, BinaryIO


# 2 MiB of each file per read (256K PFNs = 1 GiB of RAM). Measured on 6.5M PFNs here: 8 MiB reads
# cost 17k page faults and 86 MiB peak RSS for the same time; 512 KiB reads spend more time in the
# per-chunk histogram than they save.
CHUNK_PFNS = 1 << 18

# The key: the bits that decide a page, in 14 bits, so the histogram is 16K entries (128 KiB; an
# 18-bit key made bincount allocate 2 MiB per chunk, which showed up in the AnonPages comparison).
# Two runs of the u64 are looked up in tables: bits 3-14 (4096 entries) and bits 17-32 (65536).
_LOW_SHIFT, _LOW_WIDTH = 3, 12
_HIGH_SHIFT, _HIGH_WIDTH = 17, 16
# low code (9 bits): these 8 bits as they are, or 256 + i for the page type _LOW_TYPES[i] (a typed
# page is decided by its type alone: its rule comes first and tests nothing else, spec B.6)
_LOW_BITS = ("uptodate", "dirty", "lru", "writeback", "mmap", "anon", "swapcache", "swapbacked")
_LOW_TYPES = ("slab", "buddy")
# high code (3 bits): of these bits, the one whose rule comes first in RULES, or 0. Each of them
# decides alone where its rule matches (only "reserved" needs another bit, mmap, a low bit), so the
# bits of later rules do not matter. Lowest priority first (later entries win).
_HIGH_BITS = ("ksm", "huge", "zero_page", "nopage", "offline", "pgtable", "reserved")
_HIGH_CODES = tuple(sorted(_HIGH_BITS, key=lambda name: -next(
    i for i, r in enumerate(RULES) if name in r.all_of + r.any_of)))
KEPT = _LOW_BITS + _LOW_TYPES + _HIGH_CODES
_HIGH_KEY_SHIFT = 9
_COUNT_SHIFT = 12                 # key bits 12-13: kpagecount 0, 1, or 2 (= more than one)
KEY_SPACE = 1 << (_COUNT_SHIFT + 2)

# Buckets, in display order. "kernel.*"/"free.buddy" are counted for comparison with meminfo only.
BUCKETS = ("anonymous", "cow.fork", "cow.ksm", "shared.mapped", "shared.unmapped", "file.mapped", "file.unmapped",
           "device", "swap_cache", "hugetlb", "zero", "nopage", "kernel.slab", "kernel.pgtable", "kernel.offline",
           "free.buddy", "untyped")

_M = {name: kpf_mask(name) for name in KEPT}


def pack_key(flags: int, count: int) -> int:
    """The histogram key of a page (what the numpy tables compute for a whole chunk)."""
    return _low_code(flags >> _LOW_SHIFT & ((1 << _LOW_WIDTH) - 1)) | \
        _high_code(flags >> _HIGH_SHIFT & ((1 << _HIGH_WIDTH) - 1)) | min(count, 2) << _COUNT_SHIFT


def key_flags(key: int) -> int:
    """The KPF bits a histogram key stands for (the count bits dropped): page_bucket decides the same."""
    low, high = key & ((1 << _HIGH_KEY_SHIFT) - 1), key >> _HIGH_KEY_SHIFT & 7
    if low >= 256:
        flags = _M[_LOW_TYPES[low - 256]]
    else:
        flags = sum(_M[name] for i, name in enumerate(_LOW_BITS) if low >> i & 1)
    return flags | (_M[_HIGH_CODES[high - 1]] if high else 0)


def _low_code(field: int) -> int:
    flags = field << _LOW_SHIFT
    for i, name in enumerate(_LOW_TYPES):
        if flags & _M[name]:
            return 256 + i
    return sum(1 << i for i, name in enumerate(_LOW_BITS) if flags & _M[name])


def _high_code(field: int) -> int:
    flags = field << _HIGH_SHIFT
    return max((i for i, name in enumerate(_HIGH_CODES, 1) if flags & _M[name]), default=0) << _HIGH_KEY_SHIFT


def high_code_table(np: ModuleType) -> Any:
    """``_high_code`` of every value of the high run, built with array operations (65536 entries)."""
    field = np.arange(1 << _HIGH_WIDTH, dtype=np.int64)
    out = np.zeros(1 << _HIGH_WIDTH, dtype=np.int64)
    for i, name in enumerate(_HIGH_CODES, 1):  # ascending priority: a later code overwrites
        out[(field >> (KPF[name] - _HIGH_SHIFT)) & 1 == 1] = i << _HIGH_KEY_SHIFT
    return out


class PageScanner:
    """Streams kpageflags + kpagecount and counts pages per bucket.

    Construct it (allocates and touches the read buffers), then ``scan``. ``scan`` starts the first
    reads before it imports numpy, so the import (about 80 ms) costs no wall time, and calls
    ``ready`` once numpy and its arrays are in memory, before anything is counted: the moment to
    read meminfo, so that the scanner's own memory is in meminfo and in the flags alike (spec B.5).

    Raises:
        MemtypeError: numpy is not installed (checked here, before anything is read).
    """

    def __init__(self, chunk: int = CHUNK_PFNS) -> None:
        from importlib.util import find_spec

        if find_spec("numpy") is None:
            numpy()  # raises the one-line "--exact needs numpy" error
        self.chunk = chunk
        # bytearray(n) is zero-filled, so its pages are resident now. 0-1: kpageflags, 2-3:
        # kpagecount (one being read while the other is counted), 4-6: work arrays.
        self.raw = [bytearray(chunk * 8) for _ in range(7)]

    def scan(self, flags_file: BinaryIO, count_file: BinaryIO, names: tuple[str, str] = ("proc/kpageflags",
                                                                                        "proc/kpagecount"),
             ready: Callable[[], None] | None = None) -> PageCensus:
        """Read both streams to the end and count.

        Raises:
            ParseError: a read of a partial entry, or files of different lengths (a page walk fails
            loudly, style.md rule 6).
        """
        from concurrent.futures import Future, ThreadPoolExecutor

        t0 = time.perf_counter()
        raw = self.raw
        pfns = 0
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="memtype-kpage") as pool:
            i = 0
            pending: tuple[Future[int], Future[int]] | None = (pool.submit(_read, flags_file, raw[0], names[0]),
                                                               pool.submit(_read, count_file, raw[2], names[1]))
            counter = _Counter(numpy(), raw[4:])  # the import overlaps the first reads
            if ready is not None:
                ready()
            while pending is not None:
                nf, nc = pending[0].result(), pending[1].result()
                cur = i % 2
                if nf % 8 or nc % 8:
                    raise ParseError(names[0] if nf % 8 else names[1], f"partial entry at byte {pfns * 8 + nf}")
                if nf != nc:
                    raise ParseError(names[1], f"{(pfns * 8 + nc) // 8} entries, but {names[0]} has "
                                               f"{(pfns * 8 + nf) // 8} at least (files of different lengths)")
                n = nf // 8
                pending = None
                if n == self.chunk:  # more may follow: read it while this chunk is counted
                    nxt = 1 - cur
                    pending = (pool.submit(_read, flags_file, raw[nxt], names[0]),
                               pool.submit(_read, count_file, raw[2 + nxt], names[1]))
                if n:
                    counter.count(raw[cur], raw[2 + cur], n)
                    pfns += n
                i += 1
        nonzero = counter.hist.nonzero()[0].tolist()
        return _census(dict(zip(nonzero, counter.hist[nonzero].tolist())), pfns, time.perf_counter() - t0)


class _Counter:
    """The numpy half: pack each page's deciding bits and count class into a key; histogram the keys."""

    def __init__(self, np: ModuleType, work: list[bytearray]) -> None:
        self.np = np
        self.work = np.frombuffer(work[0], dtype=np.uint64)
        self.key = np.frombuffer(work[1], dtype=np.int64)
        self.key2 = np.frombuffer(work[2], dtype=np.int64)
        self.low = np.array([_low_code(v) for v in range(1 << _LOW_WIDTH)], dtype=np.int64)
        self.high = high_code_table(np)
        self.hist = np.zeros(KEY_SPACE, dtype=np.int64)

    def count(self, flags: bytearray, counts: bytearray, n: int) -> None:
        np = self.np
        f = np.frombuffer(flags, dtype=np.uint64, count=n)
        c = np.frombuffer(counts, dtype=np.uint64, count=n)
        w, k, k2 = self.work[:n], self.key[:n], self.key2[:n]
        np.right_shift(f, _LOW_SHIFT, out=w)
        np.bitwise_and(w, (1 << _LOW_WIDTH) - 1, out=w)
        np.take(self.low, w.view(np.int64), out=k, mode="clip")
        np.right_shift(f, _HIGH_SHIFT, out=w)
        np.bitwise_and(w, (1 << _HIGH_WIDTH) - 1, out=w)
        np.take(self.high, w.view(np.int64), out=k2, mode="clip")
        np.bitwise_or(k, k2, out=k)
        np.minimum(c, 2, out=w)
        np.left_shift(w, _COUNT_SHIFT, out=w)
        np.bitwise_or(k, w.view(np.int64), out=k)
        self.hist += np.bincount(k, minlength=KEY_SPACE)


def _census(hist: dict[int, int], pfns: int, seconds: float) -> PageCensus:
    """Apply the decision table once per distinct key of the histogram (key -> pages)."""
    pages = dict.fromkeys(BUCKETS, 0)
    dirty = writeback = 0
    raw: dict[tuple[int, int], int] = {}
    for key, n in hist.items():
        flags, count = key_flags(key), key >> _COUNT_SHIFT
        raw[(flags, count)] = n
        bucket = page_bucket(flags, count)
        pages[bucket] += n
        if bucket.startswith("file."):
            dirty += n if flags & _M["dirty"] else 0
            writeback += n if flags & _M["writeback"] else 0
    return PageCensus(pfns, pages, dirty, writeback, seconds, raw)


def _read(f: BinaryIO, buf: bytearray, name: str) -> int:
    """``_fill`` with one-line errors naming the file."""
    try:
        return _fill(f, buf)
    except OSError as exc:
        raise MemtypeError(f"cannot read {name}: {exc.strerror or exc}") from None
    except Exception as exc:  # EOFError, zlib.error: a truncated or damaged .gz in a capture
        raise ParseError(name, f"damaged ({type(exc).__name__}: {exc})") from None


def _fill(f: BinaryIO, buf: bytearray) -> int:
    """Read into ``buf`` until it is full or the stream ends; bytes read."""
    view = memoryview(buf)
    readinto = f.readinto  # type: ignore[attr-defined]  # FileIO and GzipFile, what Root.open_binary returns
    got = 0
    while got < len(view):
        n = readinto(view[got:])
        if not n:
            break
        got += n
    return got


__all__ = ["BUCKETS", "CHUNK_PFNS", "PageScanner", "key_flags", "pack_key", "page_bucket"]
