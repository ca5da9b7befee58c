"""Running the real ``herd`` command in tests, isolated from the user's ~/.ssh."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import yaml

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 30, what: str = "the condition", *,
               interval: float = 0.05, ignoring: tuple[type[Exception], ...] = (),
               give_up: Callable[[], bool] | None = None) -> T:
    """Poll ``condition()`` until it returns something true, and return that: the tests' one way to wait.

    Never a sleep instead: a sleep long enough for a loaded machine is slow
    everywhere else, and still not a guarantee.  At the deadline, or as soon
    as ``give_up()`` holds (say, the process that should make it true has
    exited: after one last look), AssertionError naming ``what`` and the last
    value.  Exceptions in ``ignoring`` count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        gone = give_up is not None and give_up()
        if gone:
            time.sleep(0.2)   # what it wrote on its way out is still being read
        try:
            value = condition()
            if value:
                return value
            last = value
        except ignoring as exc:
            last = exc
        if gone:
            raise AssertionError(f"gave up waiting for {what} (last: {last!r})")
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


@dataclass
class Run:
    """A finished herd command: exit code, outputs, and how long it took."""

    code: int
    out: str
    err: str
    seconds: float

    def json(self):
        return json.loads(self.out)

    def rows(self) -> list[list[str]]:
        """Table rows (header and summary excluded), split into the first five columns + rest."""
        lines = self.out.splitlines()[1:-1]
        return [line.split(None, 5) for line in lines]


# What herd (and ssh) would take from the environment of the machine's user: a stray HERD_INVENTORY or
# HERD_KEEP, an ssh-agent, XDG directories. The suite never runs with them (conftest.py drops them and gives
# every pytest process an empty HOME of its own); herd_env drops them again for commands run elsewhere.
MACHINE_ENV = ("HERD_INVENTORY", "HERD_KEEP", "HERD_SKIP_VAULTED", "HERD_AUDIT_LOG", "SSH_AUTH_SOCK", "SSH_AGENT_PID",
               "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "XDG_DATA_HOME")


def hermetic_environment(home: Path) -> None:
    """This process's environment without the machine user's settings, and ``home`` as HOME."""
    for name in MACHINE_ENV:
        os.environ.pop(name, None)
    os.environ["HOME"] = str(home)


def herd_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with an empty HOME (no ~/.ssh), no agent, none of the machine user's settings, no colour."""
    env = {k: v for k, v in os.environ.items() if k not in MACHINE_ENV}
    env.update(HOME=str(home), NO_COLOR="1")
    env.update(extra)
    return env


def herd(*args: str, home: Path, timeout: float = 60, env: dict[str, str] | None = None) -> Run:
    """Run ``python -m herd ARGS`` and collect the result."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "herd", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or herd_env(home), stdin=subprocess.DEVNULL)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def edit_inventory(source: Path, target: Path, change) -> Path:
    """Copy an inventory, letting ``change(data)`` modify the parsed YAML."""
    data = yaml.safe_load(Path(source).read_text())
    change(data)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def assert_through_jump(host, jump_port: int) -> None:
    """Connect to ``host`` (an inventory Host) and check its SSH transport rides on a jump host's channel."""
    import paramiko

    from herd.fleet import HostSession
    from herd.ssh.connection import Connector

    connector = Connector(timeout=10)
    session = HostSession(host, connector)
    try:
        session.client().all_process_info()
        assert isinstance(session.ssh.transport.sock, paramiko.Channel)
        assert session.ssh.via is not None and session.ssh.via.target.port == jump_port
    finally:
        session.close()
        connector.close()

def connected_to(port: int) -> bool:
    """True once some process has a TCP connection to 127.0.0.1:``port`` (ESTABLISHED: a paused sshd's
    kernel completes the handshake, so the client is past connect() and waits for the banner)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return any(row[2] == f"0100007F:{port:04X}" and row[3] == "01" for row in rows)


class Running:
    """A herd command running in the background, its output collected line by line."""

    def __init__(self, *args: str, home: Path, stdin: int | None = subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "herd", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=stdin, text=True, env=herd_env(home))
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(s, sink), daemon=True)
                         for s, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def wait_for(self, what: Callable[[], bool], timeout: float = 30) -> bool:
        """Whether ``what()`` came true within ``timeout`` (False as soon as herd exited without it)."""
        try:
            return bool(wait_until(what, timeout, interval=0.1, give_up=lambda: self.proc.poll() is not None))
        except AssertionError:
            return False

    def lines_of(self, prefix: str) -> list[str]:
        return [line[len(prefix):] for line in list(self.out) if line.startswith(prefix)]

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def follow_on_one_channel(inventory: Path, request, lines_per_host: int) -> None:
    """Follow ``request`` (a LogRequest) in process until every host gave ``lines_per_host`` lines,
    checking that each host kept its one SSH connection with exactly one channel open."""
    from herd.fleet import Fleet, direct
    from herd.inventory import load_inventory
    from herd.operations.logs import LINE, Follower, read_logs
    from herd.ssh.connection import Connector

    hosts = load_inventory(str(inventory)).hosts
    f = Fleet(hosts, direct(Connector(timeout=10)))
    try:
        follower = Follower(f, read_logs(f, request, final=False), interval=0.2)
        transports = {name: s.ssh.transport for name, s in ((h.name, f.access(h)) for h in f.hosts)}
        follower.start()
        seen: dict[str, int] = {}
        deadline = time.monotonic() + 30
        for event in follower.events():
            if event.kind == LINE:
                seen[event.host] = seen.get(event.host, 0) + 1
            if all(seen.get(h.name, 0) >= lines_per_host for h in hosts) or time.monotonic() > deadline:
                break
        assert all(seen.get(h.name, 0) >= lines_per_host for h in hosts), seen
        assert {name: s.ssh.transport for name, s in ((h.name, f.access(h)) for h in f.hosts)} == transports
        for name, transport in transports.items():
            assert len(transport._channels.values()) == 1, name
        follower.stop()
    finally:
        f.close()


def on_a_terminal(args: list[str], typed: bytes, home: Path) -> subprocess.CompletedProcess[str]:
    """herd ARGS with a terminal as stdin (the answer ``typed`` waiting on it), output collected."""
    import pty

    master, slave = pty.openpty()
    try:
        os.write(master, typed)
        return subprocess.run([sys.executable, "-m", "herd", *args], stdin=slave, capture_output=True,
                              text=True, env=herd_env(home), timeout=60)
    finally:
        os.close(slave)
        os.close(master)
