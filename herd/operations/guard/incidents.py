"""Incidents: signals grouped across the fleet, so that one problem is one alert.

One incident per (rule, program) -- "tornado FATAL on 3 of 20 hosts"; host
rules group every host into one (subject "") -- opened by its first firing
signal, growing and shrinking as hosts join or recover, closed when every
host it had has recovered.  What is sent about it:

- ``opened`` once, ``group_wait`` seconds after its first signal (hosts
  that fail in the same poll round, which is a few milliseconds apart, are
  then named in the same opening rather than in updates);
- ``updated`` when the set of affected hosts changed since the last message,
  at most once every ``update_every`` seconds per incident (a crash rolling
  over 20 hosts is one opening and a few updates, not 20 messages);
- ``resolved`` once, when every host recovered.  An incident that opened and
  closed before its opening could be sent (the rate limit held it) sends
  nothing: it is counted in ``quiet``;
- ``action`` when guard did something about it (remedy.py: a process
  restarted through the gate, a restart that failed, one held by its
  cooldown; in a dry run, what it would restart): ``act()``.  While a
  restart of the incident is in flight (``busy``) its recovery waits, so
  the outcome is told before the incident is said resolved.

A rate limit over all notifications (``max_per_minute``, a token bucket)
holds messages back rather than dropping them: a held opening or recovery
goes out as soon as the budget allows; ``held`` counts them and the next
message says so.  The book is plain data (state.py saves it), used from
guard's one thread; nothing here sends or prints.
"""

from __future__ import annotations

import collections
import copy
import datetime
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from herd.operations.guard.rules import Signal

NoteKind = Literal["opened", "updated", "resolved", "action"]
MAX_HOSTS_LISTED = 50          # hosts named in one message's JSON (the count is always whole)
MAX_DETAIL = 300               # characters of a host's detail (spawnerr, error) kept
MAX_ACTIONS = 20               # actions an incident keeps (the last ones), and holds unsent


@dataclass
class Affected:
    """One host of an incident: its processes in trouble (none for a host rule), since when, what it said."""

    processes: list[str] = field(default_factory=list)
    since: float = 0.0
    detail: str = ""


@dataclass
class Incident:
    id: str
    rule: str
    title: str
    subject: str                  # the program; "" for host rules
    opened: float
    hosts: dict[str, Affected] = field(default_factory=dict)     # affected now
    recovered: dict[str, float] = field(default_factory=dict)    # were affected, recovered since (host -> when)
    peak: int = 0
    closed: float = 0.0           # when the last host recovered (0: open)
    announced: bool = False       # its opening was sent
    sent_hosts: list[str] = field(default_factory=list)          # affected hosts as of the last message
    last_sent: float = 0.0
    actions: list[str] = field(default_factory=list)      # what guard did about it (the last MAX_ACTIONS)
    unsent: list[str] = field(default_factory=list)       # ... not yet in an ``action`` message

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.subject

    @property
    def is_open(self) -> bool:
        return not self.closed


@dataclass(frozen=True)
class Notification:
    """One message about one incident, as every channel sends it (the webhook's JSON is ``body()``)."""

    kind: NoteKind
    incident: Incident
    hosts_total: int
    time: float
    held: int = 0                 # messages the rate limit held back since the last one sent
    actions: tuple[str, ...] = ()     # an ``action`` message: what was done, one sentence each

    def summary(self) -> str:
        """One line: ``tornado FATAL on 3 of 20 hosts: web01, web02, web03`` (host text unescaped: data)."""
        inc = self.incident
        what = f"{inc.subject} {inc.title}" if inc.subject else inc.title
        if self.kind == "action":
            more = f" (and {len(self.actions) - 1} more)" if len(self.actions) > 1 else ""
            return f"{what}: {self.actions[0] if self.actions else 'nothing done'}{more}"
        if self.kind == "resolved":
            count = len(inc.recovered)
            return f"recovered: {what} (was on {count} of {self.hosts_total} hosts, at most {inc.peak} at once)"
        names = sorted(inc.hosts)
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        return f"{what} on {len(names)} of {self.hosts_total} hosts: {shown}"

    def body(self) -> dict[str, Any]:
        """The JSON document (docs/guard.md: "What is sent"); every host-given string is a JSON string."""
        inc = self.incident
        hosts = sorted(inc.hosts.items())
        body: dict[str, Any] = {
            "herd": "guard",
            "schema": 1,
            "event": self.kind,
            "summary": self.summary(),
            "sent_at": iso(self.time),
            "held_back": self.held,
            "incident": {
                "id": inc.id,
                "rule": inc.rule,
                "title": inc.title,
                "program": inc.subject or None,
                "opened_at": iso(inc.opened),
                "resolved_at": iso(inc.closed) if inc.closed else None,
                "hosts_affected": len(inc.hosts),
                "hosts_total": self.hosts_total,
                "peak": inc.peak,
                "hosts": [{"host": host, "processes": list(a.processes), "since": iso(a.since),
                           "detail": a.detail} for host, a in hosts[:MAX_HOSTS_LISTED]],
                "hosts_listed": min(len(hosts), MAX_HOSTS_LISTED),
                "recovered": sorted(inc.recovered)[:MAX_HOSTS_LISTED],
            },
        }
        if self.actions:
            body["actions"] = list(self.actions)
        return body


def iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).isoformat(timespec="seconds")


class RateLimit:
    """A token bucket: ``per_minute`` messages a minute, bursts up to that many."""

    def __init__(self, per_minute: int, clock: Any = time.monotonic) -> None:
        self.capacity = float(max(1, per_minute))
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.capacity / 60.0)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class IncidentBook:
    """Open incidents, fed signals; ``due()`` says which messages to send now."""

    def __init__(self, titles: dict[str, str], hosts_total: int, *, update_every: float = 60.0,
                 max_per_minute: int = 30, group_wait: float = 0.0, incidents: list[Incident] | None = None
                 ) -> None:
        self.titles = titles
        self.hosts_total = hosts_total
        self.update_every = update_every
        self.group_wait = group_wait
        self.limit = RateLimit(max_per_minute)
        self.incidents: dict[tuple[str, str], Incident] = {i.key: i for i in incidents or []}
        self.held = 0             # messages held back by the rate limit, not yet said
        self.quiet = 0            # incidents that closed before their opening could be sent
        self.changed = False      # something to save since the last save
        self.busy: collections.Counter[tuple[str, str]] = collections.Counter()   # restarts in flight
        self._ids = itertools.count(1)

    def apply(self, signal: Signal) -> bool:
        """Record one signal; True if an incident changed."""
        changed = self._fire(signal) if signal.firing else self._recover(signal)
        self.changed = self.changed or changed
        return changed

    def act(self, rule: str, subject: str, line: str | None, busy: int = 0) -> bool:
        """What guard did about the incident of (``rule``, ``subject``): ``line`` to tell (None: nothing),
        ``busy`` +1 when a restart begins, -1 when it ends; True if there is something to send."""
        key = (rule, subject)
        self.busy[key] += busy
        if self.busy[key] <= 0:
            del self.busy[key]
        inc = self.incidents.get(key)
        if inc is None or not line:
            return False
        inc.actions = (inc.actions + [line])[-MAX_ACTIONS:]
        inc.unsent = (inc.unsent + [line])[-MAX_ACTIONS:]
        self.changed = True
        return True

    def open_entries(self, host: str) -> list[tuple[Incident, Affected]]:
        """What open incidents hold of ``host`` (for settling a host after a restart)."""
        return [(inc, inc.hosts[host]) for inc in self.incidents.values() if host in inc.hosts]

    def due(self, now: float) -> list[Notification]:
        """The messages to send now (and the book marked as having sent them)."""
        notes = []
        for key, inc in list(self.incidents.items()):
            kind = self._wanted(inc, now)
            if kind is None:
                continue
            if kind == "drop":
                del self.incidents[key]
                self.quiet += 1
                self.changed = True
                continue
            if not self.limit.take():
                self.held += 1
                continue
            held = self.held
            self.held, self.changed = 0, True
            actions, inc.unsent = (tuple(inc.unsent), []) if kind == "action" else ((), inc.unsent)
            if kind != "action":      # an action message names no change of hosts: an update stays due
                inc.last_sent, inc.sent_hosts = now, sorted(inc.hosts)
            inc.announced = True
            # a copy: the channels' threads read it while this thread goes on changing the incident
            notes.append(Notification(kind, copy.deepcopy(inc), self.hosts_total, now, held, actions))
            if kind == "resolved":
                del self.incidents[key]
        return notes

    def _wanted(self, inc: Incident, now: float) -> NoteKind | Literal["drop"] | None:
        busy = self.busy[inc.key] > 0
        if not inc.announced:
            if not inc.is_open:
                return None if busy else "action" if inc.unsent else "drop"
            return "opened" if now - inc.opened >= self.group_wait else None
        if inc.unsent:
            return "action"
        if not inc.is_open:
            return None if busy else "resolved"
        if sorted(inc.hosts) != inc.sent_hosts and now - inc.last_sent >= self.update_every:
            return "updated"
        return None

    def _fire(self, signal: Signal) -> bool:
        key = (signal.rule, signal.subject)
        inc = self.incidents.get(key)
        if inc is None:
            inc = Incident(self._new_id(signal), signal.rule, self.titles.get(signal.rule, signal.rule),
                           signal.subject, signal.time)
            self.incidents[key] = inc
        entry = inc.hosts.get(signal.host)
        if entry is None:
            entry = inc.hosts[signal.host] = Affected(since=signal.time, detail=signal.detail[:MAX_DETAIL])
            inc.recovered.pop(signal.host, None)
            inc.closed = 0.0          # back before its recovery was sent: the same incident goes on
            inc.peak = max(inc.peak, len(inc.hosts))
            changed = True
        else:
            changed = False
        if signal.process is not None and signal.process not in entry.processes:
            entry.processes.append(signal.process)
            changed = True
        return changed

    def _recover(self, signal: Signal) -> bool:
        inc = self.incidents.get((signal.rule, signal.subject))
        if inc is None or signal.host not in inc.hosts:
            return False
        entry = inc.hosts[signal.host]
        if signal.process is not None:
            if signal.process not in entry.processes:
                return False
            entry.processes.remove(signal.process)
            if entry.processes:
                return True
        del inc.hosts[signal.host]
        inc.recovered[signal.host] = signal.time
        if not inc.hosts:
            inc.closed = signal.time
        return True

    def _new_id(self, signal: Signal) -> str:
        """Unique across restarts of guard: the opening time, the rule and the program."""
        stamp = datetime.datetime.fromtimestamp(signal.time, datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in signal.subject)[:40]
        return f"{stamp}-{signal.rule}{'-' + safe if safe else ''}-{next(self._ids)}"
