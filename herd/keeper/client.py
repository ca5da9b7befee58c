"""The command line's side of the keeper: hand the command over, or say why not and run it directly.

``run_kept(args)`` returns the command's exit code when a keeper took the
command, None when the caller must run it itself.  It imports neither
click, paramiko nor yaml on its warm path: only the socket, the frames
and the command line (route.py reads it as click would).

Once: a command is the keeper's or the caller's, never both's.  Until the
keeper has accepted it, any trouble (no keeper, not ours, hung, busy,
another build, refused) means a direct run, said at -v.  The keeper says
"accepted", the client answers "go", and only then does the keeper start
the command (server.py); from the moment "go" is sent the command is the
keeper's, and a keeper that dies, goes silent or fails after that is
reported as such, in one line (exit EXIT_LOST; ``herd check``: UNKNOWN),
and the command is never run again: it may have run in part or in full,
and running it twice would do twice what was asked once (a restart, a
signal, an update).

Ctrl-C (and SIGTERM, which herd takes for one) once "go" is sent: the
command is the keeper's, so the client passes the first one on
(``{"op": "interrupt"}``) and reads on until "done": the keeper interrupts
the command as a Ctrl-C interrupts a direct run (server.py), and the user
sees what a direct run prints then, with its exit code (130).  A second
one stops the waiting: one line says that the keeper finishes the step in
flight on its own and that its log will say how it ended; exit 130
(EXIT_INTERRUPTED: the user interrupted; EXIT_LOST is for a keeper that
failed).  Before "go", a Ctrl-C ends the client and the keeper, never told
"go", runs nothing.

Time bounds: connecting gets CONNECT_TIMEOUT, the keeper must accept the
request within ACCEPT_TIMEOUT and then send a frame at least every
protocol.SILENCE seconds (it sends one every HEARTBEAT while the command
runs).
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from herd import __version__
from herd.errors import EXIT_INTERRUPTED, EXIT_LOST
from herd.keeper import protocol
from herd.keeper.keep import keep_from_env, keep_from_line
from herd.keeper.paths import KeeperPathError, log_path, socket_path
from herd.keeper.route import SILENT, CommandLine, parse, reason

CONNECT_TIMEOUT = 0.5
ACCEPT_TIMEOUT = 1.0
START_WAIT = 5.0    # seconds a new keeper gets to open its socket
NAGIOS_UNKNOWN = 3  # herd check's UNKNOWN (herd/cli/check.py EXIT_UNKNOWN): a monitoring plugin's codes
# The keeper process's own environment: what Python and herd need, nothing else (requests bring theirs).
_KEEPER_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_STATE_HOME",
               "XDG_CONFIG_HOME", "VIRTUAL_ENV", "PYTHONPATH")


class _Direct(Exception):
    """Run the command directly; the message says why (shown at -v)."""


def run_kept(args: Sequence[str]) -> int | None:
    """Run ``args`` through the inventory's keeper; None: run it directly (it never reached a keeper)."""
    line = parse(args)
    try:
        return _run(list(args), line)
    except _Direct as why:
        if line.verbosity and str(why):
            _say(f"keeper: {why}; connecting directly")
        return None


def _run(args: list[str], line: CommandLine) -> int:
    if os.environ.get("_HERD_COMPLETE"):
        raise _Direct("")
    why = reason(line, _isatty(sys.stdin))
    if why is not None:
        raise _Direct("" if why in SILENT else why)
    keep = keep_from_line(line)
    if keep is None:
        try:
            keep = keep_from_env(os.environ)
        except ValueError as exc:
            raise _Direct(f"$HERD_KEEP: {exc}") from exc
    if keep == 0:
        raise _Direct("")
    inventory = _inventory(line)
    try:
        path = socket_path(inventory)
    except KeeperPathError as exc:
        raise _Direct(str(exc)) from exc
    conn = _connect(path)
    if conn is None:
        keep = keep if keep is not None else _inventory_keep(inventory)
        if not keep:
            raise _Direct("")
        conn = _start(inventory, path, keep)
    with conn:
        return _exchange(conn, _request(args, inventory, keep), line, log_path(path))


def _inventory(line: CommandLine) -> str:
    """The inventory the command would use, absolute (its keeper's name); a problem: run directly."""
    from herd.errors import HerdError
    from herd.inventory.locate import find_inventory

    try:
        path, _ = find_inventory(line.inventory)
    except HerdError as exc:
        raise _Direct("") from exc   # the direct run reports it
    return os.path.abspath(path)


def _inventory_keep(inventory: str) -> float | None:
    """The inventory's ``keep`` (defaults.keep); read only when no keeper runs yet.

    A file that does not even contain the word is not parsed (the command
    about to run directly parses it once, as it would without keepers).
    """
    try:
        with open(inventory, "rb") as fh:
            if b"keep" not in fh.read():
                return None
    except OSError:
        return None     # a directory (Ansible: keep is not read there) or unreadable: the direct run says
    try:
        from herd.inventory import read_inventory

        return read_inventory(inventory).keep
    except Exception:  # noqa: BLE001 - a broken inventory: the direct run reports it
        return None


def _connect(path: Path) -> socket.socket | None:
    """A connection to the keeper at ``path``; None when none runs; _Direct when it is not ours or hangs."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except (socket.timeout, TimeoutError) as exc:
        sock.close()
        raise _Direct(f"the keeper at {path} does not accept connections (hung?)") from exc
    except OSError as exc:
        sock.close()
        raise _Direct(f"cannot reach the keeper at {path}: {exc.strerror or exc}") from exc
    if not protocol.same_user(sock):
        sock.close()
        raise _Direct(f"the keeper socket {path} belongs to another user")
    return sock


def _start(inventory: str, path: Path, keep: float) -> socket.socket:
    """Start a keeper, detached, with its own log file; wait for its socket."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {k: v for k, v in os.environ.items() if k in _KEEPER_ENV or k.startswith("LC_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    log_file = log_path(path)
    try:
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise _Direct(f"cannot open the keeper log {log_file}: {exc.strerror}") from exc
    try:
        subprocess.Popen([sys.executable, "-m", "herd.keeper.server", "--inventory", inventory,
                          "--socket", str(path), "--idle", repr(keep)],
                         stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd="/", env=env,
                         start_new_session=True, close_fds=True)
    except OSError as exc:
        raise _Direct(f"cannot start a keeper: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    end = time.monotonic() + START_WAIT
    while time.monotonic() < end:
        conn = _connect(path)
        if conn is not None:
            return conn
        time.sleep(0.02)
    raise _Direct(f"the keeper did not open its socket within {START_WAIT:g} s (see {log_file})")


def _request(args: list[str], inventory: str, keep: float | None) -> dict[str, Any]:
    env = dict(os.environ)
    try:
        out = sys.__stdout__
        size = os.get_terminal_size(out.fileno()) if out is not None and _isatty(out) else None
    except (OSError, ValueError, AttributeError):
        size = None
    if size is not None:   # what shutil.get_terminal_size would find in this process
        env.setdefault("COLUMNS", str(size.columns))
        env.setdefault("LINES", str(size.lines))
    started = None
    if args and args[0] == "check":
        from herd.procstart import process_start

        started = process_start()
    return {"op": "run", "version": __version__, "argv": args, "cwd": os.getcwd(), "env": env,
            "inventory": inventory, "keep": keep, "started": started,
            "encoding": getattr(sys.stdout, "encoding", None) or "utf-8",
            "errors": getattr(sys.stdout, "errors", None) or "strict",
            "stdout_tty": _isatty(sys.stdout), "stderr_tty": _isatty(sys.stderr)}


def _exchange(conn: socket.socket, request: dict[str, Any], line: CommandLine, log_file: Path) -> int:
    """Hand the command over; its exit code once the keeper has it (see the module docstring: once, Ctrl-C)."""
    pid: object = None
    with _Interrupts(conn) as interrupts:
        try:
            pid = _handed_over(conn, request, line, interrupts)
            answer = _answer(conn)
        except _GaveUp:
            return _gave_up(line, interrupts.pid, log_file)
        except protocol.ProtocolError as exc:
            return _lost(line, pid, log_file, _silence_or_end(exc))
        except OSError as exc:
            return _lost(line, pid, log_file, f"broke the connection ({exc.strerror or exc})")
    if answer.get("kind") != "done":
        return _lost(line, pid, log_file,
                     f"reported that the command failed ({answer.get('reason') or answer.get('kind')})")
    _write(answer.get("output") or [])
    code = answer.get("code")
    return code if isinstance(code, int) else 1


def _answer(conn: socket.socket) -> dict[str, Any]:
    """The keeper's last frame for the command (heartbeats skipped)."""
    conn.settimeout(protocol.SILENCE)
    answer = protocol.receive(conn)
    while answer.get("kind") == "alive":
        answer = protocol.receive(conn)
    return answer


class _GaveUp(KeyboardInterrupt):
    """A second Ctrl-C (or SIGTERM) while the keeper finishes the command: stop waiting for it."""


class _Interrupts:
    """SIGINT and SIGTERM while the command is handed over and run by the keeper.

    Before "go" is sent: a Ctrl-C as ever (KeyboardInterrupt; the keeper
    never starts the command).  While "go" is being sent: noted, and passed
    on once it is.  After: the first is passed on to the keeper
    (``{"op": "interrupt"}``), which interrupts the command as a Ctrl-C
    interrupts a direct run, and the client goes on reading until the
    command's "done" (its output is what a direct run prints on a Ctrl-C);
    the second raises _GaveUp.  The handler sends from the main thread,
    between two of its own steps: the frame never interleaves with another.
    """

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.stage = "before"     # "sending" go, then "sent"
        self.count = 0
        self.told = False
        self.pid: object = None   # the keeper's, once it accepted
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> "_Interrupts":
        import signal

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._saved[signum] = signal.signal(signum, self._handle)
            except ValueError:      # not the main thread (no signal is delivered here anyway)
                break
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for signum, previous in self._saved.items():
            signal.signal(signum, previous)

    def _handle(self, signum: int, frame: object) -> None:
        if self.stage == "before":
            raise KeyboardInterrupt
        self.count += 1
        if self.count > 1:
            raise _GaveUp
        if self.stage == "sent":
            self._tell()

    def sending(self) -> None:
        self.stage = "sending"

    def sent(self) -> None:
        """"go" is sent: the command is the keeper's; a Ctrl-C that came meanwhile is passed on now."""
        self.stage = "sent"
        if self.count and not self.told:
            self._tell()

    def _tell(self) -> None:
        self.told = True
        try:
            protocol.send(self.conn, {"op": "interrupt"})
        except OSError:
            pass    # the keeper is gone: reading its answer says so


def _handed_over(conn: socket.socket, request: dict[str, Any], line: CommandLine, interrupts: _Interrupts) -> object:
    """Send the request, wait for "accepted", answer "go": the keeper's pid; _Direct while it is still ours.

    A Ctrl-C before "go" ends the client and the command is not run (the
    keeper runs nothing without "go"); one while "go" is sent is the
    keeper's to act on once it is (_Interrupts).
    """
    try:
        protocol.send(conn, request)
        conn.settimeout(ACCEPT_TIMEOUT)
        answer = protocol.receive(conn)
    except (protocol.ProtocolError, OSError) as exc:
        raise _Direct(f"the keeper stopped answering ({exc})") from exc
    if answer.get("kind") == "refused":
        raise _Direct(f"the keeper refused: {answer.get('reason')}")
    if answer.get("kind") != "accepted":
        raise _Direct(f"unexpected answer from the keeper: {answer.get('kind')!r}")
    interrupts.pid = answer.get("pid")
    interrupts.sending()
    try:
        protocol.send(conn, {"op": "go"})
    except OSError as exc:   # not sent: the keeper, gone, never got it and never starts the command
        if interrupts.count:
            raise KeyboardInterrupt from exc    # and the user asked to stop: nothing runs
        raise _Direct(f"the keeper went away before it started the command ({exc.strerror or exc})") from exc
    interrupts.sent()
    if line.verbosity:
        _say(f"keeper: through the keeper (pid {answer.get('pid')})")
    return answer.get("pid")


def _silence_or_end(exc: protocol.ProtocolError) -> str:
    """What the keeper did, as the client saw it."""
    if isinstance(exc, protocol.Silence):
        return f"was silent for {protocol.SILENCE:g} s"
    if isinstance(exc, protocol.Closed):
        return "closed the connection" + ("" if str(exc) == "connection closed" else f" ({exc})")
    return f"sent what herd cannot read ({exc})"


def _gave_up(line: CommandLine, pid: object, log_file: Path) -> int:
    """A second Ctrl-C: the keeper finishes the command's step in flight on its own; say where it tells how."""
    keeper = f"the keeper (pid {pid})" if isinstance(pid, int) else "the keeper"
    message = (f"interrupted again: no longer waiting for {keeper}, which finishes the step in flight of "
               f"`herd {line.command}` on its own and logs what it did and printed (the keeper's log: {log_file})")
    return _tell(line, message, EXIT_INTERRUPTED)


def _lost(line: CommandLine, pid: object, log_file: Path, what: str) -> int:
    """The keeper had the command and lost it: say what is known, in one line; never run it again."""
    keeper = f"the keeper (pid {pid})" if isinstance(pid, int) else "the keeper"
    message = (f"{keeper} {what} after it accepted `herd {line.command}`: the command may have run in part or "
               f"in full, and is not run again; see `herd status` before you repeat it (the keeper's log: "
               f"{log_file})")
    return _tell(line, message, EXIT_LOST)


def _tell(line: CommandLine, message: str, code: int) -> int:
    """The one line on stderr and ``code``; for ``check`` (a monitoring plugin) its one line on stdout, UNKNOWN."""
    if line.command == "check":
        from herd import text

        sys.stdout.write(f"HERD UNKNOWN - {text.field(message)}\n")
        sys.stdout.flush()
        return NAGIOS_UNKNOWN
    _say(message)
    return code


def _write(output: list[list[str]]) -> None:
    """The command's output, stdout and stderr in the order it was written."""
    streams = {"stdout": sys.stdout, "stderr": sys.stderr}
    for name, data in output:
        stream = streams.get(name, sys.stderr)
        stream.flush()
        raw = base64.b64decode(data)
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            buffer.write(raw)
            buffer.flush()
        else:
            stream.write(raw.decode(getattr(stream, "encoding", None) or "utf-8", "replace"))
    for stream in streams.values():
        stream.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, AttributeError):
        return False


def _say(message: str) -> None:
    """One of the client's own lines on stderr (escaped, as herd's log lines)."""
    from herd import text

    sys.stderr.write(f"herd: {text.block(message)}\n")
    sys.stderr.flush()
