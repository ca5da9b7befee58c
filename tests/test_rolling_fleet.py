"""Rolling restarts against real sshd + supervisord + the Tornado app, with a capacity poller."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from herd.testing.pytest_plugin import module_fleet
from helpers import herd, herd_env, wait_until


rfleet = module_fleet("rolling", hosts=3)


@pytest.fixture
def inv(rfleet):
    """The inventory; afterwards every host is healthy again (apps fixed, everything started)."""
    yield str(rfleet.inventory_path)
    for host in rfleet.hosts:
        rfleet.fix_app(host.name)
        rfleet.supervisorctl(host.name, "start", "all")
        rfleet.wait_running(host.name, timeout=30)


def pids(fleet) -> dict[tuple[str, str], int]:
    out = {}
    for host in fleet.hosts:
        for p in fleet.rpc(host.name).supervisor.getAllProcessInfo():
            out[(host.name, f"{p['group']}:{p['name']}")] = p["pid"]
    return out


class Poller(threading.Thread):
    """Hits every Tornado port of the fleet every 50 ms and records how many were down at once."""

    def __init__(self, fleet) -> None:
        super().__init__(daemon=True)
        self.ports = [(h.name, p) for h in fleet.hosts for p in h.tornado_ports]
        self.max_down = 0
        self.max_down_per_host: dict[str, int] = {}
        self.samples = 0
        self.stopped = threading.Event()

    def up(self, port: int) -> bool:
        """Down means refused (nothing listens) or an error answer; a slow answer on a busy machine is not."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                return response.status == 200
        except TimeoutError:
            return True
        except OSError as exc:
            return isinstance(getattr(exc, "reason", None), TimeoutError)

    def run(self) -> None:
        while not self.stopped.is_set():
            down = [(h, p) for h, p in self.ports if not self.up(p)]
            self.samples += 1
            self.max_down = max(self.max_down, len(down))
            for host in {h for h, _ in down}:
                count = sum(1 for h, _ in down if h == host)
                self.max_down_per_host[host] = max(self.max_down_per_host.get(host, 0), count)
            time.sleep(0.05)

    def __enter__(self) -> "Poller":
        # every app listening before the roll
        wait_until(lambda: all(self.up(p) for _, p in self.ports), 30, "the apps to come up", interval=0.1)
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.join()


def roll(inv: str, home: Path, *args: str, timeout: float = 300):
    env = herd_env(home, XDG_STATE_HOME=str(home / "state"))
    return herd("rolling-restart", "tornado", "-i", inv, *args, home=home, env=env, timeout=timeout)


def test_roll_restarts_every_process_one_at_a_time(rfleet, home, inv):
    before = pids(rfleet)
    with Poller(rfleet) as poller:
        run = roll(inv, home, "--min-healthy", "0.5", "--http", "http://127.0.0.1:{port}/")
    assert run.code == 0, run.out + run.err
    after = pids(rfleet)
    for (host, name), pid in before.items():
        if name.startswith("tornado:"):
            assert after[(host, name)] != pid, (host, name)
        else:
            assert after[(host, name)] == pid, f"{host} {name} must not be touched"
    assert poller.samples > 20
    assert poller.max_down <= 1, poller.max_down  # --batch 1 x --per-host 1
    assert run.out.splitlines()[-1].startswith("roll done: 12 of 12 process(es) restarted in ")
    assert "web01 tornado:tornado-" in run.err and ": ok (pid " in run.err


def test_batches_and_per_host_bound_the_capacity_lost(rfleet, home, inv):
    with Poller(rfleet) as poller:
        run = roll(inv, home, "--batch", "1,100%", "--per-host", "2", "--min-healthy", "0.5", "-o", "json",
                   "--http", "http://127.0.0.1:{port}/")  # RUNNING is not listening yet: gate on it
    assert run.code == 0, run.out + run.err
    data = run.json()
    assert [[t["host"] for t in batch] for batch in data["batches"]] == [["web01"], ["web02", "web03"]]
    assert poller.max_down <= 2 * 2, poller.max_down
    assert max(poller.max_down_per_host.values()) <= 2
    assert all(h["status"] == "done" for h in data["hosts"])


def test_percentage_batch(rfleet, home, inv):
    run = roll(inv, home, "--batch", "67%", "--dry-run", "-o", "json")
    assert run.code == 0
    assert [[t["host"] for t in b] for b in run.json()["batches"]] == [["web01", "web02"], ["web03"]]


def test_dry_run_changes_nothing(rfleet, home, inv):
    before = pids(rfleet)
    run = roll(inv, home, "--dry-run", "--batch", "2", "--http", "http://127.0.0.1:{port}/")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0] == "dry run: nothing will be changed"
    assert lines[1] == ("rolling restart of tornado: 12 process(es) on 3 host(s) in 2 batch(es) (--batch 2), "
                        "1 process(es) at a time per host")
    assert lines[2] == ("gate: RUNNING, same pid for 10s, probe --http http://127.0.0.1:{port}/; within 120s; "
                        "stop at the first failed host")
    ports = rfleet.host("web03").tornado_ports
    assert lines[5] == "  batch 2/2  web03: " + ", ".join(f"tornado:tornado-{p}" for p in ports)
    assert pids(rfleet) == before


def test_broken_host_halts_the_roll(rfleet, home, inv):
    rfleet.break_app("web02")
    before = pids(rfleet)
    with Poller(rfleet) as poller:
        run = roll(inv, home, "--min-healthy", "0")
    assert run.code == 1, run.out + run.err
    after = pids(rfleet)
    assert all(after[k] != before[k] for k in before if k[0] == "web01" and "tornado" in k[1])
    assert all(after[k] == before[k] for k in before if k[0] == "web03"), "later hosts untouched"
    assert poller.max_down_per_host.get("web02", 0) <= 1, poller.max_down_per_host
    first = f"tornado:tornado-{rfleet.host('web02').tornado_ports[0]}"
    states = rfleet.process_states("web02")
    assert states[first] in ("FATAL", "BACKOFF")  # left as supervisord has it
    assert sum(1 for n, s in states.items() if n.startswith("tornado") and s != "RUNNING") == 1
    lines = run.out.splitlines()
    assert f"         {first}: FAILED in start: FATAL while starting " \
           f"(Exited too quickly (process log may have details))" in lines
    assert any("refusing to start on port" in line for line in lines)  # its last log lines
    assert any(line.startswith("web03  untouched") for line in lines)
    assert lines[-1].startswith("roll HALTED: 4 of 12 process(es) restarted in ")
    assert lines[-1].endswith("; 1 host(s) failed; untouched: web03; continue with --resume")


def test_max_fail_tolerates_failed_hosts_over_the_run(rfleet, home, inv):
    rfleet.break_app("web01")
    run = roll(inv, home, "--min-healthy", "0", "--max-fail", "1", "-o", "json")
    assert run.code == 1  # a host failed, even though the roll went on
    statuses = {h["host"]: h["status"] for h in run.json()["hosts"]}
    assert statuses == {"web01": "failed", "web02": "done", "web03": "done"}
    assert run.json()["outcome"] == "done"


def test_http_gate_failing(rfleet, home, inv):
    before = pids(rfleet)
    run = roll(inv, home, "--min-healthy", "0", "--timeout-healthy", "4", "--http",
               "http://127.0.0.1:{port}/no-such-page")
    assert run.code == 1
    port = rfleet.host("web01").tornado_ports[0]
    assert (f"         tornado:tornado-{port}: FAILED in probe: probe failing after 4 s: "
            f"GET http://127.0.0.1:{port}/no-such-page -> 404") in run.out.splitlines()
    after = pids(rfleet)
    changed = [k for k in before if after[k] != before[k]]
    assert changed == [("web01", f"tornado:tornado-{port}")]  # restarted, then the roll stopped


def test_preflight_refuses_unhealthy_targets(rfleet, home, inv):
    port = rfleet.host("web03").tornado_ports[2]
    rfleet.supervisorctl("web03", "stop", f"tornado:tornado-{port}")
    before = pids(rfleet)
    run = roll(inv, home, "--min-healthy", "0")
    assert run.code == 3
    assert run.err == (f"herd: refusing to roll tornado: web03 tornado:tornado-{port} is STOPPED\n"
                       "herd: pass --skip-unhealthy to roll the other processes and leave these alone\n")
    assert pids(rfleet) == before
    skipping = roll(inv, home, "--min-healthy", "0", "--skip-unhealthy", "-o", "json")
    assert skipping.code == 3, skipping.out    # hosts left alone: exit 3, as a refusal for a target not RUNNING
    web03 = next(h for h in skipping.json()["hosts"] if h["host"] == "web03")
    # one process already down uses up web03's allowance (--per-host 1): the whole host is left alone
    assert web03["status"] == "skipped"
    assert web03["skipped"][0] == f"tornado:tornado-{port}" and len(web03["skipped"]) == 4
    assert web03["notes"] == [f"skipped: tornado:tornado-{port} not RUNNING at pre-flight; restarting another "
                              f"would exceed --per-host 1"]
    assert [h["status"] for h in skipping.json()["hosts"]] == ["done", "done", "skipped"]
    assert rfleet.process_states("web03")[f"tornado:tornado-{port}"] == "STOPPED"  # left alone


def test_unreachable_host_at_preflight(make_fleet, home):
    small = make_fleet(hosts=2)
    small.stop_sshd("web02")
    run = roll(str(small.inventory_path), home, "--min-healthy", "0")
    assert run.code == 4
    assert run.err.startswith("herd: refusing to roll tornado: web02: connection refused by 127.0.0.1 port ")


def test_hosts_without_the_program_are_skipped(rfleet, home, inv):
    run = herd("rolling-restart", "nosuch", "-i", inv, home=home)
    assert run.code == 2
    assert run.err == "herd: no such process or group on any selected host: nosuch\n"


def test_hooks_run_around_each_host_and_a_failed_post_hook_fails_it(rfleet, home, inv, tmp_path):
    log = tmp_path / "hooks.log"
    run = roll(inv, home, "--min-healthy", "0", "-H", "web0[12]",
               "--pre-hook", f"echo pre {{host}} >> {log}",
               "--post-hook", f"echo post {{host}} >> {log}; test {{host}} != web02")
    assert run.code == 1
    assert log.read_text().splitlines() == ["pre web01", "post web01", "pre web02", "post web02"]
    assert "web02  failed" in run.out
    assert f"post-hook failed: 'echo post web02 >> {log}; test web02 != web02' exited 1" in run.out


def test_interrupt_then_resume(rfleet, home, inv):
    before = pids(rfleet)
    env = herd_env(home, XDG_STATE_HOME=str(home / "state"))
    proc = subprocess.Popen([sys.executable, "-m", "herd", "rolling-restart", "tornado", "-i", inv,
                             "--min-healthy", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen = ""
    while "ok (pid" not in seen:  # the first process is done; the second is in flight
        line = proc.stderr.readline()
        assert line, "herd ended before restarting a process"
        seen += line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "herd: interrupted: finishing the process in flight so that nothing is left stopped" in err
    assert out.splitlines()[-1].startswith("roll INTERRUPTED: ")
    assert all(s == "RUNNING" for h in rfleet.hosts for s in rfleet.process_states(h.name).values()), \
        "nothing herd stopped is left stopped"
    middle = pids(rfleet)
    done_first = {k for k in before if before[k] != middle[k]}
    assert done_first and all(k[1].startswith("tornado:") for k in done_first)

    again = herd("rolling-restart", "tornado", "-i", inv, "--min-healthy", "0", home=home, env=env)
    assert again.code == 2 and "continue it with --resume, or start over with --fresh" in again.err

    resumed = herd("rolling-restart", "tornado", "-i", inv, "--min-healthy", "0", "--resume", home=home,
                   env=env, timeout=300)
    assert resumed.code == 0, resumed.out + resumed.err
    after = pids(rfleet)
    for key in before:
        if key[1].startswith("tornado:"):
            assert after[key] != before[key], key
        if key in done_first:
            assert after[key] == middle[key], f"{key} was restarted twice"
    nothing = herd("rolling-restart", "tornado", "-i", inv, "--resume", home=home, env=env)
    assert nothing.code == 2 and nothing.err.startswith("herd: nothing to resume: no unfinished roll of tornado")


def test_a_halted_roll_resumes_behind_its_recorded_http_gate(rfleet, home, inv):
    """The state file keeps the gate: `--resume` alone runs with --http and --timeout-healthy, and
    restarts the process that failed (FATAL after the bad build) first, once the build is fixed."""
    rfleet.break_app("web02")
    gate = ("--min-healthy", "0", "--timeout-healthy", "20", "--http", "http://127.0.0.1:{port}/")
    halted = roll(inv, home, *gate)
    assert halted.code == 1, halted.out + halted.err
    first = f"tornado:tornado-{rfleet.host('web02').tornado_ports[0]}"
    wait_until(lambda: rfleet.process_states("web02")[first] == "FATAL", 60, "the bad build to be FATAL")
    rfleet.fix_app("web02")
    before = pids(rfleet)
    resumed = roll(inv, home, "--resume", "-v")
    assert resumed.code == 0, resumed.out + resumed.err
    lines = resumed.out.splitlines()
    assert "gate: RUNNING, same pid for 0s, probe --http http://127.0.0.1:{port}/; within 20s; " \
           "stop at the first failed host" in lines
    port = rfleet.host("web02").tornado_ports[0]
    after = pids(rfleet)
    assert f"         {first}: pid 0 -> {after[('web02', first)]} (GET http://127.0.0.1:{port}/ -> 200)" in lines
    assert lines[lines.index(f"         {first}: pid 0 -> {after[('web02', first)]} "
                             f"(GET http://127.0.0.1:{port}/ -> 200)") - 1].startswith("web02  done")
    assert all(after[k] == before[k] for k in before if k[0] == "web01"), "web01 was done before the halt"
    assert all(after[k] != before[k] for k in before if k[0] in ("web02", "web03") and "tornado" in k[1])
    assert all(s == "RUNNING" for h in rfleet.hosts for s in rfleet.process_states(h.name).values())
