"""What guard watches for: rules that turn the fleet's events into signals (firing, or recovered).

A rule sees the FleetEvents of herd/operations/events.py (what changed
between two polls of a host), a host's first readable snapshot (``settle``:
at start, after a restart of guard, after a host comes back, when no
transition says what the state is), and the clock (``tick``: conditions
that need time, "unreachable for 30 s").  It answers with Signals; it sends
nothing and groups nothing -- that is the incident book's work
(incidents.py) -- so a new rule (flapping, rss > 800M for 5m, probe
failing) is one class here, and remediation can hang off the same signals.

A recovery signal for something that never fired is harmless: the book
ignores it.  So process rules are stateless: leaving the bad state for
RUNNING or STOPPED (an operator stopped it: nothing left to alert on), or
the process going away, is a recovery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from herd.operations.events import FleetEvent
from herd.operations.poller import HostSnapshot

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

    def observe(self, event: FleetEvent) -> list[Signal]:
        """Signals for one change seen by the poller."""

    def settle(self, snapshot: HostSnapshot, now: float) -> list[Signal]:
        """Signals from a host's state as it is (its first readable poll: no transition to go by)."""

    def tick(self, now: float) -> list[Signal]:
        """Signals that time alone brings (called about once a second)."""


def program_of(process: str) -> str:
    """The program an incident groups by: the group of ``group:name``, or the name itself."""
    return process.partition(":")[0]


class ProcessStateRule:
    """A process that enters ``state`` fires; RUNNING, STOPPED or gone recovers it."""

    def __init__(self, name: str, title: str, state: str, remediate: bool = False) -> None:
        self.name, self.title, self.state = name, title, state
        self.remediate = remediate

    def entering(self, event: FleetEvent) -> bool:
        return event.to_state == self.state

    def observe(self, event: FleetEvent) -> list[Signal]:
        if event.process is None:
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

    def _signal(self, host: str, process: str, firing: bool, time: float, *, detail: str = "",
                how: str = "") -> Signal:
        return Signal(self.name, host, program_of(process), process, firing, time, detail, how)


class FatalRule(ProcessStateRule):
    """FATAL: supervisord gave up starting the process (startretries exhausted)."""

    def __init__(self) -> None:
        super().__init__("fatal", "FATAL", "FATAL")


class UnexpectedExitRule(ProcessStateRule):
    """EXITED with a status not in the program's exitcodes (the event's ``expected`` is False).

    An exit whose expectedness is unknown (``expected`` None) does not fire:
    guard alerts on what it knows.  Found EXITED at a first poll, nothing
    says whether it was expected: it does not fire either (but an incident
    already open for it, from before a restart of guard, stays open).
    """

    def __init__(self) -> None:
        super().__init__("exited", "EXITED unexpectedly", "EXITED")

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

    def _up(self, host: str, now: float) -> list[Signal]:
        self._down.pop(host, None)
        self._fired.discard(host)
        return [Signal(self.name, host, "", None, False, now, how="host back")]


def quick_start_rules(unreachable_after: float) -> list[Rule]:
    """The rules of ``herd guard --webhook URL`` without an inventory section."""
    return [FatalRule(), UnexpectedExitRule(), HostUnreachableRule(unreachable_after)]
