"""The controller's end of an agent's exec channel: bounded sends and reads, every wait within a deadline.

herd's small agents on the hosts (the file reader, herd/ssh/fileagent.py;
the process reader, herd/ssh/procagent.py) each speak a protocol of their
own over one exec channel, but read it the same way: lines of bounded
length, exact byte counts, every wait within the request's deadline, and an
agent that falls silent, exits or breaks the connection reported as the
host's error in one sentence naming the agent.  A protocol violation
(:class:`ProtocolError`) is the subclass's to word; it closes the channel.
"""

from __future__ import annotations

import time
from typing import Any

from herd.errors import ConnectError, HostTimeout


class ProtocolError(Exception):
    """The agent's answer is not what the protocol allows."""


class AgentChannel:
    """Reads and writes on an agent's channel for a subclass that speaks its protocol.

    ``agent`` names it in errors ("the log reader"), ``doing`` what a lost
    connection interrupted ("reading files"); ``line_max`` bounds a line
    (``line_word`` names it in the error: "header", "line").
    """

    agent = "the agent"
    doing = "talking to the agent"
    line_max = 256
    line_word = "line"
    chunk = 64 * 1024

    def __init__(self, channel: Any, host: str, timeout: float) -> None:
        self.channel = channel
        self.host = host
        self.timeout = timeout
        self._buffer = bytearray()
        self.broken = False

    def close(self) -> None:
        self.broken = True
        try:
            self.channel.close()
        except Exception:       # closing a dead channel must not mask the real error
            pass

    def _not_understood(self, exc: ProtocolError) -> ConnectError:
        """Close the channel: what the agent answered is not the protocol."""
        self.close()
        return ConnectError(self.host, f"{self.agent} on the host answered something herd does not understand "
                                       f"({exc})")

    def _send(self, data: bytes, deadline: float) -> None:
        try:
            self.channel.settimeout(self._left(deadline))
            self.channel.sendall(data)
        except OSError as exc:
            raise self._lost(exc) from exc

    def _line(self, deadline: float) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end + 1])
                del self._buffer[:end + 1]
                return line
            if len(self._buffer) > self.line_max:
                raise ProtocolError(f"{self.line_word} longer than {self.line_max} bytes")
            self._fill(deadline)

    def _exact(self, count: int, deadline: float) -> bytes:
        while len(self._buffer) < count:
            self._fill(deadline)
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def _fill(self, deadline: float) -> None:
        try:
            self.channel.settimeout(self._left(deadline))
            chunk = self.channel.recv(self.chunk)
        except OSError as exc:      # socket.timeout is an OSError
            raise self._lost(exc) from exc
        if not chunk:
            raise ConnectError(self.host, f"{self.agent} on the host exited (connection lost?)")
        self._buffer += chunk

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._timeout()
        return left

    def _timeout(self) -> HostTimeout:
        return HostTimeout(self.host, f"{self.agent} on the host did not answer within {self.timeout:g} s")

    def _lost(self, exc: OSError) -> Exception:
        if "timed out" in str(exc).lower() or isinstance(exc, TimeoutError):
            return self._timeout()
        return ConnectError(self.host, f"SSH connection lost while {self.doing}: {exc}")
