"""A TCP socket that acknowledges every segment at once (TCP_QUICKACK).

OpenSSH's sshd leaves Nagle's algorithm on for forwarded channels.  When
supervisord writes its HTTP response in two pieces, sshd sends two SSH
packets and holds the second until the client ACKs the first, while the
client's kernel delays that ACK by ~40 ms.  The same happens to the first
channel open after authentication (held behind sshd's hostkeys-00 global
request, to which a client sends no reply).  Measured on loopback: first RPC
46 ms -> 7 ms, first channel open 43 ms -> 2 ms.

Linux clears TCP_QUICKACK on its own, so it is set again after every read.
paramiko's packetizer only calls recv/send/settimeout/close on the socket it
is given, so a thin wrapper is enough and no paramiko internal is touched.
"""

from __future__ import annotations

import socket
from typing import Any

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only; elsewhere a plain socket


class QuickAckSocket:
    """Wraps a connected TCP socket; re-arms TCP_QUICKACK after each recv."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._arm()

    def recv(self, size: int, flags: int = 0) -> bytes:
        data = self._sock.recv(size, flags)
        self._arm()
        return data

    def _arm(self) -> None:
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK or 0, 1)
        except OSError:
            pass  # closed under us: the next recv reports it

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def quickack(sock: socket.socket) -> Any:
    """The socket wrapped where the platform has TCP_QUICKACK, else unchanged."""
    return QuickAckSocket(sock) if _QUICKACK is not None else sock
