"""A rolling update's step on one host: apply one group's pending config, behind the health gate.

supervisord cannot change a running group's config: ``herd update`` and
``supervisorctl update`` stop the whole group, remove it and add it again.
The rolling update does the same, one host (batch) at a time, and then
holds every process of the new config to the roll's gate (RUNNING, same
pid for --min-healthy, the probe), so a bad config halts the roll after
its first host.  Each process is stopped once and started once, on the
new config.

Interrupts (Ctrl-C, SIGTERM) never leave a group half-applied: a group
whose processes were stopped is always added again and waited for up to
RUNNING (the later gate phases are skipped), as the restart roll starts
again what it stopped.  What cannot be undone is said in the result: a
group that supervisord refused to add again is not on the host any more.
"""

from __future__ import annotations

import threading
from herd.errors import Faults, HerdError, HostError, SupervisorFault, UnexpectedError
from herd.fleet import HostAccess, in_parallel
from herd.operations import processes
from herd.operations.rolling.gate import GateSpec, Phase, ProcessResult, gate_started
from herd.operations.rolling.plan import GroupChange
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessState


def apply_change(host: HostAccess, change: GroupChange, spec: GateSpec, values: dict[str, str],
                 interrupted: threading.Event, on_phase: Phase) -> list[ProcessResult]:
    """One result per process of ``change.processes``; never raises for a process's or group's own failure."""
    client = host.client()
    pids = {i.fullname: i.pid for i in client.all_process_info() if i.group == change.group}
    if change.kind != "added":
        failed = _drop(client, change, spec.timeout_healthy, on_phase)
        if failed:
            return failed
    gone = [ProcessResult(n, ok=True, phase="done", old_pid=pids.get(n, 0),
                          detail="stopped and removed" + (" with its group" if change.kind == "removed" else
                                                          " (not in the new config)"))
            for n in change.before if change.kind == "removed" or n not in change.after]
    if change.kind == "removed":
        return gone
    refused = _add(client, change, host.name)
    if refused is not None:
        return gone + refused
    return gone + _gate_all(host, change, spec, values, interrupted, on_phase, pids)


def _drop(client: SupervisorClient, change: GroupChange, timeout: float, on_phase: Phase) -> list[ProcessResult]:
    """Stop the group's processes together, then remove it; on failure, start again what was stopped."""
    members = list(change.before)
    for name in members:
        on_phase(name, "stopping (with its group)")
    outcomes = processes.stop(client, members, wait=True, timeout=timeout)
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        try:
            client.call("supervisor.removeProcessGroup", change.group)
            return []
        except SupervisorFault as fault:
            failed_detail = f"removing {change.group} refused: {processes.fault_sentence(fault)}"
    else:
        failed_detail = f"{failed[0].name}: {failed[0].error}"
    # nothing half-done: the group stays on its old config, running what ran
    started = processes.start(client, [o.name for o in outcomes if o.ok and o.changed], wait=False,
                              timeout=timeout)
    left = [o.name for o in started if not o.ok]
    if left:
        failed_detail += f"; could not start again: {', '.join(left)}"
    return [ProcessResult(n, ok=False, phase="stop", detail=failed_detail) for n in change.processes]


def _add(client: SupervisorClient, change: GroupChange, host: str) -> list[ProcessResult] | None:
    """addProcessGroup, then start what ran before and the new config does not autostart; None when done."""
    try:
        client.call("supervisor.addProcessGroup", change.group)
    except SupervisorFault as fault:
        if fault.code != Faults.ALREADY_ADDED:    # someone else's update got there first: gate what runs
            detail = (f"adding {change.group} refused: {processes.fault_sentence(fault)}; {change.group} is not "
                      f"on {host} now (herd update {change.group} -H {host} once its config is fixed)")
            return [ProcessResult(n, ok=False, phase="start", detail=detail) for n in change.gated]
    if change.by_hand:
        processes.start(client, list(change.by_hand), wait=False, timeout=0)
    return None


def _gate_all(host: HostAccess, change: GroupChange, spec: GateSpec, values: dict[str, str],
              interrupted: threading.Event, on_phase: Phase, pids: dict[str, int]) -> list[ProcessResult]:
    """The gate of every process the new config runs, at once (they started together).

    A connection lost while gating is that process's failure (the group is
    added and supervisord goes on starting it): the host fails, the roll halts.
    """
    def one(name: str) -> ProcessResult:
        try:
            return gate_started(host, name, spec, values, interrupted, on_phase, old_pid=pids.get(name, 0))
        except HostError as exc:
            return ProcessResult(name, ok=False, phase="connection", old_pid=pids.get(name, 0),
                                 detail=f"connection lost while waiting for it: {exc.reason}")

    names = list(change.gated)
    if len(names) <= 1:
        return [one(n) for n in names]
    results = in_parallel(names, one, name=lambda n: f"herd-update-{host.name}-{n}")
    if any(r is None for r in results):     # in_parallel logged it: the host fails, the roll goes on
        raise UnexpectedError(host.name, "unexpected error while gating a process (-vv shows where)")
    return [r for r in results if r is not None]


def recover(host: HostAccess, change: GroupChange, lost: HostError) -> list[ProcessResult]:
    """The connection broke mid-change: reconnect once, and leave the group added and its processes started."""
    note = f"connection lost: {lost.reason}"
    try:
        host.reset()
        client = host.client()
        infos = [i for i in client.all_process_info() if i.group == change.group]
        if change.kind != "removed" and not infos:
            client.call("supervisor.addProcessGroup", change.group)
            note += f"; reconnected and added {change.group} again"
        elif change.kind != "removed":
            stopped = [i.fullname for i in infos if i.state in (ProcessState.STOPPED, ProcessState.EXITED)]
            processes.start(client, stopped, wait=False, timeout=0)
            note += "; reconnected" + (f" and started {', '.join(stopped)} again" if stopped else "")
    except HerdError as again:
        note += (f"; could not reconnect ({again.reason}): {change.group} may be left stopped or removed "
                 f"(herd update {change.group} -H {host.name})")
    return [ProcessResult(n, ok=False, phase="connection", detail=note) for n in change.processes or (change.group,)]
