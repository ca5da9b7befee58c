"""From a command line to a Fleet: the inventory, the selected hosts, and where sessions come from.

The session source (herd/fleet/source.py) is chosen here, once per
command, from the root click context's ``obj``:

- a :class:`ShellScope` (the command was typed in ``herd shell``): the
  shell's kept sessions, its inventory and selection;
- a :class:`herd.keeper.scope.KeeperScope` (a keeper runs the command for
  the user's herd process): the keeper's pool for these options;
- nothing: new connections, closed when the command ends.

Operations never know which: they get a Fleet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import click

from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.fleet import Fleet, SessionPool, SessionSource
    from herd.inventory import Inventory
    from herd.inventory.model import Host
    from herd.keeper.scope import KeeperScope

log = logging.getLogger("herd")


@dataclass
class ShellScope:
    """What the interactive shell lends to the commands typed in it.

    Commands find it as the root click context's ``obj``: they then use the
    shell's inventory and its kept-open sessions, and, without selectors of
    their own, the shell's host selection.  ``explicit`` is False when the
    shell was started without selectors: its selection (every host) is then
    good for reading, and commands that change things still ask for one.
    """

    inventory: "Inventory"
    pool: "SessionPool"
    hosts: list["Host"]
    explicit: bool
    become: bool | None = None   # the shell's --become/--no-become, for commands typed in it

    def source(self, opts: FleetOptions) -> "SessionSource":
        """The shell's sessions, once the command's own connection options agree with them."""
        from herd.fleet import borrowed

        _check_shell_connector(opts, self.pool.connector)
        return borrowed(self.pool)


def _root_obj() -> Any:
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().obj if ctx is not None else None


def shell_scope() -> ShellScope | None:
    """The ShellScope of the running command, or None outside the shell."""
    obj = _root_obj()
    return obj if isinstance(obj, ShellScope) else None


def keeper_scope() -> "KeeperScope | None":
    """The KeeperScope of the running command, or None outside a keeper."""
    obj = _root_obj()
    if obj is None or type(obj).__name__ != "KeeperScope":
        return None             # no keeper module to import for the common case
    from herd.keeper.scope import KeeperScope

    return obj if isinstance(obj, KeeperScope) else None


def load_selected(opts: FleetOptions, *, default_all: bool) -> tuple["Inventory", list["Host"]]:
    """Find and validate the inventory, then apply the selectors."""
    from herd.errors import UsageError
    from herd.inventory import find_inventory, select_hosts

    scope = shell_scope()
    if scope is not None:
        if opts.inventory is not None:
            raise UsageError("-i/--inventory applies to the whole shell: give it to `herd shell`")
        if not opts.has_selector:
            if not (scope.explicit or default_all):
                raise UsageError("this command changes things: choose hosts first (hosts -a, hosts -g NAME, "
                                 "hosts -H PATTERN) or add -a/-g/-H to the command")
            return _selected(scope.inventory, with_become(list(scope.hosts), opts.become))
        inventory = scope.inventory
        if opts.become is None:
            opts = replace(opts, become=scope.become)
    else:
        path, how = find_inventory(opts.inventory)
        inventory = _read_inventory(path, opts.skip_vaulted)
        log.info("inventory: %s (%s), %d hosts", path, how, len(inventory.hosts))
    hosts = select_hosts(inventory, all_hosts=opts.all_hosts, groups=opts.groups,
                         patterns=opts.patterns, default_all=default_all)
    return _selected(inventory, with_become(hosts, opts.become))


def _selected(inventory: "Inventory", hosts: list["Host"]) -> tuple["Inventory", list["Host"]]:
    """The command's hosts, told to the audit trail (herd/cli/trail.py: a command that changes things)."""
    from herd.cli import trail

    trail.selected(hosts)
    return inventory, hosts


def load_confirmed(what: str, opts: FleetOptions, yes: bool, dry_run: bool) -> tuple["Inventory", list["Host"]]:
    """The inventory and selected hosts, once the user confirmed (on a terminal) or passed --yes."""
    import sys

    from herd.errors import NotConfirmed, UsageError

    inventory, hosts = load_selected(opts, default_all=False)
    names = ", ".join(h.name for h in hosts)
    if yes or dry_run:
        return inventory, hosts
    if not sys.stdin.isatty():
        raise UsageError(f"{what} on {len(hosts)} host(s) ({names}); no terminal to ask: pass --yes to confirm")
    if not click.confirm(f"{what} on {len(hosts)} host(s): {names}. Continue?", default=False):
        raise NotConfirmed()
    return inventory, hosts


def _read_inventory(path: str, skip_vaulted: bool) -> "Inventory":
    """The inventory at ``path``; inside a keeper, parsed once per content (herd/keeper/memo.py)."""
    from herd.inventory import read_inventory

    keeper = keeper_scope()
    if keeper is not None:
        return keeper.pools.inventories.read(path, skip_vaulted=skip_vaulted)
    return read_inventory(path, skip_vaulted=skip_vaulted)


def with_become(hosts: list["Host"], become: bool | None) -> list["Host"]:
    """The hosts with ``become`` forced on or off by --become/--no-become (None: as the inventory says)."""
    return hosts if become is None else [replace(h, become=become) for h in hosts]


def open_fleet(opts: FleetOptions, *, default_all: bool,
               selected: tuple["Inventory", list["Host"]] | None = None) -> "Fleet":
    """The selected hosts as a Fleet, ready to run tasks (connections open lazily).

    ``selected`` is what load_selected already returned, for commands that
    read the inventory themselves first: it is loaded and validated once.
    A Fleet is a context manager: ``with open_fleet(...) as fleet:`` closes it.
    """
    from herd.fleet import Fleet

    inventory, hosts = selected if selected is not None else load_selected(opts, default_all=default_all)
    shell = shell_scope()
    if shell is not None:
        return Fleet(hosts, shell.source(opts), forks=opts.forks)
    return new_fleet(opts, inventory.path, hosts)


def new_fleet(opts: FleetOptions, inventory_path: str, hosts: list["Host"], timeout: float | None = None) -> "Fleet":
    """A Fleet of ``hosts`` on the keeper's sessions, or on new connections (also in the shell).

    ``timeout``: the command's own per-step timeout when it is not --timeout
    (``herd check`` derives it from its budget), which the shell's kept
    connections could not honour.
    """
    from herd.fleet import Fleet

    return Fleet(hosts, session_source(opts, inventory_path, hosts, timeout), forks=opts.forks)


def session_source(opts: FleetOptions, inventory_path: str, hosts: list["Host"],
                   timeout: float | None = None) -> "SessionSource":
    """Where the sessions of a command outside the shell come from: the keeper's, or new connections."""
    from herd.fleet import direct
    from herd.fleet.source import make_connector

    keeper = keeper_scope()
    if keeper is not None:
        return keeper.source(opts, inventory_path, hosts, timeout=timeout)
    return direct(make_connector(opts, inventory_path, timeout=timeout))


def command_start() -> float | None:
    """time.monotonic() when the user's herd process started, when a keeper runs the command; else None."""
    keeper = keeper_scope()
    return keeper.started if keeper is not None else None


def _check_shell_connector(opts: FleetOptions, connector: Any) -> None:
    """In the shell, refuse connection options the shell's open connections cannot honour."""
    from click.core import ParameterSource

    from herd.errors import UsageError

    ctx = click.get_current_context(silent=True)
    typed = ctx is not None and ctx.get_parameter_source("timeout") is ParameterSource.COMMANDLINE
    if typed and opts.timeout != connector.timeout:
        raise UsageError("--timeout applies to the shell's connections: give it to `herd shell`")
    if opts.accept_new and not connector.accept_new:
        raise UsageError("--accept-new applies to the shell's connections: give it to `herd shell`")
