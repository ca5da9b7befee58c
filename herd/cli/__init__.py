"""herd's command line: click commands, and the one place errors become messages and exit codes."""

from __future__ import annotations

import sys
from typing import Sequence

import click

from herd import __version__, text
from herd.cli import config as config_commands
from herd.cli import control as control_commands
from herd.cli.check import check
from herd.cli.logs import fg, maintail, tail
from herd.cli.shell import shell
from herd.cli.rolling import rolling_restart
from herd.cli.status import status
from herd.errors import EXIT_USAGE, HerdError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="herd", message="%(prog)s %(version)s")
def cli() -> None:
    """herd: supervisord across a fleet, through SSH.

    Reads a YAML inventory of hosts and groups, reaches each host's supervisord
    through SSH (nothing to install on the hosts), and acts on all of them at once.
    """


cli.add_command(status)
cli.add_command(tail)
cli.add_command(maintail)
cli.add_command(fg)
cli.add_command(rolling_restart)
cli.add_command(check)
cli.add_command(shell)
for _command in control_commands.COMMANDS + config_commands.COMMANDS:
    cli.add_command(_command)


def run_command(args: Sequence[str], obj: object = None) -> int:
    """Run one command line; errors become one line on stderr and an exit code.

    The one place where herd's error tree meets the user: main() and the
    shell both go through it.
    """
    try:
        code = cli.main(args=list(args), prog_name="herd", standalone_mode=False, obj=obj)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except click.Abort:
        click.echo("herd: aborted", err=True)
        code = 130
    except HerdError as exc:
        click.echo(f"herd: {text.field(exc)}", err=True)  # a message may quote what a host sent
        code = exc.exit_code
    return code if isinstance(code, int) else 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``herd`` command."""
    try:
        code = run_command(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        click.echo("herd: interrupted", err=True)
        code = 130
    sys.exit(code)
