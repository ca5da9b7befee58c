"""Whether a command wants a keeper, and for how long: ``--keep``/``--no-keep``, then ``$HERD_KEEP``.

The inventory's ``keep`` comes last, and is read by the client only when
no keeper runs yet (client.py).  Durations are herd/duration.py's.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from herd.duration import parse_duration
from herd.keeper.route import CommandLine, parse

ENV_VAR = "HERD_KEEP"
_OFF = ("0", "no", "off", "false", "never")


def keep_from_env(environ: Mapping[str, str]) -> float | None:
    """$HERD_KEEP: seconds (0: off), or None when unset; ValueError when unreadable."""
    value = environ.get(ENV_VAR)
    if value is None or value.strip() == "":
        return None
    if value.strip().lower() in _OFF:
        return 0.0
    return parse_duration(value)


def keep_from_line(line: CommandLine) -> float | None:
    """--keep DURATION / --no-keep as click read them (the last wins); None if absent."""
    text = line.keep
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError:
        return 0.0   # click reports the bad value itself, on the direct run


def keep_from_args(args: Sequence[str]) -> float | None:
    """--keep DURATION / --keep=DURATION / --no-keep on a command line (the last wins); None if absent."""
    return keep_from_line(parse(args))
