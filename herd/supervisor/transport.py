"""HTTP/1.1 keep-alive POSTs to supervisord's /RPC2 over any byte pipe.

The pipe comes from an ``opener`` (an SSH channel to a unix socket or to a
loopback port, in practice); this module knows nothing of SSH.  One pipe
carries every call of a host for as long as supervisord keeps it open; a pipe
found closed when reused is reopened once, as xmlrpc.client does.

Whatever is on the other end may be broken or hostile, so every exchange is
bounded:

* in time: a call (request sent, whole answer read) must be over within
  ``timeout`` seconds however the answer comes (all at once, a byte every
  half second, never); each read from the pipe waits only for what is left;
* in size: an answer larger than ``MAX_ANSWER`` (64 MiB, room for some
  50,000 processes in getAllProcessInfo or herd's largest log read, a 16 MiB
  window) raises AnswerTooLarge and the pipe is closed; a too-large
  Content-Length is refused before reading, an answer without one is read
  in 1 MiB pieces and refused once past the limit.  http.client bounds the
  status line and headers (64 KiB a line, 100 headers).
"""

from __future__ import annotations

import base64
import http.client
import io
import threading
import time
from typing import Any, Callable

Opener = Callable[[], Any]

MAX_ANSWER = 64 * 1024 * 1024   # bytes of one XML-RPC answer (docs/commands.md says it)
_PIECE = 1024 * 1024

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


class AnswerTooLarge(Exception):
    """An answer was (or announced itself as) larger than MAX_ANSWER."""


class BoundedPipe:
    """The opener's pipe, with every send and receive bounded by the current exchange's deadline.

    http.client reads through ``makefile()`` and writes with ``sendall()``;
    both wait at most until ``deadline`` (a time.monotonic() value), then
    raise TimeoutError.  A drip of one byte now and then cannot keep a call
    alive past it, as a plain per-read timeout would.  As with a socket,
    close() waits for the last reader made by makefile() to be closed
    (http.client closes the connection of a ``Connection: close`` answer
    before reading its body).
    """

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.deadline: float | None = None
        self._readers = 0
        self._closing = False

    def _wait(self) -> None:
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call's time ran out")
        self.pipe.settimeout(left)

    def recv_into(self, buffer: Any) -> int:
        self._wait()
        data = self.pipe.recv(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def sendall(self, data: bytes) -> None:
        self._wait()
        self.pipe.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_PipeReader(self))

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._closing and self._readers <= 0:
            self.pipe.close()

    def close(self) -> None:
        self._closing = True
        if self._readers <= 0:
            self.pipe.close()


class _PipeReader(io.RawIOBase):
    def __init__(self, pipe: BoundedPipe) -> None:
        self._pipe = pipe

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._pipe.recv_into(memoryview(buffer).cast("B"))

    def close(self) -> None:
        if not self.closed:
            self._pipe.reader_closed()
        super().close()


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
        self.deadline: float | None = None
        self.connections = 0

    def connect(self) -> None:
        pipe = BoundedPipe(self._opener())
        pipe.deadline = self.deadline
        self.sock = pipe
        self.connections += 1

    def bound(self, deadline: float) -> None:
        """Every send and receive from now on ends by ``deadline`` (time.monotonic())."""
        self.deadline = deadline
        if isinstance(self.sock, BoundedPipe):
            self.sock.deadline = deadline

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
    """POSTs XML-RPC bodies to /RPC2 and returns response bodies.

    ``timeout`` bounds each post() as a whole (both attempts, when a stale
    pipe is reopened): TimeoutError past it.
    """

    def __init__(self, opener: Opener, authorization: str | None = None, *, timeout: float | None = None,
                 max_answer: int = MAX_ANSWER) -> None:
        self._conn = PipeHTTPConnection(opener)
        self._timeout = timeout
        self._max_answer = max_answer
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
        if self._timeout is not None:
            self._conn.bound(time.monotonic() + self._timeout)
        for attempt in (1, 2):
            reused = self._conn.sock is not None
            try:
                return self._exchange(body)
            except (TimeoutError, HTTPStatusError, AnswerTooLarge):
                raise
            except (*_STALE, OSError):
                if not (reused and attempt == 1):
                    raise
        raise AssertionError("unreachable")

    def _exchange(self, body: bytes) -> bytes:
        try:
            self._conn.request("POST", "/RPC2", body, self._headers)
            response = self._conn.getresponse()
            data = self._read(response)
        except BaseException:
            self._conn.close()
            raise
        if response.will_close:
            self._conn.close()
        if response.status != 200:
            raise HTTPStatusError(response.status, response.reason)
        return data

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        """The whole body, refused once it is larger than the limit (never buffered past it)."""
        if response.length is not None and response.length > self._max_answer:
            raise AnswerTooLarge(response.length)
        pieces: list[bytes] = []
        size = 0
        while True:
            piece = response.read(_PIECE)
            if not piece:
                if response.length:  # closed before the announced end
                    raise http.client.IncompleteRead(b"", response.length)
                return b"".join(pieces)
            size += len(piece)
            if size > self._max_answer:
                raise AnswerTooLarge(size)
            pieces.append(piece)

    @property
    def max_answer(self) -> int:
        return self._max_answer

    @property
    def connections(self) -> int:
        """How many times the pipe was opened (a reopened pipe may reach another supervisord)."""
        return self._conn.connections

    def close(self) -> None:
        self._conn.close()
