"""``memtype explain``: a process, a mapping or the machine, in words, from the same code paths as the tables.

* ``explain_process``: per kind, how much, the mappings that hold it and why they are that kind (the
  rule ``classify.classify_rule`` applied: the very function the classifier runs), and what the
  kernel can do with it given this machine's swap (kernel-spec.md C.4: drop, write back, swap, never).
* ``explain_mapping``: one smaps entry field by field, its class's rule, and its split into kinds by
  ``Classifier.split`` itself.
* ``findings``: every finder of ``model.find_process`` and ``model.find_machine``, ranked.
"""

from __future__ import annotations

from memtype.kinds import KINDS, Kind
from memtype.model import find_machine, find_process
from memtype.model.classify import Classifier, MapClass, classify_rule
from memtype.model.derive import Model
from memtype.model.findings import Finding, pid_list, ranked, size
from memtype.model.freed import Freed, freed_if_killed
from memtype.model.frozen import Frozen, fill
from memtype.model.reclaim import reclaim_from_meminfo

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.records import Mapping, ProcessMemory
    from memtype.model.shm import ShmAccount
    from memtype.parse.smaps import RawVma

TOP_MAPPINGS = 3  # mappings named per kind


class SwapFacts(Frozen):
    """What decides whether anon and shmem can go anywhere: swap space and vm.swappiness (``None``: unknown)."""

    __slots__ = ("total", "free", "swappiness")

    total: int | None
    free: int | None
    swappiness: int | None

    def __init__(self, total: int | None, free: int | None, swappiness: int | None) -> None:
        fill(self, total, free, swappiness)

    @property
    def room(self) -> bool:
        return bool(self.total and self.free)


def swap_facts(model: Model, swappiness: int | None) -> SwapFacts:
    mi = model.sample.meminfo
    return SwapFacts(mi.get("SwapTotal"), mi.get("SwapFree"), swappiness)


class Holder(Frozen):
    """A mapping that holds part of a kind: the mapping, the bytes of that kind in it, its rule id."""

    __slots__ = ("mapping", "bytes", "rule")

    mapping: Mapping
    bytes: int
    rule: str

    def __init__(self, mapping: Mapping, bytes: int, rule: str) -> None:
        fill(self, mapping, bytes, rule)


class KindStory(Frozen):
    """One kind of one process: its figures, the mappings holding most of it, and what the kernel can do."""

    __slots__ = ("kind", "rss", "pss", "swap", "mappings", "holders", "why", "fate")

    kind: Kind
    rss: int
    pss: int
    swap: int
    mappings: int
    holders: tuple[Holder, ...]
    why: str | None
    fate: str

    def __init__(self, kind: Kind, rss: int, pss: int, swap: int, mappings: int, holders: tuple[Holder, ...],
                 why: str | None, fate: str) -> None:
        fill(self, kind, rss, pss, swap, mappings, holders, why, fate)


class ProcessStory(Frozen):
    """``explain_process``'s answer."""

    __slots__ = ("process", "kinds", "reclaim", "swap", "parent", "children", "findings", "gpu", "freed")

    process: ProcessMemory
    kinds: tuple[KindStory, ...]
    reclaim: dict[str, int] | None
    swap: SwapFacts
    parent: int | None
    children: tuple[int, ...]
    findings: tuple[Finding, ...]
    gpu: tuple[tuple[str, int | None], ...]  # (device id, VRAM bytes; None: N/A) per device it uses
    freed: Freed  # what a kill would free now (Contract F: model.freed), with what stays and why

    def __init__(self, process: ProcessMemory, kinds: tuple[KindStory, ...], reclaim: dict[str, int] | None,
                 swap: SwapFacts, parent: int | None, children: tuple[int, ...], findings: tuple[Finding, ...],
                 gpu: tuple[tuple[str, int | None], ...], freed: Freed) -> None:
        fill(self, process, kinds, reclaim, swap, parent, children, findings, gpu, freed)


def fate(kind: Kind, swap: SwapFacts, cow_file: int = 0) -> str:
    """What the kernel can do with a kind's pages on this machine (kernel-spec.md C.4)."""
    if swap.room:
        how = f"swap has {size(swap.free)} free" + (f", vm.swappiness {swap.swappiness}"
                                                     if swap.swappiness is not None else "")
        swappable = f"swap: the kernel can write it to swap under pressure ({how})"
    elif swap.total is None:
        swappable = "swap, if this machine has swap with room (unknown here)"
    else:
        swappable = ("never: no swap " + ("room" if swap.total else "device") + "; it stays in RAM until the "
                     "process frees it or exits")
    if kind is Kind.ANONYMOUS:
        return swappable
    if kind is Kind.SHARED:
        return swappable + "; never dropped: no file holds the data"
    if kind is Kind.COW:
        part = f"; its page-cache part ({size(cow_file)}) can be dropped" if cow_file else ""
        return "its anonymous pages: " + swappable + part
    if kind is Kind.FILE:
        return "drop: clean page cache is dropped at once, dirty pages are written back first (the file holds it)"
    return "never: driver pages stay until the driver frees them"


def relatives(model: Model, p: ProcessMemory) -> tuple[int | None, tuple[int, ...]]:
    """(its parent's PID when the parent was read too, its children's PIDs that were read)."""
    pids = {q.pid for q in model.scan.processes}
    parent = p.ppid if p.ppid in pids and p.ppid != p.pid else None
    return parent, tuple(sorted(q.pid for q in model.scan.processes if q.ppid == p.pid and q.pid != p.pid))


def _rule(m: Mapping, shmem_devs: frozenset[str]) -> str:
    return classify_rule(m.path, m.perms, " ".join(m.vmflags), m.dev, shmem_devs)[1]


def _cow_why(parent: int | None, children: tuple[int, ...]) -> str:
    who = []
    if parent is not None:
        who.append(f"its parent PID {parent}")
    if children:
        who.append(f"its {'child' if len(children) == 1 else 'children'} {pid_list(children)}")
    sharers = " and ".join(who) if who else "another process (a fork relative not read, or KSM)"
    return (f"pages still mapped by {sharers} after fork(): copy-on-write; each write copies a page into this "
            "process's own anonymous memory")


def explain_process(model: Model, p: ProcessMemory, swap: SwapFacts, findings: list[Finding] | None = None,
                    shm: ShmAccount | None = None) -> ProcessStory:
    """Per kind of ``p``: figures, the top mappings with the rule that made them that kind, and their fate;
    and what a kill would free (``freed_if_killed``: ``p.kernel`` read for page tables and stacks, ``shm``
    for the shmem objects it is the last holder of; either missing makes that part unknown)."""
    devs = model.sample.shmem_devs
    parent, children = relatives(model, p)
    stories = []
    for kind in KINDS:
        use = p.categories[kind]
        if not (use.rss or use.swap):
            continue
        holding = [m for m in p.mappings or () if m.categories[kind].rss or m.categories[kind].swap]
        holding.sort(key=lambda m: (-(m.categories[kind].rss + m.categories[kind].swap), m.start))
        holders = tuple(Holder(m, m.categories[kind].rss + m.categories[kind].swap, _rule(m, devs))
                        for m in holding[:TOP_MAPPINGS])
        why = _cow_why(parent, children) if kind is Kind.COW else None
        stories.append(KindStory(kind, use.rss, use.pss, use.swap, len(holding), holders, why,
                                 fate(kind, swap, p.totals.cow_file if kind is Kind.COW else 0)))
    mine = tuple(f for f in findings or () if p.pid in f.pids)
    gpu = tuple((u.device, u.vram) for u in model.gpu.of(p.pid)) if model.gpu is not None else ()
    freed = freed_if_killed(p, shm, processes=model.scan.processes, absent=model.scan.host.smaps_absent)
    return ProcessStory(p, tuple(stories), p.reclaim, swap, parent, children, mine, gpu, freed)


class MappingStory(Frozen):
    """``explain_mapping``'s answer: the entry's fields (kB as smaps prints them), its rule, its split."""

    __slots__ = ("pid", "comm", "mapping", "fields", "rule", "split", "fates")

    pid: int
    comm: str
    mapping: Mapping
    fields: tuple[tuple[str, int], ...]
    rule: str
    split: tuple[str, ...]
    fates: tuple[tuple[Kind, str], ...]

    def __init__(self, pid: int, comm: str, mapping: Mapping, fields: tuple[tuple[str, int], ...], rule: str,
                 split: tuple[str, ...], fates: tuple[tuple[Kind, str], ...]) -> None:
        fill(self, pid, comm, mapping, fields, rule, split, fates)


def raw_entry(model: Model, p: ProcessMemory, addr: int) -> tuple[tuple[str, ...], RawVma] | None:
    """The smaps entry of ``p`` holding ``addr`` as the sample read it (field names, entry)."""
    ps = model.sample.processes.get(p.key)
    if ps is None or ps.smaps is None:
        return None
    for v in ps.smaps.vmas():
        if v[0] <= addr < v[1]:
            return ps.smaps.names, v
    return None


def explain_mapping(model: Model, p: ProcessMemory, addr: int, swap: SwapFacts) -> MappingStory | None:
    """One mapping of ``p`` (the one holding ``addr``) field by field; ``None``: no mapping there."""
    found = raw_entry(model, p, addr)
    if found is None:
        return None
    names, v = found
    _, _, maps = Classifier(model.sample.shmem_devs).split(names, [v], want_mappings=True)
    assert maps is not None
    m = maps[0]
    cls, rule = classify_rule(v[6], v[2], v[7], v[4], model.sample.shmem_devs)
    values = dict(zip(names, v[8]))
    parent, children = relatives(model, p)
    split = tuple(_split_lines(cls, values, m, parent, children))
    fates = tuple((k, fate(k, swap, m.totals.cow_file if k is Kind.COW else 0)) for k in KINDS
                  if m.categories[k].rss or m.categories[k].swap)
    return MappingStory(p.pid, p.comm, m, tuple(zip(names, v[8])), rule, split, fates)


def _split_lines(cls: MapClass, f: dict[str, int], m: Mapping, parent: int | None,
                 children: tuple[int, ...]) -> list[str]:
    """How ``Classifier.split`` divided this entry (its figures, the rule of kernel-spec.md A.6)."""
    kb = 1024
    g = f.get
    got = ", ".join(f"{k.value} {size(m.categories[k].rss)}" for k in KINDS if m.categories[k].rss) or "nothing"
    if cls is MapClass.DEVICE_PFN:
        return [f"Rss is 0: the kernel does not walk VM_PFNMAP/VM_IO maps; its Size ({size(g('Size', 0) * kb)}) "
                "is device address space, shown as device_mapped, not RAM"]
    if cls in (MapClass.ANON, MapClass.ANON_HUGETLB):
        shared = g("Shared_Clean", 0) + g("Shared_Dirty", 0)
        lines = [f"Anonymous {size(g('Anonymous', 0) * kb)}; Shared_Clean + Shared_Dirty {size(shared * kb)} "
                 f"(pages mapped more than once); KSM {size(g('KSM', 0) * kb)}",
                 "cow = min(Anonymous, max(Shared_Clean + Shared_Dirty, KSM)); the rest of Rss is this "
                 "process's own anonymous memory"]
        if m.categories[Kind.COW].rss:
            lines.append(_cow_why(parent, children))
    elif cls in (MapClass.FILE_PRIVATE, MapClass.FILE_COW_PENDING, MapClass.SHMEM_PRIVATE):
        lines = [f"Anonymous {size(g('Anonymous', 0) * kb)} are pages already written (copies): the Private_Dirty "
                 f"ones ({size(g('Private_Dirty', 0) * kb)}) this process's own, the rest still shared (cow)",
                 f"Rss - Anonymous = {size((g('Rss', 0) - g('Anonymous', 0)) * kb)} is the object's page cache: "
                 + {MapClass.FILE_PRIVATE: "file", MapClass.FILE_COW_PENDING: "cow until written",
                    MapClass.SHMEM_PRIVATE: "shared (the shmem object's)"}[cls]]
    else:
        kind = {MapClass.SHMEM: "shared", MapClass.SHMEM_HUGETLB: "shared", MapClass.FILE_SHARED: "file",
                MapClass.DEVICE: "device"}[cls]
        lines = [f"every resident page is {kind}: Rss {size(g('Rss', 0) * kb)}"
                 + (f", hugetlb {size((g('Shared_Hugetlb', 0) + g('Private_Hugetlb', 0)) * kb)} (outside Rss)"
                    if cls is MapClass.SHMEM_HUGETLB else "")]
    if g("Swap", 0):
        lines.append(f"Swap {size(g('Swap', 0) * kb)} (SwapPss {size(g('SwapPss', 0) * kb)}: shmem swap counts 0 "
                     "there)")
    if g("AnonHugePages", 0):
        lines.append(f"AnonHugePages {size(g('AnonHugePages', 0) * kb)}: mapped as 2 MiB transparent huge pages"
                     + (" (VmFlags hg: MADV_HUGEPAGE)" if "hg" in m.vmflags else "")
                     + "; a write to a shared one copies only the 4 KiB page written: the kernel splits the "
                       "huge mapping (observed on 6.18)")
    if g("Locked", 0):
        lines.append(f"Locked {size(g('Locked', 0) * kb)}: mlocked, never reclaimed")
    lines.append(f"so: {got}")
    return lines


def machine_summary(model: Model) -> tuple[list[tuple[str, int | None]], int, dict[str, int]] | None:
    """Where MemTotal goes (``model.machine``'s rows, which add up to it) and what the kernel could reclaim
    (``reclaim.reclaim_from_meminfo``: drop, write back, swap, never); ``None`` without meminfo."""
    m = model.machine
    if m is None:
        return None
    return ([(r.title, r.bytes) for r in m.rows], m.total, reclaim_from_meminfo(m.raw, model.swap_room))


def with_mappings(model: Model, pids: set[int]) -> Model:
    """``model`` with the mappings of ``pids`` derived (``Classifier.split`` of their recorded rows, as
    ``derive(mappings=True)`` would): a model of every process's mappings costs ~200 bytes and ~40 µs per
    mapping, and the findings read the mappings of a few processes only (``find_process.needs_mappings``)."""
    classifier = Classifier(model.sample.shmem_devs)
    procs = []
    for p in model.scan.processes:
        ps = model.sample.processes.get(p.key)
        if p.pid in pids and p.mappings is None and ps is not None and ps.smaps is not None:
            _, _, maps = classifier.split(ps.smaps.names, ps.smaps.vmas(), want_mappings=True)
            p = p.replace(mappings=maps)
        procs.append(p)
    return Model(model.sample, model.scan.replace(processes=procs), model.machine, model.changes, model.swap_room,
                  model.mappings, model.cgroups, model.gpu)


def findings(model: Model, swappiness: int | None, previous_window: Model | None = None,
             faults: dict[int, int] | None = None, fault_seconds: float | None = None,
             shm: ShmAccount | None = None) -> list[Finding]:
    """Every finding about ``model``, ranked (``model.findings``).

    Args:
        swappiness: vm.swappiness (``None``: unknown, as in a recorded sample).
        previous_window: the first sample of a recorded window, for trends.
        faults, fault_seconds: major faults per PID over a second look (``find_process.swap_active``).
        shm: the shared-memory objects (``collect.shm.read_shm``; ``None``: not read, as from a database).
    """
    out: list[Finding] = []
    out += find_process.fork_families(model)
    out += find_process.single_mapper_cache(model)
    out += find_process.device_memory(model)
    out += find_process.swap_active(model, faults, fault_seconds)
    out += find_process.gpu_memory(model)
    out += find_machine.shmem_unmapped(model, shm)
    out += find_machine.cgroups_near_limit(model)
    out += find_machine.no_swap(model, swappiness)
    out += find_machine.unaccounted(model)
    out += find_machine.reclaimers(model)
    if previous_window is not None:
        out += find_machine.trends(previous_window, model)
    return ranked(out)
