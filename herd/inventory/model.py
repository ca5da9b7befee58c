"""The validated inventory: frozen dataclasses, built once by the loader.

Everything downstream (ssh, fleet, operations) reads these objects and never
the YAML, so a field exists here only once it has been checked.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from herd.inventory.guard import GuardSettings

# No socket and no url in the inventory: find supervisord on the host as
# supervisorctl there would (herd/ssh/discover.py).
DISCOVER = "discover"
DEFAULT_SOCKET = DISCOVER

# ``herd check``: how bad each kind of problem is, unless ``check.severity`` in
# the inventory says otherwise.  docs/checks.md explains each kind.
SEVERITY_LEVELS = ("ok", "warning", "critical")
DEFAULT_SEVERITY: Mapping[str, str] = {
    "unreachable": "critical",   # the host could not be checked (SSH or supervisord)
    "missing": "critical",       # a program expect.*.running names is not on the host
    "fatal": "critical",         # process states other than RUNNING, by name ...
    "exited": "critical",        # EXITED with a status its program does not expect
    "exited_expected": "warning",  # EXITED with one of its exitcodes (a job that ended, or a server that quit)
    "stopped": "critical",
    "unknown": "critical",
    "backoff": "warning",
    "starting": "warning",
    "stopping": "warning",
    "flapping": "warning",       # RUNNING for less than expect.*.min_uptime
}


def read_secret(env: str | None, path: str | None, env_key: str, file_key: str) -> str | None:
    """A secret from an environment variable or a file; None when neither is set.

    Raises ValueError with a message naming the source and its inventory
    key (never the value) when the source is configured but unset or unreadable.
    """
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ValueError(f"environment variable {env} ({env_key}) is not set")
        return value
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"cannot read {file_key} {path}: {exc.strerror}") from exc
    return None


@dataclass(frozen=True)
class SupervisorTarget:
    """Where supervisord listens on a host, and how to authenticate to it.

    Exactly one of ``socket`` (a unix socket path on the host, or DISCOVER)
    and ``url`` (``http://127.0.0.1:9001``, inet_http_server on the host's
    loopback) is set.  The password itself is never stored here: only where to read it
    (an environment variable or a file), read at connect time by
    :meth:`password`.
    """

    socket: str | None = DEFAULT_SOCKET
    url: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None

    @property
    def endpoint(self) -> str:
        """A human description of where supervisord is (no credentials)."""
        if self.url:
            return self.url
        return "the socket supervisorctl would use" if self.socket == DISCOVER else f"unix://{self.socket}"

    def password(self) -> str | None:
        """Read the password from its source; None when none is configured.

        Raises ValueError with a message naming the source (never the value)
        when the source is configured but empty or unreadable.
        """
        return read_secret(self.password_env, self.password_file, "password_env", "password_file")


# Between a host's name and one of its supervisords' names: ``web01/app``.
TARGET_SEPARATOR = "/"


@dataclass(frozen=True)
class Host:
    """One target of the inventory: a host and the one supervisord herd reaches on it.

    A host with one supervisord (``supervisor:``, or none: discovered) is one
    target named like the host.  A host with ``supervisors: {app: ...,
    infra: ...}`` is one target per supervisord, named ``web01/app``,
    ``web01/infra``: each has its own ``supervisor`` and shares every other
    field (address, user, become, ...) with the host's other targets, and the
    fleet layer gives them one SSH connection (herd/fleet/session.py).
    ``supervisor_name`` is the name under ``supervisors``, None for a host
    with one supervisord; ``host_name`` is the host's own name either way.

    ``None`` for an SSH field means "not set in the inventory": the SSH layer
    then takes it from ~/.ssh/config, then from OpenSSH's defaults.
    """

    name: str
    address: str | None = None
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    proxy_jump: str | None = None
    python: str | None = None
    supervisor: SupervisorTarget = field(default_factory=SupervisorTarget)
    # become: reach supervisord (and app log files) through sudo on the host
    # (issue 10; the loader and the SSH layer give these their meaning).
    become: bool = False
    become_user: str | None = None          # None: root
    become_password_env: str | None = None
    become_password_file: str | None = None
    # The app's own log files: program name -> path template on the host,
    # with {program} {process} {num} {host} (issue 10).
    logs: Mapping[str, str] = field(default_factory=dict)
    line: int | None = None
    supervisor_name: str | None = None
    # As the loaders read it, before herd/inventory/targets.py makes one target of each:
    # ``supervisors`` name -> where that supervisord is (empty for a host with one).
    supervisors: Mapping[str, SupervisorTarget] = field(default_factory=dict)

    @property
    def host_name(self) -> str:
        """The host's inventory name: ``web01`` for the target ``web01/app`` (and for ``web01``)."""
        if self.supervisor_name is None:
            return self.name
        return self.name[:-len(self.supervisor_name) - len(TARGET_SEPARATOR)]


@dataclass(frozen=True)
class Expectation:
    """One ``expect`` entry: what ``herd check`` requires on the hosts of a group or a host.

    ``running`` are process names as supervisorctl takes them (``tornado``
    is every process of that program); ``min_uptime`` is in seconds, None
    when not set.  ``target`` is the group or host name as written.
    """

    target: str
    hosts: tuple[str, ...]
    running: tuple[str, ...] = ()
    min_uptime: int | None = None
    line: int | None = None


@dataclass(frozen=True)
class CheckSettings:
    """The inventory's ``check`` section: the severity of each kind of problem."""

    severity: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))


@dataclass(frozen=True)
class GroupNode:
    """One group of the group tree, as ``herd inventory --graph`` draws it.

    ``children`` are the groups it includes, ``hosts`` the hosts named in
    the group itself (not those that come through a child), both as written.
    """

    children: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """A loaded inventory: hosts in file order and groups resolved to host names."""

    path: str
    hosts: tuple[Host, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    expect: Mapping[str, Expectation] = field(default_factory=dict)
    check: CheckSettings = field(default_factory=CheckSettings)
    # The group tree (group -> GroupNode); empty when the loader does not say.
    tree: Mapping[str, GroupNode] = field(default_factory=dict)
    # defaults.keep: seconds a keeper keeps connections after the last command (herd/keeper); None: no keeper.
    keep: float | None = None
    # rolling: program name -> its roll settings (herd/inventory/rolling.py RollSettings)
    rolling: Mapping[str, Any] = field(default_factory=dict)
    # guard: herd guard's rules, remediation bounds and channels (herd/inventory/guard.py GuardSettings);
    # None: no guard section (guard runs its quick start)
    guard: GuardSettings | None = None

    def expectations_for(self, host: str) -> list[Expectation]:
        """The ``expect`` entries that apply to ``host``, in file order."""
        return list(self._expectations_by_host.get(host, ()))

    @functools.cached_property
    def _expectations_by_host(self) -> dict[str, list[Expectation]]:
        """host -> its expectations, made once: ``herd check`` asks for every host (a scan of every
        expectation's hosts per host was quadratic in hosts)."""
        found: dict[str, list[Expectation]] = {}
        for expectation in self.expect.values():
            for name in dict.fromkeys(expectation.hosts):
                found.setdefault(name, []).append(expectation)
        return found

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    @property
    def host_names(self) -> tuple[str, ...]:
        """The targets' names: ``web01``, or ``web01/app`` and ``web01/infra`` (see Host)."""
        return tuple(h.name for h in self.hosts)
