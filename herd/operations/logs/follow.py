"""Following the logs of many hosts: a loop per host (Fleet.spawn), one round trip per poll.

Following keeps going from where a read left off: one thread per host polls
all of its logs with one multicall per poll over the host's one kept-alive
connection, and hands events (lines, notes, connection lost or back) to a
queue that the command prints.  A host that drops is retried with backoff
(1, 2, 4 ... 10 s) while the others keep flowing; when it is back, what was
written meanwhile is read from the same offsets.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Iterator

from herd.errors import HostError, LogGone, SupervisorFault, UnexpectedError
from herd.fleet import Fleet, HostAccess
from herd.operations.filelogs import FileAccess, FileProblem, FileReader
from herd.operations.logs.model import (BACKOFF_FIRST, BACKOFF_MAX, DOWN, LINE, NOTE, POLL_INTERVAL, UP,
                                        HostLogs, LogEvent, TailReport)
from herd.operations.logs.read import absorb, problem_text, read_host
from herd.supervisor.client import SupervisorClient
from herd.supervisor.logs import LogReader

class Follower:
    """Follows the logs of every host at once; ``events()`` yields what to show.

    Started from a TailReport read with ``final=False`` (its readers stand at
    the end of what was shown); hosts that failed then are retried and, once
    reachable, planned and shown from their last lines.
    """

    def __init__(self, fleet: Fleet, report: TailReport, *, interval: float = POLL_INTERVAL) -> None:
        self.fleet = fleet
        self.report = report
        self.interval = interval
        self._events: queue.Queue[list[LogEvent]] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        todo: dict[str, tuple[HostLogs | None, str | None]] = {}
        for host in self.report.hosts:
            state = host if host.error is None else None
            if state is not None and not any(p.reader for p in state.logs):
                continue            # nothing to follow there
            todo[host.host] = (state, None if host.error is None else host.error.reason)
        self._threads = self.fleet.spawn(lambda access: self._run_host(access, *todo[access.name]),
                                         hosts=[self.fleet.host(name) for name in todo], name="herd-follow")

    def events(self, timeout: float | None = None) -> Iterator[LogEvent]:
        """Events as they come; returns when every host is done (all its logs gone) or stop()."""
        while not self._stop.is_set():
            try:
                batch = self._events.get(timeout=0.2 if timeout is None else timeout)
            except queue.Empty:
                if not any(t.is_alive() for t in self._threads) and self._events.empty():
                    return
                continue
            yield from batch

    def pending(self) -> list[LogEvent]:
        """Events queued but not yet taken (after stop: what to print before leaving)."""
        out: list[LogEvent] = []
        while True:
            try:
                out += self._events.get_nowait()
            except queue.Empty:
                return out

    def partial_lines(self) -> list[LogEvent]:
        """Unterminated last lines still buffered (to show when the command ends)."""
        return [LogEvent(LINE, h.host, p.name, line) for h in self.report.hosts if h.error is None
                for p in h.logs for line in p.buffer.flush()]

    def stop(self) -> None:
        self._stop.set()
        self.fleet.abort()      # a poll blocked on a dead link fails now
        deadline = time.monotonic() + 2.0     # a thread stuck in a handshake is left to its timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- per host ----------------------------------------------------------------

    def _emit(self, events: list[LogEvent]) -> None:
        if events:
            self._events.put(events)

    def _run_host(self, access: HostAccess, state: HostLogs | None, reason: str | None) -> None:
        """Poll one host's logs until stopped or every log is gone; a lost host is retried with backoff."""
        host = access.name
        delay = BACKOFF_FIRST
        down = reason is not None
        if down:
            self._emit([LogEvent(DOWN, host, text=f"unreachable ({reason}); retrying")])

        def step(access: HostAccess) -> bool:
            nonlocal state, down, delay
            client = access.client()
            if down:
                self._emit([LogEvent(UP, host, text="reconnected")])
                down, delay = False, BACKOFF_FIRST
            if state is None:
                state = self._first_contact(access)
            return self._poll(client, state)

        while not self._stop.is_set():
            result = self.fleet.attempt(access.host, step)
            if result.error is None:
                if state is not None and not any(p.reader for p in state.logs):
                    return
                self._stop.wait(0.0 if result.value else self.interval)
            elif self._stop.is_set():
                return
            elif isinstance(result.error, HostError) and not isinstance(result.error, UnexpectedError):
                if not down:
                    self._emit([LogEvent(DOWN, host, text=f"connection lost ({result.error.reason}); retrying")])
                    down = True
                self._stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            else:   # a bug, or an answer herd cannot use: say it and retry slowly; the other hosts go on
                cause = result.error.__cause__ if isinstance(result.error, UnexpectedError) else result.error
                self._emit([LogEvent(NOTE, host, text=f"cannot follow: {cause}; retrying")])
                self._stop.wait(BACKOFF_MAX)

    def _first_contact(self, access: HostAccess) -> HostLogs:
        host = access.name
        state = read_host(access, self.report.request, final=False)
        events: list[LogEvent] = []
        for item in state.logs:
            events += [LogEvent(LINE, host, item.name, line) for line in item.lines]
            events += [LogEvent(NOTE, host, item.name, text) for text in item.notes]
            if item.error:
                events.append(LogEvent(NOTE, host, item.name, item.error))
        self._emit(events)
        for index, known in enumerate(self.report.hosts):
            if known.host == host:
                self.report.hosts[index] = state
        return state

    def _poll(self, client: SupervisorClient, state: HostLogs) -> bool:
        """One round trip for every followed log of the host (a multicall for supervisord's logs,
        an agent request for files); True when some log has more waiting."""
        more = self._poll_files(state)
        active = [p for p in state.logs if isinstance(p.reader, LogReader)]
        if not active:
            return more
        calls: list[Any] = []
        spans = []
        for item in active:
            assert isinstance(item.reader, LogReader)
            mine = item.reader.poll_calls()
            spans.append((item, len(calls), len(mine)))
            calls += mine
        answers = client.multicall(calls)
        events: list[LogEvent] = []
        for item, first, count in spans:
            assert isinstance(item.reader, LogReader)
            try:
                pieces, again = item.reader.absorb(client, answers[first:first + count])
            except (LogGone, SupervisorFault) as exc:
                events += [LogEvent(LINE, state.host, item.name, line) for line in item.buffer.flush()]
                events.append(LogEvent(NOTE, state.host, item.name, f"{exc}; no longer followed"))
                item.reader = None
                continue
            more = more or again
            events += [LogEvent(kind, state.host, item.name, text) for kind, text in absorb(item, pieces)]
        self._emit(events)
        return more

    def _poll_files(self, state: HostLogs) -> bool:
        """Every followed file of the host in one agent round trip, bounded by --timeout."""
        files = {i: p.reader.poll() for i, p in enumerate(state.logs) if isinstance(p.reader, FileReader)}
        if not files:
            return False
        if state.files is None:
            state.files = FileAccess(self.fleet.access(state.host))
        events: list[LogEvent] = []
        more = False
        for index, result in state.files.run(files).items():
            item = state.logs[index]
            if isinstance(result, FileProblem):
                events += [LogEvent(LINE, state.host, item.name, line) for line in item.buffer.flush()]
                events.append(LogEvent(NOTE, state.host, item.name,
                                       f"{problem_text(item, result)}; no longer followed"))
                item.reader = None
                continue
            pieces, again = result
            more = more or again
            events += [LogEvent(kind, state.host, item.name, text) for kind, text in absorb(item, pieces)]
        self._emit(events)
        return more


