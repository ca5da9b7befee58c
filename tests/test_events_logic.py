"""The event model (herd/operations/events.py): pure, from hand-made snapshots.

In process against the fake supervisord: tests/test_events_fake.py; over sshd: tests/test_events_fleet.py.
"""

from __future__ import annotations

import dataclasses

from herd.operations.events import EventTracker, FleetEvent, events_between
from herd.operations.poller import HostSnapshot
from herd.operations.status import ExpectedExits
from herd.supervisor.models import ProcessInfo, ProcessState

NOW = 1_700_000_000.0


def proc(name: str, state: str, pid: int = 0, *, group: str | None = None, start: int = 100, stop: int = 0,
         exitstatus: int = 0, spawnerr: str = "", description: str = "") -> ProcessInfo:
    return ProcessInfo(name, group or name, ProcessState[state], pid, start, stop, 200, description, spawnerr,
                       exitstatus)


def snap(*processes: ProcessInfo, host: str = "web01", error: str | None = None) -> HostSnapshot:
    return HostSnapshot(host, tuple(processes), error=error)


def test_first_poll_reports_nothing_but_a_host_unreachable_at_once() -> None:
    assert events_between(None, snap(proc("worker", "FATAL")), NOW) == []
    down = events_between(None, snap(host="db1", error="SSH connection refused"), NOW)
    assert down == [FleetEvent(NOW, "db1", "host-down", detail="SSH connection refused")]


def test_a_crash_is_a_state_event_with_from_to_the_pid_that_ended_and_its_exit_status() -> None:
    before = snap(proc("worker", "RUNNING", 4242), proc("web", "RUNNING", 7))
    after = snap(proc("worker", "EXITED", 0, stop=150, exitstatus=3, description="Dec 04 03:00 PM"),
                 proc("web", "RUNNING", 7))
    (event,) = events_between(before, after, NOW)
    assert event == FleetEvent(NOW, "web01", "state", "worker", "RUNNING", "EXITED", None, 3, 4242,
                               "Dec 04 03:00 PM")
    exits = {"worker": ExpectedExits((0,), "exitcodes 0")}
    assert events_between(before, after, NOW, exits=exits)[0].expected is False
    exits = {"worker": ExpectedExits((0, 3), "exitcodes 0,3")}
    assert events_between(before, after, NOW, exits=exits)[0].expected is True


def test_exit_status_only_for_ends_the_poll_saw_and_detail_is_the_spawn_error() -> None:
    before = snap(proc("w", "STARTING", 10))
    # supervisord keeps no exit status for a start that failed (getProcessInfo says 0)
    backoff = snap(proc("w", "BACKOFF", 0, stop=101, spawnerr="Exited too quickly (process log may have details)"))
    (event,) = events_between(before, backoff, NOW)
    assert (event.from_state, event.to_state, event.exitstatus, event.expected, event.pid) == \
        ("STARTING", "BACKOFF", None, None, 10)
    assert event.detail == "Exited too quickly (process log may have details)"
    running = snap(proc("w", "RUNNING", 11, exitstatus=1, stop=101, description="pid 11, uptime 0:00:01"))
    (event,) = events_between(snap(proc("w", "STARTING", 11, stop=101)), running, NOW)
    assert (event.exitstatus, event.expected, event.pid, event.detail) == (None, None, 11, "")
    # a stop someone asked for: no exit status (a SIGTERM is no crash)
    stopped = snap(proc("w", "STOPPED", 0, exitstatus=-1, stop=150, description="Not started"))
    (event,) = events_between(running, stopped, NOW)
    assert (event.exitstatus, event.detail, event.pid) == (None, "Not started", 11)
    # ended and autorestarted between two polls: the status it ended with, expected unknown
    respawned = snap(proc("w", "STARTING", 12, start=160, stop=159, exitstatus=-1))
    exits = {"w": ExpectedExits((0,), "exitcodes 0")}
    (event,) = events_between(running, respawned, NOW, exits=exits)
    assert (event.from_state, event.to_state, event.exitstatus, event.expected, event.pid) == \
        ("RUNNING", "STARTING", -1, None, 12)
    assert event.detail == "pid 11 -> 12"


def test_a_whole_restart_between_two_polls_is_seen_by_its_new_pid() -> None:
    (event,) = events_between(snap(proc("w", "RUNNING", 10, start=100)), snap(proc("w", "RUNNING", 12, start=190)),
                              NOW)
    assert (event.kind, event.from_state, event.to_state, event.pid) == ("state", "RUNNING", "RUNNING", 12)
    assert event.detail == "pid 10 -> 12, between two polls"
    # a job that ran and exited again between two polls: same state, another stop time
    first = snap(proc("job", "EXITED", stop=150, exitstatus=0))
    again = snap(proc("job", "EXITED", start=160, stop=170, exitstatus=2))
    (event,) = events_between(first, again, NOW)
    assert (event.from_state, event.to_state, event.exitstatus) == ("EXITED", "EXITED", 2)
    assert event.detail.startswith("started again, between two polls")
    assert events_between(first, first, NOW) == []


def test_processes_that_appear_and_go_in_the_order_of_the_new_snapshot_then_the_gone() -> None:
    before = snap(proc("a", "RUNNING", 1), proc("b", "RUNNING", 2, group="g"))
    after = snap(proc("c", "STARTING", 3), proc("a", "RUNNING", 1), proc("d", "STOPPED"))
    events = events_between(before, after, NOW)
    assert [(e.kind, e.process, e.from_state, e.to_state, e.pid) for e in events] == [
        ("added", "c", None, "STARTING", 3), ("added", "d", None, "STOPPED", 0), ("gone", "g:b", "RUNNING", None, 2)]


def test_host_down_once_per_outage_then_host_up_and_what_changed_meanwhile() -> None:
    up = snap(proc("w", "RUNNING", 10))
    down = snap(error="SSH connection lost: connection reset by peer")
    assert events_between(up, down, NOW) == [FleetEvent(NOW, "web01", "host-down",
                                                        detail="SSH connection lost: connection reset by peer")]
    assert events_between(down, dataclasses.replace(down, error="timed out"), NOW) == []
    # from an error snapshot alone: host-up, nothing to compare the processes with
    back = snap(proc("w", "FATAL", spawnerr="Exited too quickly"))
    assert events_between(down, back, NOW) == [FleetEvent(NOW, "web01", "host-up")]
    # the tracker diffs against the last answered snapshot
    tracker = EventTracker()
    assert tracker.feed(up, NOW) == []
    assert [e.kind for e in tracker.feed(down, NOW + 1)] == ["host-down"]
    assert tracker.feed(dataclasses.replace(down, error="timed out"), NOW + 2) == []
    events = tracker.feed(back, NOW + 3)
    assert events == [FleetEvent(NOW + 3, "web01", "host-up"),
                      FleetEvent(NOW + 3, "web01", "state", "w", "RUNNING", "FATAL", pid=10,
                                 detail="Exited too quickly")]
    assert tracker.feed(back, NOW + 4) == []


def test_tracker_keeps_one_host_apart_from_another_and_names_the_exited_it_needs_exitcodes_for() -> None:
    tracker = EventTracker()
    tracker.feed(snap(proc("w", "RUNNING", 10), host="a"), NOW)
    tracker.feed(snap(proc("w", "RUNNING", 20), host="b"), NOW)
    crashed = snap(proc("w", "EXITED", stop=150, exitstatus=1), host="a")
    assert [p.fullname for p in tracker.exited(crashed)] == ["w"]
    assert tracker.exited(snap(proc("w", "RUNNING", 20), host="b")) == []
    events = tracker.feed(crashed, NOW + 1, exits={"w": ExpectedExits((0,), "exitcodes 0")})
    assert [(e.host, e.to_state, e.expected, e.exitstatus, e.pid) for e in events] == [("a", "EXITED", False, 1, 10)]
    assert tracker.exited(crashed) == []
    assert tracker.feed(snap(proc("w", "RUNNING", 20), host="b"), NOW + 1) == []
