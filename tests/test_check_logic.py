"""``herd check`` grading and formats, as pure logic on fake status reports (no fleet).

The fleet tests (test_check_fleet.py) run the real command; these pin the
rules that are tedious to stage on real hosts: every state, ``ok``
severities, overlapping expectations, first-line truncation, label escaping.
"""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from herd.errors import ConnectError
from herd.inventory.model import DEFAULT_SEVERITY, CheckSettings, Expectation, Host, Inventory
from herd.operations.check import CheckReport, Problem, Severity, _state_reason, evaluate
from herd.operations.status import HostStatus, StatusReport
from herd.render.check import FIRST_LINE_LIMIT, check_json, nagios, perfdata, prometheus
from herd.supervisor.models import ProcessInfo, ProcessState

NOW = 1_700_000_000


def proc(fullname: str, state: str = "RUNNING", uptime: int = 3600, **extra) -> ProcessInfo:
    group, _, name = fullname.partition(":")
    return ProcessInfo(name=name or group, group=group, state=ProcessState[state], pid=100,
                       start=NOW - uptime, stop=0, now=NOW, **extra)


def web_host(name: str = "web01", **states: str) -> HostStatus:
    """tornado:tornado-8080..8081 and worker, all RUNNING unless ``states`` says otherwise."""
    names = ["tornado:tornado-8080", "tornado:tornado-8081", "worker"]
    return HostStatus(name, processes=[proc(n, states.get(n.split(":")[-1].replace("-", "_"), "RUNNING"))
                                       for n in names])


def inventory(*hosts: str, expect: dict[str, Expectation] | None = None, **severity: str) -> Inventory:
    return Inventory(path="inv.yaml", hosts=tuple(Host(h) for h in hosts),
                     expect=expect or {}, check=CheckSettings({**DEFAULT_SEVERITY, **severity}))


def grade(hosts: list[HostStatus], **kwargs) -> list[Problem]:
    inv = inventory(*[h.host for h in hosts], **kwargs)
    return evaluate(StatusReport(hosts, []), inv)


def test_all_running_is_ok() -> None:
    report = CheckReport(StatusReport([web_host("web01"), web_host("web02")], []), [])
    report.problems = evaluate(report.status, inventory("web01", "web02"))
    assert report.problems == [] and report.severity is Severity.OK and report.exit_code == 0
    assert nagios(report).splitlines()[0].startswith("HERD OK - 2 hosts, 6 processes RUNNING | hosts=2;;;0 ")


@pytest.mark.parametrize("state,expected", [
    ("FATAL", Severity.CRITICAL), ("EXITED", Severity.CRITICAL), ("STOPPED", Severity.CRITICAL),
    ("UNKNOWN", Severity.CRITICAL), ("BACKOFF", Severity.WARNING), ("STARTING", Severity.WARNING),
    ("STOPPING", Severity.WARNING),
])
def test_each_state_has_its_default_severity(state: str, expected: Severity) -> None:
    problems = grade([web_host(worker=state)])
    assert [(p.process, p.state, p.kind, p.severity) for p in problems] == [
        ("worker", state, state.lower(), expected)]


def test_reasons_come_from_supervisord() -> None:
    host = HostStatus("web01", processes=[
        proc("a", "FATAL", spawnerr="Exited too quickly (process log may have details)"),
        proc("b", "EXITED", exitstatus=3, description="Nov 27 10:00 AM"),
        proc("c", "STOPPED", description="Not started"),
        proc("d", "BACKOFF")])
    assert [p.reason for p in grade([host])] == [
        "FATAL: Exited too quickly (process log may have details)",
        "EXITED: exit status 3, Nov 27 10:00 AM", "STOPPED: Not started", "BACKOFF"]


def test_unreachable_host_is_one_problem_with_the_reason() -> None:
    down = HostStatus("web02", error=ConnectError("web02", "connection refused by 10.0.0.2 port 22"))
    problems = grade([web_host("web01"), down])
    assert problems == [Problem("web02", None, "UNREACHABLE", "unreachable", Severity.CRITICAL,
                                "connection refused by 10.0.0.2 port 22")]
    assert problems[0].short == "web02 unreachable"


def test_missing_and_present_expected_programs() -> None:
    expect = {"web": Expectation("web", ("web01", "web02"),
                                 running=("tornado", "tornado:*", "tornado-8081", "worker", "nosuch", "cron:*")),
              "web01": Expectation("web01", ("web01",), running=("nosuch",))}
    problems = grade([web_host("web01"), web_host("web02")], expect=expect)
    assert [(p.host, p.process, p.state, p.severity) for p in problems] == [
        ("web01", "nosuch", "MISSING", Severity.CRITICAL), ("web01", "cron:*", "MISSING", Severity.CRITICAL),
        ("web02", "nosuch", "MISSING", Severity.CRITICAL), ("web02", "cron:*", "MISSING", Severity.CRITICAL)]
    assert problems[0].short == "web01 nosuch missing"
    assert problems[0].reason == "no such program on the host (required by expect.web)"


def test_ok_silences_a_state_but_not_for_a_required_program() -> None:
    expect = {"web": Expectation("web", ("web01",), running=("worker",))}
    problems = grade([web_host(tornado_8080="EXITED", worker="EXITED")], expect=expect, exited="ok")
    assert [(p.process, p.severity, p.reason) for p in problems] == [
        ("worker", Severity.WARNING, "EXITED: exit status 0 (required by expect.web)")]
    # a required program keeps a higher severity when the table says so
    problems = grade([web_host(worker="FATAL")], expect=expect)
    assert [(p.process, p.severity) for p in problems] == [("worker", Severity.CRITICAL)]


def test_severity_table_changes_levels() -> None:
    down = HostStatus("web02", error=ConnectError("web02", "refused"))
    problems = grade([web_host(worker="STOPPED"), down], stopped="warning", unreachable="warning")
    assert [p.severity for p in problems] == [Severity.WARNING, Severity.WARNING]
    expect = {"web": Expectation("web", ("web01",), running=("nosuch",))}
    assert grade([web_host()], expect=expect, missing="ok") == []


def test_flapping_uses_min_uptime_of_the_entries_covering_the_process() -> None:
    host = HostStatus("web01", processes=[proc("tornado:tornado-8080", uptime=30),
                                          proc("worker", uptime=30), proc("cron", uptime=300),
                                          proc("idle", "STOPPED", uptime=0)])
    only_tornado = {"web": Expectation("web", ("web01",), running=("tornado",), min_uptime=60)}
    problems = grade([host], expect=only_tornado, stopped="ok")
    assert [(p.process, p.kind, p.state, p.severity, p.reason) for p in problems] == [
        ("tornado:tornado-8080", "flapping", "RUNNING", Severity.WARNING,
         "RUNNING for 30 s, less than min_uptime 60 s (expect.web)")]
    assert problems[0].short == "web01 tornado:tornado-8080 flapping"
    # an entry without `running` covers every process; the largest limit wins
    everything = {"web": Expectation("web", ("web01",), min_uptime=31),
                  "web01": Expectation("web01", ("web01",), min_uptime=600)}
    problems = grade([host], expect=everything, stopped="ok")
    assert [(p.process, p.reason) for p in problems] == [
        ("tornado:tornado-8080", "RUNNING for 30 s, less than min_uptime 600 s (expect.web01)"),
        ("worker", "RUNNING for 30 s, less than min_uptime 600 s (expect.web01)"),
        ("cron", "RUNNING for 300 s, less than min_uptime 600 s (expect.web01)")]
    # exactly min_uptime old is not flapping; 0 means no limit
    assert grade([host], expect={"w": Expectation("w", ("web01",), min_uptime=30)}, stopped="ok") == []
    assert grade([host], expect={"w": Expectation("w", ("web01",), min_uptime=0)}, stopped="ok") == []


def test_problems_are_ordered_most_severe_first() -> None:
    hosts = [web_host("web01", worker="BACKOFF"), web_host("web02", worker="FATAL")]
    report = CheckReport(StatusReport(hosts, []), grade(hosts))
    assert [p.short for p in report.ordered_problems()] == ["web02 worker FATAL", "web01 worker BACKOFF"]
    assert report.severity is Severity.CRITICAL and report.exit_code == 2


# -- formats ----------------------------------------------------------------

PERF = re.compile(r"^'?([^'=]+)'?=(-?[0-9.]+)(s|ms|us|%|B|KB|MB|TB|c)?"
                  r"(?:;(-?[0-9.]*))?(?:;(-?[0-9.]*))?(?:;(-?[0-9.]*))?(?:;(-?[0-9.]*))?$")


def parse_perfdata(text: str) -> dict[str, tuple[float, str, list[str]]]:
    """The plugin perfdata syntax, strictly: every item must match."""
    result = {}
    for item in text.split(" "):
        match = PERF.match(item)
        assert match, f"bad perfdata item {item!r}"
        result[match[1]] = (float(match[2]), match[3] or "", [match[i] or "" for i in range(4, 8)])
    return result


def test_first_line_stays_short_with_many_problems() -> None:
    hosts = [web_host(f"web{i:02d}", worker="STOPPED", tornado_8081="FATAL") for i in range(1, 13)]
    report = CheckReport(StatusReport(hosts, []), grade(hosts), duration=1.25)
    first, *details = nagios(report, timeout=8).splitlines()
    text, _, perf = first.partition(" | ")
    assert len(text) <= FIRST_LINE_LIMIT
    assert text.startswith("HERD CRITICAL - 24 problems: web01 tornado:tornado-8081 FATAL")
    more = int(re.search(r"\(\+(\d+) more\)$", text)[1])
    assert text.count("; ") + 1 + more == 24
    assert len(details) == 24
    assert details[0] == "CRITICAL: web01 tornado:tornado-8081 FATAL"    # the state said once
    data = parse_perfdata(perf)
    assert data["hosts"] == (12.0, "", ["", "", "0", ""])
    assert data["processes_running"] == (12.0, "", ["", "", "0", "36"])
    assert data["processes_not_running"][0] == 24.0
    assert data["check_duration"] == (1.25, "s", ["", "", "0", "8"])


def test_a_single_long_problem_is_shown_whole() -> None:
    name = "x" * 90
    hosts = [HostStatus("web01", processes=[proc(name, "FATAL")])]
    report = CheckReport(StatusReport(hosts, []), grade(hosts))
    assert nagios(report).splitlines()[0].startswith(f"HERD CRITICAL - 1 problem: web01 {name} FATAL | ")


def test_unknown_report_in_every_format() -> None:
    report = CheckReport.unknown("inv.yaml:3:5: hosts.web01.prot: unknown key", duration=0.5)
    assert report.exit_code == 3
    assert nagios(report) == "HERD UNKNOWN - inv.yaml:3:5: hosts.web01.prot: unknown key\n"
    data = check_json(report)
    assert (data["status"], data["exit_code"], data["problems"], data["counts"], data["hosts"]) == (
        "UNKNOWN", 3, [], None, [])
    assert data["error"] == "inv.yaml:3:5: hosts.web01.prot: unknown key"
    families = {f.name: f for f in text_string_to_metric_families(prometheus(report))}
    assert set(families) == {"herd_check_status", "herd_check_duration_seconds",
                             "herd_check_last_run_timestamp_seconds"}
    assert families["herd_check_status"].samples[0].value == 3


def test_prometheus_label_values_are_escaped() -> None:
    odd = 'we"b\\01\nx'
    hosts = [HostStatus(odd, processes=[proc("worker")])]
    report = CheckReport(StatusReport(hosts, []), [])
    text = prometheus(report)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["herd_host_up"].samples[0].labels == {"host": odd}
    assert families["herd_process_up"].samples[0].labels == {"host": odd, "process": "worker"}
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_pinned_problem_fields_in_json() -> None:
    hosts = [web_host(worker="STOPPED")]
    report = CheckReport(StatusReport(hosts, []), grade(hosts), duration=0.25)
    data = check_json(report)
    assert data["problems"] == [{"host": "web01", "process": "worker", "state": "STOPPED",
                                 "severity": "CRITICAL", "kind": "stopped", "reason": "STOPPED"}]
    assert data["counts"] == {"hosts": 1, "hosts_unreachable": 0, "processes": 3, "processes_running": 2,
                              "processes_not_running": 1, "problems": 1, "warning": 0, "critical": 1}
    assert data["summary"] == "1 problem: web01 worker STOPPED"
    assert perfdata(report).endswith("check_duration=0.250s;;;0")


def test_first_line_joins_what_fits_and_counts_the_rest() -> None:
    hosts = [HostStatus(name, processes=[proc("worker", "STOPPED")]) for name in "abcde"]
    report = CheckReport(StatusReport(hosts, []), grade(hosts))
    text = nagios(report).splitlines()[0].partition(" | ")[0]
    assert text == "HERD CRITICAL - 5 problems: a worker STOPPED; b worker STOPPED (+3 more)"
    two = CheckReport(StatusReport(hosts[:2], []), grade(hosts[:2]))
    assert nagios(two).startswith("HERD CRITICAL - 2 problems: a worker STOPPED; b worker STOPPED | ")


def test_a_problem_line_names_the_state_once_and_a_stop_time_as_since() -> None:
    """`STOPPED: STOPPED: Dec 04 01:34 AM` (the state twice, supervisord's stop time as a reason) was the line."""
    from herd.render.check import problem_line

    def line(state: str, description: str, kind: str = "") -> str:
        info = ProcessInfo.from_rpc({"name": "tornado-8081", "group": "tornado", "statename": state,
                                     "state": ProcessState[state].value, "description": description, "pid": 0,
                                     "spawnerr": "", "exitstatus": 0, "start": 0, "stop": 0, "now": 0,
                                     "logfile": "", "stdout_logfile": "", "stderr_logfile": ""})
        reason = _state_reason(info)
        return problem_line(Problem("web02", info.fullname, state, kind or state.lower(), Severity.CRITICAL, reason))

    assert line("STOPPED", "Dec 04 01:34 AM") == "CRITICAL: web02 tornado:tornado-8081 STOPPED since Dec 04 01:34 AM"
    assert line("STOPPED", "Not started") == "CRITICAL: web02 tornado:tornado-8081 STOPPED: Not started"
    assert line("FATAL", "") == "CRITICAL: web02 tornado:tornado-8081 FATAL"
    assert line("FATAL", "Exited too quickly") == "CRITICAL: web02 tornado:tornado-8081 FATAL: Exited too quickly"
    assert line("EXITED", "Dec 04 01:34 AM") == \
        "CRITICAL: web02 tornado:tornado-8081 EXITED: exit status 0, Dec 04 01:34 AM"
