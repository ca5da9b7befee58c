"""Hosts with several supervisords: one target per supervisord, named ``host/name``.

A host whose inventory entry has ``supervisors: {app: {...}, infra: {...}}``
becomes the targets ``web01/app`` and ``web01/infra``: everything downstream
(selection, the fleet, status tables, JSON, check, rolling plans, herd web,
the keeper) works on targets and shows their names, so nothing there needs
to know that two targets share a host.  Only the SSH connection is shared
(herd/fleet/session.py), and selectors match the host's name too (``-H
web01`` is all of web01's targets; herd/inventory/select.py).

Group members, ``expect`` keys and the group tree name hosts as written (or
a target, ``web01/app``); here each host name becomes its targets' names.
Both loaders (herd's YAML and Ansible's) end with :func:`expand`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Mapping

from herd.errors import InventoryError
from herd.inventory.model import TARGET_SEPARATOR, GroupNode, Host, Inventory

# A supervisord's name under ``supervisors``: it becomes part of a target's name.
SUPERVISOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
SUPERVISOR_NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit"


def target_names(host: Host) -> tuple[str, ...]:
    """The targets a host (as the loaders read it) becomes: its own name, or ``host/name`` for each supervisord."""
    if not host.supervisors:
        return (host.name,)
    return tuple(f"{host.name}{TARGET_SEPARATOR}{name}" for name in host.supervisors)


def split(host: Host) -> list[Host]:
    """One Host per supervisord of ``host`` (itself when it has one)."""
    if not host.supervisors:
        return [host]
    return [replace(host, name=name, supervisor=target, supervisors={}, supervisor_name=sup)
            for name, (sup, target) in zip(target_names(host), host.supervisors.items())]


def expand(inventory: Inventory) -> Inventory:
    """The inventory with each host split into its targets, and names in groups and ``expect`` resolved to targets.

    A target named like another host (``web01/app`` written as a host of its
    own, say) is refused: names must say one thing.
    """
    if not any(host.supervisors for host in inventory.hosts):
        return inventory
    targets: list[Host] = []
    names: dict[str, tuple[str, ...]] = {}   # a host or target name as written -> the targets' names
    where: dict[str, Host] = {}
    for host in inventory.hosts:
        for target in split(host):
            if target.name in where:
                other = where[target.name]
                raise InventoryError(f"'{target.name}' names both a host (line {other.line}) and a "
                                     f"supervisord of {host.name} (line {host.line}); rename one",
                                     file=inventory.path, line=host.line)
            where[target.name] = target
            targets.append(target)
            names[target.name] = (target.name,)
        names[host.name] = target_names(host)
    order = {target.name: index for index, target in enumerate(targets)}

    def resolve(members: tuple[str, ...]) -> tuple[str, ...]:
        found = {t for m in members for t in names.get(m, (m,))}
        return tuple(sorted(found, key=lambda n: order.get(n, len(order))))

    return replace(
        inventory,
        hosts=tuple(targets),
        groups={g: resolve(members) for g, members in inventory.groups.items()},
        expect={k: replace(e, hosts=resolve(e.hosts)) for k, e in inventory.expect.items()},
        tree=_tree(inventory.tree, names),
    )


def _tree(tree: Mapping[str, GroupNode], names: Mapping[str, tuple[str, ...]]) -> dict[str, GroupNode]:
    return {group: replace(node, hosts=tuple(t for h in node.hosts for t in names.get(h, (h,))))
            for group, node in tree.items()}
