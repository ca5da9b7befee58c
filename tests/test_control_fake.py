"""Control commands' waits and per-host outcomes in process, against fake supervisords.

tests/test_control_fleet.py proves them through sshd on real supervisords;
here the waiting logic (STOPPING for a while, BACKOFF then FATAL, a wait
that times out, a host that drops) runs fast.
"""

from __future__ import annotations

import pytest

from herd.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, UsageError
from herd.operations.control import ControlRequest, run_control
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet


def host(name: str = "web01", **worker: object) -> FakeHost:
    return FakeHost(name, FakeSupervisor([ProgramSpec("tornado", numprocs=2, numprocs_start=8080),
                                          ProgramSpec("worker", **worker)]))  # type: ignore[arg-type]


def outcomes(report: object) -> list[tuple[str, str, str | None]]:
    return [(h.host, o.name, o.error) for h in report.hosts for o in h.outcomes]  # type: ignore[attr-defined]


def test_stop_waits_through_stopping_until_stopped() -> None:
    web01 = host(stop_delay=0.3)
    report = run_control(fake_fleet([web01]), ControlRequest("stop", ("worker",), wait_timeout=5))
    assert report.exit_code == EXIT_OK
    assert web01.supervisor.info("worker")["statename"] == "STOPPED"
    assert [o.result for h in report.hosts for o in h.outcomes] == ["stopped"]


def test_a_stop_still_stopping_at_the_wait_timeout_is_a_failure() -> None:
    web01 = host(stop_delay=5)
    report = run_control(fake_fleet([web01]), ControlRequest("stop", ("worker",), wait_timeout=0.2))
    assert report.exit_code == EXIT_FAILED
    assert outcomes(report) == [("web01", "worker", "still STOPPING after 0.2 s")]


def test_a_start_that_goes_backoff_then_fatal_is_reported_with_the_spawn_error() -> None:
    web01 = host()
    fleet = fake_fleet([web01])
    run_control(fleet, ControlRequest("stop", ("worker",)))
    web01.supervisor.break_program("worker")
    report = run_control(fleet, ControlRequest("start", ("worker",), wait_timeout=5))
    assert report.exit_code == EXIT_FAILED
    assert outcomes(report) == [("web01", "worker", "FATAL: Exited too quickly (process log may have details) "
                                                    "(see herd tail -H web01 worker stderr)")]


def test_restart_of_a_group_and_already_started_and_not_running() -> None:
    web01 = host()
    fleet = fake_fleet([web01])
    before = [web01.supervisor.info(f"tornado:tornado-{p}")["pid"] for p in (8080, 8081)]
    report = run_control(fleet, ControlRequest("restart", ("tornado:*",)))
    assert report.exit_code == EXIT_OK
    after = [web01.supervisor.info(f"tornado:tornado-{p}")["pid"] for p in (8080, 8081)]
    assert all(a != b for a, b in zip(after, before))
    assert [o.result for h in run_control(fleet, ControlRequest("start", ("worker",))).hosts
            for o in h.outcomes] == ["already started"]
    run_control(fleet, ControlRequest("stop", ("worker",)))
    assert [o.result for h in run_control(fleet, ControlRequest("stop", ("worker",))).hosts
            for o in h.outcomes] == ["not running"]


def test_unknown_names_are_refused_before_anything_is_touched() -> None:
    web01 = host()
    before = web01.supervisor.info("worker")["pid"]
    with pytest.raises(UsageError, match="no such process or group on any selected host: nosuch"):
        run_control(fake_fleet([web01]), ControlRequest("stop", ("worker", "nosuch")))
    assert web01.supervisor.info("worker")["pid"] == before


def test_a_mistyped_name_gets_a_did_you_mean() -> None:
    web01 = host()
    with pytest.raises(UsageError) as refused:
        run_control(fake_fleet([web01]), ControlRequest("restart", ("wroker", "nosuch")))
    assert str(refused.value) == ("no such process or group on any selected host: wroker (did you mean 'worker'?), "
                                  "nosuch")
    assert web01.supervisor.info("worker")["statename"] == "RUNNING"
    assert "supervisor.stopProcess" not in web01.supervisor.calls


def test_one_host_down_the_others_act() -> None:
    web01, web02 = host("web01"), host("web02")
    web02.break_connection()
    report = run_control(fake_fleet([web01, web02]), ControlRequest("stop", ("worker",)))
    assert report.exit_code == EXIT_UNREACHABLE
    assert web01.supervisor.info("worker")["statename"] == "STOPPED"
    assert web02.supervisor.info("worker")["statename"] == "RUNNING"
    down = next(h for h in report.hosts if h.host == "web02")
    assert down.error is not None and "connection lost" in str(down.error)


def test_all_processes_of_a_host_are_asked_in_one_round_trip() -> None:
    web01 = host()
    run_control(fake_fleet([web01]), ControlRequest("stop", ("all",), wait=False))
    # two round trips: the read (the release learnt in the same multicall), then every stop at once
    assert web01.supervisor.calls == ["system.multicall", "supervisor.getSupervisorVersion",
                                      "supervisor.getAllProcessInfo",
                                      "system.multicall"] + ["supervisor.stopProcess"] * 3


# -- Ctrl-C while the hosts act (tests/test_interrupt_fleet.py: the same through sshd, and the messages) ------


def ctrl_c_in(seconds: float) -> None:
    import _thread
    import threading

    threading.Timer(seconds, _thread.interrupt_main).start()


def test_ctrl_c_mid_restart_starts_again_what_it_stopped_and_leaves_nothing_stopped() -> None:
    from herd.errors import EXIT_INTERRUPTED

    web01, web02 = host("web01", stop_delay=0.6), host("web02", stop_delay=0.6)
    ctrl_c_in(0.3)                                   # both workers STOPPING
    report = run_control(fake_fleet([web01, web02]), ControlRequest("restart", ("worker",), wait_timeout=5))
    assert report.interrupted and report.exit_code == EXIT_INTERRUPTED
    assert report.left_stopped == []
    assert [(h.host, [(o.name, o.result) for o in h.outcomes]) for h in report.hosts] == [
        ("web01", [("worker", "starting")]), ("web02", [("worker", "starting")])]   # not waited for after Ctrl-C
    for fake in (web01, web02):
        assert fake.supervisor.info("worker")["statename"] in ("STARTING", "RUNNING")


def test_ctrl_c_mid_stop_names_per_host_what_it_left_stopped() -> None:
    from herd.operations.outcomes import LeftStopped

    web01, web02 = host("web01", stop_delay=0.6), host("web02")
    ctrl_c_in(0.3)
    report = run_control(fake_fleet([web01, web02]), ControlRequest("stop", ("tornado", "worker"), wait_timeout=5))
    # web02 had stopped its processes before the Ctrl-C: they are left stopped too, as the user asked
    assert report.interrupted
    assert report.left_stopped == [LeftStopped("web01", ["tornado:tornado-8080", "tornado:tornado-8081", "worker"]),
                                   LeftStopped("web02", ["tornado:tornado-8080", "tornado:tornado-8081", "worker"])]
    assert web01.supervisor.info("worker")["statename"] == "STOPPED"
