"""The audit log of ``herd web``: one JSON object per line for every change asked for.

Default path ``$XDG_STATE_HOME/herd/web-audit.jsonl`` (so
``~/.local/state/herd/web-audit.jsonl``), or ``--audit-log FILE``.  Each
line: ``time`` (ISO 8601, UTC), ``action``, ``targets``, ``client`` (the
peer address), ``result`` (``done``, ``refused: <why>`` or ``failed: <why>``)
and, for actions that ran, ``hosts``: the per-host result lines as the CLI
prints them.  Refused attempts (no CSRF token, read-only, ...) are logged
too.  Never a token, a password or a cookie.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
from pathlib import Path
from typing import Any


def default_audit_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "herd" / "web-audit.jsonl"


class AuditLog:
    """Appends one line per entry, flushed at once (a crash loses nothing already said)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def record(self, action: str, targets: Any, result: str, *, client: str = "",
               hosts: dict[str, list[str]] | None = None, **extra: Any) -> None:
        entry: dict[str, Any] = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "action": action, "targets": targets, "client": client, "result": result,
        }
        if hosts is not None:
            entry["hosts"] = hosts
        entry.update(extra)
        line = json.dumps(entry, ensure_ascii=True, default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
