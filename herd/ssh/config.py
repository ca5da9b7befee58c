"""Where and as whom to connect: the inventory, then ~/.ssh/config, then OpenSSH defaults.

Inventory values win over ~/.ssh/config (HostName, User, Port, IdentityFile,
ProxyJump), which wins over OpenSSH's defaults.  ~/.ssh/config is looked up
by the host's inventory name, as ``ssh web01`` would.  paramiko's SSHConfig
does not support ``Include``; such lines are ignored by it.
"""

from __future__ import annotations

import getpass
import logging
import os
import threading
from dataclasses import dataclass

from paramiko.config import SSHConfig

from herd.inventory.model import Host

log = logging.getLogger("herd.ssh")

DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


@dataclass(frozen=True)
class SSHTarget:
    """Everything needed to open one SSH session, fully resolved."""

    name: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    proxy_jump: str | None = None
    known_hosts: str | None = None
    python: str | None = None
    # become: agents (the relay, file readers) run through sudo as this user;
    # None: as the login user.  The password sources are read at connect time.
    become_user: str | None = None
    become_password_env: str | None = None
    become_password_file: str | None = None

    @property
    def become_source(self) -> str | None:
        """Where the sudo password comes from, for messages (never the value)."""
        if self.become_password_env:
            return f"become_password_env {self.become_password_env}"
        if self.become_password_file:
            return f"become_password_file {self.become_password_file}"
        return None


class _ParsedConfigs:
    """Parsed ssh config files, re-parsed whenever a file's content changes.

    A long-lived process (the shell, a web server, a keeper) must see edits
    to ~/.ssh/config: each lookup reads the file (small, and cheap next to an
    SSH handshake) and parses it again only when its bytes differ from the
    parsed copy.  Nothing is cached on mtime alone.
    """

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[bytes, SSHConfig]] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> SSHConfig:
        full = os.path.expanduser(path)
        try:
            with open(full, "rb") as fh:
                data = fh.read()
        except OSError:
            return SSHConfig()  # absent (or unreadable): OpenSSH's defaults apply
        with self._lock:
            cached = self._parsed.get(full)
            if cached is not None and cached[0] == data:
                return cached[1]
        config = _parse(full, data)
        with self._lock:
            self._parsed[full] = (data, config)
        return config


def _parse(full: str, data: bytes) -> SSHConfig:
    try:
        return SSHConfig.from_text(data.decode("utf-8", "replace"))
    except Exception as exc:  # paramiko raises several types; a broken config must not stop herd
        log.warning("ignoring %s: %s", full, exc)
        return SSHConfig()


_CONFIGS = _ParsedConfigs()


def load_ssh_config(path: str = "~/.ssh/config") -> SSHConfig:
    """The user's ssh config as it is on disk now; empty when absent."""
    return _CONFIGS.get(path)


def resolve_target(host: Host, config: SSHConfig | None = None) -> SSHTarget:
    """Merge the inventory host with ~/.ssh/config into an SSHTarget.

    A target of a host with several supervisords (``web01/app``) connects
    as its host: ~/.ssh/config is looked up by, and the SSHTarget named
    after, ``web01``.
    """
    config = config if config is not None else load_ssh_config()
    name = host.host_name
    entry = config.lookup(name)
    hostname = host.address or entry.get("hostname") or name
    port = host.port or _int(entry.get("port")) or 22
    user = host.user or entry.get("user") or getpass.getuser()
    identities = _identities(host.identity_file, entry.get("identityfile"))  # type: ignore[arg-type]  # a list
    jump = host.proxy_jump or _none_if_none(entry.get("proxyjump"))
    return SSHTarget(name, hostname, port, user, identities, jump, host.known_hosts, host.python,
                     become_user=(host.become_user or "root") if host.become else None,
                     become_password_env=host.become_password_env if host.become else None,
                     become_password_file=host.become_password_file if host.become else None)


def resolve_jump(spec: str, via_for: SSHTarget, config: SSHConfig | None = None) -> SSHTarget:
    """Resolve one ProxyJump hop (``[user@]host[:port]``) through ~/.ssh/config.

    The jump host's own ssh config entry applies; the target's identity files
    are offered after its own, since fleets commonly share a deploy key.
    """
    config = config if config is not None else load_ssh_config()
    user, name, port = parse_jump(spec)
    entry = config.lookup(name)
    own = [os.path.expanduser(f) for f in entry.get("identityfile") or []]
    identities = tuple(dict.fromkeys(own + list(via_for.identity_files)))
    return SSHTarget(
        name=f"{name} (jump host)",
        hostname=entry.get("hostname") or name,
        port=port or _int(entry.get("port")) or 22,
        user=user or entry.get("user") or getpass.getuser(),
        identity_files=identities,
        proxy_jump=None,
        known_hosts=via_for.known_hosts,
    )


def parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """``user@host:port`` -> (user, host, port); user and port are optional."""
    user = None
    if "@" in spec:
        user, spec = spec.rsplit("@", 1)
    port = None
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        if rest.startswith(":"):
            port = _int(rest[1:])
    elif spec.count(":") == 1:
        host, _, p = spec.partition(":")
        port = _int(p)
    else:
        host = spec
    return user, host, port


def _identities(inventory_file: str | None, configured: list[str] | None) -> tuple[str, ...]:
    files: list[str] = []
    if inventory_file:
        files.append(inventory_file)
    files.extend(os.path.expanduser(f) for f in (configured or []))
    if not files:
        files.extend(os.path.expanduser(f) for f in DEFAULT_IDENTITIES)
    return tuple(dict.fromkeys(files))


def _int(value: object) -> int | None:
    try:
        return int(value) if isinstance(value, (int, str)) else None
    except (TypeError, ValueError):
        return None


def _none_if_none(value: str | None) -> str | None:
    return None if value in (None, "", "none") else value
