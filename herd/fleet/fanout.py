"""Run a task on many hosts at once and collect one result per host.

"Fan out, then decide": every host gets a ``HostResult`` (a value or an
error), in inventory order, and the caller takes decisions (exit codes,
halting a roll) on the collected results.  One host's failure never stops
or delays another beyond the timeout: hosts run in daemon threads, and a
host still busy at the deadline is reported as timed out and abandoned.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Sequence, TypeVar

from herd.errors import HerdError, HostError, HostTimeout
from herd.fleet.session import SessionPool
from herd.inventory.model import Host
from herd.ssh.connection import Connector
from herd.supervisor.client import SupervisorClient

T = TypeVar("T")
Task = Callable[[SupervisorClient], T]

log = logging.getLogger("herd.fleet")

READ_GRACE = 0.25   # seconds past a read-only command's budget for a step's own timeout to report


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
    """The selected hosts, their (reusable) sessions, and parallel execution."""

    def __init__(self, hosts: Sequence[Host], connector: Connector, forks: int = 50,
                 pool: SessionPool | None = None, reopen_dead: bool = False) -> None:
        """With ``pool``, sessions are borrowed from it and stay open after close().

        ``reopen_dead``: in read-only runs, a kept connection found dead
        (its transport closed under the call) is reopened and the task run
        again, once, within the same deadline (the keeper's fleets).
        """
        self.hosts = list(hosts)
        self.reopen_dead = reopen_dead
        self.connector = connector
        self.forks = max(1, forks)
        self._owns_sessions = pool is None
        pool = pool or SessionPool(connector)
        self.sessions = {h.name: pool.session(h) for h in self.hosts}
        self._abandoned: set[str] = set()

    @property
    def read_budget(self) -> float:
        """What a read-only command (status, tail, version, pid, avail) gives a host: the timeout.

        Connecting and every call of a host together: that is what lets
        ``--timeout`` be a budget the user can count on (docs/commands.md).
        """
        return self.connector.timeout

    def read(self, task: Task[T]) -> list[HostResult[T]]:
        """run() for a read-only task: every host is done or abandoned within the read budget.

        A step's own timeout (the handshake, a call) firing at the same
        moment says more than "no answer": it gets READ_GRACE to win.
        """
        return self.run(task, deadline=self.read_budget, grace=READ_GRACE, idempotent=True)

    def run(self, task: Task[T], *, hosts: Iterable[Host] | None = None,
            deadline: float | None = None, grace: float = 0.0, idempotent: bool = False) -> list[HostResult[T]]:
        """Run ``task(client)`` on each host in parallel; results in inventory order.

        ``deadline`` (seconds from now) bounds the whole run: a host still
        busy then (plus ``grace``) gets a HostTimeout result and its session
        is dropped.  ``idempotent``: the task may run twice on a host (see
        ``reopen_dead``).
        """
        targets = list(self.hosts if hosts is None else hosts)
        results: dict[str, HostResult[T]] = {}
        slots = threading.Semaphore(self.forks)
        threads = [threading.Thread(target=self._run_one, args=(h, task, results, slots, idempotent),
                                    name=f"herd-{h.name}", daemon=True) for h in targets]
        end = None if deadline is None else time.monotonic() + deadline + grace
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(None if end is None else max(0.0, end - time.monotonic()))
        return [results.get(h.name) or self._abandon(h, deadline) for h in targets]

    def _run_one(self, host: Host, task: Task[T], results: dict[str, HostResult[T]],
                 slots: threading.Semaphore, idempotent: bool = False) -> None:
        session = self.sessions[host.name]
        # --forks bounds the handshakes in flight (the controller's CPU, the hosts' sshd MaxStartups);
        # a call on a connection kept open (shell, keeper, web) is one round trip and takes no slot.
        with contextlib.nullcontext() if session.connected else slots:
            retry = idempotent and self.reopen_dead and session.connected
            try:
                try:
                    value = task(session.client())
                except HostError as exc:
                    if not (retry and not session.connected):
                        raise
                    log.info("%s: the kept connection was dead (%s); connecting again", host.name, exc.reason)
                    session.reset()
                    value = task(session.client())
                results[host.name] = HostResult(host, value=value)
            except HostError as exc:
                session.reset()
                results[host.name] = HostResult(host, error=exc)
            except HerdError as exc:
                results[host.name] = HostResult(host, error=exc)
            except Exception as exc:  # a bug must not take the other hosts down
                log.exception("%s: unexpected error", host.name)
                session.reset()
                results[host.name] = HostResult(host, error=HostError(
                    host.name, f"unexpected error: {type(exc).__name__}: {exc}"))

    def _abandon(self, host: Host, deadline: float | None) -> HostResult[T]:
        self._abandoned.add(host.name)
        self.sessions[host.name].abort()
        return HostResult(host, error=HostTimeout(host.name, f"no answer within {deadline:g} s"))

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every session it owns; never waits for a host abandoned at a deadline."""
        for name, session in self.sessions.items():
            if name in self._abandoned:
                session.abort()  # its thread may still hold the session in a handshake
            elif self._owns_sessions:
                session.close()
        if self._owns_sessions:
            self.connector.close()
