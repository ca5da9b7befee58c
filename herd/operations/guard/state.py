"""Guard's open incidents on disk, so that a restart of guard neither repeats an alert nor loses a recovery.

One JSON file per (inventory, selection), written atomically (herd/files.py)
whenever an incident changes: each incident with its hosts, and whether its
opening was sent.  A guard started again loads it, settles each host on its
first poll (still FATAL: nothing sent; RUNNING again: the recovery is sent),
and goes on.

The remediation's cooldowns (remedy.py: when each process was last
restarted) are kept in the same file, under ``cooldowns``, written only when
there are some: a file without them (an older guard's) reads as none.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from herd.files import write_atomically
from herd.operations.guard.incidents import Affected, Incident

SCHEMA = 1


def default_state_path(inventory: str, hosts: Sequence[str]) -> Path:
    """$XDG_STATE_HOME/herd/guard/<hash of the inventory path and the selected hosts>.json."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    key = os.path.abspath(inventory) + "\0" + "\0".join(sorted(hosts))
    return base / "herd" / "guard" / f"guard-{hashlib.sha1(key.encode()).hexdigest()[:12]}.json"


class GuardStateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.cooldowns: dict[tuple[str, str], float] = {}    # (host, process) -> last restart (load/save)

    def load(self) -> list[Incident]:
        """The incidents saved, or none; ValueError (one sentence) for a file herd did not write."""
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read guard state {self.path}: {exc}") from exc
        try:
            if data.get("schema") != SCHEMA:
                raise TypeError(f"schema {data.get('schema')!r}, not {SCHEMA}")
            incidents = []
            for raw in data["incidents"]:
                hosts = {h: Affected(**a) for h, a in raw.pop("hosts").items()}
                incidents.append(Incident(**raw, hosts=hosts))
            self.cooldowns = {(str(c["host"]), str(c["process"])): float(c["at"])
                              for c in data.get("cooldowns", [])}
            return incidents
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"cannot read guard state {self.path}: not a guard state herd wrote ({exc})") from exc

    def save(self, incidents: list[Incident], cooldowns: dict[tuple[str, str], float] | None = None) -> None:
        """Write ``incidents`` and ``cooldowns`` (None: those loaded or saved last, kept as they were)."""
        if cooldowns is not None:
            self.cooldowns = dict(cooldowns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {"schema": SCHEMA, "incidents": [asdict(i) for i in incidents]}
        if self.cooldowns:
            data["cooldowns"] = [{"host": host, "process": process, "at": at}
                                 for (host, process), at in sorted(self.cooldowns.items())]
        write_atomically(self.path, json.dumps(data, indent=1), mode=0o600)
