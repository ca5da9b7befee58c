"""Guard in tests: a channel that records what it is sent, and guard's loop run as ``herd guard`` runs it.

Tests of rules, remediation and channels drive the real Guard over a real
Poller (over fake supervisords or the test fleet); these two pieces were
written three times.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from herd.operations.guard.engine import Guard
from herd.operations.guard.incidents import Notification
from herd.operations.poller import Poller


class Recorder:
    """A channel that keeps what it is sent (in order), delivering nothing."""

    name = "recorder"

    def __init__(self) -> None:
        self.notes: list[Notification] = []

    def send(self, note: Notification) -> None:
        self.notes.append(note)

    def close(self, timeout: float) -> None:
        pass

    def actions(self) -> list[str]:
        """The lines of the remediation messages ("action"), in order."""
        return [line for note in self.notes if note.kind == "action" for line in note.actions]

    def events(self) -> list[tuple[str, str, str, list[str]]]:
        """(kind, rule, program, hosts affected) of each message, for short assertions."""
        return [(n.kind, n.incident.rule, n.incident.subject, sorted(n.incident.hosts)) for n in self.notes]


@contextlib.contextmanager
def guard_running(guard: Guard, poller: Poller, *, step: float = 0.05, close_timeout: float = 2.0
                  ) -> Iterator[Poller]:
    """``poller`` polling and ``guard``'s loop in a thread, as `herd guard` runs them; stopped and closed after."""
    guard.attach(poller)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            guard.step(step)
    thread = threading.Thread(target=loop, daemon=True, name="herd-test-guard")
    with poller:
        thread.start()
        try:
            yield poller
        finally:
            stop.set()
            thread.join(5)
            guard.close(close_timeout)
