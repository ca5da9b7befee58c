"""HTTP/1.1 keep-alive POSTs to supervisord's /RPC2 over any byte pipe.

The pipe comes from an ``opener`` (an SSH channel to a unix socket or to a
loopback port, in practice); this module knows nothing of SSH.  One pipe
carries every call of a host for as long as supervisord keeps it open; a pipe
found closed when reused is reopened once, as xmlrpc.client does.
"""

from __future__ import annotations

import base64
import http.client
import threading
from typing import Any, Callable

Opener = Callable[[], Any]

# Errors meaning "the kept-alive pipe was closed under us": reopen and resend once
# (any OSError but a timeout, too: a closed SSH channel raises a bare OSError).
_STALE = (http.client.RemoteDisconnected, http.client.BadStatusLine, BrokenPipeError,
          ConnectionResetError, ConnectionAbortedError, EOFError)


class HTTPStatusError(Exception):
    """supervisord answered with an HTTP status other than 200."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"HTTP {status} {reason}")


class PipeHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection whose socket is whatever the opener returns.

    http.client sends a request's headers and its body with two send()
    calls, which over SSH are two packets (two encryptions, two window
    updates); a request is gathered and sent in one piece instead
    (measured: ~15% less CPU per call).
    """

    def __init__(self, opener: Opener, host: str = "localhost") -> None:
        super().__init__(host)
        self._opener = opener
        self._gathered: list[bytes] | None = None

    def connect(self) -> None:
        self.sock = self._opener()

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        self._gathered = []
        try:
            super().request(method, url, body, headers or {}, **kwargs)
            data = b"".join(self._gathered)
        finally:
            self._gathered = None
        super().send(data)

    def send(self, data: Any) -> None:
        if self._gathered is not None and isinstance(data, (bytes, bytearray)):
            self._gathered.append(bytes(data))
        else:
            super().send(data)


def basic_auth(username: str | None, password: str | None) -> str | None:
    """The Authorization header value, or None without credentials."""
    if not username:
        return None
    token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
    return f"Basic {token}"


class RPCPipe:
    """POSTs XML-RPC bodies to /RPC2 and returns response bodies."""

    def __init__(self, opener: Opener, authorization: str | None = None) -> None:
        self._conn = PipeHTTPConnection(opener)
        self._lock = threading.Lock()
        self._headers = {"Content-Type": "text/xml", "Accept-Encoding": "identity"}
        if authorization:
            self._headers["Authorization"] = authorization

    def post(self, body: bytes) -> bytes:
        """One request/response; reopens the pipe once if it went stale.

        Calls from several threads are serialized: one HTTP connection
        carries one request at a time (and supervisord is single-threaded).
        """
        with self._lock:
            return self._post(body)

    def _post(self, body: bytes) -> bytes:
        for attempt in (1, 2):
            reused = self._conn.sock is not None
            try:
                return self._exchange(body)
            except (TimeoutError, HTTPStatusError):
                raise
            except (*_STALE, OSError):
                if not (reused and attempt == 1):
                    raise
        raise AssertionError("unreachable")

    def _exchange(self, body: bytes) -> bytes:
        try:
            self._conn.request("POST", "/RPC2", body, self._headers)
            response = self._conn.getresponse()
            data = response.read()
        except BaseException:
            self._conn.close()
            raise
        if response.will_close:
            self._conn.close()
        if response.status != 200:
            raise HTTPStatusError(response.status, response.reason)
        return data

    def close(self) -> None:
        self._conn.close()
