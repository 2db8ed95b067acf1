"""``memtype cgroups``: every memory cgroup (v1, v2, hybrid) by kind, with its limit, swap, PSI, OOM
kills and the summed split of its processes."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output
from memtype.cli.formats import add_format_options, write_csv, write_json
from memtype.cli.source import NOT_RECORDED, add_past, open_source

DESCRIPTION = ("Every memory cgroup: memory.stat mapped onto the kinds (anonymous, shared, file), charged total, "
               "limit, swap, PSI and OOM kills, and the summed PSS by kind of its processes. cgroup v2, v1, and "
               "hybrid hosts (memory in v1).")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype cgroups --tree                 # every memory cgroup, parents above children, by kind',
    'memtype cgroups --sort swap --top 10   # the 10 cgroups with most in swap',
    'memtype cgroups --no-processes --format json   # memory.stat figures only (no smaps read), as JSON',
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tree", action="store_true", help="parents above their children, indented")
    types.suggest(p.add_argument("--sort", default="charged", metavar="COLUMN",
                                 help="sort by this column, descending: charged (default), limit, anon, shared, "
                                 "file, kernel, other, swap, oom, psi, pss, procs, a kind's PSS (cow.pss...), or "
                                 "name/path"), _sort_columns)
    p.add_argument("--top", type=types.positive, default=None, metavar="N",
                   help="only the first N cgroups (flat table)")
    p.add_argument("--no-processes", dest="processes", action="store_false",
                   help="skip the processes (no smaps read): memory.stat figures only")
    p.add_argument("--freed", action="store_true",
                   help="what killing every process of each cgroup would free (freed_if_killed: pages and shared "
                   "memory held only inside it count once); reads every process's fds and maps, so not by default")
    add_format_options(p)
    add_past(p)
    types.add_width(p)


def _sort_columns() -> list[str]:
    """--sort's words for shell completion (the cgroup registry is imported only then)."""
    from memtype.model.fields_cgroups import CGROUP

    return CGROUP.tokens()


def run(args: argparse.Namespace) -> int:
    from memtype.collect.cgroups import find_hierarchy
    from memtype.collect.sample import read_sample, read_system
    from memtype.errors import MemtypeError, UsageError
    from memtype.model.cgroup_tree import cgroup_tree
    from memtype.model.derive import derive, has_swap_room
    from memtype.model.records import Scan
    from memtype.output import cgroups_table as view
    try:
        view.sort_cgroups([], args.sort)  # a bad column fails before anything is read
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.freed and not args.processes:
        raise UsageError("--freed needs the processes (drop --no-processes)")
    with open_source(args) as src:
        if args.freed and src.root is None:
            raise MemtypeError(NOT_RECORDED.format(what="who holds which shared memory (--freed reads fds and maps)"))
        if src.root is not None:
            hierarchy = find_hierarchy(src.root)  # none: one error line
            # One code path with a recorded Sample: read it, derive the tree (members: the model's processes).
            if args.processes:
                model = derive(read_sample(src.root, cgroup=True, cgroups=hierarchy, jobs=args.jobs))
                tree, result = model.cgroups, model.scan
                if args.freed and tree is not None:
                    from memtype.collect.freed import read_cgroups_freed

                    result = read_cgroups_freed(src.root, tree, result)
            else:  # memory.stat figures only: the tree without members
                sample = read_system(src.root, cgroups=hierarchy)
                groups = sample.cgroups
                tree = None if groups is None else cgroup_tree(groups, has_swap_room(sample))
                result = Scan(sample.host, [])
        else:  # a recorded Sample: the same derive
            sample = src.sample()
            if sample.cgroups is None:
                raise MemtypeError(NOT_RECORDED.format(what="memory cgroups in this sample (the recorder "
                                                             "found no cgroup hierarchy, or did not read it)"))
            if args.processes:
                model = src.model()
                tree, result = model.cgroups, model.scan
            else:
                tree, result = cgroup_tree(sample.cgroups, has_swap_room(sample)), Scan(sample.host, [])
    if tree is None:  # not so: read_system was given the hierarchy
        raise MemtypeError("the memory cgroups could not be read")
    result = result.replace(warnings=tree.warnings + result.warnings)
    rows = (view.tree_order(tree.cgroups, args.sort) if args.tree
            else view.sort_cgroups(tree.cgroups, args.sort)[: args.top])
    src.announce(args.format)
    if args.format == "json":
        from memtype.output.documents import cgroups_document

        legend = [view.NOTE] + ([view.V1_ROOT_NOTE] if tree.hierarchy.version == 1 else [])
        write_json(src.stamped(cgroups_document(tree, rows, result, members=args.processes, notes=legend,
                                                    freed=args.freed)))
    elif args.format == "csv":
        from memtype.model.fields_cgroups import CGROUP

        options = ({"processes"} if args.processes else set()) | ({"v1"} if tree.hierarchy.version == 1 else set()) \
            | ({"freed"} if args.freed else set())
        write_csv(args, CGROUP, rows, options=options)
    else:
        out = output.console(args)
        output.table(out, view.render(tree, rows, as_tree=args.tree, sort=args.sort, width=out.width,
                                      members=args.processes))
    if tree.gone:
        notes.note(f"{notes.count(tree.gone, 'cgroup')} removed while being read")
    top = next((cg for cg in tree.cgroups if cg.path == "/"), None)
    notes.skips(top.unread if top is not None else {}, noun="member process", live=result.host.live)
    notes.warnings(result.warnings)
    return 0
