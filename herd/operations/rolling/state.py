"""The roll's progress on disk, so that an interrupted or halted roll can be resumed.

One JSON file per (inventory, NAME), written atomically after every process:
which hosts are done, which processes of the host in flight are done (and
which failed the gate: ``--resume`` retries them), whether each host's
pre-hook ran without its post-hook (a host left drained from its load
balancer, which ``--resume`` must put back), and the roll's options -- the
gate above all -- so that ``--resume`` runs with them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from herd.errors import UsageError
from herd.files import write_atomically


ProgressStatus = Literal["pending", "in-progress", "done", "failed"]


@dataclass
class HostProgress:
    status: ProgressStatus = "pending"
    done: list[str] = field(default_factory=list)
    pre_hook: bool = False       # ran and succeeded
    post_hook: bool = False
    failed: list[str] = field(default_factory=list)  # failed the gate: --resume retries them first


@dataclass
class RollState:
    name: str
    inventory: str
    started: float = field(default_factory=time.time)
    finished: bool = False
    outcome: str = ""            # done, halted, interrupted
    hosts: dict[str, HostProgress] = field(default_factory=dict)
    # the roll's options as roll_options takes them (options.recorded): --resume runs behind the same gate
    options: dict[str, Any] = field(default_factory=dict)

    def host(self, name: str) -> HostProgress:
        return self.hosts.setdefault(name, HostProgress())


def default_state_path(inventory: str, name: str) -> Path:
    """~/.local/state/herd/rolling/<name>-<hash of the inventory path>.json (XDG_STATE_HOME honoured)."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha1(os.path.abspath(inventory).encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return base / "herd" / "rolling" / f"{safe}-{digest}.json"


class StateFile:
    """Load and atomically save a RollState."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> RollState | None:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read roll state {self.path}: {exc}") from exc
        try:
            hosts = {h: HostProgress(**p) for h, p in data.pop("hosts", {}).items()}
            state = RollState(**data, hosts=hosts)
            if not isinstance(state.options, dict):
                raise TypeError(f"options must be a mapping, not {type(state.options).__name__}")
            return state
        except (AttributeError, TypeError) as exc:  # valid JSON, but not a roll state (edited, or not herd's)
            raise ValueError(f"cannot read roll state {self.path}: not a roll state herd wrote ({exc})") from exc

    def save(self, state: RollState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(asdict(state), indent=1), mode=0o600)


def open_roll_state(inventory_path: str, name: str, state_file: str | None, *, resume: bool, fresh: bool,
                    dry_run: bool) -> tuple[StateFile, RollState]:
    """Where a roll of NAME records progress, and the state it starts from (CLI and herd web).

    An unfinished roll of NAME must be resumed or explicitly started over;
    ``resume`` without one is a usage error.
    """
    saved = StateFile(Path(state_file) if state_file else default_state_path(inventory_path, name))
    try:
        existing = saved.load()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    unfinished = existing is not None and not existing.finished and existing.name == name
    if resume:
        if existing is None or not unfinished:
            raise UsageError(f"nothing to resume: no unfinished roll of {name} in {saved.path}")
        return saved, existing
    if existing is not None and unfinished and not fresh and not dry_run:
        raise UsageError(f"an unfinished roll of {name} exists ({existing.outcome or 'in progress'}; "
                         f"{saved.path}): continue it with --resume, or start over with --fresh")
    return saved, RollState(name, inventory_path)
