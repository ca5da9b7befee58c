"""What a command prints besides its answer: herd's log lines on stderr, colour, and action reports.

Kept apart from the option declarations (herd/cli/options.py) so the shell,
the web and the keeper's hosted commands share one way of saying things.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from herd.operations.outcomes import ActionReport


class SafeFormatter(logging.Formatter):
    """herd's log lines, terminal-safe: a message may quote what a host sent (herd.text)."""

    def format(self, record: logging.LogRecord) -> str:
        from herd import text

        return text.block(super().format(record))


def setup_logging(verbose: int) -> None:
    """herd's own messages on stderr: warnings always, info with -v, debug with -vv."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("herd: %(message)s"))
    root = logging.getLogger("herd")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    # paramiko logs refused channels at ERROR; herd reports those itself, in plain words.
    paramiko_log = logging.getLogger("paramiko")
    paramiko_log.propagate = False
    paramiko_log.handlers[:] = [handler] if verbose >= 3 else [logging.NullHandler()]
    paramiko_log.setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)



def use_color(stream: Any = None) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set."""
    if "NO_COLOR" in os.environ:
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def emit_report(report: ActionReport, output: str) -> int:
    """Print an ActionReport as lines or JSON; return its exit code."""
    import json

    from herd.cli import trail
    from herd.render.actions import action_json, action_lines

    trail.reported(action_lines(report, False), report)     # for a command that changes things
    if output == "json":
        click.echo(json.dumps(action_json(report), indent=2))
    else:
        click.echo("\n".join(action_lines(report, use_color())))
    return report.exit_code
