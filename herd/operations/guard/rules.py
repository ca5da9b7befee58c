"""What guard watches for: rules that turn the fleet's events into signals (firing, or recovered).

A rule sees the FleetEvents of herd/operations/events.py (what changed
between two polls of a host), a host's first readable snapshot (``settle``:
at start, after a restart of guard, after a host comes back, when no
transition says what the state is), the clock (``tick``: conditions
that need time, "unreachable for 30 s") and, if its ``needs`` ask for it,
every poll of a host with what the engine gathered then (``measure``: the
resources, the probes' results, a config reread).  It answers with Signals;
it sends nothing and groups nothing -- that is the incident book's work
(incidents.py) -- and remediation hangs off the same signals (``remediate``).

The quick start's rules (FATAL, EXITED unexpectedly, unreachable) and the
inventory's (herd/inventory/guard.py: the same, and flapping, rss above X
for T, probe failing N times, config pending for T), each for one program
or for "*" (:class:`Scope`).

A recovery signal for something that never fired is harmless: the book
ignores it.  So process state rules are stateless: leaving the bad state for
RUNNING or STOPPED (an operator stopped it: nothing left to alert on), or
the process going away, is a recovery; the rules that keep state (counts,
durations) send one recovery at a process's first good measurement, which
closes an incident left open by a restart of guard.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

from herd.inventory.guard import RuleSettings
from herd.operations.events import FleetEvent
from herd.operations.poller import HostSnapshot
from herd.supervisor.models import ProcessInfo

if TYPE_CHECKING:
    from herd.operations.rolling.probes import Probe

ProbeResult = tuple[bool, str]          # (passed, what happened): Probe.run's answer

# What a rule may need beyond the poller's changes: every poll (time and measurements), each poll's
# resources (the poller samples them), its probes run each poll, the hosts' config reread now and then.
NEEDS = ("polls", "resources", "probes", "pending")

# the states that end a process incident: it runs again, or someone stopped it on purpose
RECOVERED_STATES = frozenset({"RUNNING", "STOPPED"})


@dataclass(frozen=True)
class Signal:
    """One rule's verdict on one (host, process): trouble (``firing``) or its end."""

    rule: str                 # the rule's name: "fatal", "exited", "unreachable"
    host: str
    subject: str              # what incidents group by across hosts: the program (group); "" for host rules
    process: str | None       # full name (group:name); None for host rules
    firing: bool
    time: float
    detail: str = ""          # untrusted host text (spawnerr, the host's error): data, never markup
    how: str = ""             # a recovery's reason: "RUNNING", "STOPPED", "gone", "host back", "unselected"


class Rule(Protocol):
    """A condition over the fleet.  ``name`` keys incidents; ``title`` is what a message calls it.

    ``remediate``: a firing signal of this rule asks for a restart through the
    rolling-restart gate (the engine hands it to the remediator); False for
    the quick start's rules, which only notify.
    """

    name: str
    title: str
    remediate: bool
    needs: frozenset[str]      # of NEEDS: what the engine must gather for it beyond the changes

    def observe(self, event: FleetEvent) -> list[Signal]:
        """Signals for one change seen by the poller."""

    def settle(self, snapshot: HostSnapshot, now: float) -> list[Signal]:
        """Signals from a host's state as it is (its first readable poll: no transition to go by)."""

    def tick(self, now: float) -> list[Signal]:
        """Signals that time alone brings (called about once a second)."""

    def measure(self, snapshot: HostSnapshot, data: PollData, now: float) -> list[Signal]:
        """Signals from one poll of a host, changed or not: its resources, what the engine gathered (``data``).

        Called only for a rule whose ``needs`` asks for polls (the engine then
        listens to every poll, samples resources, runs probes, rereads config).
        """


def program_of(process: str) -> str:
    """The program an incident groups by: the group of ``group:name``, or the name itself."""
    return process.partition(":")[0]


def duration_text(seconds: float) -> str:
    """``5m``, ``90s``, ``1h``: a rule's duration as the inventory would write it."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def size_text(size: int) -> str:
    """``800M``, ``1.5G``, ``512K``: a byte count as the inventory would write it (binary units)."""
    for unit, scale in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.4g}{unit}"
    return f"{size}B"


@dataclass(frozen=True)
class Scope:
    """Which processes a rule watches: one program's (``program``), or with "*" every program but
    ``others`` (those that have a rule of the same kind of their own, even one set to false)."""

    program: str = "*"
    others: frozenset[str] = frozenset()

    def covers(self, process: str) -> bool:
        return self.covers_program(program_of(process))

    def covers_program(self, program: str) -> bool:
        return program not in self.others if self.program == "*" else program == self.program


EVERYTHING = Scope()


@dataclass(frozen=True)
class PollData:
    """What the engine gathered at one poll of a host for the rules that need it (see NEEDS)."""

    probes: Mapping[str, ProbeResult] = field(default_factory=dict)   # full name -> its probe's result
    pending: tuple[str, ...] | None = None    # groups whose config is pending, when reread now (None: not)


NOTHING = PollData()


class ProcessStateRule:
    """A process that enters ``state`` fires; RUNNING, STOPPED or gone recovers it."""

    needs: frozenset[str] = frozenset()

    def __init__(self, name: str, title: str, state: str, remediate: bool = False,
                 scope: Scope = EVERYTHING) -> None:
        self.name, self.title, self.state = name, title, state
        self.remediate = remediate
        self.scope = scope

    def entering(self, event: FleetEvent) -> bool:
        return event.to_state == self.state

    def observe(self, event: FleetEvent) -> list[Signal]:
        if event.process is None or not self.scope.covers(event.process):
            return []
        if event.kind == "gone":
            return [self._signal(event.host, event.process, False, event.time, how="gone")]
        if event.kind not in ("state", "added"):
            return []
        if self.entering(event):
            return [self._signal(event.host, event.process, True, event.time, detail=event.detail)]
        if event.to_state in RECOVERED_STATES:
            return [self._signal(event.host, event.process, False, event.time, how=event.to_state or "")]
        return []

    def settle(self, snapshot: HostSnapshot, now: float) -> list[Signal]:
        signals = []
        for proc in snapshot.processes:
            if not self.scope.covers(proc.fullname):
                continue
            if proc.statename == self.state and self.fires_as_found():
                signals.append(self._signal(snapshot.host, proc.fullname, True, now,
                                            detail=proc.spawnerr or proc.description))
            elif proc.statename in RECOVERED_STATES:
                signals.append(self._signal(snapshot.host, proc.fullname, False, now, how=proc.statename))
        return signals

    def fires_as_found(self) -> bool:
        """Whether the state alone, found at a first poll, is trouble (no transition needed)."""
        return True

    def tick(self, now: float) -> list[Signal]:
        return []

    def measure(self, snapshot: HostSnapshot, data: PollData, now: float) -> list[Signal]:
        return []

    def _signal(self, host: str, process: str, firing: bool, time: float, *, detail: str = "",
                how: str = "") -> Signal:
        return Signal(self.name, host, program_of(process), process, firing, time, detail, how)


class FatalRule(ProcessStateRule):
    """FATAL: supervisord gave up starting the process (startretries exhausted)."""

    def __init__(self, *, remediate: bool = False, scope: Scope = EVERYTHING) -> None:
        super().__init__("fatal", "FATAL", "FATAL", remediate, scope)


class UnexpectedExitRule(ProcessStateRule):
    """EXITED with a status not in the program's exitcodes (the event's ``expected`` is False).

    An exit whose expectedness is unknown (``expected`` None) does not fire:
    guard alerts on what it knows.  Found EXITED at a first poll, nothing
    says whether it was expected: it does not fire either (but an incident
    already open for it, from before a restart of guard, stays open).  An
    autorestarted crash seen only as RUNNING -> STARTING is the flapping
    rule's.
    """

    def __init__(self, *, remediate: bool = False, scope: Scope = EVERYTHING) -> None:
        super().__init__("exited", "EXITED unexpectedly", "EXITED", remediate, scope)

    def entering(self, event: FleetEvent) -> bool:
        return event.to_state == "EXITED" and event.expected is False

    def fires_as_found(self) -> bool:
        return False


class HostUnreachableRule:
    """A host whose supervisord cannot be read for ``after`` seconds fires; readable again recovers it.

    ``after`` 0 fires at the first failed poll.  The poller retries a failing
    host with backoff (up to 10 s), so "unreachable for N seconds" is seen
    within N seconds plus one backoff.
    """

    name = "unreachable"
    title = "unreachable"
    remediate = False          # a host is not restarted
    needs: frozenset[str] = frozenset()

    def __init__(self, after: float = 0.0) -> None:
        self.after = max(0.0, after)
        self._down: dict[str, tuple[float, str]] = {}    # host -> (down since, its error sentence)
        self._fired: set[str] = set()

    def observe(self, event: FleetEvent) -> list[Signal]:
        if event.kind == "host-down":
            self._down.setdefault(event.host, (event.time, event.detail))
            return self.tick(event.time)
        if event.kind == "host-up":
            return self._up(event.host, event.time)
        return []

    def settle(self, snapshot: HostSnapshot, now: float) -> list[Signal]:
        if snapshot.ok:
            return self._up(snapshot.host, now)
        self._down.setdefault(snapshot.host, (now, snapshot.error or ""))
        return self.tick(now)

    def tick(self, now: float) -> list[Signal]:
        signals = []
        for host, (since, detail) in self._down.items():
            if host not in self._fired and now - since >= self.after:
                self._fired.add(host)
                signals.append(Signal(self.name, host, "", None, True, now, detail))
        return signals

    def measure(self, snapshot: HostSnapshot, data: PollData, now: float) -> list[Signal]:
        return []

    def _up(self, host: str, now: float) -> list[Signal]:
        self._down.pop(host, None)
        self._fired.discard(host)
        return [Signal(self.name, host, "", None, False, now, how="host back")]


Key = tuple[str, str]       # (host, process full name) or (host, group)

# Left by hand, a process is no longer a process rule's business: its incident recovers.
_STOPPED = "STOPPED"


def restarted(event: FleetEvent) -> bool:
    """Whether a state event shows the process (re)started by supervisord since the last poll.

    Entering STARTING counts, and so does a state that only a start leads to
    when its STARTING fell between two polls (BACKOFF or RUNNING from anything
    but STARTING), and a whole cycle between two polls (the same state, another
    pid or start time: the autorestart of a crash seen only as a new pid).  A
    start from STOPPED or FATAL is someone's ``start``, not a flap.
    """
    before, after = event.from_state, event.to_state
    if before in (None, _STOPPED, "FATAL"):
        return False
    if before == after:
        return True
    return after == "STARTING" or (after in ("BACKOFF", "RUNNING") and before != "STARTING")


class FlappingRule:
    """``restarts`` starts of a process within ``within`` seconds fires; ``within`` seconds without one recovers.

    The starts are those :func:`restarted` sees in the poller's events, and
    any event that shows another pid than the last one seen (STARTING ->
    RUNNING with a new pid: it crashed and started again meanwhile), so a
    crash autorestarted between two polls (RUNNING -> STARTING, or RUNNING
    again with another pid) counts.  What a poll cannot see it cannot count:
    several crashes within one interval are one start.
    """

    name = "flapping"
    title = "flapping"
    needs: frozenset[str] = frozenset()

    def __init__(self, restarts: int, within: float, *, remediate: bool = False, scope: Scope = EVERYTHING) -> None:
        self.restarts = max(1, restarts)
        self.within = max(0.0, within)
        self.remediate = remediate
        self.scope = scope
        self._starts: dict[Key, collections.deque[float]] = {}   # the last ``restarts`` starts of each process
        self._fired: set[Key] = set()
        self._unknown: dict[Key, float] = {}     # found at a first poll: recovered (if it was open) once quiet
        self._pids: dict[Key, int] = {}          # the last pid each process was seen with (until it goes)

    def observe(self, event: FleetEvent) -> list[Signal]:
        if event.process is None or not self.scope.covers(event.process):
            return []
        key = (event.host, event.process)
        if event.kind == "gone" or (event.kind == "state" and event.to_state == _STOPPED):
            return self._forget(key, event.time, "gone" if event.kind == "gone" else _STOPPED)
        if event.kind != "state":
            return []
        pid, self._pids[key] = self._pids.get(key, 0), event.pid
        another = bool(pid and event.pid and pid != event.pid and event.to_state in ("STARTING", "RUNNING"))
        if not (restarted(event) or another):
            return []
        starts = self._starts.setdefault(key, collections.deque(maxlen=self.restarts))
        starts.append(event.time)
        self._unknown.pop(key, None)
        if key in self._fired or len(starts) < self.restarts or event.time - starts[0] > self.within:
            return []
        self._fired.add(key)
        detail = f"{self.restarts} starts within {duration_text(self.within)}" \
                 + (f"; last: {event.from_state} -> {event.to_state}" + (f", {event.detail}" if event.detail else ""))
        return [Signal(self.name, event.host, program_of(event.process), event.process, True, event.time, detail)]

    def settle(self, snapshot: HostSnapshot, now: float) -> list[Signal]:
        present = {(snapshot.host, p.fullname) for p in snapshot.processes if self.scope.covers(p.fullname)}
        for key in present - set(self._starts) - self._fired:
            self._unknown.setdefault(key, now)
        return []

    def tick(self, now: float) -> list[Signal]:
        signals = []
        for key in [k for k, starts in self._starts.items() if now - starts[-1] >= self.within]:
            del self._starts[key]            # quiet for ``within``: forgotten (memory stays flat)
            if key in self._fired:
                self._fired.discard(key)
                signals.append(self._recovered(key, now))
        for key in [k for k, since in self._unknown.items() if now - since >= self.within]:
            del self._unknown[key]
            signals.append(self._recovered(key, now))
        return signals

    def measure(self, snapshot: HostSnapshot, data: PollData, now: float) -> list[Signal]:
        return []

    def _recovered(self, key: Key, now: float) -> Signal:
        return Signal(self.name, key[0], program_of(key[1]), key[1], False, now,
                      how=f"no start for {duration_text(self.within)}")

    def _forget(self, key: Key, now: float, how: str) -> list[Signal]:
        self._starts.pop(key, None)
        self._pids.pop(key, None)
        self._unknown.pop(key, None)
        self._fired.discard(key)
        return [Signal(self.name, key[0], program_of(key[1]), key[1], False, now, how=how)]


class _PollRule:
    """A rule over each poll's measurements of each process: a state per (host, process), dropped when the
    process goes; a first measurement that is fine recovers (an incident open from before a restart of guard)."""

    name = ""
    title = ""
    needs: frozenset[str] = frozenset({"polls"})

    def __init__(self, remediate: bool, scope: Scope) -> None:
        self.remediate = remediate
        self.scope = scope
        self._fired: set[Key] = set()
        self._seen: dict[str, set[str]] = {}      # host -> its processes measured at least once

    def observe(self, event: FleetEvent) -> list[Signal]:
        if event.process is None or event.kind != "gone" or not self.scope.covers(event.process):
            return []
        return [self._end((event.host, event.process), event.time, "gone")]

    def settle(self, snapshot: HostSnapshot, now: float) -> list[Signal]:
        return []

    def tick(self, now: float) -> list[Signal]:
        return []

    def measure(self, snapshot: HostSnapshot, data: PollData, now: float) -> list[Signal]:
        if not snapshot.ok:
            return []
        signals: list[Signal] = []
        present: set[Key] = set()
        for proc in snapshot.processes:
            if self.scope.covers(proc.fullname):
                key = (snapshot.host, proc.fullname)
                present.add(key)
                signals += self.one(key, proc, snapshot, data, now)
        for name in self._seen.get(snapshot.host, set()) - {k[1] for k in present}:
            signals.append(self._end((snapshot.host, name), now, "gone"))
        return signals

    def one(self, key: Key, proc: ProcessInfo, snapshot: HostSnapshot, data: PollData, now: float) -> list[Signal]:
        """The signals of one process of the rule's scope at this poll."""
        raise NotImplementedError

    def fire(self, key: Key, now: float, detail: str) -> list[Signal]:
        self.see(key)
        if key in self._fired:
            return []
        self._fired.add(key)
        return [Signal(self.name, key[0], program_of(key[1]), key[1], True, now, detail)]

    def fine(self, key: Key, now: float, how: str) -> list[Signal]:
        """Not in trouble: a recovery if it fired (or is seen for the first time), else nothing."""
        if key in self._fired or key[1] not in self._seen.get(key[0], ()):
            self._fired.discard(key)
            self.see(key)
            return [Signal(self.name, key[0], program_of(key[1]), key[1], False, now, how=how)]
        return []

    def _end(self, key: Key, now: float, how: str) -> Signal:
        names = self._seen.get(key[0], set())
        names.discard(key[1])
        if not names:
            self._seen.pop(key[0], None)
        self._fired.discard(key)
        self.forget(key)
        return Signal(self.name, key[0], program_of(key[1]), key[1], False, now, how=how)

    def see(self, key: Key) -> None:
        self._seen.setdefault(key[0], set()).add(key[1])

    def forget(self, key: Key) -> None:
        """Drop what the rule keeps about a process that went."""


class RssRule(_PollRule):
    """A RUNNING process whose RSS stays above ``above`` bytes for ``for_seconds`` fires; below recovers.

    Measured at every poll (the poller samples resources when such a rule
    exists); a poll whose sample failed changes nothing.  Not RUNNING (a
    restart, a stop) recovers: the process that grew is gone.
    """

    name = "rss"
    title = "RSS above its limit"
    needs = frozenset({"polls", "resources"})

    def __init__(self, above: int, for_seconds: float = 0.0, *, remediate: bool = False,
                 scope: Scope = EVERYTHING) -> None:
        super().__init__(remediate, scope)
        self.above = max(1, above)
        self.for_seconds = max(0.0, for_seconds)
        self._since: dict[Key, float] = {}

    def one(self, key: Key, proc: ProcessInfo, snapshot: HostSnapshot, data: PollData, now: float) -> list[Signal]:
        if proc.statename != "RUNNING":
            self._since.pop(key, None)
            return self.fine(key, now, proc.statename)
        measured = snapshot.resources.processes.get(proc.fullname) if snapshot.resources is not None else None
        if measured is None or measured.pid != proc.pid:
            return []                # not read this time (ended meanwhile, or another user's): nothing known
        if measured.rss_bytes <= self.above:
            self._since.pop(key, None)
            return self.fine(key, now, f"RSS {size_text(measured.rss_bytes)}")
        since = self._since.setdefault(key, now)
        if now - since < self.for_seconds:
            return []
        return self.fire(key, now, f"RSS {size_text(measured.rss_bytes)} above {size_text(self.above)} "
                                   f"for {duration_text(round(now - since))}")

    def forget(self, key: Key) -> None:
        self._since.pop(key, None)


PROBE_TIMEOUT = 5.0     # seconds one probe of guard may take (it runs on its host's poll thread)


class ProbeRule(_PollRule):
    """A RUNNING process whose probe fails ``failing`` times in a row fires; a passing probe recovers.

    The probe is its program's from the inventory's ``rolling:`` entry
    (``probes``: program -> Probe), run from the host at every poll of a
    RUNNING process (the engine, on the host's poll thread, at most
    ``timeout`` seconds each).  A process that is not RUNNING is not probed:
    its count waits (its state is another rule's); STOPPED or gone recovers.
    """

    name = "probe"
    title = "probe failing"
    needs = frozenset({"polls", "probes"})

    def __init__(self, failing: int, probes: Mapping[str, Probe], *, remediate: bool = False,
                 scope: Scope = EVERYTHING, timeout: float = PROBE_TIMEOUT) -> None:
        super().__init__(remediate, scope)
        self.failing = max(1, failing)
        self.probes = {program: probe for program, probe in probes.items() if scope.covers_program(program)}
        self.timeout = timeout
        self._failed: dict[Key, int] = {}

    def probe_for(self, process: str) -> Probe | None:
        """The probe of ``process``'s program, if this rule watches it."""
        return self.probes.get(program_of(process)) if self.scope.covers(process) else None

    def one(self, key: Key, proc: ProcessInfo, snapshot: HostSnapshot, data: PollData, now: float) -> list[Signal]:
        if program_of(proc.fullname) not in self.probes:
            return []
        if proc.statename == _STOPPED:
            self._failed.pop(key, None)
            return self.fine(key, now, _STOPPED)
        result = data.probes.get(proc.fullname)
        if result is None:
            return []
        passed, detail = result
        if passed:
            self._failed.pop(key, None)
            return self.fine(key, now, "probe passed")
        count = self._failed[key] = self._failed.get(key, 0) + 1
        if count < self.failing:
            self.see(key)
            return []
        return self.fire(key, now, f"{count} failed probes in a row: {detail}")

    def forget(self, key: Key) -> None:
        self._failed.pop(key, None)


class PendingRule:
    """A group whose config is pending on a host (a reread would add, change or remove it) for
    ``for_seconds`` fires; applied (nothing pending for it any more) recovers.

    Guard learns it by rereading each host's config now and then (the
    engine, every ``reread_every`` seconds): a reread *stages* the config, so
    supervisorctl's next ``update`` applies what it read.  "Pending for T"
    counts from the first reread that found it.  One incident per group;
    the hosts are the affected ones (``process`` None).
    """

    name = "pending"
    title = "config pending"
    remediate = False
    needs: frozenset[str] = frozenset({"polls", "pending"})

    def __init__(self, for_seconds: float = 0.0, *, scope: Scope = EVERYTHING) -> None:
        self.for_seconds = max(0.0, for_seconds)
        self.scope = scope
        self._since: dict[Key, float] = {}       # (host, group) -> pending since
        self._fired: set[Key] = set()
        self._reread: set[str] = set()           # hosts reread at least once

    @property
    def reread_every(self) -> float:
        """Seconds between two rereads of a host: often enough for ``for_seconds``, at most a minute."""
        return min(60.0, self.for_seconds / 2)

    def observe(self, event: FleetEvent) -> list[Signal]:
        return []

    def settle(self, snapshot: HostSnapshot, now: float) -> list[Signal]:
        return []

    def tick(self, now: float) -> list[Signal]:
        signals = []
        for key, since in self._since.items():
            if key not in self._fired and now - since >= self.for_seconds:
                self._fired.add(key)
                signals.append(Signal(self.name, key[0], key[1], None, True, now,
                                      f"config pending for {duration_text(round(now - since))}: "
                                      f"a reread found it, an update would apply it"))
        return signals

    def measure(self, snapshot: HostSnapshot, data: PollData, now: float) -> list[Signal]:
        if data.pending is None:
            return []
        host = snapshot.host
        pending = {g for g in data.pending if self.scope.covers_program(g)}
        signals = []
        first = host not in self._reread
        self._reread.add(host)
        for key in [k for k in self._since if k[0] == host and k[1] not in pending]:
            del self._since[key]
            self._fired.discard(key)
            signals.append(Signal(self.name, host, key[1], None, False, now, how="applied"))
        if first:        # an incident open from before a restart of guard, for a group no longer pending
            groups = {program_of(p.fullname) for p in snapshot.processes if self.scope.covers(p.fullname)}
            signals += [Signal(self.name, host, g, None, False, now, how="applied") for g in sorted(groups - pending)]
        for group in pending:
            self._since.setdefault((host, group), now)
        return signals + self.tick(now)


def rule_for(rules: Sequence[Rule], signal: Signal) -> Rule | None:
    """The rule that gave ``signal``: its name, and the scope that covers its program (for the remediator)."""
    for rule in rules:
        scope = getattr(rule, "scope", EVERYTHING)
        if rule.name == signal.rule and (not signal.subject or scope.covers_program(signal.subject)):
            return rule
    return None


def quick_start_rules(unreachable_after: float) -> list[Rule]:
    """The rules of ``herd guard --webhook URL`` without an inventory section."""
    return [FatalRule(), UnexpectedExitRule(), HostUnreachableRule(unreachable_after)]


def inventory_rules(settings: Sequence[RuleSettings], probes: Mapping[str, Probe],
                    off: Sequence[tuple[str, str]] = ()) -> list[Rule]:
    """The Rule objects of the inventory's ``guard.rules`` (herd/inventory/guard.py).

    A rule of a program watches that program's processes; a rule of "*"
    watches every other program: those with no rule of that kind of their
    own (``off``: (program, kind) written false, which "*" leaves alone too).
    ``probes``: the probe of each program that has one (its ``rolling:`` entry).
    """
    own: dict[str, set[str]] = collections.defaultdict(set)
    for rule in settings:
        if rule.program not in ("*", ""):
            own[rule.kind].add(rule.program)
    for program, kind in off:
        own[kind].add(program)
    return [_rule(rule, Scope(rule.program, frozenset(own[rule.kind]) if rule.program == "*" else frozenset()),
                  probes) for rule in settings]


def _rule(rule: RuleSettings, scope: Scope, probes: Mapping[str, Probe]) -> Rule:
    if rule.kind == "fatal":
        return FatalRule(remediate=rule.remediate, scope=scope)
    if rule.kind == "exited":
        return UnexpectedExitRule(remediate=rule.remediate, scope=scope)
    if rule.kind == "flapping":
        return FlappingRule(rule.restarts, rule.within, remediate=rule.remediate, scope=scope)
    if rule.kind == "rss":
        return RssRule(rule.above_bytes, rule.for_seconds, remediate=rule.remediate, scope=scope)
    if rule.kind == "probe":
        return ProbeRule(rule.failing, probes, remediate=rule.remediate, scope=scope)
    if rule.kind == "pending":
        return PendingRule(rule.for_seconds, scope=scope)
    if rule.kind == "unreachable":
        return HostUnreachableRule(rule.for_seconds)
    raise ValueError(f"{rule.where}: unknown rule {rule.kind!r}")


def describe_rules(rules: Sequence[Rule]) -> str:
    """``tornado: fatal, rss > 800M for 5m (restart); *: fatal; hosts: unreachable for 2m``: guard's start line."""
    by_program: dict[str, list[str]] = {}
    for rule in rules:
        scope = getattr(rule, "scope", None)
        where = "hosts" if scope is None else scope.program
        by_program.setdefault(where, []).append(_rule_text(rule) + (" (restart)" if rule.remediate else ""))
    order = sorted(by_program, key=lambda p: (p == "hosts", p == "*", p))
    return "; ".join(f"{p}: {', '.join(by_program[p])}" for p in order)


def _rule_text(rule: Rule) -> str:
    if isinstance(rule, FlappingRule):
        return f"flapping ({rule.restarts} starts in {duration_text(rule.within)})"
    if isinstance(rule, RssRule):
        return f"rss > {size_text(rule.above)}" + (f" for {duration_text(rule.for_seconds)}" if rule.for_seconds else "")
    if isinstance(rule, ProbeRule):
        programs = f" ({', '.join(sorted(rule.probes)) or 'no program has a probe'})" if rule.scope.program == "*" else ""
        return f"probe failing {rule.failing}x{programs}"
    if isinstance(rule, PendingRule):
        return f"config pending for {duration_text(rule.for_seconds)}"
    if isinstance(rule, HostUnreachableRule):
        return f"unreachable for {duration_text(rule.after)}"
    return rule.name
