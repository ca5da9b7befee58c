"""The keeper's router reads every command line as click does: proven on a generated table of cases.

herd/keeper/route.py decides, before click is imported, whether a command
line goes to a keeper, which inventory's keeper, how verbose the client is
and whether --keep/--no-keep say anything.  It replays click's option
parser over herd/keeper/optable.py.  Here the table is checked against the
click commands themselves (derive), and the router's reading against
click's own parser and ``make_context`` on the real commands, for command
lines generated from each kept command's real options: every option alone
(long, short, ``--opt=value``, ``-oVALUE``, a value missing, a value that
looks like an option), every bundle of two short options and of three from
a sample (``-vi FILE``, ``-Hwf*``, ``-iv``), after and before arguments,
after ``--``, repeated (the last wins), unknown, and behind herd's own
options (``--help``, ``--version``, ``--``).
"""

from __future__ import annotations

import functools
import importlib
import itertools
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import click
import pytest

from herd.cli import COMMANDS, cli
from herd.cli.optable import derive, render
from herd.keeper import optable, route
from herd.keeper.keep import keep_from_line

VALUES = ["inv.yaml", "-h", "--watch", "=x", ""]
SAMPLE = ["-v", "-i", "-H", "-a", "-h", "-w", "-f", "-y", "-o", "-n", "-q"]   # for bundles of three
ROOTS = [[], ["--"], ["--help"], ["-h"], ["--version"], ["--nosuch"], ["-hv"]]


def _click_flag_needs_value() -> object:
    for module, name in (("click._utils", "FLAG_NEEDS_VALUE"), ("click.parser", "_flag_needs_value")):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    return object()


CLICK_FLAG_NEEDS_VALUE = _click_flag_needs_value()


def test_the_option_table_is_click_s_own_and_current():
    assert Path(optable.__file__).read_text() == render(derive()), "run: python -m herd.cli.optable"
    assert set(optable.PARSERS) == {""} | route.KEPT
    assert route.KEPT <= set(COMMANDS)
    for command, dest in route.STREAMING.items():          # the names the router asks for are real
        assert dest in {spec[0] for spec in optable.PARSERS[command][2].values()}, (command, dest)
    for command, names in route.ASKING.items():
        assert set(names) <= {spec[0] for spec in optable.PARSERS[command][2].values()}, (command, names)
    # a kept command that can ask (it has -y/--yes) must run directly on a terminal: the keeper has none
    asks = {c for c in route.KEPT if "yes" in {spec[0] for spec in optable.PARSERS[c][2].values()}}
    assert asks == set(route.ASKING), "a command with --yes asks on a terminal: add it to route.ASKING"
    for command in route.KEPT:
        assert {"inventory", "verbose", "keep", "help"} <= {spec[0] for spec in optable.PARSERS[command][2].values()}


# -- click's reading ------------------------------------------------------------------------------------

class Reading(NamedTuple):
    root: dict[str, Any]
    command: str | None
    options: dict[str, Any]
    refused: bool


@functools.lru_cache(maxsize=None)
def _root() -> click.Context:
    return click.Context(cli, info_name="herd", **cli.context_settings)


@functools.lru_cache(maxsize=None)
def _sub(name: str) -> tuple[click.Command, click.Context]:
    command = cli.get_command(_root(), name)
    assert command is not None
    return command, click.Context(command, info_name=name, parent=_root(), **command.context_settings)


@functools.lru_cache(maxsize=None)
def _parser(name: str) -> tuple[Any, list[click.Parameter], click.Option | None]:
    """click's parser of herd (``""``) or of a command, as click makes it (its state is per parse_args call)."""
    command, ctx = (cli, _root()) if not name else _sub(name)
    return command.make_parser(ctx), command.get_params(ctx), command.get_help_option(ctx)


def _named(values: dict[str, Any], params: list[click.Parameter], help_option: click.Option | None) -> dict:
    """The parser's values of options (not arguments), the help option named ``help`` as in the table."""
    names = {p.name for p in params if isinstance(p, click.Option)}
    found = {}
    for key, value in values.items():
        if key in names or (help_option is not None and key == help_option.name):
            name = "help" if help_option is not None and key == help_option.name else key
            found[name] = route.FLAG_NEEDS_VALUE if value is CLICK_FLAG_NEEDS_VALUE else value
    return found


@functools.lru_cache(maxsize=None)
def _click_reads(argv: tuple[str, ...]) -> Reading:
    parser, params, help_option = _parser("")
    try:
        values, rest, _ = parser.parse_args(list(argv))
    except click.UsageError:
        return Reading({}, None, {}, True)
    top = _named(values, params, help_option)
    if not rest or "help" in top or "version" in top:
        return Reading(top, None, {}, False)
    name = rest[0]
    if name not in route.KEPT:
        return Reading(top, name, {}, False)
    parser, params, help_option = _parser(name)
    try:
        values, _, _ = parser.parse_args(list(rest[1:]))
    except click.UsageError:
        return Reading(top, name, {}, True)
    return Reading(top, name, _named(values, params, help_option), False)


def click_reads(argv: list[str]) -> Reading:
    """What click's own parsers make of ``herd ARGV``: herd's options, the command, its options, refused."""
    return _click_reads(tuple(argv))


def router_reads(argv: list[str]) -> Reading:
    line = route.parse(argv)
    return Reading(line.root, line.command, line.options if line.error is None else {}, line.error is not None)


# -- the generated cases -------------------------------------------------------------------------------------

def _is_short(opt: str) -> bool:
    return len(opt) == 2 and opt[0] == "-" and opt[1] != "-"


@functools.lru_cache(maxsize=None)
def _derived() -> dict[str, Any]:
    return derive()


def _options(name: str) -> dict[str, tuple]:
    return _derived()[name][2]          # click's table, not the checked-in copy


def cases(name: str) -> Iterator[list[str]]:
    """Command lines (after ``herd NAME``) made of the command's real options."""
    options = _options(name)
    takes = {opt for opt, spec in options.items() if spec[1] in ("store", "append")}
    for opt in options:
        if opt in takes:
            for value in VALUES:
                yield [opt, value]
                yield [opt + value] if _is_short(opt) else [f"{opt}={value}"]
            yield [opt]                                             # the value missing
        else:
            yield from ([opt], [f"{opt}=x"], [f"{opt}="])            # a flag given a value: refused if long
    for opt in options:
        for single in ([opt, "inv.yaml"], [opt + "inv.yaml"] if _is_short(opt) else [f"{opt}=inv.yaml"]) \
                if opt in takes else ([opt],):
            yield ["worker", *single]                               # options after arguments
            yield [*single, "worker"]
            yield ["--", *single]                                   # not options after --
            yield ["worker", "--", *single]
            yield [*single, "--", "-v"]
            yield [*single, *single]                                # twice: the last wins, counts add
    shorts = [opt for opt in options if _is_short(opt)]
    for a, b in itertools.product(shorts, repeat=2):                # -vi FILE, -iv, -Hwf*
        word = f"-{a[1]}{b[1]}"
        yield [word]
        yield [word, "inv.yaml"]
        yield [word + "wf*"]
    sample = [opt for opt in SAMPLE if opt in options]
    for a, b, c in itertools.product(sample, repeat=3):
        yield [f"-{a[1]}{b[1]}{c[1]}", "x.yaml", "worker"]
    longs = [opt for opt in options if opt in takes and not _is_short(opt)]
    for a, b in itertools.product(longs, repeat=2):                 # value options of the same name: last wins
        yield [a, "one", f"{b}=two"]
    yield from (["--nosuch"], ["-Z"], ["-vZ"], ["---"], ["-"], ["--", "--"], ["-vi", "inv.yaml"], ["-Hwf*"],
                ["-H", "-h"], ["-i", "--watch"], ["--keep", "1m", "--no-keep"], ["--no-keep", "--keep=5"],
                ["--keep=soon"], ["-v", "--verbose", "-vv"], ["--inventory"], ["-i"])


def _lines(name: str) -> Iterator[list[str]]:
    for case in cases(name):
        yield [name, *case]
    for root in ROOTS:
        yield [*root, name, "-vi", "inv.yaml"]


@pytest.mark.parametrize("name", sorted(route.KEPT))
def test_the_router_reads_every_generated_line_as_click_s_parser(name):
    checked, mismatches = 0, []
    for argv in _lines(name):
        expected, got = click_reads(argv), router_reads(argv)
        checked += 1
        if got != expected:
            mismatches.append(f"herd {' '.join(argv)}: click {expected} / router {got}")
    print(f"herd {name}: {checked} command lines, {len(mismatches)} read otherwise")
    assert checked > 500
    assert not mismatches, "\n".join(mismatches[:20])


def _decisions_of_click(argv: list[str], stdin_tty: bool) -> dict[str, Any] | None:
    """The routing decisions from what click's make_context gives the command (None: click refuses)."""
    reading = click_reads(argv)
    if reading.refused:
        return None
    if reading.command is None:
        return {"reason": "help" if "help" in reading.root else "no command"}
    name = reading.command
    if name not in route.KEPT:
        return {"reason": f"`herd {name}` runs directly"}
    command, _ = _sub(name)
    ctx = command.make_context(name, list(argv[argv.index(name) + 1:]), parent=_root(), resilient_parsing=True)
    params = ctx.params
    keep = reading.options.get("keep")
    decided: dict[str, Any] = {"inventory": params["inventory"], "verbosity": params["verbose"], "keep": keep}
    if keep is not None and params["keep"] is not None:
        assert params["keep"] == keep
    streams = route.STREAMING.get(name)
    asks = route.ASKING.get(name)
    if reading.options.get("help"):
        decided["reason"] = "help"
    elif streams and params[streams]:
        decided["reason"] = f"`herd {name} --{streams}` streams: it runs directly"
    elif asks and stdin_tty and not any(params[n] for n in asks):
        decided["reason"] = f"`herd {name}` may ask for confirmation: it runs directly"
    else:
        decided["reason"] = None
    return decided


def _decisions_of_router(argv: list[str], stdin_tty: bool) -> dict[str, Any] | None:
    line = route.parse(argv)
    if line.error is not None:
        assert route.reason(line, stdin_tty) == "usage"
        return None
    decided: dict[str, Any] = {"reason": route.reason(line, stdin_tty)}
    if line.command in route.KEPT:
        decided.update(inventory=line.inventory, verbosity=line.verbosity, keep=line.keep)
    return decided


@pytest.mark.parametrize("name", sorted(route.KEPT))
def test_routing_decisions_agree_with_click_s_make_context(name):
    """Inventory, verbosity, keep, help, streaming and confirmation: from make_context on the real command."""
    checked, mismatches = 0, []
    lines = [argv for argv in _lines(name) if len(argv) <= 3 or argv[1] in ("-vi", "-Hwf*")]
    for argv, tty in itertools.product(lines, (True, False) if name in route.ASKING else (True,)):
        expected, got = _decisions_of_click(argv, tty), _decisions_of_router(argv, tty)
        checked += 1
        if expected != got:
            mismatches.append(f"herd {' '.join(argv)} (tty {tty}): click {expected} / router {got}")
    print(f"herd {name}: {checked} decisions")
    assert checked > 200
    assert not mismatches, "\n".join(mismatches[:20])


def test_the_cases_of_the_issue():
    line = route.parse(["status", "-vi", "inv.yaml"])             # the inventory's keeper, not the default's
    assert (line.inventory, line.verbosity, line.error) == ("inv.yaml", 1, None)
    assert route.direct_reason(["status", "-Hwf*"], True) is None  # a host pattern, not --watch
    assert route.parse(["status", "-Hwf*"]).options["patterns"] == ["wf*"]
    assert route.direct_reason(["status", "-aw"], True) == "`herd status --watch` streams: it runs directly"
    assert route.direct_reason(["tail", "worker", "--", "-f"], True) is None    # a process named -f
    assert route.direct_reason(["status", "-H", "-h"], True) is None             # a pattern "-h", not help
    assert route.direct_reason(["status", "--nosuch"], True) == "usage"          # click says what is wrong
    assert route.direct_reason(["--", "status"], True) is None                   # click runs status
    assert route.direct_reason(["--version", "status"], True) == "no command"
    assert keep_from_line(route.parse(["status", "--keep=10m", "-i", "x"])) == 600
    assert keep_from_line(route.parse(["status", "-i", "--keep=10m"])) is None   # the inventory is "--keep=10m"


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - route.KEPT))
def test_every_other_command_runs_directly(name):
    for argv in ([name], [name, "-i", "x.yaml"], [name, "--keep", "10m"], ["--", name]):
        assert route.direct_reason(argv, False) == f"`herd {name}` runs directly"
