"""The discovering relay's config search, run by a local Python in a fake host tree, and its reports.

The fleet tests (tests/test_discover_fleet.py) run it on hosts over SSH; here
the search order, %(here)s, the [unix_http_server] fallback and "nothing
found" are checked with files and a listening socket of the test's own, in a
host tree of its own (tests/discover_host.py): never the machine's /etc.
What runs (/proc) is tests/test_discover_proc.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from discover_host import FakeHost, failure, report
from herd.errors import SocketMissing, SupervisorUnavailable
from herd.fleet.reach import supervisor_error
from herd.ssh.config import SSHTarget
from herd.ssh.connection import SSHConnection
from herd.ssh.discover import COMMON_SOCKETS, Found, SocketMemory, parse_failure
from herd.ssh.remote import classify_failure


@pytest.fixture
def host(tmp_path: Path):
    fake = FakeHost(tmp_path / "h")
    yield fake
    fake.close()


def test_supervisorctl_serverurl_of_the_config_in_cwd_with_here_and_credentials(host):
    host.file("/home/deploy/supervisord.conf",
              "[unix_http_server]\nfile=/nowhere.sock\n\n[supervisorctl]\nserverurl=unix://%(here)s/s.sock ; comment\n"
              "username=admin\npassword=p;w#1\n")
    host.listen_unix("/home/deploy/s.sock", 1)
    found = report(host.run())
    assert found == {"target": "/home/deploy/s.sock", "how": "[supervisorctl] serverurl in /home/deploy/supervisord.conf",
                     "config": "/home/deploy/supervisord.conf", "username": "admin", "password": "p;w#1",
                     "seen": [], "notes": []}


def test_unix_http_server_file_when_supervisorctl_names_no_url(host):
    host.file("/home/deploy/etc/supervisord.conf", "[unix_http_server]\nfile=/run/x/s.sock\nusername=u\n"
                                                   "password={SHA}abc\n")
    host.listen_unix("/run/x/s.sock", 1)
    found = report(host.run())
    assert (found["target"], found["username"], found["password"]) == ("/run/x/s.sock", "u", None)
    assert found["how"] == "[unix_http_server] file in /home/deploy/etc/supervisord.conf"


def test_the_first_existing_config_decides_even_when_it_names_nothing(host):
    host.file("/home/deploy/supervisord.conf", "[supervisord]\nlogfile=/tmp/x.log\n")
    host.file("/etc/supervisor/supervisord.conf", "[unix_http_server]\nfile=/run/s.sock\n")
    host.listen_unix("/run/s.sock", 1)
    failed = failure(host.run(["/run/nosuch.sock"]))
    assert failed["kind"] == "nothing"
    assert failed["seen"] == ["/home/deploy/supervisord.conf names no socket or URL"]


def test_common_paths_when_no_config_names_a_socket(host):
    host.listen_unix("/run/supervisor.sock", 1)
    found = report(host.run(["/var/run/supervisor.sock", "/run/supervisor.sock"]))
    assert (found["target"], found["how"]) == ("/run/supervisor.sock", "common socket path")


def test_nothing_found(host):
    done = host.run(["/var/run/supervisor.sock"])
    failed = failure(done)
    assert (failed["errno"], failed["target"], failed["kind"]) == (0, "", "nothing")
    conn = SSHConnection(SSHTarget("deb1", "h", 22, "deploy", ()), None, 1.0)  # type: ignore[arg-type]
    neutral = conn._discovery_error(classify_failure(done.stderr.decode().splitlines(), 3))
    assert isinstance(neutral, SocketMissing) and neutral.path == ""     # the SSH layer's words
    error = supervisor_error(neutral)                                      # the fleet layer's
    assert isinstance(error, SupervisorUnavailable)
    assert str(error) == ("deb1: found no supervisord: no supervisord.conf in supervisorctl's search order names "
                          "a socket, no supervisord process runs that herd could see, and none of the common "
                          f"paths exists ({', '.join(COMMON_SOCKETS)}); set supervisor.socket in the inventory")


def test_a_found_socket_nobody_serves_is_reported_with_where_it_was_found(host):
    host.file("/home/deploy/supervisord.conf", "[supervisorctl]\nserverurl=unix:///nonexistent/x.sock\n")
    done = host.run()
    failed = parse_failure(classify_failure(done.stderr.decode().splitlines(), 3))
    assert (failed.errno, failed.target, failed.kind) == (2, "/nonexistent/x.sock", "dead")
    assert failed.how == "[supervisorctl] serverurl in /home/deploy/supervisord.conf"


def test_an_unreadable_failure_line_is_kept_as_text():
    failed = parse_failure(classify_failure(["!5 something else"], 3))
    assert (failed.errno, failed.kind, failed.reason) == (5, "unreadable", "something else")


def test_memory_keeps_no_password_and_ignores_another_identity(tmp_path):
    memory = SocketMemory(tmp_path / "m.json")
    memory.remember("a", "deploy@h:22", Found("/run/s.sock", "how", "user", "secret"))
    assert "secret" not in (tmp_path / "m.json").read_text()
    assert memory.recall("a", "deploy@h:22") == "/run/s.sock"
    assert memory.recall("a", "root@h:22") is None
    memory.forget("a")
    assert memory.recall("a", "deploy@h:22") is None
    (tmp_path / "m.json").write_text("not json")
    assert memory.recall("a", "deploy@h:22") is None
