"""``memtype top --replay DB``: recorded samples played back through the live view's widgets.

A ``Replay`` is the Feed's tick over a database's samples: a position in its time line, playing or
paused; each tick gives the Model at the position (derived against the sample before it, so the change
marks and the status line mean "since the previous sample", as live), and a playing replay moves one
sample on per tick. The app's keys move it (``←``/``→`` one sample, ``p`` play/pause, ``j`` jump to a
time: ``TopApp`` in ``tui/app.py``). It reads nothing itself: the command hands it the times and a
loader of Samples (``cli/commands/top.py``).
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from memtype.model.derive import Model, derive
from memtype.model.sample import Sample

CACHE = 8  # Models kept: a step back and forth costs no derive


class Replay:
    """Attributes:
        times: (sample_id, wall) in time order. index: the position. playing: a tick moves on.
        name: what is replayed (the database's file name), for the header. parse_time: TIME -> Unix
            time (``j``; the command's, ValueError when it is not one).
    """

    def __init__(self, times: list[tuple[int, float]], load: Callable[[int], Sample], *, name: str,
                 parse_time: Callable[[str], float], start: int = 0) -> None:
        if not times:
            raise ValueError("nothing to replay")
        self.times, self.load, self.name, self.parse_time = times, load, name, parse_time
        self.index = max(0, min(start, len(times) - 1))
        self.playing = False
        self._models: OrderedDict[int, Model] = OrderedDict()
        self._lock = threading.Lock()  # the app's keys move it while a worker thread ticks
        self._moved = True

    # -- moving (the app's keys; any thread) -------------------------------------------------------------

    def step(self, n: int) -> None:
        with self._lock:
            self.index = max(0, min(len(self.times) - 1, self.index + n))
            self._moved = True

    def toggle(self) -> bool:
        with self._lock:
            if not self.playing and self.index == len(self.times) - 1:
                self.index = 0  # play again from the start
            self.playing = not self.playing
            return self.playing

    def seek(self, wall: float) -> None:
        """To the sample nearest to ``wall`` (a Unix time)."""
        walls = [w for _, w in self.times]
        i = bisect.bisect_left(walls, wall)
        if i > 0 and (i == len(walls) or wall - walls[i - 1] <= walls[i] - wall):
            i -= 1
        with self._lock:
            self.index = i
            self._moved = True

    @property
    def wall(self) -> float:
        return self.times[self.index][1]

    def where(self) -> str:
        """``replay h.db · 2026-12-01 14:05:10 · 12/8640 · paused``."""
        at = datetime.fromtimestamp(self.wall).strftime("%Y-%m-%d %H:%M:%S")
        return (f"replay {self.name} · {at} · {self.index + 1}/{len(self.times)} · "
                f"{'playing' if self.playing else 'paused'}")

    # -- the Feed's tick (a worker thread) ---------------------------------------------------------------

    def tick(self) -> Model:
        """The Model at the position; a playing replay moves on first (stopping at the end)."""
        with self._lock:
            if self.playing and not self._moved:
                if self.index < len(self.times) - 1:
                    self.index += 1
                else:
                    self.playing = False
            self._moved = False
            index = self.index
        return self.model(index)

    def model(self, index: int) -> Model:
        sample_id = self.times[index][0]
        got = self._models.get(sample_id)
        if got is not None:
            self._models.move_to_end(sample_id)
            return got
        previous = None
        if index > 0:
            before = self._models.get(self.times[index - 1][0])
            previous = before if before is not None else self.load(self.times[index - 1][0])
        model = derive(self.load(sample_id), previous, mappings=False)
        self._models[sample_id] = model
        while len(self._models) > CACHE:
            self._models.popitem(last=False)
        return model
