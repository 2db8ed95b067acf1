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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.sample import SmapsRows

# column codes: 0 = every value is 0 (nothing stored), else the array typecode of its values
NARROW = ((0xFF, "B"), (0xFFFF, "H"), (0xFFFFFFFF, "I"), (0xFFFFFFFFFFFFFFFF, "Q"))
CODES = {"B": 1, "H": 2, "I": 4, "Q": 8}  # a column's code is its item size (Linux x86-64, arm64: as here)
TYPECODES = {v: k for k, v in CODES.items()}
assert all(array(t).itemsize == n for t, n in CODES.items()), "array item sizes differ on this platform"


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
    starts, ends = [], []
    end = 0
    for gap, size in zip(out[0::width].tolist(), out[1::width].tolist()):
        start = (gap + end) & MASK
        end = (start + size) & MASK
        starts.append(start)
        ends.append(end)
    out[0::width] = array("Q", starts)
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


def aligned(raw: bytes, mapping: list[int] | None, count: int, width: int) -> bytes:
    """The bytes to XOR ``count`` entries against: the entries of ``raw`` (another row-major block of
    ``width``) in ``mapping`` order, zeros for -1; ``raw`` itself where ``mapping`` is None."""
    size = width * 8
    if mapping is None:
        if len(raw) != count * size:
            raise ValueError("the previous rows have another length")
        return raw
    if len(mapping) != count:
        raise ValueError(f"{len(mapping)} matches for {count} entries")
    zero = bytes(size)
    n = len(raw) // size
    parts = []
    for j in mapping:
        if j < 0:
            parts.append(zero)
        elif j < n:
            parts.append(raw[j * size:(j + 1) * size])
        else:
            raise ValueError(f"entry {j} of {n}")
    return b"".join(parts)


def pack(data: bytes, width: int) -> tuple[list[int], bytes]:
    """Row-major uint64 ``data`` of ``width`` columns as (column codes, the columns' bytes)."""
    numbers = array("Q")
    numbers.frombytes(data)
    codes, out = [], []
    for c in range(width):
        column = numbers[c::width]
        top = max(column, default=0)
        if top == 0:
            codes.append(0)
            continue
        code = next(t for limit, t in NARROW if top <= limit)
        codes.append(CODES[code])
        out.append((column if code == "Q" else array(code, column)).tobytes())
    return codes, b"".join(out)


def unpack(blob: memoryview, rows: int, width: int, codes: list[int]) -> tuple[bytes, int]:
    """The row-major uint64 bytes ``pack`` took, and the bytes of ``blob`` it used.

    Raises:
        ValueError: codes or lengths that do not fit (a damaged record).
    """
    if len(codes) != width or rows < 0:
        raise ValueError(f"{len(codes)} column codes for {width} columns")
    numbers = array("Q", bytes(rows * width * 8))
    at = 0
    for c, code in enumerate(codes):
        if code == 0:
            continue
        typecode = TYPECODES.get(code) if type(code) is int else None
        if typecode is None:
            raise ValueError(f"unknown column code {code!r}")
        end = at + rows * code
        if end > len(blob):
            raise ValueError("the numbers end early")
        column = array(typecode)
        column.frombytes(blob[at:end])
        numbers[c::width] = column if typecode == "Q" else array("Q", column)
        at = end
    return numbers.tobytes(), at

