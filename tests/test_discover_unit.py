"""The discovering relay's search, run by a local Python in a scratch directory, and its reports.

The fleet tests (tests/test_discover_fleet.py) run it on hosts over SSH; here
the search order, %(here)s, the [unix_http_server] fallback and "nothing
found" are checked with files and a listening socket of the test's own.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from herd.errors import SocketMissing, SupervisorUnavailable
from herd.fleet.session import supervisor_error
from herd.ssh.config import SSHTarget
from herd.ssh.connection import SSHConnection
from herd.ssh.discover import _FIND, COMMON_SOCKETS, DISCOVER_SCRIPT, SYSTEM_CONFIGS, SocketMemory, Found, parse_failure
from herd.ssh.relay import OPEN_SOCKET, RELAY_LOOP
from herd.ssh.remote import classify_failure


def agent(tmp_path: Path, common: list[str], system: list[str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the discovering relay with an empty PATH in ``tmp_path`` (stdin closed: it relays nothing).

    ``common`` and ``system`` stand for the common socket paths and /etc's supervisord.conf files:
    never the machine's own (it may have Debian's supervisor package, or a supervisord running).
    """
    system = [str(tmp_path / "no-etc" / "supervisord.conf")] if system is None else system
    script = OPEN_SOCKET + (_FIND % {"common": common, "system": system}) + RELAY_LOOP
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, timeout=15,
                          env={"PATH": str(empty)}, stdin=subprocess.DEVNULL)


@pytest.fixture
def listening(tmp_path: Path):
    """A unix socket that accepts and hangs up at once (so the relay, after its report, ends)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = tmp_path / "s.sock"
    sock.bind(str(path))
    sock.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield path
    sock.close()


def report(done: subprocess.CompletedProcess[bytes]) -> dict:
    assert done.stdout[:1] == b"+", done.stderr
    return json.loads(done.stdout[1:].split(b"\n")[0])


def test_supervisorctl_serverurl_of_the_config_in_cwd_with_here_and_credentials(tmp_path, listening):
    (tmp_path / "supervisord.conf").write_text(
        "[unix_http_server]\nfile=/nowhere.sock\n\n[supervisorctl]\nserverurl=unix://%(here)s/s.sock ; comment\n"
        "username=admin\npassword=p;w#1\n")
    found = report(agent(tmp_path, []))
    assert found == {"target": str(listening), "how": f"[supervisorctl] serverurl in {tmp_path}/supervisord.conf",
                     "config": f"{tmp_path}/supervisord.conf", "username": "admin", "password": "p;w#1"}


def test_unix_http_server_file_when_supervisorctl_names_no_url(tmp_path, listening):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "supervisord.conf").write_text(
        f"[unix_http_server]\nfile={listening}\nusername=u\npassword={{SHA}}abc\n")
    found = report(agent(tmp_path, []))
    assert (found["target"], found["username"], found["password"]) == (str(listening), "u", None)
    assert found["how"].startswith("[unix_http_server] file in ")


def test_system_configs_come_last_first_existing_wins(tmp_path, listening):
    """/etc's files, stood in for by the test's own (the machine may have Debian's supervisor package)."""
    etc = tmp_path / "etc-root"
    (etc / "supervisor").mkdir(parents=True)
    (etc / "supervisor" / "supervisord.conf").write_text(f"[unix_http_server]\nfile={listening}\n")
    system = [str(etc / "supervisord.conf"), str(etc / "supervisor" / "supervisord.conf")]
    found = report(agent(tmp_path, [], system))
    assert found["how"] == f"[unix_http_server] file in {etc}/supervisor/supervisord.conf"
    assert DISCOVER_SCRIPT.count(repr(list(SYSTEM_CONFIGS))) == 1     # the real agent searches the real /etc
    assert SYSTEM_CONFIGS == ("/etc/supervisord.conf", "/etc/supervisor/supervisord.conf")


def test_common_paths_when_no_config_names_a_socket(tmp_path, listening):
    found = report(agent(tmp_path, [str(tmp_path / "nosuch.sock"), str(listening)]))
    assert (found["target"], found["how"]) == (str(listening), "common socket path")


def test_nothing_found(tmp_path):
    done = agent(tmp_path, [str(tmp_path / "nosuch.sock")])
    assert done.returncode == 3 and done.stdout == b""
    failure = parse_failure(classify_failure(done.stderr.decode().splitlines(), 3))
    assert (failure.errno, failure.target) == (0, "")
    conn = SSHConnection(SSHTarget("deb1", "h", 22, "deploy", ()), None, 1.0)  # type: ignore[arg-type]
    neutral = conn._discovery_error(classify_failure(done.stderr.decode().splitlines(), 3))
    assert isinstance(neutral, SocketMissing) and neutral.path == ""     # the SSH layer's words
    error = supervisor_error(neutral)                                      # the fleet layer's
    assert isinstance(error, SupervisorUnavailable)
    assert str(error) == ("deb1: found no supervisord: no supervisord.conf in supervisorctl's search order names "
                          f"a socket, and none of the common paths exists ({', '.join(COMMON_SOCKETS)}); "
                          "set supervisor.socket in the inventory")


def test_a_found_socket_nobody_serves_is_reported_with_where_it_was_found(tmp_path):
    (tmp_path / "supervisord.conf").write_text("[supervisorctl]\nserverurl=unix:///nonexistent/x.sock\n")
    done = agent(tmp_path, [])
    failure = parse_failure(classify_failure(done.stderr.decode().splitlines(), 3))
    assert (failure.errno, failure.target) == (2, "/nonexistent/x.sock")
    assert failure.how == f"[supervisorctl] serverurl in {tmp_path}/supervisord.conf"


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
