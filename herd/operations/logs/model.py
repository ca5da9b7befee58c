"""What ``herd tail`` is asked for and what it has read: requests, events, a host's logs.

Lines are assembled per log: text between polls is kept until its newline
arrives, so a line is delivered once and whole (a line longer than
MAX_LINE is delivered in pieces).  One trailing CR is dropped (CRLF logs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from herd.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, HerdError
from herd.operations.filelogs import FileAccess, FileReader
from herd.supervisor.logs import LogReader, LogRef
from herd.supervisor.logtext import STDOUT

MAX_LINE = 64 * 1024
POLL_INTERVAL = 0.5
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 10.0

# Event kinds
LINE, NOTE, DOWN, UP, OUTPUT, EXIT = "line", "note", "down", "up", "output", "exit"


@dataclass(frozen=True)
class LogRequest:
    """What to read: process NAMEs and a channel, or supervisord's own log (channel main)."""

    names: tuple[str, ...] = ()
    channel: str = STDOUT       # or FILE: only the app's own files (logs:), a note where none is named
    lines: int | None = 20
    nbytes: int | None = None
    # --file templates: without names, files of the host; with names, the file of each process
    files: tuple[str, ...] = ()
    # stdout/stderr written on the command line: supervisord's log even where ``logs:`` names a file
    channel_given: bool = False
    # ``herd tail worker stdout stderr``: both of each process's logs, each line tagged with its channel
    both: bool = False

    @property
    def channels(self) -> tuple[str, ...]:
        return ("stdout", "stderr") if self.both else (self.channel,)


@dataclass(frozen=True)
class LogEvent:
    """Something for the operator: a line of ``source`` on ``host``, a note, a host lost or back."""

    kind: str
    host: str
    source: str = ""
    text: str = ""
    channel: str = ""


class LineBuffer:
    """Whole lines out of text that arrives in arbitrary pieces."""

    def __init__(self) -> None:
        self.partial = ""
        self._resync = False

    def resync(self) -> None:
        """Bytes were skipped: drop what comes before the next newline (the rest of a line)."""
        self._resync = True

    def feed(self, text: str) -> list[str]:
        if self._resync:
            if "\n" not in text:
                return []
            text = text.split("\n", 1)[1]
            self._resync = False
        if not text:
            return []
        parts = (self.partial + text).split("\n")
        self.partial = parts.pop()
        while len(self.partial) > MAX_LINE:
            parts.append(self.partial[:MAX_LINE])
            self.partial = self.partial[MAX_LINE:]
        return [p[:-1] if p.endswith("\r") else p for p in parts]

    def flush(self) -> list[str]:
        rest, self.partial = self.partial, ""
        return [rest[:-1] if rest.endswith("\r") else rest] if rest else []


@dataclass
class ProcessLog:
    """One log of one host: what was read of it, or why it cannot be read."""

    ref: LogRef
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    reader: LogReader | FileReader | None = field(default=None, repr=False)
    buffer: LineBuffer = field(default_factory=LineBuffer, repr=False)

    @property
    def name(self) -> str:
        return self.ref.label


@dataclass
class HostLogs:
    host: str
    logs: list[ProcessLog] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: HerdError | None = None
    files: FileAccess | None = field(default=None, repr=False)   # the host's file agent, if it reads files


@dataclass
class TailReport:
    hosts: list[HostLogs]
    request: LogRequest

    def close(self) -> None:
        """End the hosts' file agents (their channels); the SSH connections are the fleet's."""
        for host in self.hosts:
            if host.files is not None:
                host.files.close()

    @property
    def exit_code(self) -> int:
        """0 every log read; 1 a log could not be read (disabled, redirected, failed); 4 a host failed."""
        if any(h.error is not None for h in self.hosts):
            return EXIT_UNREACHABLE
        if any(p.error for h in self.hosts for p in h.logs):
            return EXIT_FAILED
        return EXIT_OK
