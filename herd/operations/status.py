"""``herd status``: every selected process on every selected host, in one round trip per host."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from herd.errors import (EXIT_INTERRUPTED, EXIT_NOT_RUNNING, EXIT_OK, EXIT_UNREACHABLE, AuthError, HerdError,
                         HostInterrupted, SupervisorAuthRefused)
from herd.fleet import Fleet, HostAccess, HostResult
from herd.supervisor import names
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessInfo, ProcessState


@dataclass(frozen=True)
class ExpectedExits:
    """The exit codes a program expects (its ``exitcodes``), and where herd learnt them."""

    codes: tuple[int, ...]
    source: str          # "exitcodes=0", or the release's default when supervisord does not say


def host_state(error: HerdError) -> str:
    """The state word of a host that could not be read: ``UNAUTHORIZED`` when SSH or supervisord refused
    herd's credentials (the host answered: not a network problem), else ``UNREACHABLE``."""
    return "UNAUTHORIZED" if isinstance(error, (AuthError, SupervisorAuthRefused)) else "UNREACHABLE"


@dataclass
class HostStatus:
    """One host's answer: its processes, the names it lacks, or why it failed.

    ``expected_exits`` (only with ``fetch_status(exits=True)``): for each
    EXITED process, the exit codes its program expects.
    """

    host: str
    processes: list[ProcessInfo] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: HerdError | None = None
    expected_exits: dict[str, ExpectedExits] = field(default_factory=dict)


@dataclass
class StatusReport:
    hosts: list[HostStatus]
    names: list[str]
    interrupted: bool = False   # Ctrl-C came first: the hosts that had not answered say so (exit 130)

    @property
    def unreachable(self) -> list[HostStatus]:
        return [h for h in self.hosts if h.error is not None and not isinstance(h.error, HostInterrupted)]

    @property
    def unanswered(self) -> list[HostStatus]:
        """Hosts a Ctrl-C came before: nothing is known to be wrong with them."""
        return [h for h in self.hosts if isinstance(h.error, HostInterrupted)]

    @property
    def processes(self) -> list[ProcessInfo]:
        return [p for h in self.hosts for p in h.processes]

    def state_counts(self) -> Counter[str]:
        return Counter(p.statename for p in self.processes)

    @property
    def exit_code(self) -> int:
        """0 all RUNNING; 3 anything else (or a name missing); 4 a host failed (wins); 130 interrupted (wins)."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.unreachable:
            return EXIT_UNREACHABLE
        if any(h.missing for h in self.hosts) or any(p.state is not ProcessState.RUNNING for p in self.processes):
            return EXIT_NOT_RUNNING
        return EXIT_OK


def fetch_status(fleet: Fleet, specs: Sequence[str], *, deadline: float | None = None,
                 exits: bool = False) -> StatusReport:
    """Ask every host for getAllProcessInfo and keep the processes ``specs`` select.

    ``deadline`` (seconds from now) bounds the whole fan-out; by default
    the fleet's read budget (the timeout: connecting and answering together).
    ``exits``: a host with an EXITED process is also asked what its programs
    expect (``herd check`` grades an expected exit apart), one more round trip there.
    """

    def task(access: HostAccess) -> HostStatus:
        client = access.client()
        chosen, missing = names.select(specs, client.all_process_info())
        exited = [p for p in chosen if p.state is ProcessState.EXITED]
        expected = expected_exits(client, exited) if exits and exited else {}
        return HostStatus(client.host, processes=chosen, missing=missing, expected_exits=expected)

    results = fleet.read(task) if deadline is None else fleet.run(task, deadline=deadline, idempotent=True)
    return status_report(results, specs)


def status_report(results: Sequence[HostResult[HostStatus]], specs: Sequence[str], *,
                  interrupted: bool = False) -> StatusReport:
    """The report of fetch_status's per-host results (also those a Ctrl-C cut short: Interrupted.results)."""
    hosts = [result.value if result.error is None and result.value is not None
             else HostStatus(result.name, error=result.error) for result in results]
    return StatusReport(hosts, list(specs), interrupted)


def expected_exits(client: SupervisorClient, exited: Sequence[ProcessInfo]) -> dict[str, ExpectedExits]:
    """The exit codes each EXITED process's program expects.

    From 4.0 getAllConfigInfo says (``exitcodes``); before, supervisord does
    not, and its default (0,2 then, 0 from 4.0) is all herd can go by.
    """
    capabilities = client.capabilities()
    default = ExpectedExits(capabilities.default_exitcodes,
                            f"exitcodes {_codes(capabilities.default_exitcodes)}: supervisord "
                            f"{capabilities.version}'s default; it does not report a program's own before 4.0")
    if not capabilities.config_fields:
        return {p.fullname: default for p in exited}
    answer = client.call("supervisor.getAllConfigInfo")
    configs = {(str(c.get("group")), str(c.get("name"))): c for c in (answer if isinstance(answer, list) else [])
               if isinstance(c, dict)}
    found: dict[str, ExpectedExits] = {}
    for process in exited:
        codes = configs.get((process.group, process.name), {}).get("exitcodes")
        if isinstance(codes, list) and all(isinstance(c, int) for c in codes):
            found[process.fullname] = ExpectedExits(tuple(codes), f"exitcodes {_codes(codes)}")
    return found


def _codes(codes: Sequence[int]) -> str:
    return ",".join(str(c) for c in codes)
