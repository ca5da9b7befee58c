"""The fleet's one error policy (Fleet.attempt), once, against the fake: every per-host call of herd
(run, read, the poller, the follower, the rolling runner, the page) goes through it."""

from __future__ import annotations

import threading
import time

from herd.errors import HostError, HostTimeout, LogGone, UnexpectedError
from herd.fleet import Fleet, HostAccess
from herd.operations.poller import Poller
from herd.testing.fake import FakeHost, FakeSource, FakeSupervisor, ProgramSpec, fake_fleet


def hosts(*names: str) -> list[FakeHost]:
    return [FakeHost(n, FakeSupervisor([ProgramSpec("worker")])) for n in names]


def pid(access: HostAccess) -> int:
    return int(access.client().call("supervisor.getPID"))


def test_a_host_error_is_that_hosts_result_and_resets_its_session_only() -> None:
    web01, web02 = hosts("web01", "web02")
    fleet = fake_fleet([web01, web02])
    assert all(r.ok for r in fleet.run(pid))
    web01.break_connection()
    results = fleet.run(pid)
    assert [r.ok for r in results] == [False, True]
    assert isinstance(results[0].error, HostError) and "connection" in results[0].error.reason
    assert not web01.connected and web02.connected          # web02 keeps its connection
    web01.repair()
    assert all(r.ok for r in fleet.run(pid)) and web01.connects == 2 and web02.connects == 1


def test_another_herd_error_is_the_result_and_keeps_the_session() -> None:
    web01, = hosts("web01")
    fleet = fake_fleet([web01])
    fleet.run(pid)

    def gone(access: HostAccess) -> None:
        access.client()
        raise LogGone("no longer known to supervisord")

    [result] = fleet.run(gone)
    assert isinstance(result.error, LogGone) and web01.connected and web01.connects == 1


def test_a_bug_is_the_hosts_unexpected_error_with_its_cause_and_never_the_other_hosts() -> None:
    web01, web02, web03 = hosts("web01", "web02", "web03")
    fleet = fake_fleet([web01, web02, web03])

    def buggy(access: HostAccess) -> int:
        value = pid(access)
        if access.name == "web02":
            raise KeyError("worker")
        return value

    results = fleet.run(buggy)
    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert isinstance(error, UnexpectedError) and isinstance(error, HostError)
    assert error.reason == "unexpected error: KeyError: 'worker' (-vv shows where)"
    assert isinstance(error.__cause__, KeyError)
    assert not web02.connected and web01.connected and web03.connected     # its state is unknown: reset


def test_a_dead_kept_connection_is_reopened_once_for_a_read_on_a_source_that_says_so() -> None:
    for reopen, expected in ((True, True), (False, False)):
        web01, = hosts("web01")
        fleet = fake_fleet([web01], reopen_dead=reopen)
        fleet.read(pid)
        calls = []

        def flaky(access: HostAccess) -> int:
            calls.append(access.connected)
            if len(calls) == 1:
                client = access.client()
                web01.break_connection()    # the kept connection dies under the call
                try:
                    return int(client.call("supervisor.getPID"))
                finally:
                    web01.repair()          # a new connection would work
            return pid(access)

        [result] = fleet.read(flaky)
        assert result.ok is expected, (reopen, result.error)
        assert len(calls) == (2 if reopen else 1)
        # a task that changes things is never run twice, whatever the source
        calls.clear()
        fleet.read(pid)
        [result] = fleet.run(flaky)
        assert not result.ok and len(calls) == 1


def test_a_host_past_the_deadline_is_abandoned_as_timed_out_and_the_others_answer() -> None:
    web01, web02 = hosts("web01", "web02")
    fleet = fake_fleet([web01, web02])
    release = threading.Event()

    def slow_on_web02(access: HostAccess) -> int:
        if access.name == "web02":
            release.wait(5)
        return pid(access)

    started = time.monotonic()
    results = fleet.run(slow_on_web02, deadline=0.3)
    release.set()
    assert time.monotonic() - started < 2
    assert results[0].ok and isinstance(results[1].error, HostTimeout)
    assert results[1].error.reason == "no answer within 0.3 s"


def test_forks_bounds_the_handshakes_in_flight_not_calls_on_live_connections() -> None:
    fakes = hosts(*(f"web{i:02d}" for i in range(6)))
    fleet = Fleet([h.host for h in fakes], FakeSource(fakes), forks=2)
    busy, peak, lock = [0], [0], threading.Lock()

    def counted(access: HostAccess) -> int:
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        time.sleep(0.05)
        with lock:
            busy[0] -= 1
        return pid(access)

    assert all(r.ok for r in fleet.run(counted)) and peak[0] == 2        # connecting: two at a time
    peak[0] = 0
    assert all(r.ok for r in fleet.run(counted)) and peak[0] > 2          # connected: all at once


def test_the_poller_goes_through_the_same_policy() -> None:
    web01, web02 = hosts("web01", "web02")
    poller = Poller(fake_fleet([web01, web02]), interval=60)
    web02.break_connection("no route to host")
    snap = poller.poll_once("web02")
    assert snap.error == "SSH connection lost: no route to host" and not web02.connected
    assert poller.poll_once("web01").ok
    web02.repair()
    assert poller.poll_once("web02").ok


def test_at_debug_level_a_hosts_error_logs_its_causes_one_line_each() -> None:
    import logging

    web01, = hosts("web01")
    fleet = fake_fleet([web01])

    def refused(access: HostAccess) -> None:
        try:
            raise ConnectionRefusedError(111, "Connection refused\x1b[31m")
        except OSError as exc:
            raise HostError("web01", "cannot connect") from exc

    class Lines(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    logger, handler = logging.getLogger("herd.fleet"), Lines()
    level = logger.level
    logger.addHandler(handler)
    try:
        logger.setLevel(logging.INFO)                  # herd -v: no causes
        fleet.run(refused)
        assert not [line for line in handler.lines if "caused by" in line]
        logger.setLevel(logging.DEBUG)                 # herd -vv
        [result] = fleet.run(refused)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert result.error is not None and result.error.reason == "cannot connect"
    assert [line for line in handler.lines if "caused by" in line] == [
        r"web01: caused by: ConnectionRefusedError: [Errno 111] Connection refused\x1b[31m"]


# -- Ctrl-C during a fan-out (the main thread gets KeyboardInterrupt; herd's CLI maps SIGTERM to it too) ------


def interrupt_main_in(seconds: float) -> threading.Timer:
    """Ctrl-C in the main thread after ``seconds`` (as a SIGINT would arrive there)."""
    import _thread

    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_during_run_gives_what_the_answering_hosts_said_at_once() -> None:
    from herd.errors import HostInterrupted
    from herd.fleet import Interrupted

    fleet = fake_fleet(hosts("web01", "web02", "web03"))
    hung = threading.Event()

    def task(access: HostAccess) -> int:
        if access.name == "web02":
            hung.wait(30)              # a host that never answers
        return pid(access)

    interrupt_main_in(0.5)
    started = time.monotonic()
    try:
        fleet.run(task, deadline=20)
        raise AssertionError("Ctrl-C did not reach the fan-out")
    except Interrupted as stop:
        results = stop.results
    assert time.monotonic() - started < 1.5
    assert fleet.interrupted.is_set()
    assert [r.name for r in results] == ["web01", "web02", "web03"]
    assert results[0].ok and results[2].ok and isinstance(results[0].value, int)
    assert isinstance(results[1].error, HostInterrupted)
    assert results[1].error.reason == "interrupted: no answer yet" and results[1].error.exit_code == 130
    hung.set()
    fleet.close()


def test_ctrl_c_gives_the_hosts_in_flight_finish_seconds_to_end_their_step() -> None:
    from herd.fleet import Interrupted

    fleet = fake_fleet(hosts("web01", "web02"))
    finished: list[str] = []

    def step(access: HostAccess) -> str:
        fleet.interrupted.wait(10)       # in flight until the Ctrl-C, then finishes its step
        if access.name == "web02":
            time.sleep(30)               # web02 cannot finish within the bound
        finished.append(access.name)
        return "finished"

    interrupt_main_in(0.3)
    started = time.monotonic()
    try:
        fleet.run(step, finish=1.0)
        raise AssertionError("Ctrl-C did not reach the fan-out")
    except Interrupted as stop:
        results = stop.results
    took = time.monotonic() - started
    assert 1.2 <= took < 2.5, took      # the Ctrl-C, then the finish bound, not web02's 30 s
    assert results[0].value == "finished" and finished == ["web01"]
    assert results[1].error is not None and results[1].error.reason == "interrupted: no answer yet"
    fleet.close()


def test_a_second_ctrl_c_stops_the_finish_wait_at_once() -> None:
    from herd.fleet import Interrupted

    fleet = fake_fleet(hosts("web01"))
    interrupt_main_in(0.3)
    interrupt_main_in(0.6)
    started = time.monotonic()
    try:
        fleet.run(lambda access: time.sleep(30), finish=20)
        raise AssertionError("Ctrl-C did not reach the fan-out")
    except Interrupted as stop:
        assert stop.results[0].error is not None
    assert time.monotonic() - started < 1.5
    fleet.close()
