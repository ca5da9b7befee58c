"""What operations use of one host: the boundary between herd's logic and the wire.

Operations (status, control, rolling, logs, check) never touch SSH or HTTP
themselves.  They see a host through :class:`HostAccess`: a supervisord
client, a way to start over after an error, and the two things a health
probe needs from the host (a TCP connection opened *on* the host, and a
shell command run there).  :class:`herd.fleet.session.HostSession`
implements it over SSH; :mod:`herd.testing.fake` implements it in process,
with a fake supervisord under the real :class:`SupervisorClient`, so the
logic above the wire is tested fast and without sshd.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from herd.inventory.model import Host
    from herd.ssh.connection import CommandResult
    from herd.supervisor.client import SupervisorClient

class ByteChannel(Protocol):
    """A connected byte stream (a paramiko Channel, a socket): what an HTTP probe speaks over."""

    def sendall(self, data: bytes) -> None: ...
    def recv(self, size: int) -> bytes: ...
    def settimeout(self, timeout: float | None) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class HostAccess(Protocol):
    """One host as operations use it; every method may raise a HostError."""

    host: "Host"

    @property
    def name(self) -> str: ...

    @property
    def connected(self) -> bool:
        """True while a live connection is held: a call costs one round trip, no handshake."""

    def client(self) -> "SupervisorClient":
        """supervisord's XML-RPC client, connecting first if needed."""

    def reset(self) -> None:
        """Forget the connection after an error; the next use starts over."""

    def abort(self) -> None:
        """Drop the connection from another thread, without waiting for its user."""

    def close(self) -> None:
        """Release the connection for good (a new use reconnects)."""

    def open_tcp(self, host: str, port: int, timeout: float) -> ByteChannel:
        """A byte stream to host:port as seen from the host (raises TunnelRefused when nothing listens)."""

    def run(self, command: str, timeout: float) -> "CommandResult":
        """Run a shell command on the host; status None when it did not finish within ``timeout``."""

    def open_agent(self, script: str, args: Sequence[str], what: str) -> ByteChannel:
        """Start one of herd's agent scripts (herd/ssh/remote.py) on the host; its channel once ready.

        ``what`` names the agent in errors ("log file reader")."""
