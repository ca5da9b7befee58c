"""Rolling-restart output: the plan, progress lines, the final report, JSON.

Process names, details (fault strings, probe and hook output), errors,
notes and log tails may come from hosts: every one is shown through
herd.text (``f`` below); JSON keeps them exact.
"""

from __future__ import annotations

from typing import Any

import click

from herd import text as safe
from herd.operations.rolling.gate import ProcessResult
from herd.operations.rolling.plan import GroupChange, RollPlan
from herd.operations.rolling.runner import RollOptions, RollReport

f = safe.field

STATUS_COLOURS = {"done": "green", "failed": "red", "stopped": "yellow", "untouched": "yellow", "skipped": None}


def what(signal: str | None) -> str:
    """What a roll does to each process: ``restart``, or ``reload (SIGHUP)`` with --signal."""
    return f"reload (SIG{signal})" if signal else "restart"


def gate_text(options: RollOptions) -> str:
    gate = options.gate
    parts = [f"same pid, still RUNNING for {gate.min_healthy:g}s after SIG{options.signal}" if options.signal
             else f"RUNNING, same pid for {gate.min_healthy:g}s"]
    if gate.probe is not None:
        parts.append(f"probe {gate.probe.describe()}")
    limit = "stop at the first failed host" if options.max_fail == 0 else \
        f"stop after more than {options.max_fail} failed host(s)"
    return f"gate: {', '.join(parts)}; within {gate.timeout_healthy:g}s; {limit}"


def plan_lines(plan: RollPlan, options: RollOptions) -> list[str]:
    if plan.update:
        return update_plan_lines(plan, options)
    hosts = len(plan.targets)
    processes = sum(len(t.processes) for t in plan.targets)
    batches = len(plan.batches)
    steps = ",".join(str(s) for s in options.batch)
    lines = [f"rolling {what(options.signal)} of {plan.name}: {processes} process(es) on {hosts} host(s) in "
             f"{batches} batch(es) (--batch {steps}), {plan.per_host} process(es) at a time per host",
             gate_text(options)]
    for index, batch in enumerate(plan.batches, 1):
        for target in batch:
            todo = f(", ".join(target.processes)) or "(post-hook only)"
            skipped = f"; skipping {f(', '.join(target.skipped))}" if target.skipped else ""
            lines.append(f"  batch {index}/{batches}  {f(target.host)}: {todo}{skipped}")
    for target in plan.held_back:
        lines.append(f"  skipped  {f(target.host)}: {f(', '.join(target.down))} not RUNNING; restarting "
                     f"another would exceed --per-host {plan.per_host} (left alone: {f(', '.join(target.skipped))})")
    if plan.without_name:
        lines.append(f"  skipped (no {f(plan.name)}): {f(', '.join(plan.without_name))}")
    return lines + [f"  warning: {f(w)}" for w in plan.warnings]


CHANGE_VERBS = {"removed": "remove", "changed": "re-add on the new config", "added": "add"}


def change_text(change: GroupChange) -> str:
    """``tornado: re-add on the new config (4 -> 6 processes)``, ``extra: add (1 process)``, ``old: remove (2)``."""
    size = len(change.after) if change.kind == "added" else len(change.before)
    count = (f"{len(change.before)} -> {len(change.after)} processes" if change.kind == "changed" and
             len(change.before) != len(change.after) else f"{size} process{'es' if size != 1 else ''}")
    return f"{f(change.group)}: {CHANGE_VERBS[change.kind]} ({count})"


def update_plan_lines(plan: RollPlan, options: RollOptions) -> list[str]:
    """The rolling update's plan: per host and batch, what happens to which group; what cannot be kept."""
    batches = len(plan.batches)
    steps = ",".join(str(s) for s in options.batch)
    lines = [f"rolling update of {f(plan.name)}: {len(plan.targets)} host(s) with pending config in {batches} "
             f"batch(es) (--batch {steps})", gate_text(options)]
    if not plan.targets and not plan.held_back:
        lines.append("  nothing to roll: no pending config change on any selected host")
    for index, batch in enumerate(plan.batches, 1):
        for target in batch:
            todo = "; ".join(change_text(c) for c in target.changes) or "(post-hook only)"
            lines.append(f"  batch {index}/{batches}  {f(target.host)}: {todo}")
    for target in plan.held_back:
        lines.append(f"  skipped  {f(target.host)}: {f(', '.join(target.down))} not RUNNING; its group is re-added "
                     f"as a whole (left alone: {f('; '.join(change_text(c) for c in target.changes))})")
    if plan.without_name:
        lines.append(f"  unchanged: {f(', '.join(plan.without_name))}")
    return lines + [f"  note: {f(w)}" for w in plan.warnings]


def progress_line(kind: str, data: dict[str, Any], color: bool) -> str | None:
    """One line per event worth telling; phases are for terminals only (the CLI decides)."""
    if kind == "batch":
        return f"[batch {data['index']}/{data['total']}] {f(', '.join(data['hosts']))}"
    if kind == "phase":
        return f"  {f(data['host'])} {f(data['process'])}: {f(data['phase'])}"
    if kind == "process":
        p = data["result"]
        if p.ok and p.signal:
            return f"  {f(data['host'])} {f(p.name)}: ok (SIG{f(p.signal)}, pid {p.old_pid} kept, {p.waited:.1f}s)"
        if p.ok:
            return f"  {f(data['host'])} {f(p.name)}: ok ({pid_text(p, data.get('update', False))}, {p.waited:.1f}s)"
        failed = click.style("FAILED", fg="red", bold=True) if color else "FAILED"
        return f"  {f(data['host'])} {f(p.name)}: {failed} in {f(p.phase)}: {f(p.detail)}"
    if kind == "group":
        return f"  {f(data['host'])} {f(data['group'])}: {CHANGE_VERBS[data['kind']]}"
    if kind == "hook":
        return f"  {f(data['host'])}: {data['which']}-hook: {f(data['command'])}"
    if kind == "pause":
        if data.get("ask"):
            return None
        return f"pausing {data['seconds']:g}s before batch {data['next']}/{data['total']}"
    if kind == "host-done":
        status = data["status"]
        text = click.style(status, fg=STATUS_COLOURS.get(status)) if color else status
        error = f": {f(data['error'])}" if data.get("error") else ""
        return f"  {f(data['host'])}: {text}{error}"
    return None


def pid_text(p: ProcessResult, update: bool) -> str:
    """``pid 101 -> 202``; a rolling update's new process ``new, pid 202``, its removed one ``was pid 101``."""
    if not update or (p.old_pid and p.new_pid):
        return f"pid {p.old_pid} -> {p.new_pid}"
    if p.new_pid:
        return f"new, pid {p.new_pid}"
    return f"was pid {p.old_pid}" if p.old_pid else "not running before"


def report_lines(report: RollReport, color: bool, *, signal: str | None = None) -> list[str]:
    width = max((len(f(h.host)) for h in report.hosts), default=4)
    lines = []
    for host in report.hosts:
        status = host.status.ljust(9)
        if color:
            status = click.style(status, fg=STATUS_COLOURS.get(host.status), bold=host.status == "failed")
        restarted = sum(1 for p in host.processes if p.ok)
        planned = next((len(t.processes) for t in report.plan.targets if t.host == host.host), 0)
        count = f"{restarted}/{planned}" if host.status != "skipped" else "-"
        lines.append(f"{f(host.host).ljust(width)}  {status}  {count:>5}  {f(host.error or '')}".rstrip())
        for p in host.processes:
            if p.ok and p.signal:
                lines.append(f"{'':{width}}    {f(p.name)}: SIG{f(p.signal)}, pid {p.old_pid} kept"
                             + (f" ({f(p.detail)})" if p.detail else ""))
            elif p.ok:
                lines.append(f"{'':{width}}    {f(p.name)}: {pid_text(p, report.plan.update)}"
                             + (f" ({f(p.detail)})" if p.detail else ""))
            else:
                lines.append(f"{'':{width}}    {f(p.name)}: FAILED in {f(p.phase)}: {f(p.detail)}")
                lines.extend(f"{'':{width}}      {safe.line(line)}" for line in p.log_tail)
        lines.extend(f"{'':{width}}    {f(note)}" for note in host.notes)
    lines.append(summary(report, signal=signal))
    return lines


def signal_of(report: RollReport, signal: str | None) -> str | None:
    """A reload roll's signal: as the caller knows it, else as the processes it reloaded tell it
    (herd web's roll report, which is not given the options)."""
    return signal or next((p.signal for h in report.hosts for p in h.processes if p.signal), None)


def summary(report: RollReport, *, signal: str | None = None) -> str:
    """The report's last line; ``signal``: a reload roll's (see :func:`signal_of`)."""
    signal = signal_of(report, signal)
    done = sum(1 for h in report.hosts for p in h.processes if p.ok)
    planned = sum(len(t.processes) for t in report.plan.targets)
    failed = len(report.failed_hosts)
    outcome = {"done": "roll done", "halted": "roll HALTED", "interrupted": "roll INTERRUPTED"}[report.outcome]
    done_to = f"reloaded (SIG{signal})" if signal else "updated" if report.plan.update else "restarted"
    text = f"{outcome}: {done} of {planned} process(es) {done_to} in {report.seconds:.1f}s"
    if failed:
        text += f"; {failed} host(s) failed"
    untouched = [h.host for h in report.hosts if h.status == "untouched"]
    if untouched:
        text += f"; untouched: {f(', '.join(untouched))}"
    skipped = report.skipped_hosts
    if skipped:
        text += f"; left alone (not RUNNING): {f(', '.join(skipped))}"
    if report.outcome != "done" or report.plan.held_back:
        text += "; continue with --resume"
    return text


def report_json(report: RollReport, *, signal: str | None = None) -> dict[str, Any]:
    return {
        "name": report.name,
        "signal": signal_of(report, signal),
        "outcome": report.outcome,
        "exit_code": report.exit_code,
        "seconds": round(report.seconds, 3),
        "batches": [[{"host": t.host, "processes": t.processes} for t in batch] for batch in report.plan.batches],
        "hosts": [
            {
                "host": h.host,
                "status": h.status,
                "error": h.error,
                "skipped": h.skipped,
                "notes": h.notes,
                "processes": [{"name": p.name, "ok": p.ok, "phase": p.phase, "detail": p.detail,
                               "old_pid": p.old_pid, "new_pid": p.new_pid, "log_tail": p.log_tail,
                               "signal": p.signal or None}
                              for p in h.processes],
            }
            for h in report.hosts
        ],
    }


def plan_json(plan: RollPlan, *, signal: str | None = None) -> dict[str, Any]:
    return {"name": plan.name, "dry_run": True, "signal": signal, "per_host": plan.per_host, "update": plan.update,
            "batches": [[{"host": t.host, "processes": t.processes, "skipped": t.skipped,
                          "changes": [change_json(c) for c in t.changes]} for t in batch]
                        for batch in plan.batches],
            "warnings": plan.warnings,
            "held_back": [{"host": t.host, "down": t.down, "skipped": t.skipped} for t in plan.held_back],
            "without_name": plan.without_name}


def change_json(change: GroupChange) -> dict[str, Any]:
    return {"group": change.group, "change": change.kind, "before": list(change.before),
            "after": list(change.after), "gated": list(change.gated)}
