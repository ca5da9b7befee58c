"""What a command that acts on hosts reports: one line per host and thing, and an exit code.

Shared by the control and config commands (and the shell), so that every
action renders and exits the same way: a result word for what happened
(``stopped``, ``already started``), or an error sentence for what failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from herd.errors import EXIT_INTERRUPTED, HerdError, exit_code_for


@dataclass
class Outcome:
    """What happened to one process or group on one host.

    ``result`` says what was done (or, with ``error`` set, what was tried);
    ``error`` is a plain sentence when it failed.  ``changed`` is False for
    no-ops such as "already started".  ``detail`` adds context to a result
    (``(RUNNING, pid 880)``) without changing how results are counted.
    """

    name: str
    result: str = ""
    error: str | None = None
    changed: bool = True
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class HostOutcomes:
    """A host's outcomes, or the error that kept herd from acting on it."""

    host: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: HerdError | None = None


@dataclass
class LeftStopped:
    """Processes a command cut short by Ctrl-C stopped and did not start again, on one host.

    ``certain`` is False when the host had not answered by the time herd
    stopped waiting: herd asked these to stop, and cannot say whether they are.
    """

    host: str
    names: list[str]
    certain: bool = True


@dataclass
class ActionReport:
    """Every host's outcomes for one command."""

    action: str
    hosts: list[HostOutcomes]
    dry_run: bool = False
    informational: bool = False  # results are values (pids, versions), not things done
    interrupted: bool = False    # Ctrl-C/SIGTERM cut the command short (exit 130)
    left_stopped: list[LeftStopped] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 all done; 4 a host unreachable (wins); 1 something failed on a reachable host;
        5 a host's supervisord release lacks what was asked (herd.errors.exit_code_for);
        130 interrupted (wins over all)."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return exit_code_for((h.error for h in self.hosts if h.error is not None),
                             any(not o.ok for h in self.hosts for o in h.outcomes))

    def counts(self) -> dict[str, int]:
        """How many outcomes per result word (failures counted as ``failed``)."""
        counts: dict[str, int] = {}
        for host in self.hosts:
            for outcome in host.outcomes:
                key = outcome.result if outcome.ok else "failed"
                counts[key] = counts.get(key, 0) + 1
        return counts
