"""Starting and stopping processes on one host, and waiting for them to settle.

supervisord is single-threaded: a ``startProcess(name, wait=True)`` holds
its answer (and our channel) for seconds, and several of them in one
multicall run one after the other.  So herd asks for every process of a host
at once with ``wait=False`` in one multicall, then polls getAllProcessInfo
(one round trip) until each process reaches a final state or the deadline.
The rolling restart builds on the same primitives, one process at a time.
"""

from __future__ import annotations

import functools

import time
from typing import Callable, Sequence

from herd.errors import Faults, SupervisorFault
from herd.operations.outcomes import Outcome
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessInfo, ProcessState

POLL_INTERVAL = 0.1
RUNNING_STATES = (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.BACKOFF)


def start(client: SupervisorClient, names: Sequence[str], *, wait: bool, timeout: float) -> list[Outcome]:
    """Start the named processes (full names); ``already started`` is not an error when it is RUNNING.

    supervisord answers ALREADY_STARTED for STARTING and BACKOFF too (a
    crash-looping program "is started"): those are read once more and, with
    ``wait``, waited for like the processes herd started; without it a
    BACKOFF one is a failure that says what supervisord is doing with it.
    """
    started = functools.partial(_started, host=client.host)
    outcomes = _act(client, "supervisor.startProcess", names, _start_answer, started, "started", wait, timeout)
    already = [o.name for o in outcomes if o.ok and not o.changed and o.result == "already started"]
    if not already:
        return outcomes
    states = {i.fullname: i for i in client.all_process_info()}
    settled = {n: _already(states.get(n), n, client.host) for n in already}
    pending = [n for n, o in settled.items() if o is None]
    if wait and pending:
        settled.update(_await(client, pending, started, timeout, "started"))
    elif pending:
        settled.update({n: _not_waited(states[n]) for n in pending})
    return [settled.get(o.name) or o for o in outcomes]


def _already(info: ProcessInfo | None, name: str, host: str) -> Outcome | None:
    """An ALREADY_STARTED answer, seen with the state: final, or None while on its way (STARTING, BACKOFF)."""
    if info is None or info.state is ProcessState.RUNNING:
        return Outcome(name, "already started", changed=False)
    if info.state in (ProcessState.STARTING, ProcessState.BACKOFF):
        return None
    return _started(info, host)


def _not_waited(info: ProcessInfo) -> Outcome:
    if info.state is ProcessState.BACKOFF:
        return Outcome(info.fullname, "start", error=backoff_sentence(info))
    return Outcome(info.fullname, "already starting", changed=False)


def backoff_sentence(info: ProcessInfo) -> str:
    """What a BACKOFF process is doing: supervisord keeps trying to start it, and why it failed."""
    why = info.spawnerr or info.description
    return f"BACKOFF: it exits at start and supervisord keeps retrying{f' ({why})' if why else ''}"


def stop(client: SupervisorClient, names: Sequence[str], *, wait: bool, timeout: float) -> list[Outcome]:
    """Stop the named processes; ``not running`` is not an error."""
    return _act(client, "supervisor.stopProcess", names, _stop_answer, _stopped, "stopped", wait, timeout)


Answer = Callable[[str, object], Outcome]          # a call's answer -> its outcome
Final = Callable[[ProcessInfo], "Outcome | None"]   # a state -> the final outcome, None while on the way


def _act(client: SupervisorClient, method: str, names: Sequence[str], answer: Answer, final: Final, goal: str,
         wait: bool, timeout: float) -> list[Outcome]:
    """Ask for every process at once (wait=False), then, if asked, poll them to a final state."""
    answers = client.multicall([(method, (n, False)) for n in names])
    outcomes = {n: answer(n, a) for n, a in zip(names, answers)}
    pending = [n for n, o in outcomes.items() if o.ok and o.changed]
    if wait and pending:
        outcomes.update(_await(client, pending, final, timeout, goal))
    return [outcomes[n] for n in names]


def _start_answer(name: str, answer: object) -> Outcome:
    if not isinstance(answer, SupervisorFault):
        return Outcome(name, "starting" if answer else "not started")
    if answer.code == Faults.ALREADY_STARTED:
        return Outcome(name, "already started", changed=False)    # settled by start() with the state
    if answer.code == Faults.FAILED and "unknown process state" in answer.text:
        return Outcome(name, "start", error=UNKNOWN_SENTENCE)
    return Outcome(name, "start", error=fault_sentence(answer))


def _stop_answer(name: str, answer: object) -> Outcome:
    if not isinstance(answer, SupervisorFault):
        return Outcome(name, "stopping")
    if answer.code == Faults.NOT_RUNNING:
        return Outcome(name, "not running", changed=False)
    return Outcome(name, "stop", error=fault_sentence(answer))


def log_hint(name: str, host: str) -> str:
    """``(see herd tail -H web01 worker stderr)``: the command that shows why, on the host it failed on
    (without ``-H`` it would tail every selected host's, most of them fine)."""
    return f"(see herd tail -H {host} {name} stderr)" if host else f"(see herd tail {name} stderr)"


def _started(info: ProcessInfo, host: str = "") -> Outcome | None:
    """Final outcome of a start, or None to keep waiting (STARTING, BACKOFF)."""
    if info.state is ProcessState.RUNNING:
        return Outcome(info.fullname, "started")
    if info.state is ProcessState.FATAL:
        why = info.spawnerr or "exited too quickly"
        return Outcome(info.fullname, "start", error=f"FATAL: {why} {log_hint(info.fullname, host)}")
    if info.state in (ProcessState.EXITED, ProcessState.STOPPED, ProcessState.STOPPING):
        return Outcome(info.fullname, "start", error=f"{info.statename} while starting ({info.description})")
    if info.state is ProcessState.UNKNOWN:
        return Outcome(info.fullname, "start", error=UNKNOWN_SENTENCE)
    return None


UNKNOWN_SENTENCE = ("UNKNOWN: supervisord lost track of this process and will not start it "
                    "(herd reload restarts supervisord and all its processes)")


def _stopped(info: ProcessInfo) -> Outcome | None:
    if info.state in (ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL):
        return Outcome(info.fullname, "stopped")
    return None


def _await(client: SupervisorClient, names: Sequence[str], final: Final, timeout: float,
           goal: str) -> dict[str, Outcome]:
    """Poll until every name has a final outcome or the deadline passes."""
    deadline = time.monotonic() + timeout
    done: dict[str, Outcome] = {}
    waiting = set(names)
    while True:
        infos = {i.fullname: i for i in client.all_process_info()}
        for name in list(waiting):
            info = infos.get(name)
            outcome = Outcome(name, goal, error="disappeared from supervisord") if info is None else final(info)
            if outcome is not None:
                done[name] = outcome
                waiting.discard(name)
        if not waiting:
            return done
        if time.monotonic() >= deadline:
            for name in waiting:
                done[name] = Outcome(name, goal, error=_still(infos.get(name), timeout))
            return done
        time.sleep(POLL_INTERVAL)


def _still(info: ProcessInfo | None, timeout: float) -> str:
    if info is None:
        return f"gone after {timeout:g} s"
    if info.state is ProcessState.BACKOFF:
        return f"still {backoff_sentence(info)}, after {timeout:g} s"
    return f"still {info.statename} after {timeout:g} s"


FAULT_WORDS = {
    Faults.BAD_NAME: "no such process",
    Faults.NOT_RUNNING: "not running",
    Faults.ALREADY_STARTED: "already started",
    Faults.SPAWN_ERROR: "spawn error",
    Faults.ABNORMAL_TERMINATION: "abnormal termination",
    Faults.NO_FILE: "no such file",
    Faults.NOT_EXECUTABLE: "not executable",
    Faults.BAD_SIGNAL: "bad signal",
    Faults.ALREADY_ADDED: "already added",
    Faults.STILL_RUNNING: "still running",
    Faults.CANT_REREAD: "cannot reread the config",
    Faults.FAILED: "failed",
}


def fault_sentence(fault: SupervisorFault) -> str:
    """A fault as a short sentence: ``no such file: /opt/app/bin/x``."""
    word = FAULT_WORDS.get(fault.code, f"fault {fault.code}")
    _, _, detail = fault.text.partition(":")
    detail = detail.strip()
    return f"{word}: {detail}" if detail and fault.code in (Faults.NO_FILE, Faults.NOT_EXECUTABLE,
                                                           Faults.FAILED, Faults.CANT_REREAD,
                                                           Faults.SPAWN_ERROR) else word
