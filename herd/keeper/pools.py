"""What a keeper keeps between the commands it runs: pools of SSH sessions, and parsed inventories.

Which pool a command gets is given by the pool key (keys.py): a command run
under other conditions (another --timeout, other secrets, another HOME) gets
another pool, never a session made under the old ones.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Sequence

from herd.keeper.seal import SecretSeal
from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.fleet import SessionPool
    from herd.inventory.model import Inventory

log = logging.getLogger("herd-keeper")   # not under "herd": commands set that logger up for their own stderr

MAX_POOLS = 4   # pools kept at once (e.g. two --timeout values in use); the least recently used is closed


class InventoryMemo:
    """herd's YAML inventory parsed once per content: a command whose file is byte for byte the last one's
    (and whose HOME, which ``~`` in paths expands to, is the same) gets the same frozen Inventory.

    Keyed on the bytes, not the mtime, so an edit is always seen; Ansible
    inventories (which read other files beside this one) are parsed every time.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[tuple[str, bytes], "Inventory"]] = {}
        self._lock = threading.Lock()

    def read(self, path: str, *, skip_vaulted: bool = False) -> "Inventory":
        from herd.inventory.ansible import is_ansible_inventory
        from herd.inventory.read import read_inventory

        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return read_inventory(path, skip_vaulted=skip_vaulted)   # a directory, or unreadable: it says what
        key = (os.environ.get("HOME", ""), hashlib.sha256(data).digest())
        where = os.path.abspath(path)
        with self._lock:
            known = self._last.get(where)
        if known is not None and known[0] == key:
            return known[1]
        inventory = read_inventory(path, skip_vaulted=skip_vaulted)
        if not is_ansible_inventory(path):
            with self._lock:
                self._last[where] = (key, inventory)
        return inventory


class Pools:
    """The keeper's pools of sessions, by pool key, least recently used first."""

    def __init__(self) -> None:
        self._pools: dict[str, "SessionPool"] = {}
        self._lock = threading.Lock()
        self.seal = SecretSeal()
        self.inventories = InventoryMemo()

    def get(self, key: str, opts: FleetOptions, inventory_path: str, timeout: float | None) -> "SessionPool":
        """The pool of ``key``, made on first use with the command's own Connector settings."""
        from herd.fleet import SessionPool
        from herd.fleet.source import make_connector

        with self._lock:
            pool = self._pools.pop(key, None)
            evicted: list[SessionPool] = []
            if pool is None:
                connector = make_connector(opts, inventory_path, timeout=timeout)
                pool = SessionPool(connector, identity=lambda host: (host, self.seal.host_secrets(host)))
                while len(self._pools) >= MAX_POOLS:
                    evicted.append(self._pools.pop(next(iter(self._pools))))
                log.info("new pool of sessions %s (%d kept)", key[:12], len(self._pools) + 1)
            self._pools[key] = pool
        for old in evicted:
            old.close()
        return pool

    def connected(self) -> int:
        with self._lock:
            pools = list(self._pools.values())
        return sum(p.connected() for p in pools)

    def discard(self, pools: Sequence["SessionPool"]) -> None:
        """Abort the sessions of ``pools`` (after an interrupted command), as the shell does."""
        for pool in pools:
            pool.discard()

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
