"""`memtype cgroups`: every memory cgroup (v1, v2, hybrid) by kind, with its limit, swap, PSI, OOM kills
and the summed split of its processes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing costs ~5 ms of every command's start-up
if TYPE_CHECKING:
    from typing import Any

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.cgroups import CgroupTree
    from memtype.model.records import Scan


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("cgroups", help="memory cgroups (containers, pods, units) by kind, with limits and swap",
                       description="Every memory cgroup: memory.stat mapped onto the kinds (anonymous, shared, "
                       "file), charged total, limit, swap, PSI and OOM kills, and the summed PSS by kind of its "
                       "processes. cgroup v2, v1, and hybrid hosts (memory in v1).")
    common(p)
    p.add_argument("--tree", action="store_true", help="parents above their children, indented")
    p.add_argument("--sort", default="charged", metavar="COLUMN",
                   help="sort by this column, descending: charged (default), limit, anon, shared, file, kernel, "
                   "other, swap, oom, psi, pss, procs, a kind's PSS (cow.pss...), or name/path")
    p.add_argument("--top", type=_positive, default=None, metavar="N", help="only the first N cgroups (flat table)")
    p.add_argument("--no-processes", dest="processes", action="store_false",
                   help="skip the processes (no smaps read): memory.stat figures only")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--width", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from memtype.collect.cgroups import attach_members, read_cgroups
    from memtype.collect.scan import host_info, scan
    from memtype.errors import UsageError
    from memtype.model.records import Scan
    from memtype.output import cgroups_table as view
    from memtype.source.root import Root

    try:
        view.sort_cgroups([], args.sort)  # a bad column fails before anything is read
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with Root(args.root) as root:
        tree = read_cgroups(root)
        if args.processes:
            result = scan(root, cgroup=True, jobs=args.jobs)
            attach_members(tree, result, root)
        else:
            result = Scan(host_info(root), [])
    result.warnings[:0] = tree.warnings
    rows = (view.tree_order(tree.cgroups, args.sort) if args.tree
            else view.sort_cgroups(tree.cgroups, args.sort)[: args.top])
    if args.format == "json":
        from memtype.output.formats import document

        notes = [view.NOTE] + ([view.V1_ROOT_NOTE] if tree.hierarchy.version == 1 else [])
        sys.stdout.write(document(result, hierarchy=tree.hierarchy.as_dict(),
                                  cgroups=[view.cgroup_dict(cg, args.processes) for cg in rows],
                                  notes=notes) + "\n")
    else:
        from memtype.output.table import make_console, show

        console = make_console(args.width)
        show(console, view.render(tree, rows, as_tree=args.tree, sort=args.sort, width=console.width,
                                  members=args.processes))
    sys.stdout.flush()
    _notes(tree, result)
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return int(text)


def _notes(tree: CgroupTree, result: Scan) -> None:
    """One line per kind of gap (style.md rule 6)."""
    if tree.gone:
        print(f"memtype: note: {tree.gone} cgroup(s) removed while being read", file=sys.stderr)
    root = next((cg for cg in tree.cgroups if cg.path == "/"), None)
    unread = root.unread if root is not None else {}
    text = {"not captured": "not in the capture", "gone": "exited while being read",
            "denied": "not readable (run as root for all)", "no user memory": None}
    for reason, n in sorted(unread.items()):
        what = text.get(reason, reason)
        if what:
            print(f"memtype: note: {n} member process{'es' if n != 1 else ''} {what}", file=sys.stderr)
    for w in result.warnings[:10]:
        print(f"memtype: warning: {w}", file=sys.stderr)
