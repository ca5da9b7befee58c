"""Config changes across hosts with supervisorctl's semantics: reread, avail, update, add, remove, reload, shutdown.

- reread: ``reloadConfig`` reads the config files and reports added/changed/removed
  groups; it applies nothing (``avail``, ``add`` and ``update`` use what it read).
- update [GROUP...]: reread, then removed groups are stopped and removed, changed
  groups stopped, removed and re-added (the whole group bounces, as in
  supervisorctl), added groups added.  With GROUPs, only those.
- add / remove GROUP...: activate a group from the reread config / drop a stopped one.
- reload: supervisord restarts itself (every process with it); herd waits until it answers again.
- shutdown: supervisord exits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from herd.errors import Faults, HerdError, HostError, SupervisorFault
from herd.fleet import Fleet, HostAccess
from herd.operations import processes
from herd.operations.control import report
from herd.operations.outcomes import ActionReport, Outcome
from herd.supervisor.client import SupervisorClient

STATE_POLL = 0.2


@dataclass(frozen=True)
class ConfigDiff:
    added: list[str]
    changed: list[str]
    removed: list[str]

    def only(self, groups: Sequence[str]) -> "ConfigDiff":
        if not groups:
            return self
        keep = set(groups)
        return ConfigDiff([g for g in self.added if g in keep], [g for g in self.changed if g in keep],
                          [g for g in self.removed if g in keep])


def reread_diff(client: SupervisorClient) -> ConfigDiff:
    """reloadConfig: what the config files now say compared with what runs."""
    try:
        [[added, changed, removed]] = client.call("supervisor.reloadConfig")
    except SupervisorFault as fault:
        raise HerdError(processes.fault_sentence(fault)) from fault
    return ConfigDiff(list(added), list(changed), list(removed))


def reread(fleet: Fleet) -> ActionReport:
    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        try:
            diff = reread_diff(client)
        except HerdError as exc:
            return [Outcome("config", "reread", error=str(exc))]
        outcomes = [Outcome(g, "available", changed=False) for g in diff.added]
        outcomes += [Outcome(g, "changed", changed=False) for g in diff.changed]
        outcomes += [Outcome(g, "disappeared", changed=False) for g in diff.removed]
        return outcomes or [Outcome("config", "no config updates to processes", changed=False)]

    return report("reread", fleet.run(task))


def avail(fleet: Fleet) -> ActionReport:
    """Every configured process: in use or available, autostart, priorities."""

    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        return [_avail_line(info) for info in client.call("supervisor.getAllConfigInfo")]

    return report("avail", fleet.read(task), informational=True)


def _avail_line(info: dict[str, Any]) -> Outcome:
    name = info["name"] if info["name"] == info["group"] else f"{info['group']}:{info['name']}"
    state = "in use" if info.get("inuse") else "avail"
    start = "auto" if info.get("autostart") else "manual"
    return Outcome(name, state, changed=False,
                   detail=f"{start}  {info.get('group_prio', '')}:{info.get('process_prio', '')}")


def update(fleet: Fleet, groups: Sequence[str], *, dry_run: bool, wait_timeout: float) -> ActionReport:
    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        try:
            diff = reread_diff(client).only(groups)
        except HerdError as exc:
            return [Outcome("config", "reread", error=str(exc))]
        if dry_run:
            return _update_plan(diff, groups)
        outcomes = [_drop_group(client, g, wait_timeout, "removed process group") for g in diff.removed]
        for group in diff.changed:
            dropped = _drop_group(client, group, wait_timeout, "updated process group")
            outcomes.append(_add_group(client, group, "updated process group") if dropped.ok else dropped)
        outcomes += [_add_group(client, g, "added process group") for g in diff.added]
        unchanged = [g for g in groups if g not in diff.added + diff.changed + diff.removed]
        outcomes += [Outcome(g, "unchanged", changed=False) for g in unchanged]
        return outcomes or [Outcome("config", "no config updates to processes", changed=False)]

    return report("update", fleet.run(task), dry_run)


def _update_plan(diff: ConfigDiff, groups: Sequence[str]) -> list[Outcome]:
    plan = [Outcome(g, "would stop and remove", changed=False) for g in diff.removed]
    plan += [Outcome(g, "would stop, remove and re-add (changed)", changed=False) for g in diff.changed]
    plan += [Outcome(g, "would add", changed=False) for g in diff.added]
    plan += [Outcome(g, "unchanged", changed=False) for g in groups
             if g not in diff.added + diff.changed + diff.removed]
    return plan or [Outcome("config", "no config updates to processes", changed=False)]


def _drop_group(client: SupervisorClient, group: str, timeout: float, done: str) -> Outcome:
    """Stop every process of a group, then remove the group."""
    members = [i.fullname for i in client.all_process_info() if i.group == group]
    failed = [o for o in processes.stop(client, members, wait=True, timeout=timeout) if not o.ok]
    if failed:
        return Outcome(group, "stop", error=f"{failed[0].name}: {failed[0].error}")
    try:
        client.call("supervisor.removeProcessGroup", group)
    except SupervisorFault as fault:
        return Outcome(group, "remove", error=processes.fault_sentence(fault))
    return Outcome(group, done)


def _add_group(client: SupervisorClient, group: str, done: str) -> Outcome:
    try:
        client.call("supervisor.addProcessGroup", group)
    except SupervisorFault as fault:
        if fault.code == Faults.ALREADY_ADDED:
            return Outcome(group, "already active", changed=False)
        if fault.code == Faults.BAD_NAME:
            return Outcome(group, "add", error="not in supervisord's config (edit it, then run herd reread)")
        return Outcome(group, "add", error=processes.fault_sentence(fault))
    return Outcome(group, done)


def add(fleet: Fleet, groups: Sequence[str], *, dry_run: bool) -> ActionReport:
    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        if dry_run:
            return [Outcome(g, "would add", changed=False) for g in groups]
        return [_add_group(client, g, "added process group") for g in groups]

    return report("add", fleet.run(task), dry_run)


def remove(fleet: Fleet, groups: Sequence[str], *, dry_run: bool) -> ActionReport:
    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        if dry_run:
            return [Outcome(g, "would remove", changed=False) for g in groups]
        return [_remove_group(client, g) for g in groups]

    return report("remove", fleet.run(task), dry_run)


def _remove_group(client: SupervisorClient, group: str) -> Outcome:
    try:
        client.call("supervisor.removeProcessGroup", group)
    except SupervisorFault as fault:
        if fault.code == Faults.STILL_RUNNING:
            return Outcome(group, "remove", error=f"still running: stop it first (herd stop '{group}:*')")
        if fault.code == Faults.BAD_NAME:
            return Outcome(group, "remove", error="no such process group")
        return Outcome(group, "remove", error=processes.fault_sentence(fault))
    return Outcome(group, "removed process group")


def reload(fleet: Fleet, *, dry_run: bool, wait_timeout: float) -> ActionReport:
    """supervisord restarts itself (in place, same pid) and every process; wait until it is RUNNING again."""

    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        if dry_run:
            return [Outcome("supervisord", "would restart supervisord and all its processes", changed=False)]
        client.call("supervisor.restart")
        return [_await_supervisord(client, "reloaded", wait_timeout, until_gone=False)]

    return report("reload", fleet.run(task), dry_run)


def shutdown(fleet: Fleet, *, dry_run: bool, wait_timeout: float) -> ActionReport:
    """supervisord stops every process and exits; wait until it no longer answers."""

    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        if dry_run:
            return [Outcome("supervisord", "would shut down supervisord and all its processes", changed=False)]
        client.call("supervisor.shutdown")
        return [_await_supervisord(client, "shut down", wait_timeout, until_gone=True)]

    return report("shutdown", fleet.run(task), dry_run)


def _await_supervisord(client: SupervisorClient, done: str, timeout: float, *, until_gone: bool) -> Outcome:
    """Poll getState: until it stops answering (shutdown), or until RUNNING again (reload).

    supervisord reports RESTARTING/SHUTDOWN from the moment it accepted the
    request, and its socket disappears for a while during a reload.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            state = client.call("supervisor.getState").get("statename", "?")
        except HostError as exc:
            if until_gone:
                return Outcome("supervisord", done)
            last = exc.reason
        else:
            if state == "RUNNING" and not until_gone:
                return Outcome("supervisord", done)
            last = state
        time.sleep(STATE_POLL)
    goal = "stop" if until_gone else "come back"
    return Outcome("supervisord", done, error=f"did not {goal} within {timeout:g} s (last seen: {last})")


def versions(fleet: Fleet) -> ActionReport:
    """Each host's supervisord version and XML-RPC API version (which says 3.0 on every release)."""

    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        version = client.capabilities().version     # learnt once per connection (herd/supervisor/capabilities.py)
        api = client.call("supervisor.getAPIVersion")
        return [Outcome("supervisord", f"{version} (API {api})", changed=False)]

    return report("version", fleet.read(task), informational=True)
