"""Secrets sealed: what lets a keeper tell two sets of passwords apart without keeping either.

Each host's kept session carries an HMAC of the secrets it was made with
(the supervisord and sudo passwords, read from the request's environment
or files), under a key that lives only in the keeper's memory; a request
presenting other secrets (or none) gets a new session (SessionPool's
identity, herd/fleet/session.py).  The seal is comparable, not
reversible, and never stored or sent.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from herd.inventory.model import Host


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
