"""Finding supervisord on a host as supervisorctl there would, when the inventory does not say.

The first supervisord.conf in supervisord's own search order decides (as for
supervisorctl, a file that exists ends the search)::

    <supervisorctl or supervisord on PATH>/../etc/supervisord.conf
    <supervisorctl or supervisord on PATH>/../supervisord.conf
    $CWD/supervisord.conf, $CWD/etc/supervisord.conf
    /etc/supervisord.conf, /etc/supervisor/supervisord.conf

Its ``[supervisorctl] serverurl`` (``unix:///path`` or ``http://host:port``),
else its ``[unix_http_server] file``, is the target, with the username and
password of that section.  Without such a file, the first existing socket of
COMMON_SOCKETS is used.

The search runs in the relay agent itself: it finds the target, connects,
writes the ready byte and one JSON line saying what it found, then relays as
herd/ssh/relay.py does.  So discovery costs no round trip of its own, under
sudo (become) or not.  Where sshd allows socket forwarding, what was found
is remembered (SocketMemory) so that later runs open the socket directly;
credentials are never remembered, and neither are hosts that need them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

from paramiko import Channel

from herd.files import write_atomically
from herd.ssh.relay import OPEN_SOCKET, RELAY_LOOP
from herd.ssh.remote import RelayError

log = logging.getLogger("herd.ssh")

COMMON_SOCKETS = ("/var/run/supervisor.sock", "/run/supervisor.sock", "/tmp/supervisor.sock",
                  "/var/run/supervisor/supervisor.sock")
SYSTEM_CONFIGS = ("/etc/supervisord.conf", "/etc/supervisor/supervisord.conf")   # last in the search order
REPORT_LIMIT = 16384

_FIND = r"""
import json
try:
    from configparser import RawConfigParser
except ImportError:
    from ConfigParser import RawConfigParser
COMMON = %(common)r
SYSTEM = %(system)r

def which(name):
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p

def configs():
    out = []
    for exe in (which("supervisorctl"), which("supervisord")):
        if exe:
            up = os.path.dirname(os.path.dirname(os.path.abspath(exe)))
            out += [os.path.join(up, "etc", "supervisord.conf"), os.path.join(up, "supervisord.conf")]
    out += [os.path.abspath("supervisord.conf"), os.path.abspath(os.path.join("etc", "supervisord.conf"))]
    return out + SYSTEM

def expand(value, here):
    names = dict(("ENV_" + k, v) for k, v in os.environ.items())
    names["here"] = here
    try:
        return value %% names
    except Exception:
        return value

def option(parser, section, name):
    if parser.has_option(section, name):
        return parser.get(section, name).strip() or None

def from_config(path):
    try:
        parser = RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    except TypeError:
        parser = RawConfigParser()
    try:
        parser.read([path])
    except Exception:
        return None
    here = os.path.dirname(os.path.abspath(path))
    url = option(parser, "supervisorctl", "serverurl")
    section, how = "supervisorctl", "[supervisorctl] serverurl"
    if not url and option(parser, "unix_http_server", "file"):
        url = "unix://" + option(parser, "unix_http_server", "file")
        section, how = "unix_http_server", "[unix_http_server] file"
    if not url:
        return None
    url = expand(url, here)
    if url.startswith("unix://"):
        where = url[len("unix://"):]
    elif url.startswith("http://"):
        hostport = url[len("http://"):].split("/")[0]
        where = hostport if ":" in hostport else hostport + ":80"
    else:
        return None
    password = option(parser, section, "password")
    if password and password.startswith("{SHA}"):
        password = None
    return {"target": where, "how": "%%s in %%s" %% (how, path), "config": path,
            "username": option(parser, section, "username"), "password": password}

def find():
    for path in configs():
        if os.path.isfile(path):
            found = from_config(path)
            if found:
                return found
            break
    for path in COMMON:
        if os.path.exists(path):
            return {"target": path, "how": "common socket path", "config": None,
                    "username": None, "password": None}

found = find()
if not found:
    sys.stderr.write("!0 \t\tnothing found\n")
    sys.exit(3)
target = found["target"]
try:
    s = open_socket(target)
except socket.error as e:
    sys.stderr.write("!%%s %%s\t%%s\t%%s\n" %% (e.errno or 0, target, found["how"], e.strerror or e))
    sys.exit(3)
os.write(1, b"+" + json.dumps(found).encode() + b"\n")
"""

DISCOVER_SCRIPT = (OPEN_SOCKET + (_FIND % {"common": list(COMMON_SOCKETS), "system": list(SYSTEM_CONFIGS)})
                   + RELAY_LOOP).strip()


@dataclass(frozen=True)
class Found:
    """Where the discovering agent found supervisord; the password only in memory."""

    target: str                    # a socket path, or host:port of an inet_http_server
    how: str                       # "[supervisorctl] serverurl in /etc/supervisor/supervisord.conf"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def is_unix(self) -> bool:
        return self.target.startswith("/")

    @property
    def endpoint(self) -> str:
        return f"unix://{self.target}" if self.is_unix else f"http://{self.target}"


@dataclass(frozen=True)
class NotFound:
    """The agent's failure report: where it looked or what it found, and why that failed."""

    errno: int
    target: str
    how: str
    reason: str


def parse_failure(exc: RelayError) -> NotFound:
    """``<target>\\t<how>\\t<reason>`` from the agent's ``!errno`` line (pure, for tests)."""
    parts = str(exc).split("\t")
    if len(parts) != 3:
        return NotFound(exc.errno, "", "", str(exc))
    return NotFound(exc.errno, parts[0].strip(), parts[1], parts[2])


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
                     _opt(report.get("password")))
    except (ValueError, KeyError, TypeError):
        raise RelayError(0, "the discovering relay sent an unreadable report") from None


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
