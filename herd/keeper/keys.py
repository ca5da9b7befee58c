"""Durations, whether a command line wants a keeper, and what a kept session was made under.

A session made under one set of conditions is never lent to a command run
under others.  The conditions are hashed into a *pool key*: the bytes of
the inventory (every file of an Ansible inventory directory), of the ssh
config and known_hosts files the selected hosts use, the connection
options (--timeout, --accept-new, --become) and the ssh-agent socket.
Content, not mtimes: an edit that keeps the mtime still counts.  Secrets
(supervisord and sudo passwords, read from the client's environment or
files) are not part of the pool key: each host's session carries an HMAC
of the secrets it was made with, under a key that lives only in the
keeper's memory, and a request presenting other secrets (or none) gets a
new session (SessionPool's identity, herd/fleet/session.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from herd.inventory.model import Host

ENV_VAR = "HERD_KEEP"
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_OFF = ("0", "no", "off", "false", "never")
MAX_FILE = 16 * 1024 * 1024   # bytes of one file hashed; a bigger inventory file is hashed by its head and size


def parse_duration(text: str) -> float:
    """Seconds in ``10m``, ``90s``, ``1h``, ``2d`` or a plain number of seconds; ValueError otherwise."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 10m, 1h)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def keep_from_env(environ: Mapping[str, str]) -> float | None:
    """$HERD_KEEP: seconds (0: off), or None when unset; ValueError when unreadable."""
    value = environ.get(ENV_VAR)
    if value is None or value.strip() == "":
        return None
    if value.strip().lower() in _OFF:
        return 0.0
    return parse_duration(value)


def keep_from_args(args: Sequence[str]) -> float | None:
    """--keep DURATION / --keep=DURATION / --no-keep on a command line (the last wins); None if absent."""
    found: float | None = None
    items = list(args)
    for index, arg in enumerate(items):
        if arg == "--":
            break
        if arg == "--no-keep":
            found = 0.0
        elif arg == "--keep" and index + 1 < len(items):
            found = _duration_or_zero(items[index + 1])
        elif arg.startswith("--keep="):
            found = _duration_or_zero(arg.partition("=")[2])
    return found


def _duration_or_zero(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError:
        return 0.0   # click reports the bad value itself, on the direct run


def digest_files(paths: Iterable[str | os.PathLike[str]]) -> str:
    """A hash of each path and its content (a missing file counts as missing; directories recursively)."""
    h = hashlib.sha256()
    for path in sorted({os.path.abspath(os.path.expanduser(str(p))) for p in paths}):
        for name in _files_under(Path(path)):
            h.update(os.fsencode(name) + b"\0")
            h.update(_content(name))
    return h.hexdigest()


def _files_under(path: Path) -> list[str]:
    if not path.is_dir():
        return [str(path)]
    found: list[str] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files))
    return found


def _content(name: str) -> bytes:
    try:
        with open(name, "rb") as fh:
            data = fh.read(MAX_FILE + 1)
            return b"+" + (data if len(data) <= MAX_FILE else data + str(os.fstat(fh.fileno()).st_size).encode())
    except OSError as exc:
        return f"-{exc.errno}".encode()


def ssh_files(hosts: Iterable["Host"]) -> list[str]:
    """The ssh config and known_hosts files the hosts' connections read."""
    from herd.ssh.hostkeys import default_files

    files = ["~/.ssh/config", "/etc/ssh/ssh_config"]
    for extra in {h.known_hosts for h in hosts} | {None}:
        files.extend(default_files([extra]))
    return files


def pool_key(inventory: str, hosts: Sequence["Host"], *, timeout: float, accept_new: bool,
             become: bool | None, environ: Mapping[str, str]) -> str:
    """The key of the pool of sessions a command on ``hosts`` may use (see the module docstring)."""
    h = hashlib.sha256()
    for part in (digest_files([inventory]), digest_files(ssh_files(hosts)), repr(float(timeout)),
                 repr(accept_new), repr(become), environ.get("SSH_AUTH_SOCK", ""), environ.get("HOME", "")):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


class SecretSeal:
    """HMACs of secrets under a key only this process knows: comparable, not reversible, never stored."""

    def __init__(self) -> None:
        self._key = os.urandom(32)

    def seal(self, value: str | None) -> str:
        if value is None:
            return "none"
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def host_secrets(self, host: "Host") -> tuple[str, str]:
        """The sealed supervisord password and sudo password a session of ``host`` would be made with.

        Read from their sources now, under the request's environment; a
        source that cannot be read seals its error, so the session fails
        the same way a direct run would.
        """
        from herd.inventory.model import read_secret

        sealed = []
        for env, path, env_key, file_key in (
                (host.supervisor.password_env, host.supervisor.password_file, "password_env", "password_file"),
                (host.become_password_env, host.become_password_file,
                 "become_password_env", "become_password_file")):
            try:
                sealed.append(self.seal(read_secret(env, path, env_key, file_key)))
            except ValueError as exc:
                sealed.append(f"error:{exc}")
        return sealed[0], sealed[1]
