"""``herd status``: every selected process on every selected host, in one round trip per host."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from herd.errors import EXIT_NOT_RUNNING, EXIT_OK, EXIT_UNREACHABLE, HerdError
from herd.fleet import Fleet
from herd.supervisor import names
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessInfo, ProcessState


@dataclass
class HostStatus:
    """One host's answer: its processes, the names it lacks, or why it failed."""

    host: str
    processes: list[ProcessInfo] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: HerdError | None = None


@dataclass
class StatusReport:
    hosts: list[HostStatus]
    names: list[str]

    @property
    def unreachable(self) -> list[HostStatus]:
        return [h for h in self.hosts if h.error is not None]

    @property
    def processes(self) -> list[ProcessInfo]:
        return [p for h in self.hosts for p in h.processes]

    def state_counts(self) -> Counter[str]:
        return Counter(p.statename for p in self.processes)

    @property
    def exit_code(self) -> int:
        """0 all RUNNING; 3 anything else (or a name missing); 4 a host failed (wins)."""
        if self.unreachable:
            return EXIT_UNREACHABLE
        if any(h.missing for h in self.hosts) or any(p.state is not ProcessState.RUNNING for p in self.processes):
            return EXIT_NOT_RUNNING
        return EXIT_OK


def fetch_status(fleet: Fleet, specs: Sequence[str], *, deadline: float | None = None) -> StatusReport:
    """Ask every host for getAllProcessInfo and keep the processes ``specs`` select.

    ``deadline`` (seconds from now) bounds the whole fan-out; by default
    the fleet's read budget (the timeout: connecting and answering together).
    """

    def task(client: SupervisorClient) -> tuple[list[ProcessInfo], list[str]]:
        return names.select(specs, client.all_process_info())

    results = fleet.read(task) if deadline is None else fleet.run(task, deadline=deadline, idempotent=True)
    hosts = []
    for result in results:
        if result.error is not None or result.value is None:
            hosts.append(HostStatus(result.name, error=result.error))
        else:
            chosen, missing = result.value
            hosts.append(HostStatus(result.name, processes=chosen, missing=missing))
    return StatusReport(hosts, list(specs))
