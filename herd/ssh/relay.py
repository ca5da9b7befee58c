"""Fallback tunnel: a tiny relay executed on the host with its own Python.

Used when sshd refuses a streamlocal (or direct-tcpip) channel, e.g. with
``AllowStreamLocalForwarding no``.  Python is always on a supervisord host
(supervisord runs on it); socat and ``nc -U`` often are not.

The relay connects to the target first and reports the outcome before
relaying, so that failures are told apart reliably:

* success: it writes one byte, ``+``, then copies stdin <-> socket;
* failure: it writes ``!<errno> <message>`` to stderr and exits 3.

The script is Python 2/3 compatible (supervisor 4 still runs on 2.7).
"""

from __future__ import annotations

import errno
import shlex

from paramiko import Channel, Transport

READY = b"+"

RELAY_SCRIPT = r"""
import os, sys, socket, select
target = sys.argv[1]
try:
    if target.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target)
    else:
        host, port = target.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
except socket.error as e:
    sys.stderr.write("!%s %s\n" % (e.errno or 0, e.strerror or e))
    sys.exit(3)
os.write(1, b"+")
fds = [0, s.fileno()]
while True:
    r = select.select(fds, [], [])[0]
    if 0 in r:
        data = os.read(0, 65536)
        if not data:
            s.shutdown(socket.SHUT_WR)
            fds.remove(0)
        else:
            s.sendall(data)
    if s.fileno() in r:
        data = s.recv(65536)
        if not data:
            break
        os.write(1, data)
""".strip()


class RelayError(Exception):
    """The relay could not reach its target; ``errno`` as seen on the host."""

    def __init__(self, errno_: int, message: str) -> None:
        self.errno = errno_
        super().__init__(message)

    @property
    def missing(self) -> bool:
        return self.errno in (errno.ENOENT, errno.ECONNREFUSED)

    @property
    def denied(self) -> bool:
        return self.errno in (errno.EACCES, errno.EPERM)


def relay_command(target: str, python: str | None) -> str:
    """The shell command that runs the relay with the host's Python.

    ``python`` is the inventory's interpreter; by default python3, then python.
    """
    script = shlex.quote(RELAY_SCRIPT)
    quoted = shlex.quote(target)
    candidates = [python] if python else ["python3", "python"]
    tries = " ".join(shlex.quote(c) for c in candidates)
    return (
        f"for p in {tries}; do command -v \"$p\" >/dev/null 2>&1 && exec \"$p\" -c {script} {quoted}; done; "
        f"echo '!127 no python interpreter found ({' or '.join(candidates)})' >&2; exit 127"
    )


def open_relay_channel(transport: Transport, target: str, python: str | None, timeout: float) -> Channel:
    """Start the relay on the host and wait for its ready byte.

    Returns the session channel, now a byte pipe to ``target``; raises
    RelayError when the relay reports a failure.
    """
    chan = transport.open_session(timeout=timeout)
    chan.settimeout(timeout)
    chan.exec_command(relay_command(target, python))
    first = chan.recv(1)
    if first == READY:
        return chan
    raise _relay_failure(chan)


def _relay_failure(chan: Channel) -> RelayError:
    """Read the relay's stderr and exit status into a RelayError."""
    err = b""
    try:
        while True:
            chunk = chan.recv_stderr(4096)
            if not chunk:
                break
            err += chunk
    except OSError:
        pass
    status = chan.recv_exit_status() if chan.exit_status_ready() else -1
    chan.close()
    text = err.decode("utf-8", "replace").strip().splitlines()
    line = text[-1] if text else f"relay exited with status {status}"
    if line.startswith("!"):
        code, _, message = line[1:].partition(" ")
        try:
            return RelayError(int(code), message)
        except ValueError:
            pass
    return RelayError(0, line)
