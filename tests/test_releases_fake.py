"""Every supervisord release herd meets, in process: the fake's release profiles under herd's real client.

The profiles (herd/testing/fake.py) play what each release lacks and how it
answers; tests/test_fake_contract.py holds them to the real releases, and
tests/test_releases_fleet.py runs every command on every real release
through sshd.  Here the logic above the wire is checked fast: what herd
sends each release, and what it says where a release lacks something.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from herd.errors import EXIT_FAILED, EXIT_OK, EXIT_UNSUPPORTED, Unsupported
from herd.inventory.model import Inventory
from herd.operations import config
from herd.operations.check import run_check
from herd.operations.control import ControlRequest, run_control
from herd.operations.logs import LogRequest
from herd.operations.logs.read import read_logs
from herd.render.actions import action_lines
from herd.supervisor.capabilities import SIGNAL, Capabilities, Version
from herd.supervisor.logtext import MAIN, STDERR
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet

# (release, Python major of its supervisord) as the test fleet runs them
RELEASES = [("3.0a12", 2), ("3.0", 2), ("3.1.4", 2), ("3.3.5", 2), ("4.0.4", 3), ("4.1.0", 3), ("4.2.5", 3),
            ("4.3.0", 3)]
OLD = {"3.0a12", "3.0", "3.1.4"}          # no signalProcess, multicall run up front (or first call only)


def make_host(release: str, python: int, name: str = "web01", **worker: Any) -> FakeHost:
    supervisor = FakeSupervisor([ProgramSpec("tornado", numprocs=4, numprocs_start=8080),
                                 ProgramSpec("worker", **worker)], version=release, python=python)
    return FakeHost(name, supervisor)


@pytest.fixture(params=RELEASES, ids=[r for r, _ in RELEASES])
def release(request: pytest.FixtureRequest) -> tuple[str, int]:
    return request.param  # type: ignore[no-any-return]


def results(report: Any) -> list[tuple[str, str, str | None]]:
    return [(h.host, o.name, o.result if o.ok else o.error) for h in report.hosts for o in h.outcomes]


# -- the release, learnt once ------------------------------------------------------------------------

def test_the_release_is_learnt_with_the_first_read_and_never_asked_again(release: tuple[str, int]) -> None:
    web01 = make_host(*release)
    client = web01.client()
    client.all_process_info()
    client.all_process_info()
    client.multicall([("supervisor.getProcessInfo", ("worker",)), ("supervisor.getState", ())])
    assert client.capabilities().version == release[0]
    assert web01.supervisor.calls.count("supervisor.getSupervisorVersion") == 1
    assert "system.listMethods" not in web01.supervisor.calls        # only a method-feature asks for it


def test_a_reopened_pipe_may_reach_another_supervisord_so_the_release_is_learnt_again() -> None:
    web01 = make_host("3.1.4", 2)
    client = web01.client()
    assert not client.capabilities().batches
    web01.supervisor.version = "4.2.5"          # upgraded and started again under the kept session
    client._pipe.connections += 1               # type: ignore[attr-defined]   # what RPCPipe counts
    assert client.capabilities().version == "4.2.5" and client.capabilities().batches


@pytest.mark.parametrize("text,older", [("3.0a12", "3.0"), ("3.0b2", "3.0"), ("3.1.4", "3.2.0"),
                                        ("3.2.0a1", "3.2.0"), ("4.0.4", "4.1.0"), ("4.2.5", "4.3.0")])
def test_release_order(text: str, older: str) -> None:
    first, second = Version.parse(text), Version.parse(older)
    assert first is not None and second is not None and first < second


def test_an_unreadable_version_counts_as_the_newest_release() -> None:
    capabilities = Capabilities("custom-build", None)
    assert capabilities.batches and capabilities.config_fields and capabilities.default_exitcodes == (0,)
    assert capabilities.has(SIGNAL)


# -- multicall: what each release is sent ------------------------------------------------------------

def test_control_of_every_process_works_and_never_sends_an_old_release_a_batch(release: tuple[str, int]) -> None:
    web01 = make_host(*release)
    fleet = fake_fleet([web01])
    before = {n: web01.supervisor.info(n)["pid"] for n in web01.supervisor.processes}
    report = run_control(fleet, ControlRequest("restart", ("tornado:*", "worker"), wait_timeout=10))
    assert report.exit_code == EXIT_OK
    assert [r for _, _, r in results(report)] == ["restarted"] * 5
    after = {n: web01.supervisor.info(n)["pid"] for n in web01.supervisor.processes}
    assert all(after[n] != before[n] for n in before)
    assert web01.supervisor.slow_multicalls == 0
    batches = web01.supervisor.calls.count("system.multicall")
    if release[0] in OLD:       # only the two-call read that learns the release
        assert batches == 1
    else:
        assert batches >= 3     # the read, the stops, the starts


def test_the_oldest_release_reads_only_the_first_element_of_an_array() -> None:
    """What the profile plays (3.0a12's unmarshaller), so the emulation above is a real test of herd."""
    web01 = make_host("3.0a12", 2)
    body = web01.supervisor.unmarshal(([{"methodName": "a", "params": ["x", 1]}, {"methodName": "b"}],))
    assert body == ([{"methodName": "a", "params": ["x"]}],)


# -- signal: added in 3.2.0 ------------------------------------------------------------------------

def test_signal_says_in_one_line_which_release_lacks_it(release: tuple[str, int]) -> None:
    web01 = make_host(*release)
    report = run_control(fake_fleet([web01]), ControlRequest("signal", ("worker",), signal="HUP"))
    if release[0] in OLD:
        [host] = report.hosts
        assert isinstance(host.error, Unsupported)
        assert str(host.error) == f"web01: supervisord {release[0]} cannot signal processes (added in 3.2.0)"
        assert action_lines(report, False) == [
            f"web01  supervisord {release[0]} cannot signal processes (added in 3.2.0)",
            "1 host: 1 host's supervisord too old"]
        assert report.exit_code == EXIT_UNSUPPORTED
        assert "supervisor.signalProcess" not in web01.supervisor.calls
    else:
        assert results(report) == [("web01", "worker", "signalled HUP")] and report.exit_code == EXIT_OK


def test_signal_dry_run_says_the_same_and_a_mixed_fleet_signals_the_others() -> None:
    old, new = make_host("3.1.4", 2, "web01"), make_host("4.2.5", 3, "web02")
    report = run_control(fake_fleet([old, new]), ControlRequest("signal", ("worker",), signal="USR1",
                                                                dry_run=True))
    assert [str(h.error) if h.error else h.outcomes[0].result for h in report.hosts] == [
        "web01: supervisord 3.1.4 cannot signal processes (added in 3.2.0)", "would signal USR1"]
    report = run_control(fake_fleet([old, new]), ControlRequest("signal", ("worker",), signal="USR1"))
    assert action_lines(report, False) == [
        "web01  supervisord 3.1.4 cannot signal processes (added in 3.2.0)",
        "web02  worker  signalled USR1",
        "2 hosts: 1 signalled USR1; 1 host's supervisord too old"]
    assert report.exit_code == EXIT_UNSUPPORTED


def test_a_failure_elsewhere_outranks_an_old_release_in_the_exit_code() -> None:
    old, new = make_host("3.1.4", 2, "web01"), make_host("4.2.5", 3, "web02")
    run_control(fake_fleet([new]), ControlRequest("stop", ("worker",)))
    report = run_control(fake_fleet([old, new]), ControlRequest("signal", ("worker",), signal="HUP"))
    assert report.exit_code == EXIT_FAILED
    assert action_lines(report, False)[1] == "web02  worker: nothing to signal: not running (STOPPED)"


# -- version -----------------------------------------------------------------------------------------

def test_version_on_every_release(release: tuple[str, int]) -> None:
    report = config.versions(fake_fleet([make_host(*release)]))
    assert results(report) == [("web01", "supervisord", f"{release[0]} (API 3.0)")]


# -- start and signal of processes that are not RUNNING ------------------------------------------------

def test_start_of_a_crash_looping_process_waits_and_fails_unless_it_comes_up(release: tuple[str, int]) -> None:
    # backoffs of 0.5, 1 and 1.5 s: a loaded machine must not see FATAL before herd's first look (0.05 s did)
    web01 = make_host(*release, startretries=3, backoff_unit=0.5)
    fleet = fake_fleet([web01])
    web01.supervisor.break_program("worker")
    web01.supervisor.crash("worker")                        # autorestart: STARTING, then BACKOFF
    assert web01.supervisor.info("worker")["statename"] == "BACKOFF"
    report = run_control(fleet, ControlRequest("start", ("worker",), wait=False))
    assert report.exit_code == EXIT_FAILED
    assert results(report) == [("web01", "worker", "BACKOFF: it exits at start and supervisord keeps retrying "
                                                   "(Exited too quickly (process log may have details))")]
    report = run_control(fleet, ControlRequest("start", ("worker",), wait_timeout=10))
    assert report.exit_code == EXIT_FAILED
    assert results(report) == [("web01", "worker", "FATAL: Exited too quickly (process log may have details) "
                                                   "(see herd tail -H web01 worker stderr)")]


def test_start_of_a_process_in_backoff_that_recovers_is_started() -> None:
    # the retry that comes up is 0.5 s away: herd's start must find it still BACKOFF (at 0.05 s a loaded
    # machine saw it RUNNING already, "already started")
    web01 = make_host("4.2.5", 3, startretries=30, backoff_unit=0.5)
    fleet = fake_fleet([web01])
    web01.supervisor.break_program("worker")
    web01.supervisor.crash("worker")
    web01.supervisor.break_program("worker", fails=False)   # the next retry comes up
    report = run_control(fleet, ControlRequest("start", ("worker", "tornado"), wait_timeout=10))
    assert report.exit_code == EXIT_OK
    assert sorted(r for _, _, r in results(report)) == ["already started"] * 4 + ["started"]


def test_signal_of_a_backoff_process_and_start_of_an_unknown_one_say_what_they_are() -> None:
    web01 = make_host("4.2.5", 3, startretries=30, backoff_unit=1.0)
    fleet = fake_fleet([web01])
    web01.supervisor.break_program("worker")
    web01.supervisor.crash("worker")
    report = run_control(fleet, ControlRequest("signal", ("worker",), signal="HUP"))
    assert results(report) == [("web01", "worker", "nothing to signal: BACKOFF: it exits at start and supervisord "
                                                   "keeps retrying (Exited too quickly (process log may have "
                                                   "details))")]
    web01.supervisor.lose_track("tornado:tornado-8080")
    report = run_control(fleet, ControlRequest("start", ("tornado:tornado-8080",)))
    assert report.exit_code == EXIT_FAILED
    assert results(report) == [("web01", "tornado:tornado-8080",
                                "UNKNOWN: supervisord lost track of this process and will not start it "
                                "(herd reload restarts supervisord and all its processes)")]


# -- logs --------------------------------------------------------------------------------------------

BYTES = b"ok \xe3\x81\x82 bad \xff\xfe ctl \x1b[31m nul \x00 cr \r end\n" * 3


def _raw(lines: list[str]) -> list[bytes]:
    """Lines as the bytes they were (bad bytes are surrogate escapes): comparable, and printable by xdist."""
    return [line.encode("utf-8", "surrogateescape") for line in lines]


def test_tail_reads_the_same_text_from_python_2_and_python_3_supervisords(release: tuple[str, int]) -> None:
    web01 = make_host(*release)
    web01.supervisor.write_log("worker", BYTES)
    fleet = fake_fleet([web01])
    whole = read_logs(fleet, LogRequest(("worker",), lines=2))
    [log] = whole.hosts[0].logs
    assert log.error is None and _raw(log.lines) == [BYTES.split(b"\n")[0]] * 2
    # windows cut inside a character (e3 81 82) lose the rest of it, on either interpreter
    at = len(BYTES.split(b"\n")[0]) + 1 - BYTES.index(b"\xe3")     # a window of `at` bytes starts at the e3
    for count, shown in ((at + 1, b" \xe3"), (at, b"\xe3\x81\x82 "), (at - 1, b" bad"), (at - 2, b" bad")):
        cut = read_logs(fleet, LogRequest(("worker",), lines=None, nbytes=count))
        [text] = _raw(cut.hosts[0].logs[0].lines)
        assert text.startswith(shown), (count, text)


def test_a_window_of_bytes_never_shows_more_than_asked_when_the_log_grows_while_herd_reads_it(
        release: tuple[str, int]) -> None:
    line = BYTES.split(b"\n")[0] + b"\n"
    web01 = make_host(*release)
    web01.supervisor.write_log("worker", line * 2)
    dispatch, sized = web01.supervisor.dispatch, []

    def grow(method: str, params: Sequence[Any]) -> Any:     # a line is written once herd knows the size
        answer = dispatch(method, params)
        if method == "supervisor.tailProcessStdoutLog" and list(params[1:]) == [0, 0] and not sized:
            sized.append(answer[1])
            web01.supervisor.write_log("worker", line)
        return answer

    web01.supervisor.dispatch = grow        # type: ignore[method-assign]
    count = len(line) - BYTES.index(b"\xe3") - 1        # starts inside the character: repaired on Python 3
    cut = read_logs(fake_fleet([web01]), LogRequest(("worker",), lines=None, nbytes=count))
    assert sized or release[1] == 2         # Python 2 answers the window at once: nothing to repair
    assert _raw(cut.hosts[0].logs[0].lines) == [line[-count:].rstrip(b"\n")[2:]]


def test_maintail_on_every_release(release: tuple[str, int]) -> None:
    web01 = make_host(*release)
    web01.supervisor.main_log.extend(b"".join(b"2026-12-04 INFO line %d\n" % i for i in range(3000)))
    report = read_logs(fake_fleet([web01]), LogRequest(channel=MAIN, lines=2))
    [log] = report.hosts[0].logs
    assert log.lines == ["2026-12-04 INFO line 2998", "2026-12-04 INFO line 2999"]
    assert web01.supervisor.slow_multicalls == 0


def test_stderr_not_logged_before_4_0_says_the_release_cannot_tell_why() -> None:
    web01 = FakeHost("web01", FakeSupervisor([ProgramSpec("worker", stderr_logfile=None)], version="3.1.4",
                                             python=2))
    report = read_logs(fake_fleet([web01]), LogRequest(("worker",), channel=STDERR, channel_given=True))
    assert report.hosts[0].logs[0].error == (
        "stderr is not logged (stderr_logfile=NONE, or redirect_stderr=true: supervisord 3.1.4 does not say "
        "which; it tells from 4.0.0): try herd tail worker stdout")


# -- check: expected exit codes by release --------------------------------------------------------------

@pytest.mark.parametrize("version,python,exitcodes,kind,reason", [
    ("3.1.4", 2, None, "exited_expected",
     "EXITED: exit status 2, expected (exitcodes 0,2: supervisord 3.1.4's default; it does not report a "
     "program's own before 4.0)"),
    ("4.2.5", 3, None, "exited", "EXITED: exit status 2, unexpected (exitcodes 0)"),
    ("4.2.5", 3, (0, 2), "exited_expected", "EXITED: exit status 2, expected (exitcodes 0,2)"),
])
def test_check_grades_an_exit_by_the_exit_codes_the_release_expects(version: str, python: int,
                                                                     exitcodes: Any, kind: str,
                                                                     reason: str) -> None:
    web01 = FakeHost("web01", FakeSupervisor([ProgramSpec("job", autorestart=False, exitcodes=exitcodes)],
                                             version=version, python=python))
    web01.supervisor.crash("job", exitstatus=2)
    report = run_check(fake_fleet([web01]), Inventory("inv.yaml", (web01.host,)), deadline=5)
    [problem] = report.problems
    assert problem.kind == kind and problem.reason.startswith(reason + ", ")     # then supervisord's description
    assert problem.severity.name == ("WARNING" if kind == "exited_expected" else "CRITICAL")
