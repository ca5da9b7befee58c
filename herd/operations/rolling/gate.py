"""Restarting one process and holding it to the health gate.

A restarted process is healthy when it reaches RUNNING, is still RUNNING
with the same pid ``min_healthy`` seconds later, and the probe (if any)
passes.  FATAL, EXITED, STOPPED or a new pid fail the gate at once; STARTING
and BACKOFF mean "keep waiting" until ``timeout_healthy``.

Interrupts: before the stop, the process is left alone; after it, the
process is always started again and waited for up to RUNNING (the gate's
later phases are skipped), so herd never leaves stopped what it stopped.

A reload roll (``rolling-restart --signal HUP``) sends a signal instead of
stopping and starting (:func:`signal_process`): the process must keep its
pid, stay RUNNING for ``min_healthy`` seconds after the signal and pass the
probe; a program that dies on the signal fails the gate, named as such.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Literal

from herd.errors import Faults, HerdError, HostError, SupervisorFault
from herd.operations.rolling.plan import port_of
from herd.operations.rolling.probes import Probe
from herd.fleet.access import HostAccess
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessInfo, ProcessState

POLL = 0.05          # state polls: cheap (one round trip), keeps herd's overhead small
PROBE_PERIOD = 1.0   # between failed probe attempts
LOG_LINES = 5


# Where a process's restart ended: done (healthy), interrupted (restarted, gate skipped), or the phase
# that failed; "connection" when the host dropped mid-restart (set by the runner).
GatePhase = Literal["done", "stop", "start", "min-healthy", "probe", "interrupted", "connection", "signal"]


@dataclass(frozen=True)
class GateSpec:
    """The health gate of each process (defaults: herd/operations/rolling/options.py, their one home)."""

    min_healthy: float
    timeout_healthy: float
    probe: Probe | None = None


@dataclass
class ProcessResult:
    """How one process's restart went."""

    name: str
    ok: bool
    phase: GatePhase              # where it ended
    detail: str = ""
    old_pid: int = 0
    new_pid: int = 0
    log_tail: list[str] = field(default_factory=list)
    waited: float = 0.0           # seconds spent in the unavoidable waits (stop, start, min-healthy, probe)
    signal: str = ""              # a reload roll: the signal sent (HUP) instead of a restart


Phase = Callable[[str, str], None]  # (process, phase) progress callback


class GateFailure(Exception):
    def __init__(self, phase: GatePhase, detail: str) -> None:
        self.phase = phase
        self.detail = detail
        super().__init__(detail)


def restart_process(host: HostAccess, name: str, spec: GateSpec,
                    values: dict[str, str], interrupted: threading.Event, on_phase: Phase) -> ProcessResult:
    """Stop, start and gate one process; never raises for the process's own failure."""
    client = host.client()
    before = _info(client, name)

    def restart() -> ProcessInfo:
        on_phase(name, "stopping")
        _stop(client, name, spec.timeout_healthy)
        on_phase(name, "starting")
        return _start(client, name, spec.timeout_healthy)

    return _gated(host, ProcessResult(name, ok=False, phase="stop", old_pid=before.pid), restart, "restarted",
                  spec, values, interrupted, on_phase)


def _gated(host: HostAccess, result: ProcessResult, begin: Callable[[], ProcessInfo], done: str, spec: GateSpec,
           values: dict[str, str], interrupted: threading.Event, on_phase: Phase,
           explain: Callable[[GateFailure], GateFailure] | None = None) -> ProcessResult:
    """``begin()`` brings the process to RUNNING (or raises GateFailure); then, unless interrupted, the same
    pid for ``min_healthy`` and the probe (a failure there worded by ``explain``, if given).  A failure
    fills ``result`` with its phase and the last log lines."""
    client, name = host.client(), result.name
    started = time.monotonic()
    try:
        running = begin()
        result.new_pid = running.pid
        try:
            on_phase(name, f"min-healthy {spec.min_healthy:g}s")
            _hold(client, name, running.pid, spec.min_healthy, "min-healthy", interrupted)
            if interrupted.is_set():
                result.phase, result.detail = "interrupted", f"{done} (gate skipped: interrupted)"
                result.ok = True
                return result
            if spec.probe is not None:
                on_phase(name, "probe")
                result.detail = _probe(client, host, name, running.pid, spec, values, started)
        except GateFailure as failure:
            raise (explain(failure) if explain else failure) from failure
        result.ok, result.phase = True, "done"
    except GateFailure as failure:
        result.phase, result.detail = failure.phase, failure.detail
        result.log_tail = last_log_lines(client, name)
    finally:
        result.waited = time.monotonic() - started
    return result


def signal_process(host: HostAccess, name: str, spec: GateSpec, signal: str, values: dict[str, str],
                   interrupted: threading.Event, on_phase: Phase) -> ProcessResult:
    """Send ``signal`` (``HUP``) to one process and gate it; never raises for the process's own failure.

    The gate of a reload: the process is still RUNNING with the pid it had
    before the signal for ``min_healthy`` seconds, and the probe passes
    within ``timeout_healthy``.  A pid change or another state means the
    program died on the signal (supervisord may have started it again):
    the failure says so, with the last log lines, as a failed restart does.

    A process not RUNNING when its turn comes (the one that failed the gate
    of the roll being resumed, FATAL after it died) has nothing to reload:
    it is started and gated as a restart would (:func:`restart_process`).
    """
    client = host.client()
    before = _info(client, name)
    if before.state is not ProcessState.RUNNING:
        result = restart_process(host, name, spec, values, interrupted, on_phase)
        if result.ok:
            result.detail = f"was {before.statename}: started instead of sent SIG{signal}" + \
                (f"; {result.detail}" if result.detail else "")
        return result

    def send() -> ProcessInfo:
        on_phase(name, f"sending SIG{signal}")
        _send(client, name, signal)
        return before

    return _gated(host, ProcessResult(name, ok=False, phase="signal", old_pid=before.pid, signal=signal), send,
                  f"sent SIG{signal}", spec, values, interrupted, on_phase,
                  lambda failure: _died(client, name, before.pid, signal, failure))


def _send(client: SupervisorClient, name: str, signal: str) -> None:
    try:
        client.call("supervisor.signalProcess", name, signal)
    except SupervisorFault as fault:
        raise GateFailure("signal", f"SIG{signal} refused: {fault.text}") from fault


def _died(client: SupervisorClient, name: str, pid: int, signal: str, failure: GateFailure) -> GateFailure:
    """The gate's failure after a signal, worded as what happened: the program died on the signal
    (a pid change or a state other than RUNNING), or, still the same process, the probe failed."""
    info = _info(client, name)
    if info.state is ProcessState.RUNNING and info.pid == pid:
        return failure
    if info.pid and info.pid != pid:
        what = f"supervisord started it again (pid {pid} -> {info.pid}, {info.statename})"
    else:
        what = f"{info.statename} ({info.spawnerr or info.description or 'exited'})"
    return GateFailure(failure.phase, f"died on SIG{signal}: {what}")


def _info(client: SupervisorClient, name: str) -> ProcessInfo:
    return ProcessInfo.from_rpc(client.call("supervisor.getProcessInfo", name))


def _stop(client: SupervisorClient, name: str, timeout: float) -> None:
    try:
        client.call("supervisor.stopProcess", name, False)
    except SupervisorFault as fault:
        if fault.code != Faults.NOT_RUNNING:
            raise GateFailure("stop", f"stop refused: {fault.text}") from fault
    deadline = time.monotonic() + timeout
    while (info := _info(client, name)).state not in (ProcessState.STOPPED, ProcessState.EXITED,
                                                      ProcessState.FATAL):
        if time.monotonic() > deadline:
            raise GateFailure("stop", f"still {info.statename} {timeout:g} s after the stop request")
        time.sleep(POLL)


def _start(client: SupervisorClient, name: str, timeout: float) -> ProcessInfo:
    try:
        client.call("supervisor.startProcess", name, False)
    except SupervisorFault as fault:
        raise GateFailure("start", f"start refused: {fault.text}") from fault
    deadline = time.monotonic() + timeout
    while True:
        info = _info(client, name)
        if info.state is ProcessState.RUNNING:
            return info
        if info.state in (ProcessState.FATAL, ProcessState.EXITED, ProcessState.STOPPED):
            why = info.spawnerr or info.description or "exited"
            raise GateFailure("start", f"{info.statename} while starting ({why})")
        if time.monotonic() > deadline:
            raise GateFailure("start", f"still {info.statename} after {timeout:g} s (--timeout-healthy)")
        time.sleep(POLL)


def _hold(client: SupervisorClient, name: str, pid: int, seconds: float, phase: GatePhase,
          interrupted: threading.Event) -> None:
    """Stay RUNNING with the same pid for ``seconds``."""
    until = time.monotonic() + seconds
    while True:
        _still_healthy(client, name, pid, phase)
        remaining = until - time.monotonic()
        if remaining <= 0 or interrupted.is_set():
            return
        time.sleep(min(POLL * 4, remaining))


def _still_healthy(client: SupervisorClient, name: str, pid: int, phase: GatePhase) -> None:
    info = _info(client, name)
    if info.state is not ProcessState.RUNNING:
        raise GateFailure(phase, f"{info.statename} after reaching RUNNING ({info.spawnerr or info.description})")
    if info.pid != pid:
        raise GateFailure(phase, f"restarted by supervisord (pid {pid} -> {info.pid}): it crashed")


def _probe(client: SupervisorClient, host: HostAccess, name: str, pid: int, spec: GateSpec,
           values: dict[str, str], started: float) -> str:
    assert spec.probe is not None
    deadline = started + spec.timeout_healthy
    fields = dict(values, port=port_of(name.split(":")[-1]), process=name)
    while True:
        passed, detail = spec.probe.run(host, fields, timeout=max(1.0, min(10.0, deadline - time.monotonic())))
        _still_healthy(client, name, pid, "probe")
        if passed:
            return detail
        if time.monotonic() + PROBE_PERIOD > deadline:
            raise GateFailure("probe", f"probe failing after {spec.timeout_healthy:g} s: {detail}")
        time.sleep(PROBE_PERIOD)


def last_log_lines(client: SupervisorClient, name: str, count: int = LOG_LINES) -> list[str]:
    """The last lines of a process's stderr and stdout logs, for the failure report."""
    lines: list[str] = []
    calls = [("supervisor.tailProcessStderrLog", (name, 0, 4096)),
             ("supervisor.tailProcessStdoutLog", (name, 0, 4096))]
    try:
        answers = client.multicall(calls)
    except HerdError:  # the report must not fail because the log cannot be read (a fault, a lost host)
        return lines
    for label, answer in zip(("stderr", "stdout"), answers):
        if isinstance(answer, list) and answer and answer[0]:
            tail = str(answer[0]).splitlines()[-count:]
            lines.extend(f"{label}: {line}" for line in tail)
    return lines


ADD_GRACE = 5.0   # an added group's autostart process is STOPPED until supervisord's next turn starts it


def gate_started(host: HostAccess, name: str, spec: GateSpec, values: dict[str, str],
                 interrupted: threading.Event, on_phase: Phase, *, old_pid: int = 0) -> ProcessResult:
    """Hold a process supervisord was asked to start (a re-added group's) to the gate; never raises for it.

    The rolling update's counterpart of :func:`restart_process` after its
    stop: RUNNING within ``timeout_healthy`` (STOPPED only for the moment
    before supervisord's next turn), then, unless interrupted, the same pid
    for ``min_healthy`` and the probe.
    """
    client = host.client()

    def started() -> ProcessInfo:
        on_phase(name, "starting")
        return _until_running(client, name, spec.timeout_healthy)

    return _gated(host, ProcessResult(name, ok=False, phase="start", old_pid=old_pid), started, "started", spec,
                  values, interrupted, on_phase)


def _until_running(client: SupervisorClient, name: str, timeout: float) -> ProcessInfo:
    """Wait for a process supervisord is starting on its own: RUNNING, or a GateFailure saying why not."""
    begun = time.monotonic()
    deadline = begun + timeout
    while True:
        try:
            info = _info(client, name)
        except SupervisorFault as fault:
            raise GateFailure("start", f"not in supervisord after the group was added: {fault.text}") from fault
        if info.state is ProcessState.RUNNING:
            return info
        waiting = info.state in (ProcessState.STARTING, ProcessState.BACKOFF) or (
            info.state is ProcessState.STOPPED and time.monotonic() < begun + ADD_GRACE)
        if not waiting:
            why = info.spawnerr or info.description or "exited"
            raise GateFailure("start", f"{info.statename} while starting ({why})")
        if time.monotonic() > deadline:
            raise GateFailure("start", f"still {info.statename} after {timeout:g} s (--timeout-healthy)")
        time.sleep(POLL)


def recover_lost(host: HostAccess, name: str, lost: HostError) -> ProcessResult:
    """The connection broke mid-restart: reconnect once and make sure the process runs again.

    A roll and guard's remediation both stop before they start: a lost
    session between the two must not leave the process stopped.  The
    result is a failure either way (the gate was not passed), saying what
    was done.
    """
    note = f"connection lost: {lost.reason}"
    try:
        host.reset()
        client = host.client()
        info = ProcessInfo.from_rpc(client.call("supervisor.getProcessInfo", name))
        if info.state in (ProcessState.STOPPED, ProcessState.EXITED):
            client.call("supervisor.startProcess", name, False)
            note += "; reconnected and started it again"
    except HerdError as again:
        note += f"; could not reconnect ({again.reason}): it may be left stopped"
    return ProcessResult(name, ok=False, phase="connection", detail=note)
