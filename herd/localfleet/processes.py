"""The test fleet's processes: start them, recognise them, reap them (/proc based, Linux only).

sshd and supervisord are started as our own children in their own sessions
(so the recorded pid is the real one, and they outlive a ``herd demo`` that
started them).  Stopping verifies /proc/PID/cmdline before signalling, also
stops every descendant (sshd session processes, supervised programs), and
waits until they are all gone; the Reaper collects our own children's exit
status on the way, so none lingers as a zombie that still looks alive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator


def backoff(first: float = 0.02, factor: float = 1.5, limit: float = 0.5) -> Iterator[float]:
    """Endless polling delays: short at first (fast on an idle machine), then
    longer, so 100 hosts waiting at once do not flood a small machine."""
    delay = first
    while True:
        yield delay
        delay = min(delay * factor, limit)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    if not pid:
        return False
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def pid_stopped(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] in ("T", "t")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode("utf-8", "replace").rstrip("\0").split("\0")


def owns(pid: int | None, marker: str, cwd: str | None = None) -> bool:
    """True when ``pid`` is alive and its command line mentions ``marker`` (and,
    given ``cwd``, it runs in that directory).

    sshd rewrites its title to ``sshd: /usr/sbin/sshd -D -e -f CONFIG [listener]
    ...``, so a substring check on the joined command line covers both sshd and
    supervisord (``... -c CONF``).  The seed's supervisord names no file of its
    own (``python supervisor/supervisord.py -n``, its config found in its
    working directory): that directory tells it apart.
    """
    if not (pid_alive(pid) and marker in " ".join(cmdline(pid))):  # type: ignore[arg-type]
        return False
    if cwd is None:
        return True
    try:
        return os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(cwd)
    except OSError:
        return False


def _children_map() -> dict[int, list[int]]:
    """ppid -> children, from a scan of every /proc/PID/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _children(pid: int) -> list[int] | None:
    """Children of ``pid`` from /proc/PID/task/*/children (cheap), or None when
    the kernel lacks that file (then callers scan all of /proc)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except FileNotFoundError:
            return None if os.path.exists(f"/proc/{pid}") else []
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first, breadth-first)."""
    scanned: dict[int, list[int]] | None = None
    found, queue = [], [pid]
    while queue:
        parent = queue.pop(0)
        kids = _children(parent)
        if kids is None:
            scanned = scanned if scanned is not None else _children_map()
            kids = scanned.get(parent, [])
        found += kids
        queue += kids
    return [p for p in found if pid_alive(p)]


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class Reaper:
    """Popen handles of the processes this Python process started, to reap them."""

    def __init__(self) -> None:
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs[proc.pid] = proc

    def alive(self, pid: int) -> bool:
        with self._lock:
            proc = self._procs.get(pid)
        if proc is not None and proc.poll() is not None:
            with self._lock:
                self._procs.pop(pid, None)
            return False
        return pid_alive(pid)

    def wait_gone(self, pids: Iterable[int], timeout: float) -> list[int]:
        """Wait until none of ``pids`` is alive; return those still alive at the deadline."""
        left = list(pids)
        deadline = time.monotonic() + timeout
        for delay in backoff():
            left = [p for p in left if self.alive(p)]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(delay)
        return left


REAPER = Reaper()


def _freeze_tree(root: int) -> list[int]:
    """SIGSTOP ``root`` and all its descendants (until no new one appears)."""
    frozen: list[int] = []
    while True:
        fresh = [p for p in [root, *descendants(root)] if p not in frozen]
        if not fresh:
            return frozen
        _signal(fresh, signal.SIGSTOP)
        frozen.extend(fresh)


def kill_tree(root: int, marker: str, timeout: float = 5.0, cwd: str | None = None) -> None:
    """Stop ``root`` (only if it is ours: ``owns(root, marker, cwd)``) and all its descendants.

    The whole tree is frozen first so nothing forks behind our back, then gets
    SIGTERM + SIGCONT, then SIGKILL for whatever is left after ``timeout``.
    """
    if not owns(root, marker, cwd):
        return
    tree = _freeze_tree(root)
    _signal(tree, signal.SIGTERM)
    _signal(tree, signal.SIGCONT)
    left = REAPER.wait_gone(tree, timeout)
    if left:
        _signal(left, signal.SIGKILL)
        REAPER.wait_gone(left, 5.0)


def terminate_gracefully(root: int, marker: str, timeout: float, cwd: str | None = None) -> None:
    """SIGTERM ``root`` alone and let it stop its children; then kill leftovers."""
    if not owns(root, marker, cwd):
        return
    tree = descendants(root)
    _signal([root], signal.SIGTERM)
    _signal([root], signal.SIGCONT)
    if REAPER.wait_gone([root], timeout):
        kill_tree(root, marker, cwd=cwd)
    left = [p for p in tree if pid_alive(p)]
    if left:   # orphans of a supervisord that did not stop them (pids checked alive)
        _signal(left, signal.SIGKILL)
        REAPER.wait_gone(left, 5.0)


def spawn(argv: list[str], log_path: str, cwd: str, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in its own session, output appended to ``log_path``; return its pid."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                cwd=cwd, env=env, start_new_session=True)
    REAPER.add(proc)
    return proc.pid


def log_tail(path: str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"({path} is missing)"
    return "\n".join(text.splitlines()[-lines:])


def supervisord_env() -> dict[str, str]:
    """Our environment without SUPERVISOR_* (set when herd itself runs under supervisord)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISOR_")}


def ensure_privsep_dir() -> None:
    """sshd started as root needs /run/sshd (its privilege-separation chroot)."""
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
