"""A host's live link to supervisord: SSH connection + kept-alive XML-RPC client.

A ``HostSession`` connects lazily, on first use, and then keeps its SSH
transport and its RPC channel open for as long as it lives, so that a shell,
a live view or a follow loop pays one round trip per call, not a handshake.
After a host error the session drops its connection and reconnects on the
next use.  How the client reaches supervisord over the connection (the
socket or URL, discovery, what a tunnel failure means) is herd/fleet/reach.py.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Hashable, Sequence

from herd.fleet.reach import supervisor_client
from herd.inventory.model import Host, SupervisorTarget
from herd.ssh.config import resolve_target
from herd.ssh.connection import CommandResult, Connector, SSHConnection
from herd.supervisor.client import SupervisorClient

if TYPE_CHECKING:
    import paramiko

log = logging.getLogger("herd.fleet")


class SharedConnection:
    """One host's SSH connection, shared by the sessions of its supervisords (``web01/app``, ``web01/infra``).

    The first session that needs it connects (a second one waits for that
    handshake instead of making its own: one connection per host); it is
    closed when the last session using it lets it go, after an error or at
    the end.  So a failing supervisord (its session resets) never takes the
    connection from a healthy one on the same host, and a host whose every
    target failed is connected afresh next time.  A host with one
    supervisord has one session on its connection: it behaves as a session
    owning its connection would.
    """

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._lock = threading.Lock()
        self._ssh: SSHConnection | None = None
        self._users: set[int] = set()

    def acquire(self, host: Host, user: object) -> SSHConnection:
        """The live connection to ``host``'s host, opened if needed, now also used by ``user``."""
        with self._lock:
            if self._ssh is None or not self._ssh.alive:
                if self._ssh is not None:
                    self._ssh.close()
                self._ssh, self._users = None, set()
                self._ssh = self._connector.connect(resolve_target(host))
            self._users.add(id(user))
            return self._ssh

    def release(self, ssh: SSHConnection, user: object) -> None:
        """``user`` no longer uses ``ssh``; closed when nobody does (or when it is dead)."""
        with self._lock:
            self._let_go(ssh, user)

    def abort(self, ssh: SSHConnection, user: object) -> None:
        """release() from another thread, never waiting: a handshake in progress keeps the lock."""
        if self._lock.acquire(blocking=False):
            try:
                self._let_go(ssh, user)
            finally:
                self._lock.release()
        elif ssh is not self._ssh:
            ssh.close()

    def _let_go(self, ssh: SSHConnection, user: object) -> None:
        if ssh is not self._ssh:
            ssh.close()      # an older connection, already replaced
            return
        self._users.discard(id(user))
        if not self._users or not ssh.alive:
            ssh.close()
            self._ssh, self._users = None, set()


class HostSession:
    """Lazily connected, reusable access to one target's supervisord (a HostAccess, herd/fleet/access.py).

    Its SSH connection is its host's SharedConnection: the targets of a host
    with several supervisords share one.
    """

    def __init__(self, host: Host, connector: Connector, link: SharedConnection | None = None) -> None:
        self.host = host
        self._connector = connector
        self._link = link or SharedConnection(connector)
        self._ssh: SSHConnection | None = None
        self._client: SupervisorClient | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def ssh(self) -> SSHConnection:
        """The SSH connection, opened if needed (for tunnels other than RPC)."""
        self.client()
        assert self._ssh is not None
        return self._ssh

    def client(self) -> SupervisorClient:
        """The supervisord client, connecting first if there is no live connection."""
        with self._lock:
            if self._client is None or self._ssh is None or not self._ssh.alive:
                self._drop()
                self._ssh = self._link.acquire(self.host, self)
                self._client = supervisor_client(self.host, self._ssh, self._connector)
            return self._client

    def open_tcp(self, host: str, port: int, timeout: float) -> paramiko.Channel:
        """A direct-tcpip channel to host:port as seen from the host (for health probes)."""
        return self.ssh.open_tcp(host, port, timeout)

    def run(self, command: str, timeout: float) -> CommandResult:
        """A shell command on the host over its own exec channel (for health probes)."""
        return self.ssh.run(command, timeout)

    def open_agent(self, script: str, args: Sequence[str], what: str) -> paramiko.Channel:
        """An agent script on the host (the log file reader), on an exec channel of its own."""
        return self.ssh.open_agent(script, args, what)

    @property
    def connected(self) -> bool:
        """True while the session holds a live SSH transport (a command would reuse it)."""
        ssh = self._ssh
        return self._client is not None and ssh is not None and ssh.alive

    @property
    def connection(self) -> SSHConnection | None:
        """The SSH connection held now, if any (``herd keeper status`` counts them)."""
        return self._ssh

    def reset(self) -> None:
        """Forget the connection (after an error); the next use reconnects."""
        with self._lock:
            self._drop()

    close = reset

    def abort(self) -> None:
        """Drop the connection from another thread without waiting for a stuck user.

        Closing the transport makes a thread blocked on it fail promptly; a
        thread still in the handshake holds the lock and is left to its own
        timeouts (it runs as a daemon).  A transport other targets of the
        host still use is left to them.
        """
        if self._lock.acquire(blocking=False):
            try:
                self._drop()
            finally:
                self._lock.release()
        elif self._ssh is not None:
            self._link.abort(self._ssh, self)

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._ssh is not None:
            self._link.release(self._ssh, self)
        self._client = self._ssh = None

class SessionPool:
    """One HostSession per target, kept across commands (the shell, live views), one connection per host.

    A Fleet built on a pool borrows its sessions and leaves them open when
    the command ends, so the next command costs one round trip per host.
    The sessions of a host's supervisords (``web01/app``, ``web01/infra``)
    share its SharedConnection.
    """

    def __init__(self, connector: Connector, identity: Callable[[Host], Hashable] | None = None) -> None:
        """``identity(host)``: what a session was made under; a host whose identity changed gets a new one.

        By default the Host itself (its inventory settings).  The keeper adds
        the sealed secrets the session was made with (herd/keeper/keys.py).
        A host's connection is shared while the identity of its SSH settings
        (:func:`ssh_part`) stays the same.
        """
        self.connector = connector
        self._identity = identity or (lambda host: host)
        self._made_under: dict[str, Hashable] = {}
        self._sessions: dict[str, HostSession] = {}
        self._links: dict[str, tuple[Hashable, SharedConnection]] = {}
        self._discarded: list[HostSession] = []
        self._lock = threading.Lock()

    def session(self, host: Host) -> HostSession:
        identity = self._identity(host)
        with self._lock:
            current = self._sessions.get(host.name)
            if current is None or self._made_under.get(host.name) != identity:
                if current is not None:
                    self._discarded.append(current)
                    current.abort()
                current = self._sessions[host.name] = HostSession(host, self.connector, self._link(host))
                self._made_under[host.name] = identity
            return current

    def _link(self, host: Host) -> SharedConnection:
        """The host's shared connection; a new one when its SSH settings (or secrets) changed."""
        identity = self._identity(ssh_part(host))
        made = self._links.get(host.host_name)
        if made is None or made[0] != identity:
            made = self._links[host.host_name] = (identity, SharedConnection(self.connector))
        return made[1]

    def connected(self) -> int:
        """How many hosts have a live connection now (``herd keeper status``)."""
        with self._lock:
            sessions = list(self._sessions.values())
        return len({id(s.connection) for s in sessions if s.connected})

    def discard(self) -> None:
        """Forget every session, aborting its connection without waiting for its user.

        For after an interrupted command (Ctrl-C in the shell): its threads may
        still be using their sessions; they fail promptly on the closed
        transports, and the next command gets new sessions of its own instead
        of sharing a pipe with them.
        """
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
            self._links = {}
            self._discarded.extend(sessions)
        for session in sessions:
            session.abort()

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
            discarded, self._discarded = self._discarded, []
            self._links = {}
        for session in sessions + discarded:
            session.abort()  # closes it; a thread still in its handshake (abandoned at a deadline) is not waited for
        self.connector.close()


def ssh_part(host: Host) -> Host:
    """What a target's SSH connection depends on: the host without its supervisord (for sharing one)."""
    return replace(host, name=host.host_name, supervisor=SupervisorTarget(), supervisor_name=None)
