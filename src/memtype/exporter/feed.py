"""The background sampler thread of ``memtype exporter``: it ticks, the scrapes read what it published.

``Feed`` calls a ``tick`` (the command passes ``Sampler.tick``: this package reads no Root) every
``interval`` seconds, drift-free, in one daemon thread, and publishes a ``Snapshot`` (the Model and
a copy of the running ``SamplerStatus``) by one reference assignment: a scrape never waits for a tick
and never sees half of one. ``on_tick`` runs before the snapshot is published (``newest`` first,
then ``latest``), so the HTTP answers of a sample are encoded before any scrape asks for them. A tick that fails is counted (``memtype_sampler_errors_total``) and
reported once per kind of error; the last good Model stays served, and its age tells how old it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from memtype.exporter.collector import Snapshot
from memtype.model.sampling import SamplerStatus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.derive import Model
    from memtype.model.sampling import TickReport


class Feed:
    """Ticks ``tick`` every ``interval`` seconds in a thread (``start``), after a first tick in the
    caller's thread (``first``: its error is the caller's, a one-line start-up failure).

    Args:
        tick: the next Model (``Sampler.tick``). report: the last tick's report (``Sampler.report``).
        interval, budget: the sampler's, reported as metrics.
        on_tick: called in the thread after each published tick (``--textfile`` writes there).
        on_error: called with an exception of a tick or of ``on_tick`` (the thread goes on).
    """

    def __init__(self, tick: Callable[[], Model], report: Callable[[], TickReport | None], interval: float,
                 budget: float | None = None, on_tick: Callable[[Snapshot], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self._tick, self._report = tick, report
        self.interval = interval
        self.status = SamplerStatus(interval, budget)
        self.on_tick, self.on_error = on_tick, on_error
        self._latest: Snapshot | None = None
        self._newest: Snapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def latest(self) -> Snapshot | None:
        """The last published snapshot (``None`` before the first tick)."""
        return self._latest

    def newest(self) -> Snapshot | None:
        """The snapshot being published: ``on_tick`` sees it (and renders it) before ``latest`` does."""
        return self._newest

    def first(self) -> Snapshot:
        """One tick now, in this thread; raises what the tick raises."""
        self._once()
        snap = self._latest
        assert snap is not None
        return snap

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="memtype-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until ``stop`` (True) or ``timeout`` seconds (False)."""
        return self._stop.wait(timeout)

    def _once(self) -> None:
        self._sample()
        self._publish()

    def _sample(self) -> None:
        model = self._tick()
        self.status.add(self._report(), model, None)
        self._newest = Snapshot(model, self.status.copy())

    def _publish(self) -> None:
        """``on_tick`` on the newest snapshot (the HTTP answers encoded, the textfile written), then make
        it the latest: until then scrapes keep getting the previous sample's answers, already encoded."""
        snap = self._newest
        try:
            if self.on_tick is not None and snap is not None:
                self.on_tick(snap)
        finally:
            self._latest = snap

    def _run(self) -> None:
        due = time.monotonic()
        while True:
            due += self.interval
            late = time.monotonic() - due
            if late > 0:  # a tick that overran skips the starts it missed (no burst to catch up)
                due += (late // self.interval + 1) * self.interval
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            try:
                self._sample()
            except Exception as exc:  # the thread must go on: the last good model stays served
                self.status.failed()
                if self._latest is not None:
                    self._newest = Snapshot(self._latest.model, self.status.copy())
                self._report_error(exc)
            try:
                self._publish()
            except Exception as exc:  # a textfile that could not be written: said, tried again next tick
                self._report_error(exc)

    def _report_error(self, exc: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(exc)
