"""Durations as people write them: ``90s``, ``10m``, ``1h``, ``2d`` or a plain number of seconds.

Below every layer that reads one: the inventory (``keep:``), the keeper
(``$HERD_KEEP``, ``--keep``) and the command line.  Imports nothing of herd.
"""

from __future__ import annotations

import re

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``10m``, ``90s``, ``1h``, ``2d`` or a plain number of seconds; ValueError otherwise."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 10m, 1h)")
    return float(match.group(1)) * _UNITS[match.group(2)]
