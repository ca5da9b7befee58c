"""The command line's side of the keeper: hand the command over, or say why not and run it directly.

``run_kept(args)`` returns the command's exit code when a keeper ran it,
None when the caller must run it itself.  It never fails the command: a
missing, dead, hung, busy or unsafe keeper means a direct run (said at
-v).  It imports neither paramiko nor yaml on its warm path: only the
socket, the frames and the command line.

Time bounds: connecting gets CONNECT_TIMEOUT, the keeper must accept the
request within ACCEPT_TIMEOUT and then send a frame at least every
protocol.SILENCE seconds (it sends one every HEARTBEAT while the command
runs).  A keeper that dies mid-command (EOF) or goes silent is left, and
the command runs directly from the start: its output had not been shown.
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
from herd.keeper import protocol
from herd.keeper.keys import keep_from_args, keep_from_env
from herd.keeper.paths import KeeperPathError, log_path, socket_path
from herd.keeper.route import direct_reason, inventory_arg, verbosity

CONNECT_TIMEOUT = 0.5
ACCEPT_TIMEOUT = 1.0
START_WAIT = 5.0    # seconds a new keeper gets to open its socket
# The keeper process's own environment: what Python and herd need, nothing else (requests bring theirs).
_KEEPER_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_STATE_HOME",
               "XDG_CONFIG_HOME", "VIRTUAL_ENV", "PYTHONPATH")


class _Direct(Exception):
    """Run the command directly; the message says why (shown at -v)."""


def run_kept(args: Sequence[str]) -> int | None:
    """Run ``args`` through the inventory's keeper; None: run it directly."""
    args = list(args)
    verbose = verbosity(args)
    try:
        return _run(args)
    except _Direct as why:
        if verbose and str(why):
            _say(f"keeper: {why}; connecting directly")
        return None


def _run(args: list[str]) -> int:
    if os.environ.get("_HERD_COMPLETE"):
        raise _Direct("")
    reason = direct_reason(args, _isatty(sys.stdin))
    if reason is not None:
        raise _Direct("" if reason in ("help", "no command") else reason)
    keep = keep_from_args(args)
    if keep is None:
        try:
            keep = keep_from_env(os.environ)
        except ValueError as exc:
            raise _Direct(f"$HERD_KEEP: {exc}") from None
    if keep == 0:
        raise _Direct("")
    inventory = _inventory(args)
    try:
        path = socket_path(inventory)
    except KeeperPathError as exc:
        raise _Direct(str(exc)) from None
    conn = _connect(path)
    if conn is None:
        keep = keep if keep is not None else _inventory_keep(inventory)
        if not keep:
            raise _Direct("")
        conn = _start(inventory, path, keep)
    with conn:
        return _exchange(conn, _request(args, inventory, keep))


def _inventory(args: list[str]) -> str:
    """The inventory the command would use, absolute (its keeper's name); a problem: run directly."""
    from herd.errors import HerdError
    from herd.inventory.locate import find_inventory

    try:
        path, _ = find_inventory(inventory_arg(args))
    except HerdError:
        raise _Direct("") from None   # the direct run reports it
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
    except (socket.timeout, TimeoutError):
        sock.close()
        raise _Direct(f"the keeper at {path} does not accept connections (hung?)") from None
    except OSError as exc:
        sock.close()
        raise _Direct(f"cannot reach the keeper at {path}: {exc.strerror or exc}") from None
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
        raise _Direct(f"cannot open the keeper log {log_file}: {exc.strerror}") from None
    try:
        subprocess.Popen([sys.executable, "-m", "herd.keeper.server", "--inventory", inventory,
                          "--socket", str(path), "--idle", repr(keep)],
                         stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd="/", env=env,
                         start_new_session=True, close_fds=True)
    except OSError as exc:
        raise _Direct(f"cannot start a keeper: {exc.strerror or exc}") from None
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
        from herd.cli.check import process_start

        started = process_start()
    return {"op": "run", "version": __version__, "argv": args, "cwd": os.getcwd(), "env": env,
            "inventory": inventory, "keep": keep, "started": started,
            "encoding": getattr(sys.stdout, "encoding", None) or "utf-8",
            "errors": getattr(sys.stdout, "errors", None) or "strict",
            "stdout_tty": _isatty(sys.stdout), "stderr_tty": _isatty(sys.stderr)}


def _exchange(conn: socket.socket, request: dict[str, Any]) -> int:
    verbose = verbosity(request["argv"])
    try:
        protocol.send(conn, request)
        conn.settimeout(ACCEPT_TIMEOUT)
        answer = protocol.receive(conn)
        if answer.get("kind") == "refused":
            raise _Direct(f"the keeper refused: {answer.get('reason')}")
        if answer.get("kind") != "accepted":
            raise _Direct(f"unexpected answer from the keeper: {answer.get('kind')!r}")
        if verbose:
            _say(f"keeper: through the keeper (pid {answer.get('pid')})")
        conn.settimeout(protocol.SILENCE)
        while True:
            answer = protocol.receive(conn)
            kind = answer.get("kind")
            if kind == "alive":
                continue
            if kind == "done":
                _write(answer.get("output") or [])
                code = answer.get("code")
                return code if isinstance(code, int) else 1
            raise _Direct(f"the keeper failed: {answer.get('reason') or kind}")
    except (protocol.ProtocolError, OSError) as exc:
        raise _Direct(f"the keeper stopped answering ({exc})") from None


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
