"""Metric families from the field registry (``model/fields*.py``): one ``Metric`` per metric name.

A ``Field`` names its metric (``Field.metric_name``: ``memtype_<registry>_<metric>_<base unit>``,
``_total`` for counters), its constant labels (``kind="cow"``) and its unit; the fields that share a
metric name are the parts of one whole (``kind.pss``: one series per kind, a sum over ``kind`` is the
total). A ``Spec`` is that metric: its name, type, unit, help, label names and member fields. The
records' identifying labels (``Registry.labels``: ``program``, ``pid`` and ``comm``, ``path``) come
first.

Each scrape builds fresh families (``Spec.family``): a record that is gone has no series any more,
and an unknown value (``None``, or a figure made from smaps fields this kernel lacks:
``HostInfo.smaps_absent``) has none either: it is never exported as 0.

Label values are text the kernel gives: a comm can hold any byte. The exposition is UTF-8 and
prometheus_client escapes backslash, double quote and newline; ``label_value`` turns the bytes that
are not UTF-8 (surrogate escapes) into ``\\xNN`` so that two different names stay two label values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from memtype.model.fields import Field, Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The label names a Prometheus server keeps for itself or that a record's labels would clash with.
_RESERVED = frozenset({"job", "instance", "le", "quantile"})


def label_name(field_id: str) -> str:
    """A field id as a label name: ``target.cgroup`` -> ``target_cgroup``."""
    name = field_id.replace(".", "_")
    return name + "_" if name in _RESERVED else name


def label_value(value: object) -> str:
    """Text for a label: bytes that are not UTF-8 (surrogate escapes of a name the kernel gave) as
    ``\\xNN``, so that the exposition encodes and different names stay different."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Spec:
    """One metric: the fields of ``registry`` that share a metric name.

    Attributes:
        name: the full name (``memtype_group_program_kind_pss_bytes``; counters keep ``_total``).
        kind: ``gauge`` or ``counter``. unit: the base unit (``bytes``, ``seconds``, ``ratio``...; "").
        help: one line. labels: the record's label names, then the fields' own.
        members: (field, its own label values) in the registry's order.
    """

    __slots__ = ("registry", "name", "kind", "unit", "help", "record_labels", "labels", "members", "_base")

    def __init__(self, registry: Registry, fields: Sequence[Field], record_labels: Sequence[str]) -> None:
        first = fields[0]
        self.registry = registry
        self.name = first.metric_name(registry.name)
        self.kind, self.unit = first.kind, first.metric_unit
        own = tuple(k for k, _ in first.labels)
        for f in fields:
            if f.kind != self.kind or f.metric_unit != self.unit or tuple(k for k, _ in f.labels) != own:
                raise ValueError(f"{registry.name}: {f.id} does not fit metric {self.name}")
        self.record_labels = tuple(record_labels)
        self.labels = tuple(label_name(i) for i in self.record_labels) + own
        self.members = [(f, tuple(v for _, v in f.labels)) for f in fields]
        self.help = metric_help(registry, fields)
        # prometheus_client adds _total back to a counter's samples (and _created in OpenMetrics)
        self._base = self.name[: -len("_total")] if self.kind == "counter" else self.name

    def empty(self) -> GaugeMetricFamily | CounterMetricFamily:
        """The family without samples (``describe``)."""
        if self.kind == "counter":
            return CounterMetricFamily(self._base, self.help, labels=self.labels, unit=self.unit)
        return GaugeMetricFamily(self.name, self.help, labels=self.labels, unit=self.unit)

    def family(self, records: Iterable[tuple[Sequence[str], Any]], absent: frozenset[str] = frozenset()) -> Metric:
        """A fresh family: one sample per record and member whose value is known.

        ``records``: (the record's label values, the record). ``absent``: smaps fields this kernel
        does not print; a member made from one is unknown and left out."""
        fam = self.empty()
        members = [(f.get, vals, f.metric_scale) for f, vals in self.members if not (absent and absent & set(f.needs))]
        add = fam.add_metric
        for values, record in records:
            for get, own, scale in members:
                v = get(record)
                if v is None or isinstance(v, bool):
                    continue
                add((*values, *own), v * scale if scale != 1.0 else v)
        return fam

    def __repr__(self) -> str:
        return f"Spec({self.name!r}, {len(self.members)} series per record)"


def specs(registry: Registry, chosen: Iterable[str] | None = None, record_labels: Sequence[str] | None = None
          ) -> list[Spec]:
    """The metrics of ``registry``'s numeric fields (``chosen``: only these field ids), in order.

    ``record_labels``: the ids of the fields that label each record (default ``registry.labels``)."""
    keep = None if chosen is None else set(chosen)
    groups: dict[str, list[Field]] = {}
    for f in registry:
        if f.numeric and (keep is None or f.id in keep):
            groups.setdefault(f.metric_name(registry.name), []).append(f)
    labels = registry.labels if record_labels is None else record_labels
    return [Spec(registry, fields, labels) for fields in groups.values()]


def select(registry: Registry, tokens: Iterable[str]) -> list[str]:
    """Field ids for ``--metrics``-style tokens: a field id or alias (``uss``, ``cow.pss``) or a metric
    id that several fields fold into (``kind.pss``: every kind's PSS).

    Raises:
        KeyError: a token names neither; the message lists the metric ids.
    """
    out: list[str] = []
    metrics: dict[str, list[str]] = {}
    for f in registry:
        if f.numeric:
            metrics.setdefault(f.metric, []).append(f.id)
    for token in tokens:
        key = token.strip().lower()
        if not key:
            continue
        if key in metrics:
            found = metrics[key]
        else:
            try:
                f = registry.resolve(key)
            except KeyError:
                raise KeyError(f"no metric {token!r} for {registry.name}; choose from "
                               f"{', '.join(metrics)}") from None
            if not f.numeric:
                raise KeyError(f"{token!r} is {f.kind} text, not a metric; choose from {', '.join(metrics)}")
            found = [f.id]
        out.extend(i for i in found if i not in out)
    return out


def metric_help(registry: Registry, fields: Sequence[Field]) -> str:
    """The HELP line: the field's help; for a metric of several parts, what they have in common
    ("proportional share (PSS), by kind") and, where the registry says they add up to a total
    (``Registry.partitions``), which one."""
    if len(fields) == 1:
        return fields[0].help
    label = ", ".join(k for k, _ in fields[0].labels)
    stripped = []
    for f in fields:
        text = f.help
        for value in dict(f.labels).values():
            if text.startswith(value + ": "):
                text = text[len(value) + 2:]
        stripped.append(text)
    common = _common_prefix(stripped)
    if not all(s == common for s in stripped):
        for stop in ("; ", " (", ": "):  # cut at a clause boundary, not mid-word
            if stop in common:
                common = common[: common.index(stop)]
                break
        else:
            common = ""
    if len(common) >= 6:
        head = f"{common}, by {label}"
    else:  # nothing in common: each part's own help, when they are short
        each = "; ".join(f"{'/'.join(v for _, v in f.labels)}: {text}" for f, text in zip(fields, stripped))
        head = f"by {label}: {each}" if len(each) <= 240 else f"{registry.help}, by {label}"
    ids = {f.id for f in fields}
    for total, parts in registry.partitions.items():
        if set(parts) == ids and total in registry:
            return f"{head} (they add up to {registry[total].title})"
    return head


def _common_prefix(texts: Sequence[str]) -> str:
    first, last = min(texts), max(texts)
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    return first[:n]
