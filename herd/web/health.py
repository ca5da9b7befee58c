"""The health the page shows, graded from the very state its table shows.

The table is the poller's host events; the badge and the Health view used
to be a poll of their own (``/api/check`` every 5 s), so the two could
disagree for seconds (``16 RUNNING`` next to ``WARNING``, a finished roll
still STARTING).  Now each environment has one :class:`HealthFeed`: every
poll a row is pushed for, it keeps that host as pushed, and when the state
changed it grades the fleet *as the pages were told* (each host as last
pushed) and hands the row and that grading to the event loop together; the
app sends the row, then the ``health`` event, in the same batch of the
stream, so the page draws both in one frame.

A poll that changed nothing is graded again at most once per poll interval,
and only where the grade can move with time alone (an ``expect:`` rule with
``min_uptime``: a process RUNNING for less is flapping); changes that reach the event
loop together (a fleet-wide restart) are graded once (:class:`Outbox`); and a
page is sent a health only when it differs from the last one it got
(herd/web/app.py, ``Hub``): a quiet fleet costs one grading per interval
(about 1 ms for 100 hosts) and no traffic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from herd.operations.poller import FleetSnapshot, HostSnapshot

if TYPE_CHECKING:
    from herd.web.actions import Dashboard

Deliver = Callable[["dict[str, Any] | None", "FleetSnapshot | None"], object]


class HealthFeed:
    """One environment's rows and gradings, in the order the poller's threads produced them."""

    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash
        self.lock = threading.Lock()
        self.shown: dict[str, HostSnapshot] = {}
        self.graded_at = float("-inf")
        # only min_uptime grades by the clock: without such a rule a quiet poll cannot change the grade
        self.timed = any(e.min_uptime for e in dash.inventory.expect.values())

    def snapshot(self) -> FleetSnapshot:
        """The fleet as the pages were told: each host as last pushed (the poller's until it was)."""
        with self.lock:
            return self._snapshot()

    def _snapshot(self) -> FleetSnapshot:
        current = self.dash.poller.snapshot()
        return dataclasses.replace(current, hosts=tuple(self.shown.get(h.host, h) for h in current.hosts))

    def poll(self, fresh: HostSnapshot, deliver: Deliver) -> None:
        """One poll of one host (a poller thread): ``deliver(row, graded)`` with the host's row when it
        changed (every poll with ``--resources``: the numbers move) and the snapshot to grade when it
        changed or (with a min_uptime rule) the last grading is an interval old.

        ``deliver`` is called under the lock: two hosts' rows and gradings reach the event loop in the
        order they were made, so a page never gets an older grading after a newer one.
        """
        with self.lock:
            old = self.shown.get(fresh.host)
            changed = old is None or old.signature() != fresh.signature()
            self.shown[fresh.host] = fresh
            now = time.monotonic()
            regrade = changed or (self.timed and now - self.graded_at >= self.dash.poller.interval)
            row = self.dash.host_state(fresh) if changed or self.dash.poller.resources else None
            if row is None and not regrade:
                return
            if regrade:
                self.graded_at = now
            deliver(row, self._snapshot() if regrade else None)


class Outbox:
    """On the event loop: the rows and the latest grading that arrive in one turn of the loop are sent
    together at its next turn, the rows first, graded once (``publish_health`` with the latest snapshot)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, publish: Callable[[str, Any], None],
                 publish_health: Callable[[FleetSnapshot], None]) -> None:
        self.loop = loop
        self.publish = publish
        self.publish_health = publish_health
        self.rows: list[dict[str, Any]] = []
        self.graded: FleetSnapshot | None = None
        self.due = False

    def send(self, row: dict[str, Any] | None, graded: FleetSnapshot | None) -> None:
        if row is not None:
            self.rows.append(row)
        if graded is not None:
            self.graded = graded
        if not self.due:
            self.due = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        rows, graded = self.rows, self.graded
        self.rows, self.graded, self.due = [], None, False
        for row in rows:
            self.publish("host", row)
        if graded is not None:      # right after its rows: the page draws both in one frame
            self.publish_health(graded)
