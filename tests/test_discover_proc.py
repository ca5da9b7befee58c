"""The discovering agent on fake hosts: what runs (/proc), not only what a config names.

Each test builds a host tree (tests/discover_host.py) and runs the real agent
script in it, with this Python and, where the machine has one, Python 2.7
(CentOS 7's supervisord runs on it).  The fleet tests
(tests/test_discover_running_fleet.py) run it on real hosts over SSH.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from discover_host import PYTHON27, FakeHost, failure, report
from herd.errors import SocketMissing, TunnelAmbiguous
from herd.fleet.reach import supervisor_error
from herd.ssh.discover import AGENT_SOURCE

# Python 2.7 where the machine has one (pyenv's here; Debian's CI has none): the agent must run on it
PYTHONS = [sys.executable] + [p for p in (PYTHON27, "/usr/bin/python2.7") if os.path.exists(p)][:1]
DEBIAN_CONF = ("[unix_http_server]\nfile=/var/run/supervisor.sock   ; (the path to the socket file)\nchmod=0700\n\n"
               "[supervisorctl]\nserverurl=unix:///var/run/supervisor.sock ; use a unix:// URL\n")


@pytest.fixture(params=PYTHONS, ids=lambda p: "py" + "".join(c for c in os.path.basename(p) if c.isdigit() or c == "."))
def python(request) -> str:
    return request.param


@pytest.fixture
def host(tmp_path: Path):
    fake = FakeHost(tmp_path / "h")
    yield fake
    fake.close()


def app_supervisord(host: FakeHost, pid: int = 4242, *, uid: int = 2101, inodes: list[int] | None = None,
                    sock: str = "/tmp/app.sock") -> None:
    """The seed's way: the project's own supervisord, started in its directory without -c."""
    host.file("/srv/app/supervisord.conf", f"[unix_http_server]\nfile={sock}\n\n[supervisorctl]\n"
                                           f"serverurl=unix://{sock}\n")
    host.process(pid, ["/usr/bin/python3", "supervisor/supervisord.py", "-n"], uid=uid, cwd="/srv/app",
                 inodes=inodes)


def test_leftover_distro_config_names_a_dead_socket_and_the_running_supervisord_is_used(host, python):
    host.file("/etc/supervisor/supervisord.conf", DEBIAN_CONF)
    app_supervisord(host, inodes=[1001])
    host.listen_unix("/tmp/app.sock", 1001, bound_as="/tmp/app.sock.4242")   # as supervisord binds it
    found = report(host.run(python=python))
    assert found["target"] == "/tmp/app.sock"
    assert found["how"] == ("supervisord pid 4242 running as deploy with /srv/app/supervisord.conf, seen listening "
                            "there; /var/run/supervisor.sock ([supervisorctl] serverurl in "
                            "/etc/supervisor/supervisord.conf) does not answer")
    assert found["seen"] == [
        "supervisord runs: unix:///tmp/app.sock: pid 4242, user deploy, config /srv/app/supervisord.conf "
        "(found from its working directory /srv/app)",
        "/var/run/supervisor.sock ([supervisorctl] serverurl in /etc/supervisor/supervisord.conf) does not "
        "answer: No such file or directory"]


def test_a_config_whose_socket_answers_is_used_and_the_running_supervisord_named(host, python):
    host.file("/etc/supervisor/supervisord.conf", DEBIAN_CONF)
    host.process(812, ["/usr/bin/python3", "/usr/bin/supervisord", "-n", "-c", "/etc/supervisor/supervisord.conf"],
                 inodes=[7])
    host.listen_unix("/var/run/supervisor.sock", 7, bound_as="/var/run/supervisor.sock.812")
    found = report(host.run(python=python))
    assert (found["target"], found["how"]) == (
        "/var/run/supervisor.sock",
        "[supervisorctl] serverurl in /etc/supervisor/supervisord.conf, where supervisord pid 812 listens")


def test_several_running_is_a_failure_listing_each_never_a_pick(host, python):
    host.file("/etc/supervisor/supervisord.conf", DEBIAN_CONF)
    host.process(812, ["/usr/bin/python3", "/usr/bin/supervisord", "-n", "-c", "/etc/supervisor/supervisord.conf"],
                 inodes=[7])
    host.listen_unix("/var/run/supervisor.sock", 7, bound_as="/var/run/supervisor.sock.812")
    app_supervisord(host, inodes=[1001])
    host.listen_unix("/tmp/app.sock", 1001, bound_as="/tmp/app.sock.4242")
    failed = failure(host.run(python=python))
    assert failed["kind"] == "several"
    assert failed["running"] == [
        "unix:///var/run/supervisor.sock (pid 812, root, /etc/supervisor/supervisord.conf)",
        "unix:///tmp/app.sock (pid 4242, deploy, /srv/app/supervisord.conf)"]
    error = supervisor_error(TunnelAmbiguous("web01", "2 supervisords run", tuple(failed["running"])))
    assert str(error) == (
        "web01: 2 supervisords run and the inventory names none: unix:///var/run/supervisor.sock (pid 812, root, "
        "/etc/supervisor/supervisord.conf); unix:///tmp/app.sock (pid 4242, deploy, /srv/app/supervisord.conf); "
        "set supervisor.socket (or supervisor.url) to one, or name each under supervisors: "
        "{NAME: {socket: PATH}}")


def test_inet_http_server_only_found_from_the_process_with_its_credentials(host, python):
    port = host.listen_tcp(3003)
    host.file("/opt/infra/supervisord.conf", f"[inet_http_server]\nport=127.0.0.1:{port}\nusername=ops\n"
                                             f"password=s3cret\n")
    host.process(900, ["/usr/bin/python2.7", "/usr/bin/supervisord", "-c", "/opt/infra/supervisord.conf"],
                 inodes=[3003, 77])
    found = report(host.run(python=python))
    assert (found["target"], found["username"], found["password"]) == (f"127.0.0.1:{port}", "ops", "s3cret")
    assert found["how"] == "supervisord pid 900 running as root with /opt/infra/supervisord.conf, seen listening there"


def test_another_users_supervisord_is_read_from_its_config_when_its_fds_are_not_readable(host, python):
    host.file("/etc/supervisord.d/x", "")
    host.file("/opt/sup.conf", "[unix_http_server]\nfile=/run/sup/sup.sock\n")
    host.process(55, ["supervisord", "--configuration=/opt/sup.conf"], uid=0, cwd=None, inodes=None)
    host.listen_unix("/run/sup/sup.sock", 1)
    found = report(host.run(python=python))
    assert found["target"] == "/run/sup/sup.sock"
    assert found["how"] == "supervisord pid 55 running as root with /opt/sup.conf, listening there per its config"


def test_a_supervisord_of_another_mount_namespace_is_not_this_hosts(host, python):
    host.file("/etc/supervisor/supervisord.conf", DEBIAN_CONF)
    host.process(812, ["/usr/bin/supervisord", "-c", "/etc/supervisor/supervisord.conf"], inodes=[7])
    host.listen_unix("/var/run/supervisor.sock", 7)
    app_supervisord(host, inodes=[1001])
    host.process(6000, ["/usr/bin/supervisord", "-c", "/etc/supervisor/supervisord.conf"], inodes=[8], mount="99")
    host.listen_unix("/tmp/app.sock", 1001)
    failed = failure(host.run(python=python))
    assert len(failed["running"]) == 2   # 812 and 4242, not the container's 6000
    assert failed["notes"] == ["1 supervisord process(es) in other mount namespaces (containers) not considered"]


def test_the_config_names_the_running_supervisords_socket_but_it_refuses_this_user(host):
    host.file("/etc/supervisor/supervisord.conf", DEBIAN_CONF)
    host.process(812, ["/usr/bin/supervisord", "-c", "/etc/supervisor/supervisord.conf"], cwd=None, inodes=None)
    failed = failure(host.run())   # nothing listens at the path: as a socket refusing this user would, it fails
    assert (failed["kind"], failed["target"]) == ("dead", "/var/run/supervisor.sock")
    assert failed["how"] == "[supervisorctl] serverurl in /etc/supervisor/supervisord.conf"   # tried once, not twice
    assert "its open files are not readable as this user" in failed["notes"]


def test_nothing_runs_and_the_config_names_a_dead_socket(host, python):
    host.file("/etc/supervisor/supervisord.conf", DEBIAN_CONF)
    failed = failure(host.run(python=python))
    assert (failed["kind"], failed["target"], failed["errno"]) == ("dead", "/var/run/supervisor.sock", 2)
    assert failed["how"] == "[supervisorctl] serverurl in /etc/supervisor/supervisord.conf"


def test_a_running_supervisord_whose_sockets_cannot_be_seen_is_said(host):
    host.process(812, ["/usr/bin/supervisord", "-c", "/etc/secret/supervisord.conf"], cwd=None, inodes=None)
    failed = failure(host.run())
    assert failed["kind"] == "nothing"
    assert failed["running"] == ["listening where is unknown (pid 812, root, /etc/secret/supervisord.conf)"]
    assert "neither its open files nor its config are readable as this user" in failed["notes"]
    error = supervisor_error(SocketMissing("web01", "x", path="", running=tuple(failed["running"]),
                                           notes=tuple(failed["notes"])))
    assert str(error) == ("web01: found no supervisord socket: supervisord runs (listening where is unknown "
                          "(pid 812, root, /etc/secret/supervisord.conf)) but where it listens is not readable "
                          "here; set become: true in the inventory, or supervisor.socket")


def test_relative_configuration_is_taken_from_the_working_directory(host):
    host.file("/srv/app/conf/s.conf", "[unix_http_server]\nfile=/tmp/rel.sock\n")
    host.process(31, ["/usr/bin/python3", "-u", "-m", "supervisor.supervisord", "-c", "conf/s.conf"], cwd="/srv/app",
                 inodes=None)
    host.listen_unix("/tmp/rel.sock", 5)
    found = report(host.run())
    assert found["config"] == "/srv/app/conf/s.conf" and found["target"] == "/tmp/rel.sock"


# -- the agent's parsing, in process -------------------------------------------

def agent(root: Path) -> dict:
    """The agent's functions, as the script defines them, reading the host tree at ``root``."""
    names: dict = {}
    exec(compile(AGENT_SOURCE, "find_supervisord.py", "exec"), names)
    names["ROOT"] = str(root)
    return names


@pytest.mark.parametrize("argv, expected", [
    (["/usr/bin/python3", "/usr/bin/supervisord", "-n", "-c", "/etc/s.conf"], ("/usr/bin/supervisord",
                                                                              ["-n", "-c", "/etc/s.conf"])),
    (["supervisord"], ("supervisord", [])),
    (["python", "-u", "-m", "supervisor.supervisord", "-c", "x"], (None, ["-c", "x"])),
    (["python3", "-msupervisor.supervisord"], (None, [])),
    (["python2.7", "-W", "ignore", "supervisor/supervisord.py"], ("supervisor/supervisord.py", [])),
    (["/usr/bin/python3", "/usr/bin/supervisorctl", "status"], None),
    (["python3", "-m", "supervisor.supervisorctl"], None),
    (["tail", "-f", "supervisord.log"], None),
    (["python3", "-S", "-c", "import os; supervisord"], None),
    ([""], None),
])
def test_what_counts_as_a_running_supervisord(tmp_path, argv, expected):
    assert agent(tmp_path)["supervisord_args"](argv) == expected


@pytest.mark.parametrize("args, config", [
    (["-c", "/a.conf"], "/a.conf"), (["-c/b.conf"], "/b.conf"), (["--configuration", "/c.conf"], "/c.conf"),
    (["--configuration=/d.conf", "-n"], "/d.conf"), (["-n"], None), (["-c"], None)])
def test_supervisord_config_argument(tmp_path, args, config):
    assert agent(tmp_path)["config_argument"](args) == config


def test_proc_net_tcp_and_tcp6_listeners(tmp_path):
    fake = FakeHost(tmp_path)
    fake.file("/proc/net/tcp", NET_TCP := (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:2329 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0\n"
        "   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 112 1 0 100 0 0 10 0\n"
        "   2: 0100007F:2329 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 113 1 0 100 0 0 10 0\n"))
    fake.file("/proc/net/tcp6",
              NET_TCP.splitlines(True)[0] +
              "   0: 00000000000000000000000001000000:2329 00000000000000000000000000000000:0000 0A 00000000:00000000 "
              "00:00000000 00000000     0        0 114 1 0 100 0 0 10 0\n"
              "   1: 00000000000000000000000000000000:232A 00000000000000000000000000000000:0000 0A 00000000:00000000 "
              "00:00000000 00000000     0        0 115 1 0 100 0 0 10 0\n")
    assert sys.byteorder == "little"   # as /proc/net/tcp above was written (x86, arm64)
    listeners = agent(tmp_path)["tcp_listeners"]()
    assert listeners == {"111": "127.0.0.1:9001", "112": "127.0.0.1:8080", "114": "::1:9001",
                             "115": "127.0.0.1:9002"}


def test_proc_net_unix_keeps_listening_sockets_with_a_path(tmp_path):
    fake = FakeHost(tmp_path)
    fake.file("/proc/net/unix", "Num       RefCount Protocol Flags    Type St Inode Path\n"
              "0000000000000000: 00000002 00000000 00010000 0001 01 20478 /tmp/i/supervisor.sock.11474\n"
              "0000000000000000: 00000002 00000000 00010000 0001 01 20479 @abstract\n"
              "0000000000000000: 00000003 00000000 00000000 0001 03 20480 /run/systemd/journal/stdout\n"
              "0000000000000000: 00000002 00000000 00010000 0001 01 20481\n")
    assert agent(tmp_path)["unix_listeners"]() == {"20478": "/tmp/i/supervisor.sock.11474"}


def test_supervisord_bound_name_is_mapped_back_to_its_socket(tmp_path):
    fake = FakeHost(tmp_path)
    fake.file("/tmp/s.sock", "")
    names = agent(tmp_path)
    assert names["socket_name"]("/tmp/s.sock.812", 812) == "/tmp/s.sock"
    assert names["socket_name"]("/tmp/other.sock.812", 812) == "/tmp/other.sock.812"   # no such stem: as bound


@pytest.mark.parametrize("options, hidden", [("rw", None), ("rw,hidepid=2", "2"), ("rw,hidepid=invisible,gid=4",
                                                                                 "invisible"), ("rw,hidepid=0", None)])
def test_hidepid_is_noticed(tmp_path, options, hidden):
    fake = FakeHost(tmp_path)
    fake.file("/proc/self/mountinfo", f"27 1 254:0 / / rw - ext4 /dev/vda rw\n22 27 0:21 / /proc rw,nosuid - proc "
                                      f"proc {options}\n")
    assert agent(tmp_path)["hidepid"]() == hidden


def test_hidepid_note_for_a_login_user(tmp_path, monkeypatch):
    fake = FakeHost(tmp_path)
    fake.file("/proc/self/mountinfo", "22 27 0:21 / /proc rw - proc proc rw,hidepid=2\n")
    monkeypatch.setattr(os, "geteuid", lambda: 2101)
    procs, notes = agent(tmp_path)["running"]()
    assert procs == [] and notes == ["/proc is mounted with hidepid=2: other users' processes are hidden from "
                                     "this user (become: true sees them)"]
    error = supervisor_error(SocketMissing("web01", "x", path="", notes=tuple(notes)))
    assert str(error).endswith("set supervisor.socket in the inventory (/proc is mounted with hidepid=2: other "
                               "users' processes are hidden from this user (become: true sees them))")


def test_inet_port_forms(tmp_path):
    inet = agent(tmp_path)["inet_target"]
    assert [inet(p) for p in ("9001", ":9001", "*:9001", "127.0.0.1:9001", "10.1.2.3:9001")] == [
        "127.0.0.1:9001", "127.0.0.1:9001", "127.0.0.1:9001", "127.0.0.1:9001", "10.1.2.3:9001"]


def test_many_running_are_listed_up_to_five_in_the_line():
    many = tuple(f"unix:///tmp/s{i}.sock (pid {i}, root, /etc/s{i}.conf)" for i in range(8))
    text = str(supervisor_error(TunnelAmbiguous("web01", "8 supervisords run", many)))
    assert text.startswith("web01: 8 supervisords run and the inventory names none: unix:///tmp/s0.sock (pid 0, ")
    assert "s4.sock" in text and "s5.sock" not in text
    assert "; and 3 more (-v lists each); set supervisor.socket (or supervisor.url) to one" in text
