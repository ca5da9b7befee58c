"""The CLI's side of the audit trail (herd/audit.py): one entry per command that changes something.

Recorded centrally, not by each command: the group (herd/cli/__init__.py) starts a
:class:`Recorder` when it resolves a command of :data:`AUDITED` and finishes it when the
command returns or raises; on the way the command's usual steps feed it:

- ``load_selected`` (herd/cli/fleets.py): the hosts selected, and the command's arguments;
- ``emit_report`` (herd/cli/output.py): the per-host result lines, as printed (also for
  ``-o json``), and whether a Ctrl-C cut it short and what it left stopped;
- a roll (herd/cli/rolling.py): its report, or its pre-flight refusal.

The same for a command typed in ``herd shell`` and one a keeper runs (both go through the
group).  Not recorded: reads (status, tail, ...), dry runs, and a command stopped before it
selected its hosts (a bad option, no inventory): nothing was attempted on any host.

A trail that cannot be written warns once on stderr (herd.audit.AuditTrail); the command's
output and exit code stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import click

AUDITED = frozenset({"start", "stop", "restart", "signal", "clear", "add", "remove", "update", "reread", "reload",
                     "shutdown", "rolling-restart", "rolling-update"})
META_KEY = "herd.trail"
# the command's parameters that say what it acted on, and their names in the entry's targets
TARGET_PARAMS = {"names": "names", "group_names": "groups", "name": "name", "sig": "signal", "signal_": "signal"}


@dataclass
class Recorder:
    """What one command did, gathered while it runs; written once when it ends."""

    action: str
    hosts: list[str] | None = None          # None until the command selected its hosts
    targets: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    lines: list[str] = field(default_factory=list)
    interrupted: str | None = None          # what a Ctrl-C left, from the report
    refused: str | None = None              # a refusal the command printed itself (a roll's pre-flight)

    def outcome(self, code: int | None, error: BaseException | None) -> tuple[str, int | None]:
        """The entry's result and exit code."""
        from herd.errors import EXIT_INTERRUPTED, EXIT_USAGE, HerdError, NotConfirmed, UsageError

        summary = " ".join(self.lines[-1].split()) if self.lines else ""
        if isinstance(error, KeyboardInterrupt) or code == EXIT_INTERRUPTED:
            left = self.interrupted or ("nothing was changed" if not self.lines else summary)
            return f"interrupted: {left}", EXIT_INTERRUPTED
        if isinstance(error, click.Abort):
            return "interrupted: aborted at a prompt", EXIT_INTERRUPTED
        if isinstance(error, (UsageError, NotConfirmed)):
            return f"refused: {error}", error.exit_code     # a usage error, or the user said no at the prompt
        if isinstance(error, HerdError):
            return f"failed: {error}", error.exit_code
        if isinstance(error, click.ClickException):
            return f"refused: {error.format_message()}", EXIT_USAGE
        if error is not None:
            return f"failed: {type(error).__name__}", 1
        if self.refused is not None:
            return f"refused: {self.refused}", code
        if code == 0:
            return "done", 0
        return f"failed: {summary or f'exit code {code}'}", code


def begin(ctx: click.Context, name: str) -> None:
    """The group resolved ``name``: record it if it changes things."""
    if name in AUDITED:
        ctx.meta[META_KEY] = Recorder(name)


def current() -> Recorder | None:
    ctx = click.get_current_context(silent=True)
    recorder = ctx.meta.get(META_KEY) if ctx is not None else None
    return recorder if isinstance(recorder, Recorder) else None


def selected(hosts: Sequence[Any]) -> None:
    """The command selected ``hosts`` (herd.inventory Host objects): from now on it is recorded."""
    recorder = current()
    if recorder is None:
        return
    params = click.get_current_context().params
    recorder.hosts = [h.name for h in hosts]
    recorder.dry_run = bool(params.get("dry_run"))
    recorder.targets = {key: list(value) if isinstance(value, tuple) else value
                        for param, key in TARGET_PARAMS.items()
                        if (value := params.get(param)) not in (None, (), "")}


def reported(lines: Sequence[str], report: Any = None) -> None:
    """The command printed ``lines`` (its result, one line per host and thing, the summary last)."""
    recorder = current()
    if recorder is None:
        return
    recorder.lines = [str(line) for line in lines]
    if report is not None and getattr(report, "interrupted", False):
        recorder.interrupted = left_by(report)
    elif report is not None and getattr(report, "outcome", None) == "interrupted":
        recorder.interrupted = " ".join(recorder.lines[-1].split()) if recorder.lines else "roll interrupted"


def refused(problems: Sequence[str]) -> None:
    """The command refused to act after selecting its hosts, and said why (a roll's pre-flight)."""
    recorder = current()
    if recorder is not None:
        recorder.refused = "; ".join(problems)


def left_by(report: Any) -> str:
    """What an interrupted report left: ``web01: worker left STOPPED`` per host, or that it left nothing."""
    parts = [f"{left.host}: {', '.join(left.names)} {'left' if left.certain else 'may be left'} STOPPED"
             for left in getattr(report, "left_stopped", None) or []]
    for left in getattr(report, "left_groups", None) or []:
        said = "left" if left.certain else "may be left"
        if left.removed:
            parts.append(f"{left.host}: {', '.join(left.removed)} {said} removed")
        if left.stopped:
            parts.append(f"{left.host}: {', '.join(left.stopped)} {said} STOPPED")
    return "; ".join(parts) or "the steps in flight were finished; nothing was left stopped"


def finish(ctx: click.Context, code: Any, error: BaseException | None) -> None:
    """The command ended (``code`` returned, or ``error`` raised): write its entry if it is one to write."""
    recorder = ctx.meta.pop(META_KEY, None)
    if not isinstance(recorder, Recorder) or recorder.hosts is None or recorder.dry_run:
        return
    from herd.audit import AuditTrail, controller, default_audit_path, host_lines, local_account

    result, exit_code = recorder.outcome(code if isinstance(code, int) else 0 if error is None else None, error)
    AuditTrail(default_audit_path()).record(
        recorder.action, recorder.targets, result, user=local_account(), via="cli", client=controller(),
        hosts=host_lines(recorder.lines, recorder.hosts), exit_code=exit_code)
