"""The compiled reader (parse/_smaps.c) against the pure-Python path, on generated smaps (issue 8).

* Its vocabularies (mapping classes, kinds, totals, reclaim classes, page categories...) are the
  Python ones, in order.
* On generated smaps of every mapping class x {Swap, SwapPss, ``lo``, LazyFree, KSM, hugetlb, anon
  THP, FilePmdMapped} and random combinations (tests/smapsgen.py), both give the same entries, the
  same split per mapping and per process (kinds' rss/pss/swap/swap_pss, totals, reclaim classes) and
  pick the same mappings for --exact.
* Bad input (a kB value beyond any address space, a mapping that starts above its end) is skipped
  by both, with one warning, and the rest of the process is kept.
(The page decision table both page passes share is tested in tests/test_page_table.py.)
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import memtype
import smapsgen as gen
from memtype.collect.exact import account
from memtype.collect.exact import process as exact_process
from memtype.kinds import KINDS
from memtype.model import classify, pages, reclaim
from memtype.model.classify import Classifier, MapClass
from memtype.model.records import KindUsage, Totals
from memtype.parse import smaps as smaps_mod
from memtype.parse.smaps import RawVma, parse_smaps

from conftest import GPU_ROOT, Result

c_reader = smaps_mod.compiled()
needs_compiled = pytest.mark.skipif(c_reader is None, reason="the compiled reader is not built")
SEED = 8
PROCESSES = 48  # x ~100 entries: a few thousand mappings
PER_PROCESS = 100


def _python_split(data: bytes) -> tuple[tuple[Totals, dict[object, KindUsage], dict[str, int]], list[object]]:
    classifier = Classifier(gen.SHMEM_DEVS)
    parsed = parse_smaps(data, accelerated=False)
    assert parsed.problems == ()
    totals, kinds, maps = classifier.split(parsed.names, parsed.vmas, want_mappings=True)
    per_mapping = [(m.totals, m.categories, reclaim.reclaim_from_smaps(parsed.names, [v], classifier, True))
                   for m, v in zip(maps or [], parsed.vmas)]
    return (totals, kinds, reclaim.reclaim_from_smaps(parsed.names, parsed.vmas, classifier, True)), per_mapping


def _generated() -> list[tuple[bytes, list[gen.Entry], bool]]:
    """(smaps text, its entries, wild) per generated process; the first ones cover every combination."""
    rng = random.Random(SEED)
    out = []
    for i in range(PROCESSES):
        wild = i % 3 == 2
        es = list(gen.entries(rng, PER_PROCESS, cover=i < 2, wild_share=0.5 if wild else 0.0))
        names = gen.LAYOUTS[0] if i < 2 else rng.choice(gen.LAYOUTS)
        out.append((gen.smaps_text(es, names, protection_key=rng.random() < 0.5), es, wild or i < 2))
    return out


GENERATED = _generated()


# ------------------------------------------------------------------ the vocabularies
@needs_compiled
def test_issue8_compiled_vocabularies_are_the_python_ones() -> None:
    assert c_reader.SMAPS_FIELDS == classify._NAMES
    assert c_reader.MAP_CLASSES == tuple(c.value for c in MapClass)
    assert c_reader.KINDS == tuple(k.value for k in KINDS)
    assert c_reader.KIND_PARTS == KindUsage.__slots__
    assert c_reader.TOTALS == Totals.__slots__
    assert c_reader.RECLAIM_CLASSES == reclaim.CLASSES
    assert c_reader.PAGE_CATEGORIES == pages.CATEGORY_NAMES
    assert [pages.NONE, pages.ANON, pages.SHARED, pages.COW, pages.FILE, pages.DEVICE, pages.ZERO, pages.SWAP] == \
        list(range(len(pages.CATEGORY_NAMES)))
    assert c_reader.MAPPING_KINDS == pages.MAPPING_KINDS
    assert [pages.V_PLAIN, pages.V_DEVICE, pages.V_COW_PENDING, pages.V_SECRETMEM, pages.V_SHMEM] == \
        list(range(len(pages.MAPPING_KINDS)))
    assert c_reader.WALK_FIELDS == ("index", "first", "pages", "vkind", "rss", "pss")
    assert (account.W_INDEX, account.W_FIRST, account.W_PAGES, account.W_VKIND, account.W_RSS, account.W_PSS,
            account.W_FIELDS) == (0, 1, 2, 3, 4, 5, len(c_reader.WALK_FIELDS))
    assert c_reader.MAX_KB == smaps_mod.MAX_KB == 1 << 46


def test_issue8_raw_vma_positions_are_named() -> None:
    positions = (smaps_mod.START, smaps_mod.END, smaps_mod.PERMS, smaps_mod.OFFSET, smaps_mod.DEV, smaps_mod.INODE,
                 smaps_mod.PATH, smaps_mod.VMFLAGS, smaps_mod.VALUES)
    assert [RawVma._fields[i] for i in positions] == list(RawVma._fields)


# ------------------------------------------------------------------ generated smaps, both ways
def test_issue8_generator_covers_every_class_and_feature() -> None:
    seen: set[tuple[str, str]] = set()
    for _, es, _ in GENERATED:
        for e in es:
            v = e.values
            shows = {"swap": v.get("Swap", 0), "swap_pss": v.get("SwapPss", 0), "lazyfree": v.get("LazyFree", 0),
                     "ksm": v.get("KSM", 0), "hugetlb": v.get("Shared_Hugetlb", 0) + v.get("Private_Hugetlb", 0),
                     "thp": v.get("AnonHugePages", 0), "file_pmd": v.get("FilePmdMapped", 0),
                     "locked": " lo" in e.vmflags and (v.get("Rss", 0) or v.get("Private_Hugetlb", 0))}
            seen |= {(e.mapclass, f) for f, shown in shows.items() if shown}
    assert seen == {(c.value, f) for c in MapClass for f in gen.FEATURES}
    assert sum(len(es) for _, es, _ in GENERATED) >= 4000


@needs_compiled
def test_issue8_compiled_and_python_agree_on_generated_smaps() -> None:
    """Per process and per mapping: totals, kinds (rss, pss, swap, swap_pss) and reclaim classes."""
    deferred = 0
    for data, es, wild in GENERATED:
        names, vmas = c_reader.parse(data, RawVma)
        slow = parse_smaps(data, accelerated=False)
        assert (names, [tuple(v) for v in vmas]) == (slow.names, [tuple(v) for v in slow.vmas])
        whole, per_mapping = _python_split(data)
        lines = data.decode().splitlines(keepends=True)
        starts = [i for i, line in enumerate(lines) if line[:1] in "0123456789abcdef"] + [len(lines)]
        for k, want in enumerate(per_mapping):
            got = Classifier(gen.SHMEM_DEVS).summarize("".join(lines[starts[k]:starts[k + 1]]).encode())
            assert got == want or (got is None and wild), (k, es[k])
        try:
            c_reader.summarize(data, {}, Classifier(gen.SHMEM_DEVS)._class_number)
        except ValueError as exc:  # a wild entry's share would overflow 64 bits: Python splits it
            assert wild and "too large" in str(exc), exc
            deferred += 1
            continue
        assert Classifier(gen.SHMEM_DEVS).summarize(data) == whole
    assert deferred <= PROCESSES // 6  # the compiled path was really compared


@needs_compiled
def test_issue8_compiled_and_python_walk_the_same_mappings() -> None:
    """--exact's pass 1: the mappings whose pagemap is read, with their page range and mapping kind."""
    rng = random.Random(SEED + 1)
    fd = os.open("/dev/zero", os.O_RDONLY)  # pagemap stand-in: every entry 0 (neither present nor swapped)
    try:
        for i in range(12):
            es = list(gen.entries(rng, 60, cover=i == 0, max_pages=1024))
            data = gen.smaps_text(es, rng.choice(gen.LAYOUTS))
            reader = exact_process.PagemapReader(Classifier(gen.SHMEM_DEVS), 4096)
            compiled_walk = reader._walk_compiled(fd, 1, data)
            assert compiled_walk is not None
            assert compiled_walk == reader._walk(fd, 1, data)
            assert compiled_walk[2], "some mappings are walked"
    finally:
        os.close(fd)


def _mutations(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    pos = rng.randrange(len(b))
    op = rng.randrange(6)
    if op == 0:
        b[pos] = rng.randrange(256)
    elif op == 1:
        del b[pos:pos + rng.randint(1, 4)]
    elif op == 2:
        b[pos:pos] = rng.choice((b" ", b"\t", b"  ", b"\x00", b"\xc2\xa0", b"9" * 20, b"\n", b":"))
    else:
        lines = bytes(b).split(b"\n")
        j = rng.randrange(len(lines))
        if op == 3:
            lines.insert(j, lines[j])
        elif op == 4 and lines[j].endswith(b" kB"):
            lines[j] = lines[j][:-3] + rng.choice((b"99999999999999999999", b"70368744177665", b"1180591620717411303424"))
            lines[j] += b" kB"
        else:
            del lines[j]
        b = bytearray(b"\n".join(lines))
    return bytes(b)


@needs_compiled
def test_issue8_compiled_accepts_only_what_python_reads_the_same() -> None:
    """Mutated text: wherever the compiled reader accepts it, the tolerant parser reads the same
    entries without a problem and splits them the same; everything else goes to the tolerant parser."""
    rng = random.Random(SEED + 2)
    accepted = 0
    for _ in range(400):
        data = _mutations(rng, gen.smaps_text(list(gen.entries(rng, rng.randint(1, 5))), rng.choice(gen.LAYOUTS)))
        slow = parse_smaps(data, accelerated=False)
        try:
            names, vmas = c_reader.parse(data, RawVma)
        except ValueError:
            continue
        accepted += 1
        assert slow.problems == () and (names, [tuple(v) for v in vmas]) == (slow.names, [tuple(v) for v in slow.vmas])
        got = Classifier(gen.SHMEM_DEVS).summarize(data)
        if got is not None:
            assert got == _python_split(data)[0]
    assert 50 < accepted < 400


# ------------------------------------------------------------------ bad input, both ways
HUGE_KB = (1 << 70, 1 << 63, (1 << 63) // 1024 + 1, smaps_mod.MAX_KB + 1)


def _entry_text(start: int, end: int, rss_kb: int) -> str:
    e = gen.Entry(start, end, "", "rw-p", "rd wr mr mw me ac", "00:00", "anon", frozenset())
    e.values.update({"Size": (end - start) // 1024 if end > start else 4, "Rss": rss_kb, "Pss": rss_kb,
                     "Private_Dirty": rss_kb, "Anonymous": rss_kb})
    return e.text(gen.FIELDS_6_18)


@pytest.mark.parametrize("value", HUGE_KB, ids=["2^70", "2^63", "bytes>2^63-1", "MAX_KB+1"])
def test_issue8_kb_values_beyond_any_address_space_are_skipped(value: int) -> None:
    text = (_entry_text(0x1000, 0x3000, 8) + _entry_text(0x3000, 0x5000, value) + _entry_text(0x5000, 0x7000, 4))
    if c_reader is not None:
        with pytest.raises(ValueError, match="out of range"):  # never wrapped to a negative number
            c_reader.parse(text.encode(), RawVma)
    for accelerated in (True, False):
        p = parse_smaps(text.encode(), accelerated=accelerated)
        assert [v.start for v in p.vmas] == [0x1000, 0x5000]
        assert len(p.problems) == 1 and "3000-5000" in p.problems[0] and "beyond any address space" in p.problems[0]


def test_issue8_largest_plausible_value_is_kept() -> None:
    text = _entry_text(0x1000, 0x3000, smaps_mod.MAX_KB).encode()
    for accelerated in (True, False):
        p = parse_smaps(text, accelerated=accelerated)
        assert p.problems == () and p.vmas[0].values[gen.FIELDS_6_18.index("Rss")] == smaps_mod.MAX_KB


def test_issue8_mapping_starting_above_its_end_is_skipped() -> None:
    text = (_entry_text(0x1000, 0x3000, 8) + _entry_text(0x9000, 0x5000, 4) + _entry_text(0xa000, 0xc000, 4)).encode()
    if c_reader is not None:
        with pytest.raises(ValueError, match="starts above its end"):
            c_reader.parse(text, RawVma)
    for accelerated in (True, False):
        p = parse_smaps(text, accelerated=accelerated)
        assert [v.start for v in p.vmas] == [0x1000, 0xa000]
        assert p.problems == ("mapping 9000-5000 : it starts above its end; skipped",)


def test_issue8_header_numbers_beyond_64_bits_are_skipped() -> None:
    text = _entry_text(0x1000, 0x3000, 8) + _entry_text(0x3000, 0x5000, 8).replace("00000000 ", "1" + "0" * 16 + " ")
    for accelerated in (True, False):
        p = parse_smaps(text.encode(), accelerated=accelerated)
        assert [v.start for v in p.vmas] == [0x1000] and "beyond 64 bits" in p.problems[0]


def test_issue8_many_bad_entries_give_one_warning() -> None:
    text = _entry_text(0x1000, 0x3000, 8) + "".join(_entry_text(0x10000 * i, 0x10000 * i + 0x2000, 1 << 60)
                                                    for i in range(1, 6))
    p = parse_smaps(text.encode())
    assert len(p.vmas) == 1
    assert len(p.problems) == 1 and p.problems[0].endswith("skipped (and 4 more such entries)")


def _capture(tmp: Path, smaps: dict[int, bytes]) -> Path:
    """A capture root: the GPU fixture's status/stat for each pid, and the given smaps."""
    template = GPU_ROOT / "proc" / "421"
    for pid, text in smaps.items():
        d = tmp / "proc" / str(pid)
        d.mkdir(parents=True)
        for name in ("status", "stat", "cmdline", "comm"):
            shutil.copy(template / name, d / name)
        (d / "status").write_text((template / "status").read_text().replace("Pid:\t421", f"Pid:\t{pid}"))
        (d / "smaps").write_bytes(text)
    return tmp


def _scan_both_ways(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[memtype.Scan, memtype.Scan]:
    compiled = memtype.scan(str(root), jobs=1)
    with monkeypatch.context() as m:
        m.setattr(smaps_mod, "_compiled", None)
        assert smaps_mod.compiled() is None
        pure = memtype.scan(str(root), jobs=1)
    return compiled, pure


def _same(a: memtype.Scan, b: memtype.Scan) -> None:
    assert [(p.pid, p.totals, p.categories, p.reclaim, p.problems) for p in a.processes] == \
        [(p.pid, p.totals, p.categories, p.reclaim, p.problems) for p in b.processes]
    assert a.warnings == b.warnings
    assert [(s.pid, s.reason) for s in a.skipped] == [(s.pid, s.reason) for s in b.skipped]


def test_issue8_bad_entries_mark_the_process_incomplete_both_ways(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    good = _entry_text(0x1000, 0x3000, 8) + _entry_text(0x5000, 0x7000, 4)
    root = _capture(tmp_path, {
        100: good.encode(),
        101: (good + _entry_text(0x9000, 0xb000, 1 << 70)).encode(),
        102: (good + _entry_text(0xf000, 0xd000, 4)).encode(),
        103: _entry_text(0x9000, 0xb000, 1 << 63).encode(),  # nothing left: unreadable
    })
    compiled, pure = _scan_both_ways(root, monkeypatch)
    _same(compiled, pure)
    by_pid = {p.pid: p for p in compiled.processes}
    assert set(by_pid) == {100, 101, 102} and [(s.pid, s.reason) for s in compiled.skipped] == [(103, "unreadable")]
    assert by_pid[100].problems == []
    for pid in (101, 102):  # the rest of the process is kept: the two good entries
        assert by_pid[pid].totals.rss == by_pid[100].totals.rss == 12 * 1024
        assert len(by_pid[pid].problems) == 1 and by_pid[pid].problems[0].startswith(f"proc/{pid}/smaps mapping")
    assert sum("proc/101/smaps" in w for w in compiled.warnings) == 1


def test_issue8_bad_entry_in_the_cli_is_one_warning(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    good = _entry_text(0x1000, 0x3000, 8)
    root = _capture(tmp_path, {200: (good + _entry_text(0x9000, 0xb000, 1 << 70) * 3).encode()})
    r = run_cli("ps", "--root", str(root), "--format", "json")
    assert r.code == 0 and "Traceback" not in r.err
    doc = json.loads(r.out)
    assert doc["processes"][0]["incomplete"] is True and doc["processes"][0]["rss"] == 8 * 1024
    assert r.err.count("proc/200/smaps") == 1 and "and 2 more such entries" in r.err


def test_issue8_generated_captures_scan_the_same_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole processes through read_process, with some damaged ones: same records, problems, warnings."""
    rng = random.Random(SEED + 3)
    texts = {}
    for pid in range(300, 316):
        text = gen.smaps_text(list(gen.entries(rng, 40, wild_share=0.2)), rng.choice(gen.LAYOUTS))
        if pid % 4 == 0:
            text += _entry_text(0x7f00_0000_0000, 0x7f00_0000_2000, rng.choice(HUGE_KB)).encode()
        if pid % 5 == 0:
            text += _entry_text(0x7f00_0001_0000, 0x7f00_0000_f000, 4).encode()
        texts[pid] = text
    compiled, pure = _scan_both_ways(_capture(tmp_path, texts), monkeypatch)
    _same(compiled, pure)
    assert len(compiled.processes) == 16 and sum(bool(p.problems) for p in compiled.processes) == 7


def test_issue8_numbers_too_long_for_int_are_out_of_range() -> None:
    """Python's int() refuses decimal strings over 4300 digits: that must be a skipped entry, not a crash;
    leading zeros are still just zeros, as in the compiled reader."""
    long_value = _entry_text(0x3000, 0x5000, 4).replace("Rss:                   4 kB", "Rss: " + "9" * 5000 + " kB")
    zeros = _entry_text(0x5000, 0x7000, 4).replace("Rss:                   4 kB", "Rss: " + "0" * 5000 + "4 kB")
    long_inode = _entry_text(0x7000, 0x9000, 4).replace(" 0 \n", " " + "7" * 5000 + " \n", 1)
    text = (_entry_text(0x1000, 0x3000, 8) + long_value + zeros + long_inode).encode()
    for accelerated in (True, False):
        p = parse_smaps(text, accelerated=accelerated)
        assert [v.start for v in p.vmas] == [0x1000, 0x5000]
        assert p.vmas[1].values[gen.FIELDS_6_18.index("Rss")] == 4
        assert len(p.problems) == 1 and "5000-digit number" in p.problems[0] and "(and 1 more" in p.problems[0]
