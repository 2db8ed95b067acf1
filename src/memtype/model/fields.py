"""The field registry: every figure a front end shows, once (style.md rule 8; review §3 anchor A).

A ``Field`` is one figure of one record type: a stable dotted id, a table title, a unit, a metric
kind, a help line, whether tables show it by default, and how to read it from the record (``None``
when unknown, style.md rule 3). One ``Registry`` per record type lists its fields in output order.
Every front end derives from it:

* the id is the ``--sort``/``--fields`` token, the CSV header and the JSON key path (``cow.rss``
  is ``{"categories": {"cow": {"rss": ...}}}``: kind figures sit under ``categories``, as they
  always have; ``Field.path`` is the path, spelled out);
* tables take titles and units from it (``output/table.py``); JSON and CSV take ids and values
  (``output/json.py``, ``output/csv.py``);
* an exporter names a metric ``memtype_<registry>_<metric>_<unit suffix>`` (``metric_name``), with
  the field's constant ``labels`` (``kind="cow"``) beside the registry's identifying ones.

This module holds the core and the building blocks; the registries live in ``model/fields_*.py``
(``fields_process``: the ``ps``/``maps`` hot path) and load on demand (``registries()``).
``tests/test_model_fields.py`` fails when a record gains a public attribute that has neither a
field nor an explicit exclusion here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter

from memtype.kinds import KINDS, Kind

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    Getter = Callable[[Any], Any]

# What a value is measured in; "" for text, flags and identifiers. Sizes are always bytes.
UNITS = ("bytes", "pages", "count", "seconds", "microseconds", "ratio", "percent", "")
# How an exporter treats it: a gauge (goes up and down), a counter (only grows, since boot or since the
# cgroup was made), a label (text that identifies a record: pid, comm, path), or info (descriptive
# text, flags and lists: shown and written, never a metric or a label).
METRIC_KINDS = ("gauge", "counter", "label", "info")
# A metric is in base units (prometheus.io/docs/practices/naming): microseconds become seconds and
# percents ratios (``Field.metric_unit``, ``Field.metric_scale``); tables and JSON keep the kernel's unit.
_METRIC_UNIT = {"bytes": ("bytes", 1.0), "pages": ("pages", 1.0), "seconds": ("seconds", 1.0),
                "microseconds": ("seconds", 1e-6), "ratio": ("ratio", 1.0), "percent": ("ratio", 0.01),
                "count": ("", 1.0), "": ("", 1.0)}


class Field:
    """One figure of a record type.

    Attributes:
        id: stable dotted id: ``pss``, ``cow.rss``, ``kernel.slab_reclaimable``.
        title: short column title for tables.
        unit: one of ``UNITS``. kind: one of ``METRIC_KINDS``.
        help: one line: what it is and where the kernel reports it.
        get: reads it from a record; ``None`` = unknown.
        default: tables and CSV show it unless ``--fields`` says otherwise.
        attr: the record attribute it reads (dotted for nested records: ``totals.pss``), for the
            coverage test; ``categories.rss`` stands for every kind's ``rss``.
        path: its JSON key path (default: the id's parts).
        needs: kernel fields it is computed from (smaps names): ``None`` where the kernel lacks one
            (``HostInfo.smaps_absent``).
        option: the reading option that produces it (``cgroup``, ``cmdline``, ``exact``...): documents
            have it only when that option was on.
        labels: constant labels it carries as a metric (``(("kind", "cow"),)``); metric: the metric id
            those labels fold into (``kind.rss``: one metric, one series per kind; default: the id).
            Only parts of one whole fold into one metric: a sum over the label must mean something.
    """

    __slots__ = ("id", "title", "unit", "kind", "help", "get", "default", "attr", "path", "needs", "option",
                 "labels", "metric")

    def __init__(self, id: str, title: str, unit: str, kind: str, help: str, get: Getter, *, default: bool = False,
                 attr: str | None = None, path: tuple[str, ...] | None = None, needs: tuple[str, ...] = (),
                 option: str | None = None, labels: tuple[tuple[str, str], ...] = (),
                 metric: str | None = None) -> None:
        self.id, self.title, self.unit, self.kind, self.help, self.get = id, title, unit, kind, help, get
        self.default = default
        self.attr = attr if attr is not None else id
        self.path = path if path is not None else tuple(id.split("."))
        self.needs, self.option, self.labels = needs, option, labels
        self.metric = metric if metric is not None else id

    @property
    def numeric(self) -> bool:
        return self.kind in ("gauge", "counter")

    @property
    def metric_unit(self) -> str:
        """The metric's base unit (``bytes``, ``seconds``, ``ratio``, ``pages``; "" for counts)."""
        return _METRIC_UNIT[self.unit][0]

    @property
    def metric_scale(self) -> float:
        """What a value is multiplied by to be in ``metric_unit`` (1e-6 for microseconds)."""
        return _METRIC_UNIT[self.unit][1]

    def metric_name(self, registry: str) -> str:
        """The Prometheus name: ``memtype_process_kind_rss_bytes``; counters end in ``_total``."""
        unit = self.metric_unit
        name = f"memtype_{registry}_{self.metric.replace('.', '_')}{'_' + unit if unit else ''}"
        return name + "_total" if self.kind == "counter" else name

    def __repr__(self) -> str:
        return f"Field({self.id!r}, {self.unit!r}, {self.kind!r})"


class Registry:
    """The fields of one record type, in output order.

    Attributes:
        name: the record type (``process``, ``cgroup``...), also the metric prefix.
        labels: ids of the fields that identify one record (an exporter's labels).
        aliases: other ``--sort``/``--fields`` tokens (``cow`` for ``cow.rss``), kept for old spellings.
        exclude: the record's public attributes that are deliberately no field, with the reason.
        nested: attribute -> record type read through it (``totals`` -> ``Totals``), for the coverage test.
        partitions: total id -> the ids of parts that add up to it exactly (the test checks every output).
        null_objects: JSON objects (dotted paths) written as null when nothing in them is known, as
            memtype/1 did (a process's ``reclaim`` or ``pages``, a cgroup's ``pressure``).
    """

    __slots__ = ("name", "help", "fields", "labels", "aliases", "exclude", "nested", "partitions", "csv",
                 "null_objects")

    def __init__(self, name: str, help: str, fields: Iterable[Field], *, labels: Sequence[str] = (),
                 aliases: dict[str, str] | None = None, exclude: dict[str, str] | None = None,
                 nested: dict[str, type] | None = None, partitions: dict[str, tuple[str, ...]] | None = None,
                 csv: Sequence[str] | None = None, null_objects: Sequence[str] = ()) -> None:
        self.name, self.help = name, help
        self.fields: dict[str, Field] = {}
        for f in fields:
            if f.id in self.fields:
                raise ValueError(f"{name}: field id {f.id!r} twice")
            self.fields[f.id] = f
        self.labels = tuple(labels)
        self.aliases = aliases or {}
        self.exclude = exclude or {}
        self.nested = nested or {}
        self.partitions = partitions or {}
        self.csv = tuple(csv) if csv is not None else None  # CSV columns without --fields (None: every field)
        self.null_objects = tuple(null_objects)

    def __getitem__(self, field_id: str) -> Field:
        return self.fields[field_id]

    def __contains__(self, field_id: object) -> bool:
        return field_id in self.fields

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields.values())

    def __len__(self) -> int:
        return len(self.fields)

    def resolve(self, token: str) -> Field:
        """The field a ``--sort``/``--fields`` token names (an id or an alias, any case).

        Raises:
            KeyError: no such field; the message lists the choices.
        """
        key = token.strip().lower()
        found = self.fields.get(key) or self.fields.get(self.aliases.get(key, ""))
        if found is None:
            raise KeyError(f"unknown field {token!r}; choose from {', '.join(self.tokens())}")
        return found

    def tokens(self) -> list[str]:
        return list(self.fields) + [a for a in self.aliases if a not in self.fields]

    def select(self, tokens: str | Sequence[str]) -> list[str]:
        """The ids a ``--fields`` list names (``"pid,comm,pss"``), in its order.

        Raises:
            KeyError: a token names no field.
        """
        parts = tokens.split(",") if isinstance(tokens, str) else list(tokens)
        return [self.resolve(t).id for t in parts if t.strip()]

    def csv_columns(self, options: Iterable[str] = ()) -> list[str]:
        """The CSV's columns without ``--fields``: ``csv`` (or every field) present with ``options``."""
        present = {f.id for f in self.present(options)}
        return [i for i in (self.csv if self.csv is not None else self.fields) if i in present]

    def present(self, options: Iterable[str] = ()) -> list[Field]:
        """The fields a document has when ``options`` were on (every field without an option)."""
        on = set(options)
        return [f for f in self if f.option is None or f.option in on]

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self.fields)} fields)"


def sort_records(records: Iterable[Any], field: Field, *, reverse: bool | None = None) -> list[Any]:
    """Records by one field: numbers largest first, text A to Z; unknown (None) always last (below's
    ``sort_queriables``)."""
    desc = field.numeric if reverse is None else reverse
    get = field.get
    items = list(records)
    known = [r for r in items if get(r) is not None]
    unknown = [r for r in items if get(r) is None]
    if known and isinstance(get(known[0]), str):
        return sorted(known, key=lambda r: str(get(r)).lower(), reverse=desc) + unknown
    return sorted(known, key=get, reverse=desc) + unknown


def registries() -> dict[str, Registry]:
    """Every registry by name (imports the per-command modules: start-up cost only when asked)."""
    # Imported here, not at module level: ``ps`` needs only this module (start-up is benchmarked).
    from memtype.model import (fields_activity, fields_cgroups, fields_diff, fields_files, fields_machine,
                               fields_pressure, fields_sampler, fields_swap)
    from memtype.model import fields_gpu, fields_shm
    from memtype.model.fields_process import GROUP_KEYS, MAPPING, PROCESS, group_registry

    found = [PROCESS, MAPPING, *(group_registry(by) for by in GROUP_KEYS)]
    for module in (fields_machine, fields_cgroups, fields_swap, fields_pressure, fields_files, fields_diff,
                   fields_sampler, fields_activity):
        found.extend(module.REGISTRIES)
    found.extend(fields_shm.REGISTRIES)
    found.extend(fields_gpu.REGISTRIES)
    return {r.name: r for r in found}


def covers() -> list[tuple[Registry, type]]:
    """Each registry beside the record type it covers: every public attribute of the record has a
    field or an exclusion (views such as ``swap_process`` read a record another registry covers)."""
    from memtype.model import (fields_activity, fields_cgroups, fields_diff, fields_files, fields_machine,
                               fields_pressure, fields_sampler, fields_swap)
    from memtype.model import fields_gpu, fields_shm
    from memtype.model.cgroups import CgroupMemory
    from memtype.model.fields_process import MAPPING, PROCESS, group_registry
    from memtype.model.group import Group
    from memtype.model.records import Mapping, ProcessMemory

    found = [(PROCESS, ProcessMemory), (MAPPING, Mapping), (group_registry("program"), Group),
             (fields_cgroups.CGROUP, CgroupMemory)]
    for module in (fields_machine, fields_swap, fields_pressure, fields_files, fields_diff, fields_sampler,
                   fields_activity):
        found.extend(module.COVERS)
    found.extend(fields_shm.COVERS)
    found.extend(fields_gpu.COVERS)
    return found


# -- building blocks shared by the registries ----------------------------------------------------

def gauge(id: str, title: str, help: str, get: Getter, unit: str = "bytes", **kw: Any) -> Field:
    """A figure that goes up and down (bytes unless ``unit`` says otherwise)."""
    return Field(id, title, unit, "gauge", help, get, **kw)


def counter(id: str, title: str, help: str, get: Getter, unit: str = "count", **kw: Any) -> Field:
    """A figure that only grows (events since boot, or since the cgroup was made)."""
    return Field(id, title, unit, "counter", help, get, **kw)


def label(id: str, title: str, help: str, get: Getter, **kw: Any) -> Field:
    """Text that identifies a record (an exporter's label)."""
    return Field(id, title, "", "label", help, get, **kw)


def info(id: str, title: str, help: str, get: Getter, unit: str = "", **kw: Any) -> Field:
    """Descriptive text, flags, lists: written, never a metric."""
    return Field(id, title, unit, "info", help, get, **kw)


def _total(name: str) -> Getter:
    return attrgetter(f"totals.{name}")  # in C: the ps hot path reads 30-odd figures per process


_SMAPS_NEEDS = {"swap": ("Swap",), "swap_pss": ("SwapPss",), "hugetlb": ("Shared_Hugetlb", "Private_Hugetlb"),
                "locked": ("Locked",), "lazyfree": ("LazyFree",), "anon_huge": ("AnonHugePages",),
                "file_huge": ("FilePmdMapped",)}
PART_HELP = {"rss": "resident bytes", "pss": "proportional share (PSS)", "swap": "bytes in swap (smaps Swap)",
             "swap_pss": "proportional swap (SwapPss)"}
PARTS = ("rss", "pss", "swap", "swap_pss")


def totals_fields(prefix: str = "", through: str | None = None, default: Sequence[str] = (),
                  option: str | None = None) -> list[Field]:
    """The smaps sums of a process, mapping or group (``Totals``), ids prefixed with ``prefix``;
    ``through``: read from that attribute's totals (a cgroup's ``members``) instead of the record's."""
    spec = (
        ("size", "Size", "virtual size of the mappings"),
        ("rss", "RSS", "resident bytes (smaps Rss)"),
        ("pss", "PSS", "proportional share: each page divided by its mappers (smaps Pss)"),
        ("uss", "USS", "pages only this process maps (Private_Clean + Private_Dirty)"),
        ("swap", "Swap", "bytes in swap, anon and shmem (smaps Swap)"),
        ("swap_pss", "SwapPSS", "proportional swap (anon only; shmem swap counts 0)"),
        ("hugetlb", "Huge", "hugetlb pages (outside Rss)"),
        ("device_mapped", "DevMap", "size of pf/io device mappings (not RAM)"),
        ("locked", "Locked", "locked (mlock) bytes"),
        ("lazyfree", "LazyFree", "MADV_FREE'd pages the kernel may drop"),
        ("anon_huge", "AnonTHP", "anonymous transparent huge pages (smaps AnonHugePages)"),
        ("file_huge", "FileTHP", "file transparent huge pages mapped with PMDs (smaps FilePmdMapped)"),
        ("cow_file", "CoW file", "cow's file-backed part: page cache under a private writable file map, not "
                                 "written yet; droppable (the rest of cow is anon: swappable)"),
        ("cow_file_pss", "CoW file PSS", "cow_file's proportional share"),
    )
    base = f"{through}.totals" if through else "totals"
    out = [gauge(prefix + name, title, help, _total(name) if through is None else _total_of(through, name),
                 attr=f"{base}.{name}", needs=_SMAPS_NEEDS.get(name, ()), default=name in default, option=option)
           for name, title, help in spec]
    for part, of, suffix in (("rss", "cow_file", ""), ("pss", "cow_file_pss", "_pss")):  # cow = file + anon
        out.append(gauge(f"{prefix}cow_anon{suffix}", f"CoW anon{suffix.replace('_', ' ').upper()}",
                         f"cow's anonymous part ({part}): anon pages still shared after fork, KSM; swappable",
                         _cow_anon(part, of, through), attr=f"{base}.{of}", option=option))
    return out


def _cow_anon(part: str, of: str, through: str | None) -> Getter:
    def get(x: Any) -> Any:
        rec = x if through is None else getattr(x, through)
        return getattr(rec.categories[Kind.COW], part) - getattr(rec.totals, of)
    return get


def _total_of(through: str, name: str) -> Getter:
    return attrgetter(f"{through}.totals.{name}")


def kind_fields(prefix: str = "", parts: Sequence[str] = PARTS, default: Sequence[str] = ("rss",),
                group: str | None = None, json_base: tuple[str, ...] = (), option: str | None = None) -> list[Field]:
    """Each kind's share (``KindUsage``): ``cow.rss``... under ``categories`` in JSON. ``group``: read
    through that attribute (``members`` of a cgroup) instead of the record itself."""
    out = []
    for k in KINDS:
        for part in parts:
            get = _kind(k, part) if group is None else _kind_of(group, k, part)
            out.append(gauge(f"{prefix}{k.value}.{part}", k.label if part == "rss" else f"{k.label} {part}",
                             f"{k.value}: {PART_HELP[part]}; {k.help}", get,
                             attr=f"{group + '.' if group else ''}categories.{part}",
                             path=(*json_base, "categories", k.value, part), needs=_SMAPS_NEEDS.get(part, ()),
                             default=part in default, labels=(("kind", k.value),), metric=f"{prefix}kind.{part}",
                             option=option))
    return out


def _kind(k: Kind, part: str) -> Getter:
    """``x.categories[k].part``, spelled out per part: no getattr by name on the hot path."""
    if part == "rss":
        return lambda x: x.categories[k].rss
    if part == "pss":
        return lambda x: x.categories[k].pss
    if part == "swap":
        return lambda x: x.categories[k].swap
    return lambda x: x.categories[k].swap_pss


def _kind_of(group: str, k: Kind, part: str) -> Getter:
    return lambda x: getattr(getattr(x, group).categories[k], part)


def kind_partitions(prefix: str = "", parts: Sequence[str] = PARTS) -> dict[str, tuple[str, ...]]:
    """Each total is the sum of the kinds' parts (``pss`` = Σ ``K.pss``)."""
    return {prefix + p: tuple(f"{prefix}{k.value}.{p}" for k in KINDS) for p in parts}


RECLAIM_HELP = {"drop": "clean page cache and MADV_FREE'd memory: dropped without I/O",
                "writeback": "dirty page cache: written back, then dropped",
                "swap": "anonymous and shmem memory, while a swap device has room",
                "never": "mlocked, unevictable, driver pages, hugetlb; anon and shmem without swap room"}
RECLAIM_CLASSES = ("drop", "writeback", "swap", "never")


def reclaim_fields(getter: Callable[[str], Getter], what: str, default: bool = False) -> list[Field]:
    """``reclaim.drop``... (``memtype.model.reclaim``): what reclaim could do with the memory."""
    return [gauge(f"reclaim.{c}", f"Reclaim {c}", f"{what}: {RECLAIM_HELP[c]}", getter(c), attr="reclaim",
                  labels=(("class", c),), metric="reclaim", default=default) for c in RECLAIM_CLASSES]


PAGE_HELP = {"zero": "virtual bytes mapped to the zero page (they cost no RAM)", "ksm": "KSM-merged pages",
             "lazyfree": "MADV_FREE'd pages", "dirty": "dirty page cache", "writeback": "page cache under writeback",
             "mlocked": "mlocked pages", "unevictable": "unevictable pages", "thp": "pages in transparent huge pages",
             "swapcache": "pages in the swap cache"}
