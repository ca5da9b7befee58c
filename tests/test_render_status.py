"""Status rendering and exit codes (pure: hand-made reports)."""

import json

from herd.errors import ConnectError
from herd.operations.status import HostStatus, StatusReport
from herd.render.status import format_uptime, status_json, status_table
from herd.supervisor.models import ProcessInfo, ProcessState


def proc(group, name, state=ProcessState.RUNNING, pid=880, start=100, now=121, description="", spawnerr=""):
    return ProcessInfo(name=name, group=group, state=state, pid=pid, start=start, stop=0, now=now,
                       description=description, spawnerr=spawnerr)


def report(*hosts):
    return StatusReport(list(hosts), [])


def test_uptime_like_supervisorctl():
    assert format_uptime(21) == "0:00:21"
    assert format_uptime(2 * 86400 + 3723) == "2 days, 1:02:03"
    assert format_uptime(None) == "-"


def test_table_rows_and_summary():
    r = report(
        HostStatus("web01", [proc("tornado", "tornado-8080"), proc("worker", "worker", ProcessState.STOPPED, pid=0,
                                                                   description="Nov 27 10:00 AM")]),
        HostStatus("web02", error=ConnectError("web02", "connection refused by 10.0.0.12 port 22 (is sshd running?)")),
    )
    lines = status_table(r, color=False).splitlines()
    assert lines[0].split() == ["HOST", "PROCESS", "STATE", "PID", "UPTIME", "DESCRIPTION"]
    assert lines[1].split() == ["web01", "tornado:tornado-8080", "RUNNING", "880", "0:00:21"]
    assert lines[2].split()[:5] == ["web01", "worker", "STOPPED", "-", "-"]
    assert lines[2].endswith("Nov 27 10:00 AM")
    assert lines[3].split()[:3] == ["web02", "-", "UNREACHABLE"]
    assert lines[3].endswith("connection refused by 10.0.0.12 port 22 (is sshd running?)")
    assert lines[4] == "2 hosts, 2 processes: 1 RUNNING, 1 STOPPED; 1 host unreachable"
    # columns align: every STATE starts at the same offset
    assert len({line.index(word) for line, word in zip(lines[1:4], ["RUNNING", "STOPPED", "UNREACHABLE"])}) == 1


def test_colour_only_when_asked():
    r = report(HostStatus("web01", [proc("worker", "worker", ProcessState.FATAL, pid=0, spawnerr="Exited too quickly")]))
    assert "\x1b[" not in status_table(r, color=False)
    coloured = status_table(r, color=True)
    assert "\x1b[31m" in coloured and "FATAL" in coloured


def test_missing_names_rows_and_exit_code():
    r = StatusReport([HostStatus("web01", [proc("worker", "worker")], missing=["nosuch"])], ["worker", "nosuch"])
    text = status_table(r, color=False)
    assert text.splitlines()[2].split(None, 5) == ["web01", "nosuch", "ERROR", "-", "-", "no such process"]
    assert text.splitlines()[-1] == "1 host, 1 process: 1 RUNNING; 1 name not found"
    assert r.exit_code == 3


def test_exit_codes():
    ok = report(HostStatus("a", [proc("w", "w")]))
    stopped = report(HostStatus("a", [proc("w", "w", ProcessState.STOPPED)]))
    backoff = report(HostStatus("a", [proc("w", "w", ProcessState.BACKOFF)]))
    down = report(HostStatus("a", [proc("w", "w", ProcessState.STOPPED)]), HostStatus("b", error=ConnectError("b", "x")))
    assert (ok.exit_code, stopped.exit_code, backoff.exit_code, down.exit_code) == (0, 3, 3, 4)


def test_json_shape():
    r = report(HostStatus("web01", [proc("tornado", "tornado-8080")]),
               HostStatus("web02", error=ConnectError("web02", "connection refused")))
    data = json.loads(json.dumps(status_json(r)))
    assert data["hosts"][0]["host"] == "web01" and data["hosts"][0]["error"] is None
    p = data["hosts"][0]["processes"][0]
    assert (p["name"], p["group"], p["state"], p["pid"], p["uptime"]) == ("tornado:tornado-8080", "tornado", "RUNNING", 880, 21)
    assert data["hosts"][1] == {"host": "web02", "error": "connection refused", "processes": [], "missing": []}
    assert data["summary"] == {"hosts": 2, "hosts_unreachable": 1, "processes": 1, "states": {"RUNNING": 1}}
    assert data["exit_code"] == 4
