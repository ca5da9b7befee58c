"""``herd events`` in process: the poller's snapshots of fake supervisords turned into printed lines.

The model alone: tests/test_events_logic.py; over sshd and supervisord: tests/test_events_fleet.py.
Polls are made by hand (``poll_once``: the listener runs in the caller), so every step is deterministic.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading

import pytest

from herd.cli import run_command
from herd.cli.events import EventStream, event_text, run_events
from herd.operations.events import FleetEvent
from herd.operations.poller import Poller
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet
from helpers import wait_until


def host(name: str, *programs: ProgramSpec) -> FakeHost:
    return FakeHost(name, FakeSupervisor(programs or [ProgramSpec("worker", autorestart=False),
                                                      ProgramSpec("web", exitcodes=(0, 3))]))


def stream_of(hosts: list[FakeHost], output: str = "text", names: tuple[str, ...] = ()) \
        -> tuple[Poller, EventStream, io.StringIO]:
    fleet = fake_fleet(hosts)
    poller = Poller(fleet, 0.05, names)
    out = io.StringIO()
    stream = EventStream(fleet, out, output)
    poller.listen(stream.on_snapshot)
    for h in hosts:
        poller.poll_once(h.name)          # the starting point: no event
    assert out.getvalue() == ""
    return poller, stream, out


def lines(out: io.StringIO) -> list[str]:
    """The lines printed since the last call, without their time stamp."""
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return [line.split("  ", 1)[1] for line in text.splitlines()]


def test_a_crash_is_one_line_with_from_to_exit_status_expected_or_not_and_the_pid_that_ended() -> None:
    web01, web02 = host("web01"), host("web02")
    poller, _, out = stream_of([web01, web02])
    pid = web01.supervisor.info("worker")["pid"]
    web01.supervisor.crash("worker", exitstatus=1)
    web02.supervisor.crash("web", exitstatus=3)
    poller.poll_once("web01")
    poller.poll_once("web02")
    got = lines(out)
    assert got[0] == f"web01  worker  RUNNING -> EXITED  exit status 1, unexpected; pid {pid}; " + \
        web01.supervisor.info("worker")["description"]
    # web autorestarts: between two polls it ended with 3 and is STARTING/RUNNING again (expected: unknown)
    assert len(got) == 2 and got[1].startswith("web02  web  RUNNING -> ")
    assert got[1].split("  ", 3)[3].startswith("exit status 3; pid "), got[1]
    assert "between two polls" in got[1] or "RUNNING -> STARTING" in got[1]
    poller.poll_once("web01")
    assert lines(out) == []                 # nothing changed: nothing printed


def test_exit_status_expected_by_the_program_and_the_exitcodes_read_once_a_minute() -> None:
    web01 = host("web01", ProgramSpec("job", autorestart=False, exitcodes=(0, 3)),
                 ProgramSpec("other", autorestart=False))
    poller, _, out = stream_of([web01])
    web01.supervisor.crash("job", exitstatus=3)
    poller.poll_once("web01")
    assert "exit status 3, expected" in lines(out)[0]
    configs = web01.supervisor.calls.count("supervisor.getAllConfigInfo")
    web01.supervisor.crash("other", exitstatus=0)
    poller.poll_once("web01")
    assert "other  RUNNING -> EXITED  exit status 0, expected" in lines(out)[0]
    assert web01.supervisor.calls.count("supervisor.getAllConfigInfo") == configs   # cached


def test_a_program_that_fails_to_start_goes_to_fatal_with_supervisords_reason() -> None:
    web01 = host("web01", ProgramSpec("worker", startretries=1))
    poller, _, out = stream_of([web01])
    web01.supervisor.break_program("worker")
    web01.supervisor.crash("worker", exitstatus=2)
    wait_until(lambda: web01.supervisor.states()["worker"] == "FATAL", 5)
    poller.poll_once("web01")
    (line,) = lines(out)
    assert line.startswith("web01  worker  RUNNING -> FATAL  pid ") and line.endswith("Exited too quickly "
                                                                                     "(process log may have details)")


def test_host_down_once_then_up_with_what_changed_while_it_was_away() -> None:
    web01, web02 = host("web01"), host("web02")
    poller, _, out = stream_of([web01, web02])
    web02.break_connection("connection reset by peer")
    poller.poll_once("web02")
    poller.poll_once("web02")
    poller.poll_once("web01")
    assert lines(out) == ["web02  -  unreachable: SSH connection lost: connection reset by peer"]
    web02.supervisor.crash("worker", exitstatus=9)
    web02.repair()
    poller.poll_once("web02")
    got = lines(out)
    assert got[0] == "web02  -  answers again"
    assert got[1].startswith("web02  worker  RUNNING -> EXITED  exit status 9, unexpected; pid ")
    assert len(got) == 2


def test_json_lines_parse_and_keep_the_model_fields() -> None:
    web01 = host("web01")
    poller, _, out = stream_of([web01], "json")
    web01.supervisor.crash("worker", exitstatus=1)
    web01.break_connection("timed out")
    poller.poll_once("web01")                # down: the crash is seen when it answers again
    web01.repair()
    poller.poll_once("web01")
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["kind"] for e in events] == ["host-down", "host-up", "state"]
    crash = events[2]
    assert {k: crash[k] for k in ("host", "process", "from_state", "to_state", "exitstatus", "expected")} == \
        {"host": "web01", "process": "worker", "from_state": "RUNNING", "to_state": "EXITED", "exitstatus": 1,
         "expected": False}
    assert crash["pid"] > 0 and isinstance(crash["time"], float) and crash["at"][:4].isdigit()
    assert events[0]["detail"] == "SSH connection lost: timed out" and events[0]["process"] is None


def test_processes_added_and_gone_with_an_update() -> None:
    web01 = host("web01")
    poller, _, out = stream_of([web01])
    web01.supervisor.write_config(ProgramSpec("cron"))
    web01.supervisor.delete_config("worker")
    client = web01.client()
    client.call("supervisor.reloadConfig")
    client.call("supervisor.stopProcess", "worker", False)
    wait_until(lambda: web01.supervisor.states()["worker"] == "STOPPED", 5)
    client.call("supervisor.removeProcessGroup", "worker")
    client.call("supervisor.addProcessGroup", "cron")
    poller.poll_once("web01")
    got = lines(out)
    assert got[0].startswith("web01  cron  added (") and got[-1].startswith("web01  worker  gone (was RUNNING)")


def test_names_narrow_the_processes_followed() -> None:
    web01 = host("web01")
    poller, _, out = stream_of([web01], names=("web",))
    web01.supervisor.crash("worker")
    poller.poll_once("web01")
    assert lines(out) == []


def test_pending_config_appears_changes_and_clears() -> None:
    web01, web02 = host("web01"), host("web02")
    _, stream, out = stream_of([web01, web02])
    stream.check_pending()
    assert lines(out) == []                    # nothing pending at the start: not an event
    web01.supervisor.edit_config("worker", command="/srv/worker/v2")
    web01.supervisor.write_config(ProgramSpec("cron"))
    stream.check_pending()
    assert lines(out) == ["web01  -  config pending: added: cron; changed: worker"]
    stream.check_pending()
    assert lines(out) == []                    # the same pending change: said once
    why = web02.supervisor.break_config()
    stream.check_pending()
    assert lines(out) == [f"web02  -  config pending: config does not parse, so supervisord would fail at its "
                          f"next start (it runs on the last config it read): {why}"]
    web01.supervisor.edit_config("worker", command=None)
    web01.supervisor.delete_config("cron")
    stream.check_pending()
    assert lines(out) == ["web01  -  config pending: cleared: nothing pending"]


def test_pending_json_names_the_groups_and_an_unreachable_host_keeps_its_last_reread() -> None:
    web01 = host("web01")
    _, stream, out = stream_of([web01], "json")
    web01.supervisor.write_config(ProgramSpec("cron"))
    stream.check_pending()
    (event,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (event["kind"], event["groups"], event["detail"]) == ("pending", ["cron"], "added: cron")
    out.seek(0)
    out.truncate()
    web01.break_connection()
    stream.check_pending()
    web01.repair()
    stream.check_pending()
    assert out.getvalue() == ""


def test_host_text_is_escaped_in_text_and_exact_in_json() -> None:
    from herd.cli.events import event_json_line

    evil = FleetEvent(0.0, "web\x1b[2J01", "state", "w\rorker", "RUNNING", "EXITED", None, 1, 5,
                      "spawn\x1b]0;pwned\x07error\nnext")
    line = event_text(evil)
    assert "\x1b" not in line and "\r" not in line and "\n" not in line and "\x07" not in line
    assert "web\\x1b[2J01  w\\rorker  RUNNING -> EXITED  exit status 1; pid 5; spawn\\x1b]0;pwned\\x07error\\nnext" \
        in line
    assert json.loads(event_json_line(evil))["detail"] == evil.detail
    assert "\n" not in event_json_line(evil)


def test_memory_stays_bounded_whatever_a_host_floods() -> None:
    web01 = host("web01", *[ProgramSpec(f"p{i}", autorestart=False) for i in range(20)])
    poller, stream, out = stream_of([web01])
    for round_ in range(30):
        for i in range(20):
            if round_ % 2:
                web01.client().call("supervisor.startProcess", f"p{i}", False)
            else:
                web01.supervisor.crash(f"p{i}", exitstatus=round_ % 4)
        poller.poll_once("web01")
        assert len(out.getvalue().splitlines()) == 20     # every change printed ...
        out.seek(0)
        out.truncate()
    tracker = stream._tracker                              # ... and nothing kept but the last snapshots
    assert len(tracker._last) == len(tracker._answered) == 1 and len(stream._exits) == 1


def test_the_stream_ends_with_exit_0_when_its_reader_goes_away(monkeypatch: pytest.MonkeyPatch) -> None:
    web01 = host("web01")
    read_fd, write_fd = os.pipe()
    writer = os.fdopen(write_fd, "w")
    monkeypatch.setattr(sys, "stdout", writer)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(run_events(fake_fleet([web01]), (), 0.05, "text", None)))
    thread.start()
    try:
        wait_until(lambda: web01.supervisor.calls.count("supervisor.getAllProcessInfo") >= 2, 10)
        os.close(read_fd)
        web01.supervisor.crash("worker")
        thread.join(10)
        assert codes == [0]
    finally:
        writer.close()


@pytest.mark.parametrize("args, message", [
    (["events", "--pending-every", "0.5"], "0.5 is not in the range x>=1.0"),
    (["events", "-o", "yaml"], "'yaml' is not one of 'text', 'json'"),
    (["events", "--interval", "0"], "0.0 is not in the range x>=0.1"),
])
def test_bad_options_are_one_line_usage_errors(args: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
