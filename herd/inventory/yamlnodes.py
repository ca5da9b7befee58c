"""Positioned YAML: a file composed into nodes that keep their line and column, and the checks any schema needs.

The file is *composed* (``yaml.compose``) rather than loaded: every key and
value keeps its mark, so a problem is reported as ``file:line:column:
key.path: what is wrong``, and duplicate keys (which ``yaml.safe_load``
silently collapses, keeping the last one) are refused.  Nothing here knows
herd's schema (herd/inventory/loader.py) or its settings
(herd/inventory/settings.py); the Ansible loaders use it too.  Every problem
is an InventoryError; nothing from PyYAML or ``os`` escapes.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from typing import Any, Iterable, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from herd.errors import InventoryError
from herd.text import shorten as _echo   # a value quoted in a message: one line, escaped, cut

TAG = "tag:yaml.org,2002:"
STR, INT, NULL, MERGE, BOOL = TAG + "str", TAG + "int", TAG + "null", TAG + "merge", TAG + "bool"
FLOAT = TAG + "float"
VAULT = "!vault"          # Ansible's inline vault value: never decrypted (herd/inventory/foreign.py)


def read_text(path: str) -> str:
    """The file's text; OS and decoding problems become one-line errors."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InventoryError(f"cannot read inventory {path}: {reason}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start]
        raise InventoryError(
            "not UTF-8 text; save the inventory as UTF-8", file=path,
            line=before.count(b"\n") + 1,
            column=len(before) - (before.rfind(b"\n") + 1) + 1) from exc


def compose(text: str, path: str) -> Node | None:
    """The YAML node tree, or a positioned error for a syntax problem.

    libyaml's parser (when PyYAML has it) composes ~10x faster than the pure
    Python one (65 ms -> 6 ms for 100 hosts); a file it rejects is composed
    again by the pure parser, so error messages stay the same."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except (yaml.YAMLError, RecursionError):
            pass    # libyaml refuses nesting past 1000 levels: the pure parser does not
    try:
        return yaml.compose(text, Loader=_FlatLoader)
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
            column=mark.column + 1 if mark else None) from exc
    except yaml.reader.ReaderError as exc:
        before = text[:exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        raise InventoryError(
            f"invalid YAML: {exc.reason} (character #x{exc.character:04x})",
            file=path, line=line, column=column) from exc
    except yaml.YAMLError as exc:  # any other PyYAML complaint: still one line
        raise InventoryError(f"invalid YAML: {exc}", file=path) from exc
    except RecursionError as exc:
        raise InventoryError("invalid YAML: nested too deeply", file=path) from exc


class _FlatLoader(yaml.SafeLoader):
    """PyYAML's pure-Python SafeLoader, composing without recursion.

    PyYAML's Composer calls itself once per level of nesting, so a
    document nested some 500 levels deep (an Ansible group tree 250 deep:
    two levels a group) ends in RecursionError.  This one keeps the open
    sequences and mappings on a list instead; the nodes, marks, anchors,
    tags and errors are PyYAML's own.
    """

    def compose_node(self, parent: Node | None, index: object) -> Node:
        stack: list[list[Any]] = []            # [open sequence or mapping, the key waiting for its value]
        root = self._open_node(parent, index, stack)
        while stack:
            frame = stack[-1]
            node = frame[0]
            if self.check_event(yaml.SequenceEndEvent, yaml.MappingEndEvent):
                node.end_mark = self.get_event().end_mark  # type: ignore[no-untyped-call]
                stack.pop()
                self.ascend_resolver()
            elif isinstance(node, SequenceNode):
                node.value.append(self._open_node(node, len(node.value), stack))
            elif frame[1] is None:
                frame[1] = self._open_node(node, None, stack)
            else:
                key, frame[1] = frame[1], None
                node.value.append((key, self._open_node(node, key, stack)))
        return root

    def _open_node(self, parent: Node | None, index: object, stack: list[list[Any]]) -> Node:
        """The next node: complete if a scalar or an alias, else opened and pushed on ``stack``."""
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()  # type: ignore[no-untyped-call]
            if event.anchor not in self.anchors:
                raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                                  event.start_mark)
            return self.anchors[event.anchor]
        event = self.peek_event()  # type: ignore[no-untyped-call]
        anchor = event.anchor
        if anchor is not None and anchor in self.anchors:
            raise yaml.composer.ComposerError(f"found duplicate anchor {anchor!r}; first occurrence",
                                              self.anchors[anchor].start_mark, "second occurrence",
                                              event.start_mark)
        self.descend_resolver(parent, index)
        if self.check_event(yaml.ScalarEvent):
            node: Node = self.compose_scalar_node(anchor)
            self.ascend_resolver()
            return node
        start = self.get_event()  # type: ignore[no-untyped-call]
        kind = SequenceNode if isinstance(start, yaml.SequenceStartEvent) else MappingNode
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(kind, None, start.implicit)  # type: ignore[no-untyped-call]
        node = kind(tag, [], start.start_mark, None, flow_style=start.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        stack.append([node, None])
        return node


@dataclass(frozen=True)
class Ctx:
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


_KIND = {
    "str": "string", "int": "integer", "float": "float", "bool": "boolean",
    "null": "null", "timestamp": "date", "binary": "binary",
}


def describe(node: Node, echo: bool = True) -> str:
    """``string 'abc'``, ``integer 7``, ``a mapping``: what the user wrote.

    With ``echo=False`` only the type is given, for keys that may hold a secret.
    """
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = node.tag
    if tag == VAULT:
        return "a value encrypted with ansible-vault (!vault), which herd does not decrypt: write it in plain text"
    kind = _KIND.get(tag[len(TAG):], f"a value tagged {tag}") if tag.startswith(TAG) \
        else f"a value tagged {tag}"
    if tag == NULL or not echo:
        return kind
    text = _echo(node.value, 40)
    return f"{kind} '{text}'" if tag == STR else f"{kind} {text}"


def as_str(ctx: Ctx, node: Node, key: str, *, echo: bool = True) -> str:
    """A string scalar (no YAML coercion: ``user: 123`` is an error, not '123')."""
    if isinstance(node, ScalarNode) and node.tag == STR:
        return str(node.value)
    hint = " (quote it if you meant the text)" if isinstance(node, ScalarNode) and echo \
        and node.tag not in (NULL, VAULT) else ""
    ctx.fail(f"must be a string, got {describe(node, echo)}{hint}", node, key)


def nonblank(ctx: Ctx, node: Node, key: str, *, spaces: bool = False) -> str:
    """A non-empty string; without whitespace unless ``spaces``."""
    value = as_str(ctx, node, key)
    if not value.strip():
        ctx.fail("must not be empty", node, key)
    if not spaces and any(ch.isspace() for ch in value):
        ctx.fail(f"must not contain whitespace, got '{_echo(value)}'", node, key)
    return value


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL


def pairs(ctx: Ctx, node: Node, key: str, *, what: str = "key",
           _seen: frozenset[int] = frozenset()) -> list[tuple[ScalarNode, Node]]:
    """The (key node, value node) pairs of a mapping, duplicates refused.

    YAML merge keys (``<<: *anchor``) are honoured like PyYAML does: merged
    entries come first and keys written explicitly override them.  Keys must
    be plain scalars.  ``what`` names the keys in the duplicate message
    ("host name", "group name").
    """
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping, got {describe(node)}", node, key)
    if id(node) in _seen:
        ctx.fail("merge key refers to itself", node, key)
    explicit: list[tuple[ScalarNode, Node]] = []
    merged: list[tuple[ScalarNode, Node]] = []
    for knode, vnode in node.value:
        if knode.tag == MERGE:
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
                     knode, join_key(key, knode.value))
        first[ident] = knode
    result = []
    for knode, vnode in merged:
        ident = (knode.tag, knode.value)
        if ident not in first:
            first[ident] = knode
            result.append((knode, vnode))
    return result + explicit


def _merge_sources(ctx: Ctx, node: Node, key: str, what: str,
                   seen: frozenset[int]) -> list[tuple[ScalarNode, Node]]:
    """The pairs brought in by one ``<<`` value (a mapping or a list of them)."""
    sources = node.value if isinstance(node, SequenceNode) else [node]
    merged: list[tuple[ScalarNode, Node]] = []
    for source in sources:
        if not isinstance(source, MappingNode):
            ctx.fail(f"'<<' must merge a mapping or a list of mappings, got {describe(source)}",
                     source, key)
        merged.extend(pairs(ctx, source, key, what=what, _seen=seen))
    return merged


def join_key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str | None:
    """`` (did you mean 'x'?)`` for a near miss, else None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else None


def unknown_key(ctx: Ctx, knode: ScalarNode, key: str, allowed: Iterable[str]) -> NoReturn:
    """Refuse a key that is not in ``allowed``, suggesting the nearest one."""
    allowed = tuple(allowed)
    hint = did_you_mean(knode.value, allowed) or f"; expected one of: {', '.join(allowed)}"
    ctx.fail(f"unknown key{hint}", knode, join_key(key, knode.value))


def check_port(ctx: Ctx, node: Node, key: str) -> int:
    """An integer 1..65535; booleans and quoted numbers are refused."""
    if not (isinstance(node, ScalarNode) and node.tag == INT):
        ctx.fail(f"must be an integer, got {describe(node)}", node, key)
    port = yaml.constructor.SafeConstructor().construct_yaml_int(node)
    if not 1 <= port <= 65535:
        ctx.fail(f"must be between 1 and 65535, got {port}", node, key)
    return port


def local_path(ctx: Ctx, node: Node, key: str, *, echo: bool = True) -> str:
    """A path on this machine: ``~`` expanded, relative to the inventory's directory."""
    value = as_str(ctx, node, key, echo=echo)
    if not value.strip():
        ctx.fail("must not be empty", node, key)
    return os.path.normpath(os.path.join(ctx.base_dir, os.path.expanduser(value)))


def check_bool(ctx: Ctx, node: Node, key: str) -> bool:
    """true or false; strings such as 'yes' in quotes are refused."""
    if not (isinstance(node, ScalarNode) and node.tag == BOOL):
        ctx.fail(f"must be true or false, got {describe(node)}", node, key)
    return bool(yaml.constructor.SafeConstructor().construct_yaml_bool(node))


def known_pairs(ctx: Ctx, node: Node, key: str, allowed: Iterable[str],
                *, what: str = "key") -> list[tuple[ScalarNode, Node]]:
    """The pairs of a mapping whose keys must all be in ``allowed`` (else: unknown key, did you mean)."""
    allowed = tuple(allowed)
    found = pairs(ctx, node, key, what=what)
    for knode, _ in found:
        if knode.tag != STR or knode.value not in allowed:
            unknown_key(ctx, knode, key, allowed)
    return found
