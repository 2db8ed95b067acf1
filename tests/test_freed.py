"""``memtype.model.freed`` (issue 12, "freed if killed") on made-up records: which part goes where,
what stays and why, unknown as None, a cgroup's shared pages once. The kernel truth is in
tests/live/test_freed_live.py."""

from __future__ import annotations

from typing import Any

from memtype.collect.freed import kernel_memory
from memtype.kinds import KINDS, Kind
from memtype.model.freed import PARTS, freed_if_group_killed, freed_if_killed
from memtype.model.records import KindUsage, ProcessMemory, Totals

MiB = 1 << 20
KERNEL = {"page_tables": 64 << 10, "kernel_stack": 16 << 10, "threads": 1}


def proc(pid: int, *, anon: int = 0, cow: int = 0, cow_pss: int = 0, swap: int = 0, swap_pss: int = 0,
         shared: int = 0, file: int = 0, ppid: int = 1, kernel: dict[str, int | None] | None = None) -> ProcessMemory:
    kinds = {k: KindUsage() for k in KINDS}
    kinds[Kind.ANONYMOUS] = KindUsage(anon, anon, swap, swap_pss)
    kinds[Kind.COW] = KindUsage(cow, cow_pss)
    kinds[Kind.SHARED] = KindUsage(shared, shared)
    kinds[Kind.FILE] = KindUsage(file, file)
    totals = Totals(rss=anon + cow + shared + file, pss=anon + cow_pss + shared + file, swap=swap, swap_pss=swap_pss)
    return ProcessMemory(pid, f"p{pid}", 0, "root", ppid, 1, totals, kinds,
                         kernel=dict(KERNEL) if kernel is None else kernel)


class Holder:
    def __init__(self, pid: int, how: str = "map") -> None:
        self.pid, self.how = pid, how


class Obj:
    def __init__(self, key: str, kind: str, holders: list[int], *, named: bool = False, resident: int | None = MiB,
                 swapped: int | None = 0, name: str | None = None, unseen: int = 0) -> None:
        self.key, self.kind, self.name, self.named = key, kind, name, named
        self.resident, self.swapped = resident, swapped
        self.holders = [Holder(p) for p in holders]
        self.attached_unseen, self.dev, self.inode = unseen, "00:01", 1


class Account:
    def __init__(self, *objects: Obj, skipped: dict[str, int] | None = None) -> None:
        self.objects = objects
        self.skipped = skipped or {}


def test_issue12_private_parts_add_up_and_page_cache_stays() -> None:
    p = proc(10, anon=8 * MiB, swap=2 * MiB, swap_pss=2 * MiB, file=3 * MiB)
    f = freed_if_killed(p, Account())
    assert f.parts == {"anon_exclusive": 8 * MiB, "cow_exclusive": 0, "swap_private": 2 * MiB,
                       "page_tables": 64 << 10, "kernel_stack": 16 << 10, "shm_last_holder": 0, "shm_swap": 0}
    assert set(f.parts) == set(PARTS) and f.exact
    assert f.bytes == f.ram + f.swap == 8 * MiB + 2 * MiB + (80 << 10)  # type: ignore[operator]
    assert [s.what for s in f.stays] == ["page_cache"] and f.stays[0].bytes == 3 * MiB


def test_issue12_unknown_is_none() -> None:
    p = proc(10, anon=MiB)
    assert freed_if_killed(p, None).bytes is None  # shmem ownership not read
    assert freed_if_killed(proc(10, kernel={"page_tables": None, "kernel_stack": None}), Account()).bytes is None
    no_status = proc(10).replace(kernel=None)
    assert freed_if_killed(no_status, Account()).parts["page_tables"] is None
    old = freed_if_killed(proc(10, swap=MiB), Account(), absent=frozenset({"SwapPss"}))
    assert old.parts["swap_private"] is None and old.bytes is None


def test_issue12_cow_shared_stays_with_its_fork_relatives() -> None:
    parent = proc(10, anon=MiB, cow=4 * MiB, cow_pss=2 * MiB)
    kid = proc(11, anon=MiB, cow=4 * MiB, cow_pss=2 * MiB, ppid=10)
    stranger = proc(12, anon=MiB, cow=MiB, cow_pss=MiB // 2, ppid=1)
    f = freed_if_killed(kid, Account(), processes=[parent, kid, stranger])
    assert f.parts["cow_exclusive"] == 0 and "cow_exclusive" in f.estimates
    stay = next(s for s in f.stays if s.what == "cow_shared")
    assert stay.bytes == 4 * MiB and stay.pids == (10,)
    group = freed_if_group_killed([parent, kid], Account())
    assert group.parts["cow_exclusive"] == 4 * MiB  # shared inside the group: once, as the group's
    assert group.parts["anon_exclusive"] == 2 * MiB


def test_issue12_swap_shared_after_fork_is_an_estimate() -> None:
    p = proc(10, swap=16 * MiB, swap_pss=8 * MiB)  # every entry held by two processes
    f = freed_if_killed(p, Account())
    assert f.parts["swap_private"] == 0 and "swap_private" in f.estimates
    assert next(s for s in f.stays if s.what == "swap_shared").bytes == 16 * MiB
    assert freed_if_group_killed([p, proc(11, swap=16 * MiB, swap_pss=8 * MiB)], Account()).parts["swap_private"] \
        == 16 * MiB


def test_issue12_shm_objects_last_holder_name_and_other_holders() -> None:
    acct = Account(
        Obj("inode:00:01:5", "memfd", [10], name="memfd:mine", resident=4 * MiB, swapped=MiB),
        Obj("inode:00:01:6", "memfd", [10, 20], name="memfd:passed", resident=2 * MiB),
        Obj("inode:00:1b:7", "posix", [10], named=True, name="/dev/shm/x", resident=3 * MiB),
        Obj("sysv:3", "sysv", [10], named=True, name="0x00000000", resident=MiB),
        Obj("sysv:4", "sysv", [10], name="0x00000000", resident=MiB, unseen=1),
        Obj("inode:00:01:9", "memfd", [30], resident=8 * MiB),  # not ours
    )
    f = freed_if_killed(proc(10, shared=11 * MiB), acct)
    assert f.parts["shm_last_holder"] == 4 * MiB and f.parts["shm_swap"] == MiB
    fates = {o.key: o for o in f.objects}
    assert set(fates) == {"inode:00:01:5", "inode:00:01:6", "inode:00:1b:7", "sysv:3", "sysv:4"}
    assert fates["inode:00:01:6"].others == (20,) and "PID 20" in fates["inode:00:01:6"].why
    assert "unlinking" in fates["inode:00:1b:7"].why and "IPC_RMID" in fates["sysv:3"].why
    assert fates["sysv:4"].others == (-1,) and not fates["sysv:4"].freed
    assert sum(1 for s in f.stays if s.what == "shm") == 4
    both = freed_if_group_killed([proc(10), proc(20)], acct)
    assert both.parts["shm_last_holder"] == 6 * MiB  # the passed memfd goes when both holders go
    unread = freed_if_killed(proc(10), acct.__class__(*acct.objects, skipped={"denied": 2}))
    assert "shm_last_holder" in unread.estimates


def test_issue12_kernel_memory_from_status() -> None:
    status = "Name:\tx\nThreads:\t3\nVmPTE:\t      88 kB\n"
    assert kernel_memory(status, 16384, pgd=4096) == {"page_tables": 88 * 1024 + 4096, "threads": 3,
                                                       "kernel_stack": 3 * 16384}
    assert kernel_memory("Name:\tx\n", None) == {"page_tables": None, "threads": None, "kernel_stack": None}


def test_issue12_freed_json_detail() -> None:
    from memtype.model.fields_process import PROCESS
    from memtype.output.json import records

    p = proc(10, anon=MiB)
    p = p.replace(freed=freed_if_killed(p, Account()))
    doc: dict[str, Any] = records(PROCESS, [p], options={"freed"})[0]
    assert doc["freed_if_killed"] == MiB + (80 << 10)
    assert doc["freed"]["parts"]["anon_exclusive"] == MiB and doc["freed"]["exact"] is True
    assert doc["kernel"]["page_tables"] == 64 << 10
    assert "freed_if_killed" not in records(PROCESS, [p])[0]  # only with --freed
    none = records(PROCESS, [proc(11)], options={"freed"})[0]
    assert none["freed_if_killed"] is None and none["freed"] is None


def test_issue12_mapping_fate_per_mapping() -> None:
    from memtype.model.freed import ObjectFate, mapping_fate
    from memtype.model.records import Mapping

    def mapping(cls: str, path: str, inode: int, **kinds: KindUsage) -> Mapping:
        k = {kind: KindUsage() for kind in KINDS}
        for name, usage in kinds.items():
            k[Kind(name)] = usage
        return Mapping(0x1000, 0x2000, "rw-p", 0, "00:01", inode, path, (), cls, Totals(), k)

    kept = ObjectFate("inode:00:01:5", "memfd", "memfd:x", False, MiB, 0, "still held by PID 20", (20,), "00:01", 5)
    gone = ObjectFate("inode:00:01:6", "memfd", "memfd:y", True, MiB, 0, "its last holder goes", (), "00:01", 6)
    from memtype.model.freed import Freed

    f = Freed({}, objects=(kept, gone))
    anon = mapping_fate(mapping("anon", "", 0, anonymous=KindUsage(MiB, MiB, MiB, MiB // 2), cow=KindUsage(MiB, 0)),
                        f)
    assert anon.freed == MiB and anon.stays == MiB + MiB and "copy-on-write" in anon.why and "swap" in anon.why
    held = mapping_fate(mapping("shmem", "/memfd:x (deleted)", 5, shared=KindUsage(MiB, MiB)), f)
    assert (held.freed, held.stays, held.why) == (0, MiB, "still held by PID 20")
    assert mapping_fate(mapping("shmem", "/memfd:y (deleted)", 6, shared=KindUsage(MiB, MiB)), f).freed == MiB
    unknown = mapping_fate(mapping("shmem", "/memfd:z (deleted)", 7, shared=KindUsage(MiB, MiB)), f)
    assert unknown.freed is None and unknown.stays is None
    lib = mapping_fate(mapping("file-private", "/usr/lib/libc.so.6", 9, file=KindUsage(2 * MiB, MiB)), f)
    assert lib.freed == 0 and lib.stays == 2 * MiB and "page cache" in lib.why


def _cli_json(*args: str) -> dict[str, Any]:
    import io
    import json
    from contextlib import redirect_stdout

    from memtype.cli.main import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main([*args, "--format", "json"]) == 0
    return dict(json.loads(out.getvalue()))


def test_issue12_ps_and_maps_freed_on_the_shm_capture() -> None:
    """The shm fixture (two forked processes, tests/fixtures/roots/shm-objects): PID 495 holds the deleted
    /dev/shm file and the memfd alone (by fd) and frees them (200K + 80K); the objects both map stay, as
    does the cow both share; the JSON has the registry's keys and its partitions add up."""
    from pathlib import Path

    from formats_check import check_records
    from memtype.model.fields_process import MAPPING, PROCESS

    root = str(Path(__file__).parent / "fixtures" / "roots" / "shm-objects")
    doc = _cli_json("ps", "--freed", "--root", root)
    assert check_records(PROCESS, doc["processes"], options={"freed"}) == 2
    by_pid = {p["pid"]: p for p in doc["processes"]}
    kid = by_pid[495]["freed"]
    assert kid["parts"]["shm_last_holder"] == (200 + 80) * 1024
    assert {o["kind"] for o in kid["objects"] if o["freed"]} == {"deleted", "memfd"}
    cow = next(s for s in kid["stays"] if s["what"] == "cow_shared")
    assert cow["pids"] == [494] and cow["bytes"] > 0
    assert by_pid[494]["freed"]["parts"]["shm_last_holder"] == 0
    assert by_pid[495]["freed_if_killed"] == sum(kid["parts"].values())
    maps = _cli_json("maps", "495", "--freed", "--root", root)["mappings"]
    assert check_records(MAPPING, maps, options={"freed"}) == len(maps)
    sysv = [m for m in maps if m["path"].startswith("/SYSV")]
    assert sysv and all(m["freed"] == 0 and ("PID 494" in m["why"] or "IPC_RMID" in m["why"]) for m in sysv)


def test_issue12_shm_object_kill_fate() -> None:
    from memtype.model.freed import kill_fate

    assert kill_fate(Obj("inode:00:1b:7", "posix", [10], named=True, name="/dev/shm/x")) == \
        (0, "named (/dev/shm/x): the file keeps its pages after every holder is gone; only unlinking frees them")
    size, why = kill_fate(Obj("inode:00:01:5", "memfd", [10, 20], resident=MiB, swapped=MiB))
    assert size == 2 * MiB and why == "freed when its holders exit: PID 10, 20"
    assert kill_fate(Obj("sysv:4", "sysv", [10], unseen=1))[1].endswith("processes not seen")
    assert kill_fate(Obj("inode:00:01:6", "memfd", [10], swapped=None))[0] is None
