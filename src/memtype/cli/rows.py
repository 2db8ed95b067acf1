"""Which rows ``ps`` and ``maps`` show: the scanner (mapping level or ``--exact``), the filters and
the sort; a bad filter or sort column is a UsageError (exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from memtype.errors import MemtypeError, UsageError
from memtype.model.fields import Registry, sort_records

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.records import ProcessMemory, Scan
    from memtype.source.root import Root


def scanner(args: argparse.Namespace) -> Callable[..., Scan]:
    """Mapping level, or every page with --exact (numpy imported only then)."""
    if getattr(args, "exact", False):
        from memtype.collect.scan_exact import scan_exact

        return scan_exact
    from memtype.collect.scan import scan

    return scan


def user_label(p: ProcessMemory) -> str:
    return p.user or (str(p.uid) if p.uid is not None else "?")


def check_user(root: Root | None, user: str | None, procs: Sequence[ProcessMemory],
               recorded: set[str] | None = None) -> None:
    """``--user NAME``: a name the machine (or the capture) knows, or a uid; else a UsageError, so a
    typo is not an empty table. ``root`` ``None``: a recorded sample, whose ``recorded`` names count."""
    if user is None or user.isascii() and user.isdigit() or any(p.user == user for p in procs):
        return
    if root is None:
        if user in (recorded or set()):
            return
        raise UsageError(f"--user: no user {user!r} in the recorded sample (give a user name or a uid)")
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


def sort_rows(items: Sequence[Any], column: str, registry: Registry) -> list[Any]:
    """By one field of ``registry`` (an id or alias: ``pss``, ``cow``, ``name``): numbers largest first,
    text A to Z, unknown last."""
    try:
        field = registry.resolve(column)
    except KeyError:
        raise UsageError(f"unknown sort column {column!r}; choose from {', '.join(registry.tokens())}") from None
    return sort_records(items, field)


def check_sort(column: str, registry: Registry) -> None:
    """Fail on a bad ``--sort`` before anything is read."""
    sort_rows([], column, registry)


def check_fields(tokens: str | None, registry: Registry) -> list[str] | None:
    """``--fields ID,...``: the ids it names, checked before anything is read (None: not given)."""
    if not tokens:
        return None
    try:
        return registry.select(tokens)
    except KeyError as exc:
        raise UsageError(f"--fields: {exc.args[0]}") from None
