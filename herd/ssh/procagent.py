"""Reading process resources on a host through one exec channel: a tiny agent and its protocol.

``herd status --resources`` (and the long-lived views after it) read each
supervised process's CPU time, RSS, open fds, threads and children from
/proc on the host, with a small Python script started through
herd/ssh/remote.py like the file agent (herd/ssh/fileagent.py): same
session, same interpreter, under sudo where the inventory's ``become`` says
so (a root-owned process's fds are only listed by root).  One sample of
every pid of a host is one round trip.

Protocol (ASCII lines; the pids come from supervisord's getAllProcessInfo)::

    herd  -> agent   N WAITMS\\n  then N lines:  PID\\n  or  PID G\\n  (G: its process group)
    agent -> herd    X\\n                        (no /proc: not Linux)
                  or R HZ PAGESIZE UP0 UP1 N\\n  then per pid, in order:
                       P PID START TICKS RSSPAGES FDS THREADS CHILDREN FIRST\\n
                       G PID START TICKS RSSPAGES FDS THREADS MEMBERS FIRST\\n
                       E PID ERRNO\\n

``WAITMS`` > 0: the agent reads every pid's CPU ticks, sleeps WAITMS
milliseconds, then reads everything (so one round trip gives a CPU % for a
one-shot command); ``FIRST`` is the ticks of that first reading, -1 when
the pid was not there then or was another process (another START).
``UP0``/``UP1``: the host's /proc/uptime, in hundredths of a second, at the
two readings (equal when WAITMS is 0).  ``TICKS`` is utime+stime in clock
ticks (``HZ`` a second); ``START`` the process's start time in ticks since
boot (a pid reused by another process has another); ``FDS`` -1 when
/proc/PID/fd cannot be listed (another user's process without sudo).
Errors are errnos, never text: herd words them itself.  ``CHILDREN`` counts
the processes whose parent is the pid: one pass over /proc/[0-9]*/stat per
sample, whatever the number of pids asked (a few ms for a few hundred
processes).

``PID G`` asks for the process group whose id is PID (a program with
killasgroup: supervisord makes every process it starts a group leader, and
its workers inherit the group).  The answer is a ``G`` line summing the
group's members (every process whose pgid is PID, the leader included):
RSS, FDS (-1 if any member's cannot be listed) and THREADS summed,
``MEMBERS`` the members besides the leader, and ``TICKS`` every member's
utime+stime plus its cutime+cstime (the CPU of the children it reaped: a
worker that ended and was reaped by the master keeps counting, so the sum
does not drop when workers are recycled).  ``FIRST`` is that sum at the
first reading over the members seen then (a member started since adds its
whole time, all spent in between), -1 when it would exceed ``TICKS`` (a
member reaped outside the group took its time away).  A pid that is not a
group leader (it left the group supervisord gave it) is answered with a
plain ``P`` line.

Everything the agent answers is checked before use: lines are bounded and
matched exactly, the count and every pid must be the ones asked in order,
and every wait is bounded by the connection's timeout.  A violation ends the
agent (its channel is closed) as a host error.
"""

from __future__ import annotations

import errno as errnos
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Collection, Sequence, Union

from herd.ssh.agentchannel import AgentChannel, ProtocolError

MAX_PIDS = 4096                 # pids per round trip
MAX_WAIT_MS = 10_000            # the longest in-agent pause between two readings
_LINE_MAX = 256
_NUM = rb"(\d{1,20})"
_HEADER = re.compile(rb"R (\d{1,9}) (\d{1,12}) (\d{1,20}) (\d{1,20}) (\d{1,9})\n\Z")
_MAYBE = rb"(-1|\d{1,20})"       # -1: not known
_PROC = re.compile(rb"([PG]) " + b" ".join([_NUM, _NUM, _NUM, _NUM, _MAYBE, _NUM, _NUM, _MAYBE]) + rb"\n\Z")
_ERROR = re.compile(rb"E (\d{1,20}) (\d{1,5})\n\Z")
_NO_PROC = b"X\n"

AGENT_SCRIPT = r"""
import os, sys, time, errno
inp = getattr(sys.stdin, "buffer", sys.stdin)
def out(data):
    while data:
        data = data[os.write(1, data):]
def uptime():
    f = open("/proc/uptime", "rb")
    try:
        return int(round(float(f.read().split()[0]) * 100))
    finally:
        f.close()
def stat(pid):
    f = open("/proc/%d/stat" % pid, "rb")
    try:
        data = f.read()
    finally:
        f.close()
    rest = data[data.rindex(b")") + 2:].split()
    return (int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[17]), int(rest[19]), int(rest[21]),
            int(rest[2]), int(rest[13]) + int(rest[14]))
def scan(pids, groups):
    counts, members = dict((p, 0) for p in pids), dict((g, []) for g in groups)
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                s = stat(int(name))
            except (OSError, IOError, ValueError, IndexError):
                continue
            if s[0] in counts:
                counts[s[0]] += 1
            if s[5] in members:
                members[s[5]].append((int(name), s))
    return counts, members
def first_group(members):
    return dict((g, dict((m, (s[3], s[1] + s[6])) for m, s in found)) for g, found in members.items())
def group_line(pid, start, members, before, wait):
    ticks = rss = threads = fds_all = 0
    for m, s in members:
        ticks += s[1] + s[6]
        rss += max(s[4], 0)
        threads += s[2]
        n = fds(m) if fds_all >= 0 else -1
        fds_all = -1 if n < 0 else fds_all + n
    was = -1
    if wait and pid in before and before[pid][0] == start:
        now = dict((m, s[3]) for m, s in members)
        was = sum(t for m, (st, t) in before.items() if now.get(m, st) == st)
        was = was if was <= ticks else -1
    return "G %d %d %d %d %d %d %d %d\n" % (pid, start, ticks, rss, fds_all, threads, len(members) - 1, was)
def fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, IOError):
        return -1
def sample(pids, wait, groups):
    up0, first, firsts = uptime(), {}, {}
    if wait:
        for pid in pids:
            try:
                s = stat(pid)
                first[pid] = (s[3], s[1])
            except (OSError, IOError, ValueError, IndexError):
                pass
        if groups:
            firsts = first_group(scan((), groups)[1])
        time.sleep(wait / 1000.0)
    up1 = uptime() if wait else up0
    kids, members = scan(pids, groups)
    lines = []
    for pid in pids:
        try:
            ppid, ticks, threads, start, rss, pgrp, cticks = stat(pid)
        except (OSError, IOError) as e:
            lines.append("E %d %d\n" % (pid, e.errno or 0))
            continue
        except (ValueError, IndexError):
            lines.append("E %d %d\n" % (pid, errno.EINVAL))
            continue
        if pid in groups and pgrp == pid:
            lines.append(group_line(pid, start, members[pid], firsts.get(pid, {}), wait))
            continue
        before = first.get(pid, (start, ticks)) if wait else (start, ticks)
        was = before[1] if before[0] == start and before[1] <= ticks else -1
        lines.append("P %d %d %d %d %d %d %d %d\n" % (pid, start, ticks, max(rss, 0), fds(pid), threads,
                                                      kids.get(pid, 0), was))
    head = "R %d %d %d %d %d\n" % (os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE"), up0, up1, len(pids))
    return (head + "".join(lines)).encode("ascii")
linux = os.path.isfile("/proc/self/stat") and os.path.isfile("/proc/uptime")
out(b"+")
while True:
    line = inp.readline()
    if not line:
        break
    count, wait = [int(x) for x in line.split()]
    asked = [inp.readline().split() for _ in range(count)]
    pids = [int(a[0]) for a in asked]
    groups = set(int(a[0]) for a in asked if a[1:] == [b"G"])
    out(sample(pids, wait, groups) if linux else b"X\n")
""".strip()


@dataclass(frozen=True)
class ProcReading:
    """One pid as the agent read it (``first_ticks`` -1: no earlier reading of this same process);
    ``group``: the sums of its process group (``children``: the members besides it)."""

    pid: int
    start: int
    ticks: int
    rss_pages: int
    fds: int
    threads: int
    children: int
    first_ticks: int
    group: bool = False


@dataclass(frozen=True)
class ProcFailure:
    """The agent could not read the pid: ``errno`` as seen on the host (ENOENT: the process is gone)."""

    pid: int
    errno: int

    @property
    def reason(self) -> str:
        if self.errno in (errnos.ENOENT, errnos.ESRCH):
            return "process gone"
        if self.errno in (errnos.EACCES, errnos.EPERM):
            return "permission denied"
        return os.strerror(self.errno) if 0 < self.errno < 4096 else f"error {self.errno}"


ProcAnswer = Union[ProcReading, ProcFailure]


@dataclass(frozen=True)
class ProcSample:
    """One round trip's answer: the host's clock rates and uptimes, and an answer per pid asked."""

    hz: int
    page_size: int
    uptime0: int            # hundredths of a second since boot, at the first reading
    uptime1: int            # ... at the last one
    answers: tuple[ProcAnswer, ...]


class NoProc(Exception):
    """The host has no /proc (not Linux): resources cannot be read there."""


def parse_header(line: bytes, count: int) -> tuple[int, int, int, int]:
    """(hz, page_size, uptime0, uptime1) of an ``R`` line for ``count`` pids; NoProc for ``X``."""
    if line == _NO_PROC:
        raise NoProc()
    match = _HEADER.match(line)
    if not match:
        raise ProtocolError(f"unexpected answer {line[:40]!r}")
    hz, page, up0, up1, n = (int(g) for g in match.groups())
    if n != count:
        raise ProtocolError(f"{n} answers for {count} pids")
    if hz <= 0 or page <= 0 or up1 < up0:
        raise ProtocolError(f"impossible clock or page size in {line[:60]!r}")
    return hz, page, up0, up1


def parse_answer(line: bytes, pid: int, in_group: bool = False) -> ProcAnswer:
    """One pid's line, if it is about ``pid`` and consistent (ProtocolError otherwise); a ``G`` line only
    when its process group was asked for (``in_group``)."""
    match = _PROC.match(line)
    if match:
        got, start, ticks, rss, fds, threads, kids, first = (int(g) for g in match.groups()[1:])
        if got != pid:
            raise ProtocolError(f"answer for pid {got}, asked {pid}")
        if first > ticks:
            raise ProtocolError(f"CPU ticks went back ({first} then {ticks})")
        group = match.group(1) == b"G"
        if group and not in_group:
            raise ProtocolError(f"process group of pid {pid} not asked for")
        return ProcReading(pid, start, ticks, rss, fds, threads, kids, first, group)
    match = _ERROR.match(line)
    if match:
        if int(match.group(1)) != pid:
            raise ProtocolError(f"answer for pid {match.group(1).decode()}, asked {pid}")
        return ProcFailure(pid, int(match.group(2)))
    raise ProtocolError(f"unexpected answer {line[:40]!r}")


class ProcAgent(AgentChannel):
    """The client side: samples of a host's pids over the agent's channel."""

    agent = "the process reader"
    doing = "reading process resources"
    line_max = _LINE_MAX
    line_word = "line"

    def sample(self, pids: Sequence[int], *, wait: float = 0.0, groups: Collection[int] = ()) -> ProcSample:
        """One round trip: every pid read (twice, ``wait`` seconds apart, when ``wait`` > 0); for the
        pids in ``groups``, the sums of the process group they lead.

        NoProc when the host has no /proc; ConnectError/HostTimeout (the agent closed) otherwise.
        """
        if len(pids) > MAX_PIDS:
            raise ValueError(f"at most {MAX_PIDS} pids per sample")
        wait_ms = min(MAX_WAIT_MS, max(0, int(round(wait * 1000))))
        deadline = time.monotonic() + self.timeout + wait_ms / 1000
        grouped = set(groups)
        request = f"{len(pids)} {wait_ms}\n" + "".join(f"{int(p)} G\n" if p in grouped else f"{int(p)}\n"
                                                       for p in pids)
        try:
            self._send(request.encode("ascii"), deadline)
            hz, page, up0, up1 = parse_header(self._line(deadline), len(pids))
            answers = tuple(parse_answer(self._line(deadline), pid, pid in grouped) for pid in pids)
            return ProcSample(hz, page, up0, up1, answers)
        except NoProc:
            raise
        except ProtocolError as exc:
            raise self._not_understood(exc) from exc
        except BaseException:
            self.close()
            raise

def open_proc_agent(access: Any, timeout: float) -> ProcAgent:
    """Start the agent on a host (a HostAccess, herd/fleet/access.py): one exec channel, kept by its owner."""
    channel = access.open_agent(AGENT_SCRIPT, [], "process reader")
    return ProcAgent(channel, access.name, timeout)
