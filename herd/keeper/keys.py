"""What a kept session was made under: the *pool key* of the sessions a command may use.

A session made under one set of conditions is never lent to a command run
under others.  The conditions are hashed into a pool key: the bytes of
the inventory (every file of an Ansible inventory directory), of the ssh
config and known_hosts files the selected hosts use, the connection
options (--timeout, --accept-new, --become) and the ssh-agent socket.
Content, not mtimes: an edit that keeps the mtime still counts.  Secrets
(supervisord and sudo passwords) are not part of the pool key: each
host's session carries their seal (seal.py), and a request presenting
other secrets (or none) gets a new session (SessionPool's identity,
herd/fleet/session.py).

Durations moved to herd/duration.py and the secrets' seal to seal.py; the
two names stay importable from here for modules not yet moved over
(herd/cli/options.py, herd/keeper/scope.py).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from herd.inventory.model import Host

MAX_FILE = 16 * 1024 * 1024   # bytes of one file hashed; a bigger inventory file is hashed by its head and size


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
