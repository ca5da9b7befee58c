"""The keeper against a real fleet: connections kept between commands, and every way it must not matter.

Logins are counted in each host's sshd log (LogLevel VERBOSE logs one
"Accepted publickey" per SSH login).  Each test has its own HOME and state
directory, so its own keeper; the fixture stops it afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest

from helpers import Run, herd, herd_env, wait_until
from herd.localfleet.fleet import LocalFleet
from herd.localfleet.keys import keygen
from herd.localfleet.processes import pid_alive
from herd.testing.pytest_plugin import module_fleet

# Three light hosts of this module's own (some tests stop and restart hosts, then put them back).
kfleet = module_fleet("keeper", hosts=3, light=True)


class Keeping:
    """herd runs with a keeper (``HERD_KEEP``), and the same runs without, in one test's HOME."""

    def __init__(self, tmp_path: Path, keep: str = "5m") -> None:
        self.home = tmp_path / "home"
        self.home.mkdir(exist_ok=True)
        self.state = tmp_path / "state"
        # a short runtime directory of the test's own: pytest's tmp_path is too long for a socket path
        self.runtime = Path(tempfile.mkdtemp(prefix="herd-rt-", dir="/tmp"))
        self.env = herd_env(self.home, HERD_KEEP=keep, XDG_STATE_HOME=str(self.state),
                            XDG_RUNTIME_DIR=str(self.runtime))
        self.plain = {k: v for k, v in self.env.items() if k != "HERD_KEEP"}

    def kept(self, *args: str, timeout: float = 60) -> Run:
        return herd(*args, home=self.home, env=self.env, timeout=timeout)

    def direct(self, *args: str, timeout: float = 60) -> Run:
        return herd(*args, "--no-keep", home=self.home, env=self.plain, timeout=timeout)

    def keepers(self) -> list[dict]:
        run = herd("keeper", "status", "-o", "json", home=self.home, env=self.env)
        assert run.code == 0, run.err
        return run.json()

    def pid(self) -> int:
        (keeper,) = self.keepers()
        return int(keeper["pid"])

    def stop(self) -> None:
        for keeper in self.keepers():
            try:
                os.kill(int(keeper["pid"]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.runtime, ignore_errors=True)


@pytest.fixture
def keeping(tmp_path: Path) -> Iterator[Keeping]:
    k = Keeping(tmp_path)
    yield k
    k.stop()


def logins(fleet: LocalFleet) -> dict[str, int]:
    return {h.name: Path(h.sshd_log_path).read_text().count("Accepted publickey for ") for h in fleet.hosts}


_VOLATILE = re.compile(r"time|duration|uptime|now|start|stop|finished|seconds|description|elapsed")


def _blank(value):
    if isinstance(value, dict):
        return {k: "N" if _VOLATILE.search(k) and not isinstance(v, (dict, list)) else _blank(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return value


def same(text: str) -> str:
    """Output with what changes by itself from one second to the next (uptimes, durations) blanked."""
    try:
        return json.dumps(_blank(json.loads(text)), indent=1)
    except ValueError:
        pass
    text = re.sub(r"\b\d+:\d\d:\d\d\b", "H:MM:SS", text)
    text = re.sub(r"pid \d+( -> \d+)?", "pid N", text)
    text = re.sub(r"\d+\.\d+ ?s\b", "N s", text)
    text = re.sub(r"(time|duration|uptime|now|start|stop|finished|seconds)(\"?[=:] ?)[0-9.]+", r"\1\2N", text)
    return text


def test_second_command_reuses_the_connections(kfleet, keeping):
    inv = str(kfleet.inventory_path)
    first = keeping.kept("status", "-i", inv)
    assert first.code == 0, first.err
    after_first = logins(kfleet)
    for _ in range(3):
        again = keeping.kept("status", "-i", inv)
        assert again.code == 0 and same(again.out) == same(first.out)
    assert logins(kfleet) == after_first   # no new SSH login on any host
    (keeper,) = keeping.keepers()
    assert keeper["hosts_connected"] == 3 and keeper["commands"] == 4
    direct = keeping.direct("status", "-i", inv)
    assert logins(kfleet) == {n: c + 1 for n, c in after_first.items()}   # a direct run logs in
    assert (direct.code, same(direct.out), direct.err) == (first.code, same(first.out), first.err)


@pytest.mark.parametrize("args", [
    ["status"], ["status", "-o", "json"], ["status", "worker", "nosuch"], ["status", "-H", "web0[12]", "tornado"],
    ["pid"], ["pid", "worker", "-a"], ["version"], ["avail", "-o", "json"], ["check"], ["check", "--format", "json"],
    ["tail", "worker", "-a", "-n", "3"], ["maintail", "-a", "-n", "2"],
    ["status", "--timeout", "0"], ["restart"], ["nosuch-command"], ["status", "-H", "nomatch*"],
])
def test_same_output_and_exit_code_with_and_without_the_keeper(kfleet, keeping, args):
    inv = str(kfleet.inventory_path)
    if args[0] == "tail":   # a young fleet's worker logs may hold fewer than 3 lines: the runs would differ
        wait_until(lambda: keeping.direct(*args, "-i", inv).out.count("\n") == 3 * len(kfleet.hosts), 30,
                   "3 lines in every host's worker log")
    kept = keeping.kept(*args, "-i", inv)
    kept_again = keeping.kept(*args, "-i", inv)          # warm
    direct = keeping.direct(*args, "-i", inv)
    norm = same if args[0] != "tail" else (lambda text: re.sub(r"\d+", "N", text))   # the worker logs ticks
    for run in (kept, kept_again):
        assert (run.code, norm(run.out), norm(run.err)) == (direct.code, norm(direct.out), norm(direct.err)), args


def test_control_and_rolling_restart_are_the_same_through_the_keeper(kfleet, keeping):
    inv = str(kfleet.inventory_path)
    steps = (["stop", "worker", "-a"], ["stop", "worker", "-a"], ["start", "worker", "-a"],
             ["start", "worker", "-a", "-o", "json"], ["restart", "worker", "-H", "web01"],
             ["signal", "HUP", "worker", "-a", "--dry-run"], ["clear", "worker", "-H", "web02"], ["start", "nosuch"])
    kept = [keeping.kept(*args, "-i", inv) for args in steps]       # the same steps, from the same state
    direct = [keeping.direct(*args, "-i", inv) for args in steps]
    for args, k, d in zip(steps, kept, direct):
        assert (k.code, same(k.out), k.err) == (d.code, same(d.out), d.err), args
    assert keeping.keepers()[0]["commands"] >= 7
    roll = ("rolling-restart", "worker", "-a", "-i", inv, "--min-healthy", "0.5")
    kept = keeping.kept(*roll, "--state-file", str(keeping.state / "roll1.json"))
    direct = keeping.direct(*roll, "--state-file", str(keeping.state / "roll2.json"))
    assert kept.code == direct.code == 0, kept.err + direct.err
    assert same(kept.out) == same(direct.out)
    for name in ("web01", "web02", "web03"):
        kfleet.wait_running(name)


def test_an_edited_inventory_never_reuses_a_session(kfleet, keeping, tmp_path):
    inv = tmp_path / "inventory.yaml"
    inv.write_text(Path(kfleet.inventory_path).read_text())
    assert keeping.kept("status", "-i", str(inv)).code == 0
    warm = logins(kfleet)
    assert keeping.kept("status", "-i", str(inv)).code == 0
    assert logins(kfleet) == warm
    stat = inv.stat()
    inv.write_text(inv.read_text() + "# edited\n")
    os.utime(inv, ns=(stat.st_atime_ns, stat.st_mtime_ns))   # same mtime: the content decides
    assert keeping.kept("status", "-i", str(inv)).code == 0
    assert logins(kfleet) == {n: c + 1 for n, c in warm.items()}
    # other connection options: other sessions, too
    assert keeping.kept("status", "-i", str(inv), "--timeout", "7").code == 0
    assert logins(kfleet) == {n: c + 2 for n, c in warm.items()}


def test_known_hosts_edit_never_reuses_a_session(kfleet, keeping):
    inv = str(kfleet.inventory_path)
    assert keeping.kept("status", "-i", inv).code == 0
    warm = logins(kfleet)
    known = Path(kfleet.known_hosts_path)
    original = known.read_text()
    try:
        known.write_text(original + "# a comment\n")
        assert keeping.kept("status", "-i", inv).code == 0
        assert logins(kfleet) == {n: c + 1 for n, c in warm.items()}
    finally:
        known.write_text(original)


def test_host_key_changed_under_a_warm_keeper_is_refused(make_fleet, tmp_path):
    fleet = make_fleet(2, light=True)
    keeping = Keeping(tmp_path)
    try:
        inv = str(fleet.inventory_path)
        assert keeping.kept("status", "-i", inv).code == 0
        fleet.stop_sshd("web01")
        keygen(Path(fleet.host("web01").host_key_path), "a new key")
        fleet.start_sshd("web01")
        kept = keeping.kept("status", "-i", inv)
        direct = keeping.direct("status", "-i", inv)
        assert kept.code == 4 and "host key refused" in kept.out
        assert (kept.code, same(kept.out)) == (direct.code, same(direct.out))
        again = keeping.kept("status", "-i", inv, "--accept-new")   # accept-new never accepts a changed key
        assert again.code == 4 and "host key refused" in again.out
    finally:
        keeping.stop()


def test_host_restarted_under_a_warm_keeper_is_back_on_the_next_command(kfleet, keeping):
    inv = str(kfleet.inventory_path)
    assert keeping.kept("status", "-i", inv).code == 0
    kfleet.stop_sshd("web02")
    try:
        down = keeping.kept("status", "-i", inv, "--timeout", "3")
        assert down.code == 4 and re.search(r"web02 .*UNREACHABLE", down.out), down.out
        print(f"warm status with web02 down: {down.seconds:.2f} s (--timeout 3)")
    finally:
        kfleet.start_sshd("web02")
    back = keeping.kept("status", "-i", inv)
    assert back.code == 0, back.out + back.err


def _spawns(kfleet: Fleet, name: str) -> list[int]:
    """The pids supervisord on host ``name`` spawned the worker with, from its own log."""
    log = Path(kfleet.host(name).log_dir) / "supervisord.log"
    return [int(pid) for pid in re.findall(r"spawned: 'worker' with pid (\d+)", log.read_text())]


def _worker_pid(keeping: Keeping, inv: str) -> int:
    run = keeping.direct("status", "worker", "-H", "web01", "-i", inv, "-o", "json")
    assert run.code == 0, run.out + run.err
    hosts = run.json()
    hosts = hosts["hosts"] if isinstance(hosts, dict) else hosts
    (pid,) = [p["pid"] for h in hosts for p in h["processes"]]
    return int(pid)


@pytest.mark.parametrize("how", ["stalled", "killed"])
def test_a_keeper_stalled_or_killed_after_accepting_a_restart_restarts_once(kfleet, keeping, how):
    """The keeper takes `herd restart worker`, restarts it, and stops answering (SIGSTOP past SILENCE, or
    SIGKILL) while supervisord waits out the worker's startsecs: one restart, one line, exit 6."""
    from herd.keeper.protocol import SILENCE

    inv = str(kfleet.inventory_path)
    assert keeping.kept("status", "-i", inv).code == 0            # a warm keeper
    pid = keeping.pid()
    (log,) = keeping.runtime.rglob("keeper-*.log")
    old_worker = _worker_pid(keeping, inv)
    spawned = _spawns(kfleet, "web01")
    proc = subprocess.Popen([sys.executable, "-m", "herd", "restart", "worker", "-H", "web01", "-i", inv, "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=keeping.env,
                            stdin=subprocess.DEVNULL)
    stopped = False
    try:
        assert proc.stderr.readline() == f"herd: keeper: through the keeper (pid {pid})\n"   # accepted
        assert wait_for(lambda: len(_spawns(kfleet, "web01")) > len(spawned), 20, interval=0.01)
        os.kill(pid, signal.SIGSTOP if how == "stalled" else signal.SIGKILL)
        stopped = how == "stalled"
        start = time.monotonic()
        out, err = proc.communicate(timeout=60)
        waited = time.monotonic() - start
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    if how == "stalled":   # the keeper, going on, finds its client gone and ends the command there
        assert wait_for(lambda: _log_has(keeping, "client left during `herd restart`"), 20)
    kfleet.wait_running("web01")
    new = _spawns(kfleet, "web01")[len(spawned):]
    assert len(new) == 1, f"the worker was restarted {len(new)} times: {err}"      # exactly once ...
    assert _worker_pid(keeping, inv) == new[0] != old_worker                         # ... and that one runs
    what = f"was silent for {SILENCE:g} s" if how == "stalled" else "closed the connection"
    assert (proc.returncode, out, err) == (6, "", (
        f"herd: the keeper (pid {pid}) {what} after it accepted `herd restart`: the command may have run in part "
        f"or in full, and is not run again; see `herd status` before you repeat it (the keeper's log: {log})\n"))
    assert waited >= SILENCE - 0.5 if how == "stalled" else not _alive(pid), waited
    after = keeping.kept("status", "-i", inv)                         # the keeper (or a new one) serves on
    assert after.code == 0, after.out + after.err
    assert (keeping.pid() == pid) == (how == "stalled")


def test_ctrl_c_through_the_keeper_is_exit_130_and_the_keeper_goes_on(kfleet, keeping):
    inv = str(kfleet.inventory_path)
    assert keeping.kept("status", "-i", inv).code == 0
    kfleet.pause_sshd("web03")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "herd", "status", "-i", inv, "--timeout", "8"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=keeping.env,
                                stdin=subprocess.DEVNULL)
        wait_for(lambda: _log_has(keeping, "new pool", 2), 10)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        kfleet.resume_sshd("web03")
    # as a direct run (tests/test_interrupt_fleet.py): the hosts that answered, at once (the keeper passes the
    # Ctrl-C on to the command: test_keeper_interrupt.py)
    assert (proc.returncode, err) == (130, "herd: interrupted: hosts that had not answered are marked so\n"), out
    rows = [line.split() for line in out.splitlines()[1:-1]]
    assert ["web03", "-", "INTERRUPTED", "-", "-", "no", "answer", "yet"] in rows
    assert sorted({r[0] for r in rows if r[2] == "RUNNING"}) == ["web01", "web02"]
    assert out.splitlines()[-1].endswith("; 1 host interrupted before answering"), out
    assert took < 1.5, took
    after = keeping.kept("status", "-i", inv)
    assert after.code == 0, after.out + after.err


def test_keeper_exits_after_its_idle_time(kfleet, tmp_path):
    keeping = Keeping(tmp_path, keep="2s")
    try:
        assert keeping.kept("status", "-i", str(kfleet.inventory_path)).code == 0
        pid = keeping.pid()
        assert wait_for(lambda: not _alive(pid), 20)
        assert keeping.keepers() == []
        sockets = list(keeping.runtime.rglob("*.sock"))
        assert sockets == []
    finally:
        keeping.stop()


def test_keeper_status_and_stop(kfleet, keeping):
    inv = str(kfleet.inventory_path)
    none = herd("keeper", "status", home=keeping.home, env=keeping.env)
    assert (none.code, none.out) == (0, "no keeper running\n")
    assert keeping.kept("status", "-i", inv).code == 0
    shown = herd("keeper", "status", home=keeping.home, env=keeping.env)
    assert shown.code == 0 and inv in shown.out and re.search(r"\b3\s+\d+s\s+5m\s+idle\s+1\b", shown.out), shown.out
    pid = keeping.pid()
    stopped = herd("keeper", "stop", "-i", inv, home=keeping.home, env=keeping.env)
    assert (stopped.code, stopped.out) == (0, f"stopped keeper pid {pid}\n")
    assert not _alive(pid)


def test_inventory_keep_key_starts_a_keeper_and_no_keep_bypasses_it(kfleet, tmp_path):
    keeping = Keeping(tmp_path)
    inv = tmp_path / "inventory.yaml"
    text = Path(kfleet.inventory_path).read_text()
    assert "\ndefaults:\n" in text
    inv.write_text(text.replace("\ndefaults:\n", "\ndefaults:\n  keep: 1m\n", 1))
    try:
        assert herd("status", "-i", str(inv), "--no-keep", home=keeping.home, env=keeping.plain).code == 0
        assert herd("keeper", "status", "-o", "json", home=keeping.home, env=keeping.plain).json() == []
        assert herd("status", "-i", str(inv), home=keeping.home, env=keeping.plain).code == 0
        (keeper,) = keeping.keepers()
        assert keeper["keep"] == 60
        # the inventory stops saying keep: the keeper refuses, exits, and the command runs directly
        inv.write_text(text)
        run = herd("status", "-i", str(inv), "-v", home=keeping.home, env=keeping.plain)
        assert run.code == 0 and "no longer says keep" in run.err
        assert wait_for(lambda: not _alive(int(keeper["pid"])), 10)
    finally:
        keeping.stop()


def _log_has(keeping: Keeping, text: str, times: int = 1) -> bool:
    return sum(p.read_text().count(text) for p in keeping.runtime.rglob("keeper-*.log")) >= times


def _alive(pid: int) -> bool:
    return pid_alive(pid)


def wait_for(what, timeout: float, interval: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if what():
            return True
        time.sleep(interval)
    return what()


HEAVY = ("click", "yaml", "paramiko", "cryptography", "xmlrpc", "http")


def test_a_warm_command_loads_neither_click_nor_yaml_nor_ssh_in_the_users_process(kfleet, keeping):
    """herd/launch.py hands the command line to the keeper before click loads: a warm command's own cost."""
    inventory = str(kfleet.inventory_path)
    assert keeping.kept("status", "-a", "-i", inventory).code == 0        # starts the keeper
    code = textwrap.dedent(f"""
        import atexit, json, sys
        atexit.register(lambda: sys.stderr.write("MODULES=" + json.dumps(sorted(sys.modules)) + "\\n"))
        from herd.launch import main
        main(["status", "-a", "-i", {inventory!r}, "-v"])
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=keeping.env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "keeper: through the keeper" in done.stderr            # it did go through the keeper
    assert all(host.name in done.stdout for host in kfleet.hosts)
    modules = set(json.loads(done.stderr.split("MODULES=", 1)[1]))
    assert not {m for m in modules if m.split(".")[0] in HEAVY}
    assert not {m for m in modules if m.startswith(("herd.cli", "herd.inventory.loader", "herd.ssh", "herd.fleet"))}
