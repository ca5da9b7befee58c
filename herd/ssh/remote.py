"""Programs herd runs on a host with the host's own Python: command line and start.

Nothing is installed on the hosts: a small script (the socket relay of
herd/ssh/relay.py, a log-file reader, ...) is passed to the host's Python
with ``-c`` on one exec channel.  Such an *agent* reports its start-up the
same way, so failures are told apart reliably:

* success: it writes one byte, ``+``, then speaks its own protocol on
  stdin/stdout;
* failure: it writes ``!<errno> <message>`` to stderr and exits non-zero.

This module is the one place that builds those command lines and waits for
the ready byte, so privilege (sudo) and the choice of interpreter are
decided here once for every agent.
"""

from __future__ import annotations

import errno
import shlex
import time
from typing import Sequence

from paramiko import Channel, Transport

READY = b"+"


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


def python_command(script: str, args: Sequence[str], python: str | None) -> str:
    """The shell command that runs ``script`` with ``args`` under the host's Python.

    ``python`` is the inventory's interpreter; by default python3, then python.
    """
    quoted_script = shlex.quote(script)
    quoted_args = " ".join(shlex.quote(a) for a in args)
    candidates = [python] if python else ["python3", "python"]
    tries = " ".join(shlex.quote(c) for c in candidates)
    return (
        f"for p in {tries}; do command -v \"$p\" >/dev/null 2>&1 && exec \"$p\" -c {quoted_script} {quoted_args}; done; "
        f"echo '!127 no python interpreter found ({' or '.join(candidates)})' >&2; exit 127"
    )


def open_agent(transport: Transport, script: str, args: Sequence[str], python: str | None,
               timeout: float) -> Channel:
    """Start ``script`` on the host and wait for its ready byte.

    Returns the session channel, now speaking the agent's protocol; raises
    RelayError when the agent (or the shell before it) reports a failure.
    """
    chan = transport.open_session(timeout=timeout)
    chan.settimeout(timeout)
    chan.exec_command(python_command(script, args, python))
    first = chan.recv(1)
    if first == READY:
        return chan
    raise _agent_failure(chan, timeout)


STDERR_LIMIT = 64 * 1024   # of a failed agent's stderr kept (its last line is the reason)


def _agent_failure(chan: Channel, timeout: float) -> RelayError:
    """Read the agent's stderr (its last STDERR_LIMIT bytes, for ``timeout`` at most) and exit status."""
    err = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            chunk = chan.recv_stderr(4096)
            if not chunk:
                break
            err = (err + chunk)[-STDERR_LIMIT:]
    except OSError:
        pass
    status = chan.recv_exit_status() if chan.exit_status_ready() else -1
    chan.close()
    text = err.decode("utf-8", "replace").strip().splitlines()
    line = text[-1] if text else f"exited with status {status}"
    if line.startswith("!"):
        code, _, message = line[1:].partition(" ")
        try:
            return RelayError(int(code), message)
        except ValueError:
            pass
    return RelayError(0, line)
