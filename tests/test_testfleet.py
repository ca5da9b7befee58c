"""The test fleet itself (herd.testing), checked with real tools only:
paramiko, the OpenSSH client, supervisorctl, XML-RPC and HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import xmlrpc.client
from pathlib import Path

import paramiko
import pytest
import yaml

from herd.testing.fleet import Fleet
from herd.testing.hosts import INET_USERNAME, FleetError, FleetHost
from herd.testing.ports import PortRegistry, port_free
from herd.testing.probes import unix_rpc
from herd.testing.processes import pid_alive
from helpers import wait_until

CLI = [sys.executable, "-m", "herd.testing"]


def ssh_client(fleet: Fleet, name: str, **options) -> paramiko.SSHClient:
    """A paramiko client logged in with the fleet's key, trusting only its known_hosts."""
    host = fleet.host(name)
    client = paramiko.SSHClient()
    client.load_host_keys(str(fleet.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host.address, port=host.ssh_port, username=yaml.safe_load(
        fleet.inventory_path.read_text())["defaults"]["user"], key_filename=str(fleet.client_key_path),
        allow_agent=False, look_for_keys=False, timeout=10, **options)
    return client


def run(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, _ = client.exec_command(command, timeout=10)
    return stdout.read().decode()


def http_get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        assert resp.status == 200
        return resp.read().decode()


def inet_proxy(host: FleetHost, password: str | None) -> xmlrpc.client.ServerProxy:
    auth = f"{INET_USERNAME}:{urllib.parse.quote(password, safe='')}@" if password else ""
    return xmlrpc.client.ServerProxy(f"http://{auth}127.0.0.1:{host.inet_port}/RPC2")


# -- the shared fleet ---------------------------------------------------------------


def test_every_host_accepts_the_client_key_and_matches_known_hosts(fleet):
    for host in fleet.hosts:
        client = ssh_client(fleet, host.name)
        try:
            assert run(client, "echo ok") == "ok\n"
        finally:
            client.close()


def test_supervisorctl_shows_every_program_running_and_the_apps_answer(fleet):
    for host in fleet.hosts:
        ctl = fleet.supervisorctl(host.name, "status")
        assert ctl.returncode == 0, ctl.stdout + ctl.stderr
        rows = {line.split()[0]: line.split() for line in ctl.stdout.splitlines()}
        expected = {f"tornado:tornado-{port}" for port in host.tornado_ports} | {"worker"}
        assert {name: row[1] for name, row in rows.items()} == dict.fromkeys(expected, "RUNNING")
        for port in host.tornado_ports:
            pid = rows[f"tornado:tornado-{port}"][3].rstrip(",")   # "RUNNING pid 123, uptime ..."
            assert http_get(port) == f"ok {port} {pid}"


def test_tornado_ports_follow_the_seed_layout(fleet):
    first = fleet.hosts[0].tornado_ports[0]
    for host in fleet.hosts:
        start = first + 10 * host.index
        assert host.tornado_ports == [start, start + 1, start + 2, start + 3]
    conf = Path(fleet.hosts[0].conf_path).read_text()
    assert "numprocs=4\n" in conf and "process_name=%(program_name)s-%(process_num)s\n" in conf
    assert f"numprocs_start={first}\n" in conf


def test_inventory_and_known_hosts_describe_the_fleet(fleet):
    data = yaml.safe_load(fleet.inventory_path.read_text())
    assert set(data) == {"defaults", "hosts", "groups"}
    assert data["defaults"] == {"user": data["defaults"]["user"],
                                "identity_file": str(fleet.client_key_path),
                                "known_hosts": str(fleet.known_hosts_path)}
    assert data["groups"] == {"web": ["web01", "web02", "web03", "web04"], "odd": ["web01", "web03"],
                              "even": ["web02", "web04"], "fleet": ["@web"]}
    web01, web03 = fleet.host("web01"), fleet.host("web03")
    assert data["hosts"]["web01"] == {"address": "127.0.0.1", "port": web01.ssh_port,
                                      "supervisor": {"socket": web01.socket_path}}
    assert data["hosts"]["web03"] == {"address": "127.0.0.1", "port": web03.ssh_port,
                                      "supervisor": {"url": f"http://127.0.0.1:{web03.inet_port}",
                                                     "username": "herd",
                                                     "password_file": web03.password_file}}
    lines = fleet.known_hosts_path.read_text().splitlines()
    assert [line.split()[:2] for line in lines] == [
        [f"[127.0.0.1]:{h.ssh_port}", "ssh-ed25519"] for h in fleet.hosts]


def open_forward(fleet: Fleet, name: str, local: str) -> subprocess.Popen:
    """``ssh -N -L local:remote-socket`` with the OpenSSH client (a streamlocal forward)."""
    host = fleet.host(name)
    user = yaml.safe_load(fleet.inventory_path.read_text())["defaults"]["user"]
    argv = ["ssh", "-F", "/dev/null", "-N", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none", "-o", "ExitOnForwardFailure=yes",
            "-o", f"UserKnownHostsFile={fleet.known_hosts_path}", "-o", "StrictHostKeyChecking=yes",
            "-i", str(fleet.client_key_path), "-p", str(host.ssh_port),
            "-L", f"{local}:{host.socket_path}", f"{user}@{host.address}"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_until(lambda: os.path.exists(local), 10, f"ssh -L to create {local}", interval=0.02,
               give_up=lambda: proc.poll() is not None)
    return proc


@pytest.mark.skipif(not shutil.which("ssh"), reason="needs the OpenSSH client")
@pytest.mark.parametrize("name, allowed", [("web01", True), ("web02", False)])
def test_streamlocal_forward_to_the_supervisor_socket(fleet, name, allowed):
    short = tempfile.mkdtemp(prefix="tf-fwd-", dir="/tmp")
    local = os.path.join(short, "fwd.sock")
    proc = open_forward(fleet, name, local)
    try:
        proxy = unix_rpc(local, timeout=5)
        if allowed:
            assert proxy.supervisor.getState()["statename"] == "RUNNING"
        else:
            with pytest.raises((OSError, xmlrpc.client.ProtocolError)):
                proxy.supervisor.getState()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        shutil.rmtree(short, ignore_errors=True)
    assert ("open failed" in err) is not allowed, err


def test_inet_host_password_file_works_and_a_wrong_password_gets_401(fleet):
    web03 = fleet.host("web03")
    assert stat.S_IMODE(os.stat(web03.password_file).st_mode) == 0o600
    password = web03.password
    assert password and password not in Path(web03.conf_path).read_text()
    assert inet_proxy(web03, password).supervisor.getIdentification() == "web03"
    for wrong in ("wrong", None):
        with pytest.raises(xmlrpc.client.ProtocolError) as refused:
            inet_proxy(web03, wrong).supervisor.getState()
        assert refused.value.errcode == 401
    assert fleet.host("web01").inet_port is None and fleet.host("web01").password is None


def test_worker_logs_to_stdout_and_stderr(fleet):
    out = fleet.supervisorctl("web01", "tail", "worker").stdout
    err = fleet.supervisorctl("web01", "tail", "worker", "stderr").stdout
    assert "worker web01 tick" in out
    assert "worker web01 stderr tick" in err


# -- fleets of a test's own ------------------------------------------------------------


def test_stop_leaves_no_process_behind(make_fleet):
    small = make_fleet(hosts=2, inet=["web02"])
    client = ssh_client(small, "web01")
    client.exec_command("sleep 300")           # a live session with a child process

    def with_the_session() -> list[int]:       # sshd, supervisord, 5 programs per host; the session + sleep
        pids = small.pids()
        return pids if len(pids) >= 2 * (1 + 1 + 5) + 2 else []

    pids = wait_until(with_the_session, 10, "the session's sleep to start")
    small.stop()
    client.close()
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert Fleet.load(small.directory).pids() == []
    for host in small.hosts:
        assert port_free(host.ssh_port)
        assert all(port_free(p) for p in host.tornado_ports)


def test_sshd_stop_start_pause_resume(make_fleet):
    small = make_fleet(hosts=1)
    port = small.host("web01").ssh_port
    small.stop_sshd("web01")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    small.start_sshd("web01")                    # same port, same host key
    ssh_client(small, "web01").close()
    small.pause_sshd("web01")
    try:
        with pytest.raises((paramiko.SSHException, OSError)):
            ssh_client(small, "web01", banner_timeout=1)
    finally:
        small.resume_sshd("web01")
    client = ssh_client(small, "web01")
    try:
        assert run(client, "echo back") == "back\n"
    finally:
        client.close()


def test_supervisord_stop_start_and_a_broken_app(make_fleet):
    small = make_fleet(hosts=1, inet=["web01"])
    host = small.host("web01")
    small.stop_supervisord("web01")
    assert small.supervisorctl("web01", "status").returncode == 4
    assert not port_free(host.ssh_port) and port_free(host.tornado_ports[0])
    small.start_supervisord("web01")
    assert http_get(host.tornado_ports[0]).startswith(f"ok {host.tornado_ports[0]} ")
    assert inet_proxy(host, host.password).supervisor.getState()["statename"] == "RUNNING"

    name = f"tornado:tornado-{host.tornado_ports[0]}"
    small.break_app("web01")
    restart = small.supervisorctl("web01", "restart", name)
    assert "ERROR (spawn error)" in restart.stdout
    err = small.supervisorctl("web01", "tail", name, "stderr").stdout
    assert "refusing to start" in err
    small.fix_app("web01")
    small.wait_running("web01", timeout=20)      # supervisord's retry finds it fixed


def test_light_fleet_with_a_long_directory_and_the_cli(tmp_path):
    long_dir = tmp_path / ("d" * 90)
    started = subprocess.run([*CLI, "start", str(long_dir), "--hosts", "1",
                              "--light"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        light = Fleet.load(long_dir)
        host = light.host("web01")
        assert len(host.socket_path.encode()) < 108 and not host.socket_path.startswith(str(long_dir))
        assert http_get(host.tornado_ports[1]).startswith(f"ok {host.tornado_ports[1]} ")
        status = subprocess.run([*CLI, "status", str(long_dir)],
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0 and "5/5 RUNNING" in status.stdout
    finally:
        stopped = subprocess.run([*CLI, "stop", str(long_dir)],
                                 capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert not os.path.exists(os.path.dirname(host.socket_path))
    assert Fleet.load(long_dir).pids() == []


def test_port_reservations_never_overlap(tmp_path):
    registry = PortRegistry(tmp_path / "ports")
    blocks = [registry.reserve(tmp_path / f"f{i}", [], 40, lambda start: [])[1] for i in range(20)]
    ranges = [range(b, b + 40) for b in sorted(blocks)]
    assert all(a.stop <= b.start for a, b in zip(ranges, ranges[1:]))
    with pytest.raises(FleetError, match="overlap"):
        registry.reserve(tmp_path / "g", [range(blocks[0] + 5, blocks[0] + 15)], 10, lambda start: [])
