"""Idle SSH connections that cost no CPU: paramiko's thread sleeps on its socket, not in 0.1 s naps.

paramiko's Transport thread reads its socket with a 0.1 s timeout
(``Transport._active_check_timeout``) and, at each timeout, checks whether
it was closed, whether it must rekey, and whether a keepalive is due.  A
connection nobody uses thus wakes ten times a second: measured, 0.064 % of a
core per connection, 6.4 % for the 100 connections ``herd web`` keeps open
(docs/benchmarks.md).  Once authenticated, herd gives the socket a timeout of
``IDLE_WAKE`` seconds instead; what the short naps were for is covered:

* closing: :class:`WakeOnClose` shuts the socket down before closing it, so
  a thread blocked in ``recv`` returns at once (``recv`` of a shut-down
  socket gives end of file) instead of at its next timeout; paramiko's
  ``Transport.close()`` and its packetizer close through it;
* rekeying: paramiko starts a rekey it needs (after 2**20 packets or about
  a gigabyte) before its next read; herd's connections get an answer for
  every request, so the next read is never far off;
* keepalive: herd asks paramiko for no SSH keepalive (TCP's SO_KEEPALIVE,
  set on the socket, is the kernel's and is not affected).  A keepalive set
  later on a transport would be sent up to ``IDLE_WAKE`` late, so
  :func:`calm` takes the shorter of the two when one is set.

The handshake and authentication keep paramiko's 0.1 s (their own timeouts
are checked at those wake-ups).
"""

from __future__ import annotations

import socket
from typing import Any

import paramiko

IDLE_WAKE = 10.0   # seconds an idle transport thread sleeps in recv


class WakeOnClose:
    """A transport's socket whose ``close()`` first wakes a thread blocked reading it.

    ``recv``, ``send`` and ``settimeout`` are the wrapped socket's own
    (bound once: no per-call indirection on the hot path).
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.recv = sock.recv
        self.send = sock.send
        self.settimeout = sock.settimeout

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass    # not connected any more, or already closed: nothing is blocked on it
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def calm(transport: paramiko.Transport, wake: float = IDLE_WAKE) -> None:
    """An authenticated transport's thread wakes every ``wake`` seconds at most (not every 0.1 s)."""
    keepalive = getattr(transport.packetizer, "_Packetizer__keepalive_interval", 0) or 0
    if keepalive:
        wake = min(wake, float(keepalive))
    transport.sock.settimeout(wake)
