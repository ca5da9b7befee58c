"""The test fleet itself (herd.testing), checked with real tools only:
paramiko, the OpenSSH client, supervisorctl, XML-RPC and HTTP."""

from __future__ import annotations

import json
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest
import yaml

from herd.localfleet import releases
from herd.localfleet.cli import parse_releases
from herd.localfleet.fleet import LocalFleet
from herd.localfleet.hosts import INET_USERNAME, FleetError, FleetHost
from herd.localfleet.ports import PortRegistry, port_free
from herd.localfleet.probes import unix_rpc
from herd.localfleet.processes import cmdline, pid_alive
from herd.testing.pytest_plugin import module_fleet
from helpers import wait_until

CLI = [sys.executable, "-m", "herd.testing"]


def ssh_client(fleet: LocalFleet, name: str, user: str | None = None, **options) -> paramiko.SSHClient:
    """A paramiko client logged in with the fleet's key (as the inventory's user), trusting only its known_hosts."""
    host = fleet.host(name)
    client = paramiko.SSHClient()
    client.load_host_keys(str(fleet.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host.address, port=host.ssh_port, username=user or yaml.safe_load(
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


def open_forward(fleet: LocalFleet, name: str, local: str) -> subprocess.Popen:
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
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:   # seen once in CI: ssh still there 10 s after SIGTERM
            proc.kill()
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
    assert LocalFleet.load(small.directory).pids() == []
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


@pytest.mark.parametrize("module", ["herd.localfleet", "herd.testing"])
def test_the_cli_runs_under_both_names_and_says_which_in_its_errors(tmp_path, module):
    """``python -m herd.localfleet``, and the same command as ``python -m herd.testing`` (scripts/lib.sh's name)."""
    missing = tmp_path / "none"
    cli = subprocess.run([sys.executable, "-m", module, "status", str(missing)],
                         capture_output=True, text=True, timeout=60)
    assert (cli.returncode, cli.stdout) == (1, "")
    assert cli.stderr == f"{module}: no test fleet in {missing} ({missing / 'state.json'} is missing)\n"


def test_light_fleet_with_a_long_directory_and_the_cli(tmp_path):
    long_dir = tmp_path / ("d" * 90)
    started = subprocess.run([*CLI, "start", str(long_dir), "--hosts", "1",
                              "--light"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        light = LocalFleet.load(long_dir)
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
    assert LocalFleet.load(long_dir).pids() == []


def test_port_reservations_never_overlap(tmp_path):
    registry = PortRegistry(tmp_path / "ports")
    blocks = [registry.reserve(tmp_path / f"f{i}", [], 40, lambda start: [])[1] for i in range(20)]
    ranges = [range(b, b + 40) for b in sorted(blocks)]
    assert all(a.stop <= b.start for a, b in zip(ranges, ranges[1:]))
    with pytest.raises(FleetError, match="overlap"):
        registry.reserve(tmp_path / "g", [range(blocks[0] + 5, blocks[0] + 15)], 10, lambda start: [])


# -- release hosts: every supervisord from the seed's 3.0a12 to 4.3.0, on its own Python ---------

RELEASE_HOSTS = releases.one_host_per_release()   # {"web01": "3.0a12", "web02": "3.1.4", ..., "web07": "4.3.0"}
release_fleet = module_fleet("releases", hosts=7, releases=RELEASE_HOSTS, inet=["web03"])

# The seed deployment's supervisord.conf (shared/reference/seed-supervisord-tornado-deploy.ja.txt), verbatim.
SEED_CONF = """\
[unix_http_server]
file=/tmp/supervisor.sock

[supervisord]
logfile=%(here)s/log/supervisord.log
pidfile=%(here)s/log/supervisord.pid

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///tmp/supervisor.sock

[program:tornado]
command=python
\t%(here)s/main.py
\t--port=%(process_num)s
\t--logging=info
\t--log_file_prefix=%(here)s/log/%(program_name)s-%(process_num)s.log
process_name=%(program_name)s-%(process_num)s
directory=%(here)s
numprocs=4
numprocs_start=8080
stdout_logfile=NONE
stderr_logfile=NONE
"""


def proc_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace")
    return dict(item.partition("=")[::2] for item in raw.split("\0") if item)


def test_every_release_host_runs_its_release_on_its_python(release_fleet):
    for host in release_fleet.hosts:
        version = RELEASE_HOSTS[host.name]
        assert (host.release, host.seed_release) == (version, version == "3.0a12")
        assert release_fleet.rpc(host.name).supervisor.getSupervisorVersion() == version, host.name
        pid = host.supervisord_pid
        exe = os.readlink(f"/proc/{pid}/exe")
        assert exe == os.path.realpath(host.supervisor_python), host.name
        reported = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30).stdout.strip()
        assert reported == releases.RELEASES[version], host.name
        argv, environ = cmdline(pid), proc_environ(pid)
        if host.seed_release:   # cd PROJECT && PYTHONPATH=. python2.7 supervisor/supervisord.py -n
            assert argv == [host.supervisor_python, "supervisor/supervisord.py", "-n"]
            assert (environ["PYTHONPATH"], os.readlink(f"/proc/{pid}/cwd")) == (".", host.dir)
        else:
            assert argv == [host.supervisor_python, "-m", "supervisor.supervisord", "-n", "-c", host.conf_path]
            assert environ["PYTHONPATH"] == host.supervisor_path
            assert Path(host.supervisor_path, "supervisor", "__init__.py").is_file()
        assert Path(host.supervisor_path, releases.MARKER).is_file()


def test_supervisorctl_of_each_release_shows_every_program_running(release_fleet):
    for host in release_fleet.hosts:
        argv, env = release_fleet.supervisor_command(host, "supervisorctl")
        assert argv[0] == host.supervisor_python
        where = subprocess.run([argv[0], "-c", "import os, supervisor.supervisorctl as m; print(os.path.abspath(m.__file__))"],
                               capture_output=True, text=True, env=env, cwd=host.dir, timeout=30).stdout
        assert where.startswith(host.dir + "/supervisor/" if host.seed_release else host.supervisor_path + "/")
        ctl = release_fleet.supervisorctl(host.name, "status")
        rows = {line.split()[0]: line.split()[1] for line in ctl.stdout.splitlines()}
        expected = {f"tornado:tornado-{port}" for port in host.tornado_ports} | {"worker"}
        assert rows == dict.fromkeys(expected, "RUNNING"), (host.name, ctl.stdout, ctl.stderr)
        assert "worker %s tick" % host.name in release_fleet.supervisorctl(host.name, "tail", "worker").stdout
        assert release_fleet.supervisorctl(host.name, "version").stdout.strip() == host.release


def test_the_seed_host_is_laid_out_and_configured_as_the_seed_says(release_fleet):
    host = release_fleet.host("web01")
    project = Path(host.dir)
    assert (project / "supervisor" / "supervisord.py").is_file()
    assert (project / "supervisor" / "version.txt").read_text().strip() == "3.0a12"
    assert (project / "meld3" / "__init__.py").read_bytes() == b""
    conf = (project / "supervisord.conf").read_text()   # found in its working directory: no -c
    seed, _, added = conf.partition("; ---- not the seed's: added by herd.testing for web01 ----\n")
    assert seed.replace(host.socket_path, "/tmp/supervisor.sock") \
        .replace(f"command={release_fleet.python}\n", "command=python\n") \
        .replace(f"numprocs_start={host.tornado_ports[0]}\n", "numprocs_start=8080\n") == SEED_CONF + "\n"
    assert "[program:worker]" in added and "[program:tornado]" not in added
    assert (project / "log" / "supervisord.log").is_file()


def test_the_seed_hosts_tornado_logs_to_its_own_files_named_in_the_inventory(release_fleet):
    host = release_fleet.host("web01")
    port = host.tornado_ports[2]
    log = Path(host.dir, "log", f"tornado-{port}.log")
    wait_until(lambda: "app tick 2 port %d" % port in log.read_text(), 10, f"ticks in {log}", ignoring=(OSError,))
    info = release_fleet.rpc("web01").supervisor.getProcessInfo(f"tornado:tornado-{port}")
    assert (info["stdout_logfile"], info["stderr_logfile"]) == ("", "")   # NONE: supervisord keeps nothing
    data = yaml.safe_load(release_fleet.inventory_path.read_text())
    assert data["hosts"]["web01"]["logs"] == {"tornado": f"{host.dir}/log/{{program}}-{{num}}.log"}
    assert "logs" not in data["hosts"]["web02"] and "logs" not in data


def test_an_inet_release_host_answers_on_its_port_with_its_password(release_fleet):
    web03 = release_fleet.host("web03")
    assert inet_proxy(web03, web03.password).supervisor.getSupervisorVersion() == "3.3.5"
    with pytest.raises(xmlrpc.client.ProtocolError) as refused:
        inet_proxy(web03, "wrong").supervisor.getState()
    assert refused.value.errcode == 401


def test_release_hosts_stop_leaving_no_process_behind(make_fleet):
    small = make_fleet(hosts=2, releases={"web01": "3.0a12", "web02": "3.1.4"}, light=True)
    pids = small.pids()
    assert len(pids) == 2 * (1 + 1 + 5)     # sshd, supervisord, 4 tornado + worker per host
    assert LocalFleet.load(small.directory).supervisord_running(small.host("web01"))
    small.stop()
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert LocalFleet.load(small.directory).pids() == []
    marks = (str(small.directory), small.hosts[0].supervisor_path, small.hosts[1].supervisor_path)
    for entry in os.listdir("/proc"):          # nothing runs from the fleet's or the releases' files
        if entry.isdigit():
            assert not any(m in " ".join(cmdline(int(entry))) for m in marks if m), cmdline(int(entry))
    small.start_supervisord("web01")           # and the seed's supervisord comes back the seed's way
    assert small.rpc("web01").supervisor.getSupervisorVersion() == "3.0a12"
    small.stop()


def test_release_options_are_checked_before_anything_starts(tmp_path):
    with pytest.raises(FleetError, match=r"^unknown host\(s\) web09: the fleet has web01..web02$"):
        LocalFleet.start(tmp_path / "f", hosts=2, releases={"web09": "3.1.4"})
    with pytest.raises(FleetError, match=r"^supervisor release 'three' is not a version number"):
        LocalFleet.start(tmp_path / "f", hosts=2, release="three")
    assert not (tmp_path / "f" / "state.json").exists()
    assert parse_releases(["web01=3.0a12,web02=3.1.4", "web03=4.3.0"]) == {
        "web01": "3.0a12", "web02": "3.1.4", "web03": "4.3.0"}
    with pytest.raises(FleetError, match=r"^--release 'web02': expected HOST=VERSION, e.g. web02=3.1.4$"):
        parse_releases(["web02"])
    with pytest.raises(FleetError, match=r"^--release names web01 twice: 3.1.4 and 4.3.0$"):
        parse_releases(["web01=3.1.4", "web01=4.3.0"])


CENTOS7_CHECK = """command -v python3 || echo no python3; ls /usr/bin | grep -c '^python3' ; python -S -c 'import sys; \
print("%d.%d" % sys.version_info[:2])'; command -v supervisord; head -1 /usr/bin/supervisord; supervisord --version"""


def test_distro_hosts_run_releases_and_a_centos7_host_has_python_2_7_alone(make_fleet):
    """web01 as CentOS 7 (EPEL's supervisor 3.1.4, Fedora's layout, Python 2.7 its only Python);
    web02 a Debian-style host on 4.2.5."""
    distro = make_fleet(hosts=2, distro=["web01", "web02"], releases={"web01": "3.1.4", "web02": "4.2.5"},
                        layouts={"web01": {"layout": "fedora", "pythons": ["2.7"]}}, light=True)
    web01, web02 = distro.host("web01"), distro.host("web02")
    assert [distro.rpc(n).supervisor.getSupervisorVersion() for n in ("web01", "web02")] == ["3.1.4", "4.2.5"]
    assert os.readlink(f"/proc/{web01.supervisord_pid}/exe") == "/run/python/2.7/bin/python2.7"
    assert cmdline(web01.supervisord_pid)[:5] == ["/run/python/2.7/bin/python2.7", "/usr/bin/supervisord", "-n",
                                                  "-c", "/etc/supervisord.conf"]
    assert os.readlink(f"/proc/{web02.supervisord_pid}/exe") == os.path.realpath(web02.supervisor_python)
    for name in ("web01", "web02"):
        ctl = distro.supervisorctl(name, "status")
        assert [line.split()[1] for line in ctl.stdout.splitlines()] == ["RUNNING"] * 4, ctl.stdout + ctl.stderr
    # 3.x expands %(here)s in an included file to /etc: the program's file spells its directory out
    program = Path(web01.dir, "etc", "add", "supervisord.d", "tornado.ini").read_text()
    assert "%(here)s" not in program and "\t/etc/supervisord.d/main.py\n" in program
    assert "command=python\n" in program and "\t--light\n" in program
    assert "\t%(here)s/main.py\n" in Path(web02.dir, "etc", "add", "supervisor", "conf.d", "tornado.conf").read_text()
    client = ssh_client(distro, "web01", user="deploy")
    try:   # what herd's agents find as the login user, and as root through sudo
        assert run(client, CENTOS7_CHECK) == "no python3\n0\n2.7\n/usr/bin/supervisord\n#!/usr/bin/python2.7\n3.1.4\n"
        assert run(client, "sudo -n sh -c 'command -v python3 || echo no python3; command -v python'") == \
            "no python3\n/usr/bin/python\n"
    finally:
        client.close()
    pids = distro.pids()
    distro.stop()
    assert [pid for pid in pids if pid_alive(pid)] == []


def test_a_host_of_its_own_pythons_needs_a_release_on_one_of_them(tmp_path):
    with pytest.raises(FleetError, match=r"^web01: supervisor 4.2.5 runs on Python 3.11, which web01 does not have "
                                         r"\(its Pythons: 2.7\)$"):
        LocalFleet.start(tmp_path / "f", hosts=1, distro=["web01"], releases={"web01": "4.2.5"},
                         layouts={"web01": {"pythons": ["2.7"]}})
    with pytest.raises(FleetError, match=r"^web01: a host of its own Pythons \(2.7\) needs a supervisor release"):
        LocalFleet.start(tmp_path / "f", hosts=1, distro=["web01"], layouts={"web01": {"pythons": ["2.7"]}})
    with pytest.raises(FleetError, match=r"^web01: supervisor 3.0a12 runs the seed's way, from a project directory"):
        LocalFleet.start(tmp_path / "f", hosts=1, distro=["web01"], release="3.0a12")


# -- the release installer: interpreters, errors, the cache (in process, with a fake pip) ----------

FAKE_PYTHON = """#!{python}
# a stand-in "Python {version}": answers the version probe and fakes pip install --target
import os, sys, time
args = sys.argv[1:]
if args[0] == "-c":
    sys.stdout.write("{version}")
    sys.exit(0)
with open({count!r}, "a") as count:
    count.write(" ".join(args) + "\\n")
if "supervisor==3.9.9" in args:
    print("ERROR: Could not find a version that satisfies the requirement supervisor==3.9.9")
    print("ERROR: No matching distribution found for supervisor==3.9.9")
    sys.exit(1)
target = args[args.index("--target") + 1]
os.makedirs(os.path.join(target, "supervisor"))
open(os.path.join(target, "supervisor", "supervisord.py"), "w").close()
time.sleep(0.3)   # long enough for the other installers to queue behind the lock
"""


def fake_python(tmp_path: Path, version: str) -> tuple[str, Path]:
    """An executable that says it is Python ``version``; and the file where it logs its pip runs."""
    count = tmp_path / f"pip-runs-{version}"
    path = tmp_path / f"fake-python{version}"
    path.write_text(FAKE_PYTHON.format(python=sys.executable, version=version, count=str(count)))
    path.chmod(0o755)
    return str(path), count


@pytest.fixture
def no_pythons(tmp_path, monkeypatch):
    """No pyenv, nothing on PATH, no overrides, an empty cache: every interpreter is missing."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HERD_TEST_CACHE", str(tmp_path / "cache"))
    for name in ("HERD_TEST_PYTHON27", "HERD_TEST_PYTHON37", "HERD_TEST_PYTHON311"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize("version, python, pyenv", [("3.1.4", "2.7", "2.7.18"), ("3.0a12", "2.7", "2.7.18"),
                                                     ("4.0.4", "3.7", "3.7.17"), ("4.3.0", "3.11", "3.11.9")])
def test_a_missing_interpreter_is_one_line_saying_how_to_provide_it(no_pythons, version, python, pyenv):
    with pytest.raises(FleetError) as missing:
        releases.install(version)
    assert str(missing.value) == (f"supervisor {version} needs Python {python}: none found "
                                  f"(pyenv install {pyenv}, or set HERD_TEST_PYTHON{python.replace('.', '')})")
    assert not (no_pythons / "cache").exists()


@pytest.mark.parametrize("version, message", [
    ("three", "supervisor release 'three' is not a version number (e.g. 3.1.4; the fleet's releases: "
              "3.0a12, 3.1.4, 3.3.5, 4.0.4, 4.1.0, 4.2.5, 4.3.0)"),
    ("2.1.1", "supervisor 2.1.1 is not one the test fleet runs: it runs 3.0 and later, and 3.0a12 the seed's way"),
    ("3.0a7", "supervisor 3.0a7 is not one the test fleet runs: it runs 3.0 and later, and 3.0a12 the seed's way"),
])
def test_a_bad_version_is_one_line(no_pythons, version, message):
    with pytest.raises(FleetError) as bad:
        releases.install(version)
    assert str(bad.value) == message


def test_other_versions_get_the_python_of_their_series():
    assert [releases.python_version_for(v) for v in ("3.0", "3.2.4", "3.4.0", "4.0.0", "4.1.1", "4.2.2")] == \
        ["2.7", "2.7", "2.7", "3.7", "3.11", "3.11"]


def test_interpreters_come_from_the_override_then_pyenv_then_path(no_pythons, monkeypatch):
    root = no_pythons / "pyenv"
    for patch in ("2.7.5", "2.7.18", "2.7-dev"):    # newest by number: 2.7.18, not 2.7.5
        bindir = root / "versions" / patch / "bin"
        bindir.mkdir(parents=True)
        (bindir / "python").write_text("#!/bin/sh\n")
        (bindir / "python").chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(root))
    assert releases.find_python("2.7") == str(root / "versions" / "2.7.18" / "bin" / "python")
    fake37, _ = fake_python(no_pythons / "empty", "3.7")
    os.rename(fake37, no_pythons / "empty" / "python3.7")       # pythonX.Y on PATH, checked by running it
    assert releases.find_python("3.7") == str(no_pythons / "empty" / "python3.7")
    (no_pythons / "empty" / "python3.11").write_text("#!/bin/sh\nexit 127\n")   # a pyenv shim of no version
    (no_pythons / "empty" / "python3.11").chmod(0o755)
    assert releases.find_python("3.11") is None
    override, _ = fake_python(no_pythons, "2.7")
    monkeypatch.setenv("HERD_TEST_PYTHON27", override)
    assert releases.find_python("2.7") == override


def test_an_override_that_is_not_that_python_is_one_line(no_pythons, monkeypatch):
    monkeypatch.setenv("HERD_TEST_PYTHON27", sys.executable)
    with pytest.raises(FleetError) as wrong:
        releases.install("3.1.4")
    assert str(wrong.value) == (f"HERD_TEST_PYTHON27={sys.executable} is Python "
                                f"{sys.version_info[0]}.{sys.version_info[1]}: it must name a Python 2.7 interpreter")
    monkeypatch.setenv("HERD_TEST_PYTHON27", str(no_pythons / "nowhere"))
    with pytest.raises(FleetError, match=r"^HERD_TEST_PYTHON27=\S+/nowhere does not run: it must name a Python 2.7"):
        releases.install("3.1.4")


def test_parallel_installs_of_a_release_run_pip_once_and_fill_the_cache_atomically(no_pythons, monkeypatch):
    python, count = fake_python(no_pythons, "2.7")
    monkeypatch.setenv("HERD_TEST_PYTHON27", python)
    assert releases.installed("3.1.4") is None
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda _: releases.install("3.1.4"), range(4)))
    assert len(count.read_text().splitlines()) == 1          # one pip run; the others waited, then found it
    path = no_pythons / "cache" / "supervisor-releases" / "3.1.4-py2.7"
    assert set(done) == {releases.Release("3.1.4", "2.7", python, str(path))}
    assert (path / "supervisor" / "__init__.py").read_text() == ""   # 3.x's namespace package, made a package
    assert json.loads((path / releases.MARKER).read_text())["python"] == python
    assert [p.name for p in path.parent.iterdir() if ".tmp-" in p.name] == []
    assert releases.installed("3.1.4") == done[0]
    releases.install("3.1.4")                                # cached: no pip at all
    assert len(count.read_text().splitlines()) == 1


def test_a_failed_install_names_pips_error_and_leaves_nothing_half_done(no_pythons, monkeypatch):
    python, _ = fake_python(no_pythons, "2.7")
    monkeypatch.setenv("HERD_TEST_PYTHON27", python)
    log = no_pythons / "cache" / "supervisor-releases" / "3.9.9-py2.7.log"
    with pytest.raises(FleetError) as failed:
        releases.install("3.9.9")
    assert str(failed.value) == ("supervisor 3.9.9: pip install failed: ERROR: No matching distribution found "
                                 f"for supervisor==3.9.9 (output in {log})")
    assert sorted(p.name for p in log.parent.iterdir() if not p.name.endswith(".lock")) == ["3.9.9-py2.7.log"]


def test_the_cli_and_scripts_test_say_a_missing_interpreter_in_one_line(no_pythons):
    tools = no_pythons / "tools"      # what lib.sh needs, and no pythonX.Y the machine may have
    tools.mkdir()
    for tool in ("bash", "dirname", "basename"):
        (tools / tool).symlink_to(shutil.which(tool, path="/usr/local/bin:/usr/bin:/bin") or f"/bin/{tool}")
    env = {**os.environ, "PATH": str(tools)}
    line = "supervisor 3.0a12 needs Python 2.7: none found (pyenv install 2.7.18, or set HERD_TEST_PYTHON27)\n"
    cli = subprocess.run([*CLI, "releases", "install"], capture_output=True, text=True, env=env, timeout=60)
    assert (cli.returncode, cli.stdout, cli.stderr) == (1, "", f"herd.testing: {line}")
    lib = Path(__file__).resolve().parent.parent / "scripts" / "lib.sh"
    venv = Path(sys.executable).parent.parent     # the Python running these tests, as scripts/test's .venv
    script = subprocess.run([str(tools / "bash"), "-c", f"source {lib} && HERD_VENV={venv} && ensure_releases", "scripts/test"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert (script.returncode, script.stderr) == (1, f"test: {line}")
