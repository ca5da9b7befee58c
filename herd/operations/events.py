"""STAND-IN for F's herd/operations/events.py (issue 24): the interface of common24.md, minimal.

Replaced by F's "events: model" commit when it lands; only guard's tests use it meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from herd.operations.poller import HostSnapshot


@dataclass(frozen=True)
class FleetEvent:
    time: float
    host: str
    kind: Literal["state", "gone", "added", "host-down", "host-up"]
    process: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    expected: bool | None = None
    exitstatus: int | None = None
    pid: int = 0
    detail: str = ""


def events_between(before: HostSnapshot | None, after: HostSnapshot, now: float) -> list[FleetEvent]:
    if before is None:
        return [FleetEvent(now, after.host, "host-down", detail=after.error)] if after.error is not None else []
    if before.error is None and after.error is not None:
        return [FleetEvent(now, after.host, "host-down", detail=after.error)]
    events: list[FleetEvent] = []
    if before.error is not None and after.error is None:
        events.append(FleetEvent(now, after.host, "host-up"))
    old = {p.fullname: p for p in before.processes}
    new = {p.fullname: p for p in after.processes}
    for name, p in new.items():
        o = old.get(name)
        if o is None:
            if before.error is None:
                events.append(FleetEvent(now, after.host, "added", name, None, p.statename, pid=p.pid))
        elif o.statename != p.statename:
            expected = (p.exitstatus == 0) if p.statename == "EXITED" else None
            events.append(FleetEvent(now, after.host, "state", name, o.statename, p.statename, expected,
                                     p.exitstatus if p.statename == "EXITED" else None, p.pid,
                                     p.spawnerr or p.description))
    if after.error is None and before.error is None:
        events += [FleetEvent(now, after.host, "gone", name, o.statename) for name, o in old.items() if name not in new]
    return events
