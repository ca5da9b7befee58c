"""What changed on the fleet between two polls: the events of ``herd events`` (and of ``herd guard``).

The shared poller (herd/operations/poller.py) replaces a host's
:class:`HostSnapshot` only when something changed; :func:`events_between`
turns two consecutive snapshots of one host into :class:`FleetEvent` values:

* ``state``: a process's state changed (``from_state`` -> ``to_state``), or
  it went through a whole cycle between two polls (same state, another pid or
  start time: ``from_state == to_state``, the detail says so);
* ``added`` / ``gone``: a process appeared or went (``update``, ``add``,
  ``remove``, a reload with another config);
* ``host-down`` / ``host-up``: the host could not be read (``detail`` is the
  sentence ``herd status`` shows) / answers again;
* ``pending``: the host's pending config (what a reread would add, change or
  remove) is new or cleared: :func:`pending_event`, from a reread that the
  caller makes (a reread stages the config, so only when asked to).

Pure: no I/O, no clock (``now`` is given), so every rule is tested without a
fleet.  What a poll cannot see, it cannot report: a process that went
RUNNING -> BACKOFF -> RUNNING within one interval shows only as a new pid.
Host text (``detail``, names) is untrusted: whoever prints it escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from herd.operations.config import HostConfig, cant_reread
from herd.operations.poller import HostSnapshot
from herd.operations.status import ExpectedExits
from herd.supervisor.models import ProcessInfo, ProcessState

EventKind = Literal["state", "gone", "added", "host-down", "host-up", "pending"]

# Where a process that ended between two polls may be by the next one, started again by supervisord.
# (Not BACKOFF: supervisord clears the exit status of a start that failed, getProcessInfo then says 0.)
RESTARTED = (ProcessState.STARTING, ProcessState.RUNNING)


@dataclass(frozen=True)
class FleetEvent:
    """One change on one host, as one poll saw it."""

    time: float                  # time.time() of the poll that saw it
    host: str                    # target name as herd shows it (host, or host/name)
    kind: EventKind
    process: str | None = None   # full name (group:name); None for host events
    from_state: str | None = None    # statename before ("RUNNING"); None for "added"/host events
    to_state: str | None = None      # statename after
    expected: bool | None = None     # for EXITED: exit status in the program's exitcodes (None: unknown)
    exitstatus: int | None = None
    pid: int = 0
    detail: str = ""             # spawnerr / description / the host's error sentence (untrusted host text)
    groups: tuple[str, ...] = ()     # "pending": the groups whose config is pending (added, changed, removed)


def events_between(before: HostSnapshot | None, after: HostSnapshot, now: float, *,
                   exits: Mapping[str, ExpectedExits] | None = None) -> list[FleetEvent]:
    """The events that lead from ``before`` to ``after`` (two consecutive snapshots of one host).

    ``before`` None is the first poll: it reports nothing but a host that is
    unreachable at once (what is running is the starting point, not a change).
    An error snapshot has no processes, so a host that answers again gives
    ``host-up`` alone; a caller that wants what changed during the outage
    passes the host's last *answered* snapshot as ``before`` (see
    :class:`EventTracker`).  ``exits`` (optional, by full name: what
    :func:`herd.operations.status.expected_exits` returns) fills ``expected``
    of EXITED processes; without it ``expected`` is None (unknown).
    """
    if before is None:
        return [_host_down(after, now)] if after.error is not None else []
    if after.error is not None:
        return [_host_down(after, now)] if before.error is None else []
    events: list[FleetEvent] = []
    if before.error is not None:
        events.append(FleetEvent(now, after.host, "host-up"))
    if before.error is None or before.processes:
        events.extend(process_events(before, after, now, exits or {}))
    return events


def process_events(before: HostSnapshot, after: HostSnapshot, now: float,
                   exits: Mapping[str, ExpectedExits]) -> list[FleetEvent]:
    """``state``, ``added`` and ``gone`` events between two answered snapshots, in ``after``'s order."""
    old = {p.fullname: p for p in before.processes}
    events: list[FleetEvent] = []
    for process in after.processes:
        previous = old.pop(process.fullname, None)
        if previous is None:
            events.append(FleetEvent(now, after.host, "added", process.fullname, None, process.statename,
                                     *_ending(None, process, exits), pid=process.pid, detail=_detail(process)))
        elif _changed(previous, process):
            events.append(_state_event(after.host, previous, process, now, exits))
    for process in old.values():
        events.append(FleetEvent(now, after.host, "gone", process.fullname, process.statename, None,
                                 pid=process.pid))
    return events


def _changed(previous: ProcessInfo, process: ProcessInfo) -> bool:
    """Another state, or the same state reached again (a new pid or start between two polls)."""
    return (previous.state is not process.state or previous.pid != process.pid
            or previous.start != process.start
            or (process.state is ProcessState.EXITED and previous.stop != process.stop))


def _state_event(host: str, previous: ProcessInfo, process: ProcessInfo, now: float,
                 exits: Mapping[str, ExpectedExits]) -> FleetEvent:
    detail = _detail(process)
    if previous.state is process.state:
        again = f"pid {previous.pid} -> {process.pid}" if previous.pid != process.pid else "started again"
        detail = f"{again}, between two polls" + (f"; {detail}" if detail else "")
    elif previous.pid and process.pid and previous.pid != process.pid:   # ended and started again meanwhile
        detail = f"pid {previous.pid} -> {process.pid}" + (f"; {detail}" if detail else "")
    # the pid a process ended with is the one before; a process that (re)started has its new one
    pid = process.pid or previous.pid
    return FleetEvent(now, host, "state", process.fullname, previous.statename, process.statename,
                      *_ending(previous, process, exits), pid=pid, detail=detail)


def _ending(previous: ProcessInfo | None, process: ProcessInfo,
            exits: Mapping[str, ExpectedExits]) -> tuple[bool | None, int | None]:
    """(expected, exitstatus) when supervisord's exit status is that of an end the poll saw, else (None, None).

    EXITED: its exit status, and whether its program expects it (when
    ``exits`` says).  A process that ended and was started again between two
    polls (another stop time, STARTING or RUNNING now: an autorestart after a
    crash, or someone's restart): the status it ended with, ``expected``
    None (a restart's SIGTERM is no crash).  Not after a stop (STOPPED: herd
    or someone asked) nor in BACKOFF/FATAL (supervisord keeps no status for
    a start that failed).
    """
    if process.state is ProcessState.EXITED:
        codes = exits.get(process.fullname)
        return (None if codes is None else process.exitstatus in codes.codes), process.exitstatus
    if previous is not None and previous.pid and process.state in RESTARTED and previous.stop != process.stop:
        return None, process.exitstatus
    return None, None


def _detail(process: ProcessInfo) -> str:
    """spawnerr, or supervisord's description when no pid (RUNNING's "pid 1, uptime ..." says nothing new)."""
    if process.spawnerr:
        return process.spawnerr
    return process.description if process.pid == 0 else ""


def _host_down(after: HostSnapshot, now: float) -> FleetEvent:
    return FleetEvent(now, after.host, "host-down", detail=after.error or "")


def pending_signature(config: HostConfig) -> tuple[object, ...]:
    """What a pending change is, from one host's reread: the groups per change, or why there is no diff."""
    if config.diff is None:
        return ("broken", config.broken) if config.refused is None else ("refused", config.refused)
    return (tuple(config.diff.added), tuple(config.diff.changed), tuple(config.diff.removed))


def pending_event(host: str, before: HostConfig | None, after: HostConfig, now: float) -> FleetEvent | None:
    """A ``pending`` event when the host's pending config differs from the last reread's (``before``).

    ``before`` None is the first reread: a pending change found then is
    reported (it is a condition, as a host unreachable at once is); none
    found is not an event.  ``groups``: every group named; ``detail``: per
    change, or why the reread gave no diff (a config that does not parse).
    """
    signature = pending_signature(after)
    if signature == (pending_signature(before) if before is not None else ((), (), ())):
        return None
    if after.diff is None:
        detail = cant_reread(after.broken) if after.refused is None else f"reread refused: {after.refused}"
        return FleetEvent(now, host, "pending", detail=detail)
    diff = after.diff
    parts = [f"{word}: {', '.join(groups)}" for word, groups in
             (("added", diff.added), ("changed", diff.changed), ("removed", diff.removed)) if groups]
    return FleetEvent(now, host, "pending", detail="; ".join(parts) or "cleared: nothing pending",
                      groups=tuple(diff.added + diff.changed + diff.removed))


class EventTracker:
    """Per host, the snapshot last seen and the last answered one: feed it every snapshot, get the events.

    Holds two snapshots per host, whatever happens: events are handed out,
    never kept.  Across an outage it diffs against the last answered
    snapshot, so a process that crashed while its host was unreachable is
    reported with ``host-up``.  Not thread-safe: one caller, or a lock.
    """

    def __init__(self) -> None:
        self._last: dict[str, HostSnapshot] = {}
        self._answered: dict[str, HostSnapshot] = {}

    def feed(self, snapshot: HostSnapshot, now: float, *,
             exits: Mapping[str, ExpectedExits] | None = None) -> list[FleetEvent]:
        before = self._last.get(snapshot.host)
        self._last[snapshot.host] = snapshot
        if snapshot.error is None:
            answered = self._answered.get(snapshot.host)
            self._answered[snapshot.host] = snapshot
            if before is not None and before.error is not None and answered is not None:
                return ([FleetEvent(now, snapshot.host, "host-up")]
                        + process_events(answered, snapshot, now, exits or {}))
        return events_between(before, snapshot, now, exits=exits)

    def exited(self, snapshot: HostSnapshot) -> list[ProcessInfo]:
        """The processes of ``snapshot`` that would be reported as EXITED (whose exitcodes ``exits`` needs)."""
        before = self._last.get(snapshot.host)
        if before is not None and before.error is not None:
            before = self._answered.get(snapshot.host)
        if before is None or snapshot.error is not None:
            return []
        old = {p.fullname: p for p in before.processes}
        return [p for p in snapshot.processes if p.state is ProcessState.EXITED
                and (p.fullname not in old or _changed(old[p.fullname], p))]
