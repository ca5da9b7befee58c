"""A rolling restart's options, built and checked in one place for the CLI, ``herd web`` and ``--resume``.

``herd rolling-restart`` and the dashboard's ``POST /api/roll`` take the same
options; they used to be turned into :class:`RollOptions` twice, and the
two builders disagreed (the page let ``timeout_healthy: 0`` through, the
CLI refused it; the 10 s / 120 s gate defaults were written three times).
:func:`roll_options` is now the only builder: it takes the raw values as
either caller has them (click's, or a JSON body's), refuses a bad one with
one sentence naming the option as the CLI spells it, and fills what was not
given from :data:`NUMBERS` -- the one home of the defaults and bounds, which
the CLI's option types and ``--help`` are made from too.

A roll's options come in layers, each a mapping of :data:`OPTION_KEYS` to
raw values (:func:`layered` merges them, the later winning): the defaults,
the inventory's ``rolling:`` entry for NAME, the options a resumed roll
recorded in its state file (:func:`recorded`: the gate must survive a
halt, or the 3 a.m. ``--resume`` runs without its health check), and the
command line or the page.  The merged mapping goes through
:func:`roll_options` like any other, so every layer is checked the same way.

Light on purpose: the CLI imports this module to declare its options, before
anything slow is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

from herd.errors import UsageError

if TYPE_CHECKING:
    from herd.operations.rolling.gate import GateSpec
    from herd.operations.rolling.plan import BatchStep

Number = Union[int, float]


@dataclass(frozen=True)
class RollOptions:
    """What a roll does, already checked (build it with :func:`roll_options`)."""

    name: str
    batch: Sequence[BatchStep]
    gate: GateSpec
    per_host: int = 1
    max_fail: int = 0
    skip_unhealthy: bool = False
    pause: float = 0.0
    pause_ask: bool = False
    pre_hook: str | None = None
    post_hook: str | None = None
    signal: str | None = None    # a reload roll (--signal HUP): the signal, as supervisord takes it, not stop/start
    update: bool = False                 # a rolling update: apply the pending config of ``groups`` (all: none named)
    groups: tuple[str, ...] = ()
    ignore_pending: bool = False         # a restart roll goes on although NAME's config changed on a host


class OptionError(UsageError):
    """A numeric option out of its range or not a number.

    Worded as click words its own range errors ("Invalid value for
    '--timeout-healthy': 0.0 is not in the range x>=0.1."), so the CLI, whose
    option types call :meth:`NumberOption.parse`, and the page say the same
    sentence; ``detail`` is the part after the option's name, for click.
    """

    def __init__(self, flag: str, detail: str) -> None:
        super().__init__(f"Invalid value for '{flag}': {detail}")
        self.flag = flag
        self.detail = detail


@dataclass(frozen=True)
class NumberOption:
    """One numeric option: its CLI spelling, type, lower bound and default."""

    flag: str
    kind: type[int] | type[float]
    minimum: Number
    default: Number

    def parse(self, value: object) -> Number:
        """``value`` (a number, or its text) as ``kind``, at least ``minimum``; None is the default."""
        if value is None:
            return self.default
        number = self._convert(value)
        if not number >= self.minimum:  # NaN fails too
            raise OptionError(self.flag, f"{number} is not in the range x>={self.minimum:g}.")
        return number

    def _convert(self, value: object) -> Number:
        noun = "integer" if self.kind is int else "float"
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise OptionError(self.flag, f"{value!r} is not a valid {noun}.")
        try:
            if self.kind is float:
                return float(value)
            if isinstance(value, float):
                if not (math.isfinite(value) and value.is_integer()):
                    raise ValueError(value)
                return int(value)
            return int(value)
        except ValueError as exc:
            raise OptionError(self.flag, f"{value!r} is not a valid {noun}.") from exc


MIN_HEALTHY = NumberOption("--min-healthy", float, 0, 10.0)
TIMEOUT_HEALTHY = NumberOption("--timeout-healthy", float, 0.1, 120.0)
PER_HOST = NumberOption("--per-host", int, 1, 1)
MAX_FAIL = NumberOption("--max-fail", int, 0, 0)
NUMBERS = {"min_healthy": MIN_HEALTHY, "timeout_healthy": TIMEOUT_HEALTHY, "per_host": PER_HOST,
           "max_fail": MAX_FAIL}
DEFAULT_BATCH = "1"
DEFAULT_PAUSE = "0"
NO_TERMINAL = "--pause ask needs a terminal to ask on"


def parse_pause(value: object) -> tuple[float, bool]:
    """``--pause``: (seconds, ask); ``ask`` waits for an answer between batches."""
    if value is None:
        value = DEFAULT_PAUSE
    if value == "ask":
        return 0.0, True
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UsageError(f"--pause {value}: give SECONDS or 'ask'")
    try:
        seconds = float(value)
    except ValueError as exc:
        raise UsageError(f"--pause {value}: give SECONDS or 'ask'") from exc
    if math.isnan(seconds):
        raise UsageError(f"--pause {value}: give SECONDS or 'ask'")
    if seconds < 0:
        raise UsageError(f"--pause {value}: must not be negative")
    return seconds, False


# roll_options' keyword arguments that a layer (inventory, state file, command line, page) may give
OPTION_KEYS = ("batch", "per_host", "min_healthy", "timeout_healthy", "http", "tcp", "cmd", "max_fail",
               "skip_unhealthy", "pause", "pre_hook", "post_hook", "signal")
PROBE_KEYS = ("http", "tcp", "cmd")


def layered(*layers: Mapping[str, object]) -> dict[str, object]:
    """The layers merged key by key, the later winning; None (or "") is "not given".

    The probe is one setting: a layer that names any of --http/--tcp/--cmd
    replaces the probe of the layers below (a resumed ``--tcp`` does not
    join a recorded ``--http``, which roll_options would refuse as two probes).
    """
    merged: dict[str, object] = {}
    for layer in layers:
        given = {k: v for k, v in layer.items() if k in OPTION_KEYS and v is not None and v != ""}
        if any(k in given for k in PROBE_KEYS):
            for key in PROBE_KEYS:
                merged.pop(key, None)
        merged.update(given)
    return merged


def recorded(options: RollOptions) -> dict[str, object]:
    """``options`` as roll_options' raw keywords, for the state file (JSON) and a resumed roll."""
    gate = options.gate
    values: dict[str, object] = {
        "batch": ",".join(str(step) for step in options.batch), "per_host": options.per_host,
        "min_healthy": gate.min_healthy, "timeout_healthy": gate.timeout_healthy, "max_fail": options.max_fail,
        "skip_unhealthy": options.skip_unhealthy, "pause": "ask" if options.pause_ask else options.pause,
        "pre_hook": options.pre_hook, "post_hook": options.post_hook, "signal": options.signal}
    if gate.probe is not None:
        values[gate.probe.kind] = gate.probe.template
    return {k: v for k, v in values.items() if v is not None}


def overridden(saved: Mapping[str, object], given: Mapping[str, object]) -> list[str]:
    """What the resume command line changes in the recorded options, one sentence each:
    ``--min-healthy 1 from the command line overrides the recorded 10``."""
    changes = []
    saved_probe = next((f"--{k} {saved[k]}" for k in PROBE_KEYS if saved.get(k) is not None), None)
    for key in OPTION_KEYS:
        value = given.get(key)
        if value is None or value == "" or value is False:
            continue
        flag = f"--{key.replace('_', '-')}"
        now = flag if value is True else f"{flag} {value}"
        was = saved_probe if key in PROBE_KEYS else saved.get(key)
        if (was == now) if key in PROBE_KEYS else str(was) == str(value):
            continue
        told = "none was recorded" if was is None else f"the recorded {was}"
        changes.append(f"{now} from the command line overrides {told}")
    return changes


def inventory_layer(path: str, entry: object | None) -> dict[str, object]:
    """The inventory's ``rolling:`` entry of a program (herd/inventory/rolling.py RollSettings) as a layer.

    The loader checked its shape; what only this module reads (a batch
    ramp, a probe template, the pause) is checked here, a bad value refused
    as ``FILE:LINE: rolling.NAME.KEY: sentence`` so that the user finds it.
    """
    if entry is None:
        return {}
    values: Mapping[str, Any] = getattr(entry, "values")
    try:
        roll_options(getattr(entry, "name"), **values)
    except UsageError as exc:
        message = str(exc)
        flag = exc.flag if isinstance(exc, OptionError) else message.split(" ", 1)[0]
        key = next((k for k in values if f"--{k.replace('_', '-')}" in (flag, flag.rstrip(":"))), None)
        lines: Mapping[str, int] = getattr(entry, "lines")
        line = lines.get(key) if key else getattr(entry, "line")
        where = f"rolling.{getattr(entry, 'name')}" + (f".{key}" if key else "")
        raise UsageError(f"{path}:{line}: {where}: {message}") from exc
    return dict(values)


def _text(value: object) -> str | None:
    """A text option (probe, hook): None or empty is "not given"."""
    return None if value is None or value == "" else str(value)


def roll_options(name: object, *, batch: object = None, per_host: object = None, min_healthy: object = None,
                 timeout_healthy: object = None, http: object = None, tcp: object = None, cmd: object = None,
                 max_fail: object = None, skip_unhealthy: object = False, pause: object = None,
                 pre_hook: object = None, post_hook: object = None, signal: object = None,
                 can_ask: bool = True, update: object = False, groups: object = (),
                 ignore_pending: object = False) -> RollOptions:
    """The checked options of a roll of ``name``, from raw values (None: the default).

    Raises UsageError (or OptionError, one) with a single sentence naming the
    first bad option; ``can_ask=False`` (no terminal, or the page) refuses
    ``--pause ask``.  The checks run in the order the CLI has always made
    them (name, numbers, pause, batch, probe, terminal), then the signal of
    a reload roll (``hup``, ``SIGHUP``, ``1`` -> ``HUP``, as ``herd signal``).
    A rolling update (``update``) names its ``groups`` (none: every group
    with a pending change); ``name`` is what it is called in messages and
    its state file.
    """
    from herd.operations.rolling.gate import GateSpec
    from herd.operations.rolling.plan import parse_batch
    from herd.operations.rolling.probes import probe_from

    text = str(name or "").strip()
    if not text:
        raise UsageError("which program? give a name (a program/group like tornado, or group:name)")
    raw = {"min_healthy": min_healthy, "timeout_healthy": timeout_healthy, "per_host": per_host,
           "max_fail": max_fail}
    numbers = {key: option.parse(raw[key]) for key, option in NUMBERS.items()}
    seconds, ask = parse_pause(pause)
    steps = parse_batch(DEFAULT_BATCH if batch is None else str(batch))
    probe = probe_from(_text(http), _text(tcp), _text(cmd))
    if ask and not can_ask:
        raise UsageError(NO_TERMINAL)
    sig = _text(signal)
    return RollOptions(
        name=text, batch=steps, per_host=int(numbers["per_host"]), max_fail=int(numbers["max_fail"]),
        gate=GateSpec(float(numbers["min_healthy"]), float(numbers["timeout_healthy"]), probe),
        skip_unhealthy=bool(skip_unhealthy), pause=seconds, pause_ask=ask,
        pre_hook=_text(pre_hook), post_hook=_text(post_hook),
        signal=None if sig is None else _signal_name(sig), update=bool(update),
        groups=tuple(str(g) for g in groups) if isinstance(groups, (list, tuple)) else (),
        ignore_pending=bool(ignore_pending))


UNCATCHABLE = ("KILL", "STOP")


def _signal_name(value: str) -> str:
    """``--signal``'s value as supervisord takes it; a bad one is the sentence ``herd signal`` says.

    KILL and STOP cannot be caught, so they cannot reload anything: KILL
    would fail every gate, and a STOPped process keeps its pid and its
    RUNNING state, so without a probe the roll would freeze the fleet
    and call it healthy.
    """
    from herd.operations.control import normalize_signal

    try:
        name = normalize_signal(value)
    except UsageError as exc:
        raise UsageError(f"--signal: {exc}") from exc
    if name in UNCATCHABLE:
        raise UsageError(f"--signal {value}: SIG{name} cannot be caught, so it cannot reload a program "
                         f"(herd signal sends it)")
    return name
