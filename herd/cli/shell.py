"""``herd shell``: a supervisorctl-like prompt over the selected hosts.

Every line typed is an ordinary herd command line, run by
``herd.cli.run_command`` with the shell's ``ShellScope``: same options,
output, errors and exit codes as on the command line, but on the shell's
inventory, its host selection and its kept-open SSH sessions (so a second
``status`` costs one round trip per host, not a handshake).  The shell adds
only ``hosts`` (show or change the selection), ``help``, ``quit``/``exit``,
a history file and tab completion.

Pure parts, testable without a terminal: ``spec_from_click`` and
``Completer`` (what to offer for a partial line), ``process_names``, and
``ProcessNames`` (the lazily fetched, cached process names of the selection).
"""

from __future__ import annotations

import difflib
import os
import shlex
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import click

from herd import text as safe
from herd.cli.fleets import ShellScope, load_selected, shell_scope, with_become
from herd.cli.options import fleet_options
from herd.errors import EXIT_INTERRUPTED, EXIT_OK, HerdError, UsageError
from herd.settings import FleetOptions
from herd.cli.completion import SIGNALS
from herd.supervisor.names import offered as process_names

if TYPE_CHECKING:
    from herd.inventory.model import Host
    from herd.supervisor.models import ProcessInfo

PROMPT = "herd> "
HISTORY_LENGTH = 1000
# How long a TAB may wait for the process names of the selection before offering what is known.
COMPLETION_WAIT = 1.0
BUILTINS = ("hosts", "help", "quit", "exit")
BUILTIN_HELP = {
    "hosts": "Show the host selection, or change it: hosts -a | -g NAME | -H PATTERN.",
    "help": "List the commands; help COMMAND shows its options.",
    "quit": "Leave the shell (also exit, or Ctrl-D).",
    "exit": "Leave the shell (also quit, or Ctrl-D).",
}


def history_path() -> Path:
    """``$XDG_STATE_HOME/herd/history``, by default ``~/.local/state/herd/history``."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "herd" / "history"


# -- completion: pure logic ---------------------------------------------------


@dataclass(frozen=True)
class CommandSpec:
    """What completion needs to know about one command's command line.

    ``values`` maps each option taking a value to what completes it: "hosts",
    "groups", a tuple of choices, or None (nothing to offer).  ``args`` gives
    the kind of each positional argument ("processes", "process-groups",
    "signals", "commands"); the last one repeats.
    """

    name: str
    flags: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    args: tuple[str, ...] = ()


_ARG_KINDS = {"names": "processes", "name": "processes", "group_names": "process-groups", "sig": "signals",
              "signal": "signals"}


def spec_from_click(command: click.Command) -> CommandSpec:
    """A CommandSpec read from a click command's parameters."""
    flags: list[str] = []
    values: dict[str, Any] = {}
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option):
            names = [*param.opts, *param.secondary_opts]
            if param.is_flag or param.count:
                flags.extend(names)
                continue
            kind: Any = None
            if param.name == "patterns":
                kind = "hosts"
            elif param.name == "groups":
                kind = "groups"
            elif isinstance(param.type, click.Choice):
                kind = tuple(str(c) for c in param.type.choices)
            values.update({n: kind for n in names})
        elif isinstance(param, click.Argument):
            args.append(_ARG_KINDS.get(param.name or "", "processes"))
    flags.extend(["-h", "--help"])
    return CommandSpec(command.name or "", tuple(flags), values, tuple(args))


HOSTS_SPEC = CommandSpec("hosts", ("-a", "--all-hosts", "-h", "--help"),
                         {"-g": "groups", "--group": "groups", "-H": "hosts", "--host": "hosts"})
HELP_SPEC = CommandSpec("help", args=("commands",))


class Completer:
    """Candidates for the word under the cursor, given the line before it.

    ``hosts``, ``groups``, ``processes`` and ``process_groups`` are called only
    when their kind of word is being completed (processes may need the network).
    """

    def __init__(self, specs: Mapping[str, CommandSpec], *, hosts: Callable[[], Iterable[str]],
                 groups: Callable[[], Iterable[str]], processes: Callable[[], Iterable[str]],
                 process_groups: Callable[[], Iterable[str]]) -> None:
        self.specs = dict(specs)
        self._sources: dict[str, Callable[[], Iterable[str]]] = {
            "hosts": hosts, "groups": groups, "processes": processes, "process-groups": process_groups,
            "signals": lambda: SIGNALS, "commands": lambda: self.specs,
        }
        self._matches: list[str] = []

    def candidates(self, before: str, word: str) -> list[str]:
        """Sorted completions of ``word``; ``before`` is the line up to the word's start."""
        tokens = before.split()
        if not tokens:
            return _starting(self.specs, word)
        spec = self.specs.get(tokens[0])
        if spec is None:
            return []
        if word.startswith("--") and "=" in word:
            option, _, value = word.partition("=")
            return [f"{option}={c}" for c in self._kind(spec.values.get(option), value)]
        if len(tokens) > 1 and tokens[-1] in spec.values:
            return self._kind(spec.values[tokens[-1]], word)
        if word.startswith("-"):
            return _starting([*spec.flags, *spec.values], word)
        if not spec.args:
            return []
        position = _positionals(tokens[1:], spec)
        return self._kind(spec.args[min(position, len(spec.args) - 1)], word)

    def _kind(self, kind: Any, word: str) -> list[str]:
        if kind is None:
            return []
        if isinstance(kind, tuple):
            return _starting(kind, word)
        try:
            return _starting(self._sources[kind](), word)
        except Exception:  # completion must never break the prompt
            return []

    def complete(self, text: str, state: int) -> str | None:
        """readline's completer: ``text`` is the word, the line comes from readline."""
        if state == 0:
            import readline

            before = readline.get_line_buffer()[:readline.get_begidx()]
            self._matches = finished(self.candidates(before, text))
        return self._matches[state] if state < len(self._matches) else None


def finished(matches: list[str]) -> list[str]:
    """A single match gets its trailing space, as bash gives it (Python's readline adds none), unless more
    may follow it (``group:``, ``--opt=``)."""
    if len(matches) == 1 and not matches[0].endswith((":", "=", "/")):
        return [matches[0] + " "]
    return matches


def _starting(words: Iterable[str], prefix: str) -> list[str]:
    return sorted({w for w in words if w.startswith(prefix)})


def _positionals(tokens: Sequence[str], spec: CommandSpec) -> int:
    """How many positional arguments ``tokens`` (after the command) hold."""
    count, skip = 0, False
    for token in tokens:
        if skip:
            skip = False
        elif token in spec.values:
            skip = True
        elif not token.startswith("-"):
            count += 1
    return count


class ProcessNames:
    """The processes last seen on the selected hosts, fetched lazily for completion.

    ``fetch(hosts)`` returns {host name: [ProcessInfo]} for the hosts that
    answered; it runs in a background thread, and a TAB waits at most
    ``wait`` seconds for it before offering what is known.  After each
    command the names are stale: they are still offered, and the next TAB
    refreshes them (one getAllProcessInfo per host, on the open sessions).
    Commands must not share a session with a fetch: call ``settle()``
    before running one.
    """

    def __init__(self, fetch: Callable[[list["Host"]], Mapping[str, list["ProcessInfo"]]],
                 wait: float = COMPLETION_WAIT) -> None:
        self._fetch = fetch
        self._wait = wait
        self._seen: dict[str, list["ProcessInfo"]] = {}
        self._tried: set[str] = set()  # hosts asked since the last command
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def infos(self, hosts: Sequence["Host"]) -> list["ProcessInfo"]:
        """The processes of ``hosts`` as last seen, after waiting a little for a refresh."""
        with self._lock:
            todo = [h for h in hosts if h.name not in self._tried]
            if todo and self._thread is None:
                self._tried.update(h.name for h in todo)
                self._thread = threading.Thread(target=self._run, args=(todo,), name="herd-complete", daemon=True)
                self._thread.start()
            thread = self._thread
        if thread is not None:
            thread.join(self._wait)
        with self._lock:
            return [info for h in hosts for info in self._seen.get(h.name, [])]

    def names(self, hosts: Sequence["Host"]) -> list[str]:
        return sorted(process_names(self.infos(hosts)))

    def groups(self, hosts: Sequence["Host"]) -> list[str]:
        return sorted({info.group for info in self.infos(hosts) if safe.is_safe(info.group)})

    def stale(self) -> None:
        """After a command: offer the names seen so far, refresh them on the next TAB."""
        with self._lock:
            self._tried.clear()

    def settle(self) -> None:
        """Wait for a fetch in progress (bounded by the connection and call timeouts)."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self, hosts: list["Host"]) -> None:
        try:
            found = self._fetch(hosts)
        except Exception:  # completion must never break the shell
            found = {}
        with self._lock:
            self._seen.update(found)
            self._thread = None


# -- the shell -----------------------------------------------------------------


@click.command("hosts", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-a", "--all-hosts", is_flag=True, help="Every host of the inventory.")
@click.option("-g", "--group", "groups", multiple=True, metavar="NAME", help="Hosts of a group (repeatable).")
@click.option("-H", "--host", "patterns", multiple=True, metavar="PATTERN",
              help="Hosts whose inventory name matches a shell glob (repeatable).")
def hosts_command(all_hosts: bool, groups: tuple[str, ...], patterns: tuple[str, ...]) -> Any:
    """Show the shell's host selection, or change it (selectors union, as on the command line).

    Commands typed without -a/-g/-H act on the selection.  Commands that change
    things need a selection chosen here or when starting the shell.
    """
    return all_hosts, groups, patterns


class Shell:
    """The read-run loop; ``scope`` is lent to every command typed."""

    def __init__(self, scope: ShellScope, *, forks: int = 50, interactive: bool | None = None) -> None:
        from herd.cli import all_commands

        self.scope = scope
        self.forks = forks
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self.commands: dict[str, click.Command] = {n: c for n, c in all_commands().items()
                                                 if n not in ("shell", "demo", "help")}   # help: the shell's own
        self.processes = ProcessNames(self._fetch_processes)
        specs = {name: spec_from_click(command) for name, command in self.commands.items()}
        specs.update({"hosts": HOSTS_SPEC, "help": HELP_SPEC, "quit": CommandSpec("quit"),
                      "exit": CommandSpec("exit")})
        self.completer = Completer(
            specs,
            hosts=lambda: scope.inventory.host_names,
            groups=lambda: scope.inventory.groups,
            processes=lambda: self.processes.names(self.scope.hosts),
            process_groups=lambda: self.processes.groups(self.scope.hosts),
        )
        self._readline: Any = None
        self.exit_code = EXIT_OK

    # -- loop ---------------------------------------------------------------

    def run(self) -> int:
        """Read and run lines until quit, exit or end of input; 0 then."""
        if self.interactive:
            self._setup_readline()
        try:
            while True:
                try:
                    line = self._read()
                except KeyboardInterrupt:
                    if not self.interactive:
                        click.echo("herd: interrupted", err=True)
                        return EXIT_INTERRUPTED
                    click.echo("")  # Ctrl-C at the prompt: drop the line, prompt again
                    continue
                except EOFError:
                    if self.interactive:
                        click.echo("")
                    return EXIT_OK
                if self.execute(line) is False:
                    return self.exit_code
        finally:
            self._save_history()

    def _read(self) -> str:
        if self.interactive:
            return input(self.prompt())
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line

    def execute(self, line: str) -> bool:
        """Run one line; False when it asks to leave."""
        try:
            args = shlex.split(line, comments=True)
        except ValueError as exc:
            click.echo(f"herd: cannot read that line: {exc}", err=True)
            return True
        if not args:
            return True
        name = args[0]
        if name in ("quit", "exit"):
            return False
        if name == "help":
            self._help(args[1:])
        elif name == "hosts":
            self._hosts(args[1:])
        elif name == "shell":
            click.echo("herd: already in the shell (quit leaves it)", err=True)
        elif name in self.commands or name in ("-h", "--help", "--version"):
            if self._command(args) == EXIT_INTERRUPTED and not self.interactive:
                self.exit_code = EXIT_INTERRUPTED  # Ctrl-C during a script: stop it, not just this line
                return False
        else:
            close = difflib.get_close_matches(name, [*self.commands, *BUILTINS], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            click.echo(f"herd: unknown command '{safe.field(name)}'{hint}; help lists the commands", err=True)
        return True

    def _command(self, args: list[str]) -> int:
        from herd.cli import run_command

        history = self._history_length()
        code = EXIT_INTERRUPTED
        try:
            self.processes.settle()
            code = run_command(args, obj=self.scope)
        except KeyboardInterrupt:
            click.echo("herd: interrupted", err=True)
        finally:
            self._forget_answers(history)
            self.processes.stale()
        if code == EXIT_INTERRUPTED:
            # Threads of the interrupted command may still use their sessions: let them
            # fail on closed connections, and give the next command sessions of its own.
            self.scope.pool.discard()
        return code

    # -- built-in commands ------------------------------------------------

    def _help(self, topics: list[str]) -> None:
        if not topics:
            rows = [(n, c.get_short_help_str(limit=72)) for n, c in self.commands.items()]
            rows += [(n, BUILTIN_HELP[n]) for n in BUILTINS]
            width = max(len(n) for n, _ in rows)
            click.echo("Commands (each takes the options of `herd COMMAND`; help COMMAND for them):")
            for name, text in rows:
                click.echo(f"  {name.ljust(width)}  {text}")
            click.echo("Without -a/-g/-H a command acts on the shell's hosts (see hosts).")
            return
        topic = topics[0]
        if topic == "hosts":
            self._hosts(["--help"])
        elif topic == "shell":
            click.echo("herd: shell: you are in it (quit leaves it)", err=True)
        elif topic in BUILTINS:
            click.echo(f"{topic}: {BUILTIN_HELP[topic]}")
        elif topic in self.commands:
            self._command([topic, "--help"])
        else:
            click.echo(f"herd: no help for '{topic}': not a command; help lists the commands", err=True)

    def _hosts(self, args: list[str]) -> None:
        from herd.inventory import select_hosts

        try:
            chosen = hosts_command.main(args=args, prog_name="hosts", standalone_mode=False)
        except click.exceptions.Exit:
            return  # --help was shown
        except click.ClickException as exc:
            click.echo(f"herd: hosts: {exc.format_message()}", err=True)
            return
        if not isinstance(chosen, tuple):
            return
        all_hosts, groups, patterns = chosen
        if all_hosts or groups or patterns:
            try:
                hosts = select_hosts(self.scope.inventory, all_hosts=all_hosts, groups=groups, patterns=patterns,
                                     default_all=False)
            except HerdError as exc:
                click.echo(f"herd: {safe.field(exc)}", err=True)
                return
            self.scope.hosts = with_become(hosts, self.scope.become)
            self.scope.explicit = True
        click.echo(self.describe_selection())

    def prompt(self) -> str:
        """``herd> `` over the default selection; ``herd [web01,web03]> `` once hosts are chosen (what a
        command that changes things acts on, in sight before Enter)."""
        if not self.scope.explicit:
            return PROMPT
        hosts = self.scope.hosts
        shown = ",".join(safe.field(h.name) for h in hosts) if len(hosts) <= 3 else f"{len(hosts)} hosts"
        return f"herd [{shown}]> "

    def describe_selection(self) -> str:
        hosts = self.scope.hosts
        text = f"{len(hosts)} host{'' if len(hosts) == 1 else 's'}: {', '.join(h.name for h in hosts)}"
        if not self.scope.explicit:
            text += " (by default: commands that change things need hosts -a, -g NAME or -H PATTERN first)"
        return text

    # -- completion and history -------------------------------------------

    def _fetch_processes(self, hosts: list["Host"]) -> dict[str, list["ProcessInfo"]]:
        from herd.fleet import Fleet, borrowed

        fleet = Fleet(hosts, borrowed(self.scope.pool), forks=self.forks)
        results = fleet.run(lambda access: access.client().all_process_info())
        return {r.name: list(r.value or []) for r in results if r.ok}

    def _setup_readline(self) -> None:
        try:
            import readline
        except ImportError:  # no readline on this Python: plain prompt, no history
            return
        self._readline = readline
        readline.set_completer(self.completer.complete)
        readline.set_completer_delims(" \t\n")
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
        readline.set_history_length(HISTORY_LENGTH)
        try:
            readline.read_history_file(history_path())
        except FileNotFoundError:
            pass
        except OSError as exc:
            click.echo(f"herd: cannot read the history file {history_path()}: {exc.strerror}", err=True)

    def _save_history(self) -> None:
        readline = self._readline
        if readline is None:
            return
        path = history_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)
            os.chmod(path, 0o600)
        except OSError as exc:
            click.echo(f"herd: cannot write the history file {path}: {exc.strerror}", err=True)

    def _history_length(self) -> int:
        return self._readline.get_current_history_length() if self._readline is not None else 0

    def _forget_answers(self, length: int) -> None:
        """Keep answers to a command's questions (Continue? y) out of the history."""
        readline = self._readline
        if readline is None:
            return
        while readline.get_current_history_length() > length:
            readline.remove_history_item(readline.get_current_history_length() - 1)


@click.command()
@fleet_options
def shell(fleet_opts: FleetOptions) -> int:
    """Interactive prompt (herd>) over the selected hosts, with connections kept open.

    \b
    Type herd commands without `herd`: status, start worker, stop -g web all...
    Without -a/-g/-H they act on the shell's hosts: those selected here (every
    host by default), changed with `hosts -a | -g NAME | -H PATTERN`.  Commands
    that change things need hosts chosen here or with `hosts`.  Also: help,
    quit (or exit, Ctrl-D).  Tab completes commands, options, hosts, groups and
    process names; history in ~/.local/state/herd/history.
    -i, --timeout and --accept-new given here apply to the whole shell.

    \b
    Exit codes: 0 on quit, exit or end of input (whatever the commands
    returned); 2 usage or inventory error when starting; 130 a script read
    from stdin interrupted (Ctrl-C).
    """
    from herd.fleet import SessionPool
    from herd.fleet.source import make_connector

    if shell_scope() is not None:
        raise UsageError("already in the shell (quit leaves it)")
    inventory, hosts = load_selected(fleet_opts, default_all=True)
    pool = SessionPool(make_connector(fleet_opts, inventory.path))
    scope = ShellScope(inventory, pool, hosts, explicit=fleet_opts.has_selector, become=fleet_opts.become)
    try:
        return Shell(scope, forks=fleet_opts.forks).run()
    finally:
        pool.close()
