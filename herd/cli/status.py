"""``herd status [NAME...]``."""

from __future__ import annotations

import json

import click

from herd.cli.options import FleetOptions, fleet_options, open_fleet, use_color


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@fleet_options
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Table for people, JSON for scripts.")
def status(names: tuple[str, ...], output: str, fleet_opts: FleetOptions) -> int:
    """Show processes on the selected hosts (all hosts when none is selected).

    NAME as supervisorctl takes it: name, group:name, group:*, all.

    \b
    Exit codes: 0 every process RUNNING; 3 a process in another state or a NAME
    not found; 4 a host unreachable or failing (wins over 3); 2 usage or inventory error.
    """
    from herd.operations.status import fetch_status
    from herd.render.status import status_json, status_table

    with open_fleet(fleet_opts, default_all=True) as fleet:
        report = fetch_status(fleet, names)
    if output == "json":
        click.echo(json.dumps(status_json(report), indent=2))
    else:
        click.echo(status_table(report, use_color()))
    return report.exit_code
