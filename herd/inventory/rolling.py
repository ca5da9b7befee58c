"""The inventory's ``rolling:`` key: each program's roll settings (gate, batch, hooks), kept with the fleet.

``herd rolling-restart NAME``, its ``--resume`` and the dashboard's roll
form start from the entry of NAME (or of its group, for ``group:name``);
the command line and the page win over it.  The shape (known keys, types,
one probe, lower bounds) is checked here when the inventory is loaded, each
problem as ``FILE:LINE:COLUMN: rolling.NAME.KEY: ...``; what only the
rolling engine knows how to read (a ``batch`` ramp, a probe's template)
is checked by herd/operations/rolling/options.py, which names the same
file, line and key.  The inventory layer imports nothing above it, so the
bounds are repeated here; tests/test_rolling_inventory.py holds them equal
to the engine's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from herd.inventory.yamlnodes import (FLOAT, INT, STR, Ctx, as_str, describe, is_null, join_key, known_pairs,
                                      nonblank, pairs)

_BATCH = re.compile(r"^\s*\d+\s*%?\s*(,\s*\d+\s*%?\s*)*$")
PROBES = ("http", "tcp", "cmd")
# lower bounds of the numbers, as herd/operations/rolling/options.py NUMBERS has them
MINIMUMS: dict[str, float] = {"per_host": 1, "max_fail": 0, "min_healthy": 0, "timeout_healthy": 0.1}


@dataclass(frozen=True)
class RollSettings:
    """One program's ``rolling:`` entry: roll_options' keywords, and where each was written."""

    name: str
    values: Mapping[str, Any] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)   # key -> 1-based line
    line: int | None = None                                   # the entry's own line


def _integer(ctx: Ctx, node: Node, key: str) -> int:
    if not (isinstance(node, ScalarNode) and node.tag == INT):
        ctx.fail(f"must be an integer, got {describe(node)}", node, key)
    value = int(yaml.constructor.SafeConstructor().construct_yaml_int(node))
    return int(_at_least(ctx, node, key, value))


def _seconds(ctx: Ctx, node: Node, key: str) -> float:
    if not (isinstance(node, ScalarNode) and node.tag in (INT, FLOAT)):
        ctx.fail(f"must be a number of seconds, got {describe(node)}", node, key)
    try:
        value = float(node.value)
    except ValueError:
        ctx.fail(f"must be a number of seconds, got {describe(node)}", node, key)
    return float(_at_least(ctx, node, key, value))


def _at_least(ctx: Ctx, node: Node, key: str, value: Any) -> Any:
    minimum = MINIMUMS[key.rsplit(".", 1)[-1]]
    if not value >= minimum:
        ctx.fail(f"must be at least {minimum:g}, got {value:g}", node, key)
    return value


def _batch(ctx: Ctx, node: Node, key: str) -> str:
    if isinstance(node, ScalarNode) and node.tag == INT:
        return str(_integer_batch(ctx, node, key))
    text = as_str(ctx, node, key)
    if not _BATCH.match(text):
        ctx.fail(f"must be a count, a percentage or a ramp list (e.g. 1, 25%, '1,5,25%'), got '{text}'", node, key)
    return text


def _integer_batch(ctx: Ctx, node: ScalarNode, key: str) -> int:
    value = int(yaml.constructor.SafeConstructor().construct_yaml_int(node))
    if value < 1:
        ctx.fail(f"must be at least 1, got {value}", node, key)
    return value


def _pause(ctx: Ctx, node: Node, key: str) -> str:
    if isinstance(node, ScalarNode) and node.tag == STR and node.value == "ask":
        return "ask"
    if not (isinstance(node, ScalarNode) and node.tag in (INT, FLOAT)) or float(node.value) < 0:
        ctx.fail(f"must be a number of seconds (at least 0) or 'ask', got {describe(node)}", node, key)
    return str(node.value)


def _tcp(ctx: Ctx, node: Node, key: str) -> str:
    if isinstance(node, ScalarNode) and node.tag == INT:
        return str(node.value)
    return nonblank(ctx, node, key)


def _command(ctx: Ctx, node: Node, key: str) -> str:
    return nonblank(ctx, node, key, spaces=True)


CHECKS: dict[str, Callable[[Ctx, Node, str], Any]] = {
    "batch": _batch, "per_host": _integer, "min_healthy": _seconds, "timeout_healthy": _seconds,
    "http": nonblank, "tcp": _tcp, "cmd": _command, "max_fail": _integer, "pause": _pause,
    "pre_hook": _command, "post_hook": _command,
}


def check_rolling(ctx: Ctx, node: Node, key: str = "rolling") -> dict[str, RollSettings]:
    """``rolling``: program name -> its roll settings; the first problem fails the load (file:line: key)."""
    result: dict[str, RollSettings] = {}
    if is_null(node):
        return result
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping of program names to roll settings, e.g. "
                 f"{{tornado: {{http: 'http://127.0.0.1:{{port}}/', min_healthy: 5}}}}, got {describe(node)}",
                 node, key)
    for knode, vnode in pairs(ctx, node, key, what="program name"):
        program = nonblank(ctx, knode, key)
        path = join_key(key, program)
        if is_null(vnode):
            result[program] = RollSettings(program, line=knode.start_mark.line + 1)
            continue
        if not isinstance(vnode, MappingNode):
            ctx.fail(f"must be a mapping of roll settings ({', '.join(CHECKS)}), got {describe(vnode)}",
                     vnode, path)
        values: dict[str, Any] = {}
        lines: dict[str, int] = {}
        probe: ScalarNode | None = None
        for setting, value in known_pairs(ctx, vnode, path, CHECKS):
            name = setting.value
            if is_null(value):      # written, but not given: the command line's or the default applies
                continue
            if name in PROBES:
                if probe is not None:
                    ctx.fail(f"give one probe: {probe.value} is already set (line {probe.start_mark.line + 1})",
                             setting, join_key(path, name))
                probe = setting
            values[name] = CHECKS[name](ctx, value, join_key(path, name))
            lines[name] = value.start_mark.line + 1
        result[program] = RollSettings(program, values, lines, knode.start_mark.line + 1)
    return result


def settings_for(entries: Mapping[str, RollSettings], name: str) -> RollSettings | None:
    """The entry of NAME as rolling-restart is given it: ``tornado``, else ``tornado`` for ``tornado:tornado-8080``."""
    return entries.get(name) or entries.get(name.split(":", 1)[0])
