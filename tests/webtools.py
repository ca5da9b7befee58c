"""Driving ``herd web`` in tests: the real command over a real fleet, or the real app over fakes, and a real browser.

* :func:`start_web` runs ``python -m herd web`` (a subprocess, like a user)
  and reads the URL with its token from its first lines.
* :func:`serve_dashboard` serves a Dashboard (e.g. over herd.testing.fake
  hosts) with the real Starlette app under a real uvicorn, in a thread.
* :func:`http` is a plain HTTP/1.1 client (http.client) that sends exactly
  the headers given, Host included.
* :func:`chrome` is Debian's chromium under its chromedriver, headless, with
  a fresh profile, and without the background traffic this closed network
  refuses.
"""

from __future__ import annotations

import contextlib
import http.client as httpclient
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from helpers import herd_env, wait_until

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000"]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebServer:
    url: str            # with ?token=
    base: str           # http://127.0.0.1:PORT
    token: str
    port: int
    proc: subprocess.Popen | None = None
    audit: Path | None = None
    output: list[str] = field(default_factory=list)
    stop_func: Callable[[], None] | None = None
    app: Any = None     # serve_dashboard's herd.web.app.Web (its guard makes sessions for tests)

    def login(self) -> tuple[str, str]:
        """(cookie header value, csrf token) of a fresh browser session."""
        answer = http("GET", self.base, f"/?token={self.token}")
        assert answer.status == 303, answer
        cookie = answer.headers["set-cookie"].split(";", 1)[0]
        csrf = http("GET", self.base, "/api/session", headers={"Cookie": cookie}).json()["csrf"]
        return cookie, csrf

    def post(self, path: str, body: Any, cookie: str, csrf: str | None, **headers: str) -> Answer:
        sent = {"Cookie": cookie, "Content-Type": "application/json", **headers}
        if csrf is not None:
            sent["X-CSRF-Token"] = csrf
        return http("POST", self.base, path, headers=sent, body=json.dumps(body).encode())

    def get(self, path: str, cookie: str) -> Answer:
        return http("GET", self.base, path, headers={"Cookie": cookie})

    def stop(self) -> str:
        """Stop it (SIGTERM, as a service manager would) and return everything it printed."""
        if self.stop_func is not None:
            self.stop_func()
            return ""
        assert self.proc is not None
        self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.output += [out, err]
        return "".join(self.output)


def http(method: str, base: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | None = None,
         timeout: float = 60) -> Answer:
    parts = urlsplit(base)
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host="Host" in (headers or {}), skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


class Events:
    """A server-sent event stream (``/api/events``, ``/api/logs/follow?...``), read event by event."""

    def __init__(self, web: WebServer, cookie: str, path: str = "/api/events", timeout: float = 10) -> None:
        self.conn = httpclient.HTTPConnection("127.0.0.1", web.port, timeout=timeout)
        self.conn.request("GET", path, headers={"Cookie": cookie})
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.read()
        assert self.response.getheader("content-type").startswith("text/event-stream")

    def next(self) -> tuple[str, Any]:
        kind = None
        while True:
            raw = self.response.fp.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                return kind, json.loads(line[6:])

    def close(self) -> None:
        self.conn.close()


def start_web(inventory: Path | None, home: Path, *args: str, timeout: float = 30) -> WebServer:
    """``herd web -i INVENTORY --listen 127.0.0.1:0 ARGS`` until it prints its URL (no -i when
    ``inventory`` is None: ARGS name the inventories, ``--env NAME=INVENTORY``)."""
    audit = home / "audit.jsonl"
    chosen = ["-i", str(inventory)] if inventory is not None else []
    proc = subprocess.Popen([sys.executable, "-m", "herd", "web", *chosen, "--listen", "127.0.0.1:0",
                             "--audit-log", str(audit), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=herd_env(home),
                            stdin=subprocess.DEVNULL, text=True)
    seen = ""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while not re.search(r"\?token=\S+\n", seen) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536).decode()
            if not chunk and proc.poll() is not None:
                break
            seen += chunk
    match = re.search(r"(https?://[^/\s]+)/\?token=(\S+)", seen)
    if match is None:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"herd web did not start: {seen}{out}{err}")
    base, token = match.group(1), match.group(2)
    return WebServer(f"{base}/?token={token}", base, token, int(base.rsplit(":", 1)[1]), proc, audit, [seen])


def serve_dashboard(dashboard: Any, tmp: Path, *, read_only: bool = False, access: Any = None) -> WebServer:
    """The real app and uvicorn over ``dashboard`` (or {environment: dashboard}), in this process (stop()
    shuts it down); ``access``: who may do what (herd/web/access.py; default: everything)."""
    import uvicorn

    from herd.web.app import Web, create_app
    from herd.audit import AuditTrail
    from herd.web.security import Guard, new_token

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    token = new_token()
    audit = AuditTrail(tmp / "audit.jsonl")
    web = Web(dashboard, Guard(token, port, "127.0.0.1"), audit, read_only=read_only, access=access)
    server = uvicorn.Server(uvicorn.Config(create_app(web), log_level="warning", access_log=False,
                                           lifespan="on", timeout_graceful_shutdown=1))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "uvicorn to start", interval=0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        web.close()
        audit.close()
        sock.close()

    base = f"http://127.0.0.1:{port}"
    return WebServer(f"{base}/?token={token}", base, token, port, audit=tmp / "audit.jsonl", stop_func=stop,
                     app=web)


def shot(driver: Any, name: str) -> None:
    """``HERD_SCREENSHOTS=DIR``: save what the browser shows as DIR/NAME (the docs' screenshots)."""
    folder = os.environ.get("HERD_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / name))


@contextlib.contextmanager
def browsing() -> Iterator[Any]:
    """chrome(), quit at the end (the browser fixtures' body)."""
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


def chrome() -> Any:
    """A headless chromium (Debian's, with its chromedriver) with a fresh profile; quit() it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="herd-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROME_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    driver = webdriver.Chrome(options=options, service=service)
    original_quit = driver.quit

    def quit() -> None:
        try:
            original_quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    driver.quit = quit  # type: ignore[method-assign]
    return driver


def wait_for(predicate: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something true (exceptions count as not yet: a stale element)."""
    return wait_until(predicate, timeout, what, ignoring=(Exception,))
