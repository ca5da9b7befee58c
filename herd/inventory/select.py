"""Choose the hosts a command acts on, from --all-hosts, --group and --host.

Selectors union: ``-g web -H db01`` means web's hosts plus db01.  What is
selected are targets (herd/inventory/targets.py): a host with several
supervisords is selected whole by its name, or one supervisord at a time
(``-H web01/app``).  The result
always follows inventory order (the order of ``hosts:`` in the file), so
output is stable whatever order the selectors were given in.  A selector
that matches nothing is an error, not an empty run: a typo in ``-g wbe``
must not quietly do nothing (or, worse, look like success).
"""

from __future__ import annotations

import difflib
from fnmatch import fnmatchcase
from typing import Sequence

from herd.errors import UsageError
from herd.inventory.model import TARGET_SEPARATOR, Host, Inventory

NO_SELECTOR = ("this command changes things: choose hosts with --all-hosts, "
               "--group/-g NAME or --host/-H PATTERN")


def select_hosts(inventory: Inventory, *, all_hosts: bool, groups: Sequence[str],
                 patterns: Sequence[str], default_all: bool) -> list[Host]:
    """The selected hosts, in inventory order, without duplicates.

    ``default_all`` is for read-only commands (status): with no selector
    they act on every host.  Commands that change things pass False, so
    forgetting a selector is an error instead of a fleet-wide restart.
    """
    if not (all_hosts or groups or patterns):
        if default_all:
            return list(inventory.hosts)
        raise UsageError(NO_SELECTOR)
    chosen: set[str] = set(inventory.host_names) if all_hosts else set()
    for group in groups:
        chosen.update(_group_hosts(inventory, group))
    for pattern in patterns:
        chosen.update(_matching_hosts(inventory, pattern))
    return [host for host in inventory.hosts if host.name in chosen]


def _group_hosts(inventory: Inventory, group: str) -> tuple[str, ...]:
    """The hosts of ``group`` (a leading '@', as in the inventory, is accepted)."""
    name = group[1:] if group.startswith("@") else group
    if name not in inventory.groups:
        raise UsageError(f"unknown group '{name}'{_group_hint(inventory, name)}")
    members = inventory.groups[name]
    if not members:
        raise UsageError(f"group '{name}' has no hosts")
    return members


def _group_hint(inventory: Inventory, name: str) -> str:
    """Did-you-mean, or what exists, for a group name that is not defined."""
    close = difflib.get_close_matches(name, list(inventory.groups), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if name in inventory.host_names:
        return f" ('{name}' is a host: use --host/-H {name})"
    if not inventory.groups:
        return "; the inventory defines no groups"
    return f"; groups: {', '.join(inventory.groups)}"


def _matching_hosts(inventory: Inventory, pattern: str) -> list[str]:
    """Targets whose name, or whose host's name, matches a shell-style glob, case-sensitively.

    ``-H web01`` selects every supervisord of web01 (``web01/app``,
    ``web01/infra``), ``-H web01/app`` one of them, ``-H '*/app'`` the
    ``app`` of every host that names one (herd/inventory/targets.py).
    """
    matched = [host.name for host in inventory.hosts
               if fnmatchcase(host.name, pattern) or fnmatchcase(host.host_name, pattern)]
    if matched:
        return matched
    hint = ""
    names = list(dict.fromkeys([*inventory.host_names, *(h.host_name for h in inventory.hosts)]))
    host, sep, _ = pattern.partition(TARGET_SEPARATOR)
    if pattern in inventory.groups:
        hint = f" ('{pattern}' is a group: use --group/-g {pattern})"
    elif sep and host in inventory.host_names:
        hint = f" ({host} has one supervisord, not named: use -H {host})"
    elif not any(ch in pattern for ch in "*?["):
        close = difflib.get_close_matches(pattern, names, n=1, cutoff=0.6)
        if close:
            hint = f" (did you mean '{close[0]}'?)"
    raise UsageError(f"no host matches '{pattern}'{hint}")
