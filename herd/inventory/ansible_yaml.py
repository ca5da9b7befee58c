"""Read Ansible's YAML inventory format and its group_vars/host_vars files.

The inventory format, as Ansible's ``yaml`` inventory plugin reads it::

    all:                          # top-level keys are groups
      vars: {ansible_user: deploy}
      hosts:
        lonely.example.com:
      children:
        web:
          hosts:
            web[01:03].example.com: {ansible_port: 2222}

A group maps to ``hosts`` (pattern -> host variables), ``vars`` and
``children`` (group name -> the same structure, recursively); a string
where a mapping is expected names one entry.  Ansible skips, with a warning,
keys it does not know and entries that are not mappings; herd refuses them
with ``file:line:column``, since a skipped line is a host or a setting
quietly lost.

The file is composed, not loaded (as herd's own loader does, and with its
helpers), so every value keeps its line; duplicate keys are refused.
``!unsafe`` values are kept as text that is never a template; ``!vault``
values are kept as :data:`VAULTED`, to be refused only if herd needs one.
"""

from __future__ import annotations

from typing import Generator, Iterator

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from herd.errors import InventoryError
from herd.inventory.ansible_patterns import PatternError, expand_pattern
from herd.inventory.ansible_tree import Tree, Var, Where
from herd.inventory.foreign import plugin_key, plugin_refusal
from herd.inventory.yamlnodes import Ctx, compose, describe, is_null, pairs

__all__ = ["VAULTED", "read_vars_file", "read_yaml", "yaml_kind"]

STR = "tag:yaml.org,2002:str"
_UNSAFE, _VAULT = "!unsafe", "!vault"
_SECTIONS = ("hosts", "vars", "children")
_HERD_KEYS = ("defaults", "hosts", "groups", "expect", "check")


class _Vaulted:
    """An Ansible Vault value: herd cannot decrypt it."""

    def __repr__(self) -> str:
        return "<vault-encrypted>"


VAULTED = _Vaulted()


class _Constructor(yaml.constructor.SafeConstructor):
    """PyYAML's safe constructor plus Ansible's ``!unsafe`` and ``!vault`` tags."""


_Constructor.add_constructor(_UNSAFE, lambda c, node: c.construct_scalar(node))  # type: ignore[arg-type]
_Constructor.add_constructor(_VAULT, lambda c, node: VAULTED)


def yaml_kind(text: str, path: str) -> str:
    """What a YAML text is: ``"herd"``, ``"ansible"`` or ``"other"`` (not a mapping).

    herd's own format has top-level ``hosts``/``defaults``/``groups``/
    ``expect``/``check``; an Ansible inventory has group names there.  A
    top-level ``plugin: NAME`` seen first makes it ``"ansible"``: an
    inventory plugin's configuration, which the Ansible reader refuses in
    words that say so (one seen after a herd key is refused by herd's own
    loader in the same words).  Only the parser's events are read, and only
    until a herd key shows up, so telling herd's file from Ansible's costs
    little next to loading it.
    """
    fast = getattr(yaml, "CSafeLoader", None)
    for loader in ([fast] if fast is not None else []) + [yaml.SafeLoader]:
        try:                        # libyaml refuses nesting past 1000 levels: the pure parser does not
            return _kind_of(yaml.parse(text, Loader=loader))
        except (yaml.YAMLError, RecursionError):
            continue
    return "other"


def _kind_of(events: Iterator[yaml.Event]) -> str:
    first = next((e for e in events if not isinstance(e, (yaml.StreamStartEvent,
                                                          yaml.DocumentStartEvent))), None)
    if not isinstance(first, yaml.MappingStartEvent):
        return "other"
    depth, key_turn, after_plugin = 0, True, False
    for event in events:
        if depth == 0 and after_plugin and isinstance(event, yaml.ScalarEvent):
            return "ansible"                                       # plugin: NAME
        after_plugin = False
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            if depth == 0:
                return "ansible"
            depth -= 1
        elif depth == 0 and key_turn and isinstance(event, yaml.ScalarEvent):
            if event.value in _HERD_KEYS:
                return "herd"
            after_plugin = event.value == "plugin"
        if depth == 0:
            key_turn = not key_turn
    return "ansible"


def read_yaml(tree: Tree, text: str, path: str, *, allow_empty: bool = False) -> None:
    """Add the groups, hosts and variables of a YAML inventory to ``tree``.

    ``allow_empty``: an empty file adds nothing (in a directory, as Ansible
    takes it) instead of being an error.
    """
    ctx = Ctx(file=path, base_dir="")
    root = compose(text, path)
    if root is None or is_null(root):
        if allow_empty:
            return
        raise InventoryError("the YAML inventory is empty", file=path)
    if not isinstance(root, MappingNode):
        ctx.fail(f"a YAML inventory must be a mapping of group names, got {describe(root)}", root)
    plugin = plugin_key(root)
    if plugin is not None:
        raise plugin_refusal(path, *plugin)
    for knode, vnode in pairs(ctx, root, "", what="group name"):
        _group(tree, ctx, knode, vnode)


_GroupSteps = Generator[tuple[ScalarNode, Node], str, str]


def _group(tree: Tree, ctx: Ctx, knode: ScalarNode, vnode: Node) -> str:
    """One group and, depth first, the groups under it; without recursion.

    Each group is read by a generator (:func:`_group_steps`) that hands
    out its children and is sent back their names, so groups nested a
    thousand deep take a list of generators, not a thousand Python frames,
    and every host, variable and child is added in the same order as a
    recursive reading would.
    """
    stack: list[_GroupSteps] = [_group_steps(tree, ctx, knode, vnode)]
    sent: str | None = None
    while True:
        try:
            child = stack[-1].send(sent)   # type: ignore[arg-type]  # None starts a generator
        except StopIteration as done:
            stack.pop()
            if not stack:
                return str(done.value)
            sent = done.value
            continue
        stack.append(_group_steps(tree, ctx, *child))
        sent = None


def _group_steps(tree: Tree, ctx: Ctx, knode: ScalarNode, vnode: Node) -> _GroupSteps:
    """One group: its sections in the order written (that order decides host order)."""
    name = _name(ctx, knode, "group")
    tree.add_group(name, _where(ctx, knode))
    if is_null(vnode):
        return name
    if not isinstance(vnode, MappingNode):
        ctx.fail(f"group '{name}' must be a mapping with hosts, vars or children, got "
                 f"{describe(vnode)}", vnode, name)
    for sknode, snode in pairs(ctx, vnode, name):
        section = sknode.value
        key = f"{name}.{section}"
        if section not in _SECTIONS:
            ctx.fail(f"unknown key in group '{name}'; a group has only hosts, vars and children",
                     sknode, key)
        for entry, value in _entries(ctx, snode, key):
            if section == "hosts":
                _hosts(tree, ctx, name, entry, value, f"{key}.{entry.value}")
            elif section == "vars":
                tree.set_group_var(name, _name(ctx, entry, "variable"), _var(ctx, entry, value))
            else:
                child = yield entry, value            # read by _group, depth first
                tree.add_child(name, child, _where(ctx, entry))
    return name


def _entries(ctx: Ctx, node: Node, key: str) -> list[tuple[ScalarNode, Node]]:
    """A section's (key, value) pairs; a lone string is one key with no value."""
    if is_null(node):
        return []
    if isinstance(node, ScalarNode) and node.tag == STR:
        return [(node, ScalarNode("tag:yaml.org,2002:null", "", node.start_mark, node.end_mark))]
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping, got {describe(node)}", node, key)
    return pairs(ctx, node, key)


def _hosts(tree: Tree, ctx: Ctx, group: str, knode: ScalarNode, vnode: Node, key: str) -> None:
    """One ``hosts`` entry: a pattern and the variables of every host it names."""
    if knode.tag != STR:
        ctx.fail(f"a host pattern must be a string, got {describe(knode)} (quote it)", knode, key)
    where = _where(ctx, knode)
    try:
        names, port = expand_pattern(knode.value)
    except PatternError as exc:
        ctx.fail(str(exc), knode, key)
    variables = []
    if not is_null(vnode):
        if not isinstance(vnode, MappingNode):
            ctx.fail(f"a host's value must be a mapping of variables, got {describe(vnode)}",
                     vnode, key)
        variables = [(_name(ctx, k, "variable"), _var(ctx, k, v)) for k, v in pairs(ctx, vnode, key)]
    for name in names:
        tree.add_host(name, group, where, port)
        for var_name, var in variables:
            tree.set_host_var(name, var_name, var)


def read_vars_file(path: str, text: str) -> dict[str, Var]:
    """The variables of one group_vars/host_vars file (empty for an empty file)."""
    ctx = Ctx(file=path, base_dir="")
    root = compose(text, path)
    if root is None or is_null(root):
        return {}
    if not isinstance(root, MappingNode):
        ctx.fail(f"a variables file must be a mapping of variable names to values, got "
                 f"{describe(root)}", root)
    return {_name(ctx, k, "variable"): _var(ctx, k, v) for k, v in pairs(ctx, root, "")}


def _var(ctx: Ctx, knode: ScalarNode, vnode: Node) -> Var:
    try:
        value = _Constructor().construct_object(vnode, deep=True)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        ctx.fail(f"cannot read this value: {problem}", vnode, knode.value)
    except RecursionError:
        ctx.fail("cannot read this value: nested too deeply", vnode, knode.value)
    return Var(value, _where(ctx, knode), unsafe=vnode.tag == _UNSAFE, vault=vnode.tag == _VAULT)


def _name(ctx: Ctx, knode: ScalarNode, kind: str) -> str:
    if knode.tag != STR or not knode.value:
        ctx.fail(f"a {kind} name must be a non-empty string, got {describe(knode)}", knode)
    return str(knode.value)


def _where(ctx: Ctx, node: Node) -> Where:
    return Where(ctx.file, node.start_mark.line + 1)
