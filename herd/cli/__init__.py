"""herd's command line: click commands, and the one place errors become messages and exit codes.

Commands are loaded lazily: ``herd --help``, ``herd status --help`` and an
argument error import click and the one command's module, not every command
(nor paramiko, yaml or the XML-RPC stack, which the commands import only
when they run).  The table below is what ``herd --help`` lists; each entry's
help line is the first paragraph of that command's docstring (a test keeps
the two equal).
"""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

import click

from herd import __version__, text
from herd.errors import EXIT_INTERRUPTED, EXIT_USAGE, HerdError

# name -> (module, attribute, help line): every command herd has.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "add": ("herd.cli.config", "add",
            "Activate groups from the reread config; wait until what supervisord starts of them is RUNNING."),
    "avail": ("herd.cli.config", "avail",
              "Configured processes: in use or available, autostart, priorities (as of the last reread)."),
    "check": ("herd.cli.check", "check",
              "Check the selected hosts (all hosts when none is selected) and grade what is wrong."),
    "clear": ("herd.cli.control", "clear", "Clear the stdout and stderr logs of processes."),
    "demo": ("herd.cli.demo", "demo", "Start (or show, or stop) a local 3-host demo fleet: real sshd + supervisord per "
                                      "host, on 127.0.0.1."),
    "events": ("herd.cli.events", "events",
               "Stream what changes on the selected hosts (all when none is selected), one line per event, "
               "until Ctrl-C."),
    "fg": ("herd.cli.logs", "fg", "Attach to one process on one host (-H HOST): its stdout and stderr are shown "
                                  "as they come, each line you type is sent to its stdin."),
    "keeper": ("herd.cli.keeper", "keeper",
               "The background keeper of SSH connections: its status, or stop it (docs/keeper.md)."),
    "guard": ("herd.cli.guard", "guard",
              "Watch the selected hosts (all when none is selected) until stopped; notify once per incident."),
    "help": ("herd.cli.helpcmd", "help_command", "Show herd's help, or COMMAND's (the same as herd COMMAND --help)."),
    "inventory": ("herd.cli.inventory", "inventory",
                  "Show what herd resolved from the inventory (every host when none is selected)."),
    "maintail": ("herd.cli.logs", "maintail",
                 "Show the end of supervisord's own log from every selected host (all when none is selected)."),
    "pending": ("herd.cli.config", "pending",
                "Pending config across the fleet: per host and group added, changed, removed; configs that do "
                "not parse."),
    "pid": ("herd.cli.control", "pid",
            "supervisord's pid on each host, or the pids of the named processes (all hosts by default)."),
    "reload": ("herd.cli.config", "reload",
               "Restart supervisord itself (and every process it runs); waits until it answers again."),
    "remove": ("herd.cli.config", "remove", "Remove stopped groups from the active config."),
    "reread": ("herd.cli.config", "reread",
               "Reread the config files; show added, changed and removed groups (applies nothing)."),
    "restart": ("herd.cli.control", "restart",
                "Stop, then start processes, as supervisorctl does: every named process of a host is down at "
                "once. For serving programs use `herd rolling-restart`."),
    "rolling-restart": ("herd.cli.rolling", "rolling_restart",
                        "Restart NAME (a program/group like tornado, or group:name) host by host, process by "
                        "process, each held to a health gate; stop at the first sign of a bad build."),
    "rolling-update": ("herd.cli.rolling", "rolling_update",
                       "Apply the pending config of GROUPs (default: every group whose config changed) host by host, "
                       "behind the same health gate as rolling-restart; stop at the first host whose new config "
                       "fails."),
    "shell": ("herd.cli.shell", "shell",
              "Interactive prompt (herd>) over the selected hosts, with connections kept open."),
    "shutdown": ("herd.cli.config", "shutdown",
                 "Shut supervisord down (every process it runs stops; nothing restarts it but you); waits until "
                 "it is gone."),
    "signal": ("herd.cli.control", "signal", "Send SIGNAL (HUP, SIGUSR1, 15...) to processes."),
    "start": ("herd.cli.control", "start",
              "Start processes: name, group:name, group:*, all. Already started is not an error."),
    "status": ("herd.cli.status", "status", "Show processes on the selected hosts (all hosts when none is selected)."),
    "stop": ("herd.cli.control", "stop",
             "Stop processes: name, group:name, group:*, all. Not running is not an error."),
    "tail": ("herd.cli.logs", "tail",
             "Show the end of a process's log from every selected host that has it (all hosts when none is "
             "selected), each line prefixed with host and process."),
    "update": ("herd.cli.config", "update",
               "Reread, then apply: remove removed groups, bounce changed ones, add added ones (only GROUPs if "
               "given); wait until what it started is RUNNING."),
    "version": ("herd.cli.config", "version",
                "herd's version, and each host's supervisord and XML-RPC API versions."),
    "web": ("herd.cli.web", "web",
            "Serve the selected hosts (all when none is selected) as a live dashboard in the browser."),
    "web-passwd": ("herd.cli.web", "web_passwd",
                   "Print a team file line for local user NAME of herd web, with the password's argon2 hash."),
}


def _short_help(text: str, limit: int) -> str:
    """A command's help line cut at a word to fit (click's make_default_short_help is deprecated since 8.2)."""
    if len(text) <= limit:
        return text
    import textwrap

    return textwrap.shorten(text, max(limit, 3), placeholder="...", break_on_hyphens=False)


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == cmd_name, (module, attribute)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                            list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None:
            from herd.cli import trail

            trail.begin(ctx, name)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; one audit trail entry for a command that changes things (herd/cli/trail.py)."""
        try:
            result = super().invoke(ctx)
        except BaseException as exc:
            _record(ctx, None, exc)
            raise
        _record(ctx, result, None)
        return result

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands from the table, without importing any of them."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, _short_help(COMMANDS[n][2], limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="herd", message="%(prog)s %(version)s")
def cli() -> None:
    """herd: supervisord across a fleet, through SSH.

    Reads a YAML inventory of hosts and groups, reaches each host's supervisord
    through SSH (nothing to install on the hosts), and acts on all of them at once.
    """


def _record(ctx: click.Context, result: object, error: BaseException | None) -> None:
    """The command's entry in the audit trail, if it is one to record; never fails the command."""
    from herd.cli import trail

    if trail.META_KEY not in ctx.meta:
        return
    try:
        trail.finish(ctx, result, error)
    except Exception as exc:    # the trail is the record, not the command: its own faults only warn
        click.echo(f"herd: the audit trail was not written: {text.exception(exc)}", err=True)


def all_commands() -> dict[str, click.Command]:
    """Every command, loaded (for the shell, which offers and completes them all)."""
    ctx = click.Context(cli)
    loaded = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    return {name: command for name, command in loaded.items() if command is not None}


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
        code = EXIT_INTERRUPTED
    except HerdError as exc:
        click.echo(f"herd: {text.field(exc)}", err=True)  # a message may quote what a host sent
        _show_causes(exc)
        code = exc.exit_code
    return code if isinstance(code, int) else 0


def _show_causes(exc: HerdError) -> None:
    """With -vv (herd's debug log), the error's chain of causes under its one line, one line each:
    ``herd: caused by: ssh_exception.SSHException: Error reading SSH protocol banner``.

    The one-line message says what went wrong in herd's words; the causes say
    what paramiko, the socket or the parser said, escaped (herd.text.exception),
    never as a traceback.  A debug record, so it goes where -vv's other lines go.
    """
    import logging

    log = logging.getLogger("herd.cli")
    if not log.isEnabledFor(logging.DEBUG):
        return
    from herd.errors import causes

    for cause in causes(exc):
        log.debug("caused by: %s", text.exception(cause))


def _through_keeper(args: list[str]) -> int | None:
    """The command's exit code when a keeper ran it (herd/keeper), None to run it here."""
    from herd.keeper.client import run_kept

    return run_kept(args)


def _sigterm_as_interrupt() -> None:
    """SIGTERM is Ctrl-C to herd (exit 130): a command cut short says what it left, whichever ended it.

    Only where nothing chose otherwise (a service manager's SIGTERM to
    ``herd web`` is handled by its server; herd.errors documents 130).
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def main(argv: Sequence[str] | None = None, *, keeper: bool = True) -> None:
    """The ``herd`` command (herd/launch.py comes first; ``keeper=False``: it asked the keeper already)."""
    from herd.cli.imports import defer_optional_imports

    defer_optional_imports()
    _sigterm_as_interrupt()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _through_keeper(args) if keeper else None
        if code is None:
            code = run_command(args)
    except KeyboardInterrupt:
        click.echo("herd: interrupted", err=True)
        code = EXIT_INTERRUPTED
    sys.exit(code)
