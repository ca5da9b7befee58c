"""Output of commands that act (start, stop, update, ...): one line per host and thing.

::

    web01  tornado:tornado-8080  stopped
    web01  worker                not running
    web02  nosuchprog: no such process
    web03  unreachable: connection refused by 10.0.0.13 port 22 (is sshd running?)
    3 hosts: 1 stopped, 1 not running; 1 failed; 1 host unreachable

Names, results (a pid, supervisord's version), details and error sentences
may come from a host: each is shown through herd.text.field.
"""

from __future__ import annotations

from typing import Any

import click

from herd import text as safe
from herd.errors import HostInterrupted, Unsupported
from herd.operations.outcomes import ActionReport


def action_lines(report: ActionReport, color: bool) -> list[str]:
    f = safe.field
    host_width = max((len(f(h.host)) for h in report.hosts), default=0)
    name_width = max((len(f(o.name)) for h in report.hosts for o in h.outcomes if o.ok), default=0)
    result_width = max((len(f(o.result)) for h in report.hosts for o in h.outcomes if o.ok and o.detail),
                       default=0)
    lines = ["dry run: nothing was changed"] if report.dry_run else []
    for host in report.hosts:
        prefix = f(host.host).ljust(host_width)
        if isinstance(host.error, Unsupported):   # the host answers: its release lacks what was asked
            lines.append(f"{prefix}  {_paint(safe.field(host.error.reason), 'yellow', color)}")
            continue
        if isinstance(host.error, HostInterrupted):   # Ctrl-C came before its answer: not known to be down
            lines.append(f"{prefix}  {_paint(safe.field(host.error.reason), 'yellow', color)}")
            continue
        if host.error is not None:
            lines.append(f"{prefix}  {_paint('unreachable', 'red', color)}: {safe.error(host.error)}")
            continue
        for o in host.outcomes:
            if o.ok:
                result = f(o.result).ljust(result_width) if o.detail else f(o.result)
                if o.changed and not report.dry_run:
                    result = _paint(result, "green", color)
                lines.append(f"{prefix}  {f(o.name).ljust(name_width)}  {result}  {f(o.detail)}".rstrip())
            else:
                lines.append(f"{prefix}  {f(o.name)}: {_paint(f(o.error or 'failed'), 'red', color)}")
    lines.append(summary(report))
    return lines


def _paint(text: str, fg: str, color: bool) -> str:
    return click.style(text, fg=fg, bold=fg == "red") if color else text


def summary(report: ActionReport) -> str:
    """``3 hosts: 2 stopped, 1 not running; 1 failed; 1 host unreachable``."""
    n = len(report.hosts)
    counts = report.counts()
    failed = counts.pop("failed", 0)
    parts = [] if report.informational else [f"{count} {safe.field(word)}" for word, count in counts.items()]
    tail = [f"{failed} failed"] if failed else []
    down = sum(1 for h in report.hosts if h.error is not None
               and not isinstance(h.error, (Unsupported, HostInterrupted)))
    if down:
        tail.append(f"{down} host{'s' if down != 1 else ''} unreachable")
    cut = sum(1 for h in report.hosts if isinstance(h.error, HostInterrupted))
    if cut:
        tail.append(f"{cut} host{'s' if cut != 1 else ''} interrupted before answering")
    old = sum(1 for h in report.hosts if isinstance(h.error, Unsupported))
    if old:
        tail.append("1 host's supervisord too old" if old == 1 else f"{old} hosts' supervisord too old")
    details = "; ".join(filter(None, [", ".join(parts)] + tail))
    return f"{n} host{'s' if n != 1 else ''}" + (f": {details}" if details else "")


def action_json(report: ActionReport) -> dict[str, Any]:
    interrupted: dict[str, Any] = {} if not report.interrupted else {
        "interrupted": True,
        "left_stopped": [{"host": left.host, "processes": list(left.names), "certain": left.certain}
                         for left in report.left_stopped],
    }
    left_groups = getattr(report, "left_groups", None)     # update's (config.UpdateReport): groups, not processes
    if report.interrupted and left_groups is not None:
        interrupted["left_groups"] = [{"host": left.host, "removed": list(left.removed), "stopped": list(left.stopped),
                                       "certain": left.certain} for left in left_groups]
    return {
        "action": report.action,
        "dry_run": report.dry_run,
        "hosts": [
            {
                "host": h.host,
                "error": None if h.error is None else h.error.reason,
                "results": [{"name": o.name, "result": o.result, "detail": o.detail, "error": o.error,
                             "changed": o.changed} for o in h.outcomes],
            }
            for h in report.hosts
        ],
        "exit_code": report.exit_code,
        **interrupted,
    }
