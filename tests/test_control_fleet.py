"""start / stop / restart / signal / clear / pid / version against real sshd + supervisord.

These tests change process states, so they run on a fleet of this module's
own (3 hosts), and every test leaves it all RUNNING again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from herd.testing.pytest_plugin import module_fleet
from helpers import herd


cfleet = module_fleet("control", hosts=3)


@pytest.fixture
def inv(cfleet):
    """The inventory path; afterwards, puts every process of every host back to RUNNING."""
    yield str(cfleet.inventory_path)
    for host in cfleet.hosts:
        cfleet.supervisorctl(host.name, "start", "all")


def pids(fleet, name: str) -> dict[str, int]:
    """{process: pid} on one host, from supervisord itself (not through herd)."""
    return {p["group"] + ":" + p["name"] if p["group"] != p["name"] else p["name"]: p["pid"]
            for p in fleet.rpc(name).supervisor.getAllProcessInfo()}


def all_pids(fleet) -> dict[str, dict[str, int]]:
    return {h.name: pids(fleet, h.name) for h in fleet.hosts}


def test_refuses_without_a_selector_and_changes_nothing(cfleet, home, inv):
    before = all_pids(cfleet)
    for args in (["stop", "worker"], ["restart", "all"], ["signal", "HUP", "worker"], ["update"],
                 ["reload", "--yes"], ["shutdown", "--yes"], ["clear", "worker"]):
        run = herd(*args, "-i", inv, home=home)
        assert run.code == 2, args
        assert run.err == ("herd: this command changes things: choose hosts with --all-hosts, "
                           "--group/-g NAME or --host/-H PATTERN\n"), args
    assert all_pids(cfleet) == before


def test_stop_and_start_with_supervisorctl_words(cfleet, home, inv):
    run = herd("stop", "worker", "-a", "-i", inv, home=home)
    assert run.code == 0, run.out + run.err
    assert run.out.splitlines() == ["web01  worker  stopped", "web02  worker  stopped", "web03  worker  stopped",
                                    "3 hosts: 3 stopped"]
    assert {pids(cfleet, h.name)["worker"] for h in cfleet.hosts} == {0}
    again = herd("stop", "worker", "-H", "web01", "-i", inv, home=home)
    assert again.code == 0
    assert again.out.splitlines() == ["web01  worker  not running", "1 host: 1 not running"]
    started = herd("start", "worker", "-a", "-i", inv, home=home)
    assert started.code == 0
    assert started.out.splitlines()[-1] == "3 hosts: 3 started"
    assert all(cfleet.process_states(h.name)["worker:worker"] == "RUNNING" for h in cfleet.hosts)
    already = herd("start", "worker", "-H", "web02", "-i", inv, home=home)
    assert already.out.splitlines() == ["web02  worker  already started", "1 host: 1 already started"]


def test_restart_with_group_selector_touches_only_that_group(cfleet, home, inv):
    before = all_pids(cfleet)
    run = herd("restart", "tornado:*", "-g", "odd", "-i", inv, home=home)
    assert run.code == 0, run.out + run.err
    after = all_pids(cfleet)
    for host in ("web01", "web03"):
        changed = {n for n in before[host] if before[host][n] != after[host][n]}
        assert changed == {n for n in before[host] if n.startswith("tornado:")}, host
    assert after["web02"] == before["web02"]
    assert run.out.splitlines()[-1] == "2 hosts: 8 restarted"


def test_all_restarts_every_process_of_the_host(cfleet, home, inv):
    before = pids(cfleet, "web02")
    run = herd("restart", "all", "-H", "web02", "-i", inv, home=home)
    assert run.code == 0, run.out + run.err
    after = pids(cfleet, "web02")
    assert set(after) == set(before) and all(after[n] != before[n] and after[n] for n in after)
    assert pids(cfleet, "web01") == pids(cfleet, "web01")


def test_signal_reaches_the_process(cfleet, home, inv):
    before = pids(cfleet, "web03")["worker"]
    run = herd("signal", "hup", "worker", "-H", "web03", "-i", inv, home=home)
    assert run.code == 0, run.out + run.err
    assert run.out.splitlines()[0] == "web03  worker  signalled HUP"
    cfleet.wait_running("web03")  # HUP kills it; supervisord restarts it (autorestart=unexpected)
    assert pids(cfleet, "web03")["worker"] != before


def test_bad_signal_is_a_usage_error(cfleet, home, inv):
    run = herd("signal", "BOGUS", "worker", "-a", "-i", inv, home=home)
    assert run.code == 2
    assert run.err == "herd: unknown signal: BOGUS (e.g. HUP, TERM, USR1, or a number)\n"


def test_unknown_name_anywhere_refuses_before_touching_anything(cfleet, home, inv):
    before = all_pids(cfleet)
    run = herd("stop", "worker", "nosuch", "-a", "-i", inv, home=home)
    assert run.code == 2
    assert run.err == "herd: no such process or group on any selected host: nosuch\n"
    assert all_pids(cfleet) == before


def test_dry_run_changes_nothing(cfleet, home, inv):
    before = all_pids(cfleet)
    run = herd("restart", "all", "-a", "--dry-run", "-i", inv, home=home)
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0] == "dry run: nothing was changed"
    worker_pid = before["web01"]["worker"]
    assert f"web01  worker                 would restart  (RUNNING, pid {worker_pid})" in lines
    assert lines[-1] == "3 hosts: 15 would restart"
    for args in (["stop", "worker"], ["signal", "HUP", "worker"], ["clear", "worker"]):
        assert herd(*args, "-a", "--dry-run", "-i", inv, home=home).code == 0
    assert all_pids(cfleet) == before


def test_name_missing_on_some_hosts(cfleet, home, inv):
    """A group removed from one host: reported there, fails unless --ignore-missing."""
    assert cfleet.supervisorctl("web02", "stop", "worker").returncode == 0
    assert cfleet.supervisorctl("web02", "remove", "worker").returncode == 0
    try:
        run = herd("stop", "worker", "-a", "-i", inv, home=home)
        assert run.code == 1
        assert run.out.splitlines() == ["web01  worker  stopped", "web02  worker: no such process",
                                        "web03  worker  stopped", "3 hosts: 2 stopped; 1 failed"]
        ignored = herd("start", "worker", "-a", "--ignore-missing", "-i", inv, home=home)
        assert ignored.code == 0
        assert "web02  worker  not on this host (ignored)" in ignored.out.splitlines()
    finally:
        cfleet.supervisorctl("web02", "add", "worker")


def test_no_wait_returns_before_running(cfleet, home, inv):
    herd("stop", "tornado", "-H", "web01", "-i", inv, home=home)
    run = herd("start", "tornado", "-H", "web01", "--no-wait", "-i", inv, home=home)
    assert run.code == 0
    assert run.out.splitlines()[-1] == "1 host: 4 starting"
    assert set(cfleet.process_states("web01").values()) <= {"STARTING", "RUNNING"}


def test_failed_start_is_reported_with_exit_1(cfleet, home, inv):
    cfleet.break_app("web03")
    try:
        herd("stop", "tornado:*", "-H", "web03", "-i", inv, home=home)
        port = cfleet.host("web03").tornado_ports[0]
        run = herd("start", f"tornado:tornado-{port}", "-H", "web03", "-i", inv, home=home, timeout=120)
        assert run.code == 1
        assert run.out.splitlines()[0].startswith(f"web03  tornado:tornado-{port}: FATAL: ")
        assert run.out.splitlines()[-1] == "1 host: 1 failed"
    finally:
        cfleet.fix_app("web03")


def test_json_output(cfleet, home, inv):
    run = herd("stop", "worker", "-H", "web01", "-o", "json", "-i", inv, home=home)
    data = run.json()
    assert data["action"] == "stop" and data["dry_run"] is False and data["exit_code"] == 0
    assert data["hosts"] == [{"host": "web01", "error": None, "results": [
        {"name": "worker", "result": "stopped", "detail": "", "error": None, "changed": True}]}]


def test_clear_empties_the_logs(cfleet, home, inv):
    log = Path(cfleet.rpc("web01").supervisor.getProcessInfo("worker")["stdout_logfile"])
    assert log.stat().st_size > 0
    run = herd("clear", "worker", "-H", "web01", "-i", inv, home=home)
    assert run.out.splitlines()[0] == "web01  worker  logs cleared"
    assert log.stat().st_size < 200  # at most a line or two written since


def test_pid_and_version(cfleet, home, inv):
    run = herd("pid", "-i", inv, home=home)
    assert run.code == 0
    expected = [f"{h.name}  supervisord  {cfleet.rpc(h.name).supervisor.getPID()}" for h in cfleet.hosts]
    assert run.out.splitlines() == expected + ["3 hosts"]
    worker = herd("pid", "worker", "-H", "web02", "-i", inv, home=home)
    assert worker.out.splitlines()[0] == f"web02  worker  {pids(cfleet, 'web02')['worker']}"
    version = herd("version", "-H", "web01", "-i", inv, home=home)
    import supervisor.options

    assert version.out.splitlines()[:2] == ["herd 0.1.0",
                                            f"web01  supervisord  {supervisor.options.VERSION} (API 3.0)"]


def test_unreachable_host_exits_4_and_others_act(make_fleet, home):
    small = make_fleet(hosts=2)
    small.stop_sshd("web02")
    run = herd("stop", "worker", "-a", "-i", str(small.inventory_path), home=home)
    assert run.code == 4
    lines = run.out.splitlines()
    assert lines[0] == "web01  worker  stopped"
    assert lines[1].startswith("web02  unreachable: connection refused by 127.0.0.1")
    assert lines[-1] == "2 hosts: 1 stopped; 1 host unreachable"
