"""Smaps numbers packed for the store: XOR against the previous read, by column, each column narrowed.

A process's smaps rows (``model.sample.SmapsRows``: per entry start, end, offset, inode, then one kB
value per field) change little between two reads: the same mappings, a few counters moved; and a
new process is mostly what its parent or another run of its program is. So the store keeps each
entry, its addresses as (gap, size) (``transform``), XOR-ed with the same mapping's at the previous
read (matched by header and start) or in a reference process (by header), zeros where there is
none, which leaves mostly zero bits. The rows of all the
processes written in a frame are then laid out column by column (a field's values side by side:
long runs of equal bytes) and every column is stored in the narrowest unsigned type that holds its
largest value, nothing at all when that is 0. zlib does the rest.
"""

from __future__ import annotations

from array import array
from itertools import accumulate
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.sample import SmapsRows

# A column's code is the bytes kept of each value: 0 (every value is 0: nothing stored), 1, 2, 4 or 8.
assert array("Q").itemsize == 8 and sys.byteorder == "little", "the numbers are little-endian uint64"


def xor(a: bytes, b: bytes) -> bytes:
    """``a`` XOR ``b`` (equal lengths), at C speed through Python's big integers."""
    if not a:
        return a
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


MASK = (1 << 64) - 1


def transform(numbers: array[int], width: int) -> bytes:
    """Row-major numbers with each entry's start and end as (gap after the previous entry's end, size):
    a library's segments lie back to back, so across processes (other ASLR bases) and between reads
    these are the same numbers, where the addresses are not. ``untransform`` is its inverse."""
    out = array("Q", numbers)
    starts, ends = numbers[0::width].tolist(), numbers[1::width].tolist()
    out[0::width] = array("Q", [(s - e) & MASK for s, e in zip(starts, [0, *ends[:-1]])])
    out[1::width] = array("Q", [(e - s) & MASK for s, e in zip(starts, ends)])
    return out.tobytes()


def untransform(data: bytes, width: int) -> array[int]:
    out = array("Q")
    out.frombytes(data)
    sizes = out[1::width].tolist()
    # end_i = end_i-1 + gap_i + size_i, start_i = end_i - size_i (modulo 2**64, as transform made them)
    ends = [e & MASK for e in accumulate(g + z for g, z in zip(out[0::width].tolist(), sizes))]
    out[0::width] = array("Q", [(e - z) & MASK for e, z in zip(ends, sizes)])
    out[1::width] = array("Q", ends)
    return out


def match_headers(reference: SmapsRows, rows: SmapsRows) -> list[int]:
    """For each entry of ``rows``, the entry of another process's ``reference`` with the same header (the
    k-th of that header for its k-th), -1 where there is none: a fork, or the same program."""
    where: dict[object, list[int]] = {}
    for i, h in enumerate(reference.headers):
        where.setdefault(h, []).append(i)
    taken: dict[object, int] = {}
    out = []
    for h in rows.headers:
        found = where.get(h)
        k = taken.get(h, 0)
        if found is not None and k < len(found):
            out.append(found[k])
            taken[h] = k + 1
        else:
            out.append(-1)
    return out


def match(previous: SmapsRows | None, rows: SmapsRows) -> list[int] | None:
    """For each entry of ``rows``, the index of the same mapping in ``previous`` (same header and start),
    -1 where there is none; ``None`` when the headers are the very same list (entry i is entry i)."""
    if previous is None:
        return [-1] * len(rows)
    if previous.headers == rows.headers:
        return None
    w = previous.width
    starts = previous.numbers[::w]
    at = {(h, s): i for i, (h, s) in enumerate(zip(previous.headers, starts))}
    return [at.get(key, -1) for key in zip(rows.headers, rows.numbers[::rows.width])]


def aligned(raw: bytes, runs: list[int] | None, count: int, width: int) -> bytes:
    """The bytes to XOR ``count`` entries against: the entries of ``raw`` (another row-major block of
    ``width``) in the order ``runs`` gives (``codec.runs``: [first, count, ...]; a run of -1 is zeros),
    or ``raw`` itself where ``runs`` is None."""
    size = width * 8
    if runs is None:
        if len(raw) != count * size:
            raise ValueError("the previous rows have another length")
        return raw
    parts = []
    total = 0
    limit = len(raw) // size
    for first, n in zip(runs[::2], runs[1::2]):
        if type(first) is not int or type(n) is not int or n < 1 or first < -1 or (first >= 0 and first + n > limit):
            raise ValueError(f"a run of entries [{first!r}, {n!r}] outside the {limit} there are")
        parts.append(bytes(n * size) if first < 0 else raw[first * size:(first + n) * size])
        total += n
    if total != count or len(runs) % 2:
        raise ValueError(f"runs of {total} entries for {count}")
    return b"".join(parts)


def pack(data: bytes, width: int) -> tuple[list[int], bytes]:
    """Row-major uint64 ``data`` of ``width`` columns as (column codes, the columns' bytes): each column
    keeps the low bytes of its values up to its highest byte that is not 0 anywhere (1, 2, 4 or 8)."""
    rows = len(data) // (8 * width)
    zero = bytes(rows)
    codes, out = [], []
    stride = 8 * width
    for c in range(width):
        column = [data[c * 8 + j::stride] for j in range(8)]  # byte j of every value (little-endian)
        top = next((j for j in range(7, -1, -1) if column[j] != zero), -1)
        code = 0 if top < 0 else 1 if top < 1 else 2 if top < 2 else 4 if top < 4 else 8
        codes.append(code)
        if code:
            narrow = bytearray(rows * code)
            for j in range(code):
                narrow[j::code] = column[j]
            out.append(bytes(narrow))
    return codes, b"".join(out)


def unpack(blob: memoryview, rows: int, width: int, codes: list[int]) -> tuple[bytes, int]:
    """The row-major uint64 bytes ``pack`` took, and the bytes of ``blob`` it used.

    Raises:
        ValueError: codes or lengths that do not fit (a damaged record).
    """
    if len(codes) != width or rows < 0 or type(rows) is not int:
        raise ValueError(f"{len(codes)} column codes for {width} columns")
    out = bytearray(rows * width * 8)
    stride = 8 * width
    at = 0
    for c, code in enumerate(codes):
        if code == 0:
            continue
        if code not in (1, 2, 4, 8) or type(code) is not int:
            raise ValueError(f"unknown column code {code!r}")
        end = at + rows * code
        if end > len(blob):
            raise ValueError("the numbers end early")
        narrow = blob[at:end]
        for j in range(code):
            out[c * 8 + j::stride] = narrow[j::code]
        at = end
    return bytes(out), at
