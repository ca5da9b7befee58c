"""The options every fleet command shares (-i, -a/-g/-H, --timeout ...), and -o / --dry-run.

What the options are turned into lives elsewhere: the settings in
herd/settings.py (FleetOptions), the Fleet in herd/cli/fleets.py, logging
and output in herd/cli/output.py.  The heavy modules (yaml, paramiko) are
imported only when a command runs, so ``herd --help`` stays fast.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Callable

import click

from herd.cli.output import setup_logging
from herd.settings import FleetOptions

log = logging.getLogger("herd")


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
        from herd.duration import parse_duration

        try:
            parse_duration(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--keep'") from exc
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


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``-o table|json`` (the table is for people, JSON for scripts)."""
    return click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
                        show_default=True, help="Table for people, JSON for scripts.")(func)


yes_option = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")


def dry_run_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--dry-run", is_flag=True,
                        help="Say what would be done on which host; change nothing.")(func)


