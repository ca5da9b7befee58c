"""herd's command line: click commands, and the one place errors become messages and exit codes."""

from __future__ import annotations

import sys
from typing import Sequence

import click

from herd import __version__
from herd.cli import config as config_commands
from herd.cli import control as control_commands
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
for _command in control_commands.COMMANDS + config_commands.COMMANDS:
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the command, map errors to one line on stderr and an exit code."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="herd", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except click.Abort:
        click.echo("herd: aborted", err=True)
        code = 130
    except HerdError as exc:
        click.echo(f"herd: {exc}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("herd: interrupted", err=True)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
