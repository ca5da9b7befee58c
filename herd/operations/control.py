"""start / stop / restart / signal / clear / pid across hosts, with supervisorctl's words.

Every command reads first (one getAllProcessInfo per host), then acts:

1. the names are matched on every host (supervisorctl's ``name``,
   ``group:name``, ``group:*``, ``all``);
2. a name that exists on no reachable selected host stops the command before
   anything is touched (a typo must not half-run);
3. a name missing on some hosts is reported on those hosts and fails the
   command (exit 1) unless ``ignore_missing``;
4. then each host acts on exactly the processes its names matched, in parallel.

With ``dry_run`` step 4 only says what would be done.

Ctrl-C (or SIGTERM) never leaves a half-done command unreported.  Before
step 4 nothing was touched and the interrupt goes up as it came.  During
step 4 each host finishes the step it is on, for at most FINISH_STEP
seconds: a restart whose stop is done starts its processes again (without
waiting for RUNNING); then the report says, per host, which processes herd
stopped and did not start again (``ActionReport.left_stopped``), exit 130.
"""

from __future__ import annotations

import signal as signals
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from herd.errors import Faults, SupervisorFault, UsageError
from herd.fleet import Fleet, HostAccess, HostResult, Interrupted
from herd.operations import processes
from herd.operations.outcomes import ActionReport, HostOutcomes, LeftStopped, Outcome
from herd.supervisor import names as namespec
from herd.supervisor.capabilities import SIGNAL
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessInfo, ProcessState

ACTIONS = ("start", "stop", "restart", "signal", "clear")
FINISH_STEP = 5.0   # seconds a Ctrl-C gives each host to finish its step (a restart: start again what it stopped)


@dataclass(frozen=True)
class ControlRequest:
    """What the user asked for, independent of hosts."""

    action: str
    names: tuple[str, ...]
    wait: bool = True
    wait_timeout: float = 60.0
    ignore_missing: bool = False
    dry_run: bool = False
    signal: str | None = None


@dataclass
class HostPlan:
    """The processes a host's names matched, and the names it lacks."""

    processes: list[ProcessInfo]
    missing: list[str]
    known: frozenset[str] = frozenset()     # every name the host answers to (for a did-you-mean)


def read_plans(fleet: Fleet, specs: Sequence[str], *, read_only: bool = False) -> list[HostResult[HostPlan]]:
    """Match the names on every host (one round trip each); within the read budget if ``read_only``."""

    def task(access: HostAccess) -> HostPlan:
        client = access.client()
        infos = client.all_process_info()
        chosen, missing = namespec.select(specs, infos)
        return HostPlan(chosen, missing, frozenset(namespec.typeable(infos)))

    return fleet.read(task) if read_only else fleet.run(task)


def check_names_exist(plans: Sequence[HostResult[HostPlan]], specs: Sequence[str]) -> None:
    """Refuse names that no reachable host has (nothing has been touched yet)."""
    reachable = [r.value for r in plans if r.ok and r.value is not None]
    if not reachable:
        return
    unknown = [s for s in specs if all(s in plan.missing for plan in reachable)]
    if unknown:
        known = frozenset().union(*(plan.known for plan in reachable))
        listed = ", ".join(f"{s}{namespec.did_you_mean(s, known)}" for s in unknown)
        raise UsageError(f"no such process or group on any selected host: {listed}")


def normalize_signal(value: str) -> str:
    """``hup``, ``SIGHUP``, ``1`` -> ``HUP`` (as supervisord expects); UsageError otherwise."""
    text = value.strip().upper()
    if text.isdigit():
        try:
            return signals.Signals(int(text)).name[3:]
        except ValueError as exc:
            raise UsageError(f"unknown signal number: {value}") from exc
    name = text if text.startswith("SIG") else f"SIG{text}"
    if name not in signals.Signals.__members__:
        raise UsageError(f"unknown signal: {value} (e.g. HUP, TERM, USR1, or a number)")
    return name[3:]


@dataclass
class Step:
    """One host's acting step: the fleet's interrupt flag, and what herd stopped and has not started again."""

    interrupted: threading.Event
    stopped: list[str] = field(default_factory=list)


def run_control(fleet: Fleet, request: ControlRequest) -> ActionReport:
    """Read, check the names, then act on every host in parallel.

    A Ctrl-C while reading goes up as it came (nothing was touched); while
    acting, see the module's docstring: the report is marked interrupted.
    """
    plans = read_plans(fleet, request.names)
    check_names_exist(plans, request.names)
    by_host = {r.name: r.value for r in plans if r.ok and r.value is not None}
    act = _dry_run if request.dry_run else ACTING[request.action]
    steps = {name: Step(fleet.interrupted) for name in by_host}

    def task(access: HostAccess) -> list[Outcome]:
        client = access.client()
        plan = by_host[client.host]
        outcomes = act(client, plan.processes, request, steps[client.host]) if plan.processes else []
        return outcomes + [_missing(name, request) for name in plan.missing]

    reachable = [r.host for r in plans if r.ok]
    try:
        acted, interrupted = fleet.run(task, hosts=reachable, finish=FINISH_STEP), False
    except Interrupted as stop:
        acted, interrupted = stop.results, True
    results = {r.name: r for r in acted}
    done = report(request.action, [results.get(p.name, p) for p in plans], request.dry_run)
    if interrupted:
        done.interrupted = True
        done.left_stopped = [LeftStopped(name, list(step.stopped), certain=results[name].error is None)
                             for name, step in steps.items() if step.stopped and name in results]
    return done


def _missing(name: str, request: ControlRequest) -> Outcome:
    if request.ignore_missing:
        return Outcome(name, "not on this host (ignored)", changed=False)
    return Outcome(name, request.action, error="no such process")


def _names(infos: Sequence[ProcessInfo]) -> list[str]:
    return [i.fullname for i in infos]


def _start(client: SupervisorClient, infos: list[ProcessInfo], r: ControlRequest, step: Step) -> list[Outcome]:
    return processes.start(client, _names(infos), wait=r.wait and not step.interrupted.is_set(),
                           timeout=r.wait_timeout)


def _stop(client: SupervisorClient, infos: list[ProcessInfo], r: ControlRequest, step: Step) -> list[Outcome]:
    """Stop; what was running is counted as stopped by herd from the moment it is asked."""
    step.stopped[:] = [i.fullname for i in infos if i.state in processes.RUNNING_STATES]
    outcomes = processes.stop(client, _names(infos), wait=r.wait, timeout=r.wait_timeout)
    step.stopped[:] = [o.name for o in outcomes if o.ok and o.changed]
    return outcomes


def _restart(client: SupervisorClient, infos: list[ProcessInfo], r: ControlRequest, step: Step) -> list[Outcome]:
    """Stop then start, as supervisorctl does (the stop always waits: a start needs it done).

    After a Ctrl-C the start is still made (the step in flight is finished),
    without waiting for RUNNING.
    """
    step.stopped[:] = _names(infos)
    stopped = processes.stop(client, _names(infos), wait=True, timeout=r.wait_timeout)
    failed = {o.name: o for o in stopped if not o.ok}
    to_start = [n for n in _names(infos) if n not in failed]
    step.stopped[:] = [o.name for o in stopped if o.ok and o.changed]
    wait = r.wait and not step.interrupted.is_set()
    started = {o.name: o for o in processes.start(client, to_start, wait=wait, timeout=r.wait_timeout)}
    step.stopped.clear()
    was_running = {i.fullname for i in infos if i.state in processes.RUNNING_STATES}
    outcomes = []
    for name in _names(infos):
        outcome = failed.get(name) or started[name]
        if outcome.ok and outcome.result == "started" and name in was_running:
            outcome = Outcome(name, "restarted")
        outcomes.append(outcome)
    return outcomes


def _signal(client: SupervisorClient, infos: list[ProcessInfo], r: ControlRequest, step: Step) -> list[Outcome]:
    sig = r.signal or "TERM"
    client.require(SIGNAL)     # before 3.2.0: Unsupported, one line for the host
    answers = client.multicall([("supervisor.signalProcess", (i.fullname, sig)) for i in infos])
    return [_signal_answer(i, a, sig) for i, a in zip(infos, answers)]


def _signal_answer(info: ProcessInfo, answer: object, sig: str) -> Outcome:
    """A process that is not running has nothing to signal: say what it is doing instead."""
    if isinstance(answer, SupervisorFault) and answer.code == Faults.NOT_RUNNING:
        if info.state is ProcessState.BACKOFF:
            return Outcome(info.fullname, "signal", error=f"nothing to signal: {processes.backoff_sentence(info)}")
        return Outcome(info.fullname, "signal", error=f"nothing to signal: not running ({info.statename})")
    return _answer(info.fullname, answer, f"signalled {sig}", "signal")


def _clear(client: SupervisorClient, infos: list[ProcessInfo], r: ControlRequest, step: Step) -> list[Outcome]:
    answers = client.multicall([("supervisor.clearProcessLogs", (n,)) for n in _names(infos)])
    return [_answer(n, a, "logs cleared", "clear") for n, a in zip(_names(infos), answers)]


def _answer(name: str, answer: object, done: str, tried: str) -> Outcome:
    if isinstance(answer, SupervisorFault):
        return Outcome(name, tried, error=processes.fault_sentence(answer))
    return Outcome(name, done)


ACTING: dict[str, Callable[[SupervisorClient, list[ProcessInfo], ControlRequest, Step], list[Outcome]]] = {
    "start": _start,
    "stop": _stop,
    "restart": _restart,
    "signal": _signal,
    "clear": _clear,
}


def _dry_run(client: SupervisorClient, infos: list[ProcessInfo], r: ControlRequest, step: Step) -> list[Outcome]:
    if r.action == "signal":
        client.require(SIGNAL)
    return [Outcome(i.fullname, _would(r, i), changed=False, detail=_now(i)) for i in infos]


def _now(info: ProcessInfo) -> str:
    return f"({info.statename}, pid {info.pid})" if info.pid else f"({info.statename})"


def _would(r: ControlRequest, info: ProcessInfo) -> str:
    running = info.state in processes.RUNNING_STATES
    if r.action == "start" and running:
        return "already started" if info.state is ProcessState.RUNNING else "would wait until RUNNING"
    if r.action == "stop" and not running:
        return "not running"
    if r.action == "signal":
        return f"would signal {r.signal}"
    if r.action == "restart" and not running:
        return "would start"
    return f"would {r.action}"


def read_pids(fleet: Fleet, specs: Sequence[str]) -> ActionReport:
    """supervisorctl pid: supervisord's pid without names, else each named process's pid."""
    if not specs:
        results = fleet.read(lambda access: [Outcome("supervisord", str(access.client().call("supervisor.getPID")),
                                                              changed=False)])
        return report("pid", results, informational=True)
    plans = read_plans(fleet, specs, read_only=True)
    check_names_exist(plans, specs)
    hosts = []
    for plan in plans:
        if plan.error is not None or plan.value is None:
            hosts.append(HostOutcomes(plan.name, error=plan.error))
            continue
        outcomes = [Outcome(p.fullname, str(p.pid) if p.pid else "not running", changed=False,
                            detail="" if p.pid else f"({p.statename})") for p in plan.value.processes]
        outcomes += [Outcome(m, "pid", error="no such process") for m in plan.value.missing]
        hosts.append(HostOutcomes(plan.name, outcomes))
    return ActionReport("pid", hosts, informational=True)


def report(action: str, results: Sequence[HostResult[Any]], dry_run: bool = False,
           informational: bool = False) -> ActionReport:
    """Per-host outcome lists (or errors) as an ActionReport, in host order."""
    hosts = [HostOutcomes(r.name, error=r.error) if r.error is not None
             else HostOutcomes(r.name, list(r.value or [])) for r in results]
    return ActionReport(action, hosts, dry_run, informational)
