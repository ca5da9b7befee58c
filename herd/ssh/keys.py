"""Private keys, loaded once per process and shared by every connection.

Loading an RSA-3072 key costs ~90 ms (OpenSSL validation); a fleet run
connects to hundreds of hosts with the same key, so each file is parsed once,
under a lock, and the PKey object is shared across threads (signing with it
is thread-safe).  Keys that need a passphrase are skipped: herd never prompts
in the middle of a parallel run; put such keys in ssh-agent.
"""

from __future__ import annotations

import logging
import os
import threading

from paramiko.pkey import PKey, UnknownKeyType
from paramiko.ssh_exception import PasswordRequiredException, SSHException

log = logging.getLogger("herd.ssh")


class KeyStore:
    """Cache of private keys by path; ``None`` records an unusable file."""

    def __init__(self) -> None:
        self._keys: dict[str, PKey | None] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> PKey | None:
        with self._lock:
            if path not in self._keys:
                self._keys[path] = _load(path)
            return self._keys[path]

    def keys_for(self, paths: tuple[str, ...]) -> list[tuple[str, PKey]]:
        """The usable keys among ``paths``, in order, labelled by path."""
        return [(p, k) for p in paths if (k := self.get(p)) is not None]


def _load(path: str) -> PKey | None:
    if not os.path.exists(path):
        return None
    try:
        return PKey.from_path(path)
    except PasswordRequiredException:
        log.info("skipping %s: it needs a passphrase (add it to ssh-agent)", path)
    except (SSHException, UnknownKeyType, OSError, ValueError) as exc:
        log.warning("skipping %s: not a usable private key (%s)", path, exc)
    return None
