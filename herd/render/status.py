"""``herd status`` output: the table people read and the JSON scripts parse."""

from __future__ import annotations

import datetime
from typing import Any, Mapping

from herd.errors import HostInterrupted
from herd.operations.resources import HostResources, ProcessResources
from herd.operations.status import HostStatus, StatusReport, host_state
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
RESOURCE_HEADERS = ("RSS", "CPU%", "FDS", "THREADS")


def format_uptime(seconds: int | None) -> str:
    """As supervisorctl prints it: ``0:00:21``, ``2 days, 3:04:05``; ``-`` when not running."""
    return "-" if seconds is None else str(datetime.timedelta(seconds=seconds))


def status_table(report: StatusReport, color: bool, resources: Mapping[str, HostResources] | None = None) -> str:
    """The table; with ``resources`` (``--resources``), RSS CPU% FDS THREADS before DESCRIPTION (RSS
    marked ``+`` where the row sums a process group), and a line for each host without /proc."""
    return "\n".join(table_lines(report, color, resources) + [summary_line(report)])


def table_lines(report: StatusReport, color: bool, resources: Mapping[str, HostResources] | None = None, *,
                problems_first: bool = False, problems_only: bool = False) -> list[str]:
    """The table's lines without the summary.  ``problems_first`` (the live view, where a small terminal
    cuts the end): every row not RUNNING -- unreachable hosts, STOPPED, FATAL, missing names -- before the
    RUNNING ones, each part in host order; ``problems_only``: those rows alone."""
    rows: list[list[Cell | str]] = []
    for host in report.hosts:
        host_rows = _host_rows(host)
        if resources is not None:
            host_rows = [_with_resources(row, host, resources.get(host.host)) for row in host_rows]
        rows.extend(host_rows)
    if problems_first or problems_only:
        bad = [row for row in rows if is_problem_row(row)]
        rows = bad if problems_only else bad + [row for row in rows if not is_problem_row(row)]
    headers = HEADERS if resources is None else HEADERS[:-1] + RESOURCE_HEADERS + HEADERS[-1:]
    lines = format_table(headers, rows, color)
    lines.extend(f"{name}: {found.note}" for name, found in (resources or {}).items() if found.note)
    return lines


def problem_rows(report: StatusReport) -> tuple[int, int]:
    """(rows, rows not RUNNING) of the table of ``report``."""
    rows = [row for host in report.hosts for row in _host_rows(host)]
    return len(rows), sum(1 for row in rows if is_problem_row(row))


def is_problem_row(row: list[Cell | str]) -> bool:
    """A row whose STATE is anything but RUNNING (a host without processes, ``-``, is no problem)."""
    state = row[2]
    return (state.text if isinstance(state, Cell) else state) not in ("RUNNING", "-")


def _with_resources(row: list[Cell | str], host: HostStatus, found: HostResources | None) -> list[Cell | str]:
    """A process row with its resource cells (``-`` where there are none: not running, gone, not Linux)."""
    usage = found.processes.get(str(row[1])) if found is not None and host.error is None else None
    if usage is None:
        cells = ["-", "-", "-", "-"]
    else:
        mark = "+" if usage.process_group else ""      # the sums of its process group (killasgroup)
        cells = [format_bytes(usage.rss_bytes) + mark, _percent(usage), "-" if usage.fds is None else str(usage.fds),
                 str(usage.threads)]
    return row[:-1] + cells + row[-1:]


def _percent(usage: ProcessResources) -> str:
    return "-" if usage.cpu_percent is None else f"{usage.cpu_percent:.1f}"


def format_bytes(count: int) -> str:
    """RSS as top and ps people read it: ``812K``, ``35.2M``, ``1.4G`` (binary units)."""
    value = float(count)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{int(value)}{unit}" if unit in ("B", "K") else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _host_rows(host: HostStatus) -> list[list[Cell | str]]:
    if isinstance(host.error, HostInterrupted):      # Ctrl-C came first: not known to be down
        return [[host.host, "-", Cell("INTERRUPTED", "yellow"), "-", "-", "no answer yet"]]
    if host.error is not None:
        reason = host.error.reason
        return [[host.host, "-", Cell(host_state(host.error), "red", True), "-", "-", reason]]
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


def status_json(report: StatusReport, resources: Mapping[str, HostResources] | None = None) -> dict[str, Any]:
    """The JSON of ``herd status``; with ``resources``, each process gains rss_bytes, cpu_percent,
    cpu_seconds, fds, threads, children (null where not read) and each host ``resources_error``."""
    summary: dict[str, Any] = {
        "hosts": len(report.hosts),
        "hosts_unreachable": len(report.unreachable),
        "processes": len(report.processes),
        "states": dict(report.state_counts()),
    }
    if report.interrupted:
        summary["hosts_interrupted"] = len(report.unanswered)
    hosts = [_host_json(h) if resources is None else _host_json_with(h, resources.get(h.host)) for h in report.hosts]
    return {"hosts": hosts, "summary": summary, "exit_code": report.exit_code}


_NO_RESOURCES = {"rss_bytes": None, "cpu_percent": None, "cpu_seconds": None, "fds": None, "threads": None,
                 "children": None, "process_group": None}


def _host_json_with(host: HostStatus, found: HostResources | None) -> dict[str, Any]:
    data = _host_json(host)
    for entry in data["processes"]:
        usage = found.processes.get(entry["name"]) if found is not None else None
        entry.update(_NO_RESOURCES if usage is None else usage.as_json())
        entry["resources_error"] = found.unread.get(entry["name"]) if found is not None else None
    data["resources_error"] = found.note if found is not None else None
    return data


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
