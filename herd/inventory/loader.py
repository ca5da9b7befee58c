"""Load and validate an inventory file into :class:`~herd.inventory.model.Inventory`.

The file is *composed* (``yaml.compose``) rather than loaded: the node tree
keeps a line and column for every key and value, so every problem can be
reported as ``file:line:column: key.path: what is wrong``, and duplicate keys
(which ``yaml.safe_load`` silently collapses, keeping the last one) can be
detected.  Every problem is raised as :class:`~herd.errors.InventoryError`;
nothing from PyYAML or ``os`` escapes this module.

Secrets: values under ``password``, ``password_env`` and ``password_file``
(and ``become_password_env``/``become_password_file``) are never put into a message, except a valid ``password_env`` variable name
and a ``password_file`` path, which are not secret.  A ``url`` is never
echoed either, since it might carry ``user:password@``.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple, NoReturn
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from herd.errors import InventoryError
from herd.inventory import logpaths
from herd.text import shorten as _echo   # a value quoted in a message: one line, escaped, cut
from herd.inventory.model import (DEFAULT_SEVERITY, DEFAULT_SOCKET, SEVERITY_LEVELS, CheckSettings,
                                  Expectation, GroupNode, Host, Inventory, SupervisorTarget)

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _NULL, _MERGE = _TAG + "str", _TAG + "int", _TAG + "null", _TAG + "merge"
_BOOL, _FLOAT = _TAG + "bool", _TAG + "float"

_TOP_KEYS = ("defaults", "hosts", "groups", "expect", "check", "logs")
_SSH_KEYS = ("user", "port", "identity_file", "known_hosts", "proxy_jump", "python")
_BECOME_KEYS = ("become", "become_user", "become_password_env", "become_password_file")
_DEFAULT_KEYS = _SSH_KEYS + _BECOME_KEYS + ("supervisor",)
_HOST_KEYS = ("address",) + _DEFAULT_KEYS + ("logs",)
_SUPERVISOR_KEYS = ("socket", "url", "username", "password_env", "password_file")

# Pairs of supervisor keys that name the same thing two ways: at most one of
# each pair per level, and a host's choice replaces an inherited one.
_EXCLUSIVE = (("socket", "url"), ("password_env", "password_file"))
_BECOME_EXCLUSIVE = (("become_password_env", "become_password_file"),)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

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
    text = _read(path)
    root = _compose(text, path)
    ctx = _Ctx(file=path, base_dir=os.path.dirname(os.path.abspath(path)))
    return _build(ctx, root)


def _read(path: str) -> str:
    """The file's text; OS and decoding problems become one-line errors."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InventoryError(f"cannot read inventory {path}: {reason}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start]
        raise InventoryError(
            "not UTF-8 text; save the inventory as UTF-8", file=path,
            line=before.count(b"\n") + 1,
            column=len(before) - (before.rfind(b"\n") + 1) + 1) from None


def _compose(text: str, path: str) -> Node | None:
    """The YAML node tree, or a positioned error for a syntax problem.

    libyaml's parser (when PyYAML has it) composes ~10x faster than the pure
    Python one (65 ms -> 6 ms for 100 hosts); a file it rejects is composed
    again by the pure parser, so error messages stay the same."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except (yaml.YAMLError, RecursionError):
            pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem:
            what = f"{exc.context}: {exc.problem}"
            if exc.context_mark and mark and exc.context_mark.line != mark.line:
                what += f" (see line {exc.context_mark.line + 1})"
        if "'@'" in what:
            what += "; quote group includes: \"@web\""
        raise InventoryError(
            f"invalid YAML: {what}", file=path,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        before = text[:exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        raise InventoryError(
            f"invalid YAML: {exc.reason} (character #x{exc.character:04x})",
            file=path, line=line, column=column) from None
    except yaml.YAMLError as exc:  # any other PyYAML complaint: still one line
        raise InventoryError(f"invalid YAML: {exc}", file=path) from None
    except RecursionError:
        raise InventoryError("invalid YAML: nested too deeply", file=path) from None


# --------------------------------------------------------------------------
# Node helpers: positions, types, mappings
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Ctx:
    """What every check needs: the file name for messages, the base for paths."""

    file: str
    base_dir: str

    def fail(self, what: str, node: Node | None = None, key: str | None = None) -> NoReturn:
        """Raise an InventoryError positioned at ``node`` (1-based line and column)."""
        mark = node.start_mark if node is not None else None
        raise InventoryError(
            what, file=self.file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            key=key)


class _Value(NamedTuple):
    """A validated setting plus where it came from, for later messages."""

    value: Any
    node: Node
    key: str


_KIND = {
    "str": "string", "int": "integer", "float": "float", "bool": "boolean",
    "null": "null", "timestamp": "date", "binary": "binary",
}


def _describe(node: Node, echo: bool = True) -> str:
    """``string 'abc'``, ``integer 7``, ``a mapping``: what the user wrote.

    With ``echo=False`` only the type is given, for keys that may hold a secret.
    """
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = node.tag
    kind = _KIND.get(tag[len(_TAG):], f"a value tagged {tag}") if tag.startswith(_TAG) \
        else f"a value tagged {tag}"
    if tag == _NULL or not echo:
        return kind
    text = _echo(node.value, 40)
    return f"{kind} '{text}'" if tag == _STR else f"{kind} {text}"


def _str(ctx: _Ctx, node: Node, key: str, *, echo: bool = True) -> str:
    """A string scalar (no YAML coercion: ``user: 123`` is an error, not '123')."""
    if isinstance(node, ScalarNode) and node.tag == _STR:
        return node.value
    hint = " (quote it if you meant the text)" if isinstance(node, ScalarNode) and echo \
        and node.tag != _NULL else ""
    ctx.fail(f"must be a string, got {_describe(node, echo)}{hint}", node, key)


def _nonblank(ctx: _Ctx, node: Node, key: str, *, spaces: bool = False) -> str:
    """A non-empty string; without whitespace unless ``spaces``."""
    value = _str(ctx, node, key)
    if not value.strip():
        ctx.fail("must not be empty", node, key)
    if not spaces and any(ch.isspace() for ch in value):
        ctx.fail(f"must not contain whitespace, got '{_echo(value)}'", node, key)
    return value


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _pairs(ctx: _Ctx, node: Node, key: str, *, what: str = "key",
           _seen: frozenset[int] = frozenset()) -> list[tuple[ScalarNode, Node]]:
    """The (key node, value node) pairs of a mapping, duplicates refused.

    YAML merge keys (``<<: *anchor``) are honoured like PyYAML does: merged
    entries come first and keys written explicitly override them.  Keys must
    be plain scalars.  ``what`` names the keys in the duplicate message
    ("host name", "group name").
    """
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping, got {_describe(node)}", node, key)
    if id(node) in _seen:
        ctx.fail("merge key refers to itself", node, key)
    explicit: list[tuple[ScalarNode, Node]] = []
    merged: list[tuple[ScalarNode, Node]] = []
    for knode, vnode in node.value:
        if knode.tag == _MERGE:
            merged.extend(_merge_sources(ctx, vnode, key, what, _seen | {id(node)}))
            continue
        if not isinstance(knode, ScalarNode):
            ctx.fail("keys must be plain names, not a list or mapping", knode, key)
        explicit.append((knode, vnode))
    first: dict[tuple[str, str], ScalarNode] = {}
    for knode, _ in explicit:
        ident = (knode.tag, knode.value)
        if ident in first:
            ctx.fail(f"duplicate {what} (first defined on line {first[ident].start_mark.line + 1})",
                     knode, _join(key, knode.value))
        first[ident] = knode
    result = []
    for knode, vnode in merged:
        ident = (knode.tag, knode.value)
        if ident not in first:
            first[ident] = knode
            result.append((knode, vnode))
    return result + explicit


def _merge_sources(ctx: _Ctx, node: Node, key: str, what: str,
                   seen: frozenset[int]) -> list[tuple[ScalarNode, Node]]:
    """The pairs brought in by one ``<<`` value (a mapping or a list of them)."""
    sources = node.value if isinstance(node, SequenceNode) else [node]
    pairs: list[tuple[ScalarNode, Node]] = []
    for source in sources:
        if not isinstance(source, MappingNode):
            ctx.fail(f"'<<' must merge a mapping or a list of mappings, got {_describe(source)}",
                     source, key)
        pairs.extend(_pairs(ctx, source, key, what=what, _seen=seen))
    return pairs


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str | None:
    """`` (did you mean 'x'?)`` for a near miss, else None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else None


def _unknown_key(ctx: _Ctx, knode: ScalarNode, key: str, allowed: Iterable[str]) -> NoReturn:
    """Refuse a key that is not in ``allowed``, suggesting the nearest one."""
    allowed = tuple(allowed)
    hint = _did_you_mean(knode.value, allowed) or f"; expected one of: {', '.join(allowed)}"
    ctx.fail(f"unknown key{hint}", knode, _join(key, knode.value))


# --------------------------------------------------------------------------
# Value checks, one per setting
# --------------------------------------------------------------------------

def _check_port(ctx: _Ctx, node: Node, key: str) -> int:
    """An integer 1..65535; booleans and quoted numbers are refused."""
    if not (isinstance(node, ScalarNode) and node.tag == _INT):
        ctx.fail(f"must be an integer, got {_describe(node)}", node, key)
    port = yaml.constructor.SafeConstructor().construct_yaml_int(node)
    if not 1 <= port <= 65535:
        ctx.fail(f"must be between 1 and 65535, got {port}", node, key)
    return port


def _local_path(ctx: _Ctx, node: Node, key: str, *, echo: bool = True) -> str:
    """A path on this machine: ``~`` expanded, relative to the inventory's directory."""
    value = _str(ctx, node, key, echo=echo)
    if not value.strip():
        ctx.fail("must not be empty", node, key)
    return os.path.normpath(os.path.join(ctx.base_dir, os.path.expanduser(value)))


def _check_proxy_jump(ctx: _Ctx, node: Node, key: str) -> str:
    """OpenSSH ProxyJump syntax: ``[user@]host[:port]``, comma separated.

    Only the shape is checked here; the SSH layer interprets the hops.
    """
    value = _nonblank(ctx, node, key)
    for hop in value.split(","):
        if not hop:
            ctx.fail(f"empty hop in '{_echo(value)}'; write [user@]host[:port][,...]", node, key)
    return value


def _check_socket(ctx: _Ctx, node: Node, key: str) -> str:
    """A unix socket path on the remote host: must be absolute there."""
    value = _nonblank(ctx, node, key)
    if not value.startswith("/"):
        ctx.fail(f"must be an absolute path on the host (e.g. /var/run/supervisor.sock), "
                 f"got '{_echo(value)}'", node, key)
    return value


def _check_url(ctx: _Ctx, node: Node, key: str) -> str:
    """``http://HOST[:PORT][/PATH]`` of an inet_http_server; never echoed."""
    value = _str(ctx, node, key, echo=False)
    shape = "must be http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:9001"
    if "@" in value:
        ctx.fail("must not contain credentials; set username, and password_env or "
                 "password_file", node, key)
    if not value.lower().startswith("http://"):
        ctx.fail("must start with http:// (supervisord's inet_http_server does not "
                 "speak https), e.g. http://127.0.0.1:9001", node, key)
    if any(ch.isspace() for ch in value):
        ctx.fail(f"{shape}; whitespace is not allowed", node, key)
    parts = urlsplit(value)
    if not parts.hostname:
        ctx.fail(f"{shape}; the host is missing", node, key)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        ctx.fail(f"{shape}; the port must be a number between 1 and 65535", node, key)
    if parts.query or parts.fragment:
        ctx.fail(f"{shape}; no query or fragment", node, key)
    return value


def _check_username(ctx: _Ctx, node: Node, key: str) -> str:
    """A supervisor user name; HTTP basic auth cannot carry a ':' in it."""
    value = _nonblank(ctx, node, key, spaces=True)
    if ":" in value:
        ctx.fail("must not contain ':'", node, key)
    return value


def _check_password_env(ctx: _Ctx, node: Node, key: str) -> str:
    """An environment variable NAME; anything else may be a pasted password."""
    value = _str(ctx, node, key, echo=False)
    if not _ENV_NAME.match(value):
        ctx.fail("must be the name of an environment variable (letters, digits and _, "
                 "not starting with a digit)", node, key)
    return value


def _check_password_file(ctx: _Ctx, node: Node, key: str) -> str:
    """A local file holding the password; read at connect time, not now."""
    return _local_path(ctx, node, key, echo=False)


def _check_logs(ctx: _Ctx, node: Node, key: str) -> dict[str, str | None]:
    """``logs``: program name -> path template of its own log file (None: no file, at a host)."""
    result: dict[str, str | None] = {}
    if _is_null(node):
        return result
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping of program names to log file paths, e.g. "
                 f"{{tornado: /srv/app/log/{{process}}.log}}, got {_describe(node)}", node, key)
    for knode, vnode in _pairs(ctx, node, key, what="program name"):
        program = _nonblank(ctx, knode, key)
        path = _join(key, program)
        if ":" in program:
            ctx.fail(f"'{program}' is not a program name: write the program (or group) alone, "
                     f"without ':'", knode, path)
        if _is_null(vnode):
            result[program] = None
            continue
        template = _str(ctx, vnode, path)
        try:
            logpaths.parse(template)
        except logpaths.TemplateError as exc:
            ctx.fail(str(exc), vnode, path)
        result[program] = template
    return result


def _check_bool(ctx: _Ctx, node: Node, key: str) -> bool:
    """true or false; strings such as 'yes' in quotes are refused."""
    if not (isinstance(node, ScalarNode) and node.tag == _TAG + "bool"):
        ctx.fail(f"must be true or false, got {_describe(node)}", node, key)
    return bool(yaml.constructor.SafeConstructor().construct_yaml_bool(node))


_Check = Callable[[_Ctx, Node, str], Any]

def _check_keep(ctx: _Ctx, node: Node, key: str) -> float:
    """A duration for the keeper: 10m, 90s, 1h, a number of seconds; 0 or no: no keeper."""
    from herd.keeper.keys import parse_duration

    if isinstance(node, ScalarNode) and node.tag == _BOOL:
        if node.value.lower() in ("false", "no", "off"):
            return 0.0
        ctx.fail("must be a duration (e.g. 10m, 90s, 1h) or false", node, key)
    if not isinstance(node, ScalarNode) or node.tag not in (_STR, _INT, _FLOAT):
        ctx.fail(f"must be a duration (e.g. 10m, 90s, 1h), got {_describe(node)}", node, key)
    try:
        return parse_duration(node.value)
    except ValueError:
        ctx.fail(f"must be a duration (e.g. 10m, 90s, 1h), got {node.value!r}", node, key)


_CHECKS: dict[str, _Check] = {
    "keep": _check_keep,
    "address": _nonblank,
    "user": _nonblank,
    "port": _check_port,
    "identity_file": _local_path,
    "known_hosts": _local_path,
    "proxy_jump": _check_proxy_jump,
    "python": lambda ctx, node, key: _nonblank(ctx, node, key, spaces=True),
    "socket": _check_socket,
    "url": _check_url,
    "username": _check_username,
    "password_env": _check_password_env,
    "password_file": _check_password_file,
    "logs": _check_logs,
    "become": _check_bool,
    "become_user": _nonblank,
    "become_password_env": _check_password_env,
    "become_password_file": _check_password_file,
}


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------

_Settings = dict[str, _Value]


def _parse_settings(ctx: _Ctx, node: Node, key: str,
                    allowed: tuple[str, ...]) -> tuple[_Settings, _Settings, Node | None]:
    """Validate a ``defaults`` or host mapping.

    Returns (ssh/address settings, supervisor settings, supervisor node).  A
    null value is kept as ``_Value(None, ...)``: it means "not set here" and
    overrides an inherited default.
    """
    settings: _Settings = {}
    supervisor: _Settings = {}
    sup_node: Node | None = None
    if _is_null(node):
        return settings, supervisor, None
    if not isinstance(node, MappingNode):
        example = "{user: deploy}" if key == "defaults" else "{address: 10.0.0.11}"
        ctx.fail(f"must be a mapping of settings (e.g. {example}) or empty, "
                 f"got {_describe(node)}", node, key)
    for knode, vnode in _pairs(ctx, node, key):
        name, path = knode.value, _join(key, knode.value)
        if knode.tag != _STR or name not in allowed:
            if name == "address" and key == "defaults":
                ctx.fail("address is per host; it cannot be a default", knode, path)
            if name == "keep" and key != "defaults":
                ctx.fail("keep is for the whole inventory: set it in defaults", knode, path)
            if name == "logs" and key == "defaults":
                ctx.fail("logs is a top-level key (for every host; a host may override it)", knode, path)
            _unknown_key(ctx, knode, key, allowed)
        if name == "supervisor":
            supervisor, sup_node = _parse_supervisor(ctx, vnode, path), vnode
        elif _is_null(vnode):
            settings[name] = _Value(None, vnode, path)
        else:
            settings[name] = _Value(_CHECKS[name](ctx, vnode, path), vnode, path)
    _check_exclusive(ctx, settings, _BECOME_EXCLUSIVE, key)
    return settings, supervisor, sup_node


def _parse_supervisor(ctx: _Ctx, node: Node, key: str) -> _Settings:
    """Validate one ``supervisor`` mapping (one level: defaults or a host)."""
    result: _Settings = {}
    if _is_null(node):
        return result
    for knode, vnode in _pairs(ctx, node, key):
        name, path = knode.value, _join(key, knode.value)
        if knode.tag == _STR and name == "password":
            ctx.fail("inline passwords are not allowed; use password_env or password_file",
                     knode, path)
        if knode.tag != _STR or name not in _SUPERVISOR_KEYS:
            _unknown_key(ctx, knode, key, _SUPERVISOR_KEYS)
        value = None if _is_null(vnode) else _CHECKS[name](ctx, vnode, path)
        result[name] = _Value(value, vnode, path)
    _check_exclusive(ctx, result, _EXCLUSIVE, key)
    return result


def _check_exclusive(ctx: _Ctx, settings: _Settings, pairs: tuple[tuple[str, str], ...], key: str) -> None:
    """At most one key of each pair at one level."""
    for first, second in pairs:
        if _set(settings, first) and _set(settings, second):
            ctx.fail(f"{first} and {second} are exclusive; set only one",
                     settings[second].node, key)


def _set(settings: _Settings, name: str) -> bool:
    return name in settings and settings[name].value is not None


def _check_host_name(ctx: _Ctx, knode: ScalarNode, key: str, kind: str) -> str:
    """Host and group names: non-empty strings, no whitespace, no leading '@'."""
    if knode.tag != _STR:
        ctx.fail(f"{kind} name must be a string, got {_describe(knode)} (quote it)", knode, key)
    name = knode.value
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


def _supervisor_target(ctx: _Ctx, host: str, merged: _Settings,
                       where: Node) -> SupervisorTarget:
    """Build the target; supervisor's auth needs a username AND a password."""
    def get(name: str) -> Any:
        return merged[name].value if name in merged else None

    username = get("username")
    source = next((n for n in ("password_env", "password_file") if get(n) is not None), None)
    key = f"hosts.{host}.supervisor"
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


def _make_host(ctx: _Ctx, name: str, knode: ScalarNode, vnode: Node,
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
                                sup_node if sup_node is not None and not _is_null(sup_node)
                                else knode)
    fields = {k: merged[k].value for k in ("address",) + _SSH_KEYS + _BECOME_KEYS if k in merged}
    if fields.get("become") is None:
        fields.pop("become", None)
    own_logs = own["logs"].value if "logs" in own and own["logs"].value is not None else {}
    templates = {p: t for p, t in {**(logs or {}), **own_logs}.items() if t is not None}
    return Host(name=name, supervisor=target, line=knode.start_mark.line + 1, logs=templates, **fields)


# --------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------

class _Member(NamedTuple):
    text: str
    node: Node
    key: str


def _parse_groups(ctx: _Ctx, node: Node) -> dict[str, list[_Member]]:
    """Group name -> its raw members, with types checked (not yet resolved)."""
    groups: dict[str, list[_Member]] = {}
    if _is_null(node):
        return groups
    for knode, vnode in _pairs(ctx, node, "groups", what="group name"):
        name = _check_host_name(ctx, knode, "groups", "group")
        key = f"groups.{name}"
        members: list[_Member] = []
        if isinstance(vnode, SequenceNode):
            for index, item in enumerate(vnode.value):
                ikey = f"{key}[{index}]"
                if not (isinstance(item, ScalarNode) and item.tag == _STR):
                    ctx.fail(f"must be a host name or '@group', got {_describe(item)}", item, ikey)
                members.append(_Member(item.value, item, ikey))
        elif not _is_null(vnode):
            ctx.fail(f"must be a list of host names and '@group' includes, e.g. "
                     f"[web01, '@db'], got {_describe(vnode)}", vnode, key)
        groups[name] = members
    return groups


def _resolve_groups(ctx: _Ctx, raw: dict[str, list[_Member]],
                    host_order: dict[str, int]) -> dict[str, tuple[str, ...]]:
    """Expand ``@includes``; each group becomes host names in inventory order."""
    for members in raw.values():
        for member in members:
            _check_member(ctx, member, raw, host_order)
    resolved: dict[str, tuple[str, ...]] = {}
    for name in raw:
        names = _expand(ctx, name, raw, [], {})
        resolved[name] = tuple(sorted(names, key=host_order.__getitem__))
    return resolved


def _check_member(ctx: _Ctx, member: _Member, raw: dict[str, list[_Member]],
                  host_order: dict[str, int]) -> None:
    """A member names a known host, or '@' + a known group."""
    text = member.text
    if text.startswith("@"):
        group = text[1:]
        if not group:
            ctx.fail("'@' must be followed by a group name", member.node, member.key)
        if group not in raw:
            hint = _did_you_mean(group, raw, "@") or ""
            ctx.fail(f"unknown group '{_echo(text)}'{hint}", member.node, member.key)
    elif text not in host_order:
        if text in raw:
            ctx.fail(f"'{_echo(text)}' is a group, not a host; write '@{_echo(text)}' to include it",
                     member.node, member.key)
        hint = _did_you_mean(text, host_order) or ""
        ctx.fail(f"unknown host '{_echo(text)}'{hint}", member.node, member.key)


def _expand(ctx: _Ctx, name: str, raw: dict[str, list[_Member]], stack: list[str],
            done: dict[str, set[str]]) -> set[str]:
    """Host names of group ``name``; ``stack`` is the include chain, for cycles."""
    if name in done:
        return done[name]
    stack.append(name)
    hosts: set[str] = set()
    for member in raw[name]:
        if not member.text.startswith("@"):
            hosts.add(member.text)
            continue
        include = member.text[1:]
        if include in stack:
            cycle = " -> ".join(stack[stack.index(include):] + [include])
            ctx.fail(f"group include cycle: {cycle}", member.node, member.key)
        hosts |= _expand(ctx, include, raw, stack, done)
    stack.pop()
    done[name] = hosts
    return hosts


# --------------------------------------------------------------------------
# The whole file
# --------------------------------------------------------------------------

def _build(ctx: _Ctx, root: Node | None) -> Inventory:
    """Check the top level, then defaults, hosts and groups, in that order."""
    if root is None or _is_null(root):
        ctx.fail("inventory is empty; it needs at least a 'hosts' mapping")
    if not isinstance(root, MappingNode):
        ctx.fail(f"the top level must be a mapping with keys {', '.join(_TOP_KEYS)}; "
                 f"got {_describe(root)}", root)
    sections: dict[str, tuple[ScalarNode, Node]] = {}
    for knode, vnode in _pairs(ctx, root, ""):
        if knode.tag != _STR or knode.value not in _TOP_KEYS:
            _unknown_key(ctx, knode, "", _TOP_KEYS)
        sections[knode.value] = (knode, vnode)
    if "hosts" not in sections:
        ctx.fail("missing key 'hosts' (a mapping of host names to their settings)", root)

    defaults, default_sup = {}, {}
    keep = None
    if "defaults" in sections:
        defaults, default_sup, _ = _parse_settings(ctx, sections["defaults"][1], "defaults",
                                                   _DEFAULT_KEYS + ("keep",))
        keep = defaults.pop("keep", None)   # the keeper's idle time (herd/keeper): not a host setting
    logs = _check_logs(ctx, sections["logs"][1], "logs") if "logs" in sections else {}
    hosts = _parse_hosts(ctx, sections["hosts"], defaults, default_sup, logs)
    raw_groups = _parse_groups(ctx, sections["groups"][1]) if "groups" in sections else {}
    order = {host.name: index for index, host in enumerate(hosts)}
    groups = _resolve_groups(ctx, raw_groups, order)
    expect = _parse_expect(ctx, sections["expect"][1], groups, order) if "expect" in sections else {}
    check = _parse_check(ctx, sections["check"][1]) if "check" in sections else CheckSettings()
    return Inventory(path=ctx.file, hosts=tuple(hosts), groups=groups, expect=expect, check=check,
                     tree=_group_tree(raw_groups), keep=keep.value if keep is not None else None)


def _group_tree(raw: dict[str, list[_Member]]) -> dict[str, GroupNode]:
    """Each group's ``@includes`` and hosts as written, for ``herd inventory --graph``."""
    return {name: GroupNode(children=tuple(m.text[1:] for m in members if m.text.startswith("@")),
                            hosts=tuple(m.text for m in members if not m.text.startswith("@")))
            for name, members in raw.items()}


def _parse_hosts(ctx: _Ctx, section: tuple[ScalarNode, Node], defaults: _Settings,
                 default_sup: _Settings, logs: dict[str, str | None]) -> list[Host]:
    """Every host in file order; ``hosts`` must be a non-empty mapping."""
    knode, node = section
    if not isinstance(node, MappingNode) or not node.value:
        got = "an empty mapping" if isinstance(node, MappingNode) else _describe(node)
        ctx.fail(f"must be a non-empty mapping of host names to settings, got {got}",
                 node if not _is_null(node) else knode, "hosts")
    hosts = []
    for hknode, hvnode in _pairs(ctx, node, "hosts", what="host name"):
        name = _check_host_name(ctx, hknode, "hosts", "host")
        hosts.append(_make_host(ctx, name, hknode, hvnode, defaults, default_sup, logs))
    return hosts


# --------------------------------------------------------------------------
# herd check: expect and check
# --------------------------------------------------------------------------

def _parse_expect(ctx: _Ctx, node: Node, groups: dict[str, tuple[str, ...]],
                  order: dict[str, int]) -> dict[str, Expectation]:
    """``expect``: group or host name -> {running: [names], min_uptime: seconds}."""
    result: dict[str, Expectation] = {}
    if _is_null(node):
        return result
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping of group or host names to expectations, e.g. "
                 f"{{web: {{running: [tornado]}}}}, got {_describe(node)}", node, "expect")
    seen: dict[str, ScalarNode] = {}
    for knode, vnode in _pairs(ctx, node, "expect", what="target"):
        if knode.tag != _STR:
            ctx.fail(f"must be a group or host name, got {_describe(knode)} (quote it)", knode, "expect")
        written = knode.value
        key = _join("expect", written)
        ident, hosts = _expect_target(ctx, knode, key, groups, order)
        if ident in seen:
            ctx.fail(f"names the same {ident.split(':')[0]} as line {seen[ident].start_mark.line + 1}",
                     knode, key)
        seen[ident] = knode
        running, min_uptime = _parse_expectation(ctx, vnode, key)
        result[written] = Expectation(target=written, hosts=hosts, running=running,
                                      min_uptime=min_uptime, line=knode.start_mark.line + 1)
    return result


def _expect_target(ctx: _Ctx, knode: ScalarNode, key: str, groups: dict[str, tuple[str, ...]],
                   order: dict[str, int]) -> tuple[str, tuple[str, ...]]:
    """("group:web" or "host:web01", its hosts) for an ``expect`` key; '@web' is always a group."""
    written = knode.value
    if written.startswith("@"):
        name = written[1:]
        if name not in groups:
            hint = _did_you_mean(name, groups, "@") or (
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
    hint = _did_you_mean(written, list(groups) + list(order)) or ""
    ctx.fail(f"'{_echo(written)}' is neither a group nor a host{hint}", knode, key)


def _parse_expectation(ctx: _Ctx, node: Node, key: str) -> tuple[tuple[str, ...], int | None]:
    """One entry: ``running`` (process names) and ``min_uptime`` (seconds), both optional."""
    running: tuple[str, ...] = ()
    min_uptime: int | None = None
    if _is_null(node):
        return running, min_uptime
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping with keys {', '.join(_EXPECT_KEYS)}, e.g. "
                 f"{{running: [tornado, worker], min_uptime: 60}}, got {_describe(node)}", node, key)
    for knode, vnode in _pairs(ctx, node, key):
        path = _join(key, knode.value)
        if knode.tag != _STR or knode.value not in _EXPECT_KEYS:
            _unknown_key(ctx, knode, key, _EXPECT_KEYS)
        if knode.value == "running":
            running = _check_running(ctx, vnode, path)
        elif not _is_null(vnode):
            min_uptime = _check_seconds(ctx, vnode, path)
    return running, min_uptime


def _check_running(ctx: _Ctx, node: Node, key: str) -> tuple[str, ...]:
    """A list of names as supervisorctl takes them: name, group:name, group:*, all."""
    if _is_null(node):
        return ()
    if not isinstance(node, SequenceNode):
        ctx.fail(f"must be a list of program names, e.g. [tornado, worker], got {_describe(node)}",
                 node, key)
    names: list[str] = []
    for index, item in enumerate(node.value):
        ikey = f"{key}[{index}]"
        name = _nonblank(ctx, item, ikey)
        group, sep, process = name.partition(":")
        if sep and (not group or not process or ":" in process):
            ctx.fail(f"'{_echo(name)}' is not a process name: write name, group:name or group:*",
                     item, ikey)
        if name in names:
            ctx.fail(f"'{_echo(name)}' is listed twice", item, ikey)
        names.append(name)
    return tuple(names)


def _check_seconds(ctx: _Ctx, node: Node, key: str) -> int:
    """A whole number of seconds, 0 or more."""
    if not (isinstance(node, ScalarNode) and node.tag == _INT):
        ctx.fail(f"must be a whole number of seconds, got {_describe(node)}", node, key)
    value = yaml.constructor.SafeConstructor().construct_yaml_int(node)
    if value < 0:
        ctx.fail(f"must be 0 or more, got {value}", node, key)
    return value


def _parse_check(ctx: _Ctx, node: Node) -> CheckSettings:
    """``check``: ``severity`` maps a kind of problem to ok, warning or critical."""
    severity = dict(DEFAULT_SEVERITY)
    if _is_null(node):
        return CheckSettings(severity)
    for knode, vnode in _pairs(ctx, node, "check"):
        if knode.tag != _STR or knode.value not in _CHECK_KEYS:
            _unknown_key(ctx, knode, "check", _CHECK_KEYS)
        if _is_null(vnode):
            continue
        for kind_node, level_node in _pairs(ctx, vnode, "check.severity"):
            kind = kind_node.value
            path = _join("check.severity", kind)
            if kind_node.tag != _STR or kind not in DEFAULT_SEVERITY:
                if kind_node.tag == _STR and kind.lower() in DEFAULT_SEVERITY:
                    ctx.fail(f"unknown key (write it in lower case: '{kind.lower()}')", kind_node, path)
                _unknown_key(ctx, kind_node, "check.severity", DEFAULT_SEVERITY)
            level = _str(ctx, level_node, path)
            if level not in SEVERITY_LEVELS:
                hint = _did_you_mean(level.lower(), SEVERITY_LEVELS) or ""
                ctx.fail(f"must be one of {', '.join(SEVERITY_LEVELS)}, got '{_echo(level)}'{hint}",
                         level_node, path)
            severity[kind] = level
    return CheckSettings(severity)
