"""``--format table|json|csv``, ``--fields`` and ``--table`` for every command that prints a table, and
writing its JSON and CSV (the documents themselves are built in ``memtype.output``)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence

from memtype.cli import output
from memtype.errors import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of every command's start-up
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.fields import Registry


def add_format_options(p: argparse.ArgumentParser, tables: Sequence[str] = (), fields_help: str | None = None) -> None:
    """``--format``, ``--fields`` (CSV columns by field id) and, for a command with several tables,
    ``--table`` (which one the CSV holds; the first is the default)."""
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="table (default), json (one document, schema memtype/2) or csv")
    p.add_argument("--fields", metavar="ID,...",
                   help=fields_help or "CSV columns, by field id (docs/fields.md lists them)")
    if tables:
        p.add_argument("--table", choices=tables, default=tables[0],
                       help=f"which table --format csv writes (default {tables[0]})")


def columns(args: argparse.Namespace, registry: Registry, options: Iterable[str] = ()) -> list[str]:
    """The CSV's columns: ``--fields``, else the registry's CSV columns.

    Raises:
        UsageError: a --fields token names no field of this table.
    """
    if getattr(args, "fields", None):
        try:
            return registry.select(args.fields)
        except KeyError as exc:
            raise UsageError(f"--fields: {exc.args[0]}") from None
    return registry.csv_columns(options)


def write_csv(args: argparse.Namespace, registry: Registry, items: Iterable[Any], *, options: Iterable[str] = (),
              absent: Iterable[str] = ()) -> None:
    from memtype.output.csv import csv_text

    output.text(csv_text(registry, items, columns(args, registry, options), absent=absent))


def write_json(doc: dict[str, Any]) -> None:
    from memtype.output.json import dumps

    output.text(dumps(doc) + "\n")
