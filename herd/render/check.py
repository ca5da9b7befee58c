"""``herd check`` output: a Nagios/Icinga plugin's text, JSON, and a Prometheus textfile.

Pure functions of a :class:`~herd.operations.check.CheckReport`; the CLI
decides where the text goes.  docs/checks.md documents each format.

Problems quote what hosts sent (process names, error reasons): the Nagios
text shows them through herd.text.field, so the first line stays one line
and no control character reaches the monitoring system; Prometheus label
values are escaped as the text format wants (backslash, quote, newline),
other control characters shown as herd.text does (a literal ``\x1b``).
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

from herd import text as safe
from herd.operations.check import CheckReport, Problem
from herd.render.status import status_json

FIRST_LINE_LIMIT = 80   # the plugin guidelines' "about 80 characters", perfdata excluded


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


# --------------------------------------------------------------------------
# Nagios / Icinga
# --------------------------------------------------------------------------

def summary(report: CheckReport) -> str:
    """The status text of the first line, without ``HERD STATE -`` and perfdata."""
    if report.error is not None:
        return safe.field(report.error)
    counts = report.counts()
    if not report.problems:
        running, total = counts["processes_running"], counts["processes"]
        procs = _plural(total, "process", "processes")
        if running != total:
            procs = f"{running}/{total} processes"
        return f"{_plural(counts['hosts'], 'host')}, {procs} RUNNING"
    prefix = len(f"HERD {report.severity.name} - ")
    head = f"{_plural(len(report.problems), 'problem')}: "
    return _fit(FIRST_LINE_LIMIT - prefix, head, [safe.field(p.short) for p in report.ordered_problems()])


def _fit(limit: int, head: str, items: list[str]) -> str:
    """``head`` + items joined by '; ', within ``limit`` characters thanks to '(+N more)'.

    The first item is always shown, even when it alone is longer.
    """
    text = head + items[0]
    for index, item in enumerate(items[1:], start=1):
        rest = len(items) - index - 1
        more = f" (+{rest} more)" if rest else ""
        if len(text) + 2 + len(item) + len(more) > limit:
            return f"{text} (+{len(items) - index} more)"
        text += "; " + item
    return text


def perfdata(report: CheckReport, timeout: float | None = None) -> str:
    """Plugin perfdata: ``'label'=value[UOM];warn;crit;min;max``, space separated."""
    c = report.counts()
    hosts, procs = c["hosts"], c["processes"]
    duration_max = f";{timeout:g}" if timeout else ""
    return " ".join([
        f"hosts={hosts};;;0",
        f"hosts_unreachable={c['hosts_unreachable']};;;0;{hosts}",
        f"processes_running={c['processes_running']};;;0;{procs}",
        f"processes_not_running={c['processes_not_running']};;;0;{procs}",
        f"check_duration={report.duration:.3f}s;;;0{duration_max}",
    ])


def problem_line(problem: Problem) -> str:
    """``CRITICAL: web02 tornado:tornado-8081 STOPPED since Dec 04 01:34 AM``: the state said once.

    A process problem's reason starts with its state (the JSON's ``reason``
    keeps it whole), which the short form already names.
    """
    head = f"{problem.severity.name}: {safe.field(problem.short)}"
    reason = problem.reason
    if problem.kind not in ("unreachable", "missing", "flapping") and problem.state \
            and reason.startswith(problem.state) and reason[len(problem.state):][:1] in ("", ":", " "):
        return head + safe.field(reason[len(problem.state):])
    return f"{head}: {safe.field(reason)}"


def nagios(report: CheckReport, timeout: float | None = None) -> str:
    """First line ``HERD STATE - summary | perfdata``, then one line per problem."""
    state = report.severity.name
    if report.error is not None:
        return f"HERD {state} - {safe.field(report.error)}\n"
    lines = [f"HERD {state} - {summary(report)} | {perfdata(report, timeout)}"]
    lines += [problem_line(p) for p in report.ordered_problems()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------

def check_json(report: CheckReport) -> dict[str, Any]:
    """One object: status, problems, counts, plus every host's processes as in ``herd status -o json``."""
    return {
        "status": report.severity.name,
        "exit_code": report.exit_code,
        "summary": summary(report),
        "error": report.error,
        "problems": [p.as_dict() for p in report.ordered_problems()],
        "counts": report.counts() if report.error is None else None,
        "duration_seconds": round(report.duration, 3),
        "timestamp": round(report.finished, 3),
        "hosts": status_json(report.status, report.resources)["hosts"] if report.status is not None else [],
    }


def json_text(report: CheckReport) -> str:
    return json.dumps(check_json(report), indent=2) + "\n"


# --------------------------------------------------------------------------
# Prometheus textfile (node_exporter's textfile collector)
# --------------------------------------------------------------------------

Sample = tuple[dict[str, str], float]


def prometheus(report: CheckReport) -> str:
    """The text exposition format: HELP and TYPE per family, no timestamps, final newline."""
    families: list[tuple[str, str, Iterable[Sample]]] = [
        ("herd_check_status",
         "Result of the last herd check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (could not check).",
         [({}, report.exit_code)]),
        ("herd_check_duration_seconds", "How long the last herd check took.",
         [({}, round(report.duration, 3))]),
        ("herd_check_last_run_timestamp_seconds", "When the last herd check finished, as a Unix time.",
         [({}, round(report.finished, 3))]),
    ]
    if report.status is not None:
        counts = report.counts()
        hosts = report.status.hosts
        families += [
            ("herd_check_problems", "Problems found by the last herd check, by severity.",
             [({"severity": "warning"}, counts["warning"]), ({"severity": "critical"}, counts["critical"])]),
            ("herd_host_up", "1 when herd could read the host's supervisord, else 0.",
             [({"host": h.host}, 0 if h.error is not None else 1) for h in hosts]),
            ("herd_process_up", "1 when the process is RUNNING, else 0.",
             [({"host": h.host, "process": p.fullname}, 1 if p.statename == "RUNNING" else 0)
              for h in hosts for p in h.processes]),
            ("herd_process_uptime_seconds", "Seconds since a RUNNING process started.",
             [({"host": h.host, "process": p.fullname}, p.uptime)
              for h in hosts for p in h.processes if p.uptime is not None]),
        ]
    if report.status is not None and report.resources is not None:
        families += _resource_families(report)
    lines: list[str] = []
    for name, help_text, samples in families:
        lines.append(f"# HELP {name} {_escape_help(help_text)}")
        lines.append(f"# TYPE {name} {'counter' if name.endswith('_total') else 'gauge'}")
        lines.extend(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)
    return "\n".join(lines) + "\n"


def _resource_families(report: CheckReport) -> list[tuple[str, str, Iterable[Sample]]]:
    """``--resources``: one sample per RUNNING process whose /proc herd read, labels host, group, process."""
    assert report.status is not None and report.resources is not None
    read = [({"host": h.host, "group": p.group, "process": p.fullname}, usage)
            for h in report.status.hosts if h.host in report.resources
            for p in h.processes if (usage := report.resources[h.host].processes.get(p.fullname)) is not None]
    return [
        ("herd_process_resident_memory_bytes", "Resident memory (RSS) of the process, in bytes.",
         [(labels, u.rss_bytes) for labels, u in read]),
        ("herd_process_cpu_seconds_total", "User and system CPU time of the process since it started, in seconds.",
         [(labels, u.cpu_seconds) for labels, u in read]),
        ("herd_process_cpu_percent", "CPU use of the process over herd's sample, in percent of one core.",
         [(labels, u.cpu_percent) for labels, u in read if u.cpu_percent is not None]),
        ("herd_process_open_fds", "Open file descriptors of the process.",
         [(labels, u.fds) for labels, u in read if u.fds is not None]),
        ("herd_process_threads", "Threads of the process.", [(labels, u.threads) for labels, u in read]),
        ("herd_process_children", "Direct child processes of the process.",
         [(labels, u.children) for labels, u in read]),
    ]


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items()) + "}"


def _escape_label(value: str) -> str:
    """Backslash, quote and newline escaped as the format says; other controls as literal ``\\x1b``."""
    return "\\n".join(safe.field(part).replace("\\", "\\\\").replace('"', '\\"') for part in value.split("\n"))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**53):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def render(fmt: str, report: CheckReport, timeout: float | None = None) -> str:
    """The report in ``fmt`` (nagios, json or prometheus), ending with a newline."""
    if fmt == "json":
        return json_text(report)
    if fmt == "prometheus":
        return prometheus(report)
    return nagios(report, timeout)
