"""The commands behind the CLI: wire a Root to the library and a front end."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence

from memtype.collect.scan import scan
from memtype.collect.swapinfo import swap_room
from memtype.collect.system import machine_memory
from memtype.errors import MemtypeError, UsageError
from memtype.kinds import KINDS
from memtype.model import reclaim
from memtype.model.cgroups import cgroup_label
from memtype.model.group import group_mappings, group_processes, mapping_key
from memtype.model.records import SKIP_REASONS, Mapping, ProcessMemory, Scan
from memtype.output import formats
from memtype.output.fields import FIELDS, SORT_ALIASES
from memtype.source.root import Root


TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any


PS_FIELDS = ["rss", "pss", "uss", "swap"] + [f"{k.value}.rss" for k in KINDS]
MAPS_FIELDS = ["size", "rss", "pss", "swap"] + [f"{k.value}.rss" for k in KINDS]


def overview(args: argparse.Namespace) -> int:
    from memtype.output.table import make_console, overview as render, show

    with Root(args.root) as root:
        mm = machine_memory(root)
        result = scan(root, jobs=args.jobs)
    console = make_console(args.width)
    show(console, render(result, mm, args.top, console.width))
    _notes(result)
    return 0


def ps(args: argparse.Namespace) -> int:
    with Root(args.root) as root:
        result = _scanner(args)(root, args.pid, exe=args.group == "program" or bool(args.name),
                                cmdline=args.cmdline, jobs=args.jobs, cgroup=args.group == "cgroup" or args.cgroup)
        reclaim.annotate(result, swap_room(root))
    procs = _filter(result.processes, args.user, args.name)
    by = args.group
    if by == "process":
        rows: Sequence[Any] = _sort(procs, args.sort, _PROCESS_KEYS)[: args.top]
        if args.format == "json":
            _out(formats.document(result, processes=[formats.process_dict(p, cmdline=args.cmdline) for p in rows]))
        elif args.format == "csv":
            keys: list[tuple[str, Callable[[Any], Any]]] = [
                ("pid", lambda p: p.pid), ("comm", lambda p: p.comm), ("user", lambda p: p.user)]
            if args.cmdline:
                keys.append(("cmdline", lambda p: " ".join(p.cmdline or [])))
            _out(formats.csv_text(rows, keys, ["pss", "uss", "rss", "swap", "swap_pss", "hugetlb", "device_mapped"]
                                  + [f.id for f in FIELDS.values() if "." in f.id]), end="")
        else:
            from memtype.output.table import Key, rows_table

            columns = [Key("PID", lambda p: str(p.pid), right=True),
                    Key("User", lambda p: p.user or str(p.uid), drop=3, shrink=6),
                    Key("Name", lambda p: p.comm, shrink=15)]
            # The memory cgroup's readable name, last: it gets the room left (cut in the middle).
            cgroup_col = [Key("Cgroup", lambda p: cgroup_label(p.cgroup) if p.cgroup else "", drop=1, shrink=12,
                              path=True)] \
                if any(p.cgroup for p in rows) else []
            _table(args, rows_table(rows, columns, PS_FIELDS, drop={"uss": 2}, trailing=cgroup_col,
                                    width=_console_width(args), label=2,
                                    title=f"{len(rows)} of {len(procs)} processes, sorted by {args.sort}"))
    else:
        keyf: Callable[[ProcessMemory], str] = {"program": lambda p: p.program, "user": _user_label,
                                                "cgroup": lambda p: cgroup_label(p.cgroup)}[by]
        groups = _sort(group_processes(procs, keyf), args.sort, _GROUP_KEYS)[: args.top]
        if args.format == "json":
            _out(formats.document(result, group_by=by, groups=[formats.group_dict(g, by) for g in groups]))
        elif args.format == "csv":
            _out(formats.csv_text(groups, [(by, lambda g: g.key), ("processes", lambda g: g.count)],
                                  ["pss", "uss", "rss", "swap", "swap_pss"] +
                                  [f.id for f in FIELDS.values() if "." in f.id]), end="")
        else:
            from memtype.output.table import Key, rows_table

            columns = [Key(by.capitalize(), lambda g: g.key, shrink=8, path=by == "cgroup"),
                    Key("Procs", lambda g: str(g.count), right=True)]
            _table(args, rows_table(groups, columns, PS_FIELDS, drop={"uss": 1}, width=_console_width(args), label=0,
                                    title=f"{len(groups)} {by}s, sorted by {args.sort}"))
    _notes(result)
    return 0


def maps(args: argparse.Namespace) -> int:
    if args.all == (args.pid is not None):
        raise UsageError("give a PID, or --all (with --group path) for every process")
    if args.all and args.group != "path":
        raise UsageError("--all needs --group path (one row per file across all processes)")
    with Root(args.root) as root:
        result = _scanner(args)(root, None if args.all else [args.pid], mappings=True, jobs=args.jobs)
    if not result.processes:
        reason = result.skipped[0].reason if result.skipped else "no user memory"
        raise MemtypeError(f"cannot read the mappings of PID {args.pid}: {SKIP_REASONS.get(reason, reason)}"
                           + ("; run as root" if reason == "denied" else ""))
    if args.group == "path":
        groups = _sort(group_mappings(result.processes), args.sort or "pss", _GROUP_KEYS)[: args.top]
        if args.format == "json":
            _out(formats.document(result, group_by="path", groups=[formats.group_dict(g, "path") for g in groups]))
        elif args.format == "csv":
            _out(formats.csv_text(groups, [("path", lambda g: g.key), ("mappings", lambda g: g.count),
                                           ("processes", lambda g: len(set(g.pids)))],
                                  MAPS_FIELDS + ["pss", "uss"]), end="")
        else:
            from memtype.output.table import Key, rows_table

            keys = [Key("Procs", lambda g: str(len(set(g.pids))), right=True)]
            path_col = [Key("Mapping", lambda g: g.key, shrink=20, path=True)]
            what = "all processes" if args.all else f"PID {args.pid} ({result.processes[0].comm})"
            _table(args, rows_table(groups, keys, MAPS_FIELDS[1:], drop={"swap": 1}, trailing=path_col,
                                    width=_console_width(args), totals="sum" if args.all else "total",
                                    title=f"{len(groups)} files and regions of {what}, sorted by "
                                          f"{args.sort or 'pss'}"))
    else:
        proc = result.processes[0]
        ms: list[Mapping] = list(proc.mappings or [])
        if args.sort:
            ms = _sort(ms, args.sort, {})
        ms = ms[: args.top]
        if args.format == "json":
            _out(formats.document(result, process=formats.process_dict(proc),
                                  mappings=[formats.mapping_dict(m) for m in ms]))
        elif args.format == "csv":
            _out(formats.csv_text(ms, [("start", lambda m: f"{m.start:x}"), ("perms", lambda m: m.perms),
                                       ("class", lambda m: m.mapclass), ("path", lambda m: m.path)],
                                  MAPS_FIELDS + ["pss", "uss", "swap_pss", "device_mapped"]), end="")
        else:
            from memtype.output.table import Key, rows_table

            keys = [Key("Address", lambda m: f"{m.start:012x}", drop=3),
                    Key("Perm", lambda m: m.perms, drop=1),
                    Key("Class", lambda m: m.mapclass, drop=2)]
            path_col = [Key("Mapping", lambda m: mapping_key(m), shrink=24, path=True)]
            _table(args, rows_table(ms, keys, MAPS_FIELDS, drop={"size": 5, "swap": 4}, trailing=path_col,
                                    width=_console_width(args), totals="total",
                                    title=f"PID {proc.pid} ({proc.comm}): {len(ms)} mappings"))
    _notes(result)
    return 0


def snapshot(args: argparse.Namespace) -> int:
    from memtype.source.capture import capture

    if args.root != "/":
        raise UsageError("snapshot captures this machine; --root is not supported here")
    report = capture(args.out, pids=args.pid, redact=args.redact, exact=args.exact)
    print(f"memtype: captured {report.processes} processes ({report.files} files) into {report.out}",
          file=sys.stderr)
    for line in report.notes:
        print(f"memtype: note: {line}", file=sys.stderr)
    return 0


# -- helpers ---------------------------------------------------------------------------------------

def _scanner(args: argparse.Namespace) -> Callable[..., Scan]:
    """Mapping level, or every page with --exact (numpy imported only then)."""
    if getattr(args, "exact", False):
        from memtype.collect.scan_exact import scan_exact

        return scan_exact
    return scan


def _user_label(p: ProcessMemory) -> str:
    return p.user or (str(p.uid) if p.uid is not None else "?")


def _filter(procs: list[ProcessMemory], user: str | None, name: str | None) -> list[ProcessMemory]:
    out = procs
    if user is not None:
        out = [p for p in out if p.user == user or (user.isdigit() and p.uid == int(user))]
    if name is not None:
        try:
            rx = re.compile(name)
        except re.error as exc:
            raise UsageError(f"--name: bad regular expression {name!r}: {exc}") from None
        out = [p for p in out if rx.search(p.comm) or rx.search(p.program)]
    return out


_PROCESS_KEYS: dict[str, Callable[[Any], Any]] = {"pid": lambda p: p.pid, "name": lambda p: p.comm.lower(),
                                                  "user": lambda p: _user_label(p)}
_GROUP_KEYS: dict[str, Callable[[Any], Any]] = {"name": lambda g: g.key.lower(), "program": lambda g: g.key.lower(),
                                                "user": lambda g: g.key, "path": lambda g: g.key,
                                                "count": lambda g: g.count}


def _sort(items: Sequence[Any], column: str, text_keys: dict[str, Callable[[Any], Any]]) -> list[Any]:
    col = column.lower()
    if col in text_keys:
        return sorted(items, key=text_keys[col])
    fid = SORT_ALIASES.get(col, col)
    field = FIELDS.get(fid)
    if field is None:
        choices = ", ".join(list(text_keys) + [f.id for f in FIELDS.values()] + list(SORT_ALIASES))
        raise UsageError(f"unknown sort column {column!r}; choose from {choices}")
    return sorted(items, key=field.get, reverse=True)


def _out(text: str, end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


def _console_width(args: argparse.Namespace) -> int:
    from memtype.output.table import make_console

    return int(make_console(getattr(args, "width", None)).width)


def _table(args: argparse.Namespace, table: Any) -> None:
    from memtype.output.table import make_console, show

    show(make_console(getattr(args, "width", None)), table)
    sys.stdout.flush()


def _notes(result: Scan) -> None:
    """One summary line per kind of skip (style.md rule 6), then the warnings."""
    messages = {
        "denied": "access denied for {n}; run as root for all",
        "gone": "{n} exited while being read",
        "not captured": "{n} not in the capture (it could not read their smaps)",
        "unreadable": "{n} skipped: their files are damaged (see warnings)",
        "error": "{n} skipped after read errors",
    }
    for reason, template in messages.items():
        n = result.count(reason)
        if n:
            count = f"{n} process" if n == 1 else f"{n} processes"
            print(f"memtype: note: {template.format(n=count)}", file=sys.stderr)
    for w in result.warnings[:10]:
        print(f"memtype: warning: {w}", file=sys.stderr)
    if len(result.warnings) > 10:
        print(f"memtype: warning: ... and {len(result.warnings) - 10} more", file=sys.stderr)
