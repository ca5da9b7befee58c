"""Reading files on a host through one exec channel: a tiny agent and its protocol.

``herd tail`` of an app's own log files (and ``--file``) reads them with a
small Python script started on the host through herd/ssh/remote.py (so it
runs under sudo wherever the relay does, and with the same interpreter).  It
stays up for the whole tail or follow: a poll is one round trip on the same
channel, never a new SSH handshake or process.  SFTP is not used: it cannot
run under sudo.

Protocol (bytes; herd keeps every offset, the agent keeps no state)::

    herd  -> agent   N\\n  then N lines:  read HEXPATH OFFSET LENGTH\\n
    agent -> herd    per request, in order:
                       D DEV INO SIZE START COUNT\\n  then COUNT bytes
                       E ERRNO\\n

``OFFSET`` < 0 counts from the end of the file (``-4096``: the last 4 KiB);
``LENGTH`` 0 only stats the file.  The agent reads at most ``MAX_READ``
bytes per request and refuses what is not a regular file (EISDIR/EINVAL).
It sends an errno and no text: herd words the error itself, so nothing
the host says reaches the user's terminal but file contents.

Everything the agent answers is checked before use: header lines are
bounded and matched exactly, counts must fit what was asked, and every wait
is bounded by the connection's timeout.  A violation ends the agent (its
channel is closed) as a host error.
"""

from __future__ import annotations

import binascii
import errno as errnos
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Sequence, Union

from herd.ssh.agentchannel import AgentChannel, ProtocolError

MAX_READ = 1024 * 1024          # bytes per request, enforced on both sides
MAX_BATCH = 256                 # requests per round trip
_HEADER_MAX = 128
_DATA = re.compile(rb"D (\d{1,20}) (\d{1,20}) (\d{1,20}) (\d{1,20}) (\d{1,9})\n\Z")
_ERROR = re.compile(rb"E (\d{1,5})\n\Z")

AGENT_SCRIPT = r"""
import os, sys, stat, errno, binascii
limit = int(sys.argv[1])
inp = getattr(sys.stdin, "buffer", sys.stdin)
def out(data):
    while data:
        data = data[os.write(1, data):]
def answer(path, offset, length):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, IOError) as e:
        return ("E %d\n" % (e.errno or 0)).encode("ascii")
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            return ("E %d\n" % errno.EISDIR).encode("ascii")
        if not stat.S_ISREG(st.st_mode):
            return ("E %d\n" % errno.EINVAL).encode("ascii")
        size = st.st_size
        start = max(0, size + offset) if offset < 0 else offset
        want = max(0, min(length, limit, size - start))
        chunks, got = [], 0
        if want:
            os.lseek(fd, start, 0)
            while got < want:
                chunk = os.read(fd, want - got)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        head = "D %d %d %d %d %d\n" % (st.st_dev, st.st_ino, max(size, start + got) if got else size, start, got)
        return head.encode("ascii") + b"".join(chunks)
    except (OSError, IOError) as e:
        return ("E %d\n" % (e.errno or 0)).encode("ascii")
    finally:
        os.close(fd)
out(b"+")
while True:
    line = inp.readline()
    if not line:
        break
    replies = []
    for _ in range(int(line)):
        op, path, offset, length = inp.readline().split()
        replies.append(answer(binascii.unhexlify(path), int(offset), int(length)))
    out(b"".join(replies))
""".strip()


@dataclass(frozen=True)
class ReadRequest:
    """Read ``length`` bytes of ``path`` from ``offset`` (< 0: from the end); 0 only stats."""

    path: str
    offset: int
    length: int

    def line(self) -> bytes:
        hexpath = binascii.hexlify(os.fsencode(self.path)).decode("ascii")
        return f"read {hexpath} {self.offset} {min(self.length, MAX_READ)}\n".encode("ascii")


@dataclass(frozen=True)
class FileData:
    """What the agent read: the file's identity and size, and ``data`` from offset ``start``."""

    dev: int
    ino: int
    size: int
    start: int
    data: bytes

    @property
    def ident(self) -> tuple[int, int]:
        return self.dev, self.ino

    @property
    def end(self) -> int:
        return self.start + len(self.data)


@dataclass(frozen=True)
class FileFailure:
    """The agent could not read the file: ``errno`` as seen on the host."""

    path: str
    errno: int

    @property
    def missing(self) -> bool:
        return self.errno in (errnos.ENOENT, errnos.ENOTDIR)

    @property
    def reason(self) -> str:
        """Why, in a few words, worded here (the host sends only the number)."""
        if self.missing:
            return "no such file"
        if self.errno in (errnos.EACCES, errnos.EPERM):
            return "permission denied"
        if self.errno == errnos.EISDIR:
            return "is a directory"
        if self.errno == errnos.EINVAL:
            return "not a regular file"
        return os.strerror(self.errno) if 0 < self.errno < 4096 else f"error {self.errno}"


Answer = Union[FileData, FileFailure]


def parse_header(line: bytes) -> tuple[str, tuple[int, ...]]:
    """("D", (dev, ino, size, start, count)) or ("E", (errno,)) from one header line."""
    match = _DATA.match(line)
    if match:
        return "D", tuple(int(g) for g in match.groups())
    match = _ERROR.match(line)
    if match:
        return "E", (int(match.group(1)),)
    raise ProtocolError(f"unexpected answer {line[:40]!r}")


def check_data(request: ReadRequest, fields: tuple[int, ...]) -> tuple[int, int, int, int, int]:
    """The fields of a D answer, if they fit ``request`` (ProtocolError otherwise)."""
    dev, ino, size, start, count = fields
    if count > min(request.length, MAX_READ) or (count and start + count > size):
        raise ProtocolError(f"{count} bytes at {start} of a {size}-byte file, asked {request.length}")
    expected = max(0, size + request.offset) if request.offset < 0 else request.offset
    if start != expected:
        raise ProtocolError(f"read from {start}, asked {request.offset}")
    return dev, ino, size, start, count


class FileAgent(AgentChannel):
    """The client side: batches of ReadRequests over the agent's channel."""

    agent = "the log reader"
    doing = "reading files"
    line_max = _HEADER_MAX
    line_word = "header"
    chunk = 256 * 1024

    def read(self, requests: Sequence[ReadRequest], *, budget: float | None = None) -> list[Answer]:
        """One round trip: an answer per request, in order, within ``budget`` seconds."""
        if not requests:
            return []
        if len(requests) > MAX_BATCH:
            return self.read(requests[:MAX_BATCH], budget=budget) + self.read(requests[MAX_BATCH:], budget=budget)
        deadline = time.monotonic() + (self.timeout if budget is None else budget)
        try:
            self._send(f"{len(requests)}\n".encode("ascii") + b"".join(r.line() for r in requests), deadline)
            return [self._answer(r, deadline) for r in requests]
        except ProtocolError as exc:
            raise self._not_understood(exc) from exc
        except BaseException:
            self.close()
            raise

    def _answer(self, request: ReadRequest, deadline: float) -> Answer:
        kind, fields = parse_header(self._line(deadline))
        if kind == "E":
            return FileFailure(request.path, fields[0])
        dev, ino, size, start, count = check_data(request, fields)
        return FileData(dev, ino, size, start, self._exact(count, deadline))


def open_file_agent(access: Any, timeout: float) -> FileAgent:
    """Start the agent on a host (a HostAccess, herd/fleet/access.py): one exec channel for the whole run."""
    channel = access.open_agent(AGENT_SCRIPT, [str(MAX_READ)], "log file reader")
    return FileAgent(channel, access.name, timeout)
