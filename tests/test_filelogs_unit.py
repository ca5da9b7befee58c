"""The file agent's protocol and herd's file readers, in process (no SSH).

The agent script runs as a real local Python process whose stdin/stdout are
one end of a socketpair, which stands in for the SSH channel (same calls:
settimeout, sendall, recv, close).  Hostile answers come from a fake channel.
The real thing over sshd is in test_filelogs_fleet.py.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from herd.errors import ConnectError, HostTimeout
from herd.inventory import logpaths
from herd.operations.filelogs import FileProblem, FileReader, drive, file_ref
from herd.ssh.fileagent import (AGENT_SCRIPT, MAX_READ, FileAgent, FileData, FileFailure, ProtocolError,
                                ReadRequest, check_data, parse_header)
from herd.supervisor.logs import LogRef
from herd.supervisor.logtext import FILE, Note
from herd.supervisor.models import ProcessInfo


def _interpreters() -> list[str]:
    """This Python, and a Python 2 where the machine has one (supervisor 4 hosts may run 2.7)."""
    found = [sys.executable]
    root = os.environ.get("PYENV_ROOT") or os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".pyenv")  # not $HOME:
    pyenv = sorted(glob.glob(os.path.join(root, "versions/2.*/bin/python2")))            # the suite's is empty
    for path in [shutil.which("python2.7"), shutil.which("python2"), *pyenv]:
        if path and subprocess.run([path, "-c", "import sys; assert sys.version_info[0] == 2"],
                                   capture_output=True).returncode == 0:
            return found + [path]
    return found


@pytest.fixture(params=_interpreters())
def agent(request):
    """A FileAgent talking to the real agent script run locally (by each interpreter at hand)."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([request.param, "-c", AGENT_SCRIPT, str(MAX_READ)], stdin=theirs, stdout=theirs)
    theirs.close()
    ours.settimeout(10)
    assert ours.recv(1) == b"+"
    yield FileAgent(ours, "web01", 5.0)
    ours.close()
    proc.wait(10)


def reader(path: Path) -> FileReader:
    return FileReader(LogRef("app", FILE, str(path)))


def run(agent: FileAgent, step):
    (result,) = drive(agent, {0: step}, 5.0).values()
    return result


def text(pieces) -> str:
    return "".join(p for p in pieces if isinstance(p, str))


# -- the agent itself ------------------------------------------------------------------


def test_agent_reads_stats_and_reports_errors(agent, tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"0123456789")
    (tmp_path / "d").mkdir()
    answers = agent.read([ReadRequest(str(log), 2, 3), ReadRequest(str(log), -4, 100), ReadRequest(str(log), 0, 0),
                          ReadRequest(str(log), 50, 10), ReadRequest(str(tmp_path / "nope"), 0, 1),
                          ReadRequest(str(tmp_path / "d"), 0, 1), ReadRequest("/dev/null", 0, 1)])
    st = log.stat()
    assert answers[0] == FileData(st.st_dev, st.st_ino, 10, 2, b"234")
    assert answers[1].start == 6 and answers[1].data == b"6789"
    assert answers[2].size == 10 and answers[2].data == b""
    assert answers[3].start == 50 and answers[3].data == b""          # beyond the end: nothing
    assert [a.reason for a in answers[4:]] == ["no such file", "is a directory", "not a regular file"]
    assert answers[4].path == str(tmp_path / "nope")


def test_agent_refuses_more_than_max_read_and_handles_odd_paths(agent, tmp_path):
    odd = tmp_path / "sp ace\nnew\u00e9"
    odd.write_bytes(b"x" * (MAX_READ + 10))
    (big,) = agent.read([ReadRequest(str(odd), 0, MAX_READ + 10)])
    assert len(big.data) == MAX_READ and big.size == MAX_READ + 10


def test_agent_permission_denied(tmp_path):
    """As root (CI) the agent runs as nobody on a 0600 file; as another user, on a 0000 file."""
    secret = tmp_path / "secret.log"
    secret.write_text("x\n")
    secret.chmod(0o600 if os.geteuid() == 0 else 0)
    ours, theirs = socket.socketpair()
    python = "/usr/bin/python3" if os.geteuid() == 0 else sys.executable     # nobody cannot reach the venv
    proc = subprocess.Popen([python, "-c", AGENT_SCRIPT, "100"], stdin=theirs, stdout=theirs,
                            user="nobody" if os.geteuid() == 0 else None)
    theirs.close()
    ours.settimeout(10)
    assert ours.recv(1) == b"+"
    (answer,) = FileAgent(ours, "web01", 5.0).read([ReadRequest(str(secret), 0, 10)])
    assert isinstance(answer, FileFailure) and answer.reason == "permission denied"
    ours.close()
    proc.wait(10)


# -- strict parsing of what the agent says ---------------------------------------------------


@pytest.mark.parametrize("line", [b"D 1 2 3 4\n", b"D 1 2 3 4 5", b"D -1 2 3 4 5\n", b"X 1\n", b"E x\n",
                                  b"D 1 2 3 4 5 \n", b"E 1 2\n", b"D 1 2 3 4 1234567890\n", b"+\n", b""])
def test_malformed_headers_are_refused(line):
    with pytest.raises(ProtocolError):
        parse_header(line)


def test_counts_and_offsets_must_fit_the_request():
    ask = ReadRequest("/x", 10, 5)
    assert check_data(ask, (1, 2, 100, 10, 5)) == (1, 2, 100, 10, 5)
    for fields in [(1, 2, 100, 10, 6), (1, 2, 12, 10, 5), (1, 2, 100, 11, 0)]:
        with pytest.raises(ProtocolError):
            check_data(ask, fields)
    assert check_data(ReadRequest("/x", -5, 5), (1, 2, 3, 0, 3))[3] == 0
    with pytest.raises(ProtocolError):
        check_data(ReadRequest("/x", -5, 5), (1, 2, 30, 0, 5))          # the last 5 start at 25


class FakeChannel:
    """A channel that answers with a fixed byte string (or nothing at all)."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.closed = False
        self.timeout = None

    def settimeout(self, value):
        self.timeout = value

    def sendall(self, data):
        pass

    def recv(self, n):
        if self.reply is None:
            time.sleep(self.timeout)
            raise socket.timeout("timed out")
        chunk, self.reply = self.reply[:n], self.reply[n:]
        return chunk

    def close(self):
        self.closed = True


@pytest.mark.parametrize("reply, message", [
    (b"D 1 2 10 0 20\n" + b"x" * 20, "20 bytes at 0 of a 10-byte file, asked 10"),
    (b"A" * 500, "header longer than 128 bytes"),
    (b"\x1b[2J junk\n", "unexpected answer b'\\x1b[2J junk\\n'"),
    (b"D 1 2 10 0 5\nab", "exited"),
])
def test_hostile_or_broken_answers_end_the_agent_as_one_host_error(reply, message):
    channel = FakeChannel(reply)
    agent = FileAgent(channel, "web01", 2.0)
    with pytest.raises(ConnectError) as info:
        agent.read([ReadRequest("/x", 0, 10)])
    assert message in info.value.reason and info.value.host == "web01"
    assert channel.closed and agent.broken
    assert "\x1b" not in str(info.value)


def test_an_agent_that_never_answers_costs_the_budget_not_more():
    agent = FileAgent(FakeChannel(None), "web01", 10.0)
    began = time.monotonic()
    with pytest.raises(HostTimeout) as info:
        agent.read([ReadRequest("/x", 0, 10)], budget=0.5)
    assert time.monotonic() - began < 2
    assert str(info.value) == "web01: the log reader on the host did not answer within 10 s"


# -- readers: windows ----------------------------------------------------------------------


def test_last_lines_and_bytes(agent, tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(1, 2001)))
    assert text(run(agent, reader(log).window(3, None, final=True))) == "line 1998\nline 1999\nline 2000\n"
    assert text(run(agent, reader(log).window(None, 7, final=True))) == "e 2000\n"
    whole = run(agent, reader(log).window(5000, None, final=True))
    assert text(whole).count("\n") == 2000
    big = tmp_path / "big.log"
    big.write_bytes(b"y" * (3 * MAX_READ) + b"\nlast\n")           # a window larger than one read
    assert text(run(agent, reader(big).window(None, 2 * MAX_READ, final=True))) == \
        "y" * (2 * MAX_READ - 6) + "\nlast\n"


def test_bad_bytes_and_a_cut_character(agent, tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"bin \xff\xfe mid \x1b[31m \xf0\x9f\x98\x80\n")
    shown = text(run(agent, reader(log).window(1, None, final=True)))
    assert shown == "bin \udcff\udcfe mid \x1b[31m \U0001F600\n"
    cut = text(run(agent, reader(log).window(None, 4, final=True)))    # starts inside the emoji
    assert cut == "\n"


def test_missing_file_is_a_file_problem(agent, tmp_path):
    result = run(agent, reader(tmp_path / "nope.log").window(20, None, final=True))
    assert isinstance(result, FileProblem) and str(result) == f"{tmp_path}/nope.log: no such file"


# -- readers: following ----------------------------------------------------------------


def follow_text(agent, r: FileReader):
    pieces, more = run(agent, r.poll())
    return pieces, more


def test_follow_new_bytes_and_a_split_character(agent, tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"old\n")
    r = reader(log)
    assert run(agent, r.window(0, None, final=False)) == [] and not r.mid_line
    with log.open("ab") as fh:
        fh.write(b"euro \xe2\x82")
    assert follow_text(agent, r) == (["euro "], False)
    with log.open("ab") as fh:
        fh.write(b"\xac done\n")
    assert follow_text(agent, r) == (["\u20ac done\n"], False)
    assert follow_text(agent, r) == ([], False)


@pytest.mark.parametrize("change", ["rename", "truncate", "rewrite", "truncate-unanchored"])
def test_rotation_is_noticed_and_the_new_file_read_from_its_start(agent, tmp_path, change):
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    r = reader(log)
    run(agent, r.window(1, None, final=False))
    if change == "rename":
        log.rename(tmp_path / "a.log.1")
        log.write_bytes(b"one\ntwo\nfresh\n")        # same bytes before the offset: only the inode tells
    elif change == "truncate":
        log.write_bytes(b"new\n")
    elif change == "truncate-unanchored":        # after a skip herd knows no bytes before its offset
        r.anchor = b""
        log.write_bytes(b"new\n")
    else:                           # same inode, same size and more, other bytes before the offset
        log.write_bytes(b"ONE\nTWO\nthree\n")
    pieces, _ = follow_text(agent, r)
    assert isinstance(pieces[0], Note) and pieces[0].text.startswith("log rotated or cleared")
    assert text(pieces) == {"rename": "one\ntwo\nfresh\n", "truncate": "new\n", "truncate-unanchored": "new\n", "rewrite": "ONE\nTWO\nthree\n"}[change]
    assert follow_text(agent, r) == ([], False)


def test_a_file_gone_while_followed_is_waited_for(agent, tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"one\n")
    r = reader(log)
    run(agent, r.window(1, None, final=False))
    log.unlink()
    pieces, _ = follow_text(agent, r)
    assert pieces == [Note(f"{log} is gone (rotated away?); waiting for it to come back")]
    assert follow_text(agent, r) == ([], False)                 # said once
    log.write_bytes(b"back\n")
    pieces, _ = follow_text(agent, r)
    assert pieces[0].text.startswith("log rotated or cleared") and text(pieces) == "back\n"


def test_far_behind_skips_ahead_and_says_so(agent, tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"")
    r = reader(log)
    run(agent, r.window(0, None, final=False))
    log.write_bytes(b"z" * (9 * 1024 * 1024))
    pieces, more = follow_text(agent, r)
    assert more and isinstance(pieces[-1], Note) and pieces[-1].cut
    assert pieces[-1].text.endswith("bytes skipped: herd fell more than 8 MiB behind")
    rest = b""
    while True:
        pieces, more = follow_text(agent, r)
        rest += text(pieces).encode()
        if not more:
            break
    assert len(rest) == 256 * 1024                              # the last POLL_LIMIT bytes


def test_several_files_share_each_round_trip(tmp_path):
    """drive() asks for every file of the host in one batch per step."""
    batches: list[int] = []

    class Counting(FileAgent):
        def read(self, requests, *, budget=None):
            batches.append(len(requests))
            return super().read(requests, budget=budget)

    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([sys.executable, "-c", AGENT_SCRIPT, str(MAX_READ)], stdin=theirs, stdout=theirs)
    theirs.close()
    ours.settimeout(10)
    assert ours.recv(1) == b"+"
    try:
        paths = []
        for i in range(4):
            paths.append(tmp_path / f"{i}.log")
            paths[-1].write_text(f"file {i}\n")
        results = drive(Counting(ours, "web01", 5.0),
                        {i: reader(p).window(5, None, final=True) for i, p in enumerate(paths)}, 5.0)
        assert [text(results[i]) for i in range(4)] == [f"file {i}\n" for i in range(4)]
        assert batches == [4]
    finally:
        ours.close()
        proc.wait(10)


# -- templates -------------------------------------------------------------------------------


def test_templates_fill_per_process():
    info = ProcessInfo.from_rpc({"name": "tornado-8080", "group": "tornado", "state": 20, "statename": "RUNNING",
                                 "pid": 1, "start": 0, "now": 0, "description": "", "stdout_logfile": "",
                                 "stderr_logfile": "", "exitstatus": 0, "spawnerr": ""})
    ref = file_ref("/srv/{host}/{program}/{process}-{num}.log", "web01", info)
    assert ref.logfile == "/srv/web01/tornado/tornado-8080-8080.log" and ref.label == "tornado:tornado-8080"
    assert file_ref("/var/log/{host}.log", "web02").label == "/var/log/web02.log"
    with pytest.raises(logpaths.TemplateError, match="does not end in a number"):
        logpaths.fill("/x/{num}", logpaths.process_values("worker", "worker", "web01"))
    assert logpaths.fill("/x/{{literal}}/{host}", {"host": "h"}) == "/x/{literal}/h"


# -- operations over a fake host (logic above the wire; files are local) ---------------------


def fake_host(tmp_path: Path):
    from herd.inventory.model import Host
    from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec

    inv_host = Host(name="web01", logs={"tornado": f"{tmp_path}/{{program}}-{{num}}.log"})
    supervisor = FakeSupervisor([ProgramSpec("tornado", numprocs=2, numprocs_start=8080,
                                             stdout_logfile=None, stderr_logfile=None),
                                 ProgramSpec("worker")])
    for port in (8080, 8081):
        (tmp_path / f"tornado-{port}.log").write_text(f"a {port}\nb {port}\n")
    return FakeHost(inv_host, supervisor)


def test_tail_mixes_files_and_supervisord_logs_by_program(tmp_path):
    from herd.operations.logs import LogRequest, read_logs
    from herd.testing.fake import fake_fleet

    web01 = fake_host(tmp_path)
    web01.supervisor.write_log("worker", b"w1\nw2\n")
    report = read_logs(fake_fleet([web01]), LogRequest(("tornado", "worker"), lines=1))
    got = {p.name: (p.ref.channel, p.lines, p.error) for h in report.hosts for p in h.logs}
    assert got == {"tornado:tornado-8080": ("file", ["b 8080"], None),
                   "tornado:tornado-8081": ("file", ["b 8081"], None),
                   "worker": ("stdout", ["w2"], None)}
    assert report.exit_code == 0
    assert [p.wait(5) for p in web01.agents] == [0]             # one agent for the host, ended when done
    given = read_logs(fake_fleet([web01]), LogRequest(("tornado",), channel_given=True))
    assert [p.error for h in given.hosts for p in h.logs] == [
        "stdout is not logged (stdout_logfile=NONE); its own log file (logs: in the inventory) is read when "
        "no stdout/stderr is given: herd tail tornado"] * 2


def test_follow_of_files_goes_on_after_a_reconnect_on_a_new_agent(tmp_path):
    from herd.operations.logs import LINE, Follower, LogRequest, read_logs
    from herd.testing.fake import fake_fleet

    web01 = fake_host(tmp_path)
    fleet = fake_fleet([web01])
    follower = Follower(fleet, read_logs(fleet, LogRequest(("tornado:tornado-8080",), lines=0), final=False),
                        interval=0.05)
    follower.start()
    log = tmp_path / "tornado-8080.log"
    try:
        with log.open("a") as fh:
            fh.write("c 8080\n")
        events = follower.events(timeout=0.1)
        assert next(e for e in events if e.kind == LINE).text == "c 8080"
        web01.break_connection()
        assert next(e for e in events if e.kind != LINE).text.startswith("connection lost")
        with log.open("a") as fh:
            fh.write("d 8080\n")
        web01.repair()
        rest = []
        for event in events:
            rest.append((event.kind, event.text))
            if event.kind == LINE:
                break
        assert rest == [("up", "reconnected"), (LINE, "d 8080")]
        assert len(web01.agents) == 2                            # the first died with its connection
    finally:
        follower.stop()
        follower.report.close()
