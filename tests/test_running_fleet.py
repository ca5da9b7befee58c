"""Hosts as they really run: discovery from the processes, several supervisords per host, requiretty.

Real sshd (and Dropbear), real sudo, real supervisord, on hosts built like Debian servers
(herd.localfleet.distro, herd.localfleet.apps); the inventory logs in as deploy (passwordless sudo):

web01  the leftover distro config: /etc/supervisor/supervisord.conf names /var/run/supervisor.sock,
       nothing runs there; the app's own supervisord runs as deploy from /srv/app (no -c), socket /tmp/...;
       its /proc is mounted with hidepid=2
web02  two supervisords: root's at the distro path (through become), the app's from /srv/app
web03  a supervisord reachable only on inet_http_server (the app's, with a password in its config)
web04  sudoers with Defaults requiretty (OpenSSH; sshd gives intern no pty)
web05  the same on Dropbear
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herd.localfleet import apps
from herd.testing.pytest_plugin import module_fleet
from helpers import edit_inventory, herd, herd_env

rfleet = module_fleet(
    "running", hosts=5, distro=["web01", "web02", "web03", "web04"], dropbear=["web05"],
    layouts={"web01": {"system": False, "app": "unix", "hidepid": True}, "web02": {"app": "unix"},
             "web03": {"system": False, "app": "inet"}, "web04": {"requiretty": True},
             "web05": {"requiretty": True}})

LEFTOVER = ("/var/run/supervisor.sock ([supervisorctl] serverurl in /etc/supervisor/supervisord.conf) "
            "does not answer")


@pytest.fixture(scope="module")
def silent(rfleet, tmp_path_factory) -> str:
    """The fleet's inventory naming no socket for any host: discovery decides."""
    path = tmp_path_factory.mktemp("inv") / "silent.yaml"
    return str(edit_inventory(rfleet.inventory_path, path,
                              lambda d: [h.pop("supervisor") for h in d["hosts"].values()]))


@pytest.fixture(scope="module")
def several(rfleet, tmp_path_factory) -> str:
    """web02 with both its supervisords named: web02/system (root's) and web02/app (the app's)."""
    path = tmp_path_factory.mktemp("inv") / "several.yaml"
    app = rfleet.host("web02").app_socket

    def change(data):
        host = data["hosts"]["web02"]
        host.pop("supervisor")
        host["supervisors"] = {"system": {"socket": "/var/run/supervisor.sock"}, "app": {"socket": app}}
    return str(edit_inventory(rfleet.inventory_path, path, change))


def env(home: Path, **extra: str) -> dict[str, str]:
    return herd_env(home, XDG_STATE_HOME=str(home / "state"), **extra)


def app_pid(rfleet, name: str) -> int:
    return next(i["pid"] for i in apps.rpc(rfleet.host(name)).supervisor.getAllProcessInfo())


def logins(rfleet, name: str) -> int:
    return Path(rfleet.host(name).sshd_log_path).read_text().count("Accepted publickey")


# -- discovery finds what runs ----------------------------------------------------------

@pytest.mark.parametrize("become", ["--become", "--no-become"])
def test_leftover_distro_config_the_running_supervisord_is_found(rfleet, home, silent, become):
    run = herd("status", "-i", silent, "-H", "web01", "-v", become, home=home, env=env(home))
    assert run.code == 0, run.out + run.err
    assert [r[:3] for r in run.rows()] == [["web01", f"web:web-{p}", "RUNNING"] for p in rfleet.host("web01").app_ports]
    host = rfleet.host("web01")
    pid = host.app_pid
    assert f"herd: web01: discovery: {LEFTOVER}: No such file or directory" in run.err
    assert (f"herd: web01: found supervisord at {host.app_socket} (supervisord pid {pid} running as deploy with "
            f"/srv/app/supervisord.conf, seen listening there; {LEFTOVER})") in run.err.splitlines()
    assert (f"herd: web01: discovery: supervisord runs: unix://{host.app_socket}: pid {pid}, user deploy, config "
            f"/srv/app/supervisord.conf (found from its working directory /srv/app)") in run.err.splitlines()


def test_hidepid_is_said_to_the_login_user_and_not_under_become(rfleet, home, silent):
    note = ("herd: web01: discovery: /proc is mounted with hidepid=invisible: other users' processes are hidden "
            "from this user (become: true sees them)")
    plain = herd("status", "-i", silent, "-H", "web01", "-v", "--no-become", home=home, env=env(home))
    assert plain.code == 0 and note in plain.err.splitlines()     # its own supervisord is still seen
    root = herd("status", "-i", silent, "-H", "web01", "-v", "--become", home=home, env=env(home))
    assert root.code == 0 and note not in root.err.splitlines()


def test_a_socket_found_from_the_process_is_remembered(rfleet, home, silent):
    first = herd("status", "-i", silent, "-H", "web01", "--no-become", home=home, env=env(home))
    assert first.code == 0, first.err
    second = herd("status", "-i", silent, "-H", "web01", "--no-become", "-v", home=home, env=env(home))
    assert second.code == 0
    assert (f"herd: web01: using socket {rfleet.host('web01').app_socket}, found on an earlier run"
            in second.err.splitlines())
    assert "discovery:" not in second.err


def test_two_running_and_the_inventory_silent_is_one_line_naming_both(rfleet, home, silent):
    run = herd("status", "-i", silent, "-H", "web02", home=home, env=env(home))
    assert run.code == 4
    host = rfleet.host("web02")
    assert run.out.splitlines()[1:] == [
        f"web02  -        UNREACHABLE  -    -       2 supervisords run and the inventory names none: "
        f"unix:///var/run/supervisor.sock (pid {host.supervisord_pid}, root, /etc/supervisor/supervisord.conf); "
        f"unix://{host.app_socket} (pid {host.app_pid}, deploy, /srv/app/supervisord.conf); set supervisor.socket "
        f"(or supervisor.url) to one, or name each under supervisors: {{NAME: {{socket: PATH}}}}",
        "1 host, 0 processes; 1 host unreachable"]


def test_inet_http_server_only_found_from_the_process_with_its_password(rfleet, home, silent):
    password = Path(apps.password_file(rfleet.host("web03"))).read_text().strip()
    run = herd("status", "-i", silent, "-H", "web03", "-vvv", home=home, env=env(home))
    assert run.code == 0, run.out + run.err
    assert [r[2] for r in run.rows()] == ["RUNNING", "RUNNING"]
    port = rfleet.host("web03").app_port
    assert (f"herd: web03: found supervisord at 127.0.0.1:{port} (supervisord pid {rfleet.host('web03').app_pid} "
            f"running as deploy with /srv/app/supervisord.conf, seen listening there; {LEFTOVER}; with the "
            f"credentials of that section)") in run.err.splitlines()
    assert password not in run.out + run.err


# -- several supervisords per host -------------------------------------------------------

def test_both_supervisords_of_a_host_together_on_one_ssh_connection(rfleet, home, several):
    before = logins(rfleet, "web02")
    run = herd("status", "-i", several, "-H", "web02", home=home, env=env(home))
    assert run.code == 0, run.out + run.err
    assert logins(rfleet, "web02") == before + 1
    host = rfleet.host("web02")
    assert [r[:3] for r in run.rows()] == (    # in inventory order
        [["web02/system", f"tornado:tornado-{p}", "RUNNING"] for p in host.tornado_ports] +
        [["web02/app", f"web:web-{p}", "RUNNING"] for p in host.app_ports])
    assert run.out.splitlines()[-1] == "2 hosts, 6 processes: 6 RUNNING"


def test_one_supervisord_of_a_host_at_a_time(rfleet, home, several):
    app = herd("status", "-i", several, "-H", "web02/app", "-o", "json", home=home, env=env(home))
    assert app.code == 0, app.err
    assert [h["host"] for h in app.json()["hosts"]] == ["web02/app"]
    system = herd("status", "-i", several, "-H", "web02/system", home=home, env=env(home))
    assert {r[0] for r in system.rows()} == {"web02/system"} and len(system.rows()) == 4
    glob = herd("status", "-i", several, "-H", "*/app", home=home, env=env(home))
    assert {r[0] for r in glob.rows()} == {"web02/app"}


def test_a_selector_naming_a_supervisord_a_host_does_not_have(rfleet, home, several):
    run = herd("status", "-i", several, "-H", "web02/ap", home=home, env=env(home))
    assert (run.code, run.err) == (2, "herd: no host matches 'web02/ap' (did you mean 'web02/app'?)\n")
    run = herd("status", "-i", several, "-H", "web01/app", home=home, env=env(home))
    assert (run.code, run.err) == (2, "herd: no host matches 'web01/app' (web01 has one supervisord, not named: "
                                      "use -H web01)\n")


def test_restart_on_one_supervisord_leaves_the_other_alone(rfleet, home, several):
    system = {i["name"]: i["pid"] for i in rfleet.rpc("web02").supervisor.getAllProcessInfo()}
    before = app_pid(rfleet, "web02")
    port = rfleet.host("web02").app_ports[0]
    run = herd("restart", f"web:web-{port}", "-H", "web02/app", "-i", several, home=home, env=env(home))
    assert run.code == 0, run.out + run.err
    assert app_pid(rfleet, "web02") != before
    assert {i["name"]: i["pid"] for i in rfleet.rpc("web02").supervisor.getAllProcessInfo()} == system


def test_rolling_plan_and_check_name_each_supervisord(rfleet, home, several):
    plan = herd("rolling-restart", "tornado", "-H", "web02", "-i", several, "--dry-run", home=home, env=env(home))
    assert plan.code == 0, plan.out + plan.err
    ports = rfleet.host("web02").tornado_ports
    assert f"  batch 1/1  web02/system: {', '.join(f'tornado:tornado-{p}' for p in ports)}" in plan.out.splitlines()
    assert "  skipped (no tornado): web02/app" in plan.out.splitlines()
    nagios = herd("check", "-H", "web02", "-i", several, home=home, env=env(home))
    assert nagios.code == 0, nagios.out
    assert nagios.out.startswith("HERD OK - 2 hosts, 6 processes RUNNING | hosts=2;;;0 ")
    prom = herd("check", "-H", "web02", "-i", several, "--format", "prometheus", home=home, env=env(home))
    assert 'herd_host_up{host="web02/app"} 1' in prom.out.splitlines()
    assert 'herd_host_up{host="web02/system"} 1' in prom.out.splitlines()


def test_without_become_the_apps_supervisord_answers_and_roots_refuses(rfleet, home, several):
    run = herd("status", "-i", several, "-H", "web02", "--no-become", home=home, env=env(home))
    assert run.code == 4
    rows = run.rows()
    assert rows[0] == ["web02/system", "-", "UNREACHABLE", "-", "-", "permission denied on socket "
                       "/var/run/supervisor.sock for user deploy (set become: true in the inventory to reach it "
                       "through sudo, log in as supervisord's user, or set chmod/chown in [unix_http_server])"]
    assert [r[:3] for r in rows[1:]] == [["web02/app", f"web:web-{p}", "RUNNING"] for p in rfleet.host("web02").app_ports]


# -- requiretty ---------------------------------------------------------------------------

def as_user(rfleet, tmp_path: Path, user: str) -> str:
    def change(data):
        for name in ("web04", "web05"):
            data["hosts"][name].update(user=user, become_password_file=rfleet.host(name).sudo_password_file)
    return str(edit_inventory(rfleet.inventory_path, tmp_path / f"{user}.yaml", change))


@pytest.mark.parametrize("name", ["web04", "web05"])
def test_requiretty_with_passwordless_sudo(rfleet, home, name):
    run = herd("status", "-i", str(rfleet.inventory_path), "-H", name, "-v", home=home)
    assert run.code == 0, run.out + run.err
    assert len(run.rows()) == 4 and all(r[2] == "RUNNING" for r in run.rows())
    assert (f"herd: {name}: sudo requires a terminal here (Defaults requiretty): running herd's agents through "
            f"sudo on a pty in raw mode") in run.err.splitlines()


@pytest.mark.parametrize("name", ["web04", "web05"])
def test_requiretty_with_a_sudo_password_never_shown(rfleet, home, tmp_path, name):
    inventory = as_user(rfleet, tmp_path, "ops")
    password = Path(rfleet.host(name).sudo_password_file).read_text().strip()
    run = herd("status", "-i", inventory, "-H", name, "-vvv", home=home)
    assert run.code == 0, run.out + run.err
    assert len(run.rows()) == 4
    assert password not in run.out + run.err
    tornado = f"tornado:tornado-{rfleet.host(name).tornado_ports[0]}"
    before = rfleet.rpc(name).supervisor.getProcessInfo(tornado)["pid"]
    control = herd("restart", tornado, "-H", name, "-i", inventory, home=home)
    assert control.code == 0, control.out + control.err
    assert rfleet.rpc(name).supervisor.getProcessInfo(tornado)["pid"] != before


def test_requiretty_with_a_wrong_sudo_password(rfleet, home, tmp_path):
    inventory = as_user(rfleet, tmp_path, "ops")
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not-the-password\n")
    inv = edit_inventory(Path(inventory), tmp_path / "wrong.yaml",
                         lambda d: d["hosts"]["web04"].update(become_password_file=str(wrong)))
    run = herd("status", "-i", str(inv), "-H", "web04", home=home)
    assert run.code == 4
    assert run.rows() == [["web04", "-", "UNREACHABLE", "-", "-", f"sudo refused the password from "
                           f"become_password_file {wrong} for ops (wrong sudo password)"]]


def test_requiretty_and_no_pty_from_sshd_is_one_line_with_the_fix(rfleet, home, tmp_path):
    inventory = as_user(rfleet, tmp_path, "intern")
    run = herd("status", "-i", inventory, "-H", "web04", home=home)
    assert run.code == 4
    assert run.rows() == [["web04", "-", "UNREACHABLE", "-", "-", "sudo on the host requires a terminal (Defaults "
                           "requiretty) and the SSH server refused herd a pty (PermitTTY no?); let intern use sudo "
                           "without one: add 'Defaults:intern !requiretty' to the host's sudoers"]]


def test_requiretty_discovery_on_the_pty(rfleet, home, silent):
    run = herd("status", "-i", silent, "-H", "web0[45]", "-o", "json", home=home, env=env(home))
    assert run.code == 0, run.out + run.err
    assert [(h["host"], len(h["processes"])) for h in json.loads(run.out)["hosts"]] == [("web04", 4), ("web05", 4)]


def test_a_keeper_keeps_one_connection_for_a_hosts_two_supervisords(rfleet, home, several, tmp_path):
    import shutil
    import tempfile

    runtime = Path(tempfile.mkdtemp(prefix="herd-rt-", dir="/tmp"))   # short: a socket path lives there
    kept = env(home, HERD_KEEP="2m", XDG_RUNTIME_DIR=str(runtime))
    try:
        before = logins(rfleet, "web02")
        for selector in ("web02", "web02/app", "web02/system", "web02"):
            run = herd("status", "-i", several, "-H", selector, home=home, env=kept)
            assert run.code == 0, run.out + run.err
        assert logins(rfleet, "web02") == before + 1
        status = herd("keeper", "status", "-o", "json", home=home, env=kept)
        assert [k["hosts_connected"] for k in status.json()] == [1]   # one host: one connection
    finally:
        herd("keeper", "stop", "-i", several, home=home, env=kept)
        shutil.rmtree(runtime, ignore_errors=True)
