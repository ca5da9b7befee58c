"""A notification as plain text for people: an email's subject and body, the lines of a Slack message.

Rendered from the message's generic fields only (``kind``, ``summary()``,
``body()``, read with defaults), so a notification kind added later (a
remediation's "action", say) shows without a change here.  Every string
that came from a host -- a process or program name, a spawn error, a host's
error sentence -- is passed through herd.text.field(): CR, LF, ESC and the
other control characters become visible escapes (``\\n``, ``\\x1b``), so a
hostile name can neither start a header or a line of its own nor colour a
terminal that shows the mail.  Markup (``<script>``) stays text: email is
sent as text/plain and Slack escapes it (slack.py).
"""

from __future__ import annotations

from typing import Any

from herd import text
from herd.operations.guard.incidents import Notification

SUBJECT_LIMIT = 200            # characters of a subject (one line, whatever the hosts said)
HOSTS_SHOWN = 50               # hosts detailed in a body (the JSON lists at most as many)


def subject(note: Notification, prefix: str = "[herd guard] ") -> str:
    """One line: ``[herd guard] tornado FATAL on 3 of 20 hosts: web01, ...``; never a CR or LF."""
    line = prefix + text.field(note.summary())
    return line if len(line) <= SUBJECT_LIMIT else line[:SUBJECT_LIMIT - 3] + "..."


def headline(note: Notification) -> str:
    """``opened: tornado FATAL on ...`` (the event, then the summary), escaped."""
    return f"{text.field(note.kind)}: {text.field(note.summary())}"


def facts(note: Notification) -> list[str]:
    """The incident's facts, one a line (``incident: ID (rule fatal: FATAL)``, ``hosts affected: 3 of 20``...)."""
    body = note.body()
    inc: dict[str, Any] = body.get("incident") or {}
    out = []
    if inc.get("id"):
        out.append(f"incident: {_s(inc['id'])} (rule {_s(inc.get('rule', '?'))}: {_s(inc.get('title', '?'))})")
    if inc.get("program"):
        out.append(f"program: {_s(inc['program'])}")
    for key, label in (("opened_at", "opened at"), ("resolved_at", "resolved at")):
        if inc.get(key):
            out.append(f"{label}: {_s(inc[key])}")
    if "hosts_affected" in inc:
        out.append(f"hosts affected: {_s(inc['hosts_affected'])} of {_s(inc.get('hosts_total', '?'))} "
                   f"(at most {_s(inc.get('peak', '?'))} at once)")
    return out


def host_lines(note: Notification) -> list[str]:
    """One line per affected host (``web01 since T: tornado:tornado-8080 -- Exited too quickly``), then the
    recovered ones."""
    inc: dict[str, Any] = note.body().get("incident") or {}
    hosts = inc.get("hosts") or []
    out = []
    for entry in hosts[:HOSTS_SHOWN]:
        line = _s(entry.get("host", "?"))
        if entry.get("since"):
            line += f" since {_s(entry['since'])}"
        if entry.get("processes"):
            line += ": " + ", ".join(_s(p) for p in entry["processes"])
        if entry.get("detail"):
            line += f" -- {_s(entry['detail'])}"
        out.append(line)
    affected = inc.get("hosts_affected", len(hosts))
    if isinstance(affected, int) and affected > min(len(hosts), HOSTS_SHOWN):
        out.append(f"... and {affected - min(len(hosts), HOSTS_SHOWN)} more host(s)")
    recovered = inc.get("recovered") or []
    if recovered:
        out.append("recovered: " + ", ".join(_s(h) for h in recovered))
    return out


def counters(note: Notification, dropped: int) -> list[str]:
    """What was held back (the rate limit) or dropped (this channel's full queue) before this message."""
    out = []
    if note.held:
        out.append(f"{note.held} message(s) were held back by the rate limit before this one")
    if dropped:
        out.append(f"{dropped} message(s) were dropped before this one (this channel's queue was full)")
    return out


def plain(note: Notification, dropped: int = 0) -> str:
    """The whole message as plain text (an email body): headline, facts, hosts, counters."""
    parts = [headline(note), "", *facts(note)]
    hosts = host_lines(note)
    if hosts:
        parts += ["", *hosts]
    more = counters(note, dropped)
    if more:
        parts += ["", *more]
    sent = note.body().get("sent_at")
    parts += ["", f"-- herd guard{', ' + _s(sent) if sent else ''}"]
    return "\n".join(parts) + "\n"


def _s(value: object) -> str:
    return text.field(value)
