"""``herd status`` against the real test fleet: sshd + supervisord per host.

The shared fleet (conftest: web01 plain, web02 streamlocal forbidden, web03
inet_http_server with a password, web04 plain) is only read here, or changed
and put back within a test; tests that break hosts use fleets of their own.
"""

from __future__ import annotations

import pytest

from helpers import edit_inventory, herd



def expected_processes(fleet, name: str) -> list[str]:
    host = fleet.host(name)
    return [f"tornado:tornado-{port}" for port in host.tornado_ports] + ["worker"]


def test_all_running_lists_every_process_and_exits_0(fleet, home):
    run = herd("status", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    rows = run.rows()
    for host in fleet.hosts:
        listed = [r[1] for r in rows if r[0] == host.name]
        assert listed == expected_processes(fleet, host.name)
    assert all(r[2] == "RUNNING" for r in rows)
    total = sum(len(expected_processes(fleet, h.name)) for h in fleet.hosts)
    assert run.out.splitlines()[-1] == f"{len(fleet.hosts)} hosts, {total} processes: {total} RUNNING"
    assert run.err == ""


def test_json_matches_supervisorctl(fleet, home):
    run = herd("status", "--all-hosts", "-o", "json", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    data = run.json()
    assert [h["host"] for h in data["hosts"]] == [h.name for h in fleet.hosts]
    web01 = data["hosts"][0]
    assert web01["error"] is None
    ctl = fleet.supervisorctl("web01", "pid", "worker").stdout.strip()
    worker = next(p for p in web01["processes"] if p["name"] == "worker")
    assert worker["pid"] == int(ctl)
    assert worker["group"] == "worker" and worker["state"] == "RUNNING" and worker["uptime"] >= 0
    assert data["summary"]["hosts_unreachable"] == 0


def test_names_select_processes(fleet, home):
    port = fleet.host("web02").tornado_ports[1]
    run = herd("status", "-H", "web02", f"tornado:tornado-{port}", "worker", "-i", str(fleet.inventory_path),
               home=home)
    assert run.code == 0, run.err
    assert [r[1] for r in run.rows()] == [f"tornado:tornado-{port}", "worker"]
    group = herd("status", "-H", "web01", "tornado:*", "-i", str(fleet.inventory_path), home=home)
    assert [r[1] for r in group.rows()] == expected_processes(fleet, "web01")[:4]


def test_unknown_name_is_reported_per_host_and_exits_3(fleet, home):
    run = herd("status", "-H", "web01", "nosuch", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 3
    assert run.rows() == [["web01", "nosuch", "ERROR", "-", "-", "no such process"]]


@pytest.mark.parametrize("selector,expected", [
    (["-g", "odd"], ["web01", "web03"]),
    (["-H", "web0[12]"], ["web01", "web02"]),
    (["-g", "even", "-H", "web01"], ["web01", "web02", "web04"]),
    (["-g", "fleet"], ["web01", "web02", "web03", "web04"]),
])
def test_selectors_scope_hosts(fleet, home, selector, expected):
    run = herd("status", *selector, "worker", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    assert [r[0] for r in run.rows()] == expected


@pytest.mark.parametrize("selector,message", [
    (["-g", "nosuch"], "unknown group 'nosuch'"),
    (["-H", "db*"], "no host matches 'db*'"),
])
def test_selector_matching_nothing_is_a_usage_error(fleet, home, selector, message):
    run = herd("status", *selector, "-i", str(fleet.inventory_path), home=home)
    assert run.code == 2
    assert message in run.err
    assert run.out == "" and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_relay_fallback_when_streamlocal_is_forbidden(fleet, home):
    run = herd("status", "-H", "web02", "-v", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    assert "web02: sshd refused a direct channel to socket" in run.err
    assert "using a Python relay on the host" in run.err
    assert [r[1] for r in run.rows()] == expected_processes(fleet, "web02")


def test_verbose_names_the_inventory(fleet, home):
    run = herd("status", "-H", "web01", "-v", "-i", str(fleet.inventory_path), home=home)
    assert f"herd: inventory: {fleet.inventory_path} (from -i)" in run.err


def test_inet_http_server_with_wrong_and_missing_password(fleet, home, tmp_path):
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not-the-password\n")

    def use_wrong(data):
        data["hosts"]["web03"]["supervisor"]["password_file"] = str(wrong)

    inv = edit_inventory(fleet.inventory_path, tmp_path / "wrong.yaml", use_wrong)
    run = herd("status", "-H", "web03", "-i", str(inv), home=home)
    assert run.code == 4
    assert run.rows()[0][:3] == ["web03", "-", "UNAUTHORIZED"]    # it answered: not a network problem
    assert run.rows()[0][5] == ("supervisord refused the username/password (HTTP 401): check "
                                "supervisor.username and password_env/password_file")
    assert "not-the-password" not in run.out + run.err
    assert fleet.host("web03").password not in run.out + run.err

    def no_credentials(data):
        sup = data["hosts"]["web03"]["supervisor"]
        del sup["username"], sup["password_file"]

    inv = edit_inventory(fleet.inventory_path, tmp_path / "none.yaml", no_credentials)
    run = herd("status", "-H", "web03", "-i", str(inv), home=home)
    assert run.code == 4
    assert "supervisord requires a username and password (HTTP 401)" in run.out
    assert run.rows()[0][:3] == ["web03", "-", "UNAUTHORIZED"]


def test_password_from_environment(fleet, home, tmp_path):
    def use_env(data):
        sup = data["hosts"]["web03"]["supervisor"]
        del sup["password_file"]
        sup["password_env"] = "HERD_TEST_WEB03_PASS"

    inv = edit_inventory(fleet.inventory_path, tmp_path / "env.yaml", use_env)
    from helpers import herd_env

    env = herd_env(home, HERD_TEST_WEB03_PASS=fleet.host("web03").password)
    assert herd("status", "-H", "web03", "-i", str(inv), home=home, env=env).code == 0
    unset = herd("status", "-H", "web03", "-i", str(inv), home=home)
    assert unset.code == 4
    assert "environment variable HERD_TEST_WEB03_PASS (password_env) is not set" in unset.out


def test_stopped_process_exits_3(fleet, home):
    assert fleet.supervisorctl("web04", "stop", "worker").returncode == 0
    try:
        run = herd("status", "-H", "web04", "-i", str(fleet.inventory_path), home=home)
        assert run.code == 3
        worker = next(r for r in run.rows() if r[1] == "worker")
        assert worker[2:5] == ["STOPPED", "-", "-"]
        assert run.out.splitlines()[-1] == "1 host, 5 processes: 4 RUNNING, 1 STOPPED"
    finally:
        fleet.supervisorctl("web04", "start", "worker")


def test_status_reuses_one_connection(fleet):
    """A second status on the same Fleet costs a round trip, not a handshake."""
    from herd.fleet import Fleet, direct
    from herd.inventory import load_inventory
    from herd.operations.status import fetch_status
    from herd.ssh.connection import Connector

    inventory = load_inventory(str(fleet.inventory_path))
    f = Fleet(inventory.hosts, direct(Connector(timeout=10)))
    try:
        first = fetch_status(f, [])
        transports = {name: s.ssh.transport for name, s in ((h.name, f.access(h)) for h in f.hosts)}
        second = fetch_status(f, [])
        assert first.exit_code == second.exit_code == 0
        assert {name: s.ssh.transport for name, s in ((h.name, f.access(h)) for h in f.hosts)} == transports
        # one channel per host carried both calls
        for name, transport in transports.items():
            assert len(transport._channels.values()) == 1, name
    finally:
        f.close()


def test_status_leaves_the_names_it_saw_for_tab_completion(fleet, home):
    """Completion of process names reads what herd status last saw: no SSH round trip on Tab."""
    import subprocess
    import sys

    from helpers import herd_env

    run = herd("status", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    env = {**herd_env(home), "COMP_WORDS": f"herd restart -i {fleet.inventory_path} torn", "COMP_CWORD": "4",
           "_HERD_COMPLETE": "bash_complete"}
    done = subprocess.run([sys.executable, "-m", "herd"], capture_output=True, text=True, env=env, timeout=30)
    offered = [line.split(",", 1)[1] for line in done.stdout.splitlines()]
    ports = fleet.host("web01").tornado_ports
    assert done.returncode == 0 and offered[:2] == ["tornado", "tornado:*"], (offered, done.stderr)
    assert {f"tornado:tornado-{p}" for p in ports} <= set(offered)
