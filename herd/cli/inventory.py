"""``herd inventory``: the hosts herd would contact and how, and the group tree."""

from __future__ import annotations

import json

import click

from herd.cli.fleets import load_selected
from herd.cli.options import fleet_options, output_option
from herd.settings import FleetOptions


@click.command("inventory")
@fleet_options
@click.option("--graph", is_flag=True, help="Draw the group tree, like ansible-inventory --graph.")
@output_option
def inventory(graph: bool, output: str, fleet_opts: FleetOptions) -> int:
    """Show what herd resolved from the inventory (every host when none is selected).

    For each host: address, port, user, key, jump host, become and
    supervisord's socket or URL, after ~/.ssh/config; then the groups.
    Contacts no host and reads no password.  Works on herd's YAML and on
    Ansible inventories (INI, YAML, a directory; -v names the file).

    \b
    Exit codes: 0 shown; 2 usage or inventory error.
    """
    from herd.render.inventory import inventory_graph, inventory_json, inventory_table, tree_json
    from herd.ssh.config import resolve_target

    inv, hosts = load_selected(fleet_opts, default_all=True)
    if graph:
        if output == "json":   # the hosts too (it had none: the tree of an empty selection)
            click.echo(json.dumps(tree_json(inv, {h.name for h in hosts}), indent=2))
        else:
            click.echo(inventory_graph(inv, None if not fleet_opts.has_selector else
                                       [h.name for h in hosts]))
        return 0
    pairs = [(host, resolve_target(host)) for host in hosts]
    if output == "json":
        click.echo(json.dumps(inventory_json(inv, pairs), indent=2))
    else:
        click.echo(inventory_table(inv, pairs))
    return 0
