"""Typed views of what supervisord returns: process states and process info."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Mapping


class ProcessState(enum.IntEnum):
    """supervisor.states.ProcessStates."""

    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200
    UNKNOWN = 1000

    @classmethod
    def parse(cls, value: int) -> "ProcessState":
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class ProcessInfo:
    """One entry of getAllProcessInfo/getProcessInfo."""

    name: str
    group: str
    state: ProcessState
    pid: int
    start: int
    stop: int
    now: int
    description: str = ""
    spawnerr: str = ""
    exitstatus: int = 0
    stdout_logfile: str = ""
    stderr_logfile: str = ""

    @classmethod
    def from_rpc(cls, info: Mapping[str, Any]) -> "ProcessInfo":
        return cls(
            name=str(info.get("name", "")),
            group=str(info.get("group", "")),
            state=ProcessState.parse(int(info.get("state", 1000))),
            pid=int(info.get("pid", 0) or 0),
            start=int(info.get("start", 0) or 0),
            stop=int(info.get("stop", 0) or 0),
            now=int(info.get("now", 0) or 0),
            description=str(info.get("description", "") or ""),
            spawnerr=str(info.get("spawnerr", "") or ""),
            exitstatus=int(info.get("exitstatus", 0) or 0),
            stdout_logfile=str(info.get("stdout_logfile", "") or ""),
            stderr_logfile=str(info.get("stderr_logfile", "") or ""),
        )

    @property
    def fullname(self) -> str:
        """The name as supervisorctl prints it: ``worker`` or ``tornado:tornado-8080``."""
        return self.name if self.name == self.group else f"{self.group}:{self.name}"

    @property
    def statename(self) -> str:
        return self.state.name

    @property
    def uptime(self) -> int | None:
        """Seconds since start while RUNNING, else None."""
        if self.state is ProcessState.RUNNING and self.start:
            return max(0, self.now - self.start)
        return None
