"""``herd start|stop|restart|signal|clear|pid``: supervisorctl's process commands, for many hosts."""

from __future__ import annotations

from typing import Any, Callable

import click

from herd.cli.fleets import open_fleet
from herd.cli.options import dry_run_option, fleet_options, output_option
from herd.cli.output import emit_report
from herd.settings import FleetOptions

EXIT_CODES = """
\b
Exit codes: 0 all done; 1 something failed on a reachable host (including a NAME
missing on some hosts, unless --ignore-missing); 4 a host unreachable; 2 usage
(no host selector, a NAME on no selected host, bad signal).
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
        **flags: Any) -> int:
    from herd.operations.control import ControlRequest, run_control

    request = ControlRequest(action, names, wait=not flags["no_wait"], wait_timeout=flags["wait_timeout"],
                             ignore_missing=flags["ignore_missing"], dry_run=flags["dry_run"], signal=signal)
    with open_fleet(opts, default_all=False) as fleet:
        return emit_report(run_control(fleet, request), flags["output"])


@click.command(epilog=EXIT_CODES)
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@fleet_options
@control_options
def start(names: tuple[str, ...], fleet_opts: FleetOptions, **flags: Any) -> int:
    """Start processes: name, group:name, group:*, all.  Already started is not an error."""
    return run("start", names, fleet_opts, **flags)


@click.command(epilog=EXIT_CODES)
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@fleet_options
@control_options
def stop(names: tuple[str, ...], fleet_opts: FleetOptions, **flags: Any) -> int:
    """Stop processes: name, group:name, group:*, all.  Not running is not an error."""
    return run("stop", names, fleet_opts, **flags)


@click.command(epilog=EXIT_CODES)
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@fleet_options
@control_options
def restart(names: tuple[str, ...], fleet_opts: FleetOptions, **flags: Any) -> int:
    """Stop, then start processes, as supervisorctl does: every named process of a
    host is down at once.  For serving programs use `herd rolling-restart`."""
    return run("restart", names, fleet_opts, **flags)


@click.command(epilog=EXIT_CODES)
@click.argument("sig", metavar="SIGNAL")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@fleet_options
@control_options
def signal(sig: str, names: tuple[str, ...], fleet_opts: FleetOptions, **flags: Any) -> int:
    """Send SIGNAL (HUP, SIGUSR1, 15...) to processes."""
    from herd.operations.control import normalize_signal

    return run("signal", names, fleet_opts, signal=normalize_signal(sig), **flags)


@click.command(epilog=EXIT_CODES)
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@fleet_options
@control_options
def clear(names: tuple[str, ...], fleet_opts: FleetOptions, **flags: Any) -> int:
    """Clear the stdout and stderr logs of processes."""
    return run("clear", names, fleet_opts, **flags)


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@fleet_options
@output_option
def pid(names: tuple[str, ...], fleet_opts: FleetOptions, output: str) -> int:
    """supervisord's pid on each host, or the pids of the named processes (all hosts by default)."""
    from herd.operations.control import read_pids

    with open_fleet(fleet_opts, default_all=True) as fleet:
        return emit_report(read_pids(fleet, names), output)


COMMANDS = [start, stop, restart, signal, clear, pid]
