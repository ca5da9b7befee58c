"""``herd inventory`` output: what herd resolved, as a table, JSON or a group graph.

Each host is shown with how herd would reach it (address, port, user, key,
jump host, become, supervisord's socket or URL), after ~/.ssh/config, as
:class:`~herd.ssh.config.SSHTarget` says.  Where a password comes from (an
environment variable name, a file path) may be shown; a password never is:
herd does not read one to draw this.  Names come from the inventory file,
and are still escaped for the terminal like anything else herd prints.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from herd.inventory.model import GroupNode, Host, Inventory
from herd.text import field as escape   # herd.text: the one place that makes text terminal-safe
from herd.render.table import format_table
from herd.ssh.config import DEFAULT_IDENTITIES, SSHTarget

HEADERS = ("HOST", "ADDRESS", "PORT", "USER", "KEY", "JUMP", "BECOME", "SUPERVISOR")


def group_tree(inventory: Inventory) -> dict[str, GroupNode]:
    """The group tree rooted at ``all``; built from the groups when the loader gave none.

    herd's own YAML has no ``all``: its top groups (those no group
    includes) hang under a drawn ``all``, with ``ungrouped`` for the hosts
    in no group, as Ansible draws an inventory.
    """
    tree = dict(inventory.tree)
    if "all" in tree:
        return tree
    included = {kid for node in tree.values() for kid in node.children}
    grouped = {h for members in inventory.groups.values() for h in members}
    tree["ungrouped"] = GroupNode(hosts=tuple(h for h in inventory.host_names if h not in grouped))
    tree["all"] = GroupNode(children=("ungrouped",) + tuple(g for g in tree if g not in included
                                                            and g not in ("ungrouped", "all")))
    return tree


def inventory_graph(inventory: Inventory, hosts: Iterable[str] | None = None) -> str:
    """Like ``ansible-inventory --graph``: ``@group:`` lines, children first, then hosts.

    With ``hosts`` (a selection), other hosts and the groups left without
    any selected host are not drawn.  Drawn from a list of what is left to
    draw, not by recursion: groups nest as deep as the inventory says.
    """
    tree = group_tree(inventory)
    chosen = set(inventory.host_names if hosts is None else hosts)
    shown = None if hosts is None else _groups_with(tree, chosen)
    lines: list[str] = []
    todo: list[tuple[bool, str, int]] = [(True, "all", 0)]    # (a group's line, or its hosts?), group, depth
    while todo:
        heading, name, depth = todo.pop()
        node = tree.get(name, GroupNode())
        if not heading:
            lines.extend(_indent(escape(h), depth + 1) for h in node.hosts if h in chosen)
            continue
        lines.append(_indent(f"@{escape(name)}:", depth))
        if name != "all":
            todo.append((False, name, depth))
        todo.extend((True, kid, depth + 1) for kid in reversed(node.children) if shown is None or kid in shown)
    return "\n".join(lines)


def _indent(text: str, depth: int) -> str:
    return "  |" * depth + "--" + text if depth else text


def _groups_with(tree: dict[str, GroupNode], chosen: set[str]) -> set[str]:
    """The groups with a chosen host, in them or below them: each group's parents walked once."""
    parents: dict[str, list[str]] = {}
    for name, node in tree.items():
        for kid in node.children:
            parents.setdefault(kid, []).append(name)
    found: set[str] = set()
    todo = [name for name, node in tree.items() if chosen.intersection(node.hosts)]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(parents.get(name, ()))
    return found


def _key(host: Host, target: SSHTarget, defaults: set[str]) -> str:
    """The key herd offers first; '-' when only OpenSSH's default keys (``defaults``) would be tried."""
    if host.identity_file:
        return host.identity_file
    configured = [path for path in target.identity_files if path not in defaults]
    return configured[0] if configured else "-"


def _become(host: Host) -> str:
    return (host.become_user or "root") if host.become else "-"


def _supervisor(host: Host) -> str:
    text = host.supervisor.endpoint
    return f"{text} (user {host.supervisor.username})" if host.supervisor.username else text


def inventory_table(inventory: Inventory, pairs: Sequence[tuple[Host, SSHTarget]]) -> str:
    """The hosts table, then each group with its (selected) hosts."""
    defaults = {os.path.expanduser(path) for path in DEFAULT_IDENTITIES}
    rows = [[escape(host.name), escape(target.hostname), str(target.port), escape(target.user),
             escape(_key(host, target, defaults)), escape(target.proxy_jump or "-"), escape(_become(host)),
             escape(_supervisor(host))] for host, target in pairs]
    lines = format_table(HEADERS, rows, color=False)
    chosen = {host.name for host, _ in pairs}
    groups = [[escape(name), ", ".join(escape(h) for h in members if h in chosen)]
              for name, members in inventory.groups.items() if chosen.intersection(members)]
    if groups:
        lines += [""] + format_table(("GROUP", "HOSTS"), groups, color=False)
    lines.append(f"{len(pairs)} host{'' if len(pairs) == 1 else 's'} from {escape(inventory.path)}")
    return "\n".join(lines)


def inventory_json(inventory: Inventory, pairs: Sequence[tuple[Host, SSHTarget]]) -> dict[str, Any]:
    """Everything the table shows, for scripts; group membership and the tree too."""
    chosen = {host.name for host, _ in pairs}
    groups_of: dict[str, list[str]] = {}       # host -> its groups, in the inventory's group order
    for name, members in inventory.groups.items():
        for member in members:
            if member in chosen:
                groups_of.setdefault(member, []).append(name)
    return {
        "inventory": inventory.path,
        "hosts": [_host_json(host, target, groups_of.get(host.name, [])) for host, target in pairs],
        "groups": {name: [h for h in members if h in chosen]
                   for name, members in inventory.groups.items()},
        "tree": tree_json(inventory, chosen),
    }


def tree_json(inventory: Inventory, chosen: set[str]) -> dict[str, Any]:
    """The group tree (``--graph -o json``): each group's children and its own hosts among ``chosen``."""
    return {name: {"children": list(node.children), "hosts": [h for h in node.hosts if h in chosen]}
            for name, node in group_tree(inventory).items()}


def _host_json(host: Host, target: SSHTarget, groups: list[str]) -> dict[str, Any]:
    sup = host.supervisor
    return {
        "name": host.name,
        "address": target.hostname,
        "port": target.port,
        "user": target.user,
        "identity_files": list(target.identity_files),
        "proxy_jump": target.proxy_jump,
        "known_hosts": host.known_hosts,
        "python": host.python,
        "become": host.become,
        "become_user": (host.become_user or "root") if host.become else None,
        "become_password_env": host.become_password_env,
        "become_password_file": host.become_password_file,
        "supervisor": {"socket": sup.socket, "url": sup.url, "username": sup.username,
                       "password_env": sup.password_env, "password_file": sup.password_file},
        "logs": dict(host.logs),
        "groups": groups,
    }
