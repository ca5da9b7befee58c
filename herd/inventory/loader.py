"""Load and validate herd's inventory file into :class:`~herd.inventory.model.Inventory`.

The schema only: which sections and keys exist, how they inherit (defaults,
hosts, groups, expect, check, logs), and what each means.  Reading the file
as positioned YAML nodes is herd/inventory/yamlnodes.py; the checks of
the host settings are herd/inventory/settings.py (shared with the Ansible
loaders).  Every problem is an InventoryError at ``file:line:column:
key.path``; secrets are never echoed (see settings.py).
"""

from __future__ import annotations

import os
from typing import Any, Iterator, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from herd.inventory.foreign import is_vault_text, plugin_key, plugin_refusal, vault_file_refusal
from herd.inventory.model import (DEFAULT_SEVERITY, DEFAULT_SOCKET, SEVERITY_LEVELS, CheckSettings,
                                  Expectation, GroupNode, Host, Inventory, SupervisorTarget)
from herd.inventory.guard import check_guard
from herd.inventory.rolling import check_rolling
from herd.inventory.settings import CHECKS, check_logs
from herd.inventory.targets import SUPERVISOR_NAME, SUPERVISOR_NAME_RULE, expand, target_names
from herd.inventory.yamlnodes import (BOOL, FLOAT, INT, STR, Ctx, as_str, compose, describe, did_you_mean, is_null, join_key,
                                      known_pairs, nonblank, pairs, read_text, unknown_key)
from herd.text import shorten as _echo   # a value quoted in a message: one line, escaped, cut

_TOP_KEYS = ("defaults", "hosts", "groups", "expect", "check", "logs", "rolling", "guard")
_SSH_KEYS = ("user", "port", "identity_file", "known_hosts", "proxy_jump", "python")
_BECOME_KEYS = ("become", "become_user", "become_password_env", "become_password_file")
_DEFAULT_KEYS = _SSH_KEYS + _BECOME_KEYS + ("supervisor", "supervisors")
_HOST_KEYS = ("address",) + _DEFAULT_KEYS + ("logs",)
_SUPERVISOR_KEYS = ("socket", "url", "username", "password_env", "password_file")

# Pairs of supervisor keys that name the same thing two ways: at most one of
# each pair per level, and a host's choice replaces an inherited one.
_EXCLUSIVE = (("socket", "url"), ("password_env", "password_file"))
_BECOME_EXCLUSIVE = (("become_password_env", "become_password_file"),)

_EXPECT_KEYS = ("running", "min_uptime")
_CHECK_KEYS = ("severity",)


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------

def load_inventory(path: str) -> Inventory:
    """Read, parse and validate the inventory at ``path``.

    ``path`` is used as given in error messages (so they match what the user
    typed); relative paths inside the file are resolved against the file's
    own directory, so the inventory means the same thing from any cwd.
    """
    text = read_text(path)
    if is_vault_text(text):
        raise vault_file_refusal(path)
    root = compose(text, path)
    plugin = plugin_key(root)
    if plugin is not None:               # plugin: constructed with groups:, say
        raise plugin_refusal(path, *plugin)
    ctx = Ctx(file=path, base_dir=os.path.dirname(os.path.abspath(path)))
    return _build(ctx, root)


class _Value(NamedTuple):
    """A validated setting plus where it came from, for later messages."""

    value: Any
    node: Node
    key: str


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------

_Settings = dict[str, _Value]


def check_keep(ctx: Ctx, node: Node, key: str) -> float:
    """A duration for the keeper: 10m, 90s, 1h, a number of seconds; 0 or false: no keeper."""
    from herd.duration import parse_duration

    if isinstance(node, ScalarNode) and node.tag == BOOL:
        if node.value.lower() in ("false", "no", "off"):
            return 0.0
        ctx.fail("must be a duration (e.g. 10m, 90s, 1h) or false", node, key)
    if not isinstance(node, ScalarNode) or node.tag not in (STR, INT, FLOAT):
        ctx.fail(f"must be a duration (e.g. 10m, 90s, 1h), got {describe(node)}", node, key)
    try:
        return parse_duration(node.value)
    except ValueError:
        ctx.fail(f"must be a duration (e.g. 10m, 90s, 1h), got {node.value!r}", node, key)


_SCHEMA_CHECKS = {**CHECKS, "keep": check_keep}   # keep: defaults only, not a host setting


def _parse_settings(ctx: Ctx, node: Node, key: str,
                    allowed: tuple[str, ...]) -> tuple[_Settings, _Settings, Node | None]:
    """Validate a ``defaults`` or host mapping.

    Returns (ssh/address settings, supervisor settings, supervisor node).  A
    null value is kept as ``_Value(None, ...)``: it means "not set here" and
    overrides an inherited default.
    """
    settings: _Settings = {}
    supervisor: _Settings = {}
    sup_node: Node | None = None
    if is_null(node):
        return settings, supervisor, None
    if not isinstance(node, MappingNode):
        example = "{user: deploy}" if key == "defaults" else "{address: 10.0.0.11}"
        ctx.fail(f"must be a mapping of settings (e.g. {example}) or empty, "
                 f"got {describe(node)}", node, key)
    for knode, vnode in pairs(ctx, node, key):
        name, path = knode.value, join_key(key, knode.value)
        if knode.tag != STR or name not in allowed:
            if name == "address" and key == "defaults":
                ctx.fail("address is per host; it cannot be a default", knode, path)
            if name == "keep" and key != "defaults":
                ctx.fail("keep is for the whole inventory: set it in defaults", knode, path)
            if name == "logs" and key == "defaults":
                ctx.fail("logs is a top-level key (for every host; a host may override it)", knode, path)
            unknown_key(ctx, knode, key, allowed)
        if name == "supervisor":
            supervisor, sup_node = _parse_supervisor(ctx, vnode, path), vnode
        elif name == "supervisors":
            settings[name] = _Value(None if is_null(vnode) else _parse_supervisors(ctx, vnode, path), vnode, path)
        elif is_null(vnode):
            settings[name] = _Value(None, vnode, path)
        else:
            settings[name] = _Value(_SCHEMA_CHECKS[name](ctx, vnode, path), vnode, path)
    _check_exclusive(ctx, settings, _BECOME_EXCLUSIVE, key)
    if sup_node is not None and not is_null(sup_node) and _set(settings, "supervisors"):
        ctx.fail("supervisor and supervisors are exclusive: supervisor for a host with one supervisord, "
                 "supervisors to name each of several", settings["supervisors"].node, join_key(key, "supervisors"))
    return settings, supervisor, sup_node


def _parse_supervisors(ctx: Ctx, node: Node, key: str) -> dict[str, tuple[_Settings, Node]]:
    """``supervisors``: name -> a ``supervisor`` mapping naming its socket or url (several per host)."""
    if not isinstance(node, MappingNode) or not node.value:
        ctx.fail(f"must be a mapping of names to supervisord settings, e.g. {{app: {{socket: /tmp/app.sock}}, "
                 f"infra: {{url: http://127.0.0.1:9001}}}}, got "
                 f"{'an empty mapping' if isinstance(node, MappingNode) else describe(node)}", node, key)
    result: dict[str, tuple[_Settings, Node]] = {}
    for knode, vnode in pairs(ctx, node, key, what="supervisord name"):
        name = str(knode.value)
        path = join_key(key, name)
        if knode.tag != STR or not SUPERVISOR_NAME.match(name):
            ctx.fail(f"invalid supervisord name '{_echo(name)}': use {SUPERVISOR_NAME_RULE} "
                     f"(it becomes part of the target's name, host/{_echo(name)})", knode, path)
        if not isinstance(vnode, MappingNode):
            ctx.fail(f"must be a mapping with socket or url, e.g. {{socket: /tmp/{name}.sock}}, "
                     f"got {describe(vnode)}", vnode, path)
        settings = _parse_supervisor(ctx, vnode, path)
        if not (_set(settings, "socket") or _set(settings, "url")):
            ctx.fail("needs socket or url: discovery finds one supervisord per host, so each of several "
                     "is named by where it listens", vnode, path)
        result[name] = (settings, vnode)
    return result


def _parse_supervisor(ctx: Ctx, node: Node, key: str) -> _Settings:
    """Validate one ``supervisor`` mapping (one level: defaults or a host)."""
    result: _Settings = {}
    if is_null(node):
        return result
    for knode, vnode in pairs(ctx, node, key):
        name, path = knode.value, join_key(key, knode.value)
        if knode.tag == STR and name == "password":
            ctx.fail("inline passwords are not allowed; use password_env or password_file",
                     knode, path)
        if knode.tag != STR or name not in _SUPERVISOR_KEYS:
            unknown_key(ctx, knode, key, _SUPERVISOR_KEYS)
        value = None if is_null(vnode) else CHECKS[name](ctx, vnode, path)
        result[name] = _Value(value, vnode, path)
    _check_exclusive(ctx, result, _EXCLUSIVE, key)
    return result


def _check_exclusive(ctx: Ctx, settings: _Settings, pairs: tuple[tuple[str, str], ...], key: str) -> None:
    """At most one key of each pair at one level."""
    for first, second in pairs:
        if _set(settings, first) and _set(settings, second):
            ctx.fail(f"{first} and {second} are exclusive; set only one",
                     settings[second].node, key)


def _set(settings: _Settings, name: str) -> bool:
    return name in settings and settings[name].value is not None


def _check_host_name(ctx: Ctx, knode: ScalarNode, key: str, kind: str) -> str:
    """Host and group names: non-empty strings, no whitespace, no leading '@'."""
    if knode.tag != STR:
        ctx.fail(f"{kind} name must be a string, got {describe(knode)} (quote it)", knode, key)
    name = str(knode.value)
    if not name:
        ctx.fail(f"{kind} name must not be empty", knode, key)
    if any(ch.isspace() for ch in name):
        ctx.fail(f"invalid {kind} name '{_echo(name)}': must not contain whitespace", knode, key)
    if name.startswith("@"):
        ctx.fail(f"invalid {kind} name '{_echo(name)}': must not start with '@' "
                 f"(that marks a group include)", knode, key)
    return name


# --------------------------------------------------------------------------
# Merging defaults into hosts
# --------------------------------------------------------------------------

def _merge_exclusive(inherited: _Settings, own: _Settings,
                      pairs: tuple[tuple[str, str], ...] = _EXCLUSIVE) -> _Settings:
    """Key by key, except that a host's endpoint or password source wins whole.

    A host that sets ``url`` does not want the inherited ``socket`` (and
    vice versa), likewise for ``password_env``/``password_file``: otherwise
    every host overriding a default would trip the "exclusive" rule.
    """
    merged = dict(inherited)
    for first, second in pairs:
        if _set(own, first):
            merged.pop(second, None)
        if _set(own, second):
            merged.pop(first, None)
    merged.update(own)
    return merged


def _supervisor_target(ctx: Ctx, host: str, merged: _Settings,
                       where: Node, key: str | None = None) -> SupervisorTarget:
    """Build the target; supervisor's auth needs a username AND a password."""
    def get(name: str) -> Any:
        return merged[name].value if name in merged else None

    username = get("username")
    source = next((n for n in ("password_env", "password_file") if get(n) is not None), None)
    key = key or f"hosts.{host}.supervisor"
    if username is not None and source is None:
        origin = _origin(merged["username"])
        ctx.fail(f"username is set{origin} but neither password_env nor password_file is; "
                 f"supervisor authentication needs both", where, key)
    if source is not None and username is None:
        origin = _origin(merged[source])
        ctx.fail(f"{source} is set{origin} but username is not; "
                 f"supervisor authentication needs both", where, key)
    url = get("url")
    return SupervisorTarget(
        socket=None if url else (get("socket") or DEFAULT_SOCKET),
        url=url,
        username=username,
        password_env=get("password_env"),
        password_file=get("password_file"),
    )


def _origin(value: _Value) -> str:
    """`` (in defaults, line 4)`` when a setting was inherited, else ``''``."""
    if value.key.startswith("defaults."):
        return f" (in defaults, line {value.node.start_mark.line + 1})"
    return ""


def _make_host(ctx: Ctx, name: str, knode: ScalarNode, vnode: Node,
               defaults: _Settings, default_sup: _Settings,
               logs: dict[str, str | None] | None = None) -> Host:
    """One Host: defaults overridden key by key by the host's own settings.

    ``logs`` (the top-level mapping) is overridden program by program by the
    host's own ``logs``; a program set to null there has no file on the host.
    """
    key = f"hosts.{name}"
    own, own_sup, sup_node = _parse_settings(ctx, vnode, key, _HOST_KEYS)
    merged = _merge_exclusive(defaults, own, _BECOME_EXCLUSIVE)
    target = _supervisor_target(ctx, name, _merge_exclusive(default_sup, own_sup),
                                sup_node if sup_node is not None and not is_null(sup_node)
                                else knode)
    several = _several(ctx, name, own, defaults, own_sup)
    fields = {k: merged[k].value for k in ("address",) + _SSH_KEYS + _BECOME_KEYS if k in merged}
    if fields.get("become") is None:
        fields.pop("become", None)
    own_logs = own["logs"].value if "logs" in own and own["logs"].value is not None else {}
    templates = {p: t for p, t in {**(logs or {}), **own_logs}.items() if t is not None}
    return Host(name=name, supervisor=target, line=knode.start_mark.line + 1, logs=templates,
                supervisors=several, **fields)


def _several(ctx: Ctx, host: str, own: _Settings, defaults: _Settings,
             own_sup: _Settings) -> dict[str, SupervisorTarget]:
    """The host's ``supervisors`` (its own, else the defaults' unless it sets ``supervisor``); {} for one.

    A host's choice wins whole: its own ``supervisor`` (or ``supervisors:
    null``) means one supervisord even where the defaults name several.
    """
    if "supervisors" in own:
        chosen = own["supervisors"].value
    elif own_sup:
        chosen = None
    else:
        chosen = defaults["supervisors"].value if "supervisors" in defaults else None
    if not chosen:
        return {}
    return {name: _supervisor_target(ctx, host, settings, node, key=f"hosts.{host}.supervisors.{name}")
            for name, (settings, node) in chosen.items()}


# --------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------

class _Member(NamedTuple):
    text: str
    node: Node
    key: str


def _parse_groups(ctx: Ctx, node: Node) -> dict[str, list[_Member]]:
    """Group name -> its raw members, with types checked (not yet resolved)."""
    groups: dict[str, list[_Member]] = {}
    if is_null(node):
        return groups
    for knode, vnode in pairs(ctx, node, "groups", what="group name"):
        name = _check_host_name(ctx, knode, "groups", "group")
        key = f"groups.{name}"
        members: list[_Member] = []
        if isinstance(vnode, SequenceNode):
            for index, item in enumerate(vnode.value):
                ikey = f"{key}[{index}]"
                if not (isinstance(item, ScalarNode) and item.tag == STR):
                    ctx.fail(f"must be a host name or '@group', got {describe(item)}", item, ikey)
                members.append(_Member(item.value, item, ikey))
        elif not is_null(vnode):
            ctx.fail(f"must be a list of host names and '@group' includes, e.g. "
                     f"[web01, '@db'], got {describe(vnode)}", vnode, key)
        groups[name] = members
    return groups


def _resolve_groups(ctx: Ctx, raw: dict[str, list[_Member]],
                    host_order: dict[str, int]) -> dict[str, tuple[str, ...]]:
    """Expand ``@includes``; each group becomes host names in inventory order."""
    for members in raw.values():
        for member in members:
            _check_member(ctx, member, raw, host_order)
    resolved: dict[str, tuple[str, ...]] = {}
    done: dict[str, set[str]] = {}           # shared: each group is expanded once
    for name in raw:
        names = _expand(ctx, name, raw, [], done)
        resolved[name] = tuple(sorted(names, key=host_order.__getitem__))
    return resolved


def _check_member(ctx: Ctx, member: _Member, raw: dict[str, list[_Member]],
                  host_order: dict[str, int]) -> None:
    """A member names a known host, or '@' + a known group."""
    text = member.text
    if text.startswith("@"):
        group = text[1:]
        if not group:
            ctx.fail("'@' must be followed by a group name", member.node, member.key)
        if group not in raw:
            hint = did_you_mean(group, raw, "@") or ""
            ctx.fail(f"unknown group '{_echo(text)}'{hint}", member.node, member.key)
    elif text not in host_order:
        if text in raw:
            ctx.fail(f"'{_echo(text)}' is a group, not a host; write '@{_echo(text)}' to include it",
                     member.node, member.key)
        hint = did_you_mean(text, host_order) or ""
        ctx.fail(f"unknown host '{_echo(text)}'{hint}", member.node, member.key)


def _expand(ctx: Ctx, name: str, raw: dict[str, list[_Member]], stack: list[str],
            done: dict[str, set[str]]) -> set[str]:
    """Host names of group ``name``; ``stack`` is the include chain, for cycles.

    Depth first over the includes with a list of open groups, not
    recursion, so includes may nest as deep as the file says.
    """
    if name in done:
        return done[name]
    on_stack = set(stack) | {name}
    stack.append(name)
    open_groups: list[tuple[str, Iterator[_Member], set[str]]] = [(name, iter(raw[name]), set())]
    while True:
        group, members, hosts = open_groups[-1]
        member = next(members, None)
        if member is None:
            open_groups.pop()
            stack.pop()
            on_stack.discard(group)
            done[group] = hosts
            if not open_groups:
                return hosts
            open_groups[-1][2].update(hosts)
        elif not member.text.startswith("@"):
            hosts.add(member.text)
        else:
            include = member.text[1:]
            if include in on_stack:
                cycle = " -> ".join(stack[stack.index(include):] + [include])
                ctx.fail(f"group include cycle: {cycle}", member.node, member.key)
            if include in done:
                hosts.update(done[include])
            else:
                stack.append(include)
                on_stack.add(include)
                open_groups.append((include, iter(raw[include]), set()))


# --------------------------------------------------------------------------
# The whole file
# --------------------------------------------------------------------------

def _build(ctx: Ctx, root: Node | None) -> Inventory:
    """Check the top level, then defaults, hosts and groups, in that order."""
    if root is None or is_null(root):
        ctx.fail("inventory is empty; it needs at least a 'hosts' mapping")
    if not isinstance(root, MappingNode):
        ctx.fail(f"the top level must be a mapping with keys {', '.join(_TOP_KEYS)}; "
                 f"got {describe(root)}", root)
    sections: dict[str, tuple[ScalarNode, Node]] = {}
    for knode, vnode in known_pairs(ctx, root, "", _TOP_KEYS):
        sections[knode.value] = (knode, vnode)
    if "hosts" not in sections:
        ctx.fail("missing key 'hosts' (a mapping of host names to their settings)", root)

    defaults: _Settings = {}
    default_sup: _Settings = {}
    if "defaults" in sections:
        defaults, default_sup, _ = _parse_settings(ctx, sections["defaults"][1], "defaults",
                                                   _DEFAULT_KEYS + ("keep",))
    keep = defaults.pop("keep", None)   # the keeper's idle time (herd/keeper): not a host setting
    logs = check_logs(ctx, sections["logs"][1], "logs") if "logs" in sections else {}
    hosts = _parse_hosts(ctx, sections["hosts"], defaults, default_sup, logs)
    raw_groups = _parse_groups(ctx, sections["groups"][1]) if "groups" in sections else {}
    # Hosts, and the targets of hosts with several supervisords (web01/app), as groups and expect may name them
    order = {name: index for index, host in enumerate(hosts) for name in {host.name, *target_names(host)}}
    groups = _resolve_groups(ctx, raw_groups, order)
    expect = _parse_expect(ctx, sections["expect"][1], groups, order) if "expect" in sections else {}
    check = _parse_check(ctx, sections["check"][1]) if "check" in sections else CheckSettings()
    rolling = check_rolling(ctx, sections["rolling"][1]) if "rolling" in sections else {}
    guard = check_guard(ctx, sections["guard"][1], rolling) if "guard" in sections else None
    return expand(Inventory(path=ctx.file, hosts=tuple(hosts), groups=groups, expect=expect, check=check,
                            tree=_group_tree(raw_groups), keep=keep.value if keep is not None else None,
                            rolling=rolling, guard=guard))


def _group_tree(raw: dict[str, list[_Member]]) -> dict[str, GroupNode]:
    """Each group's ``@includes`` and hosts as written, for ``herd inventory --graph``."""
    return {name: GroupNode(children=tuple(m.text[1:] for m in members if m.text.startswith("@")),
                            hosts=tuple(m.text for m in members if not m.text.startswith("@")))
            for name, members in raw.items()}


def _parse_hosts(ctx: Ctx, section: tuple[ScalarNode, Node], defaults: _Settings,
                 default_sup: _Settings, logs: dict[str, str | None]) -> list[Host]:
    """Every host in file order; ``hosts`` must be a non-empty mapping."""
    knode, node = section
    if not isinstance(node, MappingNode) or not node.value:
        got = "an empty mapping" if isinstance(node, MappingNode) else describe(node)
        ctx.fail(f"must be a non-empty mapping of host names to settings, got {got}",
                 node if not is_null(node) else knode, "hosts")
    hosts = []
    for hknode, hvnode in pairs(ctx, node, "hosts", what="host name"):
        name = _check_host_name(ctx, hknode, "hosts", "host")
        hosts.append(_make_host(ctx, name, hknode, hvnode, defaults, default_sup, logs))
    return hosts


# --------------------------------------------------------------------------
# herd check: expect and check
# --------------------------------------------------------------------------

def _parse_expect(ctx: Ctx, node: Node, groups: dict[str, tuple[str, ...]],
                  order: dict[str, int]) -> dict[str, Expectation]:
    """``expect``: group or host name -> {running: [names], min_uptime: seconds}."""
    result: dict[str, Expectation] = {}
    if is_null(node):
        return result
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping of group or host names to expectations, e.g. "
                 f"{{web: {{running: [tornado]}}}}, got {describe(node)}", node, "expect")
    seen: dict[str, ScalarNode] = {}
    for knode, vnode in pairs(ctx, node, "expect", what="target"):
        if knode.tag != STR:
            ctx.fail(f"must be a group or host name, got {describe(knode)} (quote it)", knode, "expect")
        written = knode.value
        key = join_key("expect", written)
        ident, hosts = _expect_target(ctx, knode, key, groups, order)
        if ident in seen:
            ctx.fail(f"names the same {ident.split(':')[0]} as line {seen[ident].start_mark.line + 1}",
                     knode, key)
        seen[ident] = knode
        running, min_uptime = _parse_expectation(ctx, vnode, key)
        result[written] = Expectation(target=written, hosts=hosts, running=running,
                                      min_uptime=min_uptime, line=knode.start_mark.line + 1)
    return result


def _expect_target(ctx: Ctx, knode: ScalarNode, key: str, groups: dict[str, tuple[str, ...]],
                   order: dict[str, int]) -> tuple[str, tuple[str, ...]]:
    """("group:web" or "host:web01", its hosts) for an ``expect`` key; '@web' is always a group."""
    written = knode.value
    if written.startswith("@"):
        name = written[1:]
        if name not in groups:
            hint = did_you_mean(name, groups, "@") or (
                f" ('{name}' is a host: write {name})" if name in order else "")
            ctx.fail(f"unknown group '{_echo(written)}'{hint}", knode, key)
        return f"group:{name}", groups[name]
    if written in groups and written in order:
        ctx.fail(f"'{written}' is both a group and a host; write '@{written}' for the group",
                 knode, key)
    if written in groups:
        return f"group:{written}", groups[written]
    if written in order:
        return f"host:{written}", (written,)
    hint = did_you_mean(written, list(groups) + list(order)) or ""
    ctx.fail(f"'{_echo(written)}' is neither a group nor a host{hint}", knode, key)


def _parse_expectation(ctx: Ctx, node: Node, key: str) -> tuple[tuple[str, ...], int | None]:
    """One entry: ``running`` (process names) and ``min_uptime`` (seconds), both optional."""
    running: tuple[str, ...] = ()
    min_uptime: int | None = None
    if is_null(node):
        return running, min_uptime
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping with keys {', '.join(_EXPECT_KEYS)}, e.g. "
                 f"{{running: [tornado, worker], min_uptime: 60}}, got {describe(node)}", node, key)
    for knode, vnode in known_pairs(ctx, node, key, _EXPECT_KEYS):
        path = join_key(key, knode.value)
        if knode.value == "running":
            running = _check_running(ctx, vnode, path)
        elif not is_null(vnode):
            min_uptime = _check_seconds(ctx, vnode, path)
    return running, min_uptime


def _check_running(ctx: Ctx, node: Node, key: str) -> tuple[str, ...]:
    """A list of names as supervisorctl takes them: name, group:name, group:*, all."""
    if is_null(node):
        return ()
    if not isinstance(node, SequenceNode):
        ctx.fail(f"must be a list of program names, e.g. [tornado, worker], got {describe(node)}",
                 node, key)
    names: list[str] = []
    for index, item in enumerate(node.value):
        ikey = f"{key}[{index}]"
        name = nonblank(ctx, item, ikey)
        group, sep, process = name.partition(":")
        if sep and (not group or not process or ":" in process):
            ctx.fail(f"'{_echo(name)}' is not a process name: write name, group:name or group:*",
                     item, ikey)
        if name in names:
            ctx.fail(f"'{_echo(name)}' is listed twice", item, ikey)
        names.append(name)
    return tuple(names)


def _check_seconds(ctx: Ctx, node: Node, key: str) -> int:
    """A whole number of seconds, 0 or more."""
    if not (isinstance(node, ScalarNode) and node.tag == INT):
        ctx.fail(f"must be a whole number of seconds, got {describe(node)}", node, key)
    value = yaml.constructor.SafeConstructor().construct_yaml_int(node)
    if value < 0:
        ctx.fail(f"must be 0 or more, got {value}", node, key)
    return value


def _parse_check(ctx: Ctx, node: Node) -> CheckSettings:
    """``check``: ``severity`` maps a kind of problem to ok, warning or critical."""
    severity = dict(DEFAULT_SEVERITY)
    given: set[str] = set()
    if is_null(node):
        return CheckSettings(severity)
    for knode, vnode in known_pairs(ctx, node, "check", _CHECK_KEYS):
        if is_null(vnode):
            continue
        for kind_node, level_node in pairs(ctx, vnode, "check.severity"):
            kind = kind_node.value
            path = join_key("check.severity", kind)
            if kind_node.tag != STR or kind not in DEFAULT_SEVERITY:
                if kind_node.tag == STR and kind.lower() in DEFAULT_SEVERITY:
                    ctx.fail(f"unknown key (write it in lower case: '{kind.lower()}')", kind_node, path)
                unknown_key(ctx, kind_node, "check.severity", DEFAULT_SEVERITY)
            level = as_str(ctx, level_node, path)
            if level not in SEVERITY_LEVELS:
                hint = did_you_mean(level.lower(), SEVERITY_LEVELS) or ""
                ctx.fail(f"must be one of {', '.join(SEVERITY_LEVELS)}, got '{_echo(level)}'{hint}",
                         level_node, path)
            severity[kind] = level
            given.add(kind)
    if "exited" in given and "exited_expected" not in given:
        # `exited: ok` (one-shot jobs) was written before expected exits had a kind of their own: it covers them
        severity["exited_expected"] = min(severity["exited"], DEFAULT_SEVERITY["exited_expected"],
                                          key=SEVERITY_LEVELS.index)
    return CheckSettings(severity)
