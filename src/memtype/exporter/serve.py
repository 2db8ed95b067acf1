"""Where the metrics go: an HTTP server for Prometheus to scrape, or a file for node_exporter.

The server is prometheus_client's WSGI app (``make_wsgi_app``): it negotiates the text format or
OpenMetrics from the Accept header (OpenMetrics ends with ``# EOF``), gzips when the scraper accepts
it, and honours ``?name[]=`` filters; ``CachedApp`` keeps its answers until the next sample (a
scrape then costs no encoding). It is served by prometheus_client's threading WSGI server with a
request handler that logs nothing and drops a client that sends nothing for ``REQUEST_TIMEOUT``
seconds (wsgiref waits for ever otherwise, and each waiting client holds a thread).

The default address is loopback (``127.0.0.1``): what the metrics show (program names, users,
cgroups) is the host's, so serving them further is the operator's decision (``--listen``). The port
is 10221: the exporters' block of Prometheus's "default port allocations" (9100-9999) is full, and
10221 is used by no well-known exporter (node_exporter 9100, process-exporter 9256, cAdvisor 8080).

``write_textfile`` writes node_exporter's textfile-collector file as root safely: a new temporary
file in the same directory (``O_EXCL | O_NOFOLLOW``: never through a link an attacker planted), fsync,
then ``rename`` over the target (atomic: node_exporter reads the old file or the new one, never half;
rename replaces a link there rather than following it). prometheus_client's ``write_to_textfile``
opens a predictable name that follows links, so it is not used.
"""

from __future__ import annotations

import gzip
import os
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.core import Metric
from prometheus_client.exposition import ThreadingWSGIServer, choose_encoder, gzip_accepted
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from memtype.errors import MemtypeError, OutputError

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 10221
REQUEST_TIMEOUT = 30.0  # seconds a client may stay silent before its connection is dropped
TEXTFILE_MODE = 0o644  # node_exporter runs as its own user and must read it; it holds no command line


class CachedApp:
    """prometheus_client's WSGI app, its encoding kept until the next sample.

    What a scrape serves is a function of the Feed's snapshot but for its live families (the data's
    age: ``live``). So the families of a sample are encoded once per variant (text or OpenMetrics,
    ``name[]`` filters) rather than per scrape: prometheus_client spends ~20 us per series encoding
    (17 ms for 1,000 series on this VM), which every scrape would otherwise pay, under the GIL the
    sampler thread also needs. ``prewarm`` (called by the sampler thread before a sample is served)
    encodes the variants asked for so far, so a scrape finds its answer ready; each scrape then adds
    the live families and gzips when asked (~1 ms for 100 KiB). The negotiation, the encoders and
    the filters are prometheus_client's (``make_wsgi_app``, ``choose_encoder``, ``gzip_accepted``).
    """

    MAX_VARIANTS = 8  # distinct (format, filter) answers kept per sample: a client cannot grow it

    def __init__(self, registry: Any, current: Callable[[], object],
                 live: Callable[[object], list[Metric]] = lambda snap: []) -> None:
        self.app = make_wsgi_app(registry)
        self.current, self.live = current, live
        self._lock = threading.Lock()
        # the answers of the last two samples: the latest (served) and the one being prewarmed
        self._answers: list[tuple[object, dict[_Key, _Answer]]] = []
        self._asked: dict[_Key, dict[str, str]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") == "/favicon.ico":
            return list(self.app(environ, start_response))
        request = {k: environ.get(k) or "" for k in ("HTTP_ACCEPT", "QUERY_STRING")}
        try:
            encoder, content_type = choose_encoder(request["HTTP_ACCEPT"])
            names = tuple(sorted(parse_qs(request["QUERY_STRING"]).get("name[]", [])))
        except Exception:  # an Accept header prometheus_client cannot parse: its own answer, uncached
            return list(self.app(environ, start_response))
        key = (content_type, names)
        snap = self.current()
        with self._lock:
            found = next((answers.get(key) for s, answers in self._answers if s is snap), None)
            if len(self._asked) < self.MAX_VARIANTS or key in self._asked:
                self._asked[key] = request
        if found is None:
            found = self._encode(key, request, snap)
        status, headers, body = found
        live = [m for m in self.live(snap) if not names or any(n.startswith(m.name) for n in names)]
        if live:
            tail = encoder(_Families(live))
            eof = b"# EOF\n"
            if body.endswith(eof) and tail.endswith(eof):  # OpenMetrics: one EOF, at the end
                body = body[: -len(eof)] + tail
            else:
                body += tail
        headers = list(headers)
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING") or ""):
            body = gzip.compress(body)
            headers.append(("Content-Encoding", "gzip"))
        start_response(status, headers)
        return [body]

    def prewarm(self, snap: object) -> None:
        """Encode every variant asked for so far, for ``snap`` (the sample about to be served; the
        collector already reads it)."""
        with self._lock:
            asked = list(self._asked.items())
        for key, request in asked:
            self._encode(key, request, snap)

    def _encode(self, key: _Key, request: dict[str, str], snap: object) -> _Answer:
        got: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
            got["status"], got["headers"] = status, headers

        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", **request}  # no Accept-Encoding: identity
        body = b"".join(self.app(environ, start))
        answer = (str(got["status"]), list(got["headers"]), body)
        with self._lock:
            answers = next((a for s, a in self._answers if s is snap), None)
            if answers is None:
                answers = {}
                self._answers = [*self._answers[-1:], (snap, answers)]
            if len(answers) < self.MAX_VARIANTS:
                answers[key] = answer
        return answer


class _Families:
    """A few families as something prometheus_client's encoders take (``collect()``)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


_Key = tuple[str, tuple[str, ...]]
_Answer = tuple[str, list[tuple[str, str]], bytes]


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[IPv6]:PORT``, ``:PORT`` (every interface) or ``PORT`` (loopback) -> (address, port).

    Port 0 asks the kernel for a free one (the server says which). Raises ValueError (one line)."""
    t = text.strip()
    if t.isdigit():
        host, port_text = DEFAULT_ADDRESS, t
    elif t.startswith("["):
        host, sep, port_text = t[1:].partition("]:")
        if not sep:
            raise ValueError(f"not ADDR:PORT: {text!r} (an IPv6 address is written [::1]:{DEFAULT_PORT})")
    else:
        host, sep, port_text = t.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"not ADDR:PORT: {text!r} (e.g. 127.0.0.1:{DEFAULT_PORT}, [::1]:{DEFAULT_PORT})")
        host = host or "0.0.0.0"
    if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5 and int(port_text) <= 65535):
        raise ValueError(f"not a port (0 to 65535): {port_text!r}")
    return host, int(port_text)


class _QuietHandler(WSGIRequestHandler):
    """Logs nothing (a scrape every 15 s is no news) and times out silent clients."""

    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server:
    """``app`` (a WSGI app: ``CachedApp``, or ``make_wsgi_app(registry)``) on ``address:port``, at
    any path, in a daemon thread (``start``).

    Raises:
        MemtypeError: the address does not resolve, or the port cannot be bound (in use, refused).
    """

    def __init__(self, app: Callable[..., Any], address: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT) -> None:
        self.app = app
        try:
            infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except (socket.gaierror, UnicodeError) as exc:
            raise MemtypeError(f"cannot listen on {_shown(address, port)}: {_reason(exc)}") from None
        family, _, _, _, sockaddr = infos[0]
        host = str(sockaddr[0])

        class _Server(ThreadingWSGIServer):
            address_family = family

        try:
            self.httpd = make_server(host, port, app, _Server, handler_class=_QuietHandler)
        except OSError as exc:
            raise MemtypeError(f"cannot listen on {_shown(address, port)}: {_reason(exc)}") from None
        self.address, self.port = host, int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="memtype-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
        self.httpd.server_close()


def render(registry: CollectorRegistry, openmetrics: bool = False) -> bytes:
    """The exposition: Prometheus text format 0.0.4, or OpenMetrics 1.0 (ends with ``# EOF``)."""
    return generate_openmetrics(registry) if openmetrics else generate_latest(registry)  # type: ignore[no-untyped-call]


def write_textfile(path: str, data: bytes, mode: int = TEXTFILE_MODE) -> None:
    """Replace ``path`` by a file holding ``data``, atomically and without following links (module
    docstring). node_exporter reads only ``*.prom``; the temporary name starts with a dot and ends in
    ``.tmp``, so it never reads one.

    Raises:
        OutputError: the directory is missing or not writable, the target is a directory, the disk is full.
    """
    directory, name = os.path.split(os.path.abspath(path))
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {directory}: {_reason(exc)}") from None
    tmp = f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
        try:
            os.fchmod(fd, mode)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            _unlink(tmp, dfd)
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
        os.close(fd)
        try:
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as exc:
            _unlink(tmp, dfd)
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
    finally:
        os.close(dfd)


def _unlink(name: str, dfd: int) -> None:
    try:
        os.unlink(name, dir_fd=dfd)
    except OSError:
        pass


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _shown(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
