"""Remediation: a process a remediating rule fires on is restarted through the rolling-restart gate.

superlance's memmon restarts a leaking process on each host on its own, so
when a leak hits every host of one build, every host restarts at once.
Guard sees the fleet: its :class:`Remediator` takes the firing signals of
the rules that say ``remediate: restart`` and restarts those processes
*fleet-wide limited*:

- never more than ``max_processes`` processes being remediated at once, nor
  more than ``max_percent`` % of one program's processes across the fleet
  (at least 1), nor more than the program's ``per_host`` (its ``rolling:``
  entry, default 1) on one host; the others wait their turn in the order
  they came (one request per process: a signal firing again adds nothing),
  and a request whose signal recovers meanwhile is dropped;
- the restart is the rolling restart's (herd/operations/rolling/gate.py
  ``restart_process``) with the program's gate as ``herd rolling-restart``
  builds it (herd/operations/rolling/options.py: herd's defaults, then the
  inventory's ``rolling:`` entry): RUNNING, the same pid for
  ``min_healthy``, the probe; the entry's drain hooks (pre/post, on the
  controller) run around it;
- a process restarted (or whose restart failed) less than ``cooldown`` ago
  is not restarted again: said once; a failed one is tried again after the
  cooldown only if its signal is still firing; a successful one needs a new
  firing signal (one that came during the restart, after a recovery, counts:
  the new process is in trouble too);
- ``dry_run``: "would restart tornado:tornado-8080 on web02 (rss 912M >
  800M for 5m)", once per firing, and nothing done.

Threads: :meth:`request` and :meth:`finished` are called from guard's one
thread and never block; each restart runs in a thread of the fleet layer
(``Fleet.spawn``, the step through ``Fleet.attempt``) and hands its result
back through a queue that :meth:`finished` drains.  So the bookkeeping
(in flight, waiting, cooldowns) needs no lock.  :meth:`close` (guard
stopping) lets a restart in flight finish its step -- the gate is abandoned
once the process is RUNNING again, as a rolling restart does on Ctrl-C --
and says what it left.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

from herd import text
from herd.errors import HerdError, HostError
from herd.operations.guard.rules import Rule, Signal, program_of
from herd.operations.poller import HostSnapshot

if TYPE_CHECKING:
    from herd.fleet import Fleet, HostAccess
    from herd.operations.rolling.gate import ProcessResult
    from herd.operations.rolling.options import RollOptions

log = logging.getLogger("herd.guard")

FINISH = 60.0        # seconds guard waits, when stopping, for restarts in flight to end their step

Key = tuple[str, str]                        # (host, process full name)
Gates = Callable[[str], "RollOptions"]       # program -> its checked roll options
OutcomeKind = Literal["started", "restarted", "failed", "cooldown", "waiting", "dropped", "would", "left"]
NOTIFIED = frozenset({"restarted", "failed", "cooldown", "would"})   # outcomes the incident's messages carry


@dataclass(frozen=True)
class Outcome:
    """Something the remediator did or decided, for guard's output and (``notify``) the incident."""

    kind: OutcomeKind
    rule: str                    # the incident the remediation belongs to: (rule, subject)
    subject: str
    host: str
    process: str
    line: str                    # one sentence; host text in it is unescaped (whoever prints it escapes it)

    @property
    def notify(self) -> bool:
        return self.kind in NOTIFIED

    @property
    def busy(self) -> int:
        """+1 when a restart begins, -1 when it ends: the incident's recovery waits for the outcome."""
        return 1 if self.kind == "started" else -1 if self.kind in ("restarted", "failed") else 0


@dataclass
class _Request:
    """A firing process to restart: waiting its turn, in its cooldown, or in flight."""

    signal: Signal
    why: str                     # "rss 912M > 800M for 5m": the signal's detail, or the rule's title
    told_wait: bool = False      # "waits its turn" said
    told_held: bool = False      # "remediation of the program is held" said
    recovered: bool = False      # its signal recovered while it was in flight: no retry if it fails
    again: Signal | None = None  # ... and fired again since (the restarted process in trouble too)


@dataclass
class _Done:
    """A restart's end, handed from its fleet thread to guard's."""

    key: Key
    result: ProcessResult | None = None      # None: not restarted (see error, or guard stopped first)
    notes: list[str] = field(default_factory=list)    # what the hooks did
    error: str | None = None                 # why it failed besides its gate (a hook, the host, a fault)
    skipped: bool = False                    # guard stopped before the stop: nothing touched
    took: float = 0.0                        # seconds, begin to end
    ended: float = 0.0                       # the remediator's clock: its cooldown starts here


def gates_from(inventory: Any) -> Gates:
    """Each program's roll options, as ``herd rolling-restart PROGRAM`` builds them from the inventory.

    Every ``rolling:`` entry is checked now, so a bad one is a usage error
    (``FILE:LINE: rolling.NAME.KEY: ...``) when guard starts, not when a
    leak is found at 3 a.m.  A program without an entry gets herd's
    defaults (min-healthy 10 s, timeout-healthy 120 s, no probe, per-host 1).
    """
    from herd.inventory.rolling import settings_for
    from herd.operations.rolling.options import inventory_layer, layered, roll_options

    entries: Mapping[str, Any] = getattr(inventory, "rolling", None) or {}
    path = str(getattr(inventory, "path", "inventory"))
    built: dict[str, RollOptions] = {}

    def gate(program: str) -> RollOptions:
        if program not in built:
            layer = layered(inventory_layer(path, settings_for(entries, program)))
            layer.pop("pause", None)         # a roll's pace between batches: nothing to do with one restart
            built[program] = roll_options(program, can_ask=False, **layer)
        return built[program]

    for name in entries:
        gate(name)
    return gate


def _span(seconds: float) -> str:
    """``45s``, ``10m``, ``2h``: a cooldown or an age, as the inventory writes durations."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


class Remediator:
    """Restarts the processes of remediating rules' firing signals, within the fleet-wide limits."""

    def __init__(self, gates: Gates, *, fleet: Fleet | None = None, max_processes: int = 1,
                 max_percent: float = 25.0, cooldown: float = 600.0, dry_run: bool = False,
                 cooldowns: Mapping[Key, float] | None = None, clock: Callable[[], float] = time.time,
                 finish: float = FINISH, audit: Callable[[Outcome], None] | None = None) -> None:
        self.gates = gates
        self.audit = audit                      # told each restart's end (herd guard: the audit trail)
        self.fleet = fleet
        self.max_processes = max(1, int(max_processes))
        self.max_percent = max(0.0, float(max_percent))
        self.cooldown = max(0.0, float(cooldown))
        self.dry_run = dry_run
        self.clock = clock
        self.finish = finish
        self.changed = False                    # cooldowns changed since the state file was written
        self.started = 0                        # restarts begun
        self._cooldowns: dict[Key, float] = dict(cooldowns or {})   # last restart's end (clock time)
        self._wanted: dict[Key, _Request] = {}  # firing, not yet restarted; insertion order is the turn
        self._inflight: dict[Key, float] = {}   # key -> time.monotonic() it began
        self._told: set[Key] = set()            # "in its cooldown" said, until the next restart
        self._would: set[Key] = set()           # dry run: "would restart" said, until it recovers
        self._halted: dict[str, tuple[float, str]] = {}  # program -> (when a restart of it failed, which)
        self._census: dict[str, Counter[str]] = {}    # host -> program -> processes (its last answered poll)
        self._present: dict[str, frozenset[str]] = {}
        self._said: list[Outcome] = []
        self._done: queue.Queue[_Done] = queue.Queue()
        self._stopping = threading.Event()

    def use(self, fleet: Fleet) -> None:
        """The fleet the restarts run on (guard's, when it attaches to the poller)."""
        self.fleet = fleet

    def describe(self) -> str:
        """What guard's first line says about remediation."""
        if self.dry_run:
            return "remediation: dry run (restarts said, not done)"
        return (f"remediation: restarts through the rolling gate, at most {self.max_processes} process(es) at once "
                f"and {self.max_percent:g} % of a program's, cooldown {_span(self.cooldown)}")

    # -- guard's thread: input -------------------------------------------------------------

    def seen(self, snapshot: HostSnapshot) -> None:
        """A host's poll: how many processes each program has there (``max_percent``), and which exist."""
        if not snapshot.ok:
            return
        self._census[snapshot.host] = Counter(program_of(p.fullname) for p in snapshot.processes)
        self._present[snapshot.host] = frozenset(p.fullname for p in snapshot.processes)

    def request(self, signal: Signal, rule: Rule) -> None:
        """A remediating rule's signal: firing queues its process (once); recovered drops it if waiting."""
        if signal.process is None:          # a host rule: no process to restart
            return
        key = (signal.host, signal.process)
        if not signal.firing:
            self._recovered(key, signal)
            return
        why = signal.detail or rule.title
        if self.dry_run:
            if key not in self._would:
                self._would.add(key)
                self._say("would", signal, f"would restart {signal.process} on {signal.host} ({why})")
            return
        request = self._wanted.get(key)
        if request is None:
            self._wanted[key] = _Request(signal, why)
            self._start_due()
        elif key in self._inflight and request.recovered:     # the new process fires too: after this restart,
            request.recovered, request.again = False, signal   # it is a request of its own (cooldown first)

    def finished(self) -> list[Outcome]:
        """What happened since the last call (restarts ended, begun, waiting ...); starts those whose turn came."""
        while True:
            try:
                done = self._done.get_nowait()
            except queue.Empty:
                break
            self._end(done)
        self._start_due()
        said, self._said = self._said, []
        return said

    def cooldowns(self) -> dict[Key, float]:
        """The cooldowns still running (for the state file)."""
        now = self.clock()
        return {k: at for k, at in self._cooldowns.items() if now - at < self.cooldown}

    @property
    def waiting(self) -> list[Key]:
        return [k for k in self._wanted if k not in self._inflight]

    def close(self, timeout: float | None = None) -> list[Outcome]:
        """Guard stops: no new restart; those in flight end their step (within ``timeout``); what was left."""
        self._stopping.set()
        deadline = time.monotonic() + (self.finish if timeout is None else timeout)
        while self._inflight:
            try:
                self._end(self._done.get(timeout=max(0.0, min(0.2, deadline - time.monotonic()))))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    break
        for (host, process), began in self._inflight.items():
            request = self._wanted[(host, process)]
            self._say("left", request.signal, f"left {process} on {host} mid-restart ({request.why}): not done "
                      f"{time.monotonic() - began:.0f}s after it began (herd status shows its state)")
        now = self.clock()
        for host, process in self.waiting:
            request, last = self._wanted[(host, process)], self._cooldowns.get((host, process))
            why = f"in its cooldown ({_span(self.cooldown - (now - last))} to go)" \
                if last is not None and now - last < self.cooldown else "guard stopped before its turn"
            self._say("left", request.signal, f"left {process} on {host} not restarted ({request.why}): {why}")
        said, self._said = self._said, []
        return said

    # -- guard's thread: decisions ---------------------------------------------------------

    def _recovered(self, key: Key, signal: Signal) -> None:
        self._would.discard(key)
        request = self._wanted.get(key)
        if request is None or request.signal.rule != signal.rule:
            return
        if key in self._inflight:
            request.recovered, request.again = True, None
            return
        del self._wanted[key]
        if key in self._cooldowns and self.clock() - self._cooldowns[key] < self.cooldown:
            return                          # waiting out the cooldown of a failed restart: nothing to add
        self._say("dropped", request.signal, f"{key[1]} on {key[0]} recovered ({signal.how or 'ok'}) while "
                  f"waiting its turn: not restarted")

    def _start_due(self) -> None:
        if self._stopping.is_set() or self.fleet is None:
            return
        now = self.clock()
        for key, request in list(self._wanted.items()):
            if key in self._inflight:
                continue
            host, process = key
            last = self._cooldowns.get(key)
            if last is not None and now - last < self.cooldown:
                if key not in self._told:
                    self._told.add(key)
                    self._say("cooldown", request.signal, f"not restarting {process} on {host} ({request.why}): "
                              f"restarted {_span(now - last)} ago, cooldown {_span(self.cooldown)}")
                continue
            if host in self._present and process not in self._present[host]:
                del self._wanted[key]
                self._say("dropped", request.signal, f"{process} on {host} is gone: not restarted")
                continue
            try:
                options = self.gates(program_of(process))
            except HerdError as exc:        # gates_from checked every entry: only a program it could not know
                del self._wanted[key]
                self._say("failed", request.signal, f"cannot restart {process} on {host}: {exc}")
                continue
            halt = self._halt(program_of(process), now)
            if halt is not None:
                if not request.told_held:
                    request.told_held = True
                    self._say("waiting", request.signal, f"{process} on {host} not restarted ({request.why}): {halt}")
                continue
            full = self._full(host, program_of(process), options.per_host)
            if full is not None:
                if not request.told_wait:
                    request.told_wait = True
                    self._say("waiting", request.signal, f"{process} on {host} waits its turn ({request.why}): "
                              f"{full}")
                continue
            self._begin(key, request, options)

    def _halt(self, program: str, now: float) -> str | None:
        """Why ``program``'s restarts are held: one of them failed its gate less than a cooldown ago.

        As a roll stops at the first host that fails its gate: if a restart
        did not come up healthy, the next one would most likely not either,
        and guard must not take the program down host after host.  The
        hold ends with the failed restart's cooldown (or once the failed
        process is restarted healthy).
        """
        held = self._halted.get(program)
        if held is None:
            return None
        since, which = held
        if now - since >= self.cooldown:
            del self._halted[program]
            return None
        return (f"remediation of {program} is held: the restart of {which} failed its gate "
                f"{_span(now - since)} ago ({_span(self.cooldown - (now - since))} to go)")

    def _full(self, host: str, program: str, per_host: int) -> str | None:
        """Why one more restart would break a limit now, or None."""
        if len(self._inflight) >= self.max_processes:
            return f"{len(self._inflight)} restart(s) in flight, the fleet's limit (max_processes {self.max_processes})"
        population = sum(counts[program] for counts in self._census.values())
        allowed = max(1, int(population * self.max_percent / 100 + 1e-9))
        same = sum(1 for _, name in self._inflight if program_of(name) == program)
        if same >= allowed:
            return (f"{same} of {program}'s {population} process(es) in flight, at most {allowed} "
                    f"(max_percent {self.max_percent:g})")
        here = sum(1 for name, _ in self._inflight if name == host)
        if here >= per_host:
            return f"{here} restart(s) in flight on {host} (per_host {per_host})"
        return None

    def _begin(self, key: Key, request: _Request, options: RollOptions) -> None:
        assert self.fleet is not None
        fleet, (host_name, process) = self.fleet, key
        self._inflight[key] = time.monotonic()
        self.started += 1
        request.told_wait = False
        self._say("started", request.signal, f"restarting {process} on {host_name} through the gate "
                  f"({request.why}); {len(self._inflight)} of at most {self.max_processes} in flight")
        host = fleet.host(host_name)
        values = {"host": host_name, "address": host.address or host_name}

        def body(access: HostAccess) -> None:
            began = time.monotonic()
            outcome = fleet.attempt(host, lambda session: self._restart(session, key, options, values))
            done = outcome.value or _Done(key, error=outcome.error.reason if outcome.error else "no result")
            done.took, done.ended = time.monotonic() - began, self.clock()
            self._done.put(done)

        fleet.spawn(body, hosts=[host], name="herd-remedy")

    def _end(self, done: _Done) -> None:
        key, result = done.key, done.result
        self._inflight.pop(key, None)
        request = self._wanted.get(key)
        if request is None:                 # cannot happen: a request in flight is never dropped
            return
        host, process = key
        notes = "".join(f"; {note}" for note in done.notes)
        if done.skipped:
            del self._wanted[key]
            self._say("left", request.signal, f"left {process} on {host} not restarted ({request.why}): "
                      f"guard stopped first{notes}")
            return
        self._cooldowns[key] = done.ended
        self.changed = True
        self._told.add(key)                 # the outcome says the cooldown; a later skip needs no word
        if done.error is not None or result is None or not result.ok:
            why = done.error or (f"{result.phase}: {result.detail}" if result is not None else "not restarted")
            if request.recovered:
                del self._wanted[key]
            self._halted[program_of(process)] = (done.ended, f"{process} on {host}")
            self._say("failed", request.signal, f"restart of {process} on {host} ({request.why}) failed: {why}"
                      f"{notes}; not tried again for {_span(self.cooldown)} (cooldown), and no other "
                      f"{program_of(process)} process is restarted meanwhile")
            return
        del self._wanted[key]
        self._told.discard(key)
        held = self._halted.get(program_of(process))
        if held is not None and held[1] == f"{process} on {host}":
            del self._halted[program_of(process)]      # the one that failed came up healthy: the hold ends
        if request.again is not None:       # fired again during the restart: waits out the cooldown, then its turn
            self._wanted[key] = _Request(request.again, request.again.detail or request.why)
        how = "gate skipped: guard stopping" if result.phase == "interrupted" else f"healthy after {done.took:.0f}s"
        probe = f", {result.detail}" if result.detail and result.phase == "done" else ""
        self._say("restarted", request.signal, f"restarted {process} on {host} through the gate ({request.why}): "
                  f"pid {result.old_pid} -> {result.new_pid}, {how}{probe}{notes}")

    def _say(self, kind: OutcomeKind, signal: Signal, line: str) -> None:
        outcome = Outcome(kind, signal.rule, signal.subject, signal.host, signal.process or "", line)
        self._said.append(outcome)
        log.info("remediation: %s", text.field(line))
        if self.audit is not None and kind in ("restarted", "failed"):    # a restart ended (or could not begin)
            self.audit(outcome)

    # -- a fleet thread: one restart -------------------------------------------------------

    def _restart(self, access: HostAccess, key: Key, options: RollOptions, values: dict[str, str]) -> _Done:
        """Drain, restart through the gate, undrain: one process on one host (in a fleet thread).

        As a roll: a failed pre-hook restarts nothing; a failed gate leaves
        the host drained (its post-hook not run: the process is not healthy).
        """
        from herd.operations.rolling.gate import recover_lost, restart_process
        from herd.operations.rolling.plan import expand
        from herd.operations.rolling.runner import run_hook

        done = _Done(key, skipped=self._stopping.is_set())
        if done.skipped:
            return done
        if options.pre_hook:
            ok, detail = run_hook(expand(options.pre_hook, **values))
            if not ok:
                done.error = f"pre-hook failed, not restarted: {detail}"
                return done
            done.notes.append(f"pre-hook: {detail}")
        if self._stopping.is_set():
            done.skipped = True             # the post-hook below undrains the host
        else:
            try:
                done.result = restart_process(access, key[1], options.gate, values, self._stopping,
                                              lambda name, phase: log.debug("remediation: %s %s: %s", key[0],
                                                                            text.field(name), phase))
            except HostError as exc:
                done.result = recover_lost(access, key[1], exc)
            except HerdError as exc:        # a fault (the process is gone): nothing was stopped
                done.error = exc.reason
        if done.result is not None and not done.result.ok:
            if options.post_hook:
                done.notes.append("post-hook not run: the restart failed, the host stays drained")
        elif options.post_hook:
            ok, detail = run_hook(expand(options.post_hook, **values))
            if ok:
                done.notes.append(f"post-hook: {detail}")
            else:
                done.error = "; ".join(filter(None, [done.error, f"post-hook failed: {detail}"]))
                done.skipped = False
        return done
