"""Reaching supervisord through SSH, and every way it can fail, against real sshd/supervisord."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import assert_through_jump, edit_inventory, herd, wait_until



def only(name: str):
    """An inventory change keeping only host ``name`` (and no groups)."""

    def change(data):
        data["hosts"] = {name: data["hosts"][name]}
        data.pop("groups", None)

    return change


def keyscan_line(fleet, name: str) -> str:
    host = fleet.host(name)
    pub = Path(host.dir, "ssh_host_ed25519_key.pub").read_text().split()
    return f"[127.0.0.1]:{host.ssh_port} {pub[0]} {pub[1]}\n"


# -- host keys -------------------------------------------------------------------


def test_unknown_host_key_is_refused_with_advice_then_accept_new_records_it(fleet, home, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("# my hosts\n")

    def change(data):
        only("web01")(data)
        data["defaults"]["known_hosts"] = str(known)

    inv = edit_inventory(fleet.inventory_path, tmp_path / "inv.yaml", change)
    port = fleet.host("web01").ssh_port
    refused = herd("status", "-i", str(inv), home=home)
    assert refused.code == 4
    reason = refused.rows()[0][5]
    assert reason.startswith(f"unknown host key for [127.0.0.1]:{port} (ssh-ed25519 SHA256:")
    assert reason.endswith(f"refusing to connect. Trust it after checking the fingerprint: "
                           f"ssh-keyscan -p {port} 127.0.0.1 >> {known}, or run once with --accept-new")
    assert known.read_text() == "# my hosts\n"

    accepted = herd("status", "--accept-new", "-i", str(inv), home=home)
    assert accepted.code == 0, accepted.out + accepted.err
    assert "recorded new host key ssh-ed25519" in accepted.err
    assert known.read_text() == "# my hosts\n" + keyscan_line(fleet, "web01")

    again = herd("status", "-i", str(inv), home=home)
    assert again.code == 0 and again.err == ""


def test_changed_host_key_is_refused_even_with_accept_new(fleet, home, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    pub = other.with_suffix(".pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{fleet.host('web01').ssh_port} {pub[0]} {pub[1]}\n")

    def change(data):
        only("web01")(data)
        data["defaults"]["known_hosts"] = str(known)

    inv = edit_inventory(fleet.inventory_path, tmp_path / "inv.yaml", change)
    for flags in ([], ["--accept-new"]):
        run = herd("status", *flags, "-i", str(inv), home=home)
        assert run.code == 4
        assert "HOST KEY HAS CHANGED" in run.out
        assert f"ssh-keygen -f {known} -R '[127.0.0.1]:{fleet.host('web01').ssh_port}'" in run.out
    assert len(known.read_text().splitlines()) == 1


def test_user_known_hosts_is_trusted(fleet, home, tmp_path):
    """~/.ssh/known_hosts counts, besides the inventory's file."""
    (home / ".ssh").mkdir()
    (home / ".ssh" / "known_hosts").write_text(keyscan_line(fleet, "web01"))

    def change(data):
        only("web01")(data)
        del data["defaults"]["known_hosts"]

    inv = edit_inventory(fleet.inventory_path, tmp_path / "inv.yaml", change)
    assert herd("status", "-i", str(inv), home=home).code == 0


# -- authentication, ~/.ssh/config, ProxyJump ----------------------------------------


def test_auth_refused_names_user_and_keys(fleet, home, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)

    def change(data):
        only("web01")(data)
        data["defaults"]["identity_file"] = str(stranger)

    inv = edit_inventory(fleet.inventory_path, tmp_path / "inv.yaml", change)
    run = herd("status", "-i", str(inv), home=home)
    user = pwd.getpwuid(os.getuid()).pw_name
    assert run.code == 4
    assert run.rows()[0][5] == f"authentication refused for user {user} (offered: {stranger})"


def test_ssh_config_is_honoured_and_inventory_wins(fleet, home, tmp_path):
    host = fleet.host("web01")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text(
        f"Host alias01\n  HostName 127.0.0.1\n  Port {host.ssh_port}\n  IdentityFile {fleet.client_key_path}\n"
        f"  User {pwd.getpwuid(os.getuid()).pw_name}\n"
        f"Host alias02\n  HostName 127.0.0.1\n  Port 1\n  User nobody-at-all\n"
    )

    def change(data):
        sup = data["hosts"]["web01"]["supervisor"]
        data["hosts"] = {"alias01": {"supervisor": sup},
                         "alias02": {"port": host.ssh_port, "user": data["defaults"]["user"], "supervisor": sup}}
        del data["defaults"]["identity_file"], data["defaults"]["user"]
        data.pop("groups", None)

    (tmp_path / "kh").write_text(keyscan_line(fleet, "web01"))
    inv = edit_inventory(fleet.inventory_path, tmp_path / "inv.yaml", change)
    inv.write_text(inv.read_text().replace(str(fleet.known_hosts_path), str(tmp_path / "kh")))
    # alias02 keeps its identity from nowhere: give it the key through the config's default path
    shutil.copy(fleet.client_key_path, home / ".ssh" / "id_ed25519")
    run = herd("status", "-i", str(inv), home=home)
    assert run.code == 0, run.out + run.err
    assert {r[0] for r in run.rows()} == {"alias01", "alias02"}


def test_proxy_jump_through_another_host(fleet, home, tmp_path):
    jump = fleet.host("web01")

    def change(data):
        only("web04")(data)
        data["hosts"]["web04"]["proxy_jump"] = f"{data['defaults']['user']}@127.0.0.1:{jump.ssh_port}"

    inv = edit_inventory(fleet.inventory_path, tmp_path / "inv.yaml", change)
    run = herd("status", "-i", str(inv), home=home)
    assert run.code == 0, run.out + run.err
    assert [r[0] for r in run.rows()] == ["web04"] * 5

    # and it really went through the jump host: the SSH transport rides on a channel
    from herd.inventory import load_inventory

    assert_through_jump(load_inventory(str(inv)).host("web04"), jump.ssh_port)


# -- hosts that are down, hung or misconfigured --------------------------------------------


def test_sshd_down_gives_an_error_row_and_the_others_complete(make_fleet, home):
    small = make_fleet(hosts=2)
    small.stop_sshd("web02")
    run = herd("status", "-i", str(small.inventory_path), home=home)
    assert run.code == 4
    rows = run.rows()
    assert [r[0] for r in rows if r[2] == "RUNNING"] == ["web01"] * 5
    port = small.host("web02").ssh_port
    assert rows[-1] == ["web02", "-", "UNREACHABLE", "-", "-",
                        f"connection refused by 127.0.0.1 port {port} (is sshd running?)"]
    assert run.out.splitlines()[-1] == "2 hosts, 5 processes: 5 RUNNING; 1 host unreachable"

    small.start_sshd("web02")
    assert herd("status", "-i", str(small.inventory_path), home=home).code == 0


def test_hung_host_returns_within_timeout(make_fleet, home):
    small = make_fleet(hosts=2)
    healthy = herd("status", "--timeout", "2", "-i", str(small.inventory_path), home=home)
    small.pause_sshd("web02")
    try:
        run = herd("status", "--timeout", "2", "-i", str(small.inventory_path), home=home)
    finally:
        small.resume_sshd("web02")
    assert run.code == 4
    # the timeout plus a little over a healthy run (start-up included), not paramiko's 15 s banner wait
    assert run.seconds < healthy.seconds + 2 + 3, (healthy.seconds, run.seconds)
    web02 = [r for r in run.rows() if r[0] == "web02"]
    assert web02[0][2] == "UNREACHABLE"
    assert "did not finish within 2 s" in web02[0][5]
    assert [r[2] for r in run.rows() if r[0] == "web01"] == ["RUNNING"] * 5


def test_supervisord_down_unix_and_inet(make_fleet, home):
    small = make_fleet(hosts=2, inet=["web02"])
    small.stop_supervisord("web01")
    small.stop_supervisord("web02")
    run = herd("status", "-i", str(small.inventory_path), home=home)
    assert run.code == 4
    web01, web02 = run.rows()
    assert web01[5] == f"no supervisord socket at {small.host('web01').socket_path} (is supervisord running?)"
    assert web02[5] == f"nothing accepts connections on 127.0.0.1:{small.host('web02').inet_port} " \
                       f"(is supervisord running?)"
    small.start_supervisord("web01")
    small.start_supervisord("web02")
    assert herd("status", "-i", str(small.inventory_path), home=home).code == 0


def test_supervisord_without_rpcinterface(fleet, home, tmp_path):
    """A supervisord whose config lacks [rpcinterface:supervisor] is named as such."""
    sock = tmp_path / "bare.sock"
    conf = tmp_path / "bare.conf"
    conf.write_text(f"[unix_http_server]\nfile={sock}\n[supervisord]\nlogfile={tmp_path}/bare.log\n"
                    f"pidfile={tmp_path}/bare.pid\nnodaemon=true\n[program:sleeper]\ncommand=sleep 600\n")
    proc = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(sock.exists, 10, "the bare supervisord's socket")

        def change(data):
            only("web01")(data)
            data["hosts"]["web01"]["supervisor"]["socket"] = str(sock)

        inv = edit_inventory(fleet.inventory_path, tmp_path / "inv.yaml", change)
        run = herd("status", "-i", str(inv), home=home)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert run.code == 4
    assert run.rows()[0][5] == ("supervisord has no [rpcinterface:supervisor] section "
                                "(it does not know supervisor.getAllProcessInfo)")


def test_permission_denied_on_the_socket(fleet, home, tmp_path):
    """A login user who may not open supervisord's 0700 socket is told so (needs root, as CI is)."""
    user = "herdtest"
    if subprocess.run(["id", user], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-M", "-p", "*", "-s", "/bin/sh", user], check=True)

    def change(data):
        only("web01")(data)
        data["hosts"]["web01"]["user"] = user

    inv = edit_inventory(fleet.inventory_path, tmp_path / "inv.yaml", change)
    run = herd("status", "-i", str(inv), home=home)
    assert run.code == 4, run.out + run.err
    assert run.rows()[0][5] == (f"permission denied on socket {fleet.host('web01').socket_path} for user {user} "
                                f"(set become: true in the inventory to reach it through sudo, log in as "
                                f"supervisord's user, or set chmod/chown in [unix_http_server])")


def test_dns_failure_is_one_sentence(monkeypatch):
    """Resolution errors (checked in-process: a real lookup would leave this machine)."""
    from herd.errors import ConnectError
    from herd.ssh.config import SSHTarget
    from herd.ssh.connection import Connector

    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", fail)
    target = SSHTarget("web09", "web09.example.invalid", 22, "deploy", ())
    with pytest.raises(ConnectError) as err:
        Connector(timeout=1).connect(target)
    assert str(err.value) == "web09: cannot resolve web09.example.invalid: Name or service not known"


def test_broken_inventory_is_one_line_exit_2(home, tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  web01:\n    prot: 22\n")
    run = herd("status", "-i", str(inv), home=home)
    assert run.code == 2
    assert run.err == f"herd: {inv}:3:5: hosts.web01.prot: unknown key (did you mean 'port'?)\n"
    assert run.out == ""
