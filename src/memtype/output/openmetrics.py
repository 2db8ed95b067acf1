"""Recorded machine figures as OpenMetrics text (https://prometheus.io/docs/specs/om/open_metrics_spec/),
the input of ``promtool tsdb create-blocks-from openmetrics`` (a Prometheus backfill).

The metrics are the exporter's (``memtype_system_*``: the ``system`` registry's gauges, named by
``Field.metric_name``), so backfilled history and live scrapes are one series. Each family is written
once, its series one after another, each in time order, with timestamps in seconds; unknown values
are left out (never 0); the text ends with ``# EOF``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from memtype.model.fields import Field, Registry

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(v: Any) -> str:
    return str(int(v)) if isinstance(v, int) or float(v).is_integer() else repr(float(v))


def families(registry: Registry, points: Sequence[tuple[float, Any]]) -> Iterator[str]:
    """Lines of every numeric field of ``registry`` over ``points`` ((Unix time, record) in time order)."""
    by_metric: dict[str, list[Field]] = {}
    for f in registry:
        if f.numeric:
            by_metric.setdefault(f.metric_name(registry.name), []).append(f)
    for name, fields in by_metric.items():
        series = []
        for f in fields:
            values = [(wall, f.get(rec)) for wall, rec in points]
            values = [(w, v) for w, v in values if v is not None]
            if values:
                series.append((f, values))
        if not series:
            continue
        kind = "counter" if fields[0].kind == "counter" else "gauge"
        family = name[: -len("_total")] if kind == "counter" and name.endswith("_total") else name
        unit = fields[0].unit if fields[0].unit in ("bytes", "seconds") else ""
        yield f"# TYPE {family} {kind}"
        if unit and family.endswith("_" + unit):
            yield f"# UNIT {family} {unit}"
        yield f"# HELP {family} {_escape(_help(fields))}"
        for f, values in series:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in f.labels)
            head = name + (f"{{{labels}}}" if labels else "")
            for wall, v in values:
                yield f"{head} {_number(v)} {wall:.3f}"


def _help(fields: Sequence[Field]) -> str:
    if len(fields) == 1:
        return fields[0].help
    label = fields[0].labels[0][0] if fields[0].labels else "series"
    return f"by {label}: " + "; ".join(f"{dict(f.labels).get(label, f.id)}: {f.help}" for f in fields)


def document(registry: Registry, points: Sequence[tuple[float, Any]]) -> Iterable[str]:
    """The whole exposition, line by line, ``# EOF`` last."""
    yield from families(registry, points)
    yield "# EOF"
