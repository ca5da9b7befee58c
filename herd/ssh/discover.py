"""Finding supervisord on a host when the inventory does not say where: what a config names, and what runs.

Two views of the host, both taken by one agent (herd/ssh/agents/find_supervisord.py)::

    what supervisorctl would use: the first supervisord.conf in its search order
        <supervisorctl or supervisord on PATH>/../etc/supervisord.conf, .../../supervisord.conf,
        $CWD/supervisord.conf, $CWD/etc/supervisord.conf,
        /etc/supervisord.conf, /etc/supervisor/supervisord.conf
      (a file that exists ends the search), its ``[supervisorctl] serverurl``,
      else its ``[unix_http_server] file``, with that section's credentials;
    what runs: the supervisord processes in /proc (of this mount namespace),
      each with its -c config or the one supervisord found from its working
      directory, and what it listens on: its open sockets matched to
      /proc/net/unix and /proc/net/tcp, else the unix_http_server file and
      inet_http_server port of its config.

The choice: the config's target when it answers; what runs when the config
names nothing or a target that does not answer (a package installed and
disabled, a leftover /etc/supervisord.conf); the first of COMMON_SOCKETS
that exists when neither says anything.  When several supervisords run,
nothing is chosen: the failure lists them, and the inventory must name one
(``supervisor.socket``) or each (``supervisors:``).  Under become the agent
is root and sees every process; without, it sees what the login user may
read (and says so when /proc is mounted with hidepid).

The agent finds the target, connects, writes the ready byte and one JSON
line saying what it found, where, and why (``seen``, ``notes``: herd logs
them at -v), then relays as herd/ssh/relay.py does.  So discovery costs no
round trip of its own, under sudo (become) or not.  Where sshd allows socket
forwarding, what was found is remembered (SocketMemory) so that later runs
open the socket directly; credentials are never remembered, and neither are
hosts that need them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from pathlib import Path

from paramiko import Channel

from herd.files import write_atomically
from herd.ssh.relay import OPEN_SOCKET, RELAY_LOOP
from herd.ssh.remote import RelayError

log = logging.getLogger("herd.ssh")

COMMON_SOCKETS = ("/var/run/supervisor.sock", "/run/supervisor.sock", "/tmp/supervisor.sock",
                  "/var/run/supervisor/supervisor.sock")
REPORT_LIMIT = 65536

AGENT_SOURCE = (resources.files("herd.ssh") / "agents" / "find_supervisord.py").read_text(encoding="utf-8")

# After the agent's functions: choose, report (ready byte + JSON line, or "!errno JSON" on stderr), relay.
_CHOOSE = r"""
s, found = choose()
if s is None:
    sys.stderr.write("!%d %s\n" % (found["errno"], text(report(found))))
    sys.exit(3)
os.write(1, b"+" + report(found) + b"\n")
"""


def discover_script(common: tuple[str, ...] | list[str] = COMMON_SOCKETS, root: str = "") -> str:
    """The discovering relay; ``root``: a fake host tree the agent reads /etc and /proc from (tests)."""
    settings = f"ROOT = {root!r}\nCOMMON = {list(common)!r}\n"
    return (OPEN_SOCKET + AGENT_SOURCE + settings + _CHOOSE + RELAY_LOOP).strip()


DISCOVER_SCRIPT = discover_script()


@dataclass(frozen=True)
class Found:
    """Where the discovering agent found supervisord; the password only in memory."""

    target: str                    # a socket path, or host:port of an inet_http_server
    how: str                       # "[supervisorctl] serverurl in /etc/supervisor/supervisord.conf"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    seen: tuple[str, ...] = ()     # what the agent looked at, for -v
    notes: tuple[str, ...] = ()    # what it could not see (hidepid, other users' files)

    @property
    def is_unix(self) -> bool:
        return self.target.startswith("/")

    @property
    def endpoint(self) -> str:
        return f"unix://{self.target}" if self.is_unix else f"http://{self.target}"


@dataclass(frozen=True)
class NotFound:
    """The agent's failure report: where it looked or what it found, and why that failed.

    ``kind``: ``dead`` (a target that does not answer: ``target``, ``how``,
    ``reason``), ``several`` (several supervisords run: ``running`` describes
    each), ``nothing`` (no config names one, none runs that it could see).
    ``seen`` and ``notes`` are what it looked at and what it could not see.
    """

    errno: int
    target: str
    how: str
    reason: str
    kind: str = "dead"
    running: tuple[str, ...] = ()
    seen: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def parse_failure(exc: RelayError) -> NotFound:
    """The agent's ``!errno {json}`` line as a NotFound (pure, for tests)."""
    message = str(exc)
    try:
        data = json.loads(message)
        if not isinstance(data, dict):
            raise ValueError(message)
    except ValueError:
        return NotFound(exc.errno, "", "", message, kind="unreadable")
    kind = str(data.get("kind") or "dead")
    return NotFound(exc.errno, str(data.get("target") or ""), str(data.get("how") or ""),
                    str(data.get("reason") or ""), kind, _strings(data.get("running")),
                    _strings(data.get("seen")), _strings(data.get("notes")))


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def read_report(chan: Channel) -> Found:
    """The JSON line the agent writes after its ready byte."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = chan.recv(1)
        if not chunk or len(data) > REPORT_LIMIT:
            raise RelayError(0, "the discovering relay sent no report")
        data += chunk
    try:
        report = json.loads(data.decode("utf-8", "replace"))
        return Found(str(report["target"]), str(report["how"]), _opt(report.get("username")),
                     _opt(report.get("password")), seen=_strings(report.get("seen")),
                     notes=_strings(report.get("notes")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RelayError(0, "the discovering relay sent an unreadable report") from exc


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def state_dir() -> Path:
    """``$XDG_STATE_HOME/herd``, by default ``~/.local/state/herd``."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "herd"


class SocketMemory:
    """Sockets found on hosts, per inventory: ``state_dir()/sockets/<hash of the inventory path>.json``.

    An entry holds the socket path, how it was found and the SSH identity it
    was found through (user@address:port; an entry for another identity is
    ignored).  Never a password.  Writes are atomic; a broken file is
    ignored, as if empty.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def for_inventory(cls, inventory: str) -> "SocketMemory":
        digest = hashlib.sha1(os.path.abspath(inventory).encode()).hexdigest()[:10]
        return cls(state_dir() / "sockets" / f"{digest}.json")

    def recall(self, host: str, ssh_id: str) -> str | None:
        entry = self._load().get(host)
        if isinstance(entry, dict) and entry.get("ssh") == ssh_id and isinstance(entry.get("socket"), str):
            return str(entry["socket"])
        return None

    def remember(self, host: str, ssh_id: str, found: Found) -> None:
        self._update(host, {"socket": found.target, "how": found.how, "ssh": ssh_id})

    def forget(self, host: str) -> None:
        self._update(host, None)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _update(self, host: str, entry: dict[str, str] | None) -> None:
        with self._lock:
            data = self._load()
            if entry is None:
                if data.pop(host, None) is None:
                    return
            else:
                data[host] = entry
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(self.path, json.dumps(data, indent=1), mode=0o600)
            except OSError as exc:
                log.debug("cannot record discovered sockets in %s: %s", self.path, exc.strerror)
