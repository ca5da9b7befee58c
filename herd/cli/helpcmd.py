"""``herd help [COMMAND]``: what ``herd --help`` and ``herd COMMAND --help`` print.

Operators type ``help`` (git, pip and supervisorctl all take it); herd answered
"No such command 'help'".
"""

from __future__ import annotations

import click

from herd.errors import UsageError


@click.command("help")
@click.argument("command", required=False, metavar="[COMMAND]")
@click.pass_context
def help_command(ctx: click.Context, command: str | None) -> int:
    """Show herd's help, or COMMAND's (the same as herd COMMAND --help)."""
    group_ctx = ctx.parent
    assert group_ctx is not None and isinstance(group_ctx.command, click.Group)
    group = group_ctx.command
    if command is None:
        click.echo(group.get_help(group_ctx))
        return 0
    found = group.get_command(group_ctx, command)
    if found is None:
        import difflib

        close = difflib.get_close_matches(command, group.list_commands(group_ctx), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"herd help {command}: no such command{hint}; herd help lists them")
    with click.Context(found, info_name=command, parent=group_ctx) as sub:
        click.echo(found.get_help(sub))
    return 0
