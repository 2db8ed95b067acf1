"""What ``memtype top`` is fed with: a function that gives the next Model, and what else it may ask.

The TUI never reads a Root (tests/test_layers.py): the command (``cli/commands/top.py``) wires a
sampler, one Sample of a capture, or a database's samples (``tui.replay.Replay``) into a ``Feed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# The sampler's freshness states that the view marks: WAITING (changed since its smaps was read; the
# read waits for the CPU budget: its figures are stale) and BIG (read only every few minutes).
from memtype.model.sampling import BIG, WAITING

__all__ = ["BIG", "WAITING", "Feed", "Freshness"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.cgroups import CgroupTree
    from memtype.model.derive import Model
    from memtype.model.sample import ProcessKey
    from memtype.tui.replay import Replay


class Freshness(Protocol):
    """How fresh a process's kinds are (``memtype.model.sampling.Freshness``): ``state`` (read, carried,
    waiting, big, pending), ``age`` (seconds since its smaps was read; ``None``: never) and ``why``."""

    @property
    def state(self) -> str: ...

    @property
    def age(self) -> float | None: ...

    @property
    def why(self) -> str: ...


class Feed:
    """Attributes:
        tick: the next Model (called in a worker thread; it may take a while). The first call gives
            the first frame.
        interval: seconds between ticks; ``None``: one Model only (a static capture).
        live: the Models describe this machine now (not a capture).
        cgroups: the memory cgroups with the Model's processes summed in (``memtype cgroups``), or
            ``None`` where the root has no cgroup hierarchy to read. Called in a worker thread.
        notes: the one-line notes about a Model (what could not be read: ``access denied for 12
            processes; run as root for all``), as the CLI would print them.
        freshness: how fresh a process's kinds are in the Model ``tick`` gave last (the sampler's
            ``freshness``), asked in the worker thread right after ``tick``; ``None``: every figure
            was read in its own sample.
        replay: the recorded samples ``tick`` plays back (``memtype top --replay``), ``None`` otherwise.
    """

    __slots__ = ("tick", "interval", "live", "cgroups", "notes", "freshness", "replay")

    def __init__(self, tick: Callable[[], Model], *, interval: float | None, live: bool,
                 cgroups: Callable[[Model], CgroupTree] | None = None,
                 notes: Callable[[Model], list[str]] | None = None,
                 freshness: Callable[[ProcessKey], Freshness] | None = None, replay: Replay | None = None) -> None:
        self.tick, self.interval, self.live, self.cgroups = tick, interval, live, cgroups
        self.notes, self.freshness, self.replay = notes, freshness, replay
