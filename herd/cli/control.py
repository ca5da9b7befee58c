"""``herd start|stop|restart|signal|clear|pid``: supervisorctl's process commands, for many hosts."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any, Callable

import click

from herd.cli.completion import complete_processes, complete_signals
from herd.cli.fleets import load_confirmed, load_selected, open_fleet
from herd.cli.options import dry_run_option, fleet_options, output_option, yes_option
from herd.cli.output import emit_report
from herd.errors import EXIT_INTERRUPTED
from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.operations.outcomes import ActionReport, LeftStopped

EXIT_CODES = """
\b
Exit codes: 0 all done; 1 something failed on a reachable host (including a NAME
missing on some hosts, unless --ignore-missing, or a declined confirmation);
4 a host unreachable; 2 usage (no host selector, a NAME on no selected host,
bad signal); 130 Ctrl-C/SIGTERM (the step in flight is finished; what was left
stopped is named, with the command that starts it).
"""


def control_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options: list[Any] = [
        click.option("--no-wait", is_flag=True, help="Return once supervisord accepted the request."),
        click.option("--wait-timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
                     metavar="SECONDS", help="How long to wait for processes to reach their new state."),
        click.option("--ignore-missing", is_flag=True,
                     help="A NAME missing on some hosts is not a failure there (it must exist on one)."),
        dry_run_option,
        output_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def run(action: str, names: tuple[str, ...], opts: FleetOptions, *, signal: str | None = None,
        yes: bool = False, **flags: Any) -> int:
    from herd.fleet import Interrupted
    from herd.operations.control import ControlRequest, run_control

    request = ControlRequest(action, names, wait=not flags["no_wait"], wait_timeout=flags["wait_timeout"],
                             ignore_missing=flags["ignore_missing"], dry_run=flags["dry_run"], signal=signal)
    selected = load_selected(opts, default_all=False)
    if action == "stop" and "all" in names and len(selected[1]) > 1:
        selected = load_confirmed("stop every process", opts, yes, request.dry_run)
    with open_fleet(opts, default_all=False, selected=selected) as fleet:
        try:
            report = run_control(fleet, request)
        except Interrupted:      # while reading: no host was touched
            click.echo("herd: interrupted before anything was changed", err=True)
            return EXIT_INTERRUPTED
        code = emit_report(report, flags["output"])
    if report.interrupted:
        for line in interrupt_lines(report, opts):
            click.echo(line, err=True)
    return code


def interrupt_lines(report: "ActionReport", opts: FleetOptions) -> list[str]:
    """What a Ctrl-C left, one line per host that has processes herd stopped and did not start again."""
    if not report.left_stopped:
        return ["herd: interrupted: the steps in flight were finished; herd left nothing stopped"]
    return [_left_line(left, opts) for left in report.left_stopped]


def _left_line(left: "LeftStopped", opts: FleetOptions) -> str:
    """``herd: interrupted: web01: worker left STOPPED; start them with: herd start -H web01 worker``."""
    from herd import text
    from herd.operations.control import FINISH_STEP

    inventory = ["-i", opts.inventory] if opts.inventory else []
    command = shlex.join(["herd", "start", *inventory, "-H", left.host, *left.names])
    listed = ", ".join(left.names)
    state = "left STOPPED" if left.certain else (f"may be left STOPPED (the host's step had not ended "
                                                  f"{FINISH_STEP:g} s after the interrupt)")
    return text.field(f"herd: interrupted: {left.host}: {listed} {state}; start them with: {command}")


@click.command(epilog=EXIT_CODES)
@click.argument("names", nargs=-1, required=True, metavar="NAME...", shell_complete=complete_processes)
@fleet_options
@control_options
def start(names: tuple[str, ...], fleet_opts: FleetOptions, **flags: Any) -> int:
    """Start processes: name, group:name, group:*, all.  Already started is not an error."""
    return run("start", names, fleet_opts, **flags)


@click.command(epilog=EXIT_CODES)
@click.argument("names", nargs=-1, required=True, metavar="NAME...", shell_complete=complete_processes)
@fleet_options
@yes_option
@control_options
def stop(names: tuple[str, ...], fleet_opts: FleetOptions, yes: bool, **flags: Any) -> int:
    """Stop processes: name, group:name, group:*, all.  Not running is not an error.

    `all` on several hosts asks first on a terminal (-y/--yes: do not ask; without a terminal --yes is needed).
    """
    return run("stop", names, fleet_opts, yes=yes, **flags)


@click.command(epilog=EXIT_CODES)
@click.argument("names", nargs=-1, required=True, metavar="NAME...", shell_complete=complete_processes)
@fleet_options
@control_options
def restart(names: tuple[str, ...], fleet_opts: FleetOptions, **flags: Any) -> int:
    """Stop, then start processes, as supervisorctl does: every named process of a
    host is down at once.  For serving programs use `herd rolling-restart`."""
    return run("restart", names, fleet_opts, **flags)


@click.command(epilog=EXIT_CODES)
@click.argument("sig", metavar="SIGNAL", shell_complete=complete_signals)
@click.argument("names", nargs=-1, required=True, metavar="NAME...", shell_complete=complete_processes)
@fleet_options
@control_options
def signal(sig: str, names: tuple[str, ...], fleet_opts: FleetOptions, **flags: Any) -> int:
    """Send SIGNAL (HUP, SIGUSR1, 15...) to processes."""
    from herd.operations.control import normalize_signal

    return run("signal", names, fleet_opts, signal=normalize_signal(sig), **flags)


@click.command(epilog=EXIT_CODES)
@click.argument("names", nargs=-1, required=True, metavar="NAME...", shell_complete=complete_processes)
@fleet_options
@control_options
def clear(names: tuple[str, ...], fleet_opts: FleetOptions, **flags: Any) -> int:
    """Clear the stdout and stderr logs of processes."""
    return run("clear", names, fleet_opts, **flags)


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...", shell_complete=complete_processes)
@fleet_options
@output_option
def pid(names: tuple[str, ...], fleet_opts: FleetOptions, output: str) -> int:
    """supervisord's pid on each host, or the pids of the named processes (all hosts by default)."""
    from herd.operations.control import read_pids

    with open_fleet(fleet_opts, default_all=True) as fleet:
        return emit_report(read_pids(fleet, names), output)


COMMANDS = [start, stop, restart, signal, clear, pid]
