"""The field registry as Markdown (``docs/fields.md``): every record's fields with unit, metric kind,
JSON path and help, generated so the list users read is the one the code uses."""

from __future__ import annotations

from collections.abc import Iterable

from memtype.model.fields import Field, Registry

INTRO = """# memtype's fields

Every figure memtype shows, by record type. Generated from the field registry
(`src/memtype/model/fields*.py`; `UPDATE_GOLDEN=1 pytest tests/test_model_fields.py` rewrites this file).

- **id**: the `--fields` and `--sort` token, the CSV header, and the JSON key path (the path is
  given where it differs: the kinds sit under `categories`, `system`'s rows under `rows` and `detail`).
- **unit**: sizes are bytes; `count`, `pages`, `percent`, `ratio`, `seconds`, `microseconds`; none for text.
- **kind**: `gauge` (goes up and down), `counter` (only grows), `label` (identifies a record), `info`
  (text, flags, lists). A metric is named `memtype_<record>_<id or metric>_<unit>` (`_total` for counters),
  with the field's own labels (`kind="cow"`) beside the record's; its unit is the base unit (microseconds
  become `_seconds`, percents `_ratio`: the value is scaled). `memtype exporter` serves them (README).
- **when**: the option that adds the field to a document (otherwise always there). Unknown values are
  `null` in JSON and empty in CSV.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _row(r: Registry, f: Field) -> str:
    path = ".".join(f.path)
    where = "" if path == f.id else f"`{path}`"
    metric = f.metric_name(r.name) if f.numeric else ""
    labels = ",".join(f'{k}="{v}"' for k, v in f.labels)
    if metric and labels:
        metric += f"{{{labels}}}"
    cells = [f"`{f.id}`", f.unit, f.kind, where, f"`{metric}`" if metric else "", f.option or "", _cell(f.help)]
    return "| " + " | ".join(cells) + " |"


def registry_markdown(r: Registry) -> str:
    lines = [f"## {r.name}", "", r.help[:1].upper() + r.help[1:] + "."]
    if r.labels:
        lines += ["", "Identified by: " + ", ".join(f"`{i}`" for i in r.labels) + "."]
    if r.aliases:
        lines += ["", "Also accepted: " + ", ".join(f"`{a}` (`{t}`)" for a, t in r.aliases.items()) + "."]
    if r.partitions:
        parts = "; ".join(f"`{t}` = " + " + ".join(f"`{p}`" for p in ps) for t, ps in r.partitions.items())
        lines += ["", f"Adds up: {parts}."]
    if r.null_objects:
        lines += ["", "JSON objects that are `null` when nothing in them is known: "
                  + ", ".join(f"`{p}`" for p in r.null_objects) + "."]
    lines += ["", "| id | unit | kind | JSON path | metric | when | help |", "|---|---|---|---|---|---|---|"]
    lines += [_row(r, f) for f in r]
    return "\n".join(lines) + "\n"


def markdown(regs: Iterable[Registry]) -> str:
    return INTRO + "".join("\n" + registry_markdown(r) for r in regs)
