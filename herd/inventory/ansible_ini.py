"""Read an Ansible INI inventory into a :class:`~herd.inventory.ansible_tree.Tree`.

The format, as Ansible's ``ini`` inventory plugin reads it::

    host01 ansible_host=10.0.0.1        # before any section: group 'ungrouped'
    [web]                               # hosts of group web
    web[01:20].example.com ansible_user=deploy
    [web:vars]                          # variables of group web
    ansible_port=2222
    [prod:children]                     # groups that are children of prod
    web

Lines starting with ``#`` or ``;`` are comments.  A host line is split like
a shell line (quotes, ``#`` comments); each ``key=value`` after the pattern
is a host variable.  In ``:vars`` sections everything after the first ``=``
is the value.  Values are read as Python literals when they are one
(``22`` is a number, ``"{'a': 1}"`` a mapping, ``True`` a boolean) and kept
as text otherwise, as Ansible does.  A ``:children`` or ``:vars`` section
may name a group defined further down; one that is never defined is an
error, as in Ansible.  Every problem is an InventoryError at ``file:line``.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from herd.inventory.ansible_patterns import PatternError, expand_pattern
from herd.inventory.ansible_tree import Tree, Var, Where

__all__ = ["read_ini", "literal"]

_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?\Z")
_GROUP_LINE = re.compile(r"([^:\]\s]+)\s*(?:#.*)?\Z")
_KINDS = ("hosts", "children", "vars")
_SHELL_CHARS = re.compile(r"[\'\"\\#]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def read_ini(tree: Tree, text: str, path: str) -> None:
    """Add the groups, hosts and variables of INI ``text`` (read from ``path``) to ``tree``."""
    group, kind = "ungrouped", "hosts"
    pending: dict[str, tuple[str, Where, list[str]]] = {}   # group -> (kind, first use, parents)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = Where(path, number)
        section = _SECTION.match(line)
        if section:
            group, kind = _section(tree, section, where, pending)
        elif line.startswith("[") and line.endswith("]"):
            raise where.fail(f"invalid section header {line}: write [group], [group:vars] or "
                             f"[group:children], without spaces")
        elif kind == "hosts":
            _host_line(tree, line, group, where)
        elif kind == "vars":
            key, value = _var_line(line, where)
            tree.set_group_var(group, key, Var(value, where))
        else:
            _child_line(tree, line, group, where, pending)
    for name, (kind, where, parents) in pending.items():
        if kind == "vars":
            raise where.fail(f"section [{name}:vars] is for group '{name}', which is not defined "
                             f"anywhere (add a [{name}] section)")
        raise where.fail(f"section [{parents[-1]}:children] includes group '{name}', which is "
                         f"not defined anywhere (add a [{name}] section)")


def _section(tree: Tree, match: re.Match[str], where: Where,
             pending: dict[str, tuple[str, Where, list[str]]]) -> tuple[str, str]:
    """A ``[name]``/``[name:kind]`` header: declare the group, settle what waited for it."""
    name, kind = match.group(1), match.group(2) or "hosts"
    if kind not in _KINDS:
        raise where.fail(f"section [{name}:{kind}] has an unknown type '{kind}'; "
                         f"use [{name}], [{name}:vars] or [{name}:children]")
    if name not in tree.groups:
        if kind == "vars" and name not in pending:
            pending[name] = ("vars", where, [])
        tree.add_group(name, where)
    if name in pending and kind != "vars":
        _settle(tree, name, pending)
    return name, kind


def _settle(tree: Tree, name: str, pending: dict[str, tuple[str, Where, list[str]]]) -> None:
    """``name`` is now declared: add it under the parents that named it earlier."""
    kind, where, parents = pending.pop(name)
    if kind != "children":
        return
    for parent in parents:
        tree.add_child(parent, name, where)
        if parent in pending and pending[parent][0] == "children":
            _settle(tree, parent, pending)


def _host_line(tree: Tree, line: str, group: str, where: Where) -> None:
    """``PATTERN [key=value ...]``: one host, or several through a range."""
    try:
        # without quotes, escapes or comments shell-like splitting is plain splitting (and 2x faster)
        tokens = shlex.split(line, comments=True) if _SHELL_CHARS.search(line) else line.split()
    except ValueError as exc:
        raise where.fail(f"cannot split host line ({exc}): {line}") from exc
    pattern = tokens[0]
    names, port = _expand(pattern, where)
    variables: dict[str, Any] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep:
            raise where.fail(f"expected key=value after the host pattern, got '{token}'")
        variables[key] = literal(value)
    for name in names:
        tree.add_host(name, group, where, port)
        for key, value in variables.items():
            tree.set_host_var(name, key, Var(value, where))


def _expand(pattern: str, where: Where) -> tuple[list[str], int | None]:
    try:
        names, port = expand_pattern(pattern)
    except PatternError as exc:
        raise where.fail(str(exc)) from exc
    if pattern.endswith(":") and port is None:
        raise where.fail(f"host pattern '{pattern}' ends in ':'; write host:PORT or drop the ':'")
    if "---" in names:
        raise where.fail("host '---' looks like the start of a YAML document; "
                         "name a YAML inventory .yaml or .yml")
    return names, port


def _var_line(line: str, where: Where) -> tuple[str, Any]:
    key, sep, value = line.partition("=")
    if not sep:
        raise where.fail(f"expected key=value in a :vars section, got '{line}'")
    return key.strip(), literal(value.strip())


def _child_line(tree: Tree, line: str, group: str, where: Where,
                pending: dict[str, tuple[str, Where, list[str]]]) -> None:
    match = _GROUP_LINE.match(line)
    if not match:
        raise where.fail(f"expected a group name in [{group}:children], got '{line}'")
    child = match.group(1)
    if child in tree.groups:
        tree.add_child(group, child, where)
    elif child in pending:
        pending[child][2].append(group)
    else:
        pending[child] = ("children", where, [group])


def literal(text: str) -> Any:
    """A value as Ansible's INI reader takes it: a Python literal if it is one, else the text."""
    if text.isascii() and text.isdigit() and (text[0] != "0" or text == "0"):
        return int(text)
    if _WORD.match(text) and text not in ("True", "False", "None"):
        return text                          # a name is never a literal: skip the parser
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    """Literal types Ansible does not keep become what it makes of them."""
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value
