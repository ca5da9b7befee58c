"""SSH sessions to hosts, and the tunnels herd opens through them.

``Connector`` holds what connections share for the life of the process (keys,
known_hosts files, jump-host sessions) and opens ``SSHConnection`` objects;
an ``SSHConnection`` is one authenticated transport that can open tunnels to
a unix socket or a loopback TCP port on its host.  Nothing here knows about
supervisord or about a particular command: connections may outlive a command
(a shell, a live view) and be reused by whatever asks.

Every failure leaves this module as a herd HostError subclass naming the host
and the cause in plain words; paramiko and socket exceptions do not.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import paramiko
from paramiko.ssh_exception import (
    AuthenticationException,
    BadAuthenticationType,
    ChannelException,
    PartialAuthentication,
    SSHException,
)

from herd.errors import (
    AuthError,
    BecomeError,
    ConnectError,
    HostKeyError,
    HostError,
    HostTimeout,
    SocketMissing,
    SupervisorUnavailable,
    TunnelAmbiguous,
    TunnelDenied,
    TunnelRefused,
)
from herd.ssh.config import SSHTarget, resolve_jump
from herd.ssh.discover import DISCOVER_SCRIPT, Found, SocketMemory, parse_failure, read_report
from herd.ssh.hostkeys import ChangedHostKey, KnownHosts, UnknownHostKey, default_files, fingerprint, lookup_name
from herd.ssh.keys import KeyStore
from herd.ssh.relay import RELAY_SCRIPT
from herd.inventory.model import read_secret
from herd.ssh.remote import RelayError, Sudo, open_agent
from herd.ssh.streamlocal import open_streamlocal_channel
from herd.ssh.idle import WakeOnClose, calm
from herd.ssh.quickack import quickack

log = logging.getLogger("herd.ssh")

OPEN_ADMINISTRATIVELY_PROHIBITED = 1  # RFC 4254: sshd forbids this kind of forwarding

# Key types OpenSSH files as ssh-rsa are negotiated as rsa-sha2-*.
_TYPE_ALIASES = {"ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]}


class Deadline:
    """A point in time; each step of a connection gets what remains of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.05, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at - 0.01


@dataclass
class Connector:
    """Opens SSH connections; shares keys, known_hosts and jump hosts between them."""

    timeout: float = 10.0
    accept_new: bool = False
    keys: KeyStore = field(default_factory=KeyStore)
    sockets: SocketMemory | None = None   # supervisord sockets found on hosts (herd/ssh/discover.py)
    _known: dict[tuple[str, ...], KnownHosts] = field(default_factory=dict)
    _jumps: dict[str, "SSHConnection"] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _jump_locks: dict[str, threading.Lock] = field(default_factory=dict)

    def connect(self, target: SSHTarget) -> "SSHConnection":
        """Open and authenticate an SSH session to ``target`` within ``timeout``."""
        deadline = Deadline(self.timeout)
        via = self._jump_for(target) if target.proxy_jump else None
        sock = self._open_socket(target, deadline, via)
        return self._handshake(target, sock, deadline, via)

    def close(self) -> None:
        """Close the jump-host sessions this connector opened."""
        with self._lock:
            jumps, self._jumps = list(self._jumps.values()), {}
        for conn in jumps:
            conn.close()

    # -- known hosts -----------------------------------------------------

    def known_hosts(self, target: SSHTarget) -> KnownHosts:
        """The trusted keys for a target: user, system and inventory files."""
        files = tuple(default_files([target.known_hosts]))
        with self._lock:
            if files not in self._known:
                record_to = target.known_hosts or files[0]
                self._known[files] = KnownHosts(files, record_to)
            return self._known[files]

    # -- jump hosts ------------------------------------------------------

    def _jump_for(self, target: SSHTarget) -> "SSHConnection":
        """One shared session per jump chain (sshd's MaxStartups limits handshakes)."""
        spec = target.proxy_jump or ""
        with self._lock:
            lock = self._jump_locks.setdefault(spec, threading.Lock())
        with lock:
            conn = self._jumps.get(spec)
            if conn is not None and conn.alive:
                return conn
            hops = [h.strip() for h in spec.split(",") if h.strip()]
            conn = None
            for hop in hops:
                conn = self._connect_hop(resolve_jump(hop, target), conn, target.name)
            assert conn is not None
            self._jumps[spec] = conn
            return conn

    def _connect_hop(self, hop: SSHTarget, via: "SSHConnection | None", for_host: str) -> "SSHConnection":
        try:
            deadline = Deadline(self.timeout)
            return self._handshake(hop, self._open_socket(hop, deadline, via), deadline, via)
        except HostKeyError as exc:
            raise HostKeyError(for_host, f"jump host {hop.hostname}: {exc.reason}") from exc
        except (ConnectError, HostTimeout, AuthError) as exc:
            raise type(exc)(for_host, f"jump host {hop.hostname}: {exc.reason}") from exc

    # -- connection steps ------------------------------------------------

    def _open_socket(self, target: SSHTarget, deadline: Deadline, via: "SSHConnection | None") -> object:
        """A TCP socket with TCP_NODELAY, or a direct-tcpip channel through a jump host."""
        where = f"{target.hostname} port {target.port}"
        if via is not None:
            return via.open_tcp(target.hostname, target.port, deadline.remaining(), for_host=target.name)
        try:
            sock = socket.create_connection((target.hostname, target.port), timeout=deadline.remaining())
        except socket.gaierror as exc:
            raise ConnectError(target.name, f"cannot resolve {target.hostname}: {exc.strerror}") from exc
        except ConnectionRefusedError as exc:
            raise ConnectError(target.name, f"connection refused by {where} (is sshd running?)") from exc
        except (socket.timeout, TimeoutError) as exc:
            raise HostTimeout(target.name, f"no answer from {where} within {self.timeout:g} s") from exc
        except OSError as exc:
            raise ConnectError(target.name, f"cannot connect to {where}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return WakeOnClose(quickack(sock))

    def _handshake(self, target: SSHTarget, sock: Any, deadline: Deadline,
                   via: "SSHConnection | None") -> "SSHConnection":
        transport = paramiko.Transport(sock)
        try:
            known = self.known_hosts(target)
            lookup = lookup_name(target.hostname, target.port)
            _prefer_known_key_types(transport, known.known_types(lookup))
            _negotiate(transport, target, deadline, self.timeout)
            self._check_host_key(target, transport, known, lookup)
            _authenticate(transport, target, self.keys, deadline, self.timeout)
        except BaseException:
            transport.close()
            raise
        calm(transport)     # from here on, its thread sleeps while the connection is idle
        return SSHConnection(target, transport, self.timeout, via)

    def _check_host_key(self, target: SSHTarget, transport: paramiko.Transport,
                        known: KnownHosts, lookup: str) -> None:
        key = transport.get_remote_server_key()
        try:
            known.verify(lookup, key)
        except ChangedHostKey as exc:
            raise HostKeyError(target.name, f"host key refused for {lookup}: {exc}") from exc
        except UnknownHostKey as exc:
            if not self.accept_new:
                raise HostKeyError(target.name, _unknown_key_message(target, lookup, key, known)) from exc
            known.record(lookup, key)
            log.warning("%s: recorded new host key %s %s for %s in %s", target.name, key.get_name(),
                        fingerprint(key), lookup, known.record_to)


def _prefer_known_key_types(transport: paramiko.Transport, known_types: list[str]) -> None:
    """Negotiate a host key type we already know, as OpenSSH does."""
    if not known_types:
        return
    options = transport.get_security_options()
    available = list(options.key_types)
    preferred: list[str] = []
    for kt in known_types:
        preferred.extend(t for t in _TYPE_ALIASES.get(kt, [kt]) if t in available and t not in preferred)
    if preferred:
        options.key_types = preferred + [t for t in available if t not in preferred]


def _negotiate(transport: paramiko.Transport, target: SSHTarget, deadline: Deadline, timeout: float) -> None:
    """Key exchange, bounded by the deadline (a hung sshd never sends its banner)."""
    transport.banner_timeout = deadline.remaining()
    transport.handshake_timeout = deadline.remaining()
    done = threading.Event()
    try:
        transport.start_client(event=done)
    except SSHException as exc:
        raise ConnectError(target.name, f"SSH handshake failed: {exc}") from exc
    done.wait(deadline.remaining())
    if transport.is_active() and done.is_set():
        return
    error = transport.get_exception()
    where = f"{target.hostname} port {target.port}"
    if not done.is_set() or deadline.passed:
        raise HostTimeout(target.name, f"SSH handshake with {where} did not finish within {timeout:g} s "
                                       f"(host hung or overloaded?)") from error
    if isinstance(error, EOFError) or error is None:
        raise ConnectError(target.name, f"{where} closed the connection during the SSH handshake") from error
    raise ConnectError(target.name, f"SSH handshake with {where} failed: {error}") from error


def _authenticate(transport: paramiko.Transport, target: SSHTarget, keys: KeyStore,
                  deadline: Deadline, timeout: float) -> None:
    """Offer the configured keys first, then the agent's (MaxAuthTries)."""
    transport.auth_timeout = deadline.remaining()
    offered: list[str] = []
    seen: set[bytes] = set()
    agent = paramiko.Agent() if os.environ.get("SSH_AUTH_SOCK") else None
    try:
        candidates = keys.keys_for(target.identity_files)
        if agent is not None:
            candidates += [(f"agent key {k.get_name()}", k) for k in agent.get_keys()]
        for label, key in candidates:
            if key.asbytes() in seen:
                continue
            seen.add(key.asbytes())
            offered.append(label)
            if _try_key(transport, target, key, deadline, timeout):
                return
    finally:
        if agent is not None:
            agent.close()
    if not offered:
        tried = ", ".join(target.identity_files) or "none"
        raise AuthError(target.name, f"no usable SSH key to offer as {target.user} (looked for {tried}; "
                                     f"set identity_file in the inventory or load a key into ssh-agent)")
    raise AuthError(target.name, f"authentication refused for user {target.user} "
                                 f"(offered: {', '.join(offered)})")


def _try_key(transport: paramiko.Transport, target: SSHTarget, key: paramiko.PKey,
             deadline: Deadline, timeout: float) -> bool:
    try:
        transport.auth_publickey(target.user, key)
        return transport.is_authenticated()
    except PartialAuthentication as exc:
        raise AuthError(target.name, f"the server wants more than a key for {target.user} "
                                     f"(also: {', '.join(exc.allowed_types)}); herd authenticates with keys only") from exc
    except BadAuthenticationType as exc:
        raise AuthError(target.name, f"the server does not accept public keys for {target.user} "
                                     f"(it allows: {', '.join(exc.allowed_types) or 'nothing'})") from exc
    except AuthenticationException as exc:
        if deadline.passed:
            raise HostTimeout(target.name, f"authentication did not finish within {timeout:g} s") from exc
        return False
    except SSHException as exc:
        raise ConnectError(target.name, f"connection lost during authentication: {exc}") from exc


def _unknown_key_message(target: SSHTarget, lookup: str, key: paramiko.PKey, known: KnownHosts) -> str:
    port = "" if target.port == 22 else f"-p {target.port} "
    return (f"unknown host key for {lookup} ({key.get_name()} {fingerprint(key)}); refusing to connect. "
            f"Trust it after checking the fingerprint: ssh-keyscan {port}{target.hostname} >> {known.record_to}, "
            f"or run once with --accept-new")


@dataclass(frozen=True)
class CommandResult:
    """A command run on a host: exit status (None if it did not finish) and output."""

    status: int | None
    stdout: str
    stderr: str


OUTPUT_LIMIT = 64 * 1024


def _drain(chan: paramiko.Channel, timeout: float) -> tuple[bytes, bytes]:
    """Read stdout and stderr until EOF or the deadline, keeping at most OUTPUT_LIMIT of each."""
    deadline = time.monotonic() + timeout
    out, err = b"", b""
    while time.monotonic() < deadline:
        if chan.recv_ready():
            out = (out + chan.recv(65536))[-OUTPUT_LIMIT:]
        elif chan.recv_stderr_ready():
            err = (err + chan.recv_stderr(65536))[-OUTPUT_LIMIT:]
        elif chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            break
        else:
            time.sleep(0.01)
    return out, err


class SSHConnection:
    """One authenticated SSH transport to a host; opens tunnels on it."""

    def __init__(self, target: SSHTarget, transport: paramiko.Transport, timeout: float,
                 via: "SSHConnection | None" = None) -> None:
        self.target = target
        self.transport = transport
        self.timeout = timeout
        self.via = via
        self.relay_only = False  # set once sshd refused a direct channel and a relay worked
        self.streamlocal_ok = False  # set once a streamlocal channel opened: sshd allows them
        self._sudo: Sudo | None = None

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def alive(self) -> bool:
        return self.transport.is_active()

    def close(self) -> None:
        self.transport.close()

    def open_unix(self, path: str) -> paramiko.Channel:
        """A byte pipe to the unix socket ``path`` on the host.

        Tries a streamlocal channel; when sshd refuses it (forbidden, or no
        socket there), asks a relay on the host, which also tells why the
        socket cannot be reached.  With become, the relay (under sudo) is
        the only way: the login user could not open the socket anyway.
        """
        if not self.relay_only and not self.becomes:
            try:
                chan = open_streamlocal_channel(self.transport, path, self.timeout)
                self.streamlocal_ok = True
                return self._settimeout(chan)
            except ChannelException:
                if self.streamlocal_ok:  # sshd forwards sockets: this one is gone or refuses us; the relay says which
                    return self._relay(path, what=f"socket {path}", kind="unix", diagnose=True)
            except SSHException as exc:
                raise self._channel_error(exc) from exc
        return self._relay(path, what=f"socket {path}", kind="unix")

    def open_tcp(self, host: str, port: int, timeout: float | None = None,
                 for_host: str | None = None) -> paramiko.Channel:
        """A byte pipe to ``host:port`` as seen from this host (direct-tcpip)."""
        timeout = self.timeout if timeout is None else timeout
        if not self.relay_only:
            try:
                chan = self.transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout)
                return self._settimeout(chan)
            except ChannelException as exc:
                if for_host:  # a jump hop: the next host is not reachable from here
                    raise ConnectError(for_host, f"jump host {self.target.hostname} cannot reach "
                                                 f"{host} port {port}") from exc
                if exc.code != OPEN_ADMINISTRATIVELY_PROHIBITED:  # forwarding works; nothing listens
                    raise TunnelRefused(self.name, f"nothing accepts connections on {host}:{port}") from exc
            except SSHException as exc:
                raise self._channel_error(exc) from exc
        return self._relay(f"{host}:{port}", what=f"{host}:{port}", kind="tcp")

    def run(self, command: str, timeout: float) -> "CommandResult":
        """Run a shell command on the host; its exit status and (bounded) output.

        A command still running at ``timeout`` is abandoned (its channel
        closed) and reported with status None.
        """
        try:
            chan = self.transport.open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.exec_command(command)
            out, err = _drain(chan, timeout)
            status = chan.recv_exit_status() if chan.status_event.wait(max(0.0, timeout)) else None
        except (SSHException, OSError, EOFError) as exc:
            raise self._channel_error(exc) from exc
        finally:
            if "chan" in locals():
                chan.close()
        return CommandResult(status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def open_agent(self, script: str, args: Sequence[str], what: str) -> paramiko.Channel:
        """Run an agent script (herd/ssh/remote.py) on the host; its channel once it is ready.

        ``what`` names the agent's purpose in errors ("log reader").  A
        failure the agent reports is a SupervisorUnavailable naming it.
        With become, the agent runs through sudo (see herd/ssh/remote.py);
        sudo's refusals are BecomeErrors.
        """
        try:
            chan = self.start_agent(script, args)
        except RelayError as exc:
            raise self._start_error(exc, what) or \
                SupervisorUnavailable(self.name, f"{what} on the host failed: {exc}") from exc
        except (SSHException, OSError, EOFError) as exc:
            raise self._channel_error(exc) from exc
        return self._settimeout(chan)

    def start_agent(self, script: str, args: Sequence[str]) -> paramiko.Channel:
        """open_agent() with this host's interpreter and sudo; RelayError as the agent or sudo reported it.

        Where sudo requires a terminal (``Defaults requiretty``), the agent is
        started again on a pty, and so is every later agent of this
        connection (herd/ssh/remote.py says how the pty is kept raw and the
        password off it): one more round trip, once per connection.
        """
        sudo = self.sudo()
        try:
            return open_agent(self.transport, script, args, self.target.python, self.timeout, sudo=sudo)
        except RelayError as exc:
            if sudo is None or sudo.tty or exc.kind != "sudo-needs-tty":
                raise
        log.info("%s: sudo requires a terminal here (Defaults requiretty): running herd's agents through sudo "
                 "on a pty in raw mode", self.name)
        self._sudo = sudo = replace(sudo, tty=True)
        try:
            return open_agent(self.transport, script, args, self.target.python, self.timeout, sudo=sudo)
        except (SSHException, EOFError, RelayError) as exc:
            # Seen with Dropbear 2022.83, about once in a few hundred: the pty channel that follows the
            # refused one is closed by the server before it runs (its child cannot take the pty), or its
            # pty request is refused (seen once in a loaded CI run). A server that never grants a pty
            # refuses again, and that answer stands.
            if not self.transport.is_active() or (isinstance(exc, RelayError) and exc.kind != "sudo-no-pty"):
                raise
            log.info("%s: the SSH server closed or refused herd's pty channel before it ran (%s); once more",
                     self.name, exc or type(exc).__name__)
        return open_agent(self.transport, script, args, self.target.python, self.timeout, sudo=sudo)

    def open_discovered(self) -> tuple[paramiko.Channel, Found]:
        """A byte pipe to the socket the discovery agent finds (herd/ssh/discover.py), and where it is.

        One agent on one channel finds it, connects and relays, under sudo
        with become: no round trip beyond a plain relay's.  Failures are the
        neutral tunnel errors (SocketMissing with no path: nothing found);
        the fleet layer words them for supervisord.
        """
        try:
            chan = self.start_agent(DISCOVER_SCRIPT, [])
            found = read_report(chan)
        except RelayError as exc:
            raise self._start_error(exc, "socket discovery") or self._discovery_error(exc) from exc
        except (SSHException, OSError, EOFError) as exc:
            raise self._channel_error(exc) from exc
        return self._settimeout(chan), found

    def _discovery_error(self, exc: RelayError) -> HostError:
        failure = parse_failure(exc)
        for line in failure.seen + failure.notes:
            log.info("%s: discovery: %s", self.name, line)
        if failure.kind == "several":
            return TunnelAmbiguous(self.name, f"{len(failure.running)} supervisords run", failure.running)
        if not failure.target:
            return SocketMissing(self.name, "the discovery agent found no socket", path="",
                                 running=failure.running, notes=failure.notes)
        log.info("%s: discovery found %s (%s)", self.name, failure.target, failure.how)
        unix = failure.target.startswith("/")
        what = f"socket {failure.target}" if unix else failure.target
        return self._relay_error(RelayError(failure.errno, failure.reason), what, "unix" if unix else "tcp")

    @property
    def becomes(self) -> bool:
        """True when agents run through sudo (inventory ``become``)."""
        return self.target.become_user is not None

    def sudo(self) -> Sudo | None:
        """How agents run through sudo, the password read once from its source; None without become."""
        target = self.target
        if target.become_user is None:
            return None
        if self._sudo is None:
            try:
                password = read_secret(target.become_password_env, target.become_password_file,
                                       "become_password_env", "become_password_file")
            except ValueError as exc:
                # from None on purpose: the cause may hold the password itself (a UnicodeDecodeError
                # keeps the bytes it could not decode), and its text is in the message already
                raise BecomeError(self.name, f"cannot read the sudo password: {exc}") from None
            self._sudo = Sudo(target.become_user, password)
        return self._sudo

    def _relay(self, target: str, what: str, kind: str, diagnose: bool = False) -> paramiko.Channel:
        """A relay channel to ``target``; from then on the relay is the way, unless it only came to ``diagnose``
        why a direct channel failed (on a connection where direct channels work)."""
        try:
            chan = self.start_agent(RELAY_SCRIPT, [target])
        except RelayError as exc:
            raise self._relay_error(exc, what, kind) from exc
        except (SSHException, OSError, EOFError) as exc:
            raise self._channel_error(exc) from exc
        if not self.relay_only and not diagnose:
            if self.becomes:
                log.info("%s: reaching %s through a Python relay run by sudo as %s", self.name, what,
                         self.target.become_user)
            else:
                log.info("%s: sshd refused a direct channel to %s; using a Python relay on the host",
                         self.name, what)
            self.relay_only = True
        return self._settimeout(chan)

    def _start_error(self, exc: RelayError, what: str) -> HostError | None:
        """The error for an agent that sudo or the shell did not let start; None for the agent's own."""
        login, user = self.target.user, self.target.become_user
        if exc.kind == "no-python":
            return SupervisorUnavailable(self.name, f"{exc} for herd's {what}; set python: in the inventory "
                                                    f"to the host's interpreter")
        messages = {
            "no-sudo": "become is set but sudo is not installed on the host",
            "sudo-password-required": f"sudo: a password is required for {login} to run as {user}; "
                                      f"give it with become_password_env or become_password_file "
                                      f"in the inventory",
            "sudo-wrong-password": f"sudo refused the password from {self.target.become_source} "
                                   f"for {login} (wrong sudo password)",
            "sudo-not-allowed": f"{login} is not allowed to run commands as {user} through sudo "
                                f"(not in the host's sudoers)",
            "sudo-unknown-user": f"sudo: there is no user {user} on the host (become_user)",
            "sudo-timeout": f"sudo did not let herd's {what} start within {self.timeout:g} s (it asked "
                            f"nothing herd recognises, or the host is overloaded)",
            "sudo-no-pty": f"sudo on the host requires a terminal (Defaults requiretty) and the SSH server "
                           f"refused herd a pty (PermitTTY no?); let {login} use sudo without one: add "
                           f"'Defaults:{login} !requiretty' to the host's sudoers",
            "sudo-needs-tty": f"sudo on the host requires a terminal (Defaults requiretty) even on herd's pty; "
                              f"let {login} use sudo without one: add 'Defaults:{login} !requiretty' to the "
                              f"host's sudoers",
        }
        return BecomeError(self.name, messages[exc.kind]) if exc.kind in messages else None

    def _settimeout(self, chan: paramiko.Channel) -> paramiko.Channel:
        chan.settimeout(self.timeout)
        return chan

    def _relay_error(self, exc: RelayError, what: str, kind: str) -> HostError:
        started = self._start_error(exc, what="socket relay")
        if started is not None:
            return started
        if kind == "unix" and exc.errno == 2:
            path = what.split(" ", 1)[1]
            return SocketMissing(self.name, f"no socket at {path}", path=path)
        if exc.missing:
            return TunnelRefused(self.name, f"nothing accepts connections on {what}")
        if exc.denied:
            user = self.target.become_user if self.becomes else self.target.user
            return TunnelDenied(self.name, f"permission denied on {what} for user {user}", what=what,
                                user=user or "", become=self.becomes)
        return TunnelRefused(self.name, f"cannot reach {what}: {exc}")

    def _channel_error(self, exc: BaseException) -> ConnectError | HostTimeout:
        if "timeout" in str(exc).lower() or isinstance(exc, socket.timeout):
            return HostTimeout(self.name, f"the SSH server did not open a channel within {self.timeout:g} s")
        if isinstance(exc, EOFError) or not str(exc):
            return ConnectError(self.name, "SSH connection lost: the server closed it")
        return ConnectError(self.name, f"SSH connection lost: {exc}")
