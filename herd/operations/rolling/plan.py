"""Planning a rolling restart (pure): batch sizes, host order, process order, templates.

``--batch`` takes a count (``1``), a percentage of the hosts (``25%``, rounded
down, at least 1) or a ramp list (``1,5,25%``: the first batch has 1 host,
the second 5, and every later batch 25%, the last entry repeating until the
hosts run out), as Ansible's ``serial`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Sequence

from herd.errors import UsageError

_STEP = re.compile(r"^\s*(\d+)\s*(%?)\s*$")


@dataclass(frozen=True)
class BatchStep:
    value: int
    percent: bool

    def size(self, total: int) -> int:
        if self.percent:
            return max(1, total * self.value // 100)
        return self.value

    def __str__(self) -> str:
        return f"{self.value}{'%' if self.percent else ''}"


def parse_batch(spec: str) -> list[BatchStep]:
    """``"1,5,25%"`` -> steps; UsageError naming the bad part."""
    steps = []
    for part in spec.split(","):
        match = _STEP.match(part)
        if not match:
            raise UsageError(f"--batch {spec}: '{part.strip()}' is not a count or a percentage (e.g. 1, 25%, 1,5,25%)")
        value, percent = int(match.group(1)), bool(match.group(2))
        if value < 1 or (percent and value > 100):
            raise UsageError(f"--batch {spec}: '{part.strip()}' must be at least 1" +
                             (" and at most 100%" if percent else ""))
        steps.append(BatchStep(value, percent))
    return steps


def split_batches(hosts: Sequence[str], steps: Sequence[BatchStep]) -> list[list[str]]:
    """Cut ``hosts`` (in order) into batches following the steps; the last step repeats."""
    batches: list[list[str]] = []
    rest = list(hosts)
    index = 0
    while rest:
        step = steps[min(index, len(steps) - 1)]
        size = step.size(len(hosts))
        batches.append(rest[:size])
        rest = rest[size:]
        index += 1
    return batches


def port_of(process_name: str) -> str:
    """The numeric suffix of a process name (``tornado-8081`` -> ``8081``), or ''."""
    match = re.search(r"(\d+)$", process_name)
    return match.group(1) if match else ""


def expand(template: str, **values: str) -> str:
    """Fill ``{host}``, ``{address}``, ``{port}``, ``{process}``; unknown fields are a UsageError."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        known = ", ".join("{" + k + "}" for k in values)
        raise UsageError(f"cannot fill '{template}': {exc} (known fields: {known})") from exc


ChangeKind = Literal["removed", "changed", "added"]


@dataclass(frozen=True)
class GroupChange:
    """One group of a host's pending config, as a rolling update applies it.

    supervisord applies a group's new config only by removing the group and
    adding it again, so a changed group's processes all stop together on
    that host: ``before`` are its processes now, ``after`` those of the new
    config (numprocs 4 -> 6 makes them differ), ``autostart`` the part of
    ``after`` supervisord starts on its own, ``by_hand`` the part herd starts
    because it was RUNNING before although the new config does not autostart it.
    """

    group: str
    kind: ChangeKind
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    autostart: tuple[str, ...] = ()
    by_hand: tuple[str, ...] = ()

    @property
    def gated(self) -> tuple[str, ...]:
        """The processes held to the gate once the group is (re-)added."""
        return tuple(n for n in self.after if n in self.autostart or n in self.by_hand)

    @property
    def processes(self) -> tuple[str, ...]:
        """Every process this change touches, each once: stopped for good, or started on the new config."""
        gone = tuple(n for n in self.before if self.kind == "removed" or n not in self.after)
        return gone + self.gated


@dataclass
class HostTarget:
    """One host's part of the roll: its processes in restart order (a rolling update: its group changes)."""

    host: str
    address: str
    processes: list[str]
    skipped: list[str] = field(default_factory=list)  # unhealthy at pre-flight, left alone
    post_hook_pending: bool = False  # a resumed roll left this host drained: run its post-hook
    down: list[str] = field(default_factory=list)  # not RUNNING at pre-flight
    changes: list[GroupChange] = field(default_factory=list)  # a rolling update's, in the order applied


@dataclass
class RollPlan:
    name: str
    batches: list[list[HostTarget]]
    without_name: list[str]  # selected hosts that do not run NAME
    per_host: int
    held_back: list[HostTarget] = field(default_factory=list)  # unhealthy hosts left alone (--skip-unhealthy)
    order: list[str] = field(default_factory=list)  # every selected host, inventory order
    update: bool = False  # a rolling update (config changes) rather than a restart
    warnings: list[str] = field(default_factory=list)  # told with the plan; they do not stop the roll

    @property
    def targets(self) -> list[HostTarget]:
        return [t for batch in self.batches for t in batch]


def chunks(items: Sequence[str], size: int) -> list[list[str]]:
    """Processes of a host restarted together (``--per-host``)."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)]
