"""``herd status --watch``: the status table, live, on the shared poller (herd/operations/poller.py).

On a terminal: the alternate screen, the table redrawn in place each
interval (uptimes move; changes are seen within the interval), cut to the terminal's
size so nothing scrolls; ``q`` (or Ctrl-C) leaves and gives the terminal
back as it was.  Not on a terminal (a pipe, a log file): the table printed
again every interval, each time under a ``--- time`` line, until
interrupted.

With ``--resources`` the poller also samples each host's processes (RSS,
CPU % since the host's previous poll, fds, threads: the agent kept open on
the host's session), so the table is redrawn every interval with the
numbers of the last poll; CPU % shows from each host's second poll.
"""

from __future__ import annotations

import datetime
import os
import select
import shutil
import sys
import time
from typing import IO, Sequence

from herd.errors import EXIT_INTERRUPTED, EXIT_OK
from herd.fleet import Fleet
from herd.operations.poller import Poller
from herd.render.status import problem_rows, status_table, summary_line, table_lines

ENTER, LEAVE = "\x1b[?1049h\x1b[?25l", "\x1b[?25h\x1b[?1049l"
HOME, CLEAR_LINE, CLEAR_DOWN = "\x1b[H", "\x1b[K", "\x1b[J"


def table(poller: Poller, names: Sequence[str], color: bool) -> str:
    """The status table of the poller's last snapshot, with the resources columns when it samples them."""
    snap = poller.snapshot()
    return status_table(snap.status_report(names), color, snap.resources() if poller.resources else None)


def frame(poller: Poller, names: Sequence[str], color: bool, width: int, height: int,
          problems_only: bool = False) -> str:
    """One screen: the title, the summary, then the table, problems first, each line cut to ``width``.

    A small terminal must not hide what is wrong: the summary is always the
    second line, rows not RUNNING come before the RUNNING ones, and what does
    not fit is counted on the last line (``... 9 more, all RUNNING``).
    ``problems_only`` (key p) shows the rows not RUNNING alone.
    """
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    flags = " --resources" if poller.resources else ""
    mode = "  problems only (p: all)" if problems_only else "  (p: problems only)"
    title = f"herd status{flags} --watch  every {poller.interval:g}s  {stamp}{mode}  (q to quit)"
    snap = poller.snapshot()
    report = snap.status_report(names)
    body = table_lines(report, color, snap.resources() if poller.resources else None,
                       problems_first=True, problems_only=problems_only)
    lines = [title, summary_line(report)] + body
    if len(lines) > height:
        kept = lines[:max(2, height - 1)]
        rows, problems = problem_rows(report)
        shown = max(0, len(kept) - 3)               # title, summary, header
        total = problems if problems_only else rows
        lines = kept + [_more(total - shown, max(0, problems - shown))]
    return HOME + "".join(_cut(line, width, color) + CLEAR_LINE + "\r\n" for line in lines)[:-2] + CLEAR_DOWN


def _more(hidden: int, hidden_problems: int) -> str:
    """The last line of a cut screen: how many rows did not fit (problems come first: often all RUNNING)."""
    what = f"{hidden_problems} not RUNNING" if hidden_problems else "all RUNNING"
    return f"... {hidden} more row{'s' if hidden != 1 else ''}, {what} (enlarge the terminal, or p)"


def _cut(line: str, width: int, color: bool) -> str:
    """Cut to ``width`` visible columns (colour escapes do not count)."""
    if not color:
        return line[:width]
    out, seen, i = [], 0, 0
    while i < len(line) and seen < width:
        if line[i] == "\x1b":
            end = line.find("m", i)
            end = len(line) - 1 if end < 0 else end
            out.append(line[i:end + 1])
            i = end + 1
            continue
        out.append(line[i])
        seen += 1
        i += 1
    return "".join(out) + ("\x1b[0m" if color else "")


def watch(fleet: Fleet, names: Sequence[str], interval: float, color: bool, resources: bool = False) -> int:
    """Run until q / Ctrl-C; full screen on a terminal, repeated tables otherwise."""
    with Poller(fleet, interval, names, resources) as poller:
        poller.wait_first(fleet.timeout + 1)
        if sys.stdout.isatty() and sys.stdin.isatty():
            return _screen(poller, names, color)
        return _plain(poller, names, color, sys.stdout)


def _plain(poller: Poller, names: Sequence[str], color: bool, out: IO[str]) -> int:
    try:
        while True:
            stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
            out.write(f"--- {stamp}\n{table(poller, names, color)}\n")
            out.flush()
            if poller.resources:            # the numbers move every poll: a table every interval
                time.sleep(poller.interval)
            else:
                poller.wait_change(poller.snapshot().seq, poller.interval)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _screen(poller: Poller, names: Sequence[str], color: bool) -> int:
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    out = sys.stdout
    try:
        tty.setcbreak(fd)
        out.write(ENTER)
        problems_only = False
        while True:
            size = shutil.get_terminal_size()
            out.write(frame(poller, names, color, size.columns, size.lines, problems_only))
            out.flush()
            key = _key(fd, poller.interval)
            if key is None or b"q" in key.lower():
                return EXIT_OK
            if b"p" in key.lower():
                problems_only = not problems_only
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        out.write(LEAVE)
        out.flush()
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _key(fd: int, timeout: float) -> bytes | None:
    """The keys typed within ``timeout`` (b"" when none: redraw); None when the terminal is gone."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return b""
    return os.read(fd, 32) or None
