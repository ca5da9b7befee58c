"""What a keeper lends the command it runs: its pools of kept sessions.

The CLI finds a ``KeeperScope`` as the root click context's ``obj`` (as the
shell's ShellScope) and then builds its Fleet on a kept pool instead of
fresh connections (herd/cli/options.py: open_fleet, new_fleet).  Which pool
is given by the pool key (keys.py): a command run under other conditions
gets another pool, never a session made under the old ones.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Sequence

from herd.keeper.keys import SecretSeal, pool_key

if TYPE_CHECKING:
    from herd.cli.options import FleetOptions
    from herd.fleet import Fleet, SessionPool
    from herd.inventory.model import Host, Inventory

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

    def get(self, key: str, opts: "FleetOptions", inventory_path: str, timeout: float | None) -> "SessionPool":
        """The pool of ``key``, made on first use with the command's own Connector settings."""
        from herd.cli.options import make_connector
        from herd.fleet import SessionPool

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


class KeeperScope:
    """One request's view of the keeper: the pools, and when the client's process started."""

    def __init__(self, pools: Pools, environ: dict[str, str], started: float | None) -> None:
        self.pools = pools
        self.environ = environ
        self.started = started
        self.used: list["SessionPool"] = []

    def fleet(self, opts: "FleetOptions", inventory_path: str, hosts: Sequence["Host"],
              timeout: float | None = None) -> "Fleet":
        """A Fleet on the kept pool for these hosts and options.

        ``timeout``: the command's own per-step timeout (``herd check``
        derives it from --timeout); the pool key holds --timeout, which
        the command line chose.
        """
        from herd.fleet import Fleet

        key = pool_key(inventory_path, hosts, timeout=opts.timeout, accept_new=opts.accept_new,
                       become=opts.become, environ=self.environ)
        pool = self.pools.get(key, opts, inventory_path, timeout)
        self.used.append(pool)
        return Fleet(hosts, pool.connector, forks=opts.forks, pool=pool, reopen_dead=True)


def keeper_scope() -> KeeperScope | None:
    """The KeeperScope of the running command, or None outside a keeper."""
    import click

    ctx = click.get_current_context(silent=True)
    obj: Any = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, KeeperScope) else None
