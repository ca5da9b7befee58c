"""Ctrl-C through the keeper, on real sshd + supervisord: the command is interrupted as a direct run's would be.

``herd restart tornado -a`` runs inside the keeper; its client gets the
Ctrl-C (or SIGTERM) and passes it on.  Every tornado process is frozen
(SIGSTOP) before the restart, so supervisord's stop of it (SIGTERM) waits
until the test thaws it (SIGCONT): the test interrupts herd while every
host is STOPPING, then lets the stops finish.  Each test leaves every
process RUNNING.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

from helpers import herd, herd_env, wait_until
from herd.testing.pytest_plugin import module_fleet

kifleet = module_fleet("keeper-interrupt", hosts=3, light=True)
HOSTS = ["web01", "web02", "web03"]
FINISHED = "herd: interrupted: the steps in flight were finished; herd left nothing stopped"


class Keeping:
    """herd with a keeper of this test's own (its HOME, state and runtime directories), or without one."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.home.mkdir(exist_ok=True)
        self.runtime = Path(tempfile.mkdtemp(prefix="herd-rt-", dir="/tmp"))   # a short socket path
        self.env = herd_env(self.home, HERD_KEEP="5m", XDG_STATE_HOME=str(tmp_path / "state"),
                            XDG_RUNTIME_DIR=str(self.runtime))
        self.plain = {k: v for k, v in self.env.items() if k != "HERD_KEEP"}

    def pid(self) -> int:
        run = herd("keeper", "status", "-o", "json", home=self.home, env=self.env)
        (keeper,) = run.json()
        return int(keeper["pid"])

    def log(self) -> Path:
        (path,) = self.runtime.rglob("keeper-*.log")
        return path

    def logged(self, text: str) -> bool:
        return text in self.log().read_text()

    def stop(self) -> None:
        run = herd("keeper", "status", "-o", "json", home=self.home, env=self.env)
        for keeper in run.json() if run.code == 0 else []:
            try:
                os.kill(int(keeper["pid"]), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def keeping(kifleet, tmp_path: Path) -> Iterator[Keeping]:
    """A warm keeper; afterwards every process of the fleet is RUNNING again."""
    k = Keeping(tmp_path)
    warm = herd("status", "-i", str(kifleet.inventory_path), home=k.home, env=k.env)
    assert warm.code == 0, warm.out + warm.err
    yield k
    k.stop()
    for name in HOSTS:
        kifleet.supervisorctl(name, "start", "all")


def tornado_pids(fleet) -> dict[str, list[int]]:
    return {h: sorted(p["pid"] for p in fleet.rpc(h).supervisor.getAllProcessInfo() if p["group"] == "tornado")
            for h in HOSTS}


def tornado_states(fleet) -> set[str]:
    return {s for h in HOSTS for n, s in fleet.process_states(h).items() if n.startswith("tornado:")}


@contextmanager
def frozen(fleet) -> Iterator[Callable[[], None]]:
    """Every tornado process SIGSTOPped (its stop waits); yields thaw(), which SIGCONTs them (also at the end)."""
    pids = [pid for host in tornado_pids(fleet).values() for pid in host]

    def thaw() -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield thaw
    finally:
        thaw()


def restart_interrupted(fleet, env: dict[str, str], *extra: str, sig: int = signal.SIGINT,
                        then: Callable[[subprocess.Popen], None]) -> tuple[int, list[str], list[str]]:
    """``herd restart tornado -a``; once every host's tornado is STOPPING, ``sig``, ``then(proc)``, thaw:
    (exit code, stdout lines, stderr lines)."""
    args = [sys.executable, "-m", "herd", "restart", "tornado", "-a", "-i", str(fleet.inventory_path), *extra]
    with frozen(fleet) as thaw:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                stdin=subprocess.DEVNULL)
        try:
            wait_until(lambda: tornado_states(fleet) == {"STOPPING"}, 30, "tornado STOPPING on every host",
                       give_up=lambda: proc.poll() is not None)
            proc.send_signal(sig)
            then(proc)
            thaw()
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return proc.returncode, out.splitlines(), err.splitlines()


def running_again(fleet, before: dict[str, list[int]]) -> None:
    """Every tornado process RUNNING, each with a new pid: each was restarted, none left stopped."""
    wait_until(lambda: tornado_states(fleet) == {"RUNNING"}, 30, "tornado RUNNING everywhere")
    after = tornado_pids(fleet)
    assert all(not set(after[h]) & set(before[h]) for h in HOSTS), (before, after)


def interrupting(keeping: Keeping) -> Callable[[subprocess.Popen], None]:
    """then(): wait until the keeper has passed the client's interrupt on, and the command has seen it
    (at its next fan-out wait step, within fanout.JOIN_STEP: the 0.5 s a direct run gets too)."""
    def then(proc: subprocess.Popen) -> None:
        wait_until(lambda: keeping.logged("interrupted by its client (Ctrl-C or SIGTERM)"), 10,
                   "the keeper interrupting the command")
        time.sleep(0.5)
    return then


def test_ctrl_c_mid_restart_through_the_keeper_prints_what_a_direct_run_prints(kifleet, keeping):
    before = tornado_pids(kifleet)
    kept = restart_interrupted(kifleet, keeping.env, then=interrupting(keeping))
    running_again(kifleet, before)
    assert keeping.logged(f"interrupted by its client (Ctrl-C or SIGTERM): herd restart tornado -a -i "
                          f"{kifleet.inventory_path}")
    assert keeping.logged("`herd restart` ended after its interrupt: exit 130")
    direct_before = tornado_pids(kifleet)
    direct = restart_interrupted(kifleet, keeping.plain, "--no-keep", then=lambda proc: time.sleep(0.5))
    running_again(kifleet, direct_before)
    code, out, err = kept
    assert code == 130, out + err
    assert err == [FINISHED]
    assert out[-1] == "3 hosts: 12 starting"                 # started again, not waited for after the Ctrl-C
    assert len(out) == 12 + 1                                # a line per process, the summary
    assert (code, out, err) == direct


def test_sigterm_to_the_client_is_a_ctrl_c_too(kifleet, keeping):
    before = tornado_pids(kifleet)
    code, out, err = restart_interrupted(kifleet, keeping.env, sig=signal.SIGTERM, then=interrupting(keeping))
    running_again(kifleet, before)
    assert (code, err, out[-1]) == (130, [FINISHED], "3 hosts: 12 starting"), out + err


def test_a_second_ctrl_c_stops_waiting_and_the_keeper_finishes_the_step(kifleet, keeping):
    before = tornado_pids(kifleet)
    pid = keeping.pid()

    def again(proc: subprocess.Popen) -> None:
        interrupting(keeping)(proc)
        proc.send_signal(signal.SIGINT)
        proc.wait(5)                                          # at once: the stops are still frozen

    code, out, err = restart_interrupted(kifleet, keeping.env, then=again)
    assert (code, out) == (130, []), out + err
    assert err == [f"herd: interrupted again: no longer waiting for the keeper (pid {pid}), which finishes the "
                   f"step in flight of `herd restart` on its own and logs what it did and printed (the keeper's "
                   f"log: {keeping.log()})"]
    running_again(kifleet, before)                            # the keeper finished the restart: nothing stopped
    wait_until(lambda: keeping.logged("with no client to tell; what it printed:"), 10, "the outcome logged")
    text = keeping.log().read_text()
    assert "the client of `herd restart` stopped waiting after its interrupt: the command finishes here" in text
    assert f"herd restart tornado -a -i {kifleet.inventory_path} ended (exit 130) with no client to tell" in text
    assert f"  | {FINISHED}" in text
    assert "3 hosts: 12 starting" in text


def test_a_client_killed_mid_restart_has_its_sessions_aborted_and_the_log_names_the_command(kifleet, keeping):
    inv = str(kifleet.inventory_path)
    code, out, err = restart_interrupted(kifleet, keeping.env, sig=signal.SIGKILL, then=lambda proc: wait_until(
        lambda: keeping.logged("client left during `herd restart`: aborting its sessions"), 10,
        "the keeper seeing its client gone"))
    assert (code, out, err) == (-signal.SIGKILL, [], [])
    wait_until(lambda: keeping.logged("with no client to tell; what it printed:"), 30, "the outcome logged")
    text = keeping.log().read_text()
    assert f"cut off by its client leaving without an interrupt: herd restart tornado -a -i {inv}" in text
    assert "interrupted by its client" not in text
    after = herd("status", "-i", inv, home=keeping.home, env=keeping.env)   # the keeper serves on
    assert after.code in (0, 3), after.out + after.err
