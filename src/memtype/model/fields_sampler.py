"""Fields of a running sampler's own cost (``SamplerStatus``): what ``memtype exporter`` reports as
``memtype_sampler_*``, so a fleet sees what memtype itself costs and how old its data is."""

from __future__ import annotations

from memtype.model.fields import Registry, counter, gauge
from memtype.model.records import SKIP_REASONS
from memtype.model.sampling import READ_REASONS, TICK_PARTS, SamplerStatus

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.fields import Getter

_PART_HELP = {"counters": "stat of every process, status where stat moved",
              "smaps": "the smaps reads (the budget bounds them)", "derive": "classification and the changes",
              "cgroups": "the memory cgroups' files"}
_REASON_HELP = {"new": "a new process", "changed": "its counters moved", "family": "its fork family changed",
                "big": "a big process, at most every big_interval", "refresh": "nothing moved for refresh seconds"}


def _cpu(part: str) -> Getter:
    return lambda s: s.cpu[part]


def _reads(reason: str) -> Getter:
    return lambda s: s.reads[reason]


def _reads_cpu(reason: str) -> Getter:
    return lambda s: s.reads_cpu[reason]


def _skipped(reason: str) -> Getter:
    return lambda s: s.skipped.get(reason, 0) if s.last_wall is not None else None


def _last(name: str) -> Getter:
    return lambda s: getattr(s.last, name) if s.last is not None else None


SAMPLER = Registry("sampler", "the background sampler's own cost and the age of its data (memtype exporter)", [
    counter("ticks", "Ticks", "samples taken since the start", lambda s: s.ticks),
    counter("errors", "Errors", "samples that failed (the last good one stays served; see the log)",
            lambda s: s.errors),
    *[counter(f"cpu.{p}", f"CPU {p}", f"CPU time of its ticks: {h}", _cpu(p), unit="seconds", attr="cpu",
              labels=(("part", p),), metric="cpu") for p, h in _PART_HELP.items()],
    *[counter(f"reads.{r}", f"Reads {r}", f"smaps reads: {h}", _reads(r), attr="reads", labels=(("reason", r),),
              metric="smaps_reads") for r, h in _REASON_HELP.items()],
    *[counter(f"reads_cpu.{r}", f"Read CPU {r}", f"CPU time of the smaps reads: {h}", _reads_cpu(r),
              unit="seconds", attr="reads_cpu", labels=(("reason", r),), metric="smaps_read_cpu")
      for r, h in _REASON_HELP.items()],
    gauge("last_tick.cpu", "Tick CPU", "CPU time of the last tick", _last("cpu"), unit="seconds", attr="last"),
    gauge("last_tick.duration", "Tick wall", "wall-clock time of the last tick", _last("duration"), unit="seconds",
          attr="last"),
    gauge("last_tick.slowest_read", "Slowest", "CPU time of the last tick's slowest smaps read", _last("slowest"),
          unit="seconds", attr="last"),
    gauge("last_tick.reads_left", "Left", "smaps reads that were due but left for a later tick (the budget ran out)",
          _last("left"), unit="count", attr="last"),
    gauge("processes", "Processes", "processes the sampler tracks", _last("processes"), unit="count", attr="last"),
    gauge("big", "Big", "processes above the big-process threshold (their smaps read at most every big_interval)",
          _last("big"), unit="count", attr="last", metric="big_processes"),
    gauge("cgroups", "Cgroups", "memory cgroups read in the last tick", _last("cgroups"), unit="count", attr="last"),
    gauge("budget", "Budget", "CPU seconds of smaps reading allowed per tick", lambda s: s.budget, unit="seconds"),
    gauge("interval", "Interval", "seconds between ticks", lambda s: s.interval, unit="seconds"),
    gauge("last_tick.timestamp", "Last", "Unix time the served sample was read", lambda s: s.last_wall,
          unit="seconds", attr="last_wall"),
    gauge("data_age", "Age", "seconds between the reading of the served sample and this scrape", lambda s: s.age,
          unit="seconds", attr="age"),
    *[gauge(f"skipped.{r.replace(' ', '_')}", f"Skipped {r}", f"processes without a split in the served sample: "
            f"{h}", _skipped(r), unit="count", attr="skipped", labels=(("reason", r.replace(" ", "_")),),
            metric="skipped_processes") for r, h in SKIP_REASONS.items()],
    gauge("warnings", "Warnings", "warnings of the served sample (damaged or unreadable files)",
          lambda s: s.warnings, unit="count"),
])

REGISTRIES = (SAMPLER,)
COVERS: tuple[tuple[Registry, type], ...] = ((SAMPLER, SamplerStatus),)
