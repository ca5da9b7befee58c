"""The audit trail: who changed what, when, on which hosts, and how it ended; one file for the CLI and the page.

One JSON object per line, appended; by default ``$XDG_STATE_HOME/herd/audit.jsonl``
(``~/.local/state/herd/audit.jsonl``), ``$HERD_AUDIT_LOG`` overrides it, ``herd web
--audit-log FILE`` too.  Each entry::

    {"time": "2026-12-04T21:03:11.402+00:00", "user": "alice", "via": "cli", "from": "ops1",
     "action": "restart", "targets": {"names": ["worker"]},
     "hosts": {"web01": ["web01 worker started"], "summary": ["1 host: 1 started"]},
     "result": "done", "exit_code": 0}

``via``: ``cli`` (a herd command, its user the local account), ``token``, ``proxy``, ``password``
(the page, by how its user was named: herd/web/security.py) or ``guard`` (herd guard's
remediation).  ``from``: the controller's host name for the CLI, the client's address for the
page.  ``env``: the page's environment when it serves several.  ``result``: ``done``,
``refused: WHY``, ``failed: WHY``, ``interrupted: WHAT WAS LEFT`` (the page also says ``needs
confirmation``).

Several processes append to one file (every ``herd`` command, ``herd web``, ``herd guard``):
each entry is one ``write`` on an ``O_APPEND`` descriptor (never interleaved with another's),
and the size check and the rotation (``audit.jsonl`` -> ``.1`` ... ``.KEEP``) happen under an
``flock`` of ``audit.jsonl.lock`` that every writer takes, so no entry goes to a file being
renamed and none is lost.  The file is created 0600 in a 0700 directory.

Never a secret: keys that name one (token, password, cookie, csrf, authorization, ...) are
dropped at any depth, and ``token=...``-like parts and bearer credentials in strings are masked.

A trail that cannot be written does not stop what is being recorded: it says so once on stderr.

Below the CLI and the web (imports neither): both, and herd guard, write through it.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

MAX_BYTES = 10 * 1024 * 1024
KEEP = 5
READ_BLOCK = 64 * 1024
MAX_LIMIT = 1000
SECRET_KEY = re.compile(r"(?i)pass(word|wd|phrase)?$|secret|token|cookie|csrf|authori[sz]ation|api[-_]?key|"
                        r"private[-_]?key|credential|^sid$|session[-_]?id")
SECRET_VALUE = re.compile(r"(?i)\b((?:access[-_]?|api[-_]?|auth[-_]?)?(?:token|password|passwd|secret|key|sid)=)"
                          r"[^&\s;'\"]+")
BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
MASK = "<hidden>"


def default_audit_path() -> Path:
    """``$HERD_AUDIT_LOG``, else ``$XDG_STATE_HOME/herd/audit.jsonl`` (``~/.local/state/herd/audit.jsonl``)."""
    chosen = os.environ.get("HERD_AUDIT_LOG")
    if chosen:
        return Path(chosen).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "herd" / "audit.jsonl"


def local_account() -> str:
    """The account running herd: the CLI's user in the trail, and the page token's holder."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def controller() -> str:
    """This machine's name: where a CLI command ran from."""
    try:
        return socket.gethostname()
    except OSError:
        return ""


def now() -> str:
    """ISO 8601, UTC, milliseconds: sorts as text and reads in any time zone."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def scrub(value: Any) -> Any:
    """``value`` without anything that looks like a secret (see the module's docstring)."""
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items() if not SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return BEARER.sub(lambda m: f"{m.group(1)} {MASK}", SECRET_VALUE.sub(lambda m: m.group(1) + MASK, value))
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub(str(value))


def _scrub_hosts(hosts: Mapping[str, Any]) -> dict[str, Any]:
    return {str(h): scrub(lines) for h, lines in hosts.items()}


def host_lines(lines: Sequence[str], hosts: Iterable[str] = ()) -> dict[str, list[str]]:
    """Result lines as printed, per host: ``{"web01": ["web01 worker stopped"], "summary": [...]}``.

    A line belongs to the host it starts with; an indented line (a roll's process lines) to the
    host above it; the last line is the summary.  Whitespace is squeezed (columns mean nothing
    in the file).  Every host of ``hosts`` gets an entry, empty when no line named it.
    """
    known = list(hosts)
    grouped: dict[str, list[str]] = {h: [] for h in known}
    current: str | None = None
    body, summary = (lines[:-1], lines[-1:]) if lines else ([], [])
    for line in body:
        words = line.split()
        if not words:
            continue
        if not line[:1].isspace() and (not known or words[0] in grouped):
            current = words[0]
        if current is not None:
            grouped.setdefault(current, []).append(" ".join(words))
    if summary:
        grouped["summary"] = [" ".join(summary[0].split())]
    return grouped


def entry_hosts(entry: Mapping[str, Any]) -> set[str]:
    """The hosts an entry names: its per-host results, else its targets' hosts."""
    found: set[str] = set()
    hosts = entry.get("hosts")
    if isinstance(hosts, Mapping):
        found.update(str(h) for h in hosts if h != "summary")
    targets = entry.get("targets")
    if isinstance(targets, Mapping):
        listed = targets.get("hosts")
        if isinstance(listed, list):
            found.update(str(h) for h in listed)
        targets = targets.get("targets")
    if isinstance(targets, list):
        found.update(str(t["host"]) for t in targets if isinstance(t, Mapping) and t.get("host"))
    return found


@dataclass(frozen=True)
class AuditFilter:
    """What ``read`` keeps: each given field must match (case-insensitive).

    ``user`` and ``action`` exactly; ``host`` among the entry's hosts; ``result`` as a prefix
    (``refused`` finds every refusal); ``q`` anywhere in the entry; ``env``: that environment's
    entries and those that name none (the CLI's).
    """

    user: str = ""
    action: str = ""
    host: str = ""
    result: str = ""
    q: str = ""
    env: str = ""

    def matches(self, entry: Mapping[str, Any]) -> bool:
        if self.user and str(entry.get("user", "")).lower() != self.user.lower():
            return False
        if self.action and str(entry.get("action", "")).lower() != self.action.lower():
            return False
        if self.result and not str(entry.get("result", "")).lower().startswith(self.result.lower()):
            return False
        if self.env and entry.get("env") not in (None, self.env):
            return False
        if self.host and self.host.lower() not in {h.lower() for h in entry_hosts(entry)}:
            return False
        if self.q and self.q.lower() not in json.dumps(entry, ensure_ascii=False).lower():
            return False
        return True


def stderr_warning(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class AuditTrail:
    """Appends entries to ``path`` (rotated at ``max_bytes``, ``keep`` old files) and reads them back.

    ``warn`` is told, once per trail, when an entry cannot be written (a read-only disk, a
    full one): the change itself goes on.
    """

    def __init__(self, path: Path | str, max_bytes: int = MAX_BYTES, keep: int = KEEP,
                 warn: Callable[[str], None] = stderr_warning) -> None:
        self.path = Path(path)
        self.max_bytes = max(1, int(max_bytes))
        self.keep = max(0, int(keep))
        self.warn = warn
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._thread_lock = threading.Lock()
        self._warned = False

    # -- writing --------------------------------------------------------------------------

    def record(self, action: str, targets: Any, result: str, *, user: str = "", via: str = "",
               client: str = "", env: str | None = None, hosts: Mapping[str, list[str]] | None = None,
               exit_code: int | None = None, **extra: Any) -> dict[str, Any]:
        """Append one entry (``client``: the ``from`` field); returns it as written."""
        entry: dict[str, Any] = {"time": now(), "user": user, "via": via, "from": client}
        if env is not None:
            entry["env"] = env
        entry.update(action=action, targets=targets)
        if hosts is not None:       # keyed by host name (never dropped, even a host named "token-db")
            entry["hosts"] = {str(h): list(lines) for h, lines in hosts.items()}
        entry["result"] = result
        if exit_code is not None:
            entry["exit_code"] = exit_code
        entry.update(extra)
        entry = {key: (_scrub_hosts(value) if key == "hosts" else scrub(value))
                 for key, value in entry.items() if not SECRET_KEY.search(key)}
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode()
        try:
            self._append(line)
        except OSError as exc:
            self._failed(exc)
        return entry

    def check(self) -> None:
        """Raise OSError now if entries could not be written (``herd web`` refuses to start unaudited)."""
        self._directory()
        os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600))
        os.close(os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))

    def close(self) -> None:
        """Nothing stays open between entries (each is written through its own descriptor)."""

    def _directory(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except FileExistsError:
            pass                                # not a directory: opening the file below says so

    def _append(self, line: bytes) -> None:
        """Under the lock every writer takes: rotate if this line would pass the size, then one write."""
        self._directory()
        with self._thread_lock:
            lock = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    size = os.stat(self.path).st_size
                except FileNotFoundError:
                    size = 0
                if size and size + len(line) > self.max_bytes:
                    self._rotate()
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    written = os.write(fd, line)
                    while written < len(line):      # only on a nearly full disk; still whole lines
                        written += os.write(fd, line[written:])
                finally:
                    os.close(fd)
            finally:
                os.close(lock)                      # releases the flock

    def _rotate(self) -> None:
        """``path.(keep-1)`` -> ``path.keep`` ... ``path`` -> ``path.1``; the oldest beyond ``keep`` goes."""
        if self.keep == 0:
            os.unlink(self.path)
            return
        for number in range(self.keep - 1, 0, -1):
            older = self._numbered(number)
            if older.exists():
                os.replace(older, self._numbered(number + 1))
        os.replace(self.path, self._numbered(1))

    def _numbered(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")

    def _failed(self, exc: OSError) -> None:
        if self._warned:
            return
        self._warned = True
        reason = exc.strerror or type(exc).__name__
        self.warn(f"herd: cannot write the audit trail {self.path}: {reason}; this change and later ones "
                  "are not recorded there")

    # -- reading --------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The current file, then the rotated ones, newest first."""
        return [self.path, *(self._numbered(n) for n in range(1, self.keep + 1))]

    def read(self, filters: AuditFilter | None = None, limit: int = 100,
             where: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` entries matching ``filters`` (and ``where``), newest first, across the rotated files.

        Each file is read backwards a block at a time and the reading stops at ``limit``:
        memory holds what is returned and one block.  A line that is not a JSON object
        (a torn disk, an edit) is skipped.  The files are opened under the writers' lock, so
        a rotation meanwhile neither hides entries nor shows them twice.
        """
        limit = max(1, min(int(limit), MAX_LIMIT))
        chosen = filters or AuditFilter()
        found: list[dict[str, Any]] = []
        fds = self._open_all()
        try:
            for fd in fds:
                for raw in _lines_backwards(fd):
                    entry = _parse(raw)
                    if entry is None or not chosen.matches(entry) or (where is not None and not where(entry)):
                        continue
                    found.append(entry)
                    if len(found) >= limit:
                        return found
            return found
        finally:
            for fd in fds:
                os.close(fd)

    def _open_all(self) -> list[int]:
        fds: list[int] = []
        try:
            lock = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            lock = None                         # nothing was ever written here, or not readable: read as is
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_SH)
            for path in self.files():
                try:
                    fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
                except (FileNotFoundError, NotADirectoryError):
                    continue
        finally:
            if lock is not None:
                os.close(lock)
        return fds


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return entry if isinstance(entry, dict) else None


def _lines_backwards(fd: int, block: int = READ_BLOCK) -> Iterator[bytes]:
    """The file's non-empty lines, last first, reading ``block`` bytes at a time from its end."""
    position = os.fstat(fd).st_size
    tail = b""
    while position > 0:
        step = min(block, position)
        position -= step
        chunk = os.pread(fd, step, position) + tail
        parts = chunk.split(b"\n")
        tail = parts[0]                         # may continue in the block before
        for part in reversed(parts[1:]):
            if part.strip():
                yield part
    if tail.strip():
        yield tail
