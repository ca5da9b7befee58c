"""Process resources: RSS, CPU %, open fds, threads and children of every supervised process.

The pids come from the getAllProcessInfo herd reads anyway; the numbers
from /proc on the host, read by herd's process agent (herd/ssh/procagent.py)
on the host's SSH session (under sudo where the inventory's ``become`` says
so): one round trip per host per sample.

CPU % is a rate, so it needs two readings of the same process:

* one-shot (``herd status --resources``): the agent reads every pid's CPU
  ticks, waits SAMPLE_SECONDS, and reads again, in the same round trip: the
  command takes that much longer, and the host reads each pid's stat twice;
* long-lived views (watch, web, guard): a :class:`Sampler` keeps each host's
  previous sample and answers the CPU used since the last poll.  It belongs
  to its poller: there is no process-wide cache, two views never share one.

CPU % is of one core (a process using two cores fully is 200 %), as top
shows it, measured on the host's own clock (/proc/uptime).  A process that
restarted between two readings (another pid, or the same pid with another
start time) has no CPU % until the next one.

Process groups: a program with ``killasgroup`` (or ``stopasgroup``, which
implies it) is stopped with its whole process group, so its resources are
those of the group too: the agent sums every process whose pgid is the
program's pid (its forked workers), and ``process_group`` says so.  Which
programs have it, supervisord says in getAllConfigInfo from 4.0 (read once
per host and again whenever a pid changes); before 4.0 it does not, and
every process is read on its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

from herd.errors import HerdError
from herd.fleet import Fleet, HostAccess, HostResult, Interrupted
from herd.operations.status import HostStatus, StatusReport, expected_exits, status_report
from herd.ssh.procagent import MAX_PIDS, NoProc, ProcAgent, ProcFailure, ProcReading, ProcSample, open_proc_agent
from herd.supervisor import names
from herd.supervisor.models import ProcessInfo, ProcessState

SAMPLE_SECONDS = 0.5        # one-shot: the pause between the two readings of a CPU %
NO_PROC = "no /proc: resources are read on Linux hosts only"


@dataclass(frozen=True)
class ProcessResources:
    """One process's resources; ``cpu_percent`` None until two readings of it exist, ``fds`` None when
    /proc/PID/fd could not be listed (another user's process, without sudo)."""

    pid: int
    rss_bytes: int
    cpu_percent: float | None
    cpu_seconds: float          # user + system CPU time since the process started
    fds: int | None
    threads: int
    children: int
    process_group: bool = False     # the sums of its process group (killasgroup); children: the other members

    def as_json(self) -> dict[str, Any]:
        return {"rss_bytes": self.rss_bytes, "cpu_percent": self.cpu_percent, "cpu_seconds": self.cpu_seconds,
                "fds": self.fds, "threads": self.threads, "children": self.children,
                "process_group": self.process_group}


@dataclass
class HostResources:
    """One host's resources, by process full name; ``unread`` says why a process has none
    (``process gone`` when it ended between supervisord's answer and /proc's); ``no_proc``: not Linux;
    ``error``: a live view's sample failed (its agent lost) while the host itself answered."""

    host: str
    processes: dict[str, ProcessResources] = field(default_factory=dict)
    unread: dict[str, str] = field(default_factory=dict)
    no_proc: bool = False
    error: str | None = None

    @property
    def note(self) -> str | None:
        """The host's one line about its resources, if any (no /proc, or why this sample failed)."""
        if self.no_proc:
            return NO_PROC
        return None if self.error is None else f"resources not read: {self.error}"


@dataclass
class ResourceReport:
    """``herd status --resources``: the status report and, per host that answered, its resources."""

    status: StatusReport
    resources: dict[str, HostResources]

    @property
    def exit_code(self) -> int:
        return self.status.exit_code


Previous = tuple[int, dict[int, tuple[int, int]]]     # uptime (1/100 s), pid -> (start, ticks)


def measure(sample: ProcSample, previous: Previous | None = None) -> dict[int, ProcessResources | ProcFailure]:
    """Each pid's resources from one sample; CPU % against the sample's own first reading, or against
    ``previous`` (a Sampler's last sample of the host) when given."""
    found: dict[int, ProcessResources | ProcFailure] = {}
    for answer in sample.answers:
        if isinstance(answer, ProcFailure):
            found[answer.pid] = answer
            continue
        found[answer.pid] = ProcessResources(
            pid=answer.pid, rss_bytes=answer.rss_pages * sample.page_size,
            cpu_percent=_cpu_percent(sample, answer, previous),
            cpu_seconds=round(answer.ticks / sample.hz, 2),
            fds=None if answer.fds < 0 else answer.fds, threads=answer.threads, children=answer.children,
            process_group=answer.group)
    return found


def _cpu_percent(sample: ProcSample, reading: ProcReading, previous: Previous | None) -> float | None:
    if previous is None:
        before, elapsed = reading.first_ticks, sample.uptime1 - sample.uptime0
    else:
        uptime, pids = previous
        start, ticks = pids.get(reading.pid, (-1, -1))
        before = ticks if start == reading.start and ticks <= reading.ticks else -1
        elapsed = sample.uptime1 - uptime
    if before < 0 or elapsed <= 0:
        return None
    return round((reading.ticks - before) / sample.hz / (elapsed / 100) * 100, 1)


def remember(sample: ProcSample) -> Previous:
    """What a Sampler keeps of a sample for the next CPU %."""
    return sample.uptime1, {a.pid: (a.start, a.ticks) for a in sample.answers if isinstance(a, ProcReading)}


def host_resources(host: str, processes: Sequence[ProcessInfo],
                   measured: dict[int, ProcessResources | ProcFailure]) -> HostResources:
    """The resources of ``processes`` (those with a pid) by full name."""
    result = HostResources(host)
    for process in processes:
        got = measured.get(process.pid) if process.pid else None
        if isinstance(got, ProcessResources):
            result.processes[process.fullname] = got
        elif isinstance(got, ProcFailure):
            result.unread[process.fullname] = got.reason
    return result


def pids_of(processes: Sequence[ProcessInfo]) -> list[int]:
    """The distinct pids to read (a process that is not running has none), at most MAX_PIDS."""
    return list(dict.fromkeys(p.pid for p in processes if p.pid > 0))[:MAX_PIDS]


def killasgroup(client: Any) -> frozenset[str]:
    """The full names of the processes whose program has killasgroup (getAllConfigInfo, 4.0 and later;
    nothing before: supervisord does not say there)."""
    if not client.capabilities().config_fields:
        return frozenset()
    configs = client.call("supervisor.getAllConfigInfo")
    if not isinstance(configs, list):
        return frozenset()
    return frozenset(_config_fullname(c) for c in configs if isinstance(c, dict) and c.get("killasgroup") is True)


def _config_fullname(config: dict[str, Any]) -> str:
    name, group = str(config.get("name", "")), str(config.get("group", ""))
    return name if name == group else f"{group}:{name}"


def group_pids(processes: Sequence[ProcessInfo], grouped: frozenset[str]) -> frozenset[int]:
    """The pids whose process group is read as a whole (their program has killasgroup)."""
    return frozenset(p.pid for p in processes if p.pid > 0 and p.fullname in grouped)


def read_once(agent: ProcAgent, host: str, processes: Sequence[ProcessInfo], wait: float,
              groups: frozenset[int] = frozenset()) -> HostResources:
    """One round trip: ``processes``' resources, CPU % over ``wait`` seconds inside it."""
    pids = pids_of(processes)
    if not pids:
        return HostResources(host)
    try:
        sample = agent.sample(pids, wait=wait, groups=groups)
    except NoProc:
        return HostResources(host, no_proc=True)
    return host_resources(host, processes, measure(sample))


def fetch_resources(fleet: Fleet, specs: Sequence[str], *, wait: float = SAMPLE_SECONDS,
                    deadline: float | None = None, exits: bool = False) -> ResourceReport:
    """``herd status`` with resources: getAllProcessInfo, then one agent round trip, per host.

    ``deadline`` bounds the whole fan-out, the ``wait`` included (by default
    the read budget plus the wait); ``exits`` as for fetch_status (herd check).

    The agent is started for this read and closed after (its start is an
    exec channel on the host's session and a Python start-up).  A host whose
    agent fails, or answers what the protocol does not allow, is a host error
    under the fleet's policy, like a supervisord that does not answer.
    Ctrl-C: ResourcesInterrupted, with the report of the hosts that answered.
    """
    resources: dict[str, HostResources] = {}

    def task(access: HostAccess) -> HostStatus:
        client = access.client()
        starting = AgentStart(access, client.timeout)       # its Python starts while supervisord answers
        try:
            chosen, missing = names.select(specs, client.all_process_info())
            exited = [p for p in chosen if p.state is ProcessState.EXITED]
            expected = expected_exits(client, exited) if exits and exited else {}
            if pids_of(chosen):
                groups = group_pids(chosen, killasgroup(client))
                found = read_once(starting.agent(), client.host, chosen, wait, groups)
            else:
                found = HostResources(client.host)
        finally:
            starting.close()
        resources[client.host] = found
        return HostStatus(client.host, processes=chosen, missing=missing, expected_exits=expected)

    budget = fleet.read_budget + wait if deadline is None else deadline
    try:
        results: list[HostResult[HostStatus]] = fleet.run(task, deadline=budget, idempotent=True)
    except Interrupted as stop:
        cut = _report(status_report(stop.results, specs, interrupted=True), resources)
        raise ResourcesInterrupted(stop.results, cut) from stop
    return _report(status_report(results, specs), resources)


class AgentStart:
    """The process agent started on a second channel of the host's session, in a thread of its own.

    Starting the agent is an exec channel and a Python start-up on the
    host; getAllProcessInfo is a round trip on the tunnel's channel.  Neither
    needs the other, so one-shot reads start both at once and the start-up
    is hidden behind supervisord's answer (docs/benchmarks.md).  A host with
    nothing running gets its agent closed unused.
    """

    def __init__(self, access: HostAccess, timeout: float) -> None:
        self._access = access
        self._timeout = timeout
        self._agent: ProcAgent | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._start, name=f"herd-procagent-{access.name}", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            agent = open_proc_agent(self._access, self._timeout)
        except BaseException as exc:    # handed to the host's own thread, which raises it there
            self._error = exc
            return
        with self._lock:
            if self._closed:            # the host's read ended first (an error, or nothing to read)
                agent.close()
            else:
                self._agent = agent

    def agent(self) -> ProcAgent:
        """The started agent (waits for its start); its start's error is raised here, in the host's thread."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._agent is not None
        return self._agent

    def close(self) -> None:
        with self._lock:
            self._closed = True
            agent, self._agent = self._agent, None
        if agent is not None:
            agent.close()


class ResourcesInterrupted(Interrupted):
    """Ctrl-C during fetch_resources: ``report`` is what the hosts that answered said."""

    def __init__(self, results: list[Any], report: ResourceReport) -> None:
        super().__init__(results)
        self.report = report


def _report(status: StatusReport, resources: dict[str, HostResources]) -> ResourceReport:
    """Resources only of the hosts the report has as answering (a host abandoned at the deadline may
    have finished its read after)."""
    answered = {h.host for h in status.hosts if h.error is None}
    return ResourceReport(status, {name: found for name, found in dict(resources).items() if name in answered})


class Sampler:
    """Resources of the processes of many hosts, poll after poll: CPU % since the host's last poll.

    Owned by one long-lived view (its poller): it keeps each host's agent
    open between polls (restarted after a reconnect or an error) and each
    host's previous sample.  ``read`` is called from the host's own poll
    thread; hosts never share state here.

    ``max_starts``: at most this many agents starting at once over all the
    hosts; a host that would be one more gets None (nothing read: try at the
    next poll) rather than waiting.  A poller's first poll of a big fleet
    would otherwise start every host's agent at the same moment: an exec
    channel, a login shell and a Python start-up per host, all answered in
    the same seconds, and on hosts that share CPUs (containers, a test
    fleet) the starts time out together and are retried together.
    """

    def __init__(self, max_starts: int | None = None) -> None:
        self._starts = threading.BoundedSemaphore(max_starts) if max_starts else None
        self._agents: dict[str, tuple[Any, ProcAgent]] = {}     # host -> (client the agent runs on, agent)
        self._previous: dict[str, Previous] = {}
        self._grouped: dict[str, tuple[tuple[tuple[str, int], ...], frozenset[str]]] = {}  # host -> (pids, killasgroup)

    def read(self, access: HostAccess, processes: Sequence[ProcessInfo]) -> HostResources | None:
        """One round trip to ``access``'s host; HerdError (a host error) as the fleet's policy expects;
        None when its agent is to be started and ``max_starts`` are starting already."""
        name = access.name
        pids = pids_of(processes)
        if not pids:
            self._previous.pop(name, None)
            return HostResources(name)
        client = access.client()
        held = self._agents.get(name)
        if held is None or held[1].broken or held[0] is not client:
            self.forget(name)
            if self._starts is not None and not self._starts.acquire(blocking=False):
                return None
            try:
                held = (client, open_proc_agent(access, client.timeout))
            finally:
                if self._starts is not None:
                    self._starts.release()
            self._agents[name] = held
        try:
            sample = held[1].sample(pids, groups=self._groups(name, client, processes))
        except NoProc:
            return HostResources(name, no_proc=True)
        except HerdError:
            self.forget(name)
            raise
        found = host_resources(name, processes, measure(sample, self._previous.get(name)))
        self._previous[name] = remember(sample)
        return found

    def _groups(self, host: str, client: Any, processes: Sequence[ProcessInfo]) -> frozenset[int]:
        """The pids read as process groups: killasgroup asked again only when a pid changed (a restart,
        an update: the only ways a program's config reaches its process)."""
        key = tuple((p.fullname, p.pid) for p in processes if p.pid > 0)
        known = self._grouped.get(host)
        if known is None or known[0] != key:
            known = (key, killasgroup(client))
            self._grouped[host] = known
        return group_pids(processes, known[1])

    def forget(self, host: str) -> None:
        """Drop a host's agent and previous sample (host gone from the view, or its connection reset)."""
        held = self._agents.pop(host, None)
        if held is not None:
            held[1].close()
        self._previous.pop(host, None)
        self._grouped.pop(host, None)

    def close(self) -> None:
        for host in list(self._agents):
            self.forget(host)
