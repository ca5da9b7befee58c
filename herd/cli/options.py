"""Options every fleet command shares, and turning them into a Fleet.

The heavy modules (yaml, paramiko) are imported only when a command runs,
so ``herd --help`` stays fast.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import click

if TYPE_CHECKING:
    from herd.fleet import Fleet, SessionPool
    from herd.inventory import Inventory

log = logging.getLogger("herd")


@dataclass(frozen=True)
class FleetOptions:
    """The shared options of one command line."""

    inventory: str | None
    all_hosts: bool
    groups: tuple[str, ...]
    patterns: tuple[str, ...]
    timeout: float
    forks: int
    accept_new: bool
    verbose: int
    become: bool | None = None   # --become / --no-become: overrides the inventory's become for this run
    keep: str | None = None      # --keep DURATION / --no-keep ("0"): read by the keeper client (herd/keeper)
    skip_vaulted: bool = False   # --skip-vaulted / $HERD_SKIP_VAULTED: go on without vault-encrypted vars files

    @property
    def has_selector(self) -> bool:
        return self.all_hosts or bool(self.groups) or bool(self.patterns)


def _inventory_names(ctx: click.Context, kind: str) -> list[str]:
    """Host or group names of the inventory the command line would use, for shell completion.

    Completion must never fail loudly: a missing or broken inventory offers nothing.
    """
    quiet, log.disabled = log.disabled, True   # no warning line in the middle of the line being typed
    try:
        from herd.inventory import find_inventory, read_inventory

        path, _ = find_inventory(ctx.params.get("inventory"))
        inventory = read_inventory(path, skip_vaulted=True)   # the names are in the inventory, not the vaults
    except Exception:  # noqa: BLE001 - any problem means "nothing to offer" while typing
        return []
    finally:
        log.disabled = quiet
    if kind == "hosts":   # targets, and the hosts that have several (web01 for web01/app, web01/infra)
        return list(dict.fromkeys(n for h in inventory.hosts for n in (h.host_name, h.name)))
    return list(inventory.groups)


def _complete_hosts(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [n for n in _inventory_names(ctx, "hosts") if n.startswith(incomplete)]


def _complete_groups(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [n for n in _inventory_names(ctx, "groups") if n.startswith(incomplete)]


_OPTIONS = [
    click.option("-i", "--inventory", metavar="FILE", help="Inventory: herd's YAML, or an Ansible inventory "
                 "file or directory (default: $HERD_INVENTORY, "
                 "./inventory.yaml, ./inventory/herd.yaml, ~/.config/herd/inventory.yaml, /etc/herd/inventory.yaml).",
                 type=click.Path(dir_okay=True)),
    click.option("-a", "--all-hosts", is_flag=True, help="Every host of the inventory."),
    click.option("-g", "--group", "groups", multiple=True, metavar="NAME", shell_complete=_complete_groups,
                 help="Hosts of a group (repeatable)."),
    click.option("-H", "--host", "patterns", multiple=True, metavar="PATTERN", shell_complete=_complete_hosts,
                 help="Hosts whose inventory name matches a shell glob (repeatable); for a host with several "
                      "supervisords, all of them, or one as HOST/NAME."),
    click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="SECONDS",
                 help="Time a host gets: read-only commands (status, tail, version, pid, avail) finish "
                      "within it, connecting included; other commands bound each step (connecting, "
                      "each call) by it."),
    click.option("--forks", type=click.IntRange(min=1), default=50, show_default=True, metavar="N",
                 help="Hosts contacted at once."),
    click.option("--accept-new", is_flag=True,
                 help="Trust and record host keys never seen before (like OpenSSH's accept-new); "
                      "a changed key is always refused."),
    click.option("-v", "--verbose", count=True, help="Say more (-vv: debug)."),
    click.option("--become/--no-become", default=None,
                 help="Reach supervisord through sudo on the hosts (or not), whatever the inventory's "
                      "become says, for this run."),
    click.option("--keep", metavar="DURATION", default=None, callback=lambda ctx, param, value: _check_keep(value),
                 help="Keep the SSH connections open in a background keeper for DURATION after the last "
                      "command (10m, 90s, 1h), as ssh's ControlPersist; later commands reuse them "
                      "(default: $HERD_KEEP, else the inventory's keep; docs/keeper.md)."),
    click.option("--no-keep", "keep", flag_value="0", help="Connect directly, not through a keeper."),
    click.option("--skip-vaulted", is_flag=True, callback=lambda ctx, param, value: _skip_vaulted(value),
                 help="Go on without an Ansible inventory's group_vars/host_vars files that are encrypted "
                      "with ansible-vault (herd does not decrypt them), instead of stopping; a warning names "
                      "each one (default: $HERD_SKIP_VAULTED)."),
]

_NAMES = ["inventory", "all_hosts", "groups", "patterns", "timeout", "forks", "accept_new", "verbose", "become",
          "keep", "skip_vaulted"]


def _check_keep(value: str | None) -> str | None:
    """--keep's DURATION, refused here when unreadable (the keeper client would only skip it)."""
    if value is not None:
        from herd.keeper.keys import parse_duration

        try:
            parse_duration(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--keep'") from None
    return value


_YES, _NO = ("1", "true", "yes", "on", "y", "t"), ("", "0", "false", "no", "off", "n", "f")


def _skip_vaulted(flag: bool) -> bool:
    """--skip-vaulted, else $HERD_SKIP_VAULTED (1/0, yes/no, true/false, on/off); anything else is refused."""
    from herd.inventory.foreign import SKIP_VAULTED_ENV
    from herd.text import shorten

    value = os.environ.get(SKIP_VAULTED_ENV)
    if flag or value is None:
        return flag
    if value.strip().lower() in _YES + _NO:
        return value.strip().lower() in _YES
    raise click.BadParameter(f"${SKIP_VAULTED_ENV} is '{shorten(value, 40)}'; set it to 1 (go on without vault-encrypted "
                             "vars files) or 0", param_hint="'--skip-vaulted'")


def fleet_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared options; the command receives them as ``fleet_opts``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = FleetOptions(**{n: kwargs.pop(n) for n in _NAMES})
        setup_logging(opts.verbose)
        return func(*args, fleet_opts=opts, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


class SafeFormatter(logging.Formatter):
    """herd's log lines, terminal-safe: a message may quote what a host sent (herd.text)."""

    def format(self, record: logging.LogRecord) -> str:
        from herd import text

        return text.block(super().format(record))


def setup_logging(verbose: int) -> None:
    """herd's own messages on stderr: warnings always, info with -v, debug with -vv."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("herd: %(message)s"))
    root = logging.getLogger("herd")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    # paramiko logs refused channels at ERROR; herd reports those itself, in plain words.
    paramiko_log = logging.getLogger("paramiko")
    paramiko_log.propagate = False
    paramiko_log.handlers[:] = [handler] if verbose >= 3 else [logging.NullHandler()]
    paramiko_log.setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)


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
    hosts: list
    explicit: bool
    become: bool | None = None   # the shell's --become/--no-become, for commands typed in it


def shell_scope() -> ShellScope | None:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, ShellScope) else None


def load_selected(opts: FleetOptions, *, default_all: bool) -> tuple["Inventory", list]:
    """Find and validate the inventory, then apply the selectors."""
    from dataclasses import replace

    from herd.errors import UsageError
    from herd.inventory import find_inventory, read_inventory, select_hosts

    scope = shell_scope()
    if scope is not None:
        if opts.inventory is not None:
            raise UsageError("-i/--inventory applies to the whole shell: give it to `herd shell`")
        if not opts.has_selector:
            if not (scope.explicit or default_all):
                raise UsageError("this command changes things: choose hosts first (hosts -a, hosts -g NAME, "
                                 "hosts -H PATTERN) or add -a/-g/-H to the command")
            return scope.inventory, with_become(list(scope.hosts), opts.become)
        inventory = scope.inventory
        if opts.become is None:
            opts = replace(opts, become=scope.become)
    else:
        path, how = find_inventory(opts.inventory)
        inventory = _read_inventory(path, opts.skip_vaulted)
        log.info("inventory: %s (%s), %d hosts", path, how, len(inventory.hosts))
    hosts = select_hosts(inventory, all_hosts=opts.all_hosts, groups=opts.groups,
                         patterns=opts.patterns, default_all=default_all)
    return inventory, with_become(hosts, opts.become)


def _read_inventory(path: str, skip_vaulted: bool) -> "Inventory":
    """The inventory at ``path``; inside a keeper, parsed once per content (herd/keeper/scope.py)."""
    from herd.inventory import read_inventory
    from herd.keeper.scope import keeper_scope

    keeper = keeper_scope()
    if keeper is not None:
        return keeper.pools.inventories.read(path, skip_vaulted=skip_vaulted)
    return read_inventory(path, skip_vaulted=skip_vaulted)


def with_become(hosts: list, become: bool | None) -> list:
    """The hosts with ``become`` forced on or off by --become/--no-become (None: as the inventory says)."""
    from dataclasses import replace

    return hosts if become is None else [replace(h, become=become) for h in hosts]


def open_fleet(opts: FleetOptions, *, default_all: bool,
               selected: tuple["Inventory", list] | None = None) -> "Fleet":
    """The selected hosts as a Fleet, ready to run tasks (connections open lazily).

    ``selected`` is what load_selected already returned, for commands that
    read the inventory themselves first: it is loaded and validated once.
    Inside the shell the Fleet borrows the shell's open sessions.  A Fleet
    is a context manager: ``with open_fleet(...) as fleet:`` closes it.
    """
    from herd.fleet import Fleet

    inventory, hosts = selected if selected is not None else load_selected(opts, default_all=default_all)
    scope = shell_scope()
    if scope is not None:
        _check_shell_connector(opts, scope.pool.connector)
        return Fleet(hosts, scope.pool.connector, forks=opts.forks, pool=scope.pool)
    return new_fleet(opts, inventory.path, hosts)


def new_fleet(opts: FleetOptions, inventory_path: str, hosts: list, timeout: float | None = None) -> "Fleet":
    """A Fleet on new connections, or, inside a keeper, on the keeper's kept ones (herd/keeper/scope.py)."""
    from herd.fleet import Fleet
    from herd.keeper.scope import keeper_scope

    keeper = keeper_scope()
    if keeper is not None:
        return keeper.fleet(opts, inventory_path, hosts, timeout=timeout)
    return Fleet(hosts, make_connector(opts, inventory_path, timeout=timeout), forks=opts.forks)


def command_start() -> float | None:
    """time.monotonic() when the user's herd process started, when a keeper runs the command; else None."""
    from herd.keeper.scope import keeper_scope

    keeper = keeper_scope()
    return keeper.started if keeper is not None else None


def make_connector(opts: FleetOptions, inventory_path: str, timeout: float | None = None) -> Any:
    """The Connector of one command: its timeout, host-key policy, and the sockets found before."""
    from herd.ssh.connection import Connector
    from herd.ssh.discover import SocketMemory

    return Connector(timeout=opts.timeout if timeout is None else timeout, accept_new=opts.accept_new,
                     sockets=SocketMemory.for_inventory(inventory_path))


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


def use_color(stream: Any = None) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set."""
    if "NO_COLOR" in os.environ:
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``-o table|json`` (the table is for people, JSON for scripts)."""
    return click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
                        show_default=True, help="Table for people, JSON for scripts.")(func)


def dry_run_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--dry-run", is_flag=True,
                        help="Say what would be done on which host; change nothing.")(func)


def emit_report(report: Any, output: str) -> int:
    """Print an ActionReport as lines or JSON; return its exit code."""
    import json

    from herd.render.actions import action_json, action_lines

    if output == "json":
        click.echo(json.dumps(action_json(report), indent=2))
    else:
        click.echo("\n".join(action_lines(report, use_color())))
    return report.exit_code
