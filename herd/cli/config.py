"""``herd reread|pending|avail|update|add|remove|reload|shutdown|version``: supervisord's config commands."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING, Any

import click

from herd import __version__
from herd.cli.completion import complete_groups
from herd.cli.fleets import load_confirmed, open_fleet
from herd.cli.options import dry_run_option, fleet_options, output_option, yes_option
from herd.cli.output import emit_report
from herd.errors import EXIT_INTERRUPTED, NotConfirmed
from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.operations.config import LeftGroups, UpdateReport

EXIT_CODES = ("\b\nExit codes: 0 all done; 1 something failed on a reachable host (or a confirmation was declined); "
              "4 a host unreachable; 2 usage.")
UPDATE_EXIT_CODES = ("\b\nExit codes: 0 all done; 1 something failed on a reachable host (a process it started "
                     "ended BACKOFF or FATAL, or was not RUNNING within --wait-timeout; a config that does not "
                     "parse; a confirmation declined); 4 a host unreachable; 2 usage (a GROUP on no selected host).")
INTERRUPT_EXIT_CODE = ("; 130 Ctrl-C/SIGTERM (the group in flight is finished; what was left removed or stopped is "
                       "named, with the command that brings it back).")
PENDING_EXIT_CODES = ("\b\nExit codes: 0 every host's config read (changes pending or not); 1 a host's config "
                      "does not parse (supervisord would fail at its next start); 4 a host unreachable; 2 usage.")
wait_timeout_option = click.option("--wait-timeout", type=click.FloatRange(min=0.1), default=60.0,
                                   show_default=True, metavar="SECONDS",
                                   help="How long to wait for processes (and supervisord) to settle.")


def _run(opts: FleetOptions, output: str, operation: Any, *, default_all: bool,
         selected: tuple[Any, list[Any]] | None = None, **kwargs: Any) -> int:
    with open_fleet(opts, default_all=default_all, selected=selected) as fleet:
        return emit_report(operation(fleet, **kwargs), output)


@click.command(epilog=EXIT_CODES)
@fleet_options
@output_option
def reread(fleet_opts: FleetOptions, output: str) -> int:
    """Reread the config files; show added, changed and removed groups (applies nothing)."""
    from herd.operations import config

    return _run(fleet_opts, output, config.reread, default_all=True)


@click.command(epilog=EXIT_CODES)
@fleet_options
@output_option
def avail(fleet_opts: FleetOptions, output: str) -> int:
    """Configured processes: in use or available, autostart, priorities (as of the last reread)."""
    from herd.operations import config

    return _run(fleet_opts, output, config.avail, default_all=True)


@click.command(epilog=PENDING_EXIT_CODES)
@fleet_options
@output_option
def pending(fleet_opts: FleetOptions, output: str) -> int:
    """Pending config across the fleet: per host and group added, changed, removed; configs that do not parse."""
    import json

    from herd.operations import config
    from herd.render.config import pending_exit_code, pending_json, pending_lines

    with open_fleet(fleet_opts, default_all=True) as fleet:
        hosts = config.pending(fleet)
    if output == "json":
        click.echo(json.dumps(pending_json(hosts), indent=2))
    else:
        click.echo("\n".join(pending_lines(hosts)))
    return pending_exit_code(hosts)


@click.command(epilog=UPDATE_EXIT_CODES.removesuffix(".") + INTERRUPT_EXIT_CODE)
@click.argument("group_names", nargs=-1, metavar="[GROUP]...", shell_complete=complete_groups)
@fleet_options
@yes_option
@dry_run_option
@wait_timeout_option
@output_option
def update(group_names: tuple[str, ...], fleet_opts: FleetOptions, yes: bool, dry_run: bool, wait_timeout: float,
           output: str) -> int:
    """Reread, then apply: remove removed groups, bounce changed ones, add added ones (only GROUPs if given);
    wait until what it started is RUNNING."""
    from herd.fleet import Interrupted
    from herd.operations import config

    with open_fleet(fleet_opts, default_all=False) as fleet:
        try:
            plan = config.plan_update(fleet, group_names)
        except Interrupted:     # while rereading: no group was touched
            click.echo("herd: interrupted before any group was changed", err=True)
            return EXIT_INTERRUPTED
        _warn_bounces(plan, dry_run=dry_run, yes=yes)
        report = config.update(fleet, group_names, dry_run=dry_run, wait_timeout=wait_timeout, plan=plan)
        code = emit_report(report, output)
    if report.interrupted:
        for line in update_interrupt_lines(report, fleet_opts):
            click.echo(line, err=True)
    return code


def update_interrupt_lines(report: "UpdateReport", opts: FleetOptions) -> list[str]:
    """What a Ctrl-C left of an update: per host, the groups left removed and those left stopped."""
    if not report.left_groups:
        return ["herd: interrupted: the group in flight was finished on every host; herd left no group removed "
                "or stopped"]
    lines = []
    for left in report.left_groups:
        if left.removed:
            lines.append(_left_line(left, left.removed, "removed", "add", opts))
        if left.stopped:
            lines.append(_left_line(left, left.stopped, "STOPPED", "update", opts))
    return lines


def _left_line(left: "LeftGroups", groups: list[str], state: str, command: str, opts: FleetOptions) -> str:
    """``herd: interrupted: web01: tornado left removed; add it back with: herd add -H web01 tornado``."""
    from herd import text
    from herd.operations import config

    inventory = ["-i", opts.inventory] if opts.inventory else []
    argv = shlex.join(["herd", command, *inventory, "-H", left.host, *groups])
    how = "add it back" if command == "add" else "bring it back"
    how = how.replace(" it ", " them ") if len(groups) > 1 else how
    said = f"left {state}" if left.certain else (f"may be left {state} (the host's step had not ended "
                                                  f"{config.FINISH_STEP:g} s after the interrupt)")
    return text.field(f"herd: interrupted: {left.host}: {', '.join(groups)} {said}; {how} with: {argv}")


def _warn_bounces(plan: Any, *, dry_run: bool, yes: bool) -> None:
    """In a dry run, and on a terminal before acting: say which multi-process groups bounce whole; ask (unless -y).

    Without a terminal (cron, scripts) update acts as it always has, silently.
    """
    from herd.operations.config import bounce_warning

    bounces = plan.bounces()
    if not bounces or not (dry_run or sys.stdin.isatty()):
        return
    for host, group, size in bounces:
        click.echo(f"herd: {bounce_warning(host, group, size)}", err=True)
    if dry_run or yes:
        return
    hosts = len({host for host, _, _ in bounces})
    if not click.confirm(f"Bounce {len(bounces)} group(s) as a whole on {hosts} host(s)? Continue?", default=False,
                         err=True):
        raise NotConfirmed()


@click.command(epilog=UPDATE_EXIT_CODES)
@click.argument("group_names", nargs=-1, required=True, metavar="GROUP...", shell_complete=complete_groups)
@fleet_options
@dry_run_option
@wait_timeout_option
@output_option
def add(group_names: tuple[str, ...], fleet_opts: FleetOptions, dry_run: bool, wait_timeout: float,
        output: str) -> int:
    """Activate groups from the reread config; wait until what supervisord starts of them is RUNNING."""
    from herd.operations import config

    return _run(fleet_opts, output, config.add, default_all=False, groups=group_names, dry_run=dry_run,
                wait_timeout=wait_timeout)


@click.command(epilog=EXIT_CODES)
@click.argument("group_names", nargs=-1, required=True, metavar="GROUP...", shell_complete=complete_groups)
@fleet_options
@dry_run_option
@output_option
def remove(group_names: tuple[str, ...], fleet_opts: FleetOptions, dry_run: bool, output: str) -> int:
    """Remove stopped groups from the active config."""
    from herd.operations import config

    return _run(fleet_opts, output, config.remove, default_all=False, groups=group_names, dry_run=dry_run)


def _supervisord_command(name: str, what: str, doc: str) -> click.Command:
    """reload and shutdown: the same options, a confirmation, then the operation of that name."""

    @click.command(name, epilog=EXIT_CODES, help=doc)
    @fleet_options
    @yes_option
    @dry_run_option
    @wait_timeout_option
    @output_option
    def command(fleet_opts: FleetOptions, yes: bool, dry_run: bool, wait_timeout: float, output: str) -> int:
        from herd.operations import config

        selected = load_confirmed(what, fleet_opts, yes, dry_run)
        return _run(fleet_opts, output, getattr(config, name), default_all=False, selected=selected,
                    dry_run=dry_run, wait_timeout=wait_timeout)

    return command


reload = _supervisord_command(
    "reload", "restart supervisord and every process",
    "Restart supervisord itself (and every process it runs); waits until it answers again.")
shutdown = _supervisord_command(
    "shutdown", "shut down supervisord and every process",
    "Shut supervisord down (every process it runs stops; nothing restarts it but you); waits until it is gone.")


@click.command(epilog=EXIT_CODES)
@fleet_options
@output_option
def version(fleet_opts: FleetOptions, output: str) -> int:
    """herd's version, and each host's supervisord and XML-RPC API versions."""
    from herd.operations import config

    if output == "table":
        click.echo(f"herd {__version__}")
    return _run(fleet_opts, output, config.versions, default_all=True)


COMMANDS = [reread, pending, avail, update, add, remove, reload, shutdown, version]
