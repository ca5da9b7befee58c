"""Which command lines a keeper runs, and which run directly: read as click reads them (pure).

The keeper runs commands that read or act once and then print: their whole
output comes back at the end, with the exit code.  Commands that stream or
talk with the terminal run directly, in the user's process, where Ctrl-C,
the terminal and stdin are theirs: ``shell``, ``fg``, ``tail -f``,
``maintail -f``, ``status --watch``, ``rolling-restart`` and ``rolling-update`` (live progress,
its own Ctrl-C handling) and ``web``.  So do commands that open no
connection (``inventory``, ``keeper``), help, shell completion, a command
line click refuses, and ``reload``/``shutdown`` (and ``stop``, for ``stop all``) when they
would ask for confirmation on a terminal.

Why a parser of its own: the decision is taken before click is imported
(herd/launch.py: a warm command never loads click), and it must be the one
click would take -- ``-vi FILE`` is ``-v -i FILE``, ``-Hwf*`` is a host
pattern ``wf*`` and not ``--watch``, ``--`` ends the options, options may
follow arguments.  So this module replays click's own option parsing
(click/parser.py: long options, bundles of short ones, a value attached,
with ``=`` or in the next word) over a table of every kept command's real
options, optable.py, which is generated from the click commands
(``python -m herd.cli.optable``); tests/test_keeper_route.py checks that
the table is current and that both parsers agree on a generated table of
command lines.
"""

from __future__ import annotations

from typing import Sequence

from herd.keeper.optable import PARSERS

KEPT = frozenset({"status", "check", "start", "stop", "restart", "signal", "clear", "pid", "avail", "reread",
                  "add", "remove", "update", "reload", "shutdown", "version", "maintail", "tail"})
# command -> the option (its click name) that makes it stream
STREAMING = {"status": "watch", "tail": "follow", "maintail": "follow"}
# commands that ask for confirmation on a terminal, unless one of these options is given
# (stop asks only for `all` on several hosts; any stop on a terminal without them runs directly)
# (every kept command with a -y/--yes option is one: tests/test_keeper_route.py holds the two lists equal)
ASKING = {"reload": ("yes", "dry_run"), "shutdown": ("yes", "dry_run"), "stop": ("yes", "dry_run"),
          "update": ("yes", "dry_run")}
# reasons that are no reason to say anything (-v): help, or click will say what is wrong
SILENT = frozenset({"help", "no command", "usage"})


class _FlagNeedsValue:
    """An option whose value may be omitted, given without one (click's FLAG_NEEDS_VALUE)."""

    def __repr__(self) -> str:
        return "FLAG_NEEDS_VALUE"


FLAG_NEEDS_VALUE = _FlagNeedsValue()


class CommandLine:
    """A command line as click's parsers leave it.

    ``root``: herd's own options before the command (``--help``,
    ``--version``); ``command``: the command's name, None when there is
    none; ``options``: the command's options by their click name (the
    parser's values: a string, a count, a flag's constant, a list for a
    repeatable option); ``error``: why click refuses the line as it parses
    it (an unknown option, a missing value), None when it does not.  Only
    kept commands have their options read: another command's are empty.
    (A plain class: a NamedTuple costs more to define than the whole warm
    path spends here.)
    """

    __slots__ = ("root", "command", "options", "error")

    def __init__(self, root: dict[str, object], command: str | None, options: dict[str, object],
                 error: str | None) -> None:
        self.root, self.command, self.options, self.error = root, command, options, error

    def __repr__(self) -> str:
        return f"CommandLine({self.root!r}, {self.command!r}, {self.options!r}, {self.error!r})"

    @property
    def inventory(self) -> str | None:
        """-i/--inventory (the last one), or None: the default inventory."""
        value = self.options.get("inventory")
        return value if isinstance(value, str) else None

    @property
    def verbosity(self) -> int:
        """How many -v (for the client's own messages)."""
        value = self.options.get("verbose")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @property
    def keep(self) -> str | None:
        """--keep DURATION's text, "0" for --no-keep (the last one wins), None when neither is given."""
        value = self.options.get("keep")
        return value if isinstance(value, str) else None


class _Refused(Exception):
    """click's parser would raise a usage error here (the direct run shows click's own message)."""


def parse(args: Sequence[str]) -> CommandLine:
    """``args`` (the words after ``herd``) parsed as click parses them."""
    try:
        root, rest = _parse(PARSERS[""], list(args))
    except _Refused as why:
        return CommandLine({}, None, {}, str(why))
    if not rest or "help" in root or "version" in root:
        return CommandLine(root, None, {}, None)   # eager: herd's help or version, whatever follows
    command, words = rest[0], rest[1:]
    table = PARSERS.get(command) if command in KEPT else None
    if table is None:
        return CommandLine(root, command, {}, None)
    options: dict[str, object] = {}
    try:
        _parse(table, words, options)
    except _Refused as why:
        return CommandLine(root, command, options, str(why))
    return CommandLine(root, command, options, None)


def reason(line: CommandLine, stdin_tty: bool) -> str | None:
    """Why this command line runs directly, or None when a keeper may run it."""
    if line.command is None:
        return "help" if "help" in line.root else "usage" if line.error else "no command"
    command = line.command
    if command not in KEPT:
        return f"`herd {command}` runs directly"
    if line.error is not None:
        return "usage"
    if line.options.get("help"):
        return "help"
    streaming = STREAMING.get(command)
    if streaming and line.options.get(streaming):
        return f"`herd {command} --{streaming}` streams: it runs directly"
    asking = ASKING.get(command)
    if asking and stdin_tty and not any(line.options.get(name) for name in asking):
        return f"`herd {command}` may ask for confirmation: it runs directly"
    return None


def direct_reason(args: Sequence[str], stdin_tty: bool) -> str | None:
    """Why this command line runs directly, or None when a keeper may run it."""
    return reason(parse(args), stdin_tty)


def inventory_arg(args: Sequence[str]) -> str | None:
    """The value of -i/--inventory on a command line (the last one), or None."""
    return parse(args).inventory


def verbosity(args: Sequence[str]) -> int:
    """How many -v the command line has (for the client's own messages)."""
    return parse(args).verbosity


# -- click's option parser, replayed over a table (click/parser.py, _OptionParser) ---------------------

_Table = tuple[bool, tuple[str, ...], dict[str, tuple[str, str, int, object, bool]]]


def _is_short(opt: str) -> bool:
    """click's rule (parser._split_opt): one prefix character and one letter make a short option."""
    first = opt[:1]
    if first.isalnum():
        return False
    prefix = opt[:2] if opt[1:2] == first else first
    return len(prefix) == 1 and len(opt) - len(prefix) == 1


def _parse(table: _Table, args: list[str], opts: dict[str, object] | None = None
           ) -> tuple[dict[str, object], list[str]]:
    """click's _OptionParser.parse_args for options: (values by name, the words left); _Refused on an error."""
    interspersed, prefixes, _ = table
    found: dict[str, object] = {} if opts is None else opts
    largs: list[str] = []
    rargs = list(args)
    while rargs:
        arg = rargs.pop(0)
        if arg == "--":
            break
        if arg[:1] in prefixes and len(arg) > 1:
            _option_word(arg, rargs, table, found)
        elif interspersed:
            largs.append(arg)
        else:
            rargs.insert(0, arg)
            break
    return found, largs + rargs


def _option_word(arg: str, rargs: list[str], table: _Table, found: dict[str, object]) -> None:
    """One word that starts like an option: a long option (``--x``, ``--x=v``), else a bundle of short ones."""
    _, prefixes, options = table
    name, eq, explicit = arg.partition("=")
    spec = options.get(name)
    if spec is not None and not _is_short(name):
        if spec[1] in ("store", "append"):
            if eq:
                rargs.insert(0, explicit)
            _store(found, spec, _value(name, spec, rargs, prefixes))
        elif eq:
            raise _Refused(f"option {name!r} does not take a value")
        else:
            _store(found, spec, None)
        return
    if arg[:2] in prefixes:
        raise _Refused(f"no such option: {name}")
    prefix = arg[0]
    for index, letter in enumerate(arg[1:], start=2):
        opt = prefix + letter
        spec = options.get(opt)
        if spec is None or not _is_short(opt):
            raise _Refused(f"no such option: {opt}")
        if spec[1] in ("store", "append"):
            rest = arg[index:]
            if rest:
                rargs.insert(0, rest)
            _store(found, spec, _value(opt, spec, rargs, prefixes))
            if rest:
                return
        else:
            _store(found, spec, None)


def _value(name: str, spec: tuple[str, str, int, object, bool], rargs: list[str],
           prefixes: tuple[str, ...]) -> object:
    """The option's value from the words that follow (click's _get_value_from_state)."""
    _, _, nargs, _, optional = spec
    if len(rargs) < nargs:
        if optional:
            return FLAG_NEEDS_VALUE
        raise _Refused(f"option {name!r} requires {'an argument' if nargs == 1 else f'{nargs} arguments'}")
    if nargs == 1:
        following = rargs[0]
        if optional and following[:1] in prefixes and len(following) > 1:
            return FLAG_NEEDS_VALUE
        return rargs.pop(0)
    values = tuple(rargs[:nargs])
    del rargs[:nargs]
    return values


def _store(found: dict[str, object], spec: tuple[str, str, int, object, bool], value: object) -> None:
    """click's _Option.process."""
    dest, action, _, const, _ = spec
    if action == "store":
        found[dest] = value
    elif action == "store_const":
        found[dest] = const
    elif action in ("append", "append_const"):
        listed = found.setdefault(dest, [])
        assert isinstance(listed, list)
        listed.append(value if action == "append" else const)
    elif action == "count":
        count = found.get(dest, 0)
        found[dest] = (count if isinstance(count, int) else 0) + 1
    else:
        raise _Refused(f"unknown action {action!r}")
