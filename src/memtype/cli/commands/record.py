"""``memtype record [DB]``: sample this machine with the bounded-cost sampler every ``--interval`` and
keep the raw Samples in a history database (``memtype.store``), with retention done as it goes."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from memtype.cli import args as types
from memtype.errors import MemtypeError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    from memtype.collect.sampler import Sampler
    from memtype.store import Store

DESCRIPTION = ("Record this machine's memory into a history database (SQLite): every --interval the bounded-cost "
               "sampler's raw Sample (per process its counters and smaps rows; meminfo, vmstat, zoneinfo, "
               "PSI), until stopped (SIGTERM, SIGINT) or for --duration / --count. Old samples are thinned "
               "and dropped by --downsample, --retain and --max-size. Read it with --db DB --at TIME.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype record                         # every 10 s into /var/lib/memtype/memtype.db (root)',
    'memtype record /tmp/m.db --interval 1 --count 60   # one sample a second for a minute',
    'memtype record /tmp/m.db --retain 1d --max-size 200M   # keep a day, at most 200 MiB',
)
SYSTEM_DB = "/var/lib/memtype/memtype.db"
DEFAULT_DOWNSAMPLE = "1d:100s"


def default_db() -> str:
    """/var/lib/memtype/memtype.db as root; else $XDG_STATE_HOME/memtype/memtype.db (~/.local/state)."""
    if os.geteuid() == 0:
        return SYSTEM_DB
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "memtype", "memtype.db")


def tiers(text: str) -> tuple[tuple[float, float], ...]:
    """``1d:100s,7d:15m`` -> ((age, spacing), ...) in seconds; ``none``: no downsampling."""
    if text.strip().lower() == "none":
        return ()
    out = []
    for part in text.split(","):
        age, sep, spacing = part.partition(":")
        if not sep:
            raise argparse.ArgumentTypeError(f"not AGE:SPACING: {part.strip()!r} (e.g. 1d:100s,7d:15m, or none)")
        out.append((types.span(age), types.span(spacing)))
    return tuple(sorted(out))


def limit(kind: str) -> Callable[[str], float | int | None]:
    """An option value that may be ``none`` (no limit)."""
    parse = types.span if kind == "span" else types.size

    def parse_or_none(text: str) -> float | int | None:
        return None if text.strip().lower() == "none" else parse(text)

    return parse_or_none


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("db", nargs="?", metavar="DB",
                   help=f"the database (default {SYSTEM_DB} as root, else $XDG_STATE_HOME/memtype/memtype.db)")
    p.add_argument("--interval", type=types.seconds, default=10.0, metavar="SECONDS",
                   help="seconds between samples (default 10; 0.1 to 3600)")
    p.add_argument("--duration", type=types.span, metavar="TIME", help="stop after this long (90s, 10m, 12h, 7d)")
    p.add_argument("--count", type=types.positive, metavar="N", help="stop after N samples")
    p.add_argument("--retain", type=limit("span"), default=7 * 86400.0, metavar="AGE",
                   help="drop samples older than AGE (default 7d; none: keep them)")
    p.add_argument("--max-size", type=limit("size"), default=1 << 30, metavar="SIZE",
                   help="drop the oldest samples to stay under SIZE on disk (default 1G; none: no limit)")
    p.add_argument("--downsample", type=tiers, default=tiers(DEFAULT_DOWNSAMPLE), metavar="AGE:SPACING,...",
                   help=f"past AGE keep samples at least SPACING apart (default {DEFAULT_DOWNSAMPLE}: every "
                   "sample for a day, then one per 100 s; none: keep every sample)")
    p.add_argument("--budget", type=float, default=0.15, metavar="SECONDS",
                   help="CPU seconds of smaps reading per sample (default 0.15; what is due waits for the next)")
    p.add_argument("--big-rss", type=limit("size"), default=4 << 30, metavar="SIZE",
                   help="a process this large is read at most every --big-interval (default 4G; none)")
    p.add_argument("--big-interval", type=types.span, default=300.0, metavar="TIME",
                   help="seconds between two full reads of a big process (default 300)")
    p.add_argument("--refresh", type=types.span, default=60.0, metavar="TIME",
                   help="re-read a process whose counters stood still after this long (default 60 s)")
    p.add_argument("--status", type=types.positive, metavar="N",
                   help="print a one-line status to stderr every N samples")


class _Stop(Exception):
    """SIGTERM or SIGINT while sleeping between samples."""


class Recorder:
    """The loop: tick, append, retain once per chain; signals stop it between samples."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.signal: int | None = None
        self._sleeping = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum
        if self._sleeping:
            raise _Stop

    def run(self) -> int:
        from memtype.collect.sampler import Sampler
        from memtype.store import Store

        a = self.args  # (imported here: `memtype --help` and the other commands never load them)
        if a.budget < 0 or a.budget > 60:
            raise UsageError(f"--budget must be from 0 to 60 seconds, not {a.budget:g}")
        path = a.db or default_db()
        sampler = Sampler(a.root, interval=a.interval, budget=a.budget, big_rss=a.big_rss,
                          big_interval=a.big_interval, refresh=a.refresh, exe=True, cgroup=True, cgroups=True,
                          gpu=True)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        count = 0
        try:
            with sampler, Store.open(path) as st:
                self._retain(st)
                started = due = time.monotonic()
                cpu0 = time.process_time()
                while self.signal is None:
                    sample = sampler.tick().sample
                    st.append(sample, interval=a.interval)
                    count += 1
                    if count % st.keyframe_every == 0:
                        self._retain(st)
                    if a.status and count % a.status == 0:
                        self._status(st, sampler, count, time.process_time() - cpu0)
                    if (a.count and count >= a.count) or not sampler.root.live or (
                            a.duration and time.monotonic() - started + a.interval > a.duration):
                        break
                    due += a.interval
                    late = time.monotonic() - due
                    if late > 0:  # an overrun skips the starts it missed (as Sampler's iterator does)
                        due += -(-late // a.interval) * a.interval
                    self._sleep(due - time.monotonic())
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        print(f"memtype: recorded {count} sample{'s' * (count != 1)} into {path}", file=sys.stderr)
        return 130 if self.signal == signal.SIGINT else 0

    def _sleep(self, seconds: float) -> None:
        if self.signal is not None or seconds <= 0:
            return
        self._sleeping = True
        try:
            time.sleep(seconds)
        except _Stop:
            pass
        finally:
            self._sleeping = False

    def _retain(self, st: Store) -> None:
        a = self.args
        st.retain(retain_for=a.retain, max_size=a.max_size, tiers=a.downsample)

    def _status(self, st: Store, sampler: Sampler, count: int, cpu: float) -> None:
        info = st.info()
        processes = sampler.report.processes if sampler.report is not None else 0
        print(f"memtype record: {count} samples, {info.count} in {info.path} ({info.size_bytes / (1 << 20):.1f} MiB, "
              f"{info.size_bytes / max(1, info.count) / 1024:.1f} KiB/sample), {processes} processes, "
              f"{cpu / count * 1000:.0f} ms CPU/sample", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        return Recorder(args).run()
    except _Stop:  # a signal between the check and the sleep
        return 0
    except OSError as exc:  # the disk or the database's directory failing outside SQLite
        raise MemtypeError(f"recording stopped: {exc.strerror or exc}") from None
