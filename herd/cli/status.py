"""``herd status [NAME...]``."""

from __future__ import annotations

import json

import click

from herd.cli.completion import complete_processes, remember_report
from herd.cli.fleets import load_selected, open_fleet
from herd.cli.options import fleet_options
from herd.cli.output import use_color
from herd.settings import FleetOptions


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...", shell_complete=complete_processes)
@fleet_options
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Table for people, JSON for scripts.")
@click.option("-w", "--watch", is_flag=True,
              help="Keep the table live (connections kept, one poll per host per interval); q quits. "
                   "Not on a terminal: the table again every interval.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, metavar="SECONDS",
              help="With --watch: seconds between polls of a host.")
@click.option("--resources", is_flag=True,
              help="Add RSS, CPU%, FDS and THREADS of each process, read from /proc on the host "
                   "(Linux; CPU% over 0.5 s, which the command takes longer; with --watch: since the "
                   "previous poll, updated every poll).")
def status(names: tuple[str, ...], output: str, watch: bool, interval: float, resources: bool,
           fleet_opts: FleetOptions) -> int:
    """Show processes on the selected hosts (all hosts when none is selected).

    NAME as supervisorctl takes it: name, group:name, group:*, all.
    With --watch the table stays live until q (or Ctrl-C: exit 130).

    \b
    Exit codes: 0 every process RUNNING; 3 a process in another state or a NAME
    not found; 4 a host unreachable or failing (wins over 3); 2 usage or inventory error;
    130 Ctrl-C/SIGTERM (the hosts that answered are shown).
    """
    from herd.errors import UsageError
    from herd.operations.status import fetch_status
    from herd.render.status import status_json, status_table

    if watch:
        from herd.cli.watch import watch as run_watch

        if output == "json":
            raise UsageError("-o json is for reading once: drop --watch")
        with open_fleet(fleet_opts, default_all=True) as fleet:
            return run_watch(fleet, names, interval, use_color(), resources)
    if resources:
        return _with_resources(names, output, fleet_opts)
    from herd.fleet import Interrupted
    from herd.operations.status import status_report

    inventory, hosts = load_selected(fleet_opts, default_all=True)
    with open_fleet(fleet_opts, default_all=True, selected=(inventory, hosts)) as fleet:
        try:
            report = fetch_status(fleet, names)
        except Interrupted as stop:      # Ctrl-C: what the hosts that answered said, at once (in the shell too)
            report = status_report(stop.results, names, interrupted=True)
    remember_report(inventory.path, report)
    if output == "json":
        click.echo(json.dumps(status_json(report), indent=2))
    else:
        click.echo(status_table(report, use_color()))
    if report.interrupted:
        click.echo("herd: interrupted: hosts that had not answered are marked so", err=True)
    return report.exit_code


def _with_resources(names: tuple[str, ...], output: str, fleet_opts: FleetOptions) -> int:
    """``herd status --resources``: one more round trip per host (the process agent), 0.5 s longer."""
    from herd.operations.resources import ResourcesInterrupted, fetch_resources
    from herd.render.status import status_json, status_table

    with open_fleet(fleet_opts, default_all=True) as fleet:
        try:
            found = fetch_resources(fleet, names)
        except ResourcesInterrupted as stop:     # Ctrl-C: what the hosts that answered said, at once
            found = stop.report
    report = found.status
    if output == "json":
        click.echo(json.dumps(status_json(report, found.resources), indent=2))
    else:
        click.echo(status_table(report, use_color(), found.resources))
    if report.interrupted:
        click.echo("herd: interrupted: hosts that had not answered are marked so", err=True)
    return report.exit_code
