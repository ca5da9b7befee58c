"""The inventory's ``guard:`` key: what ``herd guard`` watches for, how it remediates, whom it tells.

::

    guard:
      rules:
        tornado:                                   # a program (group) name, or "*": every other program
          fatal: true
          exited: true
          flapping: {restarts: 3, within: 5m}
          rss: {above: 800M, for: 5m, remediate: restart}
          probe: {failing: 3, remediate: restart}  # the program's probe from its `rolling:` entry
          pending: {for: 1h}
        unreachable: {for: 2m}                     # the host rule
      remediation: {max_processes: 2, max_percent: 25, cooldown: 10m}
      notify: ...                                  # herd/inventory/guardnotify.py

Checked when the inventory is loaded, like ``rolling:`` (herd/inventory/rolling.py):
every problem is one line ``FILE:LINE:COLUMN: guard.rules.tornado.rss.above:
what is wrong`` (exit 2), an unknown key says the nearest known one.  The
inventory layer imports nothing above it: these are plain settings, and
herd/operations/guard/rules.py makes Rule objects of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from herd.duration import parse_duration
from herd.errors import UsageError
from herd.inventory.yamlnodes import (BOOL, FLOAT, INT, STR, Ctx, as_str, check_bool, describe, did_you_mean,
                                      is_null, join_key, known_pairs, pairs)


@dataclass(frozen=True)
class SecretRef:
    """Where a secret is (an environment variable or a file): the inventory never holds the value itself."""

    env: str | None = None       # environment variable name
    file: str | None = None      # path of a file holding it (first line)
    where: str = ""              # "FILE:LINE: guard.notify.email.password" for error messages

    def read(self) -> str:
        """The secret, read now (it may change between runs); UsageError naming ``where``, never the value."""
        prefix = f"{self.where}: " if self.where else ""
        if self.env:
            import os

            value = os.environ.get(self.env)
            if value is None:
                raise UsageError(f"{prefix}environment variable {self.env} is not set")
            if not value.strip():
                raise UsageError(f"{prefix}environment variable {self.env} is empty")
            return value.strip()
        if self.file:
            try:
                with open(self.file, encoding="utf-8") as fh:
                    value = fh.readline().rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not UTF-8 text"
                raise UsageError(f"{prefix}cannot read {self.file}: {reason}") from exc
            if not value.strip():
                raise UsageError(f"{prefix}{self.file}: the first line is empty")
            return value.strip()
        raise UsageError(f"{prefix}give env or file")


@dataclass(frozen=True)
class RuleSettings:
    """One rule of one program (or of "*", or of the hosts): its kind and its numbers."""

    kind: str                    # fatal | exited | flapping | rss | probe | pending | unreachable
    program: str                 # a program (group) name, or "*" (every program); "" for unreachable
    remediate: bool = False      # `remediate: restart` -> restart through the rolling-restart gate
    restarts: int = 0            # flapping: N restarts ...
    within: float = 0.0          # ... within this many seconds
    above_bytes: int = 0         # rss: above this many bytes ...
    for_seconds: float = 0.0     # ... for this long (also pending, unreachable, probe: 0)
    failing: int = 0             # probe: this many failed probes in a row
    where: str = ""              # "FILE:LINE: guard.rules.tornado.rss"


@dataclass(frozen=True)
class RemediationSettings:
    """The fleet-wide bounds on remediation (herd/operations/guard/remedy.py)."""

    max_processes: int = 1       # fleet-wide: never more than K processes being remediated at once
    max_percent: float = 25.0    # ... nor more than P % of one program's processes (at least 1)
    cooldown: float = 600.0      # seconds before the same process is remediated again


@dataclass(frozen=True)
class EmailSettings:
    """An SMTP channel (herd/inventory/guardnotify.py parses it)."""

    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    sender: str = ""
    to: tuple[str, ...] = ()
    user: str | None = None
    password: SecretRef | None = None
    timeout: float = 10.0
    where: str = ""


@dataclass(frozen=True)
class NotifySettings:
    """Guard's channels: URLs may hold tokens, so they are only ever read from env or a file."""

    webhooks: tuple[SecretRef, ...] = ()
    slack: tuple[SecretRef, ...] = ()
    email: EmailSettings | None = None
    commands: tuple[tuple[str, ...], ...] = ()   # argv of a command on the controller


@dataclass(frozen=True)
class GuardSettings:
    """The whole ``guard:`` section."""

    rules: tuple[RuleSettings, ...] = ()
    remediation: RemediationSettings = RemediationSettings()
    notify: NotifySettings = NotifySettings()


# --------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
HOST_RULE = "unreachable"
EVERY = "*"


def parse_size(text: str) -> int:
    """Bytes in ``800M``, ``1G``, ``512K`` (binary: K = 1024) or a plain number of bytes; ValueError otherwise."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 800M, 1G, 512K)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def _size(ctx: Ctx, node: Node, key: str) -> int:
    if not (isinstance(node, ScalarNode) and node.tag in (STR, INT)):
        ctx.fail(f"must be a size (e.g. 800M, 1G, 512K), got {describe(node)}", node, key)
    try:
        value = parse_size(node.value)
    except ValueError:
        ctx.fail(f"must be a size (e.g. 800M, 1G, 512K), got {describe(node)}", node, key)
    if value < 1:
        ctx.fail(f"must be more than 0 bytes, got {describe(node)}", node, key)
    return value


def _duration(ctx: Ctx, node: Node, key: str, *, positive: bool = False) -> float:
    if not (isinstance(node, ScalarNode) and node.tag in (STR, INT, FLOAT)):
        ctx.fail(f"must be a duration (e.g. 90s, 5m, 1h), got {describe(node)}", node, key)
    try:
        value = parse_duration(node.value)
    except ValueError:
        ctx.fail(f"must be a duration (e.g. 90s, 5m, 1h), got {describe(node)}", node, key)
    if positive and value <= 0:
        ctx.fail(f"must be more than 0 seconds, got {describe(node)}", node, key)
    return value


def _count(ctx: Ctx, node: Node, key: str, minimum: int = 1) -> int:
    if not (isinstance(node, ScalarNode) and node.tag == INT):
        ctx.fail(f"must be an integer, got {describe(node)}", node, key)
    value = int(yaml.constructor.SafeConstructor().construct_yaml_int(node))
    if value < minimum:
        ctx.fail(f"must be at least {minimum}, got {value}", node, key)
    return value


def _percent(ctx: Ctx, node: Node, key: str) -> float:
    if not (isinstance(node, ScalarNode) and node.tag in (INT, FLOAT)):
        ctx.fail(f"must be a percentage (a number, e.g. 25), got {describe(node)}", node, key)
    try:
        value = float(node.value)
    except ValueError:
        ctx.fail(f"must be a percentage (a number, e.g. 25), got {describe(node)}", node, key)
    if not 0 < value <= 100:
        ctx.fail(f"must be more than 0 and at most 100, got {value:g}", node, key)
    return value


def _remediate(ctx: Ctx, node: Node, key: str) -> bool:
    if isinstance(node, ScalarNode) and node.tag == BOOL and node.value.lower() in ("false", "no", "off"):
        return False
    if not (isinstance(node, ScalarNode) and node.tag == STR and node.value == "restart"):
        ctx.fail(f"must be 'restart' (through the rolling-restart gate) or false, got {describe(node)}", node, key)
    return True


# --------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------

# kind -> its keys (a value checker each) and the keys it cannot do without
_Check = Callable[[Ctx, Node, str], Any]
_KINDS: dict[str, tuple[dict[str, _Check], tuple[str, ...]]] = {
    "fatal": ({"remediate": _remediate}, ()),
    "exited": ({"remediate": _remediate}, ()),
    "flapping": ({"restarts": _count, "within": lambda c, n, k: _duration(c, n, k, positive=True),
                  "remediate": _remediate}, ("restarts", "within")),
    "rss": ({"above": _size, "for": _duration, "remediate": _remediate}, ("above",)),
    "probe": ({"failing": _count, "remediate": _remediate}, ("failing",)),
    "pending": ({"for": _duration}, ()),
}
_HOST_KEYS: dict[str, _Check] = {"for": _duration}
_FIELDS = {"restarts": "restarts", "within": "within", "above": "above_bytes", "for": "for_seconds",
           "failing": "failing", "remediate": "remediate"}
_EXAMPLES = {
    "fatal": "true", "exited": "true", "flapping": "{restarts: 3, within: 5m}", "rss": "{above: 800M, for: 5m}",
    "probe": "{failing: 3}", "pending": "{for: 1h}",
}


def _where(ctx: Ctx, node: Node, key: str) -> str:
    return f"{ctx.file}:{node.start_mark.line + 1}: {key}"


def _rule(ctx: Ctx, program: str, knode: ScalarNode, vnode: Node, key: str,
          rolling: Mapping[str, Any]) -> RuleSettings | None:
    """One ``KIND: VALUE`` of a program; None for ``KIND: false`` (written, and off)."""
    kind = knode.value
    checks, required = _KINDS[kind]
    where = _where(ctx, knode, key)
    if isinstance(vnode, ScalarNode) and vnode.tag == BOOL:
        if not check_bool(ctx, vnode, key):
            return None
        if required:
            ctx.fail(f"needs its numbers, e.g. {kind}: {_EXAMPLES[kind]}", vnode, key)
        return _checked(ctx, RuleSettings(kind, program, where=where), knode, key, rolling)
    if is_null(vnode) and not required:
        return _checked(ctx, RuleSettings(kind, program, where=where), knode, key, rolling)
    if not isinstance(vnode, MappingNode):
        shape = "a mapping or false" if required else "true, false or a mapping"
        ctx.fail(f"must be {shape}, e.g. {kind}: {_EXAMPLES[kind]}, got {describe(vnode)}", vnode, key)
    values: dict[str, Any] = {}
    for setting, value in known_pairs(ctx, vnode, key, checks):
        values[_FIELDS[setting.value]] = checks[setting.value](ctx, value, join_key(key, setting.value))
    missing = [name for name in required if _FIELDS[name] not in values]
    if missing:
        ctx.fail(f"missing key '{missing[0]}', e.g. {kind}: {_EXAMPLES[kind]}", vnode, key)
    return _checked(ctx, RuleSettings(kind, program, where=where, **values), knode, key, rolling)


def _checked(ctx: Ctx, rule: RuleSettings, knode: Node, key: str, rolling: Mapping[str, Any]) -> RuleSettings:
    """A probe rule needs the program's probe: a ``rolling:`` entry with http, tcp or cmd."""
    if rule.kind == "probe" and rule.program != EVERY:
        entry = rolling.get(rule.program)
        values = getattr(entry, "values", {}) if entry is not None else {}
        if not any(name in values for name in ("http", "tcp", "cmd")):
            ctx.fail(f"{rule.program} has no probe: give it one in rolling: "
                     f"(rolling.{rule.program}.http, tcp or cmd)", knode, key)
    return rule


def _program_rules(ctx: Ctx, knode: ScalarNode, vnode: Node, key: str,
                   rolling: Mapping[str, Any]) -> list[RuleSettings]:
    program = knode.value
    if not isinstance(vnode, MappingNode):
        hint = did_you_mean(program, (HOST_RULE,)) or ""
        ctx.fail(f"must be a mapping of rules ({', '.join(_KINDS)}), e.g. {{fatal: true, rss: {{above: 800M, "
                 f"for: 5m}}}}, got {describe(vnode)}{hint}", vnode, key)
    rules = []
    for rknode, rvnode in known_pairs(ctx, vnode, key, _KINDS):
        rule = _rule(ctx, program, rknode, rvnode, join_key(key, rknode.value), rolling)
        if rule is not None:
            rules.append(rule)
    return rules


def _host_rule(ctx: Ctx, knode: ScalarNode, vnode: Node, key: str) -> RuleSettings | None:
    where = _where(ctx, knode, key)
    if isinstance(vnode, ScalarNode) and vnode.tag == BOOL:
        return RuleSettings(HOST_RULE, "", where=where) if check_bool(ctx, vnode, key) else None
    if is_null(vnode):
        return RuleSettings(HOST_RULE, "", where=where)
    if not isinstance(vnode, MappingNode):
        ctx.fail(f"must be true, false or a mapping, e.g. unreachable: {{for: 2m}}, got {describe(vnode)}",
                 vnode, key)
    values = {_FIELDS[s.value]: _HOST_KEYS[s.value](ctx, v, join_key(key, s.value))
              for s, v in known_pairs(ctx, vnode, key, _HOST_KEYS)}
    return RuleSettings(HOST_RULE, "", where=where, **values)


def check_rules(ctx: Ctx, node: Node, key: str, rolling: Mapping[str, Any]) -> tuple[RuleSettings, ...]:
    """``guard.rules``: program name or "*" -> its rules, and ``unreachable`` (the hosts' rule)."""
    if is_null(node):
        return ()
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping of program names (or '*') to rules, e.g. {{tornado: {{fatal: true}}, "
                 f"unreachable: {{for: 2m}}}}, got {describe(node)}", node, key)
    rules: list[RuleSettings] = []
    for knode, vnode in pairs(ctx, node, key, what="program name"):
        name = as_str(ctx, knode, key)
        path = join_key(key, name)
        if not name.strip() or any(ch.isspace() for ch in name) or ":" in name:
            ctx.fail("must be a program (group) name or '*', without spaces or ':'", knode, path)
        if name == HOST_RULE:
            host = _host_rule(ctx, knode, vnode, path)
            rules.extend([host] if host else [])
        else:
            rules.extend(_program_rules(ctx, knode, vnode, path, rolling))
    return tuple(rules)


def check_remediation(ctx: Ctx, node: Node, key: str) -> RemediationSettings:
    """``guard.remediation``: the fleet-wide limit (K processes, P % of a program) and the cooldown."""
    if is_null(node):
        return RemediationSettings()
    checks: dict[str, _Check] = {"max_processes": _count, "max_percent": _percent, "cooldown": _duration}
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping ({', '.join(checks)}), e.g. {{max_processes: 2, max_percent: 25, "
                 f"cooldown: 10m}}, got {describe(node)}", node, key)
    values = {s.value: checks[s.value](ctx, v, join_key(key, s.value))
              for s, v in known_pairs(ctx, node, key, checks)}
    return RemediationSettings(**values)


def check_guard(ctx: Ctx, node: Node, rolling: Mapping[str, Any], key: str = "guard") -> GuardSettings:
    """The ``guard:`` section; the first problem fails the load (file:line:column: key)."""
    from herd.inventory.guardnotify import check_notify

    if is_null(node):
        return GuardSettings()
    sections = ("rules", "remediation", "notify")
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping ({', '.join(sections)}), got {describe(node)}", node, key)
    found = {s.value: v for s, v in known_pairs(ctx, node, key, sections)}
    return GuardSettings(
        rules=check_rules(ctx, found["rules"], join_key(key, "rules"), rolling) if "rules" in found else (),
        remediation=(check_remediation(ctx, found["remediation"], join_key(key, "remediation"))
                     if "remediation" in found else RemediationSettings()),
        notify=check_notify(ctx, found["notify"]) if "notify" in found else NotifySettings())
