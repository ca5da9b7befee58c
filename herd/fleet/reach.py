"""How herd reaches a host's supervisord over an SSH connection, and what a failure there means.

The SSH layer reports tunnel failures in neutral terms (no socket at a path,
permission denied for a user); ``supervisor_error`` here says what they mean
for supervisord and what fixes them.  Where the inventory names no socket,
discovery (herd/ssh/discover.py) finds one, and a socket found once is
remembered for the next run.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import urlsplit

from herd.errors import (HostError, SocketMissing, SupervisorUnavailable, TunnelAmbiguous, TunnelDenied,
                         TunnelRefused)
from herd.inventory.model import DISCOVER, Host
from herd.ssh.connection import Connector, SSHConnection
from herd.ssh.discover import COMMON_SOCKETS, Found
from herd.supervisor.client import SupervisorClient
from herd.supervisor.transport import RPCPipe, basic_auth

log = logging.getLogger("herd.fleet")


def supervisor_client(host: Host, ssh: SSHConnection, connector: Connector) -> SupervisorClient:
    """A client for ``host``'s supervisord over ``ssh``: the socket or URL the inventory names, else found."""
    target = host.supervisor
    try:
        password = target.password()
    except ValueError as exc:
        raise SupervisorUnavailable(host.name, str(exc)) from exc
    if not target.url and target.socket == DISCOVER:
        return _discovered_client(host, ssh, connector, password)
    if target.url:
        parts = urlsplit(target.url)
        address, port = parts.hostname or "127.0.0.1", parts.port or 80

        def opener() -> object:
            with supervisor_errors(tcp=True):
                return ssh.open_tcp(address, port)
    else:
        path = target.socket or ""

        def opener() -> object:
            with supervisor_errors():
                return ssh.open_unix(path)
    pipe = RPCPipe(opener, basic_auth(target.username, password), timeout=connector.timeout)
    return SupervisorClient(host.name, pipe, endpoint=target.endpoint, timeout=connector.timeout,
                            has_credentials=bool(target.username))


def _discovered_client(host: Host, ssh: SSHConnection, connector: Connector,
                       password: str | None) -> SupervisorClient:
    """The inventory names no socket: find supervisord as supervisorctl would (herd/ssh/discover.py).

    The channel that found it carries the first calls.  A socket
    remembered from an earlier run is opened directly instead; when it no
    longer answers, it is forgotten and supervisord found again, once.
    """
    target = host.supervisor
    first, found = _remembered(host, ssh, connector)
    if first is None:
        with supervisor_errors():
            first, found = ssh.open_discovered()
        for line in found.seen + found.notes:
            log.info("%s: discovery: %s", host.name, line)
        creds = "; with the credentials of that section" if found.username else ""
        log.info("%s: found supervisord at %s (%s%s)", host.name, found.target, found.how, creds)
        memory = connector.sockets
        if memory is not None and found.is_unix and not found.username and not ssh.becomes:
            memory.remember(host.name, _ssh_id(ssh), found)
    pending = [first]

    def opener() -> object:
        if pending:
            return pending.pop()
        with supervisor_errors(tcp=not found.is_unix):
            if found.is_unix:
                return ssh.open_unix(found.target)
            host, _, port = found.target.rpartition(":")
            return ssh.open_tcp(host, int(port))

    username = target.username or found.username
    secret = password if target.username else found.password
    pipe = RPCPipe(opener, basic_auth(username, secret))
    return SupervisorClient(host.name, pipe, endpoint=found.endpoint, timeout=connector.timeout,
                            has_credentials=bool(username))

def _remembered(host: Host, ssh: SSHConnection, connector: Connector) -> tuple[Any, Found]:
    """(channel, where) to a socket remembered for this host, or (None, ...) to discover."""
    memory = connector.sockets
    path = memory.recall(host.name, _ssh_id(ssh)) if memory is not None and not ssh.becomes else None
    if path is None:
        return None, Found("", "")
    try:
        chan = ssh.open_unix(path)
    except (SupervisorUnavailable, TunnelRefused) as exc:
        log.info("%s: the remembered socket %s does not answer (%s); looking for supervisord again",
                 host.name, path, exc.reason)
        memory.forget(host.name)   # type: ignore[union-attr]
        return None, Found("", "")
    log.info("%s: using socket %s, found on an earlier run", host.name, path)
    return chan, Found(path, "remembered")


LISTED = 5   # supervisords named in the one line that asks which (-v lists every one)


@contextmanager
def supervisor_errors(*, tcp: bool = False) -> Iterator[None]:
    """Tunnel failures on the way to supervisord, re-raised as what they mean for it (SupervisorUnavailable)."""
    try:
        yield
    except TunnelRefused as exc:
        raise supervisor_error(exc, tcp=tcp) from exc


def supervisor_error(exc: TunnelRefused, *, tcp: bool = False) -> HostError:
    """The sentence for a tunnel to supervisord that failed: what is wrong there and what fixes it."""
    host = exc.host
    if isinstance(exc, TunnelAmbiguous):
        shown = list(exc.candidates[:LISTED])
        if len(exc.candidates) > LISTED:
            shown.append(f"and {len(exc.candidates) - LISTED} more (-v lists each)")
        return SupervisorUnavailable(host, f"{len(exc.candidates)} supervisords run and the inventory names none: "
                                           f"{'; '.join(shown)}; set supervisor.socket (or "
                                           f"supervisor.url) to one, or name each under supervisors: "
                                           f"{{NAME: {{socket: PATH}}}}")
    if isinstance(exc, SocketMissing):
        if not exc.path:
            return SupervisorUnavailable(host, _nothing_found(exc))
        return SupervisorUnavailable(host, f"no supervisord socket at {exc.path} (is supervisord running?)")
    if isinstance(exc, TunnelDenied):
        if exc.become:
            return SupervisorUnavailable(host, f"{exc.reason} (become_user)")
        return SupervisorUnavailable(host, f"{exc.reason} (set become: true in the inventory to reach it "
                                           f"through sudo, log in as supervisord's user, or set chmod/chown in "
                                           f"[unix_http_server])")
    if tcp:
        return SupervisorUnavailable(host, f"{exc.reason} (is supervisord running?)")
    return exc


def _nothing_found(exc: SocketMissing) -> str:
    """Discovery found no socket: what it looked at, what it saw run, and what it could not see."""
    if exc.running:
        text = (f"found no supervisord socket: supervisord runs ({'; '.join(exc.running)}) but where it listens "
                f"is not readable here; set become: true in the inventory, or supervisor.socket")
    else:
        text = (f"found no supervisord: no supervisord.conf in supervisorctl's search order names a socket, no "
                f"supervisord process runs that herd could see, and none of the common paths exists "
                f"({', '.join(COMMON_SOCKETS)}); set supervisor.socket in the inventory")
    hidden = [n for n in exc.notes if "hidepid" in n]
    return text + (f" ({hidden[0]})" if hidden else "")


def _ssh_id(ssh: SSHConnection) -> str:
    target = ssh.target
    return f"{target.user}@{target.hostname}:{target.port}"
