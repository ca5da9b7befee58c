"""``herd rolling-restart NAME``: restart a serving program across the fleet without losing capacity."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from herd.cli.completion import complete_groups
from herd.cli.fleets import load_selected, open_fleet
from herd.cli.options import fleet_options
from herd.cli.output import use_color
from herd.operations.rolling.options import (DEFAULT_BATCH, DEFAULT_PAUSE, MAX_FAIL, MIN_HEALTHY, PER_HOST,
                                             TIMEOUT_HEALTHY, NumberOption, OptionError)
from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.fleet import Fleet
    from herd.operations.rolling.options import RollOptions
    from herd.operations.rolling.state import RollState, StateFile

EPILOG = """
\b
Exit codes: 0 done; 1 a host failed (the roll halted, or went on within
--max-fail); 3 a target not RUNNING (refused at pre-flight, or left alone
with --skip-unhealthy); 4 a host unreachable at pre-flight; 5 --signal on a
host whose supervisord is older than 3.2.0 (refused at pre-flight); 130
interrupted (resume with --resume); 2 usage.

\b
--signal HUP reloads instead of restarting: each process gets SIGHUP, in
the same batches, order and hooks; the gate is the same pid, still RUNNING
for --min-healthy seconds, and the probe passing. A process that dies on
the signal fails the gate and stops the roll.

\b
Options not given come from the inventory's rolling: entry for NAME, and on
--resume from the roll being resumed (the state file keeps its gate).
"""


def _checked(ptype: click.ParamType, option: NumberOption, value: Any, param: click.Parameter | None,
             ctx: click.Context | None) -> Any:
    try:
        return option.parse(value)
    except OptionError as exc:
        ptype.fail(exc.detail, param, ctx)


class _Int(click.IntRange):
    """A numeric option parsed as herd/operations/rolling/options.py parses it (the page's sentence too);
    the range it is made from gives ``--help`` its ``x>=N``."""

    def __init__(self, option: NumberOption) -> None:
        super().__init__(min=int(option.minimum))
        self.option = option

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return _checked(self, self.option, value, param, ctx)


class _Float(click.FloatRange):
    """As :class:`_Int`, for seconds."""

    def __init__(self, option: NumberOption) -> None:
        super().__init__(min=option.minimum)
        self.option = option

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return _checked(self, self.option, value, param, ctx)


def roll_flags(command: Any) -> Any:
    """The options every roll takes (rolling-restart and rolling-update): batches, gate, hooks, resume."""
    flags = [
        click.option("--batch", default=DEFAULT_BATCH, show_default=True, metavar="N|P%|LIST",
                     help="Hosts restarted at once: a count, a percentage (rounded down, at least 1), or a ramp "
                          "list like 1,5,25% (the last entry repeats)."),
        click.option("--per-host", type=_Int(PER_HOST), default=PER_HOST.default, show_default=True, metavar="N",
                     help="Processes of a host restarted at once."),
        click.option("--min-healthy", type=_Float(MIN_HEALTHY), default=MIN_HEALTHY.default, show_default=True,
                     metavar="SECONDS", help="A restarted process must stay RUNNING with the same pid this long."),
        click.option("--timeout-healthy", type=_Float(TIMEOUT_HEALTHY), default=TIMEOUT_HEALTHY.default,
                     show_default=True, metavar="SECONDS",
                     help="Bound on the whole gate of one process (stop, start, hold, probe)."),
        click.option("--http", metavar="URL", help="Probe: GET from the host itself must answer 2xx/3xx "
                     "(templates: {host} {address} {port} {process}; {port} is the process name's number)."),
        click.option("--tcp", metavar="PORT",
                     help="Probe: 127.0.0.1:PORT on the host accepts a connection ({port} ok)."),
        click.option("--cmd", metavar="COMMAND", help="Probe: COMMAND run on the host exits 0 (templates as --http)."),
        click.option("--max-fail", type=_Int(MAX_FAIL), default=MAX_FAIL.default, show_default=True, metavar="N",
                     help="Failed hosts tolerated over the whole run before the roll stops."),
        click.option("--skip-unhealthy", is_flag=True,
                     help="Roll even if targets are already not RUNNING: leave those alone (their host's "
                          "allowance counts them as down)."),
        click.option("--pause", "pause_", default=DEFAULT_PAUSE, metavar="SECONDS|ask",
                     help="Wait between batches, or ask."),
        click.option("--pre-hook", metavar="COMMAND", help="Run on the controller before each host ({host} "
                     "{address}), e.g. to drain it from a load balancer; a failure fails the host, untouched."),
        click.option("--post-hook", metavar="COMMAND", help="Run on the controller after each host; a failure "
                     "fails the host. Runs for hosts in flight even when the roll stops."),
        click.option("--dry-run", is_flag=True, help="Print the plan (batches, order, gate); change nothing."),
        click.option("--resume", is_flag=True, help="Continue the last roll of NAME that did not finish."),
        click.option("--fresh", is_flag=True, help="Start over even though an unfinished roll of NAME exists."),
        click.option("--state-file", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Where progress is recorded (default ~/.local/state/herd/rolling/NAME-<inventory>.json)."),
        click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True),
    ]
    for flag in reversed(flags):
        command = flag(command)
    return command


@click.command("rolling-restart", epilog=EPILOG)
@click.argument("name", shell_complete=complete_groups)
@fleet_options
@roll_flags
@click.option("--signal", "signal_", metavar="SIGNAL",
              help="Reload instead of restart: send SIGNAL (HUP, USR2, 1...) to each process; the gate: the "
                   "same pid, still RUNNING for --min-healthy, the probe passing.")
@click.option("--ignore-pending", is_flag=True, help="Restart although NAME's config changed on a host (the "
              "processes keep running the old config; herd rolling-update rolls the new one).")
def rolling_restart(name: str, fleet_opts: FleetOptions, *, dry_run: bool, resume: bool, fresh: bool,
                    state_file: str | None, output: str, ignore_pending: bool, signal_: str | None,
                    **flags: Any) -> int:
    """Restart NAME (a program/group like tornado, or group:name) host by host, process by process,
    each held to a health gate; stop at the first sign of a bad build.

    With no host selector it covers every host that has NAME. With --signal HUP
    each process is sent the signal instead (a graceful reload), gated on the same pid.
    """
    return _run(RollCommand(name, name, name), fleet_opts, _values(dict(flags, signal_=signal_)), dry_run=dry_run,
                resume=resume, fresh=fresh, state_file=state_file, output=output, ignore_pending=ignore_pending)


@click.command("rolling-update", epilog=EPILOG.replace("NAME", "GROUP"))
@click.argument("group_names", nargs=-1, metavar="[GROUP]...", shell_complete=complete_groups)
@fleet_options
@roll_flags
def rolling_update(group_names: tuple[str, ...], fleet_opts: FleetOptions, *, dry_run: bool, resume: bool, fresh: bool,
                   state_file: str | None, output: str, **flags: Any) -> int:
    """Apply the pending config of GROUPs (default: every group whose config changed) host by host,
    behind the same health gate as rolling-restart; stop at the first host whose new config fails.

    supervisord applies a group's new config only by stopping the whole group and adding it again (as herd
    update and supervisorctl update do): on each host of a batch its processes stop together, then every
    process of the new config is held to the gate. Removed groups are stopped, added ones started, only on
    the hosts of the batch. `herd pending` shows what is pending.
    """
    name = " ".join(group_names) or "all"
    command = RollCommand(name, f"update {name}", group_names[0] if len(group_names) == 1 else None, update=True,
                          groups=group_names)
    return _run(command, fleet_opts, _values(flags), dry_run=dry_run, resume=resume, fresh=fresh,
                state_file=state_file, output=output)


@dataclass(frozen=True)
class RollCommand:
    """What a roll command rolls: its name in messages, the key of its state file, the inventory's
    ``rolling:`` entry it takes settings from (a rolling update of one group: that group's)."""

    name: str
    state_key: str
    settings: str | None
    update: bool = False
    groups: tuple[str, ...] = ()


def _values(flags: dict[str, Any]) -> dict[str, Any]:
    """The roll flags (click's parameter names) as roll_options' keywords."""
    keyword = {param: key for key, param in _PARAMS.items()}
    return {keyword.get(k, k): v for k, v in flags.items()}


def _run(command: RollCommand, fleet_opts: FleetOptions, values: dict[str, Any], *, dry_run: bool, resume: bool,
         fresh: bool, state_file: str | None, output: str, ignore_pending: bool = False) -> int:
    from herd.operations.rolling.options import roll_options

    kind = dict(update=command.update, groups=command.groups, ignore_pending=ignore_pending)
    can_ask = sys.stdin.isatty()
    roll_options(command.name, can_ask=can_ask, **values, **kind)   # a bad option fails before the inventory is read
    inventory, hosts = load_selected(fleet_opts, default_all=True)
    saved, state = _state(inventory.path, command.state_key, state_file, resume=resume, fresh=fresh,
                          dry_run=dry_run)
    options = _layered_options(command, inventory, state if resume else None, _given(values), can_ask, kind)
    with open_fleet(fleet_opts, default_all=True, selected=(inventory, hosts)) as fleet:
        return _roll(fleet, options, saved, state, resume=resume, dry_run=dry_run, as_json=output == "json")


# roll_options' keyword -> this command's parameter, where they differ
_PARAMS = {"pause": "pause_", "signal": "signal_"}


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The options the command line (or the environment) gave, not click's defaults: only those win
    over the inventory's ``rolling:`` entry and a resumed roll's recorded options."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = {}
    for key, value in values.items():
        source = ctx.get_parameter_source(_PARAMS.get(key, key))
        if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT) and value is not None \
                and value is not False:     # an identity test: --min-healthy 0 is given (0 == False)
            given[key] = value
    return given


def _layered_options(command: RollCommand, inventory: Any, resumed: "RollState | None", given: dict[str, Any],
                     can_ask: bool, kind: dict[str, Any]) -> "RollOptions":
    """The roll's options: defaults < the inventory's ``rolling:`` entry < a resumed roll's recorded
    options < the command line; at -v, what the command line changes in a resumed roll."""
    import logging

    from herd.inventory.rolling import settings_for
    from herd.operations.rolling.options import inventory_layer, layered, overridden, roll_options

    log = logging.getLogger("herd")
    entry = settings_for(getattr(inventory, "rolling", {}), command.settings) if command.settings else None
    from_inventory = inventory_layer(inventory.path, entry)
    recorded = dict(resumed.options) if resumed is not None else {}
    if resumed is not None:
        if not recorded:
            log.info("resume: the state file records no options (written by an older herd): using the "
                     "command line and the inventory")
        for change in overridden(recorded, given):
            log.info("resume: %s", change)
    return roll_options(command.name, can_ask=can_ask, **layered(from_inventory, recorded, given), **kind)


def _state(inventory_path: str, name: str, state_file: str | None, *, resume: bool, fresh: bool,
           dry_run: bool) -> tuple["StateFile", "RollState"]:
    from herd.operations.rolling.state import open_roll_state

    return open_roll_state(inventory_path, name, state_file, resume=resume, fresh=fresh, dry_run=dry_run)


def _roll(fleet: "Fleet", options: "RollOptions", state_file: "StateFile", state: "RollState", *,
          resume: bool, dry_run: bool, as_json: bool) -> int:
    from herd import text
    from herd.cli import trail
    from herd.errors import RollRefused
    from herd.operations.rolling.runner import RollRunner, preflight
    from herd.render.rolling import plan_json, plan_lines, progress_line, report_json, report_lines

    color = use_color()
    try:
        plan = preflight(fleet, options, state if resume else None)
    except RollRefused as refused:
        trail.refused(refused.problems)
        for problem in refused.problems:
            click.echo(f"herd: refusing to roll {options.name}: {text.field(problem)}", err=True)
        if refused.hint:
            click.echo(f"herd: {text.field(refused.hint)}", err=True)
        return refused.exit_code
    if dry_run:
        click.echo(json.dumps(plan_json(plan, signal=options.signal), indent=2) if as_json else "\n".join(
            ["dry run: nothing will be changed"] + plan_lines(plan, options)))
        return 0
    if not as_json:
        click.echo("\n".join(plan_lines(plan, options)))
    terminal = sys.stderr.isatty()

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if as_json or (kind == "phase" and not terminal):
            return
        line = progress_line(kind, data, color)
        if line is not None:
            click.echo(line, err=True)

    runner = RollRunner(fleet, plan, options, state, state_file, on_event, ask_to_continue)
    with _interrupts(runner):
        report = runner.run()
    trail.reported(report_lines(report, False, signal=options.signal), report)
    click.echo(json.dumps(report_json(report, signal=options.signal), indent=2) if as_json
               else "\n".join(report_lines(report, color, signal=options.signal)))
    return report.exit_code


def ask_to_continue(question: str) -> bool:
    """``--pause ask``'s question between batches: Enter alone stops the roll (``[y/N]``).

    At 3 a.m. a stray Enter must not roll the next batch onto a bad build;
    going on takes a typed "y".
    """
    return click.confirm(question, default=False, err=True)


class _interrupts:
    """Ctrl-C / SIGTERM ask the runner to stop cleanly instead of killing herd mid-restart."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        first = not self.runner.interrupted.is_set()
        self.runner.interrupt()
        click.echo("herd: interrupted: finishing the process in flight so that nothing is left stopped"
                   if first else "herd: still finishing the process in flight; please wait", err=True)

    def __enter__(self) -> "_interrupts":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
