"""``memtype shm``: every shared-memory object (SysV, /dev/shm, tmpfs, memfd, MAP_SHARED|MAP_ANONYMOUS,
deleted-but-held), who holds it, which are orphaned, and the rows that add up to meminfo Shmem."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output
from memtype.cli.formats import add_format_options, write_csv, write_json
from memtype.cli.source import add_past, open_source

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.shm import ShmAccount, ShmObject

DESCRIPTION = ("Every shared-memory object and its holders: SysV segments (with the resident and swapped bytes "
               "lsipc lacks), POSIX shm and files on tmpfs mounts, memfds, MAP_SHARED|MAP_ANONYMOUS regions shared "
               "across fork, and tmpfs files deleted but still held. For each: size, resident, swapped (counted "
               "once), who maps it, holds it open or is attached, with their cgroup; whether a name keeps it alive; "
               "ORPHANED where nobody holds it (only rm or ipcrm frees it). The last table adds up to meminfo Shmem "
               "with the remainder named.")
EXAMPLES = (
    "memtype shm  # the shared-memory objects by resident, orphaned ones flagged, and where Shmem is",
    "memtype shm --holders --top 5  # the 5 largest objects and every process holding each, with its cgroup",
    "memtype shm --orphaned --format json  # resident shmem nobody holds: files to rm, segments to ipcrm",
)
DEFAULT_TOP = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top", type=types.positive, default=DEFAULT_TOP, metavar="N",
                   help=f"objects to list (default {DEFAULT_TOP}; the reconciliation covers them all)")
    p.add_argument("--holders", action="store_true", help="a table of every holder of the objects listed")
    p.add_argument("--orphaned", action="store_true", help="list only orphaned objects (resident, no holder)")
    p.add_argument("--pid", type=types.pid, metavar="PID", help="list only the objects PID holds")
    p.add_argument("--kind", type=_kinds, metavar="KIND,...",
                   help="list only these kinds: sysv, posix, tmpfs, memfd, shared_anon, deleted")
    p.add_argument("--rss", action="store_true",
                   help="read the mappers' smaps for each holder's Rss and Swap of the object (--holders does; "
                   "it costs a smaps read per mapping process: 2-3x the time; without it they are null)")
    add_format_options(p, tables=("objects", "holders", "reconciliation"))
    add_past(p)
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    from memtype.collect.scan import host_info
    from memtype.collect.shm import read_shm

    with open_source(args) as src:
        root = src.need_root("shared-memory objects (fds, tmpfs files)")
        host = host_info(root)
        account = read_shm(root, rss=args.rss or args.holders, jobs=args.jobs)
        warnings = list(root.warnings)
    shown = _chosen(args, account)
    if args.format == "json":
        from memtype.output.shm_json import shm_document

        write_json(shm_document(host, account, shown, warnings))
    elif args.format == "csv":
        _csv(args, account, shown)
    else:
        from memtype.output.shm_table import render

        output.table(output.console(args), render(host, account, shown, holders=args.holders))
        notes.skips(account.skipped, what=" (their objects are in unaccounted)", live=host.live)
        for line in account.notes:
            notes.note(line)
        notes.warnings(warnings)
    return 0


def _kinds(text: str) -> frozenset[str]:
    from memtype.model.shm import KINDS

    got = frozenset(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(got - set(KINDS))
    if unknown or not got:
        named = ", ".join(map(repr, unknown)) or repr(text)
        raise argparse.ArgumentTypeError(f"unknown kind {named}; choose from {', '.join(KINDS)}")
    return got


def _chosen(args: argparse.Namespace, a: ShmAccount) -> list[ShmObject]:
    objects = list(a.objects)
    if args.orphaned:
        objects = [o for o in objects if o.orphaned]
    if args.pid is not None:
        objects = [o for o in objects if any(h.pid == args.pid for h in o.holders)]
    if args.kind:
        objects = [o for o in objects if o.kind in args.kind]
    return objects[: args.top]


def _csv(args: argparse.Namespace, a: ShmAccount, shown: list[ShmObject]) -> None:
    from memtype.model import fields_shm as f

    if args.table == "objects":
        write_csv(args, f.SHM_OBJECT, shown)
    elif args.table == "holders":
        write_csv(args, f.SHM_HOLDING, [(o, h) for o in shown for h in o.holders])
    else:
        write_csv(args, f.SHM_ROW, a.rows)
