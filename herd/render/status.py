"""``herd status`` output: the table people read and the JSON scripts parse."""

from __future__ import annotations

import datetime
from typing import Any

from herd.errors import HostInterrupted
from herd.operations.status import HostStatus, StatusReport
from herd.render.table import Cell, format_table
from herd.supervisor.models import ProcessInfo

STATE_COLOURS = {
    "RUNNING": "green",
    "STARTING": "yellow",
    "BACKOFF": "yellow",
    "STOPPING": "yellow",
    "STOPPED": "yellow",
    "EXITED": "red",
    "FATAL": "red",
    "UNKNOWN": "red",
}
HEADERS = ("HOST", "PROCESS", "STATE", "PID", "UPTIME", "DESCRIPTION")


def format_uptime(seconds: int | None) -> str:
    """As supervisorctl prints it: ``0:00:21``, ``2 days, 3:04:05``; ``-`` when not running."""
    return "-" if seconds is None else str(datetime.timedelta(seconds=seconds))


def status_table(report: StatusReport, color: bool) -> str:
    rows: list[list[Cell | str]] = []
    for host in report.hosts:
        rows.extend(_host_rows(host))
    lines = format_table(HEADERS, rows, color)
    lines.append(summary_line(report))
    return "\n".join(lines)


def _host_rows(host: HostStatus) -> list[list[Cell | str]]:
    if isinstance(host.error, HostInterrupted):      # Ctrl-C came first: not known to be down
        return [[host.host, "-", Cell("INTERRUPTED", "yellow"), "-", "-", "no answer yet"]]
    if host.error is not None:
        reason = host.error.reason
        return [[host.host, "-", Cell("UNREACHABLE", "red", True), "-", "-", reason]]
    rows: list[list[Cell | str]] = [_process_row(host.host, p) for p in host.processes]
    rows.extend([host.host, name, Cell("ERROR", "red", True), "-", "-", "no such process"] for name in host.missing)
    if not rows:
        rows.append([host.host, "-", "-", "-", "-", "no processes configured"])
    return rows


def _process_row(host: str, p: ProcessInfo) -> list[Cell | str]:
    state = Cell(p.statename, STATE_COLOURS.get(p.statename), p.statename in ("FATAL", "EXITED", "UNKNOWN"))
    return [host, p.fullname, state, str(p.pid) if p.pid else "-", format_uptime(p.uptime), _description(p)]


def _description(p: ProcessInfo) -> str:
    if p.spawnerr:
        return p.spawnerr
    if p.statename == "RUNNING":
        return ""  # supervisord's "pid N, uptime T" repeats the columns
    return p.description


def summary_line(report: StatusReport) -> str:
    counts = report.state_counts()
    hosts = len(report.hosts)
    processes = sum(counts.values())
    states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: (kv[0] != "RUNNING", kv[0])))
    line = f"{hosts} host{'s' if hosts != 1 else ''}, {processes} process{'es' if processes != 1 else ''}"
    if states:
        line += f": {states}"
    missing = sum(len(h.missing) for h in report.hosts)
    if missing:
        line += f"; {missing} name{'s' if missing != 1 else ''} not found"
    down = len(report.unreachable)
    if down:
        line += f"; {down} host{'s' if down != 1 else ''} unreachable"
    unanswered = len(report.unanswered)
    if unanswered:
        line += f"; {unanswered} host{'s' if unanswered != 1 else ''} interrupted before answering"
    return line


def status_json(report: StatusReport) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "hosts": len(report.hosts),
        "hosts_unreachable": len(report.unreachable),
        "processes": len(report.processes),
        "states": dict(report.state_counts()),
    }
    if report.interrupted:
        summary["hosts_interrupted"] = len(report.unanswered)
    return {"hosts": [_host_json(h) for h in report.hosts], "summary": summary, "exit_code": report.exit_code}


def _host_json(host: HostStatus) -> dict[str, Any]:
    return {
        "host": host.host,
        "error": None if host.error is None else host.error.reason,
        "processes": [_process_json(p) for p in host.processes],
        "missing": list(host.missing),
    }


def _process_json(p: ProcessInfo) -> dict[str, Any]:
    return {
        "name": p.fullname,
        "group": p.group,
        "process": p.name,
        "state": p.statename,
        "pid": p.pid or None,
        "uptime": p.uptime,
        "description": p.description,
        "spawnerr": p.spawnerr,
        "exitstatus": p.exitstatus,
        "start": p.start or None,
        "stop": p.stop or None,
    }
