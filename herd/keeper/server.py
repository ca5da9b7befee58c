"""The keeper process: ``python -m herd.keeper.server --inventory PATH --socket PATH --idle SECONDS``.

Started detached by the first command that wants it (client.py), it
serves one inventory for one user until it has been idle for ``--idle``
seconds, ``herd keeper stop`` asks, its socket is taken away, or SIGTERM.

One command at a time: a command changes process-wide state (the
environment, the working directory, sys.stdout/stderr, the "herd" logger),
so the keeper runs a request's command line with *its* environment, cwd
and streams, and a second client arriving meanwhile is told "busy" and
runs directly (its output is the same; it only pays its own handshakes).
Every request is checked first: the peer must run as this uid
(SO_PEERCRED), and the request's herd build must be this one.  A command
starts only once the client has answered "accepted" with "go": a client
that gave up before (and runs the command itself) never has it run here
too (client.py: once).

Ctrl-C: the command runs in a worker thread, which gets no SIGINT; the
client passes its user's Ctrl-C (or SIGTERM) on as ``{"op": "interrupt"}``
and waits for "done".  The keeper then calls herd.fleet.fanout.interrupt
for the worker: the command raises KeyboardInterrupt at its next fan-out
wait step (within fanout.JOIN_STEP), where a direct run's main thread
waits and gets its SIGINT, and so does exactly what a direct run does on a
Ctrl-C (restart/stop finish the step in flight or name what they left
stopped; status prints the hosts that answered; exit 130).  Never anywhere
else: not in the keeper's code (the accept loop, the pools, the streams it
swaps), which waits in no fan-out; an interrupt that comes as the command
ends, past its last wait, is withdrawn unraised.  A command that is in no
fan-out when it comes (inside one host's call in its own thread, say)
sees it at its next wait, or ends as it would have.  A client that then
stops waiting (a second Ctrl-C) leaves the command to finish here; one
that leaves without an interrupt (killed) has the command's sessions
aborted so it ends soon.  Either way the log names the command line and
says how it ended and what it printed.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import select
import shlex
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from herd import __version__
from herd.errors import EXIT_INTERRUPTED
from herd.keeper import protocol
from herd.keeper.capture import Capture
from herd.keeper.paths import lock_path
from herd.keeper.pools import Pools
from herd.keeper.scope import KeeperScope

log = logging.getLogger("herd-keeper")

ACCEPT_POLL = 0.5   # seconds between checks of the idle time and of the socket file
REQUEST_READ = 5.0  # seconds a client gets to send its request once connected
WATCH_STEP = 0.05   # seconds between looks at the client while a command runs (its interrupt acts this soon)
OUTCOME_LINES = 200  # lines of a command's output logged when its client left


class _Left:
    """The client closed its end of the connection (or it broke)."""


LEFT = _Left()


class Keeper:
    """The accept loop, the one-at-a-time runner, the idle clock."""

    def __init__(self, inventory: str, socket_path: Path, idle: float) -> None:
        self.inventory = inventory
        self.socket_path = socket_path
        self.idle = idle
        self.pools = Pools()
        self.started = time.time()
        self.last_used = time.monotonic()
        self.served = 0
        self.busy = threading.Lock()
        self.stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._inode = 0
        self._base_env = dict(os.environ)

    # -- lifetime ------------------------------------------------------------

    def bind(self) -> bool:
        """Take the lock and the socket; False when another keeper holds them."""
        self._lock_fd = os.open(lock_path(self.socket_path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(self.socket_path))
        finally:
            os.umask(old)
        os.chmod(self.socket_path, 0o600)
        listener.listen(16)
        listener.settimeout(ACCEPT_POLL)
        self._inode = os.stat(self.socket_path).st_ino
        self._listener = listener
        return True

    def serve(self) -> None:
        assert self._listener is not None
        log.info("keeper pid %d for %s on %s, idle time %gs", os.getpid(), self.inventory, self.socket_path,
                 self.idle)
        while not self.stopping.is_set():
            if self._expired() or not self._socket_is_ours():
                break
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError as exc:
                log.warning("accept: %s", exc)
                continue
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()
        self.close()

    def _expired(self) -> bool:
        if self.busy.locked():
            return False
        if time.monotonic() - self.last_used > self.idle:
            log.info("idle for %gs: exiting", self.idle)
            return True
        return False

    def _socket_is_ours(self) -> bool:
        try:
            ours = os.stat(self.socket_path).st_ino == self._inode
        except OSError:
            ours = False
        if not ours:
            log.info("socket %s removed or replaced: exiting", self.socket_path)
        return ours

    def close(self) -> None:
        if self._listener is not None:
            if self._socket_is_ours():
                try:
                    self.socket_path.unlink()
                except OSError:
                    pass
            self._listener.close()
            self._listener = None
        self.pools.close()
        log.info("keeper pid %d stopped after %d commands", os.getpid(), self.served)

    # -- one connection --------------------------------------------------------

    def _serve_one(self, conn: socket.socket) -> None:
        with conn:
            if not protocol.same_user(conn):
                log.warning("refused a connection from another uid")
                return
            conn.settimeout(REQUEST_READ)
            try:
                request = protocol.receive(conn)
                op = request.get("op")
                if op == "status":
                    protocol.send(conn, self.status())
                elif op == "stop":
                    protocol.send(conn, {"kind": "stopping", "pid": os.getpid()})
                    self.stopping.set()
                elif op == "run":
                    self._run(conn, request)
                else:
                    protocol.send(conn, {"kind": "refused", "reason": f"unknown request {op!r}"})
            except (protocol.ProtocolError, OSError) as exc:
                log.info("client went away: %s", exc)

    def status(self) -> dict[str, Any]:
        """What ``herd keeper status`` shows: nothing secret."""
        return {"kind": "status", "pid": os.getpid(), "inventory": self.inventory, "version": __version__,
                "hosts_connected": self.pools.connected(), "idle": round(time.monotonic() - self.last_used, 1),
                "busy": self.busy.locked(), "keep": self.idle, "started": self.started, "commands": self.served,
                "log": str(self.socket_path.with_suffix(".log"))}

    def _run(self, conn: socket.socket, request: dict[str, Any]) -> None:
        refusal = self._refusal(request)
        if refusal is None and not self.busy.acquire(blocking=False):
            refusal = "busy with another command"
        if refusal is not None:
            protocol.send(conn, {"kind": "refused", "reason": refusal})
            return
        ran = False
        try:
            self.last_used = time.monotonic()
            keep = request.get("keep")
            if isinstance(keep, (int, float)) and keep > 0:
                self.idle = float(keep)
            protocol.send(conn, {"kind": "accepted", "pid": os.getpid()})
            if not _confirmed(conn):
                log.info("the client of %s gave up before it said go: not run", _argv0(request))
                return
            ran = True
            self._execute(conn, request)
        finally:
            self.last_used = time.monotonic()
            if ran:
                self.served += 1
            self.busy.release()

    def _refusal(self, request: dict[str, Any]) -> str | None:
        """Why this keeper must not run the request (the client then runs it directly)."""
        if request.get("version") != __version__:
            return f"the keeper runs herd {__version__}, the command herd {request.get('version')}"
        if os.path.realpath(str(request.get("inventory"))) != os.path.realpath(self.inventory):
            return "the keeper serves another inventory"
        if not isinstance(request.get("argv"), list) or not isinstance(request.get("env"), dict):
            return "malformed request"
        if request.get("keep") is None and not self._inventory_keeps():
            self.stopping.set()
            return "the inventory no longer says keep"
        return None

    def _inventory_keeps(self) -> bool:
        try:
            return bool(self.pools.inventories.read(self.inventory).keep)
        except Exception:  # noqa: BLE001 - a broken inventory: the direct run reports it
            return False

    def _execute(self, conn: socket.socket, request: dict[str, Any]) -> None:
        """Run the command in a thread; heartbeats meanwhile; pass on the client's Ctrl-C; see the docstring."""
        from herd.fleet import fanout

        capture = Capture(str(request.get("encoding") or "utf-8"), str(request.get("errors") or "strict"),
                          bool(request.get("stdout_tty")), bool(request.get("stderr_tty")))
        scope = KeeperScope(self.pools, dict(request["env"]), request.get("started"))
        result: dict[str, Any] = {}
        worker = threading.Thread(target=self._command, args=(request, scope, capture, result), daemon=True)
        worker.start()
        try:
            watch = self._watch(conn, request, worker, scope)
        finally:
            worker.join()
            fanout.withdraw_interrupt(worker.ident or 0)   # one that came as the command ended: never raised
        if watch.left:
            _log_outcome(request, result, capture)
            return
        if watch.interrupted:
            log.info("%s ended after its interrupt: %s", _argv0(request), _ending(result))
        if "error" in result:
            protocol.send(conn, {"kind": "failed", "reason": result["error"]})
            return
        protocol.send(conn, {"kind": "done", "code": result["code"], "output": capture.frames()})

    def _watch(self, conn: socket.socket, request: dict[str, Any], worker: threading.Thread,
               scope: KeeperScope) -> "_Watch":
        """Until the command ends or its client leaves: heartbeats, and the client's interrupt passed on."""
        watch = _Watch()
        beat = time.monotonic()
        while worker.is_alive():
            worker.join(WATCH_STEP)
            if not worker.is_alive():
                break
            message = _from_client(conn)
            if message is None and time.monotonic() - beat >= protocol.HEARTBEAT:
                beat = time.monotonic()
                message = None if _heartbeat(conn) else LEFT
            if isinstance(message, _Left):
                self._client_left(request, scope, watch)
                break
            if message is not None:
                _interrupt(request, worker, message, watch)
        return watch

    def _client_left(self, request: dict[str, Any], scope: KeeperScope, watch: "_Watch") -> None:
        """The client left while its command runs.

        One that interrupted and then stopped waiting (a second Ctrl-C) lets
        the command finish its step in flight, as it asked.  One that left
        without (killed, or it cannot hear us) has the command's sessions
        aborted so the command ends soon; the keeper waits for it either way
        (it takes no other command meanwhile) and logs how it ended.
        """
        watch.left = True
        if watch.interrupted:
            log.info("the client of %s stopped waiting after its interrupt: the command finishes here",
                     _argv0(request))
            return
        log.info("client left during %s: aborting its sessions", _argv0(request))
        log.warning("cut off by its client leaving without an interrupt: %s", _line(request))
        self.pools.discard(scope.used)

    def _command(self, request: dict[str, Any], scope: KeeperScope, capture: Capture,
                 result: dict[str, Any]) -> None:
        """The command line, under the request's environment, cwd and streams."""
        from herd.cli import run_command

        saved = (sys.stdout, sys.stderr, sys.stdin)
        herd_log = logging.getLogger("herd")
        saved_log = (list(herd_log.handlers), herd_log.level, herd_log.propagate)
        try:
            os.chdir(str(request.get("cwd") or "/"))
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in request["env"].items()})
            sys.stdout, sys.stderr, sys.stdin = capture.stdout, capture.stderr, _NoInput()
            result["code"] = run_command([str(a) for a in request["argv"]], obj=scope)
        except SystemExit as exc:
            result["code"] = exc.code if isinstance(exc.code, int) else 1
        except KeyboardInterrupt:   # an interrupt that click did not make its Abort ("herd: aborted"): as main()
            capture.stderr.write("herd: interrupted\n")
            result["code"] = EXIT_INTERRUPTED
        except BaseException as exc:  # noqa: BLE001 - the client says it failed (never reruns it); the log says why
            log.exception("command %s failed inside the keeper", _argv0(request))
            result["error"] = f"{type(exc).__name__} inside the keeper"
        finally:
            sys.stdout, sys.stderr, sys.stdin = saved
            os.environ.clear()
            os.environ.update(self._base_env)
            herd_log.handlers[:], herd_log.level, herd_log.propagate = saved_log
            try:
                os.chdir("/")
            except OSError:
                pass


class _NoInput:
    """stdin inside the keeper: no terminal, nothing to read (commands that read stdin run directly)."""

    def isatty(self) -> bool:
        return False

    def read(self, *args: object) -> str:
        return ""

    readline = read

    def fileno(self) -> int:
        raise OSError("no stdin inside the keeper")


def _confirmed(conn: socket.socket) -> bool:
    """The client's "go" after our "accepted": from then on the command is ours alone (client.py: once).

    A client that gave up waiting for "accepted" has closed the connection
    and runs the command itself: it must not run here too.
    """
    conn.settimeout(REQUEST_READ)
    try:
        return protocol.receive(conn).get("op") == "go"
    except (protocol.ProtocolError, OSError):
        return False


def _heartbeat(conn: socket.socket) -> bool:
    """Send "alive"; False when the client can no longer be reached (it stopped reading, or left)."""
    try:
        protocol.send(conn, {"kind": "alive"})
    except OSError:
        return False
    return True


class _Watch:
    """What the client did while its command ran."""

    def __init__(self) -> None:
        self.interrupted = False   # it passed on a Ctrl-C (or SIGTERM)
        self.left = False          # it closed the connection before the command ended


def _interrupt(request: dict[str, Any], worker: threading.Thread, message: dict[str, Any], watch: _Watch) -> None:
    """The client's Ctrl-C: the command's thread sees a KeyboardInterrupt at its next fan-out wait (fanout.py)."""
    from herd.fleet import fanout

    if message.get("op") != "interrupt":
        log.info("ignored %r from the client of %s", message.get("op"), _argv0(request))
        return
    if watch.interrupted:
        return       # the client passes one on; its second Ctrl-C only stops its waiting
    watch.interrupted = True
    log.info("interrupted by its client (Ctrl-C or SIGTERM): %s", _line(request))
    fanout.interrupt(worker.ident or 0)


def _from_client(conn: socket.socket) -> dict[str, Any] | _Left | None:
    """What the client sent while its command runs: a frame, LEFT (it closed its end, or broke), None: nothing."""
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return None
    try:
        if conn.recv(1, socket.MSG_PEEK) == b"":
            return LEFT
        return protocol.receive(conn)
    except (protocol.ProtocolError, OSError):
        return LEFT


def _line(request: dict[str, Any]) -> str:
    """The whole command line, for the log (herd keeps secrets out of command lines)."""
    from herd import text

    return text.field(shlex.join(["herd", *(str(a) for a in request.get("argv") or [])]))


def _ending(result: dict[str, Any]) -> str:
    return f"exit {result['code']}" if "code" in result else str(result.get("error", "no result"))


def _log_outcome(request: dict[str, Any], result: dict[str, Any], capture: Capture) -> None:
    """A command whose client left: its exit code and what it printed, in the log (where the client said)."""
    from herd import text

    log.warning("%s ended (%s) with no client to tell; what it printed:", _line(request), _ending(result))
    lines = capture.text().splitlines()
    for line in lines[:OUTCOME_LINES]:
        log.warning("  | %s", text.field(line))
    if len(lines) > OUTCOME_LINES:
        log.warning("  | ... %d more lines", len(lines) - OUTCOME_LINES)


def _argv0(request: dict[str, Any]) -> str:
    argv = request.get("argv") or ["?"]
    return f"`herd {argv[0]}`"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="herd-keeper", description="herd's connection keeper (internal)")
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--idle", type=float, required=True)
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s herd-keeper[%(process)d]: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    from herd.cli.imports import defer_optional_imports

    defer_optional_imports()
    keeper = Keeper(os.path.abspath(args.inventory), Path(args.socket), args.idle)
    if not keeper.bind():
        return   # another keeper got there first
    signal.signal(signal.SIGTERM, lambda *_: keeper.stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.chdir("/")
    threading.Thread(target=_preload, daemon=True).start()
    keeper.serve()


def _preload() -> None:
    """Import what commands use now, not during the first request (the import lock orders the two)."""
    import importlib

    for name in ("herd.cli.status", "herd.cli.check", "herd.cli.control", "herd.cli.config", "herd.cli.logs",
                 "herd.inventory", "herd.fleet", "herd.operations.status", "herd.operations.check",
                 "herd.operations.control", "herd.render.status", "herd.ssh.connection", "herd.ssh.config"):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the request that needs it will say what is wrong
            log.exception("preloading %s", name)


if __name__ == "__main__":
    main()
