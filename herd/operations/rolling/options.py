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

A resumed roll goes through it like a new one: the state file records
progress (herd/operations/rolling/state.py), not options, so ``--resume``
takes its options from the command line or the page, checked the same way.

Light on purpose: the CLI imports this module to declare its options, before
anything slow is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence, Union

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


def _text(value: object) -> str | None:
    """A text option (probe, hook): None or empty is "not given"."""
    return None if value is None or value == "" else str(value)


def roll_options(name: object, *, batch: object = None, per_host: object = None, min_healthy: object = None,
                 timeout_healthy: object = None, http: object = None, tcp: object = None, cmd: object = None,
                 max_fail: object = None, skip_unhealthy: object = False, pause: object = None,
                 pre_hook: object = None, post_hook: object = None, can_ask: bool = True) -> RollOptions:
    """The checked options of a roll of ``name``, from raw values (None: the default).

    Raises UsageError (or OptionError, one) with a single sentence naming the
    first bad option; ``can_ask=False`` (no terminal, or the page) refuses
    ``--pause ask``.  The checks run in the order the CLI has always made
    them (name, numbers, pause, batch, probe, terminal).
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
    return RollOptions(
        name=text, batch=steps, per_host=int(numbers["per_host"]), max_fail=int(numbers["max_fail"]),
        gate=GateSpec(float(numbers["min_healthy"]), float(numbers["timeout_healthy"]), probe),
        skip_unhealthy=bool(skip_unhealthy), pause=seconds, pause_ask=ask,
        pre_hook=_text(pre_hook), post_hook=_text(post_hook))
