"""What a keeper lends the command it runs: a session source on its kept pools.

The CLI finds a ``KeeperScope`` as the root click context's ``obj`` (as the
shell's ShellScope: herd/cli/fleets.py) and builds its Fleet on the source
it gives (the pool for the command's options) instead of new connections.
Nothing here knows about click or the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from herd.keeper.keys import pool_key
from herd.keeper.pools import Pools
from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.fleet import SessionPool, SessionSource
    from herd.inventory.model import Host


class KeeperScope:
    """One request's view of the keeper: the pools, and when the client's process started."""

    def __init__(self, pools: Pools, environ: dict[str, str], started: float | None) -> None:
        self.pools = pools
        self.environ = environ
        self.started = started
        self.used: list["SessionPool"] = []

    def source(self, opts: FleetOptions, inventory_path: str, hosts: Sequence["Host"],
               timeout: float | None = None) -> "SessionSource":
        """The kept pool for these hosts and options, lent to the command (a dead kept connection is reopened).

        ``timeout``: the command's own per-step timeout (``herd check``
        derives it from --timeout); the pool key holds --timeout, which
        the command line chose.
        """
        from herd.fleet import borrowed

        key = pool_key(inventory_path, hosts, timeout=opts.timeout, accept_new=opts.accept_new,
                       become=opts.become, environ=self.environ)
        pool = self.pools.get(key, opts, inventory_path, timeout)
        self.used.append(pool)
        return borrowed(pool, reopen_dead=True)
