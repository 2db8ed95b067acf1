"""``memtype explain [PID]`` / ``--mapping PID ADDR``: the machine's findings, a process or one mapping in words.

It reads one raw Sample (this machine, ``--root`` or ``--db``/``--at``) with every process's smaps and the
memory cgroups, derives it with mappings, and hands the Model to ``model.explain``. Live, where a process
has memory in swap, it looks at those processes' major faults again after a second (``swap-active``);
from a database, the sample before gives them, and the samples of the ``--trend`` window before give
the trends.
"""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output
from memtype.cli.formats import write_json
from memtype.cli.source import Source, add_past, open_source, open_store
from memtype.errors import MemtypeError, UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.derive import Model
    from memtype.model.sample import Sample
    from memtype.model.shm import ShmAccount

DESCRIPTION = ("Explain in words: with no PID the machine's findings (ranked by size: fork families breaking "
               "copy-on-write, no swap, unaccounted memory, shmem no one maps, cgroups near their limit...); with "
               "a PID each kind of its memory, the mappings that hold it, why they are that kind and what the "
               "kernel can do with it; --mapping PID ADDR one mapping field by field.")
EXAMPLES = (
    "memtype explain  # the machine's findings, largest first",
    "memtype explain 421  # each kind of PID 421's memory, which mappings hold it and why",
    "memtype explain --mapping 421 0x7f036bbdb000  # one mapping field by field, with the rule applied",
)
SWAP_LOOK_MIN = 16 << 20  # a second look at major faults only for processes with this much in swap
SWAP_LOOK_SECONDS = 1.0


def _address(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address: {text[:40]!r} (hex, as maps prints it)") from None
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"not an address: {text[:40]!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=types.pid, nargs="?", help="the process to explain (default: the machine)")
    p.add_argument("--mapping", nargs=2, metavar=("PID", "ADDR"), help="one mapping of PID: the one holding "
                   "address ADDR (hex, e.g. 7f036bbdb000 or 0x7f03...)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="text (default) or json")
    p.add_argument("--trend", type=types.span, default=3600.0, metavar="SPAN",
                   help="with --db: the window the trends cover, ending at the sample shown (default 1h)")
    add_past(p)
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    mapping = None
    if args.mapping is not None:
        if args.pid is not None:
            raise UsageError("give a PID or --mapping PID ADDR, not both")
        try:
            mapping = (types.pid(args.mapping[0]), _address(args.mapping[1]))
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"--mapping: {exc}") from None
    pid = mapping[0] if mapping else args.pid
    from memtype.model import explain, find_process
    from memtype.model.derive import derive
    from memtype.output import explain_text

    with open_source(args) as src:
        sample, swappiness = _read(src, args)
        previous, window = _recorded_neighbours(args) if src.root is None else (None, None)
        model = derive(sample, previous)
        wanted = find_process.needs_mappings(model)
        target = next((p for p in model.scan.processes if p.pid == pid), None)
        if target is not None:  # the process explained, and its fork relatives (who shares its cow)
            parent, children = explain.relatives(model, target)
            wanted.update({target.pid, *children} | ({parent} if parent is not None else set()))
        model = explain.with_mappings(model, wanted)
        faults, seconds = _second_look(src, model) if src.live else (None, None)
        shm = _shm(src, model)
    findings = explain.findings(model, swappiness, derive(window) if window else None, faults, seconds, shm)
    swap = explain.swap_facts(model, swappiness)
    host = model.scan.host
    width = output.console(args).width
    src.announce(args.format)
    if pid is None:
        if args.format == "json":
            summary = explain.machine_summary(model)
            write_json(src.stamped({"findings": [f.as_dict() for f in findings], "machine": None if summary is None
                                    else {"rows": dict(summary[0]), "total": summary[1], "reclaim": summary[2]}}))
        else:
            output.text(explain_text.machine_text(host, findings, width, explain.machine_summary(model)))
        notes.scan_notes(model.scan)
        return 0
    proc = next((p for p in model.scan.processes if p.pid == pid), None)
    if proc is None:
        raise MemtypeError(f"cannot explain PID {pid}: {_why(model, pid)}")
    if mapping is not None:
        story = explain.explain_mapping(model, proc, mapping[1], swap)
        if story is None:
            raise MemtypeError(f"PID {pid} has no mapping at {mapping[1]:x} (memtype maps {pid} lists them)")
        if args.format == "json":
            write_json(src.stamped({"mapping": explain_text.mapping_document(story)}))
        else:
            output.text(explain_text.mapping_text(host, story, width))
        return 0
    if src.root is not None:  # page tables and kernel stacks from its status (Contract F); a database has none
        from memtype.collect.freed import read_kernel

        proc = read_kernel(src.root, [proc])[0]
    pstory = explain.explain_process(model, proc, swap, findings, shm)
    if args.format == "json":
        write_json(src.stamped({"process": explain_text.process_document(pstory)}))
    else:
        output.text(explain_text.process_text(host, pstory, width))
    return 0


def _read(src: Source, args: argparse.Namespace) -> tuple[Sample, int | None]:
    if src.root is None:
        return src.sample(), None
    from memtype.collect.sample import read_sample
    from memtype.collect.swapinfo import read_swappiness

    # every process, also for one PID: its findings (a fork family, page cache no other process maps)
    # are about the others too
    from memtype.collect.damon import read_damon

    sample = read_sample(src.root, exe=True, cgroup=True, cgroups=True, jobs=args.jobs, gpu=True)
    # DAMON's schemes as sysfs shows them (read only: refreshing their stats is memtype reclaim's, as root)
    return sample.replace(damon=read_damon(src.root)), read_swappiness(src.root)


def _shm(src: Source, model: Model) -> ShmAccount | None:
    """The shared-memory objects (``memtype shm``'s reader, with the processes already read); ``None`` from a
    database (it records no objects) or where they cannot be read (one note)."""
    if src.root is None:
        return None
    from memtype.collect.shm import read_shm

    try:
        return read_shm(src.root, model.scan.processes)
    except MemtypeError as exc:
        notes.note(f"shared-memory objects not read ({exc}): shmem-unmapped from meminfo instead")
        return None


def _recorded_neighbours(args: argparse.Namespace) -> tuple[Sample | None, Sample | None]:
    """The sample before the one shown (major faults between them) and the first of the trend window."""
    from memtype.cli.source import nearest

    with open_store(args.db) as store:
        sample_id, wall = nearest(store, args.at)
        times = store.times()
        ids = [i for i, _ in times]
        at = ids.index(sample_id)
        previous = store.sample(ids[at - 1]) if at > 0 else None
        start = next((i for i, w in times if w >= wall - args.trend), None)
        window = store.sample(start) if start is not None and start != sample_id else None
    return previous, window


def _second_look(src: Source, model: Model) -> tuple[dict[int, int] | None, float | None]:
    """Major faults of the processes with memory in swap, over a second (live only)."""
    swapped = {p.pid: p.key for p in model.scan.processes if sum(u.swap for u in p.categories.values())
               >= SWAP_LOOK_MIN}
    if not swapped or src.root is None:
        return None, None
    import time

    from memtype.collect.sample import read_sample

    time.sleep(SWAP_LOOK_SECONDS)
    try:
        later = read_sample(src.root, sorted(swapped), smaps=False)
    except MemtypeError:  # one of them exited: look at none rather than guess
        return None, None
    faults = {}
    for key, ps in later.processes.items():
        before = model.sample.processes.get(key)
        if before is not None and before.counters.majflt is not None and ps.counters.majflt is not None:
            faults[ps.pid] = ps.counters.majflt - before.counters.majflt
    return faults, SWAP_LOOK_SECONDS


def _why(model: Model, pid: int) -> str:
    from memtype.model.records import SKIP_REASONS

    for s in model.scan.skipped:
        if s.pid == pid:
            return SKIP_REASONS.get(s.reason, s.reason)
    return "no such process"
