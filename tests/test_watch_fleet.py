"""``herd status --watch`` on the real test fleet: live over kept connections, in a pipe and in a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from helpers import herd_env


def _read_until(read, want: str, timeout: float) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while want not in seen and time.monotonic() < deadline:
        seen += read()
    assert want in seen, seen[-2000:]
    return seen


def test_watch_in_a_pipe_repeats_the_table_and_shows_a_change_made_by_someone_else(fleet, home: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "herd", "status", "--watch", "--interval", "0.3",
                             "-i", str(fleet.inventory_path), "-H", "web01", "-H", "web04"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=herd_env(home),
                            stdin=subprocess.DEVNULL)

    def read() -> str:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        return os.read(proc.stdout.fileno(), 65536).decode() if ready else ""

    try:
        first = _read_until(read, "hosts,", 30)
        assert "web04  worker" in first and first.startswith("--- ")
        assert "STOPPED" not in first
        fleet.supervisorctl("web04", "stop", "worker")
        later = _read_until(read, "STOPPED", 10)
        row = next(line for line in later.splitlines() if "STOPPED" in line)
        assert row.split()[:3] == ["web04", "worker", "STOPPED"]
    finally:
        fleet.supervisorctl("web04", "start", "worker")
        proc.terminate()
        proc.wait(10)
    sshd_log = Path(fleet.host("web04").sshd_log_path).read_text()
    assert sshd_log.count("Accepted publickey") >= 1


def test_watch_on_a_terminal_draws_in_place_and_q_quits_with_exit_0(fleet, home: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:
        env = herd_env(home)
        env.pop("NO_COLOR", None)
        os.execve(sys.executable, [sys.executable, "-m", "herd", "status", "--watch", "--interval", "0.3",
                                   "-i", str(fleet.inventory_path), "-H", "web01"], env)

    def read() -> str:
        ready, _, _ = select.select([fd], [], [], 0.2)
        try:
            return os.read(fd, 65536).decode(errors="replace") if ready else ""
        except OSError:
            return ""

    screen = _read_until(read, "1 host,", 30)
    assert "\x1b[?1049h" in screen and "\x1b[H" in screen and "(q to quit)" in screen
    _read_until(read, "\x1b[H", 5)          # redrawn in place, not scrolled
    os.write(fd, b"q")
    rest = _read_until(read, "\x1b[?1049l", 5)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, rest
