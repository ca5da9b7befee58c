"""Every command on every supervisord release in service, for real: the command x release matrix.

One test fleet of seven hosts, each a real sshd and a real supervisord of
one release on the Python its hosts run it on (herd.localfleet.releases):
3.0a12 the seed's way (a copy in the project directory, PYTHONPATH=., a
stand-in meld3, the seed's config), 3.1.4 and 3.3.5 on Python 2.7, 4.0.4 on
3.7, 4.1.0, 4.2.5 and 4.3.0 on 3.11.  Each test runs one herd command over
all seven at once, as a user would, and holds every host to one of two
answers: the command works there, or the host's release lacks it and herd
says so in the one line (``web02  supervisord 3.1.4 cannot signal processes
(added in 3.2.0)``), exit 5.  Never UNREACHABLE because of a release.

With ``HERD_RELEASE_MATRIX=DIR`` the outcome of each (command, release) is
written to DIR as JSON; scripts/release-matrix runs this module and turns
that into the table of docs/releases.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from herd.localfleet.fleet import LocalFleet
from herd.testing.pytest_plugin import start_fleet_for
from helpers import Run, herd, herd_env, wait_until

# one worker runs the module (scripts/test: --dist loadgroup): one fleet of seven, commands in this order
pytestmark = pytest.mark.xdist_group("releases")

RELEASES = {"web01": "3.0a12", "web02": "3.1.4", "web03": "3.3.5", "web04": "4.0.4", "web05": "4.1.0",
            "web06": "4.2.5", "web07": "4.3.0"}
HOSTS = list(RELEASES)
NO_SIGNAL = {"3.0a12", "3.1.4"}          # signalProcess came in 3.2.0
WIDTH = max(map(len, HOSTS))

# Programs of every host beside the fleet's tornado (numprocs=4) and worker: one that writes what is not
# text (bytes that are not UTF-8, a cut character, escapes, NUL), one that answers its stdin (herd fg).
EXTRA = r"""
[program:bytes]
command=/bin/sh -c "while :; do printf 'bad \377\376 ok \343\201\202 ctl \033[31m nul \000 end\n'; sleep 1; done"
startsecs=0
stdout_logfile={logs}/bytes.out.log

[program:echo]
command=/bin/sh -c "echo ready; while read line; do echo echo:$line; done"
startsecs=0
stdout_logfile={logs}/echo.out.log
"""


@pytest.fixture(scope="module")
def rfleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    yield from start_fleet_for(tmp_path_factory, "releases", len(RELEASES), releases=RELEASES, light=True,
                               extra_config=EXTRA)


@pytest.fixture(scope="module")
def matrix() -> Iterator[dict[str, dict[str, str]]]:
    """command -> release -> "works" or the one line a release that lacks it gets; written out at the end."""
    cells: dict[str, dict[str, str]] = {}
    yield cells
    where = os.environ.get("HERD_RELEASE_MATRIX")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        Path(where, f"matrix-{os.getpid()}.json").write_text(json.dumps(cells, indent=1, sort_keys=True))


def run(rfleet: LocalFleet, *args: str, home: Path, timeout: float = 120) -> Run:
    return herd(*args, "-i", str(rfleet.inventory_path), home=home, timeout=timeout)


def per_host(out: str) -> dict[str, list[str]]:
    """The lines of an action's output by host (the summary line left out)."""
    lines: dict[str, list[str]] = {h: [] for h in HOSTS}
    for line in out.splitlines():
        host = line.split(" ", 1)[0]
        if host in lines:
            lines[host].append(line[WIDTH:].strip())
    return lines


def works(matrix: dict[str, dict[str, str]], command: str, hosts: list[str] | None = None) -> None:
    for host in hosts or HOSTS:
        matrix.setdefault(command, {})[RELEASES[host]] = "works"


def lacks(matrix: dict[str, dict[str, str]], command: str, host: str, line: str) -> None:
    matrix.setdefault(command, {})[RELEASES[host]] = line


def pids(rfleet: LocalFleet, host: str) -> dict[str, int]:
    return {f"{i['group']}:{i['name']}": i["pid"] for i in rfleet.rpc(host).supervisor.getAllProcessInfo()}


# -- reading ----------------------------------------------------------------------------------------

def test_status(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    result = run(rfleet, "status", "-o", "json", home=home)
    assert result.code == 0, result.out + result.err
    data = result.json()
    for host in data["hosts"]:
        assert host["error"] is None, host
        names = {p["name"] for p in host["processes"]}
        assert {"worker", "bytes", "echo", "tornado:tornado-" + str(rfleet.host(host["host"]).tornado_ports[0])} <= names
        assert all(p["state"] == "RUNNING" for p in host["processes"]), host
    works(matrix, "status")


def test_version_names_each_release(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    result = run(rfleet, "version", "-a", home=home)
    assert result.code == 0, result.err
    assert per_host(result.out) == {h: [f"supervisord  {r} (API 3.0)"] for h, r in RELEASES.items()}
    works(matrix, "version")


def test_pid(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    own = run(rfleet, "pid", "-a", home=home)
    assert own.code == 0, own.err
    assert per_host(own.out) == {h: [f"supervisord  {rfleet.host(h).supervisord_pid}"] for h in HOSTS}
    worker = run(rfleet, "pid", "worker", "-a", home=home)
    assert per_host(worker.out) == {h: [f"worker  {pids(rfleet, h)['worker:worker']}"] for h in HOSTS}
    works(matrix, "pid")


# -- process control --------------------------------------------------------------------------------

def test_stop_and_start_by_name(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    stopped = run(rfleet, "stop", "worker", "-a", home=home)
    assert stopped.code == 0 and per_host(stopped.out) == {h: ["worker  stopped"] for h in HOSTS}, stopped.out
    again = run(rfleet, "stop", "worker", "-a", home=home)
    assert per_host(again.out) == {h: ["worker  not running"] for h in HOSTS}
    started = run(rfleet, "start", "worker", "-a", home=home)
    assert started.code == 0 and per_host(started.out) == {h: ["worker  started"] for h in HOSTS}, started.out
    works(matrix, "stop NAME")
    works(matrix, "start NAME")


def test_restart_a_group_then_all(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    before = {h: pids(rfleet, h) for h in HOSTS}
    group = run(rfleet, "restart", "tornado:*", "-a", home=home)
    assert group.code == 0, group.out + group.err
    for host, lines in per_host(group.out).items():
        assert len(lines) == 4 and all(line.endswith("restarted") for line in lines), (host, lines)
        after = pids(rfleet, host)
        assert all(after[n] != before[host][n] for n in after if n.startswith("tornado:")), host
    works(matrix, "restart group:*")
    everything = run(rfleet, "restart", "all", "-a", "--wait-timeout", "60", home=home)
    assert everything.code == 0, everything.out + everything.err
    assert all(len(lines) == 7 for lines in per_host(everything.out).values()), everything.out
    works(matrix, "restart all")
    started = run(rfleet, "start", "all", "-a", home=home)
    assert started.code == 0 and all(set(line.split()[-2:]) == {"already", "started"}
                                     for lines in per_host(started.out).values() for line in lines), started.out
    works(matrix, "start all")


def test_signal_works_from_3_2_or_says_which_release_lacks_it(rfleet: LocalFleet, home: Path,
                                                              matrix: dict[str, dict[str, str]]) -> None:
    before = {h: pids(rfleet, h)["worker:worker"] for h in HOSTS}
    result = run(rfleet, "signal", "CONT", "worker", "-a", home=home)
    assert result.code == 5, result.out + result.err
    lines = per_host(result.out)
    for host, release in RELEASES.items():
        if release in NO_SIGNAL:
            line = f"supervisord {release} cannot signal processes (added in 3.2.0)"
            assert lines[host] == [line]
            lacks(matrix, "signal", host, line)
        else:
            assert lines[host] == ["worker  signalled CONT"]
            works(matrix, "signal", [host])
    assert result.out.splitlines()[-1] == "7 hosts: 5 signalled CONT; 2 hosts' supervisord too old"
    assert {h: pids(rfleet, h)["worker:worker"] for h in HOSTS} == before     # CONT: nothing restarted


def test_clear(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    result = run(rfleet, "clear", "bytes", "-a", home=home)
    assert result.code == 0 and per_host(result.out) == {h: ["bytes  logs cleared"] for h in HOSTS}, result.out
    works(matrix, "clear")


# -- logs -------------------------------------------------------------------------------------------

def test_tail_of_supervisords_logs_the_same_on_python_2_and_3(rfleet: LocalFleet, home: Path,
                                                              matrix: dict[str, dict[str, str]]) -> None:
    def tails() -> Run:
        return run(rfleet, "tail", "bytes", "-n", "2", "-a", home=home)

    result = wait_until(lambda: (r := tails()) and all(len(v) == 2 for v in _log_lines(r.out).values()) and r,
                        30, "two lines of bytes on every host")
    assert result.code == 0, result.err
    shown = r"bad \xff\xfe ok \u3042 ctl \x1b[31m nul \x00 end".encode().decode("unicode_escape")
    for host, lines in _log_lines(result.out).items():
        assert lines == [shown.replace("\u3042", "あ").replace("\xff", r"\xff").replace("\xfe", r"\xfe")
                         .replace("\x1b", r"\x1b").replace("\x00", r"\x00")] * 2, (host, lines)
    # a window that starts inside the three bytes of あ drops the rest of the character, on every release
    for count, shown in (("24", r"あ ctl \x1b[31m nul \x00 end"), ("23", r" ctl \x1b[31m nul \x00 end")):
        cut = run(rfleet, "tail", "bytes", "-c", count, "-a", home=home)
        assert {tuple(v) for v in _log_lines(cut.out).values()} == {(shown,)}, cut.out
    works(matrix, "tail")


def _log_lines(out: str) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {h: [] for h in HOSTS}
    for line in out.splitlines():
        host, _, rest = line.partition(" ")
        if host in lines and " | " in rest:
            lines[host].append(rest.split(" | ", 1)[1])
    return lines


def test_tail_follow_of_every_release(rfleet: LocalFleet, home: Path, running: Callable[..., Any],
                                      matrix: dict[str, dict[str, str]]) -> None:
    follow = running("tail", "-f", "worker", "-n", "0", "-a", "-i", str(rfleet.inventory_path), home=home)
    assert follow.wait_for(lambda: all(sum(line.startswith(h + " ") for line in follow.out) >= 2 for h in HOSTS),
                           60), (follow.out, follow.err)
    assert follow.interrupt() == 130
    works(matrix, "tail -f")


def test_maintail_and_maintail_follow(rfleet: LocalFleet, home: Path, running: Callable[..., Any],
                                      matrix: dict[str, dict[str, str]]) -> None:
    result = run(rfleet, "maintail", "-n", "3", "-a", home=home)
    assert result.code == 0, result.err
    assert all(len(v) == 3 for v in _log_lines(result.out).values()), result.out
    works(matrix, "maintail")
    follow = running("maintail", "-f", "-n", "1", "-a", "-i", str(rfleet.inventory_path), home=home)
    assert follow.wait_for(lambda: len(follow.out) == 7), (follow.out, follow.err)    # at the end of each log
    for host in HOSTS:
        rfleet.rpc(host).supervisor.stopProcess("echo")
        rfleet.rpc(host).supervisor.startProcess("echo")
    assert follow.wait_for(lambda: all(any(line.startswith(h + " ") and "echo" in line for line in follow.out)
                                       for h in HOSTS), 60), (follow.out, follow.err)
    assert follow.interrupt() == 130
    works(matrix, "maintail -f")


def test_fg_on_every_release(rfleet: LocalFleet, home: Path, running: Callable[..., Any],
                             matrix: dict[str, dict[str, str]]) -> None:
    for host in HOSTS:
        fg = running("fg", "echo", "-H", host, "-i", str(rfleet.inventory_path), home=home, stdin=subprocess.PIPE)
        assert fg.wait_for(lambda: any(line.startswith(f"herd: attached to {host} echo") for line in fg.err)), \
            (host, fg.err)
        fg.proc.stdin.write("hello herd\n")
        fg.proc.stdin.flush()
        assert fg.wait_for(lambda: "echo:hello herd" in fg.out), (host, fg.out, fg.err)
        fg.proc.stdin.close()
        assert fg.finish() == 0, (host, fg.err)
    works(matrix, "fg")


def test_the_apps_own_log_files(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    """The seed's tornado logs to its own files (logs: in the inventory); --file reads any file on any host."""
    seed = run(rfleet, "tail", "tornado", "-n", "1", "-H", "web01", home=home)
    assert seed.code == 0, seed.err
    assert len(seed.out.splitlines()) == 4 and all(" | " in line for line in seed.out.splitlines()), seed.out
    path = str(Path(rfleet.host("web01").log_dir).parent.parent / "{host}" / "logs" / "worker.out.log")
    result = run(rfleet, "tail", "--file", path, "-n", "1", "-a", home=home)
    assert result.code == 0, result.err
    assert {h for h, lines in _log_lines(result.out).items() if len(lines) == 1} == set(HOSTS), result.out
    works(matrix, "tail (the app's log files)")


# -- configuration ----------------------------------------------------------------------------------

@pytest.fixture
def configs(rfleet: LocalFleet) -> Iterator[None]:
    """Every host's supervisord.conf as it was, put back after the test (a reload reads it again)."""
    saved = {h: Path(rfleet.host(h).conf_path).read_text() for h in HOSTS}
    yield
    for host, text in saved.items():
        Path(rfleet.host(host).conf_path).write_text(text)


def _append(rfleet: LocalFleet, text: str) -> None:
    for host in HOSTS:
        with open(rfleet.host(host).conf_path, "a") as conf:
            conf.write(text)


def _replace(rfleet: LocalFleet, old: str, new: str) -> None:
    for host in HOSTS:
        path = Path(rfleet.host(host).conf_path)
        path.write_text(path.read_text().replace(old, new))


def test_reread_update_avail_remove_add(rfleet: LocalFleet, home: Path, configs: None,
                                       matrix: dict[str, dict[str, str]]) -> None:
    _append(rfleet, "\n[program:extra]\ncommand=/bin/sleep 1000\nstartsecs=0\n")
    reread = run(rfleet, "reread", "-a", home=home)
    assert reread.code == 0 and per_host(reread.out) == {h: ["extra  available"] for h in HOSTS}, reread.out
    works(matrix, "reread")
    update = run(rfleet, "update", "-a", home=home)
    assert update.code == 0 and per_host(update.out) == {h: ["extra  added process group"] for h in HOSTS}
    avail = run(rfleet, "avail", "-a", home=home)
    assert all(any(line.startswith("extra") and "in use" in line for line in lines)
               for lines in per_host(avail.out).values()), avail.out
    works(matrix, "avail")
    _replace(rfleet, "/bin/sleep 1000", "/bin/sleep 2000")
    changed = run(rfleet, "update", "extra", "-a", home=home)
    assert per_host(changed.out) == {h: ["extra  updated process group"] for h in HOSTS}, changed.out
    works(matrix, "update")
    run(rfleet, "stop", "extra", "-a", home=home)
    removed = run(rfleet, "remove", "extra", "-a", home=home)
    assert per_host(removed.out) == {h: ["extra  removed process group"] for h in HOSTS}, removed.out
    works(matrix, "remove")
    added = run(rfleet, "add", "extra", "-a", home=home)
    assert per_host(added.out) == {h: ["extra  added process group"] for h in HOSTS}, added.out
    works(matrix, "add")
    run(rfleet, "stop", "extra", "-a", home=home)
    run(rfleet, "remove", "extra", "-a", home=home)


# -- health -----------------------------------------------------------------------------------------

def test_check_grades_an_exit_by_what_the_release_expects(rfleet: LocalFleet, home: Path, configs: None,
                                                          matrix: dict[str, dict[str, str]]) -> None:
    ok = run(rfleet, "check", home=home)
    assert ok.code == 0 and ok.out.startswith("HERD OK"), ok.out + ok.err
    _append(rfleet, "\n[program:job]\ncommand=/bin/sh -c 'exit 2'\nstartsecs=0\nautorestart=false\n")
    try:
        run(rfleet, "update", "job", "-a", home=home)
        wait_until(lambda: all(rfleet.process_states(h).get("job:job") == "EXITED" for h in HOSTS), 30,
                   "job EXITED everywhere")
        graded = run(rfleet, "check", "--format", "json", home=home)
        problems = {p["host"]: p for p in graded.json()["problems"]}
        for host, release in RELEASES.items():
            old = release.startswith("3.")
            assert problems[host]["kind"] == ("exited_expected" if old else "exited"), problems[host]
            assert problems[host]["reason"].startswith(
                f"EXITED: exit status 2, expected (exitcodes 0,2: supervisord {release}'s default" if old
                else "EXITED: exit status 2, unexpected (exitcodes 0)"), problems[host]
        assert graded.code == 2
    finally:
        run(rfleet, "remove", "job", "-a", home=home)
    works(matrix, "check")


def test_rolling_restart_behind_an_http_probe(rfleet: LocalFleet, home: Path,
                                              matrix: dict[str, dict[str, str]]) -> None:
    before = {h: pids(rfleet, h) for h in HOSTS}
    result = run(rfleet, "rolling-restart", "tornado", "-a", "--batch", "7", "--min-healthy", "1",
                 "--http", "http://127.0.0.1:{port}/", home=home, timeout=300)
    assert result.code == 0, result.out + result.err
    assert result.out.splitlines()[-1].startswith("roll done: 28 of 28 process(es) restarted"), result.out
    for host in HOSTS:
        after = pids(rfleet, host)
        assert all(after[n] != before[host][n] for n in after if n.startswith("tornado:")), host
    works(matrix, "rolling-restart")


# -- long-lived views -------------------------------------------------------------------------------

def test_shell(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    proc = subprocess.run([sys.executable, "-m", "herd", "shell", "-a", "-i", str(rfleet.inventory_path)],
                          input="status worker\nsignal CONT worker\nversion\n", capture_output=True, text=True,
                          env=herd_env(home), timeout=120)
    assert proc.returncode == 0, proc.stderr
    for host, release in RELEASES.items():
        assert re.search(rf"^{host} +worker +RUNNING", proc.stdout, re.M), proc.stdout
        assert f"supervisord  {release} (API 3.0)" in proc.stdout
        if release in NO_SIGNAL:
            assert f"{host}  supervisord {release} cannot signal processes (added in 3.2.0)" in proc.stdout
            lacks(matrix, "shell: signal", host, f"supervisord {release} cannot signal processes (added in 3.2.0)")
        else:
            works(matrix, "shell: signal", [host])
    works(matrix, "shell")


def test_watch(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    pid, fd = pty.fork()
    if pid == 0:   # a terminal tall enough for 7 hosts x 7 processes and the summary
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 80, 160, 0, 0))
        os.execve(sys.executable, [sys.executable, "-m", "herd", "status", "--watch", "--interval", "0.5",
                                   "-i", str(rfleet.inventory_path)], herd_env(home, LINES="80", COLUMNS="160"))
    seen = ""
    deadline = time.monotonic() + 60
    while "7 hosts," not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536).decode(errors="replace")
            except OSError:
                break
    os.write(fd, b"q")
    _, status = os.waitpid(pid, 0)
    assert "7 hosts," in seen and "UNREACHABLE" not in seen, seen[-3000:]
    assert os.waitstatus_to_exitcode(status) == 0
    works(matrix, "status --watch")


def test_web(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    from webtools import http, start_web

    server = start_web(rfleet.inventory_path, home)
    auth = {"Authorization": f"Bearer {server.token}"}
    try:
        def every_host_polled() -> Any:
            data = http("GET", server.base, "/api/status", headers=auth).json()
            return data if all(h.get("polled") and h.get("processes") for h in data["hosts"]) else None

        data = wait_until(every_host_polled, 60, "every host polled by herd web")
        assert [h["host"] for h in data["hosts"]] == HOSTS and all(h["error"] is None for h in data["hosts"]), data
        body = {"action": "signal", "signal": "CONT", "targets": [{"host": h, "name": "worker"} for h in HOSTS]}
        answer = http("POST", server.base, "/api/control", body=json.dumps(body).encode(),
                      headers={**auth, "Content-Type": "application/json"})
        assert answer.status == 200, answer.body
        lines = answer.json()["lines"]
        for host, release in RELEASES.items():
            expected = (f"{host}  supervisord {release} cannot signal processes (added in 3.2.0)"
                        if release in NO_SIGNAL else f"{host}  worker  signalled CONT")
            assert expected in lines, lines
    finally:
        server.stop()
    works(matrix, "web")


def test_keeper(rfleet: LocalFleet, home: Path, tmp_path: Path, matrix: dict[str, dict[str, str]]) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="herd-rt-", dir="/tmp"))   # short: the keeper's socket lives there
    env = herd_env(home, HERD_KEEP="2m", XDG_RUNTIME_DIR=str(runtime), XDG_STATE_HOME=str(tmp_path / "state"))
    inventory = ["-i", str(rfleet.inventory_path)]
    try:
        first = herd("status", *inventory, home=home, env=env)
        second = herd("signal", "CONT", "worker", "-a", *inventory, home=home, env=env)
        assert first.code == 0, first.err
        assert second.code == 5 and second.out.splitlines()[-1] == \
            "7 hosts: 5 signalled CONT; 2 hosts' supervisord too old", second.out
        kept = herd("keeper", "status", "-o", "json", *inventory, home=home, env=env)
        assert kept.code == 0 and kept.json()[0]["hosts_connected"] == 7, kept.out
    finally:
        herd("keeper", "stop", "--all", home=home, env=env)
        shutil.rmtree(runtime, ignore_errors=True)
    works(matrix, "keeper")


# -- supervisord itself (last: they restart or stop it) -----------------------------------------------

def test_reload_waits_until_each_release_answers_again(rfleet: LocalFleet, home: Path,
                                                       matrix: dict[str, dict[str, str]]) -> None:
    before = {h: rfleet.host(h).supervisord_pid for h in HOSTS}
    result = run(rfleet, "reload", "--yes", "-a", home=home)
    assert result.code == 0 and per_host(result.out) == {h: ["supervisord  reloaded"] for h in HOSTS}, result.out
    status = run(rfleet, "pid", "-a", home=home)
    assert per_host(status.out) == {h: [f"supervisord  {before[h]}"] for h in HOSTS}   # in place: same pid
    works(matrix, "reload")
    for host in HOSTS:
        rfleet.wait_running(host, 60)


def test_shutdown(rfleet: LocalFleet, home: Path, matrix: dict[str, dict[str, str]]) -> None:
    result = run(rfleet, "shutdown", "--yes", "-a", home=home)
    try:
        assert result.code == 0, result.out + result.err
        assert per_host(result.out) == {h: ["supervisord  shut down"] for h in HOSTS}, result.out
        works(matrix, "shutdown")
    finally:
        for host in HOSTS:
            rfleet.host(host).supervisord_pid = None
            rfleet.start_supervisord(host, 60)


# -- the fake's release profiles answer as the real releases do (herd/testing/fake.py) ------------------

def _client_of(rfleet: LocalFleet, host: str) -> Any:
    from herd.fleet.session import HostSession
    from herd.inventory import load_inventory
    from herd.ssh.connection import Connector

    inventory = load_inventory(str(rfleet.inventory_path))
    return HostSession(next(h for h in inventory.hosts if h.name == host), Connector(timeout=30))


def _fake_of(release: str) -> Any:
    from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec

    python = 2 if release.startswith("3.") else 3
    supervisor = FakeSupervisor([ProgramSpec("worker"), ProgramSpec("bytes")], version=release, python=python)
    supervisor.write_log("bytes", b"bad \xff\xfe ok \xe3\x81\x82 ctl \x1b[31m nul \x00 end\n")
    return FakeHost("fake", supervisor)


def _answers(client: Any) -> dict[str, Any]:
    """What herd relies on of a release, asked over the raw wire (no capabilities involved)."""
    from herd.errors import HerdError, SupervisorFault

    def outcome(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except SupervisorFault as fault:
            return ("fault", fault.code)
        except HerdError as exc:
            return ("error", type(exc).__name__)

    two = outcome(lambda: client.call("system.multicall", [{"methodName": "supervisor.getAPIVersion"},
                                                           {"methodName": "supervisor.getPID"}]))
    config = outcome(lambda: client.call("supervisor.getAllConfigInfo"))
    size = outcome(lambda: client.call("supervisor.tailProcessStdoutLog", "bytes", 0, 0))
    whole = outcome(lambda: client.call("system.multicall", [{"methodName": "supervisor.tailProcessStdoutLog",
                                                              "params": ["bytes", 0, 200]}]))
    return {
        "version": client.call("supervisor.getSupervisorVersion"),
        "api": client.call("supervisor.getAPIVersion"),
        "signal listed": "supervisor.signalProcess" in client.call("system.listMethods"),
        "two calls answered": len(two) if isinstance(two, list) else two,
        "empty params": outcome(lambda: client.call("system.multicall", [{"methodName": "supervisor.getPID",
                                                                            "params": []}])) != ("error",
                                                                                                 "SupervisorUnavailable"),
        "config fields": sorted(set(config[0]) & {"exitcodes", "redirect_stderr", "stdout_logfile"}),
        "log text": _last_line(whole),
        "log size": isinstance(size, list),
    }


def _last_line(answers: Any) -> Any:
    """The last whole line of a multicall's tail, as bytes (Python 2), or that supervisord could not decode it."""
    if not isinstance(answers, list):
        return answers
    answer = answers[0]
    if isinstance(answer, dict):
        return "decode fault" if "UnicodeDecodeError" in str(answer.get("faultString")) else answer
    return answer[0].encode("utf-8", "surrogateescape").split(b"\n")[-2]


def test_the_fakes_release_profiles_answer_as_the_real_releases_do(rfleet: LocalFleet) -> None:
    for host, release in RELEASES.items():
        rfleet.rpc(host).supervisor.clearProcessLogs("bytes")
        wait_until(lambda: rfleet.rpc(host).supervisor.tailProcessStdoutLog("bytes", 0, 0)[1] > 0, 10,
                   f"{host}: a line of bytes")
        session = _client_of(rfleet, host)
        try:
            real = _answers(session.client())
        finally:
            session.close()
        fake = _answers(_fake_of(release).client())
        assert real == fake, (host, release, real, fake)
        assert real["version"] == release and real["api"] == "3.0"
        assert real["signal listed"] == (release not in NO_SIGNAL)
        assert real["two calls answered"] == (1 if release == "3.0a12" else 2)
        assert real["empty params"] == (release != "3.0a12")


def test_multicall_before_3_2_runs_every_call_up_front(rfleet: LocalFleet) -> None:
    """Why herd sends those releases one call at a time: a batch is not run in order there.

    A stop (waiting for the process to be gone) and a look at the process in
    one multicall: 3.2.0 and later look after the stop finished, 3.1 before
    (3.0a12 runs the first call only).
    """
    for host, release in RELEASES.items():
        rpc = rfleet.rpc(host, 30)
        answers = rpc.system.multicall([{"methodName": "supervisor.stopProcess", "params": ["echo", True]},
                                        {"methodName": "supervisor.getProcessInfo", "params": ["echo"]}])
        try:
            if release == "3.0a12":
                assert answers == [True], answers
            elif release == "3.1.4":    # looked before the stop was done (before it began, even: RUNNING)
                assert answers[0] is True and answers[1]["statename"] in ("RUNNING", "STOPPING"), answers
            else:
                assert answers[0] is True and answers[1]["statename"] == "STOPPED", (release, answers)
        finally:
            wait_until(lambda: rpc.supervisor.getProcessInfo("echo")["statename"] == "STOPPED", 30)
            rpc.supervisor.startProcess("echo")
