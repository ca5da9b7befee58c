"""become against hosts built like Debian servers: real sshd and Dropbear, real sudo, real supervisord.

web01 and web03 run OpenSSH, web02 Dropbear; on each, supervisord runs as root
with its 0700 socket at /var/run/supervisor.sock and the seed's Tornado
program, and the inventory logs in as ``deploy`` (passwordless sudo).  ``ops``
needs its password for sudo; ``intern`` is not in sudoers.  web03 has no sudo.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from herd.testing.pytest_plugin import module_fleet
from helpers import edit_inventory, herd, herd_env

SUDO_HOSTS = ("web01", "web02")


dfleet = module_fleet("become", hosts=3, distro=["web01", "web03"], dropbear=["web02"],
                      hidden={"web03": ["/usr/bin/sudo"]})


def pids(fleet, names=SUDO_HOSTS) -> dict[tuple[str, str], int]:
    return {(n, f"{p['group']}:{p['name']}"): p["pid"]
            for n in names for p in fleet.rpc(n).supervisor.getAllProcessInfo()}


def as_user(fleet, tmp_path: Path, user: str, password_env: str | None = "HERD_SUDO_PASS") -> str:
    """The fleet's inventory with ``user`` logging in to web01 and web02 (and a sudo password source)."""
    def change(data):
        for name in SUDO_HOSTS:
            data["hosts"][name]["user"] = user
            if password_env:
                data["hosts"][name]["become_password_env"] = password_env
    return str(edit_inventory(fleet.inventory_path, tmp_path / f"{user}.yaml", change))


def sudo_password(fleet) -> str:
    return Path(fleet.host("web01").sudo_password_file).read_text().strip()


def one_password_env(fleet, home: Path, password: str) -> dict[str, str]:
    """web01 and web02 have different ops passwords: one env var cannot serve both, so -H web01."""
    return herd_env(home, HERD_SUDO_PASS=password)


# -- the hosts are their own, whatever the machine has ------------------------------------

def test_distro_hosts_see_only_their_own_users_sudoers_and_supervisor_config(dfleet):
    """The machine's own users (a `deploy` with another uid), sudoers.d and /etc/supervisor never show
    through: whole files are bind-mounted over the machine's, nothing is appended to them."""
    from herd.localfleet.distro import nsenter
    from herd.localfleet.templates import DISTRO_SUDOERS

    for name in ("web01", "web02", "web03"):
        host = dfleet.host(name)

        def inside(*argv: str) -> str:
            return subprocess.run(nsenter(host, list(argv)), capture_output=True, text=True, check=True,
                                  stdin=subprocess.DEVNULL).stdout

        for file in ("passwd", "group", "nsswitch.conf"):
            assert inside("cat", f"/etc/{file}") == Path(host.dir, "etc", file).read_text(), (name, file)
        users = [line.split(":")[:3] for line in inside("getent", "passwd").splitlines()]
        assert users == [["root", "x", "0"], ["sshd", "x", "100"], ["nobody", "x", "65534"],
                         ["deploy", "x", "2101"], ["ops", "x", "2102"], ["intern", "x", "2103"]], name
        assert inside("cat", "/etc/sudoers") == DISTRO_SUDOERS
        assert inside("ls", "-A", "/etc/sudoers.d") == ""
        staged = Path(host.dir, "etc", "add")
        ours = sorted("/etc/" + str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
        found = inside("sh", "-c", "find /etc/supervisor /etc/supervisord.conf /etc/supervisord.d -type f "
                                   "-not -path '*/log/*' 2>/dev/null; true")     # log/: the app's own logs
        assert sorted(found.split()) == ours, name


# -- status, control, rolling through become ----------------------------------------------

def test_status_through_become_on_the_root_only_socket(dfleet, home):
    run = herd("status", "-i", str(dfleet.inventory_path), "-H", "web0[12]", "-v", home=home)
    assert run.code == 0, run.err
    rows = run.rows()
    assert {r[0] for r in rows} == {"web01", "web02"}
    assert len(rows) == 8 and all(r[2] == "RUNNING" for r in rows)
    for name in SUDO_HOSTS:
        assert f"herd: {name}: reaching socket /var/run/supervisor.sock through a Python relay run by sudo " \
               f"as root" in run.err


def test_without_become_the_login_user_is_refused_by_the_socket(dfleet, home):
    run = herd("status", "-i", str(dfleet.inventory_path), "-H", "web0[12]", "--no-become", home=home)
    assert run.code == 4
    assert run.rows() == [
        [name, "-", "UNREACHABLE", "-", "-", "permission denied on socket /var/run/supervisor.sock for user "
         "deploy (set become: true in the inventory to reach it through sudo, log in as supervisord's user, "
         "or set chmod/chown in [unix_http_server])"]
        for name in SUDO_HOSTS]


def test_become_on_the_command_line_overrides_the_inventory(dfleet, home, tmp_path):
    inv = edit_inventory(dfleet.inventory_path, tmp_path / "off.yaml",
                         lambda d: [d["hosts"][n].update(become=False) for n in SUDO_HOSTS])
    assert herd("status", "-i", str(inv), "-H", "web01", home=home).code == 4
    run = herd("status", "-i", str(inv), "-H", "web01", "--become", home=home)
    assert run.code == 0, run.out + run.err


def test_restart_through_become_on_openssh_and_dropbear(dfleet, home):
    before = pids(dfleet)
    port = {n: dfleet.host(n).tornado_ports[0] for n in SUDO_HOSTS}
    run = herd("restart", "tornado:*", "-H", "web0[12]", "-i", str(dfleet.inventory_path), home=home)
    assert run.code == 0, run.out + run.err
    after = pids(dfleet)
    assert all(after[k] != before[k] for k in before), (before, after)
    for name in SUDO_HOSTS:
        assert f"tornado:tornado-{port[name]}" in run.out


def test_rolling_restart_through_become(dfleet, home):
    before = pids(dfleet)
    env = herd_env(home, XDG_STATE_HOME=str(home / "state"))
    run = herd("rolling-restart", "tornado", "-H", "web0[12]", "-i", str(dfleet.inventory_path),
               "--batch", "2", "--per-host", "2", "--min-healthy", "1", "--tcp", "{port}", home=home, env=env, timeout=180)
    assert run.code == 0, run.out + run.err
    after = pids(dfleet)
    assert all(after[k] != before[k] for k in before)
    for name in SUDO_HOSTS:
        dfleet.wait_running(name)


def test_check_and_supervisords_own_log_through_become(dfleet, home):
    inv = str(dfleet.inventory_path)
    check = herd("check", "-i", inv, "-H", "web0[12]", home=home)
    assert check.code == 0, check.out + check.err
    maintail = herd("maintail", "-i", inv, "-H", "web02", home=home)
    assert maintail.code == 0, maintail.out + maintail.err
    assert "spawned: 'tornado-" in maintail.out


# -- sudo with a password, and its errors -------------------------------------------------

def test_a_password_source_is_not_used_where_sudo_needs_none(dfleet, home, tmp_path):
    """deploy has NOPASSWD: sudo never prompts, so the password is never written (it would reach supervisord)."""
    inv = as_user(dfleet, tmp_path, "deploy")
    run = herd("status", "-i", inv, "-H", "web0[12]", home=home, env=one_password_env(dfleet, home, "unused"))
    assert run.code == 0, run.out + run.err
    assert len(run.rows()) == 8

def test_password_sudo_with_the_right_password(dfleet, home, tmp_path):
    inv = as_user(dfleet, tmp_path, "ops")
    run = herd("status", "-i", inv, "-H", "web01", home=home, env=one_password_env(dfleet, home, sudo_password(dfleet)))
    assert run.code == 0, run.out + run.err
    assert len(run.rows()) == 4


def test_password_sudo_from_a_file(dfleet, home, tmp_path):
    def change(data):
        data["hosts"]["web01"].update(user="ops", become_password_file=dfleet.host("web01").sudo_password_file)
    inv = edit_inventory(dfleet.inventory_path, tmp_path / "file.yaml", change)
    run = herd("status", "-i", str(inv), "-H", "web01", home=home)
    assert run.code == 0, run.out + run.err


def test_wrong_sudo_password_is_one_line_and_sends_nothing_else(dfleet, home, tmp_path):
    inv = as_user(dfleet, tmp_path, "ops")
    run = herd("status", "-i", inv, "-H", "web0[12]", home=home, env=one_password_env(dfleet, home, "wrong-pass"))
    assert run.code == 4
    assert run.rows() == [[n, "-", "UNREACHABLE", "-", "-", "sudo refused the password from become_password_env "
                           "HERD_SUDO_PASS for ops (wrong sudo password)"] for n in SUDO_HOSTS]


def test_sudo_wanting_a_password_names_the_inventory_keys(dfleet, home, tmp_path):
    inv = as_user(dfleet, tmp_path, "ops", password_env=None)
    run = herd("status", "-i", inv, "-H", "web0[12]", home=home)
    assert run.code == 4
    assert run.rows() == [[n, "-", "UNREACHABLE", "-", "-", "sudo: a password is required for ops to run as "
                           "root; give it with become_password_env or become_password_file in the inventory"]
                          for n in SUDO_HOSTS]


def test_unset_password_variable_is_named(dfleet, home, tmp_path):
    run = herd("status", "-i", as_user(dfleet, tmp_path, "ops"), "-H", "web01", home=home)
    assert run.code == 4
    assert run.rows()[0][5] == "cannot read the sudo password: environment variable HERD_SUDO_PASS " \
                               "(become_password_env) is not set"


def test_user_not_in_sudoers(dfleet, home, tmp_path):
    inv = as_user(dfleet, tmp_path, "intern")
    run = herd("status", "-i", inv, "-H", "web01", home=home, env=one_password_env(dfleet, home, sudo_password(dfleet)))
    assert run.code == 4
    assert run.rows() == [["web01", "-", "UNREACHABLE", "-", "-", "intern is not allowed to run commands as root "
                           "through sudo (not in the host's sudoers)"]]
    without = herd("status", "-i", as_user(dfleet, tmp_path, "intern", None), "-H", "web01", home=home)
    assert "sudo: a password is required for intern" in without.out   # sudo -n cannot tell


def test_host_without_sudo(dfleet, home):
    run = herd("status", "-i", str(dfleet.inventory_path), "-H", "web03", home=home)
    assert run.code == 4
    assert run.rows() == [["web03", "-", "UNREACHABLE", "-", "-", "become is set but sudo is not installed on the host"]]


def test_no_python_names_what_was_tried_and_the_python_key(dfleet, home, tmp_path):
    inv = edit_inventory(dfleet.inventory_path, tmp_path / "py.yaml",
                         lambda d: d["hosts"]["web02"].update(python="/opt/nosuch/python3"))
    run = herd("status", "-i", str(inv), "-H", "web02", home=home)
    assert run.code == 4
    assert run.rows()[0][5] == ("no Python interpreter found (tried /opt/nosuch/python3) for herd's socket relay; "
                                "set python: in the inventory to the host's interpreter")


# -- the password stays secret ------------------------------------------------------------

def cmdlines() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found.append(Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
    return found


def test_sudo_password_never_in_output_logs_or_process_list(dfleet, home, tmp_path):
    password = sudo_password(dfleet)
    inv = as_user(dfleet, tmp_path, "ops")
    seen_sudo, leaked, done = [], [], threading.Event()

    def watch() -> None:
        while not done.is_set():
            for line in cmdlines():
                if "[herd-sudo-password]" in line:
                    seen_sudo.append(line)
                if password in line:
                    leaked.append(line)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    env = one_password_env(dfleet, home, password)
    try:
        good = subprocess.run([sys.executable, "-m", "herd", "status", "-i", inv, "-H", "web01", "-vvv"],
                              capture_output=True, text=True, env=env, timeout=60)
        bad = herd("status", "-i", inv, "-H", "web01", "-vvv", home=home,
                   env=one_password_env(dfleet, home, password + "x"))
    finally:
        done.set()
        watcher.join()
    assert good.returncode == 0, good.stdout + good.stderr
    assert seen_sudo, "the watcher never saw sudo running: the check would prove nothing"
    assert not leaked
    for text in (good.stdout, good.stderr, bad.out, bad.err):
        assert password not in text
    sshd_log = Path(dfleet.host("web01").sshd_log_path).read_text()
    assert password not in sshd_log
