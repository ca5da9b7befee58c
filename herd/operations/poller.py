"""One shared poller of the fleet: the source of every live view (``herd web``, ``herd status --watch``).

However many pages, tabs or terminals watch, each host is read once per
interval: one thread per host asks, in one ``system.multicall`` over the
host's kept session, for ``getAllProcessInfo`` and ``getState``.  A host
that fails gets an error snapshot (the sentence ``herd status`` shows) and
is retried with backoff while the others go on at their own pace; one slow
or dead host never delays another.

What the poller gives out is immutable: a :class:`FleetSnapshot` (every
host's last :class:`HostSnapshot`, with a sequence number) swapped
atomically on each change, and change events (``listen``) naming the host
whose state changed.  Uptime ticking is not a change: a host's snapshot is
replaced only when a process changes state, pid, spawn error or exit
status, a process appears or goes, or the host's reachability changes.
Nothing here prints.

With ``resources=True`` each host's poll thread also samples its processes'
resources (herd/operations/resources.py's Sampler: the host's process agent
kept open, one more round trip on the same session, right after the read).
Resources move on every poll, so they are not a change: a view that shows
them reads the snapshot each poll (``listen(..., every_poll=True)``).  A
sampling error is not the host's: the snapshot keeps its processes, with
``resources`` None and ``resources_error`` saying why, and is sampled again
after a wait that doubles with each failure (up to a minute).  The poll's
state is recorded before its sample, so a change is heard without waiting
for the sample (an agent's start can take seconds on a loaded host).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol, Sequence

from herd.errors import HerdError, HostError, SupervisorFault
from herd.fleet import Fleet, HostAccess
from herd.operations.resources import HostResources, Sampler
from herd.operations.status import HostStatus, StatusReport
from herd.supervisor import names as namespec
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessInfo
from herd.supervisor.repeat import AnswerMemo

log = logging.getLogger("herd.poller")

DEFAULT_INTERVAL = 1.0
BACKOFF_MAX = 10.0
SAMPLE_BACKOFF_MAX = 60.0       # the longest wait before sampling a host's resources again after a failure
AGENT_STARTS = 8                # process agents starting at once, over the fleet (Sampler's max_starts)

Listener = Callable[["HostSnapshot"], None]


class ResourceReader(Protocol):
    """What the poller samples resources with: herd's Sampler (a fake in tests)."""

    def read(self, access: HostAccess, processes: Sequence[ProcessInfo]) -> HostResources | None: ...

    def forget(self, host: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class HostSnapshot:
    """One host as last read: its processes (the selected ones), or why it could not be read."""

    host: str
    processes: tuple[ProcessInfo, ...] = ()
    missing: tuple[str, ...] = ()
    error: str | None = None
    supervisor_state: str = ""
    polled_at: float = 0.0          # time.time() of the answer (or of the failure)
    changed_at: float = 0.0         # time.time() when this state was first seen
    polls: int = 0
    resources: HostResources | None = None      # with Poller(resources=True): this poll's sample
    resources_error: str | None = None          # why ``resources`` is None although asked for

    @property
    def ok(self) -> bool:
        return self.error is None

    def host_resources(self) -> HostResources | None:
        """This poll's resources, or (when the sample failed) an empty one saying why; None when not read."""
        if self.resources is not None or self.resources_error is None:
            return self.resources
        return HostResources(self.host, error=self.resources_error)

    def signature(self) -> tuple[object, ...]:
        """What a change is: everything but the clock (uptime and ``now`` move on every poll) and the
        resources (they move on every poll too)."""
        return (self.error, self.supervisor_state, self.missing,
                tuple((p.fullname, p.state, p.pid, p.spawnerr, p.exitstatus, p.start, p.stop,
                       p.description if p.pid == 0 else "") for p in self.processes))


@dataclass(frozen=True)
class FleetSnapshot:
    """Every host's last snapshot, in inventory order; ``seq`` grows with each change."""

    seq: int
    hosts: tuple[HostSnapshot, ...]
    interval: float
    errors: dict[str, HerdError] = field(default_factory=dict, compare=False, repr=False)

    def host(self, name: str) -> HostSnapshot:
        for snap in self.hosts:
            if snap.host == name:
                return snap
        raise KeyError(name)

    def resources(self) -> dict[str, HostResources]:
        """Each answering host's last resources (or why they are missing), for the table and the JSON."""
        found = {}
        for snap in self.hosts:
            resources = snap.host_resources()
            if resources is not None:
                found[snap.host] = resources
        return found

    def status_report(self, names: Sequence[str] = ()) -> StatusReport:
        """As ``fetch_status`` would have returned it (for the table, the JSON and check's grading)."""
        hosts = []
        for snap in self.hosts:
            error = self.errors.get(snap.host) if snap.error is not None else None
            if snap.error is not None and error is None:
                error = HostError(snap.host, snap.error)
            hosts.append(HostStatus(snap.host, list(snap.processes), list(snap.missing), error))
        return StatusReport(hosts, list(names))


def read_host(client: SupervisorClient, memo: AnswerMemo | None = None) -> tuple[list[ProcessInfo], str]:
    """All of a host's reads in one round trip: its processes and supervisord's own state.

    ``memo`` is the host's AnswerMemo: the same read every interval mostly
    gets the same answer with the clock moved on, parsed again for nearly free.
    """
    infos, state = client.multicall([("supervisor.getAllProcessInfo", ()), ("supervisor.getState", ())],
                                    memo=memo)
    if isinstance(infos, SupervisorFault):
        raise infos
    statename = "" if isinstance(state, SupervisorFault) else str(state.get("statename", ""))
    return [ProcessInfo.from_rpc(i) for i in infos], statename


class Poller:
    """Polls every host of ``fleet`` every ``interval`` seconds until ``stop()``.

    ``names`` narrows the processes kept (supervisorctl's names, as for
    ``herd status NAME...``); by default every process.  ``resources``: each
    poll also samples the kept processes' resources (``sampler`` replaces
    herd's Sampler in tests); the poller owns the sampler and closes it on stop.
    """

    def __init__(self, fleet: Fleet, interval: float = DEFAULT_INTERVAL, names: Sequence[str] = (),
                 resources: bool = False, *, sampler: ResourceReader | None = None) -> None:
        self.fleet = fleet
        self.interval = max(0.05, float(interval))
        self.names = tuple(names)
        self.resources = bool(resources)
        self.sampler: ResourceReader | None = (sampler or Sampler(AGENT_STARTS)) if self.resources else None
        self._lock = threading.Lock()
        self._snapshot = FleetSnapshot(0, tuple(HostSnapshot(h.name) for h in fleet.hosts), self.interval)
        self._listeners: list[tuple[Listener, bool]] = []
        self._stop = threading.Event()
        self._wake = {h.name: threading.Event() for h in fleet.hosts}
        self._memos = {h.name: AnswerMemo() for h in fleet.hosts}
        self._retry: dict[str, tuple[int, float, str]] = {}     # host -> (failures, next try, why): sampling
        self._threads: list[threading.Thread] = []
        self.changed = threading.Condition()

    # -- reading -------------------------------------------------------------------------

    def snapshot(self) -> FleetSnapshot:
        """The current snapshot (immutable: hold it as long as you like)."""
        return self._snapshot

    def wait_change(self, seq: int, timeout: float) -> FleetSnapshot:
        """The first snapshot newer than ``seq``, or the current one after ``timeout`` seconds."""
        with self.changed:
            self.changed.wait_for(lambda: self._snapshot.seq > seq or self._stop.is_set(), timeout)
            return self._snapshot

    def wait_first(self, timeout: float) -> FleetSnapshot:
        """The snapshot once every host has answered or failed once (or after ``timeout``)."""
        with self.changed:
            self.changed.wait_for(lambda: all(h.polls for h in self._snapshot.hosts), timeout)
            return self._snapshot

    def listen(self, listener: Listener, every_poll: bool = False) -> Callable[[], None]:
        """Call ``listener(host_snapshot)`` (from a poller thread) on every change; returns an unsubscribe.

        ``every_poll``: after every poll of a host, changed or not (what
        needs time or measurements: rules over durations, live resources).
        """
        entry = (listener, bool(every_poll))
        with self._lock:
            self._listeners.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)
        return unsubscribe

    def refresh(self, hosts: Sequence[str] | None = None) -> None:
        """Poll these hosts (all by default) now rather than at their next tick (after an action)."""
        for name in self._wake if hosts is None else hosts:
            if name in self._wake:
                self._wake[name].set()

    # -- running -------------------------------------------------------------------------

    def start(self) -> "Poller":
        self._threads = self.fleet.spawn(lambda access: self._run_host(access.name), name="herd-poll")
        return self

    def stop(self) -> None:
        self._stop.set()
        for wake in self._wake.values():
            wake.set()
        with self.changed:
            self.changed.notify_all()
        deadline = time.monotonic() + 2.0
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.sampler is not None:
            self.sampler.close()

    def __enter__(self) -> "Poller":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def poll_once(self, host: str) -> HostSnapshot:
        """Read one host now and record the answer (the threads' step; also for tests)."""
        result = self.fleet.attempt(self.fleet.host(host), lambda access: self._read(access))
        if result.error is not None or result.value is None:
            reason = result.error.reason if result.error is not None else "no answer"
            fresh = HostSnapshot(host, error=reason, polled_at=time.time())
            if self.sampler is not None:
                self.sampler.forget(host)       # its agent ran on the session that failed
                self._retry.pop(host, None)     # back: sample at once
            return self._record(fresh, result.error)
        snap = replace(result.value, polled_at=time.time())
        if self.sampler is None:
            return self._record(snap, None)
        # The state first, the sample after: a change is heard at once, not after the sample (an agent's
        # start can take seconds).  Meanwhile the host keeps its last resources; every-poll listeners hear
        # the poll once, with the new ones.
        kept = self._snapshot.host(host)
        early = self._record(replace(snap, resources=kept.resources, resources_error=kept.resources_error), None,
                             every_poll=False)
        resources, why = self._sample(host, early.processes)
        if resources is None and why is None:      # its agent waits for its turn to start: as it was
            resources, why = early.resources, early.resources_error
        return self._record(replace(early, resources=resources, resources_error=why), None, counted=False)

    def _read(self, access: HostAccess) -> HostSnapshot:
        """The host's processes (the selected ones) and supervisord's state, in one round trip."""
        infos, state = read_host(access.client(), self._memos[access.name])
        chosen, missing = namespec.select(self.names, infos) if self.names else (infos, [])
        return HostSnapshot(access.name, tuple(chosen), tuple(missing), None, state)

    def _sample(self, host: str, processes: Sequence[ProcessInfo]) -> tuple[HostResources | None, str | None]:
        """The processes' resources, or why not.  A failure is not the host's (its processes were read);
        the next try waits, doubling (an agent that cannot start is not started again every poll: on
        loaded hosts a start that times out would be retried into a storm), up to SAMPLE_BACKOFF_MAX."""
        assert self.sampler is not None
        sampler = self.sampler
        failures, retry_at, reason = self._retry.get(host, (0, 0.0, ""))
        if time.monotonic() < retry_at:
            return None, reason

        def measure(access: HostAccess) -> tuple[HostResources | None, str | None]:
            try:
                return sampler.read(access, processes), None
            except HerdError as exc:
                return None, exc.reason

        result = self.fleet.attempt(self.fleet.host(host), measure)
        found, why = result.value if result.value is not None else \
            (None, result.error.reason if result.error is not None else "no answer")
        if why is None:
            self._retry.pop(host, None)
            return found, None
        wait = min(self.interval * 2 ** (failures + 1), SAMPLE_BACKOFF_MAX)
        self._retry[host] = (failures + 1, time.monotonic() + wait, why)
        log.info("%s: resources not read (next try in %.0f s): %s", host, wait, why)
        return None, why

    def _run_host(self, host: str) -> None:
        delay = self.interval
        wake = self._wake[host]
        while not self._stop.is_set():
            started = time.monotonic()
            snap = self.poll_once(host)
            delay = self.interval if snap.ok else min(max(delay * 2, self.interval), BACKOFF_MAX)
            wake.wait(max(0.0, delay - (time.monotonic() - started)))
            wake.clear()

    def _record(self, fresh: HostSnapshot, error: HerdError | None, *, every_poll: bool = True,
                counted: bool = True) -> HostSnapshot:
        """Store a host's snapshot; tell the listeners of a change (and, with ``every_poll``, the every-poll
        listeners); ``counted``: a poll of its own (not the resources of the poll just recorded)."""
        with self._lock:
            current = self._snapshot
            hosts = list(current.hosts)
            index = next(i for i, h in enumerate(hosts) if h.host == fresh.host)
            old = hosts[index]
            changed = old.polls == 0 or old.signature() != fresh.signature()
            fresh = replace(fresh, polls=old.polls + (1 if counted else 0),
                            changed_at=fresh.polled_at if changed else old.changed_at)
            hosts[index] = fresh
            errors = dict(current.errors)
            if error is not None:
                errors[fresh.host] = error
            else:
                errors.pop(fresh.host, None)
            self._snapshot = FleetSnapshot(current.seq + (1 if changed else 0), tuple(hosts), self.interval,
                                           errors)
            # every-poll listeners hear each poll once: when it is complete (with its sample, if any)
            listeners = [listener for listener, every in self._listeners if (every and every_poll) or
                         (changed and not every)]
        if changed:
            with self.changed:
                self.changed.notify_all()
        for listener in listeners:
            try:
                listener(fresh)
            except Exception:  # a listener's bug must not stop the polling
                log.exception("poll listener failed")
        return fresh
