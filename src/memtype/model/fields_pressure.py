"""Fields of ``memtype pressure``: the prediction for one target (machine or cgroup), its lines by kind
(they add up to the need), the holders each kind is taken from, the prediction at each swappiness of a
sweep (``--sweep``), and, for ``memtype swap``, the v1 cgroups whose swappiness differs from the machine's."""

from __future__ import annotations

from memtype.model.fields import Registry, gauge, info, label
from memtype.model.pressure import KINDS, Holder, KindTake, LruSizes, Prediction, PressureReport
from memtype.model.swappiness import CgroupSwappiness, SweepPoint

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.fields import Getter


def _cg(name: str) -> Getter:
    return lambda r: getattr(r.cgroup, name) if r.cgroup is not None else None


def _headroom(r: PressureReport) -> int | None:
    cg = r.cgroup
    if cg is None or cg.limit is None or cg.usage is None:
        return None
    return max(0, cg.limit - cg.usage)


def _lru(name: str) -> Getter:
    return lambda r: getattr(r.prediction.lru, name)


def _holds(kind: str) -> Getter:
    return lambda r: r.prediction.lru.holds()[kind]


def _taken(kind: str) -> Getter:
    return lambda r: r.prediction.taken[kind]


_LRU_HELP = {"inactive_anon": "Inactive(anon)", "active_anon": "Active(anon)", "inactive_file": "Inactive(file)",
             "active_file": "Active(file)", "unevictable": "Unevictable (never reclaimed)",
             "shmem": "Shmem (an overlay: on the anon lists)", "dirty": "Dirty + Writeback (an overlay: on the file lists)"}
_HOW = {"file": "page cache: dropped (dirty: written back first)", "anonymous": "anonymous: swapped out",
        "shared": "shmem: swapped out"}

PRESSURE = Registry("pressure", "what the kernel would take if N more bytes were needed (memtype pressure)", [
    label("target.cgroup", "Cgroup", "the cgroup reclaim runs in (null: machine-wide)", _cg("path"), attr="cgroup"),
    gauge("target.need", "Need", "bytes needed", lambda r: r.prediction.need, attr="prediction.need"),
    info("target.swappiness", "Swappiness", "vm.swappiness, or the v1 cgroup's memory.swappiness",
         lambda r: r.prediction.swappiness, attr="prediction.swappiness"),
    gauge("target.swap_room", "Swap room", "bytes that can still go to swap", lambda r: r.prediction.swap_room,
          attr="prediction.swap_room"),
    gauge("target.file_folio_pages", "Folio", "pages per page-cache folio the model assumed",
          lambda r: round(r.prediction.file_folio, 2), unit="pages", attr="prediction.file_folio"),
    info("target.version", "v", "the cgroup's version", _cg("version"), attr="cgroup"),
    gauge("target.usage", "Usage", "the cgroup's charged memory", _cg("usage"), attr="cgroup"),
    gauge("target.limit", "Limit", "the cgroup's limit (null: none)", _cg("limit"), attr="cgroup"),
    gauge("target.headroom", "Headroom", "limit - usage", _headroom, attr="cgroup"),
    gauge("target.free_above_watermarks", "Free", "machine-wide: free memory above the high watermarks",
          lambda r: r.free if r.cgroup is None else None, attr="free"),
    *[gauge(f"lru.{n}", n, h, _lru(n), attr=f"prediction.lru.{n}") for n, h in _LRU_HELP.items()],
    *[gauge(f"holds.{k}", k, f"{k} on the evictable lists", _holds(k), attr="prediction.lru", labels=(("kind", k),),
            metric="holds") for k in KINDS],
    gauge("from_free", "From free", "taken from free memory before any reclaim (machine only)",
          lambda r: r.prediction.from_free, attr="prediction.from_free"),
    *[gauge(f"predicted.{k}", k, _HOW[k], _taken(k), attr="prediction.taken", labels=(("kind", k),),
            metric="predicted") for k in KINDS],
    gauge("writeback", "Writeback", "the dirty part of predicted.file: written back first",
          lambda r: r.prediction.writeback, attr="prediction.writeback"),
    gauge("swap", "Swap", "bytes that would go to swap", lambda r: r.prediction.swap, attr="prediction.swap"),
    info("would_swap", "Would swap", "whether any would go to swap", lambda r: r.prediction.swap > 0,
         attr="prediction.swap"),
    gauge("short", "Short", "what cannot be found: the OOM killer (a v1 limit cut: EBUSY)",
          lambda r: r.prediction.short, attr="prediction.short"),
    info("steps", "Steps", "the phases in order with the bytes each took",
         lambda r: [{"phase": phase, "bytes": n} for phase, n in r.prediction.steps], attr="prediction.steps"),
], exclude={"swap_free": "in target.swap_room", "cgroups": "records of their own (holder)",
            "processes": "records of their own (holder)", "notes": "the envelope's notes",
            "prediction.reclaimed": "predicted.* summed", "prediction.cgroup": "target.cgroup",
            "prediction.lru.anon": "lru.*_anon summed", "prediction.lru.file": "lru.*_file summed"},
    nested={"prediction": Prediction, "prediction.lru": LruSizes},
    partitions={"target.need": ("from_free", *(f"predicted.{k}" for k in KINDS), "short")})

KIND_TAKE = Registry("kind_take", "one kind's line of the prediction: taken, out of what is held", [
    label("kind", "Kind", "free, file, anonymous, shared, short (what cannot be found); need: their sum",
          lambda t: t.kind),
    gauge("taken", "Taken", "bytes it would give", lambda t: t.taken),
    gauge("of", "Of", "what the target holds of it (free: above the watermarks)", lambda t: t.of),
], labels=("kind",))

HOLDER = Registry("holder", "a cgroup or process a kind is taken from, in proportion to what it holds", [
    label("source", "From", "cgroups or processes", lambda h: h.source),
    label("kind", "Kind", "the kind taken", lambda h: h.kind),
    label("who", "Who", "the child cgroup's path, or the process (pid comm)", lambda h: h.who),
    gauge("holds", "Holds", "what it holds of the kind (cgroup: memory.stat; process: resident bytes)",
          lambda h: h.holds),
    gauge("bytes", "Taken", "its predicted share", lambda h: h.taken, attr="taken"),
], labels=("source", "kind", "who"))

def _point(kind: str) -> Getter:
    return lambda p: p.prediction.taken[kind]


SWEEP_POINT = Registry("sweep_point", "the prediction at one swappiness (memtype pressure --sweep)", [
    label("swappiness", "Swappiness", "the swappiness this row predicts at (0-200)", lambda p: str(p.swappiness)),
    info("current", "Now", "the value in force for the target (vm.swappiness, or the v1 cgroup's)",
         lambda p: p.current),
    gauge("from_free", "From free", "taken from free memory before any reclaim (machine only)",
          lambda p: p.prediction.from_free, attr="prediction"),
    *[gauge(f"predicted.{k}", k, _HOW[k], _point(k), attr="prediction", labels=(("kind", k),), metric="predicted")
      for k in KINDS],
    gauge("swap", "Swap", "bytes that would go to swap (anonymous + shared)", lambda p: p.prediction.swap,
          attr="prediction"),
    gauge("writeback", "Writeback", "the dirty part of predicted.file: written back first",
          lambda p: p.prediction.writeback, attr="prediction"),
    gauge("short", "Short", "what cannot be found: the OOM killer (a v1 limit cut: EBUSY)",
          lambda p: p.prediction.short, attr="prediction"),
    info("steps", "Steps", "the phases in order with the bytes each took",
         lambda p: [{"phase": phase, "bytes": n} for phase, n in p.prediction.steps], attr="prediction"),
], labels=("swappiness",))

CGROUP_SWAPPINESS = Registry("cgroup_swappiness", "a v1 memory cgroup whose memory.swappiness differs from "
                             "vm.swappiness (memtype swap)", [
    label("path", "Cgroup", "the cgroup's path below the hierarchy root", lambda c: c.path),
    gauge("value", "Swappiness", "its memory.swappiness (0-200)", lambda c: c.value, unit="count"),
    info("inherited", "Inherited", "its parent has the same value: most likely copied when it was made",
         lambda c: c.inherited),
], labels=("path",))

REGISTRIES = (PRESSURE, KIND_TAKE, HOLDER, SWEEP_POINT, CGROUP_SWAPPINESS)
COVERS: tuple[tuple[Registry, type], ...] = ((PRESSURE, PressureReport), (KIND_TAKE, KindTake), (HOLDER, Holder),
                                             (SWEEP_POINT, SweepPoint), (CGROUP_SWAPPINESS, CgroupSwappiness))
