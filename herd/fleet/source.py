"""Where a Fleet gets each host's session: the seam between fan-out and connections.

httpx hands its Client a transport; herd hands its Fleet a ``SessionSource``.
The Fleet runs tasks on hosts and never decides how a host is reached or how
long a connection lives: the source does, and the CLI root chooses it once
per command:

- :func:`direct`: new SSH connections, closed when the command ends;
- :func:`borrowed` over a :class:`~herd.fleet.session.SessionPool`: sessions
  kept open by someone who outlives the command (the shell, herd web, the
  keeper), left open at its end;
- herd.testing.fake's ``FakeSource``: hosts in process, no SSH at all.

A new long-lived view (a poller, a follower, a guard) needs nothing more than
a Fleet on a source: see herd/fleet/__init__.py for an example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from herd.ssh.connection import Connector

if TYPE_CHECKING:
    from herd.fleet.access import HostAccess
    from herd.fleet.session import SessionPool
    from herd.inventory.model import Host
    from herd.settings import FleetOptions


class SessionSource(Protocol):
    """A session for each host, the time budget its connections keep to, and an end."""

    @property
    def timeout(self) -> float:
        """Seconds a step (connecting, one call) may take: a read-only command's budget per host."""

    @property
    def reopen_dead(self) -> bool:
        """True when a kept connection found dead may be reopened and a read-only task run once more."""

    def session(self, host: Host) -> HostAccess:
        """The host's session (the same object for the same host while the source lives)."""

    def close(self) -> None:
        """Release what the source owns; sessions it only lends stay open for their owner."""

    def discard(self) -> None:
        """After an interrupted command: drop every session without waiting for threads still using them."""


class PoolSource:
    """Sessions lent by a SessionPool that outlives the command (shell, web, keeper): close() keeps them."""

    def __init__(self, pool: SessionPool, *, reopen_dead: bool = False, owned: bool = False) -> None:
        """``owned``: the pool is this source's own, closed with it (a command's own connections)."""
        self.pool = pool
        self._reopen_dead = reopen_dead
        self._owned = owned

    @property
    def timeout(self) -> float:
        return self.pool.connector.timeout

    @property
    def reopen_dead(self) -> bool:
        return self._reopen_dead

    def session(self, host: Host) -> HostAccess:
        return self.pool.session(host)

    def close(self) -> None:
        if self._owned:
            self.pool.close()       # closes the connector too

    def discard(self) -> None:
        self.pool.discard()


def borrowed(pool: SessionPool, *, reopen_dead: bool = False) -> PoolSource:
    """The sessions of a pool someone else keeps open (the shell's, the page's, the keeper's)."""
    return PoolSource(pool, reopen_dead=reopen_dead)


def direct(connector: Connector) -> PoolSource:
    """New SSH connections for one command, all closed when its Fleet closes."""
    from herd.fleet.session import SessionPool

    return PoolSource(SessionPool(connector), owned=True)


def make_connector(opts: "FleetOptions", inventory_path: str, timeout: float | None = None) -> Connector:
    """The Connector of one command: its timeout, host-key policy, and the sockets found before."""
    from herd.ssh.discover import SocketMemory

    return Connector(timeout=opts.timeout if timeout is None else timeout, accept_new=opts.accept_new,
                     sockets=SocketMemory.for_inventory(inventory_path))
