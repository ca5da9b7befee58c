"""The groups, hosts and variables of an Ansible inventory, and Ansible's precedence.

The INI and YAML readers (ansible_ini.py, ansible_yaml.py) feed a
:class:`Tree` the way Ansible's inventory plugins feed its InventoryData:
add a group, add a host to a group, make a group a child of another, set a
variable on a group or a host.  :meth:`Tree.finish` then applies Ansible's
reconciliation (every group under ``all``; hosts in no group go to
``ungrouped``; ``ungrouped`` keeps only those) and :meth:`Tree.host_vars`
merges a host's variables in Ansible's order (VARIABLE_PRECEDENCE's
default)::

    all's inventory vars
    < the host's groups' inventory vars, by (depth, ansible_group_priority, name)
    < group_vars/all
    < group_vars/<group> for the same groups, in the same order
    < the host's inventory vars
    < host_vars/<host>

Every value keeps where it was written (:class:`Var`), so an error about it
names that file and line, and so two settings herd treats as exclusive can
be told apart by how strongly they were set (:attr:`Var.rank`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from herd.errors import InventoryError

__all__ = ["Tree", "Var", "Where"]


@dataclass(frozen=True)
class Where:
    """A file and a 1-based line (None when the whole file is meant)."""

    file: str
    line: int | None = None

    def fail(self, what: str, key: str | None = None) -> InventoryError:
        return InventoryError(what, file=self.file, line=self.line, key=key)


@dataclass(frozen=True)
class Var:
    """One variable's value and where it was set.

    ``unsafe`` marks YAML ``!unsafe`` values, which Ansible never templates;
    ``vault`` marks ``!vault`` values, which herd cannot decrypt.  ``rank``
    is filled in by :meth:`Tree.host_vars`: the position of the source (one
    group's vars, one file...) in the precedence order, higher wins.
    """

    value: Any
    where: Where
    unsafe: bool = False
    vault: bool = False
    rank: int = 0


@dataclass
class Group:
    """A group as written: its own hosts and child groups, in the order first seen."""

    name: str
    where: Where
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Var] = field(default_factory=dict)
    priority: int = 1
    depth: int = 0
    members: set[str] = field(default_factory=set, repr=False)    # ``hosts`` as a set


@dataclass
class AHost:
    """A host as written: the groups that name it directly and its own variables."""

    name: str
    where: Where
    groups: list[str] = field(default_factory=list)
    vars: dict[str, Var] = field(default_factory=dict)


# Sources of group_vars/ and host_vars/ files: entity name -> variables.
VarsFiles = Callable[[str, str], dict[str, Var]]


class Tree:
    """An Ansible inventory being built; group and host names in the order first seen."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, AHost] = {}
        self.add_group("all", Where("<built-in>"))
        self.add_group("ungrouped", Where("<built-in>"))
        self.add_child("all", "ungrouped", Where("<built-in>"))

    # -- building --------------------------------------------------------

    def add_group(self, name: str, where: Where) -> Group:
        if not name:
            raise where.fail("a group name must not be empty")
        if name not in self.groups:
            self.groups[name] = Group(name, where)
        return self.groups[name]

    def add_host(self, name: str, group: str, where: Where, port: int | None = None) -> AHost:
        """Add ``name`` to ``group``; a port from ``host:PORT`` only counts on first sight."""
        if not name:
            raise where.fail("a host name must not be empty")
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = AHost(name, where)
            if port is not None:
                host.vars["ansible_port"] = Var(port, where)
        target = self.groups[group]
        if name not in target.members:
            target.members.add(name)
            target.hosts.append(name)
            host.groups.append(group)
        return host

    def add_child(self, parent: str, child: str, where: Where) -> None:
        """Make group ``child`` a child of ``parent``; a cycle is an error here."""
        if child == parent:
            raise where.fail(f"group '{child}' cannot be a child of itself")
        path = self._path(child, parent)
        if path is not None:
            cycle = " -> ".join([parent] + path)
            raise where.fail(f"group cycle: {cycle}")
        group = self.groups[parent]
        if child not in group.children:
            group.children.append(child)
            self.groups[child].parents.append(parent)

    def _path(self, start: str, goal: str) -> list[str] | None:
        """A chain of children from ``start`` down to ``goal``, or None (depth first, first child first).

        Each group reached keeps the group it was reached from, and the
        chain is read back from ``goal``: no list copied per step, so a
        deep tree costs its size, not its size times its depth.
        """
        stack: list[tuple[str, str | None]] = [(start, None)]
        came: dict[str, str | None] = {}
        while stack:
            name, parent = stack.pop()
            if name in came:
                continue
            came[name] = parent
            if name == goal:
                path = [name]
                while came[path[-1]] is not None:
                    path.append(came[path[-1]])  # type: ignore[arg-type]  # not None: checked
                return path[::-1]
            stack.extend((kid, name) for kid in reversed(self.groups[name].children))
        return None

    def set_group_var(self, group: str, name: str, var: Var) -> None:
        if name == "ansible_group_priority":   # Ansible keeps it out of the variables
            self.groups[group].priority = _priority(var)
            return
        self.groups[group].vars[name] = var

    def set_host_var(self, host: str, name: str, var: Var) -> None:
        self.hosts[host].vars[name] = var

    # -- reconciling -----------------------------------------------------

    def finish(self) -> None:
        """Ansible's reconciliation, then group depths."""
        builtin = Where("<built-in>")
        for name, group in list(self.groups.items()):
            if name != "all" and not group.parents:
                self.add_child("all", name, builtin)
        ungrouped = self.groups["ungrouped"]
        leaving: set[str] = set()
        for host in self.hosts.values():
            others = self.ancestors(host) - {"all", "ungrouped"}
            if "ungrouped" in host.groups and others:
                leaving.add(host.name)
                host.groups.remove("ungrouped")
            elif not others and "ungrouped" not in host.groups:
                self.add_host(host.name, "ungrouped", host.where)
        if leaving:                 # one pass, not a list.remove per host
            ungrouped.hosts = [h for h in ungrouped.hosts if h not in leaving]
            ungrouped.members -= leaving
        self._depths()

    def _depths(self) -> None:
        """Depth: the longest chain of children from ``all`` (all is 0).

        Groups are taken parents before children (Kahn's order; the tree
        has no cycle, add_child refuses them), without recursion: nesting
        as deep as an inventory cares to go is fine.
        """
        waiting = {name: len(group.parents) for name, group in self.groups.items()}
        ready = [name for name, count in waiting.items() if count == 0]
        while ready:
            group = self.groups[ready.pop()]
            for kid in group.children:
                child = self.groups[kid]
                child.depth = max(child.depth, group.depth + 1)
                waiting[kid] -= 1
                if waiting[kid] == 0:
                    ready.append(kid)

    def ancestors(self, host: AHost) -> set[str]:
        """Every group ``host`` belongs to, directly or through children."""
        found: set[str] = set()
        todo = list(host.groups)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.groups[name].parents)
        return found

    def members(self, kept: set[str] | None = None) -> dict[str, list[str]]:
        """Every group's hosts with those of its descendants, in inventory order.

        One walk up from each host (its ancestors), not one scan of every
        host per group: linear in hosts times their groups.  ``kept``
        limits the hosts to those named.
        """
        found: dict[str, list[str]] = {name: [] for name in self.groups}
        for name, host in self.hosts.items():
            if kept is None or name in kept:
                for group in self.ancestors(host):
                    found[group].append(name)
        return found

    # -- precedence ------------------------------------------------------

    def host_vars(self, name: str, group_files: VarsFiles | None = None,
                  host_files: VarsFiles | None = None) -> dict[str, Var]:
        """The host's variables merged in Ansible's precedence order."""
        host = self.hosts[name]
        groups = sorted((self.groups[g] for g in self.ancestors(host) if g != "all"),
                        key=lambda g: (g.depth, g.priority, g.name))
        sources: list[dict[str, Var]] = [self.groups["all"].vars]
        sources += [group.vars for group in groups]
        if group_files is not None:
            sources.append(group_files("group_vars", "all"))
            sources += [group_files("group_vars", group.name) for group in groups]
        sources.append(host.vars)
        if host_files is not None:
            sources.append(host_files("host_vars", name))
        merged: dict[str, Var] = {}
        for rank, source in enumerate(sources):
            for key, var in source.items():
                merged[key] = Var(var.value, var.where, var.unsafe, var.vault, rank)
        return merged


def _priority(var: Var) -> int:
    try:
        return int(var.value)
    except (TypeError, ValueError) as exc:
        raise var.where.fail(f"must be an integer, got {var.value!r}",
                             "ansible_group_priority") from exc
