"""A command on the controller, run once per notification: the message's JSON on its standard input.

The command is an argv list, run without a shell: nothing a host sends is
ever part of a command line.  It reads the same JSON document the webhook
POSTs (docs/guard.md, schema 1) on stdin -- a file, not a pipe, so a
command that does not read it cannot block -- and finds the essentials in
its environment: HERD_GUARD_EVENT (opened, updated, resolved...),
HERD_GUARD_RULE, HERD_GUARD_PROGRAM (empty for host rules),
HERD_GUARD_INCIDENT (the incident's id) and HERD_GUARD_SUMMARY (one line,
control characters escaped).  herd's own secret variables
($HERD_GUARD_WEBHOOK, $HERD_GUARD_SLACK, $HERD_SMTP_PASSWORD and those an
inventory's notify section names) are removed from its environment.

It runs in a session of its own with ``timeout`` seconds to finish; then the
whole session (the command and whatever it started) is killed.  Exit status
0 is delivered; another status, a signal or a timeout is a failed attempt,
retried as any channel's (channels/__init__.py), and logged with the first
line the command wrote on stderr (escaped, cut).  Its stdout is discarded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from typing import IO, Any, Iterable

from herd import text
from herd.operations.guard.channels import DeliveryError, QueuedChannel
from herd.operations.guard.incidents import Notification

TIMEOUT = 10.0
STDERR_READ = 4096             # bytes of stderr read for the first line
SECRET_VARIABLES = ("HERD_GUARD_WEBHOOK", "HERD_GUARD_SLACK", "HERD_SMTP_PASSWORD")


class CommandChannel(QueuedChannel):
    """Runs ``argv`` once per notification (no shell), the JSON on stdin, HERD_GUARD_* in the environment."""

    def __init__(self, argv: Iterable[str], *, timeout: float = TIMEOUT, hide_env: Iterable[str] = (),
                 **kwargs: Any) -> None:
        self.argv = tuple(argv)
        if not self.argv or not self.argv[0]:
            raise ValueError("a command needs at least its program")
        self.timeout = timeout
        self.hide_env = frozenset(SECRET_VARIABLES) | frozenset(hide_env)
        # the program only: its arguments may hold anything the operator wrote
        self.name = f"command {text.field(os.path.basename(self.argv[0]))}"
        super().__init__(**kwargs)

    def environment(self, note: Notification) -> dict[str, str]:
        """The controller's environment less herd's secrets, plus HERD_GUARD_* about this message."""
        env = {k: v for k, v in os.environ.items() if k not in self.hide_env}
        incident: dict[str, Any] = note.body().get("incident") or {}
        env.update({
            "HERD_GUARD_EVENT": text.field(note.kind),
            "HERD_GUARD_RULE": text.field(incident.get("rule") or ""),
            "HERD_GUARD_PROGRAM": text.field(incident.get("program") or ""),
            "HERD_GUARD_INCIDENT": text.field(incident.get("id") or ""),
            "HERD_GUARD_SUMMARY": text.field(note.summary()),
        })
        return env

    def deliver(self, note: Notification, dropped: int) -> None:
        data = json.dumps(dict(note.body(), dropped=dropped), ensure_ascii=True).encode() + b"\n"
        with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stderr:
            stdin.write(data)
            stdin.seek(0)
            status = self._execute(note, stdin, stderr)
            if status == 0:
                return
            stderr.seek(0)
            first = _first_line(stderr.read(STDERR_READ))
        how = f"exit status {status}" if status > 0 else f"killed by signal {-status}"
        raise DeliveryError(how + (f": {first}" if first else ""))

    def _execute(self, note: Notification, stdin: IO[bytes], stderr: IO[bytes]) -> int:
        try:
            proc = subprocess.Popen(self.argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=stderr,  # noqa: S603
                                    env=self.environment(note), start_new_session=True, close_fds=True)
        except OSError as exc:
            raise DeliveryError(f"cannot run it: {exc.strerror or type(exc).__name__}", retry=False) from exc
        try:
            return proc.wait(self.timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_session(proc)
            raise DeliveryError(f"still running after {self.timeout:g}s: killed") from exc


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command's whole session (it leads it: start_new_session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()


def _first_line(raw: bytes) -> str:
    """The first non-blank line of what the command wrote on stderr, escaped and cut."""
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.strip():
            return text.shorten(line.strip(), 200)
    return ""
