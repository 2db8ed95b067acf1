"""A headless Chromium driven over the DevTools protocol, for the report's tests (and bench_report.py).

Why this and not Playwright or Selenium: Debian's ``chromium`` package is the browser (the one CI
installs with apt), and the DevTools protocol over one websocket is all a test needs: console errors
(``Runtime.exceptionThrown``, ``Runtime.consoleAPICalled``, ``Log.entryAdded``), every request the page
makes (``Network.requestWillBeSent``), the viewport (``Emulation.setDeviceMetricsOverride``), JavaScript
off (``Emulation.setScriptExecutionDisabled``), DOM reads (``Runtime.evaluate``) and screenshots
(``Page.captureScreenshot``). ``websocket-client`` (pure Python, in the test extra) speaks the
websocket; Playwright would download its own browser build (~150 MB) and chromedriver would add a
second process and protocol for nothing more.

``Browser.start()`` raises ``Unavailable`` (with the reason) when Chromium or websocket-client is
missing, and the tests skip with that reason. Screenshots are decoded with ``png_pixels`` (zlib, the
standard library) to check that a chart's pixels are not blank.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
DESKTOP = (1280, 900, False)
PHONE = (390, 844, True)


class Unavailable(Exception):
    """No browser to drive here: the reason, for a skip."""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Page:
    """The one page of a ``Browser``: send commands, collect the events the tests assert on."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id = ws, 0
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        me = self.next_id
        self.ws.send(json.dumps({"id": me, "method": method, "params": params}))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self._receive(end)
            if msg.get("id") == me:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
        raise TimeoutError(method)

    def wait_for(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        for i, e in enumerate(self.events):
            if e["method"] == event:
                return dict(self.events.pop(i))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self._receive(end)
            if msg.get("method") == event:
                self.events.remove(msg)
                return msg
        raise TimeoutError(event)

    def _receive(self, end: float) -> dict[str, Any]:
        self.ws.settimeout(max(0.05, end - time.monotonic()))
        msg: dict[str, Any] = json.loads(self.ws.recv())
        method = msg.get("method")
        if method is not None:
            p = msg.get("params", {})
            if method == "Runtime.exceptionThrown":
                self.errors.append(str(p.get("exceptionDetails", {}).get("text")) + " "
                                   + str(p.get("exceptionDetails", {}).get("exception", {}).get("description")))
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                self.errors.append(str(p["entry"].get("text")))
            elif method == "Network.requestWillBeSent":
                self.requests.append(str(p.get("request", {}).get("url")))
            self.events.append(msg)
        return msg

    def open(self, url: str, viewport: tuple[int, int, bool] = DESKTOP, script: bool = True) -> float:
        """Load ``url`` at ``viewport`` (width, height, mobile); the seconds to the load event."""
        w, h, mobile = viewport
        self.send("Emulation.setDeviceMetricsOverride", width=w, height=h, deviceScaleFactor=1, mobile=mobile)
        self.send("Emulation.setScriptExecutionDisabled", value=not script)
        self.errors.clear()
        self.requests.clear()
        self.events.clear()
        t0 = time.monotonic()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        return time.monotonic() - t0

    def js(self, expression: str) -> Any:
        """The value of ``expression`` in the page (JSON-able)."""
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:80]}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def screenshot(self, path: Path | None = None, clip: dict[str, float] | None = None,
                   full: bool = True) -> bytes:
        """A PNG of the page (``full``: its whole height), or of ``clip`` (x, y, width, height in CSS px)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        elif full:
            size = self.js("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        data = base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])
        if path is not None:
            path.write_bytes(data)
        return data


class Browser:
    """``with Browser.start() as page:`` a headless Chromium with a private profile, killed on exit."""

    def __init__(self, proc: subprocess.Popen[bytes], profile: str, page: Page) -> None:
        self.proc, self.profile, self.page = proc, profile, page

    @classmethod
    def start(cls, timeout: float = 30.0) -> Browser:
        exe = find_chromium()
        if exe is None:
            raise Unavailable("no Chromium (Debian: apt-get install chromium)")
        try:
            import websocket
        except ImportError:
            raise Unavailable("websocket-client is not installed (pip install websocket-client)") from None
        profile = tempfile.mkdtemp(prefix="memtype-chromium-")
        args = [exe, "--headless=new", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--remote-debugging-port=0", "--remote-allow-origins=*",
                f"--user-data-dir={profile}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            port = _port(profile, timeout)
            page_ws = _page_socket(port, timeout)
            ws = websocket.create_connection(page_ws, timeout=timeout, suppress_origin=True)
            page = Page(ws)
            for domain in ("Page", "Runtime", "Log", "Network"):
                page.send(f"{domain}.enable")
            return cls(proc, profile, page)
        except BaseException:
            _kill(proc)
            shutil.rmtree(profile, ignore_errors=True)
            raise

    def __enter__(self) -> Page:
        return self.page

    def __exit__(self, *exc: object) -> None:
        try:
            self.page.ws.close()
        finally:
            _kill(self.proc)
            shutil.rmtree(self.profile, ignore_errors=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    if proc.stderr is not None:
        proc.stderr.close()


def _port(profile: str, timeout: float) -> int:
    """The DevTools port Chromium chose (it writes DevToolsActivePort into its profile)."""
    end = time.monotonic() + timeout
    path = Path(profile) / "DevToolsActivePort"
    while time.monotonic() < end:
        try:
            first = path.read_text().split("\n", 1)[0]
            if first.isdigit():
                return int(first)
        except OSError:
            pass
        time.sleep(0.05)
    raise Unavailable(f"Chromium did not start its DevTools server within {timeout:.0f} s")


def _page_socket(port: int, timeout: float) -> str:
    import urllib.request

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                for target in json.load(r):
                    if target.get("type") == "page":
                        return str(target["webSocketDebuggerUrl"])
        except OSError:
            pass
        time.sleep(0.1)
    raise Unavailable("Chromium has no page target")


def external(requests: list[str], page_url: str) -> list[str]:
    """The requests that are not the page itself (or an inline data: URL)."""
    return [u for u in requests if u != page_url and not u.startswith(("data:", "about:"))]


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = depth = colour = 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def colours(data: bytes, step: int = 3) -> dict[tuple[int, int, int], int]:
    """How many sampled pixels (every ``step``-th in both directions) have each RGB colour."""
    width, height, rows = png_pixels(data)
    bpp = len(rows[0]) // width if rows else 3
    seen: dict[tuple[int, int, int], int] = {}
    for y in range(0, height, step):
        row = rows[y]
        for x in range(0, width, step):
            px = (row[x * bpp], row[x * bpp + 1], row[x * bpp + 2])
            seen[px] = seen.get(px, 0) + 1
    return seen


def hex_rgb(colour: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"#?([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})", colour)
    assert m, colour
    return (int(m[1], 16), int(m[2], 16), int(m[3], 16))
