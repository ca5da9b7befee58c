"""Log lines for people (a prefix per host and process, coloured per host) and for scripts (JSON).

Log text is shown safely (herd.text.line): a log must not be able to drive
the operator's terminal.  Control characters (C0 but TAB, DEL, C1) and bytes
that were not UTF-8 are shown as Python-style escapes (ESC as ``\\x1b``, CR
as ``\\r``, a 0xff byte as ``\\xff``); a sequence whose bytes supervisord did
not name is shown as U+FFFD.  Host and process names in prefixes and notes
are escaped the same way (herd.text.field).  Colour escape sequences a
program writes are therefore visible, not applied.  JSON carries the text as
supervisord gave it (JSON escapes control characters itself), with bad bytes
as U+FFFD.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import click

from herd import text as safe
from herd.operations.logs import HostLogs, TailReport

HOST_COLOURS = ("cyan", "green", "yellow", "blue", "magenta",
                "bright_cyan", "bright_green", "bright_yellow", "bright_blue", "bright_magenta")
def json_text(text: str) -> str:
    """Text for JSON: bad bytes as U+FFFD (lone surrogates are not valid JSON text)."""
    return re.sub("[\udc80-\udcff]", "\ufffd", text)


class Prefixer:
    """``web01 tornado:tornado-8080 | `` for every line: aligned, the host coloured on a terminal."""

    def __init__(self, hosts: Iterable[str], sources: Iterable[tuple[str, str]], *, color: bool,
                 enabled: bool = True) -> None:
        self.color = color
        self.enabled = enabled
        self.colours = {h: HOST_COLOURS[i % len(HOST_COLOURS)] for i, h in enumerate(hosts)}
        self.host_width = max((len(h) for h in self.colours), default=0)
        self.source_width = 0
        for host, source in sources:
            self.add(host, source)

    def add(self, host: str, source: str) -> None:
        host, source = safe.field(host), safe.field(source)
        if host not in self.colours:
            self.colours[host] = HOST_COLOURS[len(self.colours) % len(HOST_COLOURS)]
        self.host_width = max(self.host_width, len(host))
        self.source_width = max(self.source_width, len(source))

    def line(self, host: str, source: str, text: str) -> str:
        if not self.enabled:
            return safe.line(text)
        self.add(host, source)
        host, source = safe.field(host), safe.field(source)
        head = f"{host.ljust(self.host_width)} {source.ljust(self.source_width)} |"
        if self.color:
            head = click.style(head, fg=self.colours[host])
        return f"{head} {safe.line(text)}" if text else head


def note_line(host: str, source: str, text: str) -> str:
    """A note about a log or a host, for stderr: ``herd: web01 worker: log rotated ...``."""
    where = f"{host} {source}" if source else host
    return f"herd: {safe.field(where)}: {safe.field(text)}"


def sources(report: TailReport) -> list[tuple[str, str]]:
    return [(h.host, p.name) for h in report.hosts if h.error is None for p in h.logs]


def tail_text(report: TailReport, prefixer: Prefixer, *, host_errors: bool = True) -> tuple[list[str], list[str]]:
    """(stdout lines, stderr lines) of a tail: each log's lines; errors and notes for stderr.

    ``host_errors`` False leaves unreachable hosts unsaid (a follower reports them).
    """
    out: list[str] = []
    err: list[str] = []
    for host in report.hosts:
        if host.error is not None:
            if host_errors:
                err.append(f"herd: {safe.field(host.host)}: {safe.error(host.error)}")
            continue
        for item in host.logs:
            err += [note_line(host.host, item.name, n) for n in item.notes]
            if item.error:
                err.append(note_line(host.host, item.name, item.error))
            out += [prefixer.line(host.host, item.name, line) for line in item.lines]
    return out, err


def tail_json(report: TailReport) -> dict[str, Any]:
    return {
        "channel": "+".join(report.request.channels),
        "hosts": [_host_json(h) for h in report.hosts],
        "exit_code": report.exit_code,
    }


def _host_json(host: HostLogs) -> dict[str, Any]:
    return {
        "host": host.host,
        "error": None if host.error is None else host.error.reason,
        "missing": list(host.missing),
        "processes": [{
            "name": p.ref.process if p.ref.tagged else p.name,      # the channel has its own key
            "channel": p.ref.channel,
            "logfile": p.ref.logfile or None,
            "lines": [json_text(line) for line in p.lines],
            "notes": list(p.notes),
            "error": p.error,
        } for p in host.logs],
    }
