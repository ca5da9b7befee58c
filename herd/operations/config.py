"""Config changes across hosts with supervisorctl's semantics: reread, avail, update, add, remove, reload, shutdown.

- reread: ``reloadConfig`` reads the config files and reports added/changed/removed
  groups.  It starts and stops nothing, but it is not purely read-only: it
  *stages* what it read (supervisord keeps it as its config), so a later
  ``add``/``update`` by anyone applies what the last reread saw, and ``avail``
  shows it.  A file that no longer parses is refused (CANT_REREAD) and the
  last config read stays staged; supervisord would fail at its next start.
- pending: the reread of every host as one fleet view (one call per host).
- update [GROUP...]: reread, then removed groups are stopped and removed, changed
  groups stopped, removed and re-added (the whole group bounces, as in
  supervisorctl), added groups added.  With GROUPs, only those: a name no
  selected host knows is refused before anything is touched.  What it started
  is waited for until RUNNING (BACKOFF/FATAL at the deadline: a failure).
  Ctrl-C / SIGTERM while it acts: each host finishes the group in flight, for
  at most FINISH_STEP seconds (a changed group already removed is added back;
  one stopped but not yet removed is started again, on the config it ran),
  touches no other group and waits for nothing; the report names, per host,
  what was left removed or stopped (``UpdateReport.left_groups``).
- add / remove GROUP...: activate a group from the reread config / drop a stopped one.
- reload: supervisord restarts itself (every process with it); herd waits until it answers again.
- shutdown: supervisord exits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from herd.errors import Faults, HerdError, HostError, SupervisorFault, UsageError
from herd.fleet import Fleet, HostAccess, HostResult, Interrupted
from herd.operations import control, processes
from herd.operations.control import report
from herd.operations.outcomes import ActionReport, Outcome
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessInfo, ProcessState
from herd.supervisor.names import did_you_mean

STATE_POLL = 0.2
FINISH_STEP = control.FINISH_STEP   # seconds a Ctrl-C gives each host to finish its group in flight


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


@dataclass(frozen=True)
class HostConfig:
    """One host's reread: what it would change (None when its config does not parse), and its active groups."""

    diff: ConfigDiff | None
    sizes: dict[str, int]          # active group -> how many processes it has
    broken: str | None = None      # the parse error, when the config files no longer parse
    processes: tuple[ProcessInfo, ...] = ()        # what runs (read with ``sizes``)
    staged: tuple[dict[str, Any], ...] = ()        # getAllConfigInfo after the reread (read with ``staged``)
    refused: str | None = None     # reloadConfig answered another fault (``tolerant`` reads only): why

    def knows(self, group: str) -> bool:
        diff = self.diff or ConfigDiff([], [], [])
        return group in self.sizes or group in diff.added + diff.changed + diff.removed


def read_host_config(client: SupervisorClient, *, sizes: bool, staged: bool = False,
                     tolerant: bool = False) -> HostConfig:
    """reloadConfig; with ``sizes``, getAllProcessInfo first (what runs, the group sizes); with ``staged``,
    getAllConfigInfo after it (the processes the reread config would run).  CANT_REREAD is a result; so
    is any other fault with ``tolerant`` (``refused``: a caller for whom the reread is advisory)."""
    counts: dict[str, int] = {}
    infos = tuple(client.all_process_info()) if sizes else ()
    for info in infos:
        counts[info.group] = counts.get(info.group, 0) + 1
    try:
        [[added, changed, removed]] = client.call("supervisor.reloadConfig")
    except SupervisorFault as fault:
        if fault.code != Faults.CANT_REREAD and tolerant:
            return HostConfig(None, counts, None, infos, refused=processes.fault_sentence(fault))
        if fault.code != Faults.CANT_REREAD:
            raise HerdError(processes.fault_sentence(fault)) from fault
        return HostConfig(None, counts, fault.text.partition(":")[2].strip() or fault.text, infos)
    configs = tuple(client.call("supervisor.getAllConfigInfo")) if staged else ()
    return HostConfig(ConfigDiff(list(added), list(changed), list(removed)), counts, None, infos, configs)


def pending(fleet: Fleet) -> list[HostResult[HostConfig]]:
    """Every host's pending config (one reloadConfig each, within the read budget): see module docstring."""
    return fleet.read(lambda access: read_host_config(access.client(), sizes=False))


@dataclass
class UpdatePlan:
    """What update would do, read from every host before anything is touched."""

    groups: tuple[str, ...]
    hosts: list[HostResult[HostConfig]]

    def diff(self, host: str) -> ConfigDiff | None:
        for result in self.hosts:
            if result.name == host and result.value is not None and result.value.diff is not None:
                return result.value.diff.only(self.groups)
        return None

    def bounces(self) -> list[tuple[str, str, int]]:
        """(host, group, processes) for every changed group of more than one process: it bounces as a whole."""
        found = []
        for result in self.hosts:
            diff = self.diff(result.name)
            if diff is None or result.value is None:
                continue
            found += [(result.name, g, result.value.sizes.get(g, 0)) for g in diff.changed
                      if result.value.sizes.get(g, 0) > 1]
        return found


def bounce_warning(host: str, group: str, size: int) -> str:
    """``web02: tornado changed: all 4 processes are stopped and started at once (...)``."""
    return (f"{host}: {group} changed: all {size} processes are stopped and started at once "
            f"(supervisord bounces a changed group as a whole)")


def plan_update(fleet: Fleet, groups: Sequence[str]) -> UpdatePlan:
    """Reread every host and refuse GROUP names no reachable host knows (nothing touched yet)."""
    hosts = fleet.run(lambda access: read_host_config(access.client(), sizes=True))
    check_groups_exist(hosts, groups)
    return UpdatePlan(tuple(groups), hosts)


def check_groups_exist(hosts: Sequence[HostResult[HostConfig]], groups: Sequence[str]) -> None:
    """A GROUP that is on no host that answered (active, added, changed or removed) is a typo: UsageError."""
    read = [r.value for r in hosts if r.ok and r.value is not None and r.value.diff is not None]
    if not read:
        return
    known = sorted({g for c in read for g in c.sizes} | {g for c in read if c.diff
                                                           for g in c.diff.added + c.diff.changed})
    refuse_unknown([g for g in groups if not any(c.knows(g) for c in read)], known,
                   "no such group in supervisord's config on any selected host")


def refuse_unknown(unknown: Sequence[str], known: Sequence[str], what: str) -> None:
    """UsageError ``WHAT: name (did you mean 'x'?), ...`` when a name is unknown; one line."""
    if unknown:
        raise UsageError(f"{what}: " + ", ".join(f"{g}{did_you_mean(g, known)}" for g in unknown))


def _refuse_unknown_on(fleet: Fleet, read: Callable[[SupervisorClient], set[str]], groups: Sequence[str],
                       what: str) -> None:
    """Read every host (``read(client)`` -> its group names) and refuse GROUPs none of the answering hosts has.

    Nothing is touched yet; hosts that do not answer are left to the command itself to report.
    """
    found = [r.value for r in fleet.run(lambda access: read(access.client())) if r.ok and r.value is not None]
    if not found:
        return
    known = sorted(set().union(*found))
    refuse_unknown([g for g in groups if g not in known], known, what)


def _staged_groups(client: SupervisorClient) -> set[str]:
    """The groups of the config supervisord last read (what addProcessGroup can add): getAllConfigInfo."""
    return {c["group"] for c in client.call("supervisor.getAllConfigInfo")}


def _active_groups(client: SupervisorClient) -> set[str]:
    return {i.group for i in client.all_process_info()}


@dataclass
class UpdateStep:
    """One host's update as it goes: the fleet's interrupt flag, and the groups herd has taken down.

    ``stopped``: groups herd is stopping or has stopped, neither removed nor
    started again; ``removed``: changed groups herd removed and has not added
    back.  Both are empty when the host's update ended cleanly.
    """

    interrupted: threading.Event
    stopped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass
class LeftGroups:
    """Groups a Ctrl-C left down on one host: removed (``herd add`` brings them back) or stopped (``herd update``).

    ``certain`` is False when the host had not ended its step by the time herd stopped waiting.
    """

    host: str
    removed: list[str]
    stopped: list[str]
    certain: bool = True


@dataclass
class UpdateReport(ActionReport):
    """update's report: an ActionReport, and after a Ctrl-C the groups left down per host."""

    left_groups: list[LeftGroups] = field(default_factory=list)


INTERRUPTED_FIRST = "left as it was (interrupted)"


def update(fleet: Fleet, groups: Sequence[str], *, dry_run: bool, wait_timeout: float,
           plan: UpdatePlan | None = None) -> UpdateReport:
    """Plan (unless given one the user has seen), then apply it on every host that read its config.

    A Ctrl-C while applying: see the module's docstring; the report is marked interrupted.
    """
    plan = plan or plan_update(fleet, groups)
    if dry_run:
        return _update_report(report("update", [_plan_result(r, plan) for r in plan.hosts], dry_run))
    readable = [r.host for r in plan.hosts if r.ok and r.value is not None and r.value.diff is not None]
    steps = {host.name: UpdateStep(fleet.interrupted) for host in readable}

    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        diff = plan.diff(access.host.name) or ConfigDiff([], [], [])
        outcomes = _apply(client, diff, wait_timeout, steps[access.host.name])
        outcomes += [_not_in_diff(g, plan, access.host.name) for g in groups
                     if g not in diff.added + diff.changed + diff.removed]
        return outcomes or [Outcome("config", "no config updates to processes", changed=False)]

    try:
        acted, interrupted = {r.name: r for r in fleet.run(task, hosts=readable, finish=FINISH_STEP)}, False
    except Interrupted as stop:
        acted, interrupted = {r.name: r for r in stop.results}, True
    done = _update_report(report("update", [acted.get(r.name) or _plan_result(r, plan) for r in plan.hosts]))
    if interrupted:
        done.interrupted = True
        done.left_groups = [LeftGroups(name, list(step.removed), list(step.stopped),
                                       certain=acted[name].error is None)
                            for name, step in steps.items() if (step.removed or step.stopped) and name in acted]
    return done


def _update_report(plain: ActionReport) -> UpdateReport:
    return UpdateReport(plain.action, plain.hosts, plain.dry_run, plain.informational)


def _apply(client: SupervisorClient, diff: ConfigDiff, wait_timeout: float, step: UpdateStep) -> list[Outcome]:
    """Removed groups, then changed, then added, one at a time; after a Ctrl-C none more, and no waiting."""
    todo = [(g, _remove_removed) for g in diff.removed] + [(g, _update_changed) for g in diff.changed]
    todo += [(g, _add_added) for g in diff.added]
    outcomes = []
    for group, apply in todo:
        if step.interrupted.is_set():
            outcomes.append(Outcome(group, INTERRUPTED_FIRST, changed=False))
        else:
            outcomes.append(apply(client, group, wait_timeout, step))
    started = [o.name for o in outcomes if o.ok and o.result in ("updated process group", "added process group")]
    return outcomes + await_groups(client, started, wait_timeout, step.interrupted)


def _remove_removed(client: SupervisorClient, group: str, timeout: float, step: UpdateStep) -> Outcome:
    return _drop_group(client, group, timeout, "removed process group", step)


def _update_changed(client: SupervisorClient, group: str, timeout: float, step: UpdateStep) -> Outcome:
    """Stop, remove, add again: once removed, the group is added back even after a Ctrl-C (the step in flight)."""
    dropped = _drop_group(client, group, timeout, "updated process group", step)
    if not dropped.ok or dropped.result != "updated process group":
        return dropped
    step.removed.append(group)
    added = _add_group(client, group, "updated process group")
    if added.ok:
        step.removed.remove(group)
    return added


def _add_added(client: SupervisorClient, group: str, timeout: float, step: UpdateStep) -> Outcome:
    return _add_group(client, group, "added process group")


def _plan_result(result: HostResult[HostConfig], plan: UpdatePlan) -> HostResult[list[Outcome]]:
    """A host's dry-run lines, or the reason it was not updated (unreachable, config does not parse)."""
    if result.error is not None or result.value is None:
        return HostResult(result.host, error=result.error)
    if result.value.diff is None:
        return HostResult(result.host, [Outcome("config", "reread", error=cant_reread(result.value.broken))])
    return HostResult(result.host, _update_plan(plan.diff(result.name) or ConfigDiff([], [], []), plan.groups,
                                                result.value))


def cant_reread(why: str | None) -> str:
    """The one line for a config that no longer parses (supervisord's CANT_REREAD)."""
    return (f"config does not parse, so supervisord would fail at its next start (it runs on the last config "
            f"it read): {why}")


def _not_in_diff(group: str, plan: UpdatePlan, host: str) -> Outcome:
    config = next((r.value for r in plan.hosts if r.name == host), None)
    if config is not None and not config.knows(group):
        return Outcome(group, "not in this host's config", changed=False)
    return Outcome(group, "unchanged", changed=False)


def _update_plan(diff: ConfigDiff, groups: Sequence[str], config: HostConfig) -> list[Outcome]:
    plan = [Outcome(g, "would stop and remove", changed=False) for g in diff.removed]
    plan += [Outcome(g, "would stop, remove and re-add (changed)", changed=False) for g in diff.changed]
    plan += [Outcome(g, "would add", changed=False) for g in diff.added]
    plan += [Outcome(g, "unchanged" if config.knows(g) else "not in this host's config", changed=False)
             for g in groups if g not in diff.added + diff.changed + diff.removed]
    return plan or [Outcome("config", "no config updates to processes", changed=False)]


def await_groups(client: SupervisorClient, groups: Sequence[str], timeout: float,
                 interrupted: threading.Event | None = None) -> list[Outcome]:
    """Wait until every autostart process of ``groups`` is RUNNING; one failure line per process that is not.

    supervisord starts an added group's autostart processes on its next turn
    (addProcessGroup returns before), so STOPPED is "not yet" for them.  A
    process seen EXITED got past RUNNING (startsecs) first: it started.
    Once ``interrupted`` is set (Ctrl-C) it stops waiting: what failed so far is said.
    """
    if not groups or (interrupted is not None and interrupted.is_set()):
        return []
    wanted = set(groups)
    names = [c["name"] if c["name"] == c["group"] else f"{c['group']}:{c['name']}"    # as ProcessInfo.fullname
             for c in client.call("supervisor.getAllConfigInfo") if c.get("group") in wanted and c.get("autostart")]
    deadline = time.monotonic() + timeout
    failed: dict[str, str] = {}
    waiting = set(names)
    while waiting:
        infos = {i.fullname: i for i in client.all_process_info()}
        late = time.monotonic() >= deadline
        for name in list(waiting):
            verdict = _settled(infos.get(name), late, timeout, client.host)
            if verdict is not None:
                waiting.discard(name)
                if verdict:
                    failed[name] = verdict
        if waiting and interrupted is not None and interrupted.wait(STATE_POLL):
            break
        if waiting and interrupted is None:
            time.sleep(STATE_POLL)
    return [Outcome(n, "start", error=failed[n]) for n in names if n in failed]


def _settled(info: ProcessInfo | None, late: bool, timeout: float, host: str) -> str | None:
    """"" when started, an error sentence when it failed (or is still not RUNNING at the deadline), None: wait."""
    if info is None:
        return "disappeared from supervisord"
    if info.state in (ProcessState.RUNNING, ProcessState.EXITED):
        return ""
    if info.state is ProcessState.FATAL:
        return f"FATAL: {info.spawnerr or 'exited too quickly'} {processes.log_hint(info.fullname, host)}"
    if info.state is ProcessState.UNKNOWN:
        return processes.UNKNOWN_SENTENCE
    if not late:
        return None
    if info.state is ProcessState.BACKOFF:
        return f"{processes.backoff_sentence(info)}; not RUNNING after {timeout:g} s"
    return f"not RUNNING after {timeout:g} s ({info.statename})"


def _drop_group(client: SupervisorClient, group: str, timeout: float, done: str,
                step: UpdateStep | None = None) -> Outcome:
    """Stop every process of a group, then remove the group.

    With a ``step``: a Ctrl-C that came while the group was stopping starts
    again what herd stopped instead of removing it (the group stays on the
    config it ran); the step records the group while it is down.
    """
    members = [i.fullname for i in client.all_process_info() if i.group == group]
    step = step or UpdateStep(threading.Event())
    step.stopped.append(group)
    stopped = processes.stop(client, members, wait=True, timeout=timeout)
    failed = [o for o in stopped if not o.ok]
    if failed:
        return Outcome(group, "stop", error=f"{failed[0].name}: {failed[0].error}")
    if step.interrupted.is_set():
        return _start_again(client, group, [o.name for o in stopped if o.changed], timeout, step, done)
    try:
        client.call("supervisor.removeProcessGroup", group)
    except SupervisorFault as fault:
        return Outcome(group, "remove", error=processes.fault_sentence(fault))
    step.stopped.remove(group)
    return Outcome(group, done)


def _start_again(client: SupervisorClient, group: str, names: list[str], timeout: float, step: UpdateStep,
                 done: str) -> Outcome:
    """After a Ctrl-C: start what herd stopped of a group it had not removed yet (not waited for)."""
    what = "updated" if done == "updated process group" else "removed"
    failed = [o for o in processes.start(client, names, wait=False, timeout=timeout) if not o.ok]
    if failed:
        return Outcome(group, "start again", error=f"{failed[0].name}: {failed[0].error}")
    step.stopped.remove(group)
    return Outcome(group, f"started again, not {what} (interrupted)")


def _add_group(client: SupervisorClient, group: str, done: str) -> Outcome:
    try:
        client.call("supervisor.addProcessGroup", group)
    except SupervisorFault as fault:
        if fault.code == Faults.ALREADY_ADDED:
            return Outcome(group, "already active", changed=False)
        if fault.code == Faults.BAD_NAME:
            hint = did_you_mean(group, sorted({c["group"] for c in client.call("supervisor.getAllConfigInfo")}))
            return Outcome(group, "add", error=f"not in supervisord's config (edit it, then run herd reread){hint}")
        return Outcome(group, "add", error=processes.fault_sentence(fault))
    return Outcome(group, done)


def add(fleet: Fleet, groups: Sequence[str], *, dry_run: bool, wait_timeout: float = 60.0) -> ActionReport:
    """addProcessGroup for each GROUP, then wait until what supervisord starts of them is RUNNING.

    A GROUP in no selected host's config (as last reread) is refused first (UsageError), nothing touched.
    """
    _refuse_unknown_on(fleet, _staged_groups, groups,
                  "no such group in supervisord's config (as last reread) on any selected host")

    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        if dry_run:
            return [Outcome(g, "would add", changed=False) for g in groups]
        outcomes = [_add_group(client, g, "added process group") for g in groups]
        added = [o.name for o in outcomes if o.ok and o.changed]
        return outcomes + await_groups(client, added, wait_timeout)

    return report("add", fleet.run(task), dry_run)


def remove(fleet: Fleet, groups: Sequence[str], *, dry_run: bool) -> ActionReport:
    """removeProcessGroup for each GROUP; one active on no selected host is refused first (UsageError)."""
    _refuse_unknown_on(fleet, _active_groups, groups, "no such active process group on any selected host")

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
            hint = did_you_mean(group, sorted({i.group for i in client.all_process_info()}))
            return Outcome(group, "remove", error=f"no such process group{hint}")
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
