"""``herd check``: what is wrong on the fleet, graded for Nagios/Icinga, cron and Prometheus.

Built on :func:`herd.operations.status.fetch_status` (one getAllProcessInfo
per host): :func:`evaluate` turns its report into a list of problems, each
with a severity from the inventory's ``check.severity`` table, and is pure so
that the grading rules are tested without a fleet.

What is a problem (the kind is the key of ``check.severity``):

* ``unreachable``: the host could not be checked (SSH, supervisord, timeout);
* a process in any state but RUNNING: ``stopped``, ``starting``, ``backoff``,
  ``stopping``, ``exited``, ``fatal``, ``unknown``; an EXITED process whose
  exit status its program expects (``exitcodes``: 0,2 by default before
  supervisord 4.0, 0 since) is ``exited_expected`` rather than ``exited``;
* ``missing``: a name under ``expect.<target>.running`` matches no process
  on the host;
* ``flapping``: a RUNNING process younger than ``expect.<target>.min_uptime``.

A kind graded ``ok`` is not a problem, except for a process that an
``expect ... running`` entry requires: that one is at least a WARNING when it
is not RUNNING, so silencing a state cannot hide a required program.
"""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass, field
from typing import Any

from herd.fleet import Fleet
from herd.inventory.model import Expectation, Inventory
from herd.operations.resources import HostResources, fetch_resources
from herd.operations.status import ExpectedExits, HostStatus, StatusReport, fetch_status, host_state
from herd.supervisor import names
from herd.supervisor.models import ProcessInfo, ProcessState


class Severity(enum.IntEnum):
    """Nagios plugin states; the value is the plugin's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @classmethod
    def from_level(cls, level: str) -> "Severity":
        """``ok``/``warning``/``critical`` as the inventory writes them."""
        return cls[level.upper()]


@dataclass(frozen=True)
class Problem:
    """One thing wrong on one host.

    ``process`` is the process as supervisorctl prints it, the expected name
    for ``missing``, and None when the whole host is the problem.  ``state``
    is UNREACHABLE, MISSING, or the process's state name (RUNNING for
    ``flapping``).
    """

    host: str
    process: str | None
    state: str
    kind: str
    severity: Severity
    reason: str

    @property
    def short(self) -> str:
        """``web02 tornado:tornado-8081 STOPPED``, ``web04 unreachable``: for the first line."""
        if self.kind == "unreachable":
            return f"{self.host} {self.state.lower()}"
        what = {"missing": "missing", "flapping": "flapping"}.get(self.kind, self.state)
        return f"{self.host} {self.process} {what}"

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "process": self.process, "state": self.state,
                "severity": self.severity.name, "kind": self.kind, "reason": self.reason}


@dataclass
class CheckReport:
    """The outcome of one check: what was read, what is wrong, how long it took.

    ``error`` is set when the check could not run at all (UNKNOWN): then
    ``status`` is None and there are no problems.
    """

    status: StatusReport | None
    problems: list[Problem] = field(default_factory=list)
    duration: float = 0.0
    finished: float = field(default_factory=time.time)
    error: str | None = None
    resources: dict[str, HostResources] | None = None   # per host that answered, with ``--resources``

    @classmethod
    def unknown(cls, error: str, duration: float = 0.0) -> "CheckReport":
        return cls(status=None, error=error, duration=duration)

    @property
    def severity(self) -> Severity:
        if self.error is not None:
            return Severity.UNKNOWN
        return max((p.severity for p in self.problems), default=Severity.OK)

    @property
    def exit_code(self) -> int:
        return int(self.severity)

    def ordered_problems(self) -> list[Problem]:
        """Most severe first, then in inventory and supervisord order."""
        return sorted(self.problems, key=lambda p: -p.severity)

    def counts(self) -> dict[str, int]:
        hosts = self.status.hosts if self.status is not None else []
        processes = [p for h in hosts for p in h.processes]
        running = sum(1 for p in processes if p.state is ProcessState.RUNNING)
        return {
            "hosts": len(hosts),
            "hosts_unreachable": sum(1 for h in hosts if h.error is not None),
            "processes": len(processes),
            "processes_running": running,
            "processes_not_running": len(processes) - running,
            "problems": len(self.problems),
            "warning": sum(1 for p in self.problems if p.severity is Severity.WARNING),
            "critical": sum(1 for p in self.problems if p.severity is Severity.CRITICAL),
        }


def run_check(fleet: Fleet, inventory: Inventory, *, deadline: float, resources: bool = False,
              wait: float = 0.0) -> CheckReport:
    """Read every selected host within ``deadline`` seconds and grade what came back.

    ``resources``: each host's processes' resources too (herd/operations/resources.py), CPU % over
    ``wait`` seconds, one more round trip per host; without it the check costs what it always did.
    """
    start = time.monotonic()
    if not resources:
        status = fetch_status(fleet, [], deadline=deadline, exits=True)
        return CheckReport(status, evaluate(status, inventory), duration=time.monotonic() - start)
    found = fetch_resources(fleet, [], wait=wait, deadline=deadline, exits=True)
    return CheckReport(found.status, evaluate(found.status, inventory), duration=time.monotonic() - start,
                       resources=found.resources)


# --------------------------------------------------------------------------
# Grading (pure)
# --------------------------------------------------------------------------

def evaluate(status: StatusReport, inventory: Inventory) -> list[Problem]:
    """Every problem in ``status``, host by host in the report's order."""
    severity = inventory.check.severity
    problems: list[Problem] = []
    for host in status.hosts:
        problems.extend(_host_problems(host, inventory.expectations_for(host.host), severity))
    return problems


def _host_problems(host: HostStatus, entries: list[Expectation],
                   severity: Any) -> list[Problem]:
    if host.error is not None:
        reason = host.error.reason
        return [Problem(host.host, None, host_state(host.error), "unreachable",
                        Severity.from_level(severity["unreachable"]), reason)]
    problems = _missing(host, entries, severity)
    for process in host.processes:
        problem = _process_problem(host, process, entries, severity)
        if problem is not None:
            problems.append(problem)
    return problems


def _missing(host: HostStatus, entries: list[Expectation], severity: Any) -> list[Problem]:
    """A required name that matches no process of the host (each name once)."""
    level = Severity.from_level(severity["missing"])
    problems: list[Problem] = []
    seen: set[str] = set()
    for entry in entries:
        for spec in entry.running:
            if spec in seen or any(names.matches(spec, p) for p in host.processes):
                continue
            seen.add(spec)
            if level > Severity.OK:
                problems.append(Problem(host.host, spec, "MISSING", "missing", level,
                                        f"no such program on the host (required by expect.{entry.target})"))
    return problems


def _process_problem(host_status: HostStatus, process: ProcessInfo, entries: list[Expectation],
                     severity: Any) -> Problem | None:
    host = host_status.host
    requiring = [e for e in entries if any(names.matches(s, process) for s in e.running)]
    if process.state is not ProcessState.RUNNING:
        kind = process.statename.lower()
        expected = host_status.expected_exits.get(process.fullname)
        if expected is not None and process.exitstatus in expected.codes:
            kind = "exited_expected"
        level = Severity.from_level(severity[kind])
        if requiring:
            level = max(level, Severity.WARNING)
        if level is Severity.OK:
            return None
        reason = _state_reason(process, expected)
        if requiring:
            reason += f" (required by expect.{requiring[0].target})"
        return Problem(host, process.fullname, process.statename, kind, level, reason)
    # min_uptime applies to the processes an entry names, or to all of them without `running`
    limits = [(e.min_uptime, e) for e in entries
              if e.min_uptime and (not e.running or e in requiring)]
    if not limits or process.uptime is None:
        return None
    min_uptime, entry = max(limits, key=lambda pair: pair[0])
    level = Severity.from_level(severity["flapping"])
    if process.uptime >= min_uptime or level is Severity.OK:
        return None
    return Problem(host, process.fullname, process.statename, "flapping", level,
                   f"RUNNING for {process.uptime} s, less than min_uptime {min_uptime} s "
                   f"(expect.{entry.target})")


# supervisord's description of a STOPPED process that ran: when it stopped ("Dec 04 01:34 AM")
STOP_TIME = re.compile(r"[A-Z][a-z]{2} +\d{1,2} +\d{1,2}:\d{2} +[AP]M")


def _state_reason(process: ProcessInfo, expected: ExpectedExits | None = None) -> str:
    """What supervisord says about a process that is not RUNNING, in one line."""
    detail = process.spawnerr or process.description
    if process.state is ProcessState.EXITED:
        if expected is not None:
            word = "expected" if process.exitstatus in expected.codes else "unexpected"
            detail = f"exit status {process.exitstatus}, {word} ({expected.source})" + (f", {detail}" if detail else "")
        else:
            detail = f"exit status {process.exitstatus}" + (f", {detail}" if detail else "")
    if process.state is ProcessState.STOPPED and STOP_TIME.fullmatch(detail.strip()):
        return " ".join(f"{process.statename} since {detail}".split())     # supervisord's stop time, not a reason
    text = f"{process.statename}: {detail}" if detail else process.statename
    return " ".join(text.split())
