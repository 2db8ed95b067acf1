"""A real Prometheus server (and promtool) for tests: the Debian package ``prometheus`` (issue 10).

``start_prometheus(targets, interval=1.0)`` starts ``prometheus`` on a free loopback port with a
temporary config and data dir (one 0700 directory from mkdtemp), waits until ``/-/ready`` answers,
and returns a :class:`Prometheus` to query over the HTTP API (``query``, ``query_range``,
``wait_for``, ``targets``, ``wait_scraped``, ``rules``, ``alerts``); used as a context manager it stops
the server and removes the directory on the way out, even when the test fails. The ``prometheus``
fixture (wired in conftest.py) is a factory whose servers are stopped at teardown::

    def test_x(prometheus):
        prom = prometheus(["127.0.0.1:9912"], interval=1.0)
        prom.wait_scraped()
        assert prom.query("up")[0]["value"][1] == "1"

``serve_exposition(body)`` serves a fixed (or changing: assign ``.body``) exposition from a thread
of the test, so the harness is proven without the exporter (tests/test_prom_harness.py).

promtool: ``check_rules(paths)``, ``test_rules(paths)``, ``check_metrics(text)`` and
``check_config(path)`` return a :class:`Checked` (ok, exit code, output); promtool's exit code 3 is
"lint problems" (e.g. a counter without ``_total``), 1 a parse error.

Every entry point calls ``pytest.skip`` with the reason when the binary is absent. Standard library
only (urllib, http.server, subprocess); the config is written as JSON, which is YAML.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

INSTALL_HINT = "apt-get install prometheus"
READY_TIMEOUT = 30.0
# Loopback only, never through a proxy an environment variable names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PromError(AssertionError):
    """The server failed to start, or the API answered an error (with Prometheus' own message)."""


def binary(name: str) -> str:
    """The path of ``name`` (prometheus, promtool), or skip the test saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed ({INSTALL_HINT}): this test needs the real server")
    return path


def free_port() -> int:
    """A loopback TCP port free right now (another process may still take it: start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:  # 4xx/5xx still carry Prometheus' JSON error
        return int(exc.code), bytes(exc.read())


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` new (no link followed, mode 0600): we run as root."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def scrape_config(job: str, targets: Sequence[str], interval: float,
                  metrics_path: str = "/metrics", params: Mapping[str, Sequence[str]] | None = None
                  ) -> dict[str, Any]:
    """One ``scrape_configs`` entry: static targets, scrape timeout = interval (Prometheus requires
    timeout <= interval), ``honor_labels`` off (the target's own ``instance``/``job`` would be renamed
    ``exported_*``, as in production)."""
    cfg: dict[str, Any] = {
        "job_name": job, "scrape_interval": _duration(interval), "scrape_timeout": _duration(interval),
        "metrics_path": metrics_path, "static_configs": [{"targets": list(targets)}],
    }
    if params:
        cfg["params"] = {k: list(v) for k, v in params.items()}
    return cfg


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


@dataclass
class Prometheus:
    """A running server. ``url`` is http://127.0.0.1:PORT; ``log`` its stderr (read it on failure)."""

    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    interval: float
    url: str = ""
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        try:
            return (self.workdir / "prometheus.log").read_text(errors="replace")
        except OSError:
            return ""

    # -- the HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/) --------------
    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/PATH?params: the ``data`` member, or PromError with the server's message."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        code, body = _get(url)
        try:
            doc = json.loads(body)
        except ValueError:
            raise PromError(f"{url}: HTTP {code}, not JSON: {body[:200]!r}") from None
        if doc.get("status") != "success":
            raise PromError(f"{url}: {doc.get('errorType')}: {doc.get('error')}")
        return doc["data"]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: the result list (vector: ``{"metric": {...}, "value": [t, "v"]}``)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        result = data["result"]
        if data["resultType"] == "scalar":  # [t, "v"]: made a one-element vector for callers
            return [{"metric": {}, "value": result}]
        return list(result)

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query: ``[{"metric": {...}, "values": [[t, "v"], ...]}, ...]``."""
        data = self.api("query_range", query=promql, start=f"{start:.3f}", end=f"{end:.3f}",
                        step=f"{step:g}")
        return list(data["result"])

    def values(self, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query as {sorted label items: float value} (NaN kept as NaN)."""
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in self.query(promql)}

    def value(self, promql: str) -> float | None:
        """The single value of an instant query; None when it returns nothing; PromError when more."""
        res = self.query(promql)
        if not res:
            return None
        if len(res) > 1:
            raise PromError(f"{promql!r} returned {len(res)} series, expected one: {res[:3]}")
        return float(res[0]["value"][1])

    def targets(self) -> list[dict[str, Any]]:
        """The active targets: ``scrapeUrl``, ``health`` (up/down/unknown), ``lastError``,
        ``lastScrape`` (RFC 3339), ``lastScrapeDuration`` (s), ``labels``."""
        return list(self.api("targets", state="active")["activeTargets"])

    def rules(self) -> list[dict[str, Any]]:
        """Loaded rule groups (``name``, ``file``, ``rules`` with ``health``/``lastError``)."""
        return list(self.api("rules")["groups"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("alerts")["alerts"])

    def series(self, match: str) -> list[dict[str, str]]:
        return list(self.api("series", **{"match[]": match}))

    # -- waiting ------------------------------------------------------------------------------
    def wait_for(self, promql: str, predicate: Callable[[list[dict[str, Any]]], bool] = bool,
                 timeout: float = 30.0) -> list[dict[str, Any]]:
        """Query until ``predicate(result)`` is true (default: non-empty); the last result. On timeout
        a PromError with the last result and the targets' health, which is what explains it."""
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while True:
            last = self.query(promql)
            if predicate(last):
                return last
            if time.monotonic() > deadline:
                raise PromError(f"{promql!r}: condition not met in {timeout:g} s; last result "
                                f"{json.dumps(last)[:600]}; targets {self._target_summary()}")
            time.sleep(min(0.2, self.interval / 4))

    def wait_scraped(self, count: int = 1, timeout: float = 30.0, healthy: bool = True) -> None:
        """Wait until every target has been scraped ``count`` times after this call (a scrape that
        started before it does not count), and, with ``healthy``, the last one succeeded."""
        # Each target's lastScrape changes once per scrape: poll faster than the interval and count
        # the distinct stamps newer than the call.
        deadline = time.monotonic() + timeout
        seen: dict[str, list[str]] = {}
        t0 = time.time()
        while True:
            targets = self.targets()
            done = bool(targets)
            for t in targets:
                stamps = seen.setdefault(t["scrapeUrl"], [])
                last = t.get("lastScrape", "")
                if last and _rfc3339(last) > t0 and (not stamps or stamps[-1] != last):
                    stamps.append(last)
                if len(stamps) < count or (healthy and t.get("health") != "up"):
                    done = False
            if done:
                return
            if time.monotonic() > deadline:
                raise PromError(f"targets not scraped {count}x (healthy={healthy}) in {timeout:g} s: "
                                f"{self._target_summary()}")
            time.sleep(min(0.1, self.interval / 10))

    def _target_summary(self) -> str:
        try:
            return "; ".join(f"{t['scrapeUrl']} {t['health']} {t.get('lastError') or ''}".strip()
                             for t in self.targets()) or "none"
        except PromError as exc:
            return str(exc)

    # -- lifetime -----------------------------------------------------------------------------
    def stop(self) -> None:
        """SIGTERM (Prometheus shuts down cleanly), SIGKILL after 10 s; then remove the directory."""
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _rfc3339(stamp: str) -> float:
    """Prometheus' lastScrape ("2026-12-02T01:02:03.456789012Z", or +HH:MM) as a Unix time."""
    s = stamp.replace("Z", "+00:00")
    if "." in s:  # Python < 3.11 parses at most 6 fraction digits
        head, rest = s.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        s = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    return datetime.fromisoformat(s).timestamp()


def start_prometheus(targets: Sequence[str] | Mapping[str, Sequence[str]], interval: float = 1.0,
                     rule_files: Sequence[str | os.PathLike[str]] = (), metrics_path: str = "/metrics",
                     params: Mapping[str, Sequence[str]] | None = None,
                     scrape_configs: Sequence[Mapping[str, Any]] = (),
                     extra_args: Sequence[str] = ()) -> Prometheus:
    """Start a server scraping ``targets`` ("host:port" list, job "test"; or {job: targets}) every
    ``interval`` s, evaluating ``rule_files`` (copied into its directory) at the same interval.
    ``scrape_configs`` adds entries as they are. Returns once ``/-/ready`` answers 200 and the
    static targets are listed (not yet scraped: ``wait_scraped``)."""
    exe = binary("prometheus")
    jobs = {"test": list(targets)} if not isinstance(targets, Mapping) else dict(targets)
    workdir = Path(tempfile.mkdtemp(prefix="memtype-prom-"))  # 0700
    try:
        rules = []
        for i, src in enumerate(rule_files):
            dst = workdir / f"rules-{i}-{Path(src).name}"
            _write_private(dst, Path(src).read_text())
            rules.append(str(dst))
        config = {
            "global": {"scrape_interval": _duration(interval), "evaluation_interval": _duration(interval)},
            "rule_files": rules,
            "scrape_configs": [scrape_config(job, tg, interval, metrics_path, params)
                               for job, tg in jobs.items()] + [dict(c) for c in scrape_configs],
        }
        _write_private(workdir / "prometheus.yml", json.dumps(config, indent=1))
        (workdir / "data").mkdir(mode=0o700)
        last_log = ""
        for _attempt in range(3):  # the free port may be taken between free_port() and the bind
            port = free_port()
            prom = _launch(exe, workdir, port, interval, extra_args)
            try:
                _wait_ready(prom, sum(len(tg) for tg in jobs.values()))
                return prom
            except PromError:
                last_log = prom.log
                _terminate(prom.proc)
                if "address already in use" not in last_log:
                    raise
                (workdir / "prometheus.log").unlink(missing_ok=True)
        raise PromError(f"prometheus could not bind a loopback port in 3 tries: {last_log[-500:]}")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _launch(exe: str, workdir: Path, port: int, interval: float, extra_args: Sequence[str]) -> Prometheus:
    fd = os.open(workdir / "prometheus.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        proc = subprocess.Popen(
            [exe, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d",
             "--web.enable-lifecycle", *extra_args],
            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd=workdir, start_new_session=True)
    finally:
        os.close(fd)
    return Prometheus(proc, port, workdir, interval)


def _wait_ready(prom: Prometheus, targets: int) -> None:
    """Until /-/ready answers 200 and the targets API lists the ``targets`` configured (discovery
    runs after ready), so a test's first targets() or wait_for sees them."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if prom.proc.poll() is not None:
            raise PromError(f"prometheus exited with {prom.proc.returncode}: {prom.log[-800:]}")
        with contextlib.suppress(OSError):
            if _get(f"{prom.url}/-/ready", timeout=2)[0] == 200 and len(prom.targets()) >= targets:
                return
        time.sleep(0.1)
    raise PromError(f"prometheus not ready in {READY_TIMEOUT:g} s: {prom.log[-800:]}")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def prometheus() -> Iterator[Callable[..., Prometheus]]:
    """A factory with start_prometheus's arguments; every server it started is stopped at teardown."""
    started: list[Prometheus] = []

    def start(*args: Any, **kwargs: Any) -> Prometheus:
        prom = start_prometheus(*args, **kwargs)
        started.append(prom)
        return prom

    try:
        yield start
    finally:
        for prom in started:
            prom.stop()


# -- a target served by the test itself ----------------------------------------------------------
class Exposition:
    """An HTTP server on 127.0.0.1 (a daemon thread of the test) answering ``/metrics`` with
    ``body`` (str, or a callable returning it per request). ``target`` is "127.0.0.1:PORT";
    ``requests`` counts scrapes."""

    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self, body: str | Callable[[], str]) -> None:
        self.body = body
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.requests += 1
                text = outer.body() if callable(outer.body) else outer.body
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", outer.CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet: pytest shows stderr of failing tests

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.target = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="exposition", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@contextlib.contextmanager
def serve_exposition(body: str | Callable[[], str]) -> Iterator[Exposition]:
    srv = Exposition(body)
    try:
        yield srv
    finally:
        srv.close()


# -- promtool --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checked:
    """A promtool run: ``ok`` is exit code 0; ``output`` stdout+stderr (what to show on failure)."""

    code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def promtool(*args: str, stdin: str | None = None, timeout: float = 60.0) -> Checked:
    proc = subprocess.run([binary("promtool"), *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return Checked(proc.returncode, (proc.stdout + proc.stderr).strip())


def check_rules(*paths: str | os.PathLike[str]) -> Checked:
    """``promtool check rules``: syntax, PromQL, templates, duplicate rules."""
    return promtool("check", "rules", *map(str, paths))


def test_rules(*paths: str | os.PathLike[str]) -> Checked:
    """``promtool test rules`` on unit-test files (input_series, alert_rule_test, promql_expr_test)."""
    return promtool("test", "rules", *map(str, paths))


test_rules.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test pytest should collect


def check_metrics(exposition: str) -> Checked:
    """``promtool check metrics`` fed ``exposition`` on stdin: exit 1 = unparsable, 3 = lint problems
    (missing HELP, counter without _total, non-base units...)."""
    return promtool("check", "metrics", stdin=exposition)


def check_config(path: str | os.PathLike[str]) -> Checked:
    return promtool("check", "config", str(path))
