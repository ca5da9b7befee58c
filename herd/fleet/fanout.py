"""Run a task on many hosts at once and collect one result per host.

"Fan out, then decide": every host gets a ``HostResult`` (a value or an
error), in inventory order, and the caller takes decisions (exit codes,
halting a roll) on the collected results.  One host's failure never stops
or delays another beyond the timeout: hosts run in daemon threads, and a
host still busy at the deadline is reported as timed out and abandoned.

Every per-host call in herd goes through :meth:`Fleet.attempt`, which holds
the one error policy (a host error resets that host's session; a bug in
herd becomes that host's UnexpectedError, never the others'); every thread
per host is started by :func:`in_parallel` (one-shot) or
:meth:`Fleet.spawn` (long-lived views: poller, follower).

Ctrl-C (SIGINT, and SIGTERM, which the CLI turns into the same
KeyboardInterrupt) reaches the main thread while it waits for the hosts
(it joins in short steps).  A fan-out cut short this way never loses what
the hosts that answered said: it raises :class:`Interrupted` with every
host's result so far, the others marked :class:`HostInterrupted`, and sets
``Fleet.interrupted`` so that tasks still running can finish the step they
are on (a restart whose stop is done starts the process again) within the
``finish`` seconds the caller gave them.

A thread other than the main one gets no SIGINT: the keeper runs a command
in a thread of its own (herd/keeper/server.py) and passes its client's
Ctrl-C on with :func:`interrupt`, which makes that thread raise
KeyboardInterrupt at its next wait step here (within JOIN_STEP), where the
main thread of a direct run spends its time and gets its SIGINT.  Only
there: never in the middle of other code of that thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Sequence, TypeVar

from herd.errors import HerdError, HostError, HostInterrupted, HostTimeout, UnexpectedError
from herd.fleet.access import HostAccess
from herd.fleet.source import SessionSource
from herd.inventory.model import Host

T = TypeVar("T")
Item = TypeVar("Item")
Task = Callable[[HostAccess], T]

log = logging.getLogger("herd.fleet")

READ_GRACE = 0.25   # seconds past a read-only command's budget for a step's own timeout to report
JOIN_STEP = 0.2     # joins in short steps: the main thread stays responsive to Ctrl-C
NO_ANSWER_YET = "interrupted: no answer yet"

_asked: set[int] = set()          # threads to raise KeyboardInterrupt at their next wait step (interrupt())
_asked_lock = threading.Lock()


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) while a fan-out waited: ``results`` is what it had by then.

    From :func:`in_parallel`: one entry per item, None where unfinished.
    From :meth:`Fleet.run`: one HostResult per host in inventory order, a
    host that had not finished carrying a HostInterrupted error.  A
    KeyboardInterrupt, so a caller that has nothing to salvage lets it go up
    as any Ctrl-C (herd: interrupted, exit 130).
    """

    def __init__(self, results: list[Any]) -> None:
        super().__init__("interrupted")
        self.results = results


@dataclass
class HostResult(Generic[T]):
    """What one host gave: ``value`` when ``error`` is None."""

    host: Host
    value: T | None = None
    error: HerdError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def name(self) -> str:
        return self.host.name


class Fleet:
    """The selected hosts, the source of their sessions, and parallel execution."""

    def __init__(self, hosts: Sequence[Host], source: SessionSource, forks: int = 50) -> None:
        """``source`` lends each host's session (herd/fleet/source.py); the Fleet closes it at close().

        ``forks`` bounds the handshakes in flight, across every run of this Fleet.
        """
        self.hosts = list(hosts)
        self.source = source
        self.forks = max(1, forks)
        self._slots = threading.Semaphore(self.forks)
        self._sessions = {h.name: source.session(h) for h in self.hosts}
        self._by_name = {h.name: h for h in self.hosts}
        self._abandoned: set[str] = set()
        self.interrupted = threading.Event()   # set at a Ctrl-C during run(): tasks finish their step, start no other

    @property
    def timeout(self) -> float:
        """The per-step time bound of the hosts' connections (--timeout)."""
        return self.source.timeout

    @property
    def read_budget(self) -> float:
        """What a read-only command (status, tail, version, pid, avail) gives a host: the timeout.

        Connecting and every call of a host together: that is what lets
        ``--timeout`` be a budget the user can count on (docs/commands.md).
        """
        return self.source.timeout

    def access(self, host: Host | str) -> HostAccess:
        """The session of one of the fleet's hosts (by Host or inventory name)."""
        return self._sessions[host if isinstance(host, str) else host.name]

    def host(self, name: str) -> Host:
        """One of the fleet's hosts by its inventory name."""
        return self._by_name[name]

    # -- one host ------------------------------------------------------------------

    def attempt(self, host: Host, task: Task[T], *, idempotent: bool = False) -> HostResult[T]:
        """``task(access)`` on one host under herd's error policy; never raises for the host's sake.

        - a HostError (the host, its connection, its supervisord) resets the
          host's session, so the next use connects afresh;
        - another HerdError (a fault, a log gone) leaves the session alone;
        - any other exception is a bug in herd: logged with its traceback at
          -vv, the session reset (its state is unknown), and the host's
          result an UnexpectedError, so one host's bug never takes the
          others down.

        ``idempotent``: the task may run twice; on a source that reopens dead
        connections (the keeper's), a kept connection found dead under the
        call is reopened and the task run once more.  A handshake takes one
        of the fleet's ``forks`` slots; a call on a live connection takes none.
        """
        access = self.access(host)
        with contextlib.nullcontext() if access.connected else self._slots:
            retry = idempotent and self.source.reopen_dead and access.connected
            try:
                try:
                    return HostResult(host, value=task(access))
                except HostError as exc:
                    if not (retry and not access.connected):
                        raise
                    log.info("%s: the kept connection was dead (%s); connecting again", host.name, exc.reason)
                    access.reset()
                    return HostResult(host, value=task(access))
            except HostError as exc:
                _log_causes(host, exc)
                access.reset()
                return HostResult(host, error=exc)
            except HerdError as exc:
                _log_causes(host, exc)
                return HostResult(host, error=exc)
            except Exception as exc:  # a bug must not take the other hosts down
                log.debug("%s: unexpected error", host.name, exc_info=True)
                access.reset()
                error = UnexpectedError(host.name, f"unexpected error: {type(exc).__name__}: {exc} "
                                                   f"(-vv shows where)")
                error.__cause__ = exc
                return HostResult(host, error=error)

    # -- every host ----------------------------------------------------------------

    def read(self, task: Task[T]) -> list[HostResult[T]]:
        """run() for a read-only task: every host is done or abandoned within the read budget.

        A step's own timeout (the handshake, a call) firing at the same
        moment says more than "no answer": it gets READ_GRACE to win.
        """
        return self.run(task, deadline=self.read_budget, grace=READ_GRACE, idempotent=True)

    def run(self, task: Task[T], *, hosts: Iterable[Host] | None = None, deadline: float | None = None,
            grace: float = 0.0, idempotent: bool = False, finish: float = 0.0) -> list[HostResult[T]]:
        """Run ``task(access)`` on each host in parallel; results in inventory order.

        ``deadline`` (seconds from now) bounds the whole run: a host still
        busy then (plus ``grace``) gets a HostTimeout result and its session
        is dropped.  ``idempotent``: see attempt().

        Ctrl-C while waiting sets ``self.interrupted``, gives the hosts still
        busy ``finish`` seconds more to end their step (a second Ctrl-C: none),
        then raises :class:`Interrupted` with every host's result: a host
        still busy gets a HostInterrupted result and its session is dropped,
        so a hung host never holds the command.
        """
        targets = list(self.hosts if hosts is None else hosts)
        end = None if deadline is None else time.monotonic() + deadline + grace
        try:
            results = in_parallel(targets, lambda h: self.attempt(h, task, idempotent=idempotent),
                                  end=end, name=lambda h: f"herd-{h.name}", finish=finish,
                                  on_interrupt=self.interrupted.set)
        except Interrupted as stop:
            stop.results = [result or self._cut_short(h) for h, result in zip(targets, stop.results)]
            raise
        return [result or self._abandon(h, deadline) for h, result in zip(targets, results)]

    def spawn(self, body: Callable[[HostAccess], None], *, hosts: Iterable[Host] | None = None,
              name: str = "herd") -> list[threading.Thread]:
        """Start ``body(access)`` for each host in a daemon thread of its own; the started threads.

        For long-lived views (poller, follower) whose loop per host runs until
        they stop it; each step of the loop goes through attempt().
        """
        chosen = list(self.hosts if hosts is None else hosts)
        return _start(chosen, lambda host: body(self.access(host)), lambda host: f"{name}-{host.name}")

    def _abandon(self, host: Host, deadline: float | None) -> HostResult[T]:
        self._abandoned.add(host.name)
        self.access(host).abort()
        return HostResult(host, error=HostTimeout(host.name, f"no answer within {deadline:g} s"))

    def _cut_short(self, host: Host) -> HostResult[T]:
        self._abandoned.add(host.name)
        self.access(host).abort()
        return HostResult(host, error=HostInterrupted(host.name, NO_ANSWER_YET))

    def abort(self) -> None:
        """Drop every host's connection from another thread: a call blocked on a dead link fails now."""
        for session in self._sessions.values():
            session.abort()

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Give the sessions back to the source; never waits for a host abandoned at a deadline."""
        for name in self._abandoned:
            self._sessions[name].abort()  # its thread may still hold the session in a handshake
        self.source.close()


def _log_causes(host: Host, exc: HerdError) -> None:
    """At -vv, what led to a host's error, one line a cause (its table row shows the error's one line)."""
    if log.isEnabledFor(logging.DEBUG):
        from herd import text
        from herd.errors import causes

        for cause in causes(exc):
            log.debug("%s: caused by: %s", host.name, text.exception(cause))


def in_parallel(items: Sequence[Item], work: Callable[[Item], T], *, end: float | None = None,
                name: Callable[[Item], str] = lambda item: "herd", finish: float = 0.0,
                on_interrupt: Callable[[], None] | None = None) -> list[T | None]:
    """``work(item)`` for every item at once, each in a daemon thread; results in order.

    ``end`` (time.monotonic()): stop waiting then; an item not finished by
    then has None and its thread is left to finish on its own.  ``work``
    must not raise (Fleet.attempt never does); if it does, the item's
    result is None and the exception is logged.

    Ctrl-C while waiting: ``on_interrupt()``, then up to ``finish`` seconds
    more for the items in flight (not past ``end``; a second Ctrl-C ends the
    wait), then :class:`Interrupted` with the results so far.
    """
    results: list[T | None] = [None] * len(items)
    done = [threading.Event() for _ in items]

    def one(index: int) -> None:
        try:
            results[index] = work(items[index])
        except Exception:  # noqa: BLE001 - the caller reports a missing result
            log.exception("parallel step failed")
        finally:
            done[index].set()

    threads = _threads(list(range(len(items))), one, lambda index: name(items[index]))
    try:
        for thread in threads:      # inside the try: a Ctrl-C between two starts still reports every item
            thread.start()
        _wait(done, end)
    except KeyboardInterrupt as stop:
        if on_interrupt is not None:
            on_interrupt()
        if finish > 0:
            until = time.monotonic() + finish
            started = [event for event, thread in zip(done, threads) if thread.ident is not None]
            try:
                _wait(started, until if end is None else min(end, until))
            except KeyboardInterrupt:
                pass            # a second Ctrl-C: stop waiting now
        raise Interrupted(list(results)) from stop
    return results


def _wait(done: Sequence[threading.Event], end: float | None) -> None:
    """Wait until every item is done or ``end`` (time.monotonic(); None: no end), in short steps.

    On events, not Thread.join: after a join that a Ctrl-C interrupted,
    CPython may take a live thread for a finished one (seen here: the host in
    flight was dropped at once); an event's flag cannot be mistaken.
    """
    for event in done:
        while not event.is_set():
            _raise_if_interrupted()
            left = JOIN_STEP if end is None else min(JOIN_STEP, end - time.monotonic())
            if left <= 0:
                return
            event.wait(left)


def interrupt(thread_id: int) -> None:
    """A Ctrl-C for thread ``thread_id`` (not the main thread): KeyboardInterrupt at its next wait step here.

    Raised once, by _wait, where a direct run's main thread gets its SIGINT;
    a thread that waits no more never raises it (withdraw it with
    :func:`withdraw_interrupt` once the thread's work is over).
    """
    with _asked_lock:
        _asked.add(thread_id)


def withdraw_interrupt(thread_id: int) -> bool:
    """Drop an interrupt() not raised yet; True when there was one."""
    with _asked_lock:
        if thread_id not in _asked:
            return False
        _asked.discard(thread_id)
        return True


def _raise_if_interrupted() -> None:
    if _asked and withdraw_interrupt(threading.get_ident()):
        raise KeyboardInterrupt


def _threads(items: Sequence[Item], body: Callable[[Item], None],
             name: Callable[[Item], str]) -> list[threading.Thread]:
    """A daemon thread running ``body(item)`` for each item, not started: herd's only thread per host."""
    return [threading.Thread(target=body, args=(item,), name=name(item), daemon=True) for item in items]


def _start(items: Sequence[Item], body: Callable[[Item], None], name: Callable[[Item], str]) -> list[threading.Thread]:
    """_threads(), started."""
    threads = _threads(items, body, name)
    for thread in threads:
        thread.start()
    return threads
