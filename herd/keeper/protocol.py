"""Frames between a command and its keeper: a 4-byte length, then one JSON object.

Client to keeper: ``{"op": "run", ...}`` (a command line and what it runs
under, see client.py), ``{"op": "status"}``, ``{"op": "stop"}``; while a
command runs, ``{"op": "interrupt"}``: the user's Ctrl-C (or SIGTERM), which
the keeper passes on to the command (server.py; once: later ones are
ignored).
Keeper to client, for a run: ``{"kind": "accepted"}`` or ``{"kind":
"refused", "reason": ...}`` at once; to "accepted" the client answers
``{"op": "go"}``, and only then does the command start (client.py: a
command runs once, in the keeper or in the client, never both); then
``{"kind": "alive"}`` every HEARTBEAT seconds while the command runs, and
``{"kind": "done", "code": N, "output": [[stream, base64], ...]}`` (or
``{"kind": "failed", "reason": ...}`` when it raised inside the keeper).
Output is the bytes the command wrote, in order, stdout and stderr
interleaved as written.

Nothing secret is ever sent to the client: it gets its command's output,
the keeper's pid and counts.  The peer's uid is checked on both sides
(SO_PEERCRED) before anything else.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

MAX_FRAME = 256 * 1024 * 1024   # a command's output is bounded by herd's own 64 MiB per answer
HEARTBEAT = 0.5                 # seconds between "alive" frames while a command runs
SILENCE = 3.0                   # a keeper silent this long is taken as hung


class ProtocolError(Exception):
    """The other side closed, sent garbage, or was silent past the deadline."""


class Silence(ProtocolError):
    """The other side was silent past the deadline (it may still be working: a stalled keeper)."""


class Closed(ProtocolError):
    """The other side closed the connection (it may have died)."""


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def receive(sock: socket.socket) -> dict[str, Any]:
    """One frame; Closed on EOF, Silence past the socket's timeout, ProtocolError on a malformed frame."""
    (length,) = struct.unpack(">I", _exactly(sock, 4))
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes")
    try:
        message = json.loads(_exactly(sock, length))
    except ValueError as exc:
        raise ProtocolError(f"unreadable frame: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("frame is not an object")
    return message


def _exactly(sock: socket.socket, count: int) -> bytes:
    chunks, left = [], count
    while left:
        try:
            chunk = sock.recv(min(left, 1 << 20))
        except (socket.timeout, TimeoutError) as exc:
            raise Silence("no answer in time") from exc
        except OSError as exc:
            raise Closed(exc.strerror or str(exc)) from exc
        if not chunk:
            raise Closed("connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a unix socket (Linux SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def same_user(sock: socket.socket) -> bool:
    """True when the peer runs as this process's uid."""
    try:
        return peer_uid(sock) == os.getuid()
    except OSError:
        return False
