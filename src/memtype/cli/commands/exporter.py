"""``memtype exporter``: serve the machine by kind to Prometheus (``memtype.exporter``), or write it for
node_exporter's textfile collector (``--textfile``), from a sampler ticking in the background."""

from __future__ import annotations

import argparse
import re
import signal
import sys

from memtype.cli import args as types, notes
from memtype.errors import MemtypeError, UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from types import FrameType

    from memtype.exporter.collector import Options
    from memtype.exporter.feed import Feed
    from memtype.exporter.serve import Server

DESCRIPTION = ("Serve the machine by kind (rows adding up to MemTotal, reclaim classes, swap, zswap), each "
               "program's (or user's, or cgroup's) PSS, RSS and swap by kind, chosen processes, and the "
               "sampler's own cost as Prometheus metrics on http://127.0.0.1:10221/metrics; a scrape reads "
               "no file, it serves the last sample. --textfile writes the same for node_exporter.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype exporter                       # serve http://127.0.0.1:10221/metrics to Prometheus',
    'memtype exporter --once                # print one scrape and exit',
    'memtype exporter --textfile /var/lib/prometheus/node-exporter/memtype.prom   # for node_exporter',
)
NO_CLIENT = "memtype exporter needs prometheus-client (prometheus_client is missing): pip install 'memtype[exporter]'"
FIRST_BUDGET = 10.0  # CPU seconds of smaps reading for the first sample: a whole picture before serving
GIB = 1 << 30


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", metavar="ADDR:PORT", default=None,
                   help="where to serve /metrics (default 127.0.0.1:10221; :PORT or 0.0.0.0:PORT: every IPv4 "
                   "interface, [::]:PORT: IPv6 too; port 0: a free one)")
    p.add_argument("--textfile", metavar="PATH", default=None,
                   help="write the metrics to PATH (atomic rename) after each sample, for node_exporter's "
                   "textfile collector (name it *.prom); no HTTP server unless --listen is given")
    p.add_argument("--once", action="store_true",
                   help="sample once, write the metrics (to --textfile, else stdout) and exit (cron)")
    p.add_argument("--interval", type=types.seconds, default=15.0, metavar="SECONDS",
                   help="seconds between samples (default 15, Prometheus's scrape interval)")
    p.add_argument("--budget", type=_budget, default=0.15, metavar="SECONDS",
                   help="CPU seconds of smaps reading per sample (default 0.15); what is due past it waits")
    p.add_argument("--refresh", type=types.seconds, default=300.0, metavar="SECONDS",
                   help="re-read a process whose counters stood still after this long (default 300: what can "
                   "still move is its share of pages others map; a process that changed is re-read at once)")
    p.add_argument("--big-rss", type=types.size, default=4 * GIB, metavar="SIZE",
                   help="processes with more resident memory have their smaps read at most every "
                   "--big-interval (default 4G: reading smaps stalls the process)")
    p.add_argument("--big-interval", type=types.seconds, default=300.0, metavar="SECONDS",
                   help="seconds between two smaps reads of a big process (default 300)")
    p.add_argument("--group", choices=("program", "user", "cgroup"), default="program",
                   help="series per program (default: same executable), per user, or per memory cgroup")
    p.add_argument("--groups", type=_count, default=50, metavar="N",
                   help="the N groups with the most PSS get series; the rest are summed as [other] "
                   "(default 50; 0: every group)")
    p.add_argument("--metrics", metavar="ID,...", default=None,
                   help="figures per group and process, by field or metric id (default "
                   "kind.pss,kind.rss,kind.swap,uss,count; docs/fields.md lists them)")
    p.add_argument("--cgroups", type=_count, default=50, metavar="N",
                   help="the N memory cgroups with the most charged memory get series (default 50; 0: all)")
    p.add_argument("--no-cgroups", dest="read_cgroups", action="store_false",
                   help="do not read the memory cgroups (about 8 small files each per sample)")
    p.add_argument("--damon-refresh", action="store_true",
                   help="ask each kdamond for fresh scheme stats every sample (root; a write of update_schemes_stats "
                        "to DAMON sysfs), so memtype_reclaim_damon_stolen_pages_total has a value")
    p.add_argument("--top", type=types.positive, default=0, metavar="N",
                   help="also series for the N processes with the most PSS (pid and comm labels)")
    p.add_argument("--pid", type=types.pid, action="append", default=[], metavar="PID",
                   help="also series for this process (repeatable)")
    p.add_argument("--name", metavar="REGEX", default=None,
                   help="also series for the processes whose name or program matches")


def run(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("prometheus_client") is None:
        raise MemtypeError(NO_CLIENT)
    options = _options(args)
    listen = None
    if args.listen is not None or (args.textfile is None and not args.once):
        from memtype.exporter.serve import DEFAULT_ADDRESS, DEFAULT_PORT, parse_listen

        try:
            listen = parse_listen(args.listen) if args.listen is not None else (DEFAULT_ADDRESS, DEFAULT_PORT)
        except ValueError as exc:
            raise UsageError(f"--listen: {exc}") from None
    if args.once and args.listen is not None:
        raise UsageError("--once writes the metrics once and exits: it serves nothing (drop --listen)")
    from prometheus_client import CollectorRegistry

    from memtype.collect.sampler import Sampler
    from memtype.exporter.collector import MemtypeCollector, SampleOnly
    from memtype.exporter.feed import Feed
    from memtype.exporter.serve import CachedApp, Server, render, write_textfile

    sampler = Sampler(args.root, interval=args.interval, budget=args.budget, first_budget=FIRST_BUDGET,
                      big_rss=args.big_rss, big_interval=args.big_interval, refresh=args.refresh, exe=True,
                      cgroup=args.group == "cgroup", cgroups=args.read_cgroups, gpu=True, damon=True,
                      damon_refresh=args.damon_refresh)
    with sampler:
        registry = CollectorRegistry(auto_describe=False)  # every family: --once, --textfile
        per_sample = CollectorRegistry(auto_describe=False)  # all but the live ones: encoded once per sample
        textfile = args.textfile
        apps: list[CachedApp] = []

        def write(snap: object) -> None:  # in the sampler thread, after each sample, before it is served
            for app in apps:
                app.prewarm(snap)  # the scrapes to come find their answer encoded
            if textfile is not None:
                write_textfile(textfile, render(registry))

        feed = Feed(sampler.tick, lambda: sampler.report, args.interval, args.budget, on_tick=write,
                    on_error=lambda exc: notes.warning(f"sampling: {exc}"))
        collector = MemtypeCollector(feed.newest, options)
        registry.register(collector)
        per_sample.register(SampleOnly(collector))
        feed.first()  # the first sample (and the first textfile) before anything is served
        if args.once:
            if textfile is None:
                sys.stdout.buffer.write(render(registry))
                sys.stdout.flush()
            return 0
        server = None
        if listen is not None:
            # a scrape needs the GIL a few times; during a tick the sampler thread holds it, and would hand
            # it over only every 5 ms (the default switch interval): 0.5 ms keeps a scrape within milliseconds
            sys.setswitchinterval(0.0005)
            app = CachedApp(per_sample, feed.latest, lambda snap: collector.live_families(feed.latest()))
            apps.append(app)
            server = Server(app, *listen)
            server.start()
            notes.note(f"serving {server.url} (a sample every {args.interval:g} s)")
            sys.stderr.flush()
        return _serve(feed, server)


def _serve(feed: Feed, server: Server | None) -> int:
    """Tick in the background until SIGTERM, SIGINT or SIGHUP; then stop the server and the thread."""

    def stop(signum: int, frame: FrameType | None) -> None:
        feed.stop(timeout=0)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    feed.start()
    try:
        while not feed.wait(1.0):
            pass
    finally:
        feed.stop()
        if server is not None:
            server.close()
    return 0


def _options(args: argparse.Namespace) -> Options:
    from memtype.exporter.collector import Options
    from memtype.exporter.metrics import select
    from memtype.model.fields_process import group_registry

    name = None
    if args.name is not None:
        try:
            name = re.compile(args.name)
        except re.error as exc:
            raise UsageError(f"--name: not a regular expression: {exc}") from None
    metrics = None
    if args.metrics is not None:
        try:
            metrics = select(group_registry(args.group), args.metrics.split(","))
        except KeyError as exc:
            raise UsageError(f"--metrics: {exc.args[0]}") from None
        if not metrics:
            raise UsageError("--metrics: no metric given")
    return Options(args.group, args.groups or None, metrics, args.top, args.pid, name, args.cgroups or None)


def _budget(text: str) -> float:
    """CPU seconds per sample: 0.001 to 60."""
    if not re.fullmatch(r"\s*\d{1,2}(\.\d{1,6})?\s*", text):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text[:40]!r}")
    n = float(text)
    if not 0.001 <= n <= 60:
        raise argparse.ArgumentTypeError(f"from 0.001 to 60 seconds: {text!r}")
    return n


def _count(text: str) -> int:
    """0 or a positive number."""
    if text.strip() == "0":
        return 0
    return types.positive(text)
