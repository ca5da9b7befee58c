"""Guard's loop: the poller's snapshots in, events and rules, incidents, messages out to the channels.

The shared Poller (herd/operations/poller.py) calls its listener from one
thread per host; the listener queues the snapshot, with the exit codes its
EXITED processes' programs expect (one getAllConfigInfo on that host's own
thread, kept a minute: a slow host delays only itself).  Everything else
runs in guard's one thread (``run``/``step``): the events since a host's
last snapshot (herd/operations/events.py's EventTracker: across an outage,
since its last answered one), each rule's signals, the incident book, the
messages due, and the state file.  So the book needs no
lock, and a slow channel cannot slow detection: channels queue (channels.py).

Rules that need more than the changes (``Rule.needs``: rss, probe, pending)
make guard listen to every poll too: the poller samples resources when asked
(the CLI makes it so), and on the host's poll thread guard runs the probes
of its RUNNING processes (through the fleet, each bounded by the rule's
timeout) and rereads its config when due; the results go through the same
queue to ``Rule.measure``.  A slow probe delays that host's next poll only.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Callable, Sequence

from herd import text
from herd.fleet import Fleet, HostAccess
from herd.operations.events import EventTracker
from herd.operations.guard.channels import Channel
from herd.operations.guard.incidents import IncidentBook, Notification
from herd.operations.guard.rules import PendingRule, PollData, ProbeResult, ProbeRule, Rule, Signal
from herd.operations.guard.state import GuardStateFile
from herd.operations.poller import HostSnapshot, Poller
from herd.operations.status import ExpectedExits
from herd.supervisor.models import ProcessInfo, ProcessState

if TYPE_CHECKING:
    from herd.operations.guard.remedy import Outcome, Remediator

log = logging.getLogger("herd.guard")

TICK = 1.0          # seconds between two looks at the clock-driven rules and the messages due
EXIT_CODES_FRESH = 60.0   # seconds a host's programs' exitcodes are trusted before they are read again

Exits = dict[str, ExpectedExits]
Inbox = tuple[HostSnapshot, "Exits | None", "PollData | None"]    # a change (data None), or a poll's measurements


class Guard:
    """Watches the snapshots of ``hosts`` with ``rules``; tells ``channels`` through an IncidentBook."""

    def __init__(self, hosts: Sequence[str], rules: Sequence[Rule], channels: Sequence[Channel], *,
                 book: IncidentBook, state: GuardStateFile | None = None,
                 report: Callable[[str], None] | None = None, clock: Callable[[], float] = time.time,
                 remediator: Remediator | None = None) -> None:
        self.hosts = list(hosts)
        self.rules = list(rules)
        self.channels = list(channels)
        self.book = book
        self.state = state
        self.report = report or (lambda line: None)
        self.clock = clock
        self.remediator = remediator      # remediating rules' processes restarted through the gate (remedy.py)
        self.sent: collections.deque[Notification] = collections.deque(maxlen=100)   # the last messages sent
        self._inbox: queue.Queue[Inbox] = queue.Queue()
        self._tracker = EventTracker()
        self._last: dict[str, HostSnapshot] = {}
        self._fleet: Fleet | None = None
        self._exits: dict[str, tuple[float, Exits]] = {}      # host -> (when read, exitcodes by process)
        self._exits_lock = threading.Lock()
        self._settled: set[str] = set()
        self.needs = frozenset().union(*(getattr(rule, "needs", frozenset()) for rule in self.rules))
        self._reread_at: dict[str, float] = {}                # host -> when its config was last reread
        self._reread_lock = threading.Lock()
        self._unselected()

    # -- input -----------------------------------------------------------------------------

    def attach(self, poller: Poller) -> Callable[[], None]:
        """Listen to ``poller`` (its threads only queue); returns the unsubscribe."""
        self._fleet = poller.fleet
        if self.remediator is not None:
            self.remediator.use(poller.fleet)
        unsubscribe = poller.listen(self.feed)
        if "polls" not in self.needs:
            return unsubscribe
        every = poller.listen(self.feed_poll, every_poll=True)

        def both() -> None:
            unsubscribe()
            every()
        return both

    def feed(self, snapshot: HostSnapshot) -> None:
        """The poller's listener (a host's thread): queue the snapshot, with its EXITED processes' exitcodes."""
        exited = [p for p in snapshot.processes if p.state is ProcessState.EXITED]
        self._inbox.put((snapshot, self._exit_codes(snapshot, exited) if exited else None, None))

    def feed_poll(self, snapshot: HostSnapshot) -> None:
        """The every-poll listener (a host's thread): queue what the measuring rules need of this poll."""
        if not snapshot.ok:
            return
        probes = self._probe(snapshot) if "probes" in self.needs else {}
        pending = self._reread(snapshot) if "pending" in self.needs else None
        self._inbox.put((snapshot, None, PollData(probes, pending)))

    def _probe(self, snapshot: HostSnapshot) -> dict[str, ProbeResult]:
        """The probes of the host's RUNNING processes that a probe rule watches, run from the host, in turn."""
        from herd.operations.rolling.plan import port_of

        wanted = []
        for proc in snapshot.processes:
            if proc.state is ProcessState.RUNNING:
                found = next(((rule, probe) for rule in self.rules if isinstance(rule, ProbeRule)
                              if (probe := rule.probe_for(proc.fullname)) is not None), None)
                if found is not None:
                    wanted.append((proc.fullname, *found))
        if not wanted or self._fleet is None:
            return {}
        host = self._fleet.host(snapshot.host)
        values = {"host": snapshot.host, "address": host.address or host.name}

        def run(access: HostAccess) -> dict[str, ProbeResult]:
            return {name: probe.run(access, dict(values, port=port_of(name.split(":")[-1]), process=name),
                                    rule.timeout) for name, rule, probe in wanted}
        result = self._fleet.attempt(host, run)
        return result.value if result.error is None and result.value is not None else {}

    def _reread(self, snapshot: HostSnapshot) -> tuple[str, ...] | None:
        """The groups whose config is pending on the host, when a reread is due (a reread stages the config)."""
        from herd.operations.config import read_host_config

        every = min(rule.reread_every for rule in self.rules if isinstance(rule, PendingRule))
        with self._reread_lock:
            last = self._reread_at.get(snapshot.host)
            if last is not None and time.monotonic() - last < every or self._fleet is None:
                return None
            self._reread_at[snapshot.host] = time.monotonic()
        result = self._fleet.attempt(self._fleet.host(snapshot.host),
                                     lambda access: read_host_config(access.client(), sizes=False, tolerant=True))
        if result.error is not None or result.value is None or result.value.diff is None:
            return None       # unreachable (the poller says so) or a config that does not parse: nothing known
        diff = result.value.diff
        return tuple(diff.added + diff.changed + diff.removed)

    def _exit_codes(self, snapshot: HostSnapshot, exited: list[ProcessInfo]) -> Exits | None:
        """What the programs of ``exited`` expect (kept a minute per host); None when the host cannot say."""
        from herd.operations.status import expected_exits

        with self._exits_lock:
            cached = self._exits.get(snapshot.host)
        if cached is not None and time.monotonic() - cached[0] < EXIT_CODES_FRESH \
                and all(p.fullname in cached[1] for p in exited):
            return cached[1]
        if self._fleet is None:
            return None
        result = self._fleet.attempt(self._fleet.host(snapshot.host),
                                     lambda access: expected_exits(access.client(), snapshot.processes))
        if result.error is not None or result.value is None:
            return cached[1] if cached is not None else None
        with self._exits_lock:
            self._exits[snapshot.host] = (time.monotonic(), result.value)
        return result.value

    # -- the loop --------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set (Ctrl-C reaches the caller's thread as KeyboardInterrupt instead)."""
        while not stop.is_set():
            self.step(TICK)

    def step(self, timeout: float) -> None:
        """Take the snapshots that come within ``timeout`` (at least one wait), then tick, send, save."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                snapshot, exits, data = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if data is None:
                self._take(snapshot, exits)
            else:
                self._measure(snapshot, data)
            if time.monotonic() >= deadline:
                break
        now = self.clock()
        for rule in self.rules:
            self._apply(self._heard(rule, rule.tick(now)))
        if self.remediator is not None:
            self._acted(self.remediator.finished())
        self.flush(now)

    def flush(self, now: float) -> None:
        """Send what is due, save the book if it changed."""
        for note in self.book.due(now):
            self.sent.append(note)
            self.report(f"{note.kind}: {text.field(note.summary())}"
                        + (f" ({note.held} message(s) held back by the rate limit before it)" if note.held else ""))
            for channel in self.channels:
                channel.send(note)
        remedied = self.remediator is not None and self.remediator.changed
        if (self.book.changed or remedied) and self.state is not None:
            try:
                self.state.save(list(self.book.incidents.values()),
                                cooldowns=self.remediator.cooldowns() if self.remediator is not None else None)
                self.book.changed = False
                if self.remediator is not None:
                    self.remediator.changed = False
            except OSError as exc:   # a full disk must not stop the alerts; said each time it fails
                log.warning("cannot save guard state %s: %s", self.state.path, text.field(exc))

    def close(self, timeout: float = 5.0) -> None:
        """Let restarts in flight end their step, save, then let each channel deliver what it has queued
        (``timeout`` seconds in all; the restarts have their own bound, remedy.py FINISH)."""
        if self.remediator is not None:
            self._acted(self.remediator.close())
        self.flush(self.clock())
        deadline = time.monotonic() + timeout
        for channel in self.channels:
            channel.close(max(0.1, deadline - time.monotonic()))

    # -- one snapshot ----------------------------------------------------------------------

    def _take(self, snapshot: HostSnapshot, exits: Exits | None) -> None:
        host = snapshot.host
        self._last[host] = snapshot
        if self.remediator is not None:
            self.remediator.seen(snapshot)
        now = snapshot.polled_at or self.clock()
        signals: list[Signal] = []
        for event in self._tracker.feed(snapshot, now, exits=exits):
            for rule in self.rules:
                signals += self._heard(rule, rule.observe(event))
        if not snapshot.ok:
            self._settled.discard(host)
        elif host not in self._settled:      # first readable poll (start, restart, host back): the state as is
            self._settled.add(host)
            for rule in self.rules:
                signals += self._heard(rule, rule.settle(snapshot, now))
            signals += self._gone_while_away(snapshot, now)
        self._apply(signals)

    def _measure(self, snapshot: HostSnapshot, data: PollData) -> None:
        """One poll's measurements, to the rules that asked for every poll."""
        now = snapshot.polled_at or self.clock()
        signals: list[Signal] = []
        for rule in self.rules:
            if "polls" in getattr(rule, "needs", ()):
                signals += self._heard(rule, rule.measure(snapshot, data, now))
        self._apply(signals)

    def _gone_while_away(self, snapshot: HostSnapshot, now: float) -> list[Signal]:
        """Processes an open incident holds on this host that the host no longer has: recovered (gone)."""
        present = {p.fullname for p in snapshot.processes}
        return [Signal(inc.rule, snapshot.host, inc.subject, name, False, now, how="gone")
                for inc, entry in self.book.open_entries(snapshot.host)
                for name in list(entry.processes) if name not in present]

    def _unselected(self) -> None:
        """Hosts of saved incidents that guard no longer watches: they will never recover here; let them go."""
        now = self.clock()
        for inc in list(self.book.incidents.values()):
            for host, entry in list(inc.hosts.items()):
                if host not in self.hosts:
                    names: list[str | None] = list(entry.processes) or [None]
                    for name in names:
                        self.book.apply(Signal(inc.rule, host, inc.subject, name, False, now, how="unselected"))

    def _heard(self, rule: Rule, signals: list[Signal]) -> list[Signal]:
        """A remediating rule's signals go to the remediator too (it queues, never blocks); returned as given."""
        if self.remediator is not None and rule.remediate:
            for signal in signals:
                self.remediator.request(signal, rule)
        return signals

    def _acted(self, outcomes: list[Outcome]) -> None:
        """What the remediator did: said on guard's output; in the incident's messages when it matters."""
        for outcome in outcomes:
            self.report(f"remediation: {text.field(outcome.line)}")
            self.book.act(outcome.rule, outcome.subject, outcome.line if outcome.notify else None,
                          busy=outcome.busy)

    def _apply(self, signals: list[Signal]) -> None:
        for signal in signals:
            if self.book.apply(signal):
                log.info("%s %s %s%s", signal.rule, "firing" if signal.firing else f"recovered ({signal.how})",
                         text.field(signal.host), f" {text.field(signal.process)}" if signal.process else "")
