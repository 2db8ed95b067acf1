"""``memtype diff A B``: what changed between two captures (``snapshot`` directories or tarballs), or
between two times of a database (``--db DB FROM TO``): per process, program, user and cgroup, per kind,
sorted by growth, with a one-screen summary on top."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output, when
from memtype.cli.formats import add_format_options, write_csv, write_json
from memtype.errors import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.derive import Model

DESCRIPTION = ("What changed between A and B: two captures (`memtype snapshot` directories or .tar.gz), or two "
               "times of a database (--db DB FROM TO). Per process (PID and start time), program, user and cgroup, "
               "per kind (PSS): what grew, shrank, appeared and went away, sorted by growth, with a summary on top "
               "(and each fork family whose copy-on-write sharing broke).")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype diff before.tar.gz after.tar.gz   # what grew and shrank between two snapshots',
    'memtype diff --db m.db "1h ago" now   # between two times of a recorded history',
    'memtype diff before.tar.gz after.tar.gz --table programs   # per program',
)
DEFAULT_TOP = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", help="a capture (directory or .tar.gz); with --db: a TIME")
    p.add_argument("b", metavar="B", help="a capture; with --db: a TIME (" + when.ACCEPTED + ")")
    p.add_argument("--db", metavar="DB", help="A and B are times in this database of `memtype record`")
    p.add_argument("--top", type=types.positive, default=None, metavar="N",
                   help=f"rows per list (default: {DEFAULT_TOP} in a table, every one in JSON and CSV)")
    add_format_options(p, tables=("processes", "programs", "users", "cgroups", "machine", "cow_breaks"))
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    from memtype.model.diff import diff_models

    if args.root not in (None, "/"):
        raise UsageError("diff takes its two sides as A and B (captures, or times with --db), not --root")
    if args.db is not None:
        for t in (args.a, args.b):
            try:
                when.parse_time(t)
            except ValueError as exc:
                raise UsageError(f"with --db, A and B are times: {exc}") from None
        before, after, names = _from_db(args)
    else:
        before, after, names = _from_captures(args)
    d = diff_models(before, after)
    from memtype.output.diff_text import diff_document, summary_lines

    lines = summary_lines(d, before=names[0]["name"], after=names[1]["name"])
    if args.format == "json":
        write_json(diff_document(d, after.scan.host, before=names[0], after=names[1], top=args.top, summary=lines))
    elif args.format == "csv":
        _csv(args, d)
    else:
        from memtype.output.diff_table import render

        out = output.console(args)
        output.table(out, render(d, lines, top=args.top or DEFAULT_TOP, width=out.width))
    for m, side in ((before, "A"), (after, "B")):
        if m.scan.skipped:
            notes.note(f"{side}: " + "; ".join(notes.skip_lines(m.scan.skip_counts(), live=False,
                                                                 denied_pids=[])))
    return 0


def _csv(args: argparse.Namespace, d: Any) -> None:
    from memtype.model.diff import SAME
    from memtype.model.fields_diff import DIFF_COW_BREAK, DIFF_GROUP, DIFF_MACHINE, DIFF_PROCESS

    table = args.table
    if table == "processes":
        write_csv(args, DIFF_PROCESS, [p for p in d.processes if p.change != SAME][: args.top])
    elif table == "machine":
        write_csv(args, DIFF_MACHINE, d.machine or [])
    elif table == "cow_breaks":
        write_csv(args, DIFF_COW_BREAK, d.cow_breaks)
    else:
        by = table[:-1]
        if by not in d.groups:
            raise UsageError(f"--table {table}: the samples recorded no {by} of their processes")
        write_csv(args, DIFF_GROUP, d.groups[by][: args.top])


def _from_captures(args: argparse.Namespace) -> tuple[Model, Model, list[dict[str, Any]]]:
    from memtype.cli.source import Source
    from memtype.model.derive import derive
    from memtype.source.root import Root

    models, names = [], []
    for path in (args.a, args.b):
        with Root(path) as root:
            if root.live:
                raise UsageError(f"{path!r} is this machine; diff compares two captures (or two times with --db)")
            sample = Source(root).sample(exe=True, cgroup=True, jobs=args.jobs)
        models.append(derive(sample))
        names.append({"capture": path, "wall": sample.wall, "name": path})
    return models[0], models[1], names


def _from_db(args: argparse.Namespace) -> tuple[Model, Model, list[dict[str, Any]]]:
    from memtype.cli.source import nearest, open_store
    from memtype.model.derive import derive

    models, names = [], []
    with open_store(args.db) as store:
        for asked in (args.a, args.b):
            sample_id, wall = nearest(store, asked)
            models.append(derive(store.sample(sample_id)))
            names.append({"db": args.db, "sample": sample_id, "wall": wall, "asked": asked,
                          "name": f"{when.shown(wall)} (nearest to {asked})"})
    return models[0], models[1], names
