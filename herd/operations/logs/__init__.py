"""``herd tail``, ``herd maintail`` and ``herd fg``: logs of many hosts, read once or followed.

Reading once is a fan-out like status: every host resolves the names
(getAllProcessInfo + getAllConfigInfo, one round trip) and reads the end of
each log.  Following keeps going from where that left off: one thread per
host polls all of its logs with one multicall per poll over the host's one
kept-alive connection, and hands events (lines, notes, connection lost or
back) to a queue that the command prints.  A host that drops is retried with
backoff (1, 2, 4 ... 10 s) while the others keep flowing; when it is back,
what was written meanwhile is read from the same offsets.

Lines are assembled per log: text between polls is kept until its newline
arrives, so a line is delivered once and whole (a line longer than
MAX_LINE is delivered in pieces).  One trailing CR is dropped (CRLF logs).
Nothing here prints.

The package's modules, one job each:

- ``model``: what is asked (LogRequest), what is shown (LogEvent), and a
  host's logs as read so far (ProcessLog, HostLogs, TailReport, LineBuffer);
- ``read``: which logs a host has, and reading the end of each, once;
- ``follow``: the Follower, going on from there on every host at once;
- ``attach``: ``herd fg``, one process's output shown and its stdin fed.
"""

from __future__ import annotations

from herd.operations.logs.attach import Attachment, clean_input, select_one
from herd.operations.logs.follow import Follower
from herd.operations.logs.model import (DOWN, EXIT, LINE, MAX_LINE, NOTE, OUTPUT, POLL_INTERVAL, UP, HostLogs,
                                        LineBuffer, LogEvent, LogRequest, ProcessLog, TailReport)
from herd.operations.logs.read import check_names_exist, plan_host, read_host, read_logs

__all__ = ["Attachment", "clean_input", "select_one", "Follower", "DOWN", "EXIT", "LINE", "MAX_LINE", "NOTE",
           "OUTPUT", "POLL_INTERVAL", "UP", "HostLogs", "LineBuffer", "LogEvent", "LogRequest", "ProcessLog",
           "TailReport", "check_names_exist", "plan_host", "read_host", "read_logs"]
