"""Which rows ``ps`` and ``maps`` show: the scanner (mapping level or ``--exact``), the filters and
the sort; a bad filter or sort column is a UsageError (exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from memtype.errors import MemtypeError, UsageError
from memtype.output.fields import FIELDS, SORT_ALIASES

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.records import ProcessMemory, Scan
    from memtype.source.root import Root

PROCESS_KEYS: dict[str, Callable[[Any], Any]] = {"pid": lambda p: p.pid, "name": lambda p: p.comm.lower(),
                                                 "user": lambda p: user_label(p)}
GROUP_KEYS: dict[str, Callable[[Any], Any]] = {"name": lambda g: g.key.lower(), "program": lambda g: g.key.lower(),
                                               "user": lambda g: g.key, "path": lambda g: g.key,
                                               "cgroup": lambda g: g.key, "count": lambda g: g.count}


def scanner(args: argparse.Namespace) -> Callable[..., Scan]:
    """Mapping level, or every page with --exact (numpy imported only then)."""
    if getattr(args, "exact", False):
        from memtype.collect.scan_exact import scan_exact

        return scan_exact
    from memtype.collect.scan import scan

    return scan


def user_label(p: ProcessMemory) -> str:
    return p.user or (str(p.uid) if p.uid is not None else "?")


def check_user(root: Root, user: str | None, procs: Sequence[ProcessMemory]) -> None:
    """``--user NAME``: a name the machine (or the capture) knows, or a uid; else a UsageError, so a
    typo is not an empty table."""
    if user is None or user.isascii() and user.isdigit() or any(p.user == user for p in procs):
        return
    if root.live:
        import pwd

        try:
            pwd.getpwnam(user)
            return
        except KeyError:
            pass
    else:
        names = root.manifest.get("users")
        if isinstance(names, dict) and user in names.values():
            return
        try:
            if any(line.split(":", 1)[0] == user for line in root.read_text("etc/passwd").splitlines()):
                return
        except MemtypeError:
            pass
    where = "this machine" if root.live else "the captured machine"
    raise UsageError(f"--user: no user {user!r} on {where} (give a user name or a uid)")


def filter_processes(procs: list[ProcessMemory], user: str | None, name: str | None) -> list[ProcessMemory]:
    out = procs
    if user is not None:
        out = [p for p in out if p.user == user or (user.isascii() and user.isdigit() and p.uid == int(user))]
    if name is not None:
        import re

        try:
            rx = re.compile(name)
        except re.error as exc:
            raise UsageError(f"--name: bad regular expression {name!r}: {exc}") from None
        out = [p for p in out if rx.search(p.comm) or rx.search(p.program)]
    return out


def sort_rows(items: Sequence[Any], column: str, text_keys: dict[str, Callable[[Any], Any]]) -> list[Any]:
    """Largest first by a size field (or a kind: its RSS), alphabetical by a text key."""
    col = column.lower()
    if col in text_keys:
        return sorted(items, key=text_keys[col])
    field = FIELDS.get(SORT_ALIASES.get(col, col))
    if field is None:
        raise UsageError(f"unknown sort column {column!r}; choose from {sort_choices(text_keys)}")
    return sorted(items, key=field.get, reverse=True)


def check_sort(column: str, text_keys: dict[str, Callable[[Any], Any]]) -> None:
    """Fail on a bad ``--sort`` before anything is read."""
    sort_rows([], column, text_keys)


def sort_choices(text_keys: dict[str, Callable[[Any], Any]]) -> str:
    return ", ".join(list(text_keys) + [f.id for f in FIELDS.values()] + list(SORT_ALIASES))
