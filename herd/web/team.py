"""The team file of ``herd web --team FILE``: local users and their roles per group of hosts.

::

    users:                          # local users, for teams without a login proxy
      alice: {password: "$argon2id$v=19$m=65536,t=3,p=4$..."}   # from `herd web-passwd alice`
      bob: {password: "$argon2id$..."}
    roles:                          # user (or "*": anyone signed in) -> grants
      alice: admin                  # on every host of every environment
      bob:
        - {role: operator, groups: [odd]}                 # the hosts of group odd, every environment
        - {role: viewer}                                  # and see the rest
      carol:
        - {role: operator, env: staging}
        - {role: viewer, env: production, groups: [web]}
      "*": viewer

Roles: viewer (see), operator (see, act, roll), admin (see, act, roll, config: reread, update,
reload, shutdown).  Users named by a trusted proxy's header need no ``users:`` entry, only roles.
A user with no grant sees nothing and is told so.

Password hashes only: a plain password in this file is refused at load.

The file is checked when ``herd web`` starts, never half-applied: :func:`load_team` checks its
shape (the YAML is composed with line marks, herd/inventory/yamlnodes.py, so every problem is one
line ``FILE:LINE: roles.bob[0].role: what is wrong``, an unknown key or role says the nearest
known one, a duplicate key is refused), then :func:`check_team` checks the groups and
environments it names against the inventories served.  Both raise UsageError (exit 2).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, NoReturn

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from herd.errors import InventoryError, UsageError
from herd.inventory.yamlnodes import (Ctx, as_str, compose, describe, did_you_mean, is_null, join_key, known_pairs,
                                      pairs)
from herd.text import shorten

if TYPE_CHECKING:
    from herd.inventory.model import Inventory

ROLES: dict[str, tuple[str, ...]] = {
    "viewer": ("see",),
    "operator": ("see", "act", "roll"),
    "admin": ("see", "act", "roll", "config"),
}
EVERYONE = "*"
GRANT_KEYS = ("role", "groups", "env")
# argon2's PHC string, as argon2-cffi writes it: $argon2id$v=19$m=65536,t=3,p=4$SALT$HASH
HASH = re.compile(r"\$argon2(id|i|d)\$(v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}")
NAME = re.compile(r"[^\s:]+")


@dataclass(frozen=True)
class Grant:
    """``role`` on the hosts of ``groups`` (None: every host) of ``env`` (None: every environment).

    ``at``, ``env_at`` and ``groups_at`` say where the file wrote the grant, its env and each of its
    groups (``FILE:LINE: roles.bob[0].groups[1]``): :func:`check_team` refuses a group or an
    environment that is not served, at the line that names it.
    """
    role: str
    groups: tuple[str, ...] | None = None
    env: str | None = None
    at: str = field(default="", compare=False)
    env_at: str = field(default="", compare=False)
    groups_at: tuple[str, ...] = field(default=(), compare=False)

    @property
    def abilities(self) -> tuple[str, ...]:
        return ROLES[self.role]


@dataclass(frozen=True)
class TeamConfig:
    path: str
    users: dict[str, str] = field(default_factory=dict)        # name -> password hash
    roles: dict[str, tuple[Grant, ...]] = field(default_factory=dict)  # name or "*" -> grants

    def grants_of(self, name: str) -> tuple[Grant, ...]:
        """The user's own grants, then those of "*" (anyone signed in)."""
        return self.roles.get(name, ()) + (self.roles.get(EVERYONE, ()) if name != EVERYONE else ())


@dataclass(frozen=True)
class _TeamCtx(Ctx):
    """yamlnodes' checks, with the team file's positions (FILE:LINE, exit 2 as a usage error)."""

    def fail(self, what: str, node: Node | None = None, key: str | None = None) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None else None
        raise UsageError(_located(self.file, line, key, what))


def _located(file: str, line: int | None, key: str | None, what: str) -> str:
    where = f"{file}:{line}" if line is not None else file
    return shorten(f"{where}: {key}: {what}" if key else f"{where}: {what}", 400)


def load_team(path: Path | str) -> TeamConfig:
    """Read and check the team file; the first problem is one line ``FILE:LINE: key: why`` (UsageError)."""
    name = str(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise UsageError(f"{name}: cannot read the team file ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise UsageError(f"{name}:{line}: not UTF-8 text; save the team file as UTF-8") from exc
    try:
        root = compose(text, name)
    except InventoryError as exc:
        raise UsageError(_located(name, exc.line, None, exc.what)) from exc
    ctx = _TeamCtx(name, os.path.dirname(os.path.abspath(name)))
    if root is None or is_null(root):
        raise UsageError(f"{name}: the team file is empty: give it roles: (docs/web.md, Roles)")
    if not isinstance(root, MappingNode):
        ctx.fail(f"must be a mapping with users: and roles:, got {describe(root)}", root)
    found = {k.value: (k, v) for k, v in known_pairs(ctx, root, "", ("users", "roles"))}
    users = _users(ctx, found["users"][1]) if "users" in found else {}
    if "roles" not in found or is_null(found["roles"][1]):
        node = found["roles"][0] if "roles" in found else root
        ctx.fail("no roles: give each user a role, e.g. roles: {alice: admin, \"*\": viewer}", node,
                 "roles" if "roles" in found else None)
    return TeamConfig(name, users, _roles(ctx, found["roles"][1]))


def _name(ctx: Ctx, node: ScalarNode, key: str, what: str) -> str:
    value = as_str(ctx, node, key)
    if not NAME.fullmatch(value):
        ctx.fail(f"must be a {what} without spaces or ':', got '{shorten(value)}'", node, join_key(key, value))
    return value


def _users(ctx: Ctx, node: Node) -> dict[str, str]:
    """``users:``: name -> {password: an argon2 hash}; a plain password is refused (never echoed)."""
    if is_null(node):
        return {}
    users: dict[str, str] = {}
    for knode, vnode in pairs(ctx, node, "users", what="user name"):
        name = _name(ctx, knode, "users", "user name")
        key = join_key("users", name)
        if name == EVERYONE:
            ctx.fail("'*' is not a user (it names anyone signed in, under roles:)", knode, key)
        if is_null(vnode) or (isinstance(vnode, MappingNode) and not vnode.value):
            ctx.fail(f"missing key 'password': make one with `herd web-passwd {name}`", knode, key)
        if not isinstance(vnode, MappingNode):
            ctx.fail(f"must be a mapping {{password: HASH}} (make the hash with `herd web-passwd {name}`), "
                     f"got {describe(vnode, echo=False)}", vnode, key)
        fields = {k.value: v for k, v in known_pairs(ctx, vnode, key, ("password",))}
        if "password" not in fields:
            ctx.fail(f"missing key 'password': make one with `herd web-passwd {name}`", knode, key)
        password = as_str(ctx, fields["password"], join_key(key, "password"), echo=False)
        if not HASH.fullmatch(password.strip()):
            ctx.fail(f"not a password hash: make one with `herd web-passwd {name}`", fields["password"],
                     join_key(key, "password"))
        users[name] = password.strip()
    return users


def _roles(ctx: Ctx, node: Node) -> dict[str, tuple[Grant, ...]]:
    """``roles:``: user name or "*" -> a role, a grant {role, groups, env}, or a list of them."""
    roles: dict[str, tuple[Grant, ...]] = {}
    for knode, vnode in pairs(ctx, node, "roles", what="user name"):
        name = _name(ctx, knode, "roles", "user name (or '*')")
        key = join_key("roles", name)
        if isinstance(vnode, SequenceNode):
            if not vnode.value:
                ctx.fail("must give at least one role (viewer, operator or admin)", vnode, key)
            grants = tuple(_grant(ctx, item, f"{key}[{i}]") for i, item in enumerate(vnode.value))
        else:
            grants = (_grant(ctx, vnode, key),)
        roles[name] = grants
    if not roles:
        ctx.fail("no roles: give each user a role, e.g. roles: {alice: admin, \"*\": viewer}", node, "roles")
    return roles


def _role(ctx: Ctx, node: Node, key: str) -> str:
    if not isinstance(node, ScalarNode):
        ctx.fail(f"must be one of {', '.join(ROLES)}, got {describe(node)}", node, key)
    value = as_str(ctx, node, key)
    if value not in ROLES:
        hint = did_you_mean(value, ROLES) or ""
        ctx.fail(f"must be one of {', '.join(ROLES)}, got '{shorten(value)}'{hint}", node, key)
    return value


def _grant(ctx: Ctx, node: Node, key: str) -> Grant:
    at = _at(ctx, node, key)
    if isinstance(node, ScalarNode):
        return Grant(_role(ctx, node, key), at=at)
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a role ({', '.join(ROLES)}), a grant {{role: operator, groups: [web], env: staging}} "
                 f"or a list of them, got {describe(node)}", node, key)
    fields = {k.value: (k, v) for k, v in known_pairs(ctx, node, key, GRANT_KEYS)}
    if "role" not in fields:
        ctx.fail(f"missing key 'role' ({', '.join(ROLES)})", node, key)
    role = _role(ctx, fields["role"][1], join_key(key, "role"))
    groups: tuple[str, ...] | None = None
    groups_at: tuple[str, ...] = ()
    if "groups" in fields:
        groups, groups_at = _groups(ctx, fields["groups"][1], join_key(key, "groups"))
    env, env_at = None, ""
    if "env" in fields:
        env_node, env_key = fields["env"][1], join_key(key, "env")
        if not isinstance(env_node, ScalarNode):
            ctx.fail(f"must be an environment name, got {describe(env_node)}", env_node, env_key)
        env, env_at = _name(ctx, env_node, env_key, "environment name"), _at(ctx, env_node, env_key)
    return Grant(role, groups, env, at=at, env_at=env_at, groups_at=groups_at)


def _groups(ctx: Ctx, node: Node, key: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A group name or a list of them (at least one: leave ``groups`` out for every host)."""
    if isinstance(node, ScalarNode) and not is_null(node):
        return (_name(ctx, node, key, "group name"),), (_at(ctx, node, key),)
    if not isinstance(node, SequenceNode):
        ctx.fail(f"must be a list of group names, e.g. [web, db], got {describe(node)}", node, key)
    if not node.value:
        ctx.fail("must name at least one group (leave groups out for every host)", node, key)
    names, where = [], []
    for i, item in enumerate(node.value):
        item_key = f"{key}[{i}]"
        if not isinstance(item, ScalarNode):
            ctx.fail(f"must be a group name, got {describe(item)}", item, item_key)
        names.append(_name(ctx, item, item_key, "group name"))
        where.append(_at(ctx, item, item_key))
    return tuple(names), tuple(where)


def _at(ctx: Ctx, node: Node, key: str) -> str:
    return f"{ctx.file}:{node.start_mark.line + 1}: {key}"


# -- against what is served ------------------------------------------------------------------------

def check_team(team: TeamConfig, envs: Mapping[str, "Inventory"]) -> None:
    """Refuse a grant naming an environment not served or a group in none of the inventories it covers.

    ``envs``: the environments served (``herd web --env NAME=INVENTORY``; ``default`` for -i alone) and
    their inventories.  A grant without ``env`` covers every environment: its groups must be in at least
    one of them (a group only staging has grants nothing in production, as intended).
    """
    for grants in team.roles.values():
        for grant in grants:
            if grant.env is not None and grant.env not in envs:
                raise UsageError(f"{grant.env_at}: no environment '{shorten(grant.env)}' is served"
                                 f"{_env_hint(grant.env, envs)}")
            covered = [envs[grant.env]] if grant.env is not None else list(envs.values())
            for group, at in zip(grant.groups or (), grant.groups_at or _blank(grant.groups)):
                if any(group in inventory.groups for inventory in covered):
                    continue
                known = sorted({g for inventory in covered for g in inventory.groups})
                where = f"inventory {covered[0].path}" if len(covered) == 1 else "any served inventory"
                hint = did_you_mean(group, known) or (f" (groups: {', '.join(known[:12])}"
                                                      f"{' ...' if len(known) > 12 else ''})" if known else
                                                      " (it has no groups)")
                raise UsageError(f"{at or team.path}: no group '{shorten(group)}' in {where}{hint}")


def _env_hint(name: str, envs: Mapping[str, object]) -> str:
    if list(envs) == ["default"]:
        return " (one inventory is served: name environments with herd web --env NAME=INVENTORY)"
    return did_you_mean(name, envs) or f" (environments: {', '.join(envs)})"


def _blank(items: Iterable[str] | None) -> tuple[str, ...]:
    return tuple("" for _ in (items or ()))
