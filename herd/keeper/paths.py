"""Where a keeper's socket and log live, and a keeper's name.

As OpenSSH's ControlPath: the socket sits in a directory only the user can
enter (``$XDG_RUNTIME_DIR/herd`` when that is the user's own, else
``$XDG_STATE_HOME/herd/keeper``; when that path is too long for a unix
socket, ``$TMPDIR/herd-keeper-UID``), created 0700 and refused when anyone
else could read it.  One keeper per user (and state directory), inventory
and herd build: its name is a hash of these, so an upgraded herd never
talks to an old one.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

from herd import __version__
from herd.errors import HerdError

# sun_path is 108 bytes on Linux, NUL included.
MAX_SOCKET_PATH = 107


class KeeperPathError(HerdError):
    """The socket directory is unsafe or unusable: no keeper, commands run directly."""


def state_dir() -> Path:
    """``$XDG_STATE_HOME/herd``, by default ``~/.local/state/herd`` (as herd/ssh/discover.py)."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "herd"


def keeper_dir(short: bool = False) -> Path:
    """The user's keeper directory, created 0700; KeeperPathError when it is not the user's alone.

    ``short``: the fallback under the temporary directory, for when the
    usual one makes a socket path too long.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if short:
        base = Path(tempfile.gettempdir()) / f"herd-keeper-{os.getuid()}"
    else:
        base = Path(runtime) / "herd" if runtime and _owned_private(Path(runtime)) else state_dir() / "keeper"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(base)
    except OSError as exc:
        raise KeeperPathError(f"cannot create the keeper directory {base}: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise KeeperPathError(f"the keeper directory {base} must be a directory of uid {os.getuid()} "
                              f"with mode 0700")
    return base


def _owned_private(path: Path) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o077


def keeper_name(inventory: str) -> str:
    """16 hex digits naming the keeper of ``inventory`` for this user and this herd build."""
    build = f"{__version__}\0{sys.executable}\0{Path(__file__).resolve().parent}"
    real = os.path.realpath(inventory)
    user = f"{os.getuid()}\0{Path.home()}\0{state_dir()}"
    return hashlib.sha256(f"{user}\0{real}\0{build}".encode()).hexdigest()[:16]


def socket_path(inventory: str) -> Path:
    """The keeper socket of ``inventory``; KeeperPathError when the path is too long for a socket."""
    name = f"keeper-{keeper_name(inventory)}.sock"
    path = keeper_dir() / name
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        path = keeper_dir(short=True) / name
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise KeeperPathError(f"the keeper socket path {path} is longer than {MAX_SOCKET_PATH} bytes")
    return path


def log_path(socket: Path) -> Path:
    """The keeper's own log file, next to its socket."""
    return socket.with_suffix(".log")


def lock_path(socket: Path) -> Path:
    """Held (flock) by the running keeper: two starting at once, one wins."""
    return socket.with_suffix(".lock")
