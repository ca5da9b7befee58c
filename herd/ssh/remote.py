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

Privilege (``become``): the agent runs under ``sudo -n -u USER``, or, when
the inventory gives a password source, under ``sudo -S -u USER`` with a
prompt herd recognises.  The password is written to the channel only when
sudo prints that prompt, never on a command line: sudo reads it from the
first line of stdin and hands the rest of stdin to the agent.  A wrong
password makes sudo print the prompt again and read the *next* line, so
nothing else is sent until the agent's ready byte proves that sudo let it
run; at a second prompt herd closes stdin instead of answering.

``Defaults requiretty`` (CentOS/RHEL 6, and 7 before 7.3): sudo refuses to
run without a terminal ("sorry, you must have a tty to run sudo").  The
SSH layer then starts agents with ``Sudo(tty=True)``: the exec channel gets
a pty, and before sudo runs the shell puts it in raw mode without echo
(``stty raw -echo``), so the password written at sudo's prompt is never
echoed back and the agent's bytes pass unchanged both ways (no CR/LF
translation, no signal or flow-control characters).  On a pty stdout and
stderr are one stream: sudo's own words come first, then a marker line the
sudo'd shell prints (SUDO_OK: sudo let it run), then the agent's ready byte
or its failure.  Nothing is sent after the password before that marker.
"""

from __future__ import annotations

import ast
import base64
import errno
import functools
import shlex
import time
import zlib
from dataclasses import dataclass
from typing import Sequence

from paramiko import Channel, SSHException, Transport

READY = b"+"

# What sudo prints (on stderr, with -S) when it wants the password: no
# escapes (% is expanded by sudo), unlikely in any other output.
SUDO_PROMPT = "[herd-sudo-password]"
# What the sudo'd shell prints on a pty before it starts the agent (see above).
SUDO_OK = "[herd-sudo-ok]"
# A pty in raw mode: 8-bit clean both ways, no echo (GNU and BusyBox stty).
RAW_TTY = "stty raw -echo -iexten cs8 -parenb -istrip -ixon -ixoff -opost 2>/dev/null"

# The interpreters tried, in order, when the inventory names none; after
# them comes the interpreter of supervisord itself (its script's shebang or
# the executable of a running supervisord), which may be off the login PATH.
PYTHONS = ("python3", "python", "/usr/bin/python3")
SUPERVISORD_PYTHON = "the interpreter running supervisord"

# Agent failures the shell wrapper reports itself ("!<code> <text>").
_NO_PYTHON = 127
_NO_SUDO = 126


@dataclass(frozen=True)
class Sudo:
    """Run agents through sudo as ``user``; ``password`` only when sudo needs one.

    The password is read from its source at connect time and lives only in
    memory; ``repr`` never shows it.
    """

    user: str = "root"
    password: str | None = None
    tty: bool = False       # on a pty: the host's sudoers has requiretty

    def __repr__(self) -> str:
        return (f"Sudo(user={self.user!r}, password={'***' if self.password is not None else None}, "
                f"tty={self.tty})")


class RelayError(Exception):
    """An agent could not start or reach its target; ``errno`` as seen on the host.

    ``kind`` names failures before the agent ran: ``no-python``,
    ``no-sudo``, ``sudo-password-required``, ``sudo-wrong-password``,
    ``sudo-not-allowed``, ``sudo-unknown-user``, ``sudo-timeout``,
    ``sudo-needs-tty`` (requiretty, on a channel without a pty),
    ``sudo-no-pty`` (sshd refused the pty) (None for the agent's own reports).
    """

    def __init__(self, errno_: int, message: str, kind: str | None = None) -> None:
        self.errno = errno_
        self.kind = kind
        super().__init__(message)

    @property
    def missing(self) -> bool:
        return self.errno in (errno.ENOENT, errno.ECONNREFUSED)

    @property
    def denied(self) -> bool:
        return self.errno in (errno.EACCES, errno.EPERM)


def python_command(script: str, args: Sequence[str], python: str | None, sudo: Sudo | None = None) -> str:
    """The shell command that runs ``script`` with ``args`` under the host's Python.

    ``python`` is the inventory's interpreter, used alone; by default
    python3, python, /usr/bin/python3, then supervisord's own interpreter.
    With ``sudo`` the interpreter search itself runs under sudo (sudo's
    secure_path decides what python3 is).
    """
    # -S: no site module (agents use the standard library only); Python starts in about half the time
    run = f"-S -c {shlex.quote(packed(script))} {' '.join(shlex.quote(a) for a in args)}".rstrip()
    candidates = [python] if python else list(PYTHONS)
    tried = ", ".join(candidates if python else candidates + [SUPERVISORD_PYTHON])
    body = "".join(f"r {shlex.quote(c)}; " for c in candidates)
    if not python:
        body += _SUPERVISORD_PYTHON
    search = (f"r(){{ command -v \"$1\" >/dev/null 2>&1 && exec \"$1\" {run}; }}; {body}"
              f"echo {shlex.quote(f'!{_NO_PYTHON} no Python interpreter found (tried {tried})')} >&2; "
              f"exit {_NO_PYTHON}")
    if sudo is None:
        return search
    flags = f"-S -p {shlex.quote(SUDO_PROMPT)}" if sudo.password is not None else "-n"
    raw = f"{RAW_TTY}; " if sudo.tty else ""
    inner = f"{raw}echo {shlex.quote(SUDO_OK)}; {search}" if sudo.tty else search
    return (f"command -v sudo >/dev/null 2>&1 || {{ echo '!{_NO_SUDO} sudo is not installed' >&2; "
            f"exit {_NO_SUDO}; }}; {raw}exec sudo {flags} -u {shlex.quote(sudo.user)} -- sh -c {shlex.quote(inner)}")


# Dropbear refuses an exec request longer than its MAX_CMD_LEN (9000 bytes) by closing the
# connection ("String too long"); OpenSSH takes far more.  A script longer than PACK_ABOVE
# travels compressed, so that every agent's command line stays well below that.
DROPBEAR_MAX_COMMAND = 9000
PACK_ABOVE = 2048


@functools.lru_cache(maxsize=16)
def packed(script: str) -> str:
    """``script`` as given when short, else without its docstrings and comments, zlib-compressed,
    base64-encoded, in a one-line loader that Python 2.6 to 3.x all run (exec of the source)."""
    if len(script) <= PACK_ABOVE:
        return script
    tree = ast.parse(script)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]   # type: ignore[attr-defined]
    blob = base64.b64encode(zlib.compress(ast.unparse(tree).encode("utf-8"), 9)).decode("ascii")
    return f"import zlib,base64;exec(zlib.decompress(base64.b64decode('{blob}')))"


# supervisord's interpreter: the shebang of the supervisord script on PATH,
# else /proc/PID/exe of a running supervisord (readable as its owner or root).
_SUPERVISORD_PYTHON = (
    "s=$(command -v supervisord 2>/dev/null) && p=$(sed -n '1s/^#! *\\([^ ]*\\).*/\\1/p' \"$s\") && r \"$p\"; "
    "for d in /proc/[0-9]*; do case \"$(tr '\\0' ' ' <\"$d/cmdline\" 2>/dev/null)\" in "
    "*supervisord*) p=$(readlink \"$d/exe\" 2>/dev/null) && case \"$p\" in *python*) r \"$p\";; esac;; esac; done; "
)


def open_agent(transport: Transport, script: str, args: Sequence[str], python: str | None,
               timeout: float, *, sudo: Sudo | None = None) -> Channel:
    """Start ``script`` on the host (through sudo when asked) and wait for its ready byte.

    Returns the session channel, now speaking the agent's protocol; raises
    RelayError when the agent, sudo or the shell before them reports a failure.
    """
    chan = transport.open_session(timeout=timeout)
    chan.settimeout(timeout)
    if sudo is not None and sudo.tty:
        try:
            chan.get_pty(term="dumb", width=0, height=0)
        except SSHException as exc:
            chan.close()
            raise RelayError(0, f"the SSH server refused a pty ({exc})", "sudo-no-pty") from exc
        chan.exec_command(python_command(script, args, python, sudo))
        return _await_ready_on_tty(chan, sudo.password, timeout)
    chan.exec_command(python_command(script, args, python, sudo))
    if sudo is not None and sudo.password is not None:
        return _await_ready_answering_sudo(chan, sudo.password, timeout)
    first = chan.recv(1)
    if first == READY:
        return chan
    raise _agent_failure(chan, timeout)


def _await_ready_on_tty(chan: Channel, password: str | None, timeout: float) -> Channel:  # noqa: C901
    """On a pty: answer sudo's prompt once, then wait for SUDO_OK and the agent's ready byte.

    Read a byte at a time, so that nothing of the agent's own protocol
    after the ready byte is taken here.
    """
    deadline = time.monotonic() + timeout
    seen, after = b"", b""
    prompt, marker = SUDO_PROMPT.encode(), SUDO_OK.encode()
    answered = started = False
    while True:
        if chan.recv_ready():
            byte = chan.recv(1)
            if not byte:
                break
            if not started:
                seen = (seen + byte)[-65536:]
                if seen.endswith(prompt):
                    if answered or password is None:    # refused, or a password herd does not have
                        break
                    chan.sendall(password.encode() + b"\n")
                    answered = True
                started = seen.endswith(marker)
                continue
            if byte in b"\r\n" and not after:
                continue
            if byte == READY and not after:
                return chan
            after = (after + byte)[-STDERR_LIMIT:]
            continue
        if _ended(chan, deadline, timeout):
            break
    status = chan.recv_exit_status() if chan.exit_status_ready() else -1
    chan.close()
    text = (after if started else seen).decode("utf-8", "replace")
    lines = [line.strip() for line in text.replace(SUDO_PROMPT, "\n").replace(SUDO_OK, "").splitlines()]
    if not started and seen.count(prompt) and password is None:
        lines.append("sudo: a password is required")
    raise classify_failure([line for line in lines if line], status)


def _ended(chan: Channel, deadline: float, timeout: float) -> bool:
    """Between reads: True once the channel ended; RelayError (sudo-timeout) past the deadline; else a nap."""
    if chan.exit_status_ready() or chan.closed:
        return True
    if time.monotonic() > deadline:
        chan.close()
        raise RelayError(errno.ETIMEDOUT, f"sudo did not answer within {timeout:g} s", "sudo-timeout")
    time.sleep(0.002)
    return False


def _await_ready_answering_sudo(chan: Channel, password: str, timeout: float) -> Channel:
    """Wait for the ready byte, writing the password once, when sudo prompts for it."""
    deadline = time.monotonic() + timeout
    seen = b""
    answered = False
    prompt = SUDO_PROMPT.encode()
    while True:
        if chan.recv_ready():
            if chan.recv(1) == READY:
                return chan
            break
        if chan.recv_stderr_ready():
            seen = (seen + chan.recv_stderr(4096))[-65536:]
            prompts = seen.count(prompt)
            if prompts == 1 and not answered:
                chan.sendall(password.encode() + b"\n")
                answered = True
            elif prompts > 1:       # the password was refused: never send another line
                chan.shutdown_write()
                break
            continue
        if _ended(chan, deadline, timeout):
            break
    raise _agent_failure(chan, max(0.0, deadline - time.monotonic()), seen.replace(prompt, b""))


STDERR_LIMIT = 64 * 1024   # of a failed agent's stderr kept (its last line is the reason)


def _agent_failure(chan: Channel, timeout: float, seen: bytes = b"") -> RelayError:
    """Read the agent's stderr (its last STDERR_LIMIT bytes, for ``timeout`` at most) and exit status."""
    err = seen
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
    lines = [line.strip() for line in err.decode("utf-8", "replace").replace(SUDO_PROMPT, "").splitlines()]
    lines = [line for line in lines if line]
    return classify_failure(lines, status)


def classify_failure(lines: Sequence[str], status: int) -> RelayError:
    """Turn what the agent, sudo or the shell wrote on stderr into a RelayError (pure, for tests)."""
    text = "\n".join(lines)
    if "must have a tty" in text:
        return RelayError(errno.EPERM, "sudo requires a terminal (requiretty)", "sudo-needs-tty")
    if "incorrect password attempt" in text or "Sorry, try again" in text:
        return RelayError(errno.EACCES, "wrong sudo password", "sudo-wrong-password")
    if "not in the sudoers file" in text or "is not allowed to" in text:
        return RelayError(errno.EPERM, "not allowed by sudoers", "sudo-not-allowed")
    if "unknown user" in text:
        return RelayError(errno.EINVAL, "unknown user", "sudo-unknown-user")
    if "a password is required" in text:
        return RelayError(errno.EACCES, "sudo needs a password", "sudo-password-required")
    line = lines[-1] if lines else f"exited with status {status}"
    if line.startswith("!"):
        code, _, message = line[1:].partition(" ")
        try:
            number = int(code)
        except ValueError:
            return RelayError(0, line)
        kind = "no-python" if message.startswith("no Python") else \
            "no-sudo" if message.startswith("sudo is not installed") else None
        return RelayError(number, message, kind)
    return RelayError(0, line)
