"""What ``memtype top`` is fed with: a function that gives the next Model, and what else it may ask.

The TUI never reads a Root (tests/test_layers.py): the command (``cli/commands/top.py``) wires a
sampler, or one Sample of a capture, into a ``Feed``.
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.cgroups import CgroupTree
    from memtype.model.derive import Model
    from memtype.model.sample import ProcessKey


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
        rarely: the processes whose smaps is read rarely because they are big (the sampler's rule),
            with how often, in seconds; ``None``: no such rule.
        stale_after: a process's figures older than this are marked stale (default: 1.5 intervals).
    """

    __slots__ = ("tick", "interval", "live", "cgroups", "notes", "rarely", "stale_after")

    def __init__(self, tick: Callable[[], Model], *, interval: float | None, live: bool,
                 cgroups: Callable[[Model], CgroupTree] | None = None,
                 notes: Callable[[Model], list[str]] | None = None,
                 rarely: Callable[[Model, ProcessKey], float | None] | None = None,
                 stale_after: float | None = None) -> None:
        self.tick, self.interval, self.live, self.cgroups = tick, interval, live, cgroups
        self.notes, self.rarely = notes, rarely
        self.stale_after = stale_after if stale_after is not None else (
            1.5 * interval if interval is not None else None)
