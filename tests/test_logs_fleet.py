"""``herd tail``, ``herd maintail`` and ``herd fg`` against real sshd + supervisord.

The shared fleet (conftest) is only read here.  Programs with special logging
(NONE, binary output, fast rotation, a character split across writes, an
echo on stdin) run on a fleet of this module's own, started with the fleet's
opt-in ``extra_config``; tests that stop an sshd use ``make_fleet``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from herd.testing.pytest_plugin import start_fleet_for
from helpers import follow_on_one_channel, herd, wait_until

PROGRAMS = {
    "binary.py": r'''
import sys, time
out = sys.stdout.buffer
out.write(b"before\n")
out.write(b"bin \xff\xfe mid \x1b[31mred\x1b[0m\r\n")
out.write("caf\u00e9 \U0001F600\n".encode())
out.flush()
while True:
    time.sleep(60)
''',
    "echo.py": r'''
import sys
print("echo ready", flush=True)
for line in sys.stdin:
    print("echo: " + line.rstrip("\n"), flush=True)
    print("echo-err: " + line.rstrip("\n"), file=sys.stderr, flush=True)
''',
    "rot.py": r'''
import time
n = 0
while True:
    n += 1
    print("rot line %06d %s" % (n, "x" * 40), flush=True)
    time.sleep(0.02)
''',
    "split.py": r'''
import sys, time
out = sys.stdout.buffer
n = 0
while True:
    n += 1
    out.write(b"euro \xe2\x82")
    out.flush()
    time.sleep(1.0)
    out.write(b"\xac done %d\n" % n)
    out.flush()
    time.sleep(0.3)
''',
    "sleeper.py": "import time\nwhile True:\n    time.sleep(60)\n",
    "blob.py": r'''
import sys, time
out = sys.stdout.buffer
out.write(b"blob start\n" + b"\xff" * 1500 + b"\nafter blob 1\nafter blob 2\n")
out.flush()
while True:
    time.sleep(60)
''',
    "burst.py": r'''
import os, sys, time
flag = sys.argv[1]
n = 0
print("burst ready", flush=True)
while True:
    if os.path.exists(flag):
        os.unlink(flag)
        for i in range(110000):             # 100 bytes a line: 11 MB at once
            n += 1
            sys.stdout.write("burst line %07d %s\n" % (n, "y" * 80))
        sys.stdout.flush()
    time.sleep(0.2)
''',
}

EXTRA_CONFIG = """
[program:nolog]
command={python} {progs}/sleeper.py
startsecs=1
stdout_logfile=NONE
stderr_logfile=NONE

[program:binary]
command={python} -u {progs}/binary.py
startsecs=1
stdout_logfile={logs}/binary.out.log

[program:echo]
command={python} -u {progs}/echo.py
startsecs=1
stdout_logfile={logs}/echo.out.log
stderr_logfile={logs}/echo.err.log

[program:rot]
command={python} -u {progs}/rot.py
startsecs=1
stdout_logfile={logs}/rot.out.log
stdout_logfile_maxbytes=4KB
stdout_logfile_backups=1

[program:blob]
command={python} -u {progs}/blob.py
startsecs=1
stdout_logfile={logs}/blob.out.log

[program:burst]
command={python} {progs}/burst.py {progs}/burst-{name}.flag
startsecs=1
stdout_logfile={logs}/burst.out.log

[program:split]
command={python} -u {progs}/split.py
startsecs=1
stdout_logfile={logs}/split.out.log
"""


@pytest.fixture(scope="module")
def log_fleet(tmp_path_factory: pytest.TempPathFactory):
    progs = tmp_path_factory.mktemp("progs")
    for name, source in PROGRAMS.items():
        (progs / name).write_text(source)
    for own in start_fleet_for(tmp_path_factory, "logfleet", 2, light=True,
                               extra_config=EXTRA_CONFIG.replace("{progs}", str(progs))):
        own.progs = progs       # where the programs (and burst's trigger files) are
        yield own



TICK = re.compile(r"^\S+ worker (web\d+) tick (\d+)$")


def ticks(lines: list[str]) -> list[int]:
    return [int(TICK.match(line).group(2)) for line in lines if TICK.match(line)]


def consecutive(numbers: list[int]) -> bool:
    return numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else False


# -- reading once --------------------------------------------------------------------


def settled(fleet, lines: int = 3) -> None:
    """A young fleet (this module run first, or alone) has written fewer ticks than a test reads back."""
    def enough(host: str, channel: str) -> bool:
        rpc = fleet.rpc(host).supervisor
        text = (rpc.tailProcessStdoutLog if channel == "stdout" else rpc.tailProcessStderrLog)("worker", 0, 4096)[0]
        return text.count(" tick ") >= lines

    wait_until(lambda: all(enough(h.name, c) for h in fleet.hosts for c in ("stdout", "stderr")), 30,
               f"{lines} lines of worker's stdout and stderr on every host")


def test_tail_stdout_and_stderr_of_every_host_with_prefixes(fleet, home):
    settled(fleet)
    run = herd("tail", "worker", "-n", "3", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    assert run.err == ""
    for host in fleet.hosts:
        mine = [line for line in run.out.splitlines() if line.startswith(f"{host.name} worker | ")]
        assert len(mine) == 3, run.out
        body = [line.split(" | ", 1)[1] for line in mine]
        assert all(TICK.match(b).group(1) == host.name for b in body)
        assert consecutive(ticks(body))
    assert len(run.out.splitlines()) == 3 * len(fleet.hosts)

    err = herd("tail", "worker", "stderr", "-n", "2", "-H", "web0[12]", "-i", str(fleet.inventory_path), home=home)
    assert err.code == 0, err.err
    lines = err.out.splitlines()
    assert [line.split()[0] for line in lines] == ["web01", "web01", "web02", "web02"]
    assert all(re.search(r"\| \S+ worker web0[12] stderr tick \d+$", line) for line in lines), lines


def test_tail_both_channels_tags_each_line_and_follows_both(fleet, home, running):
    """`herd tail worker stdout stderr` was refused ('no such process: stdout')."""
    settled(fleet)
    both = herd("tail", "worker", "stdout", "stderr", "-n", "2", "-H", "web01", "-i", str(fleet.inventory_path),
                home=home)
    assert both.code == 0, both.err
    lines = both.out.splitlines()
    assert [line.split(" | ")[0].split() for line in lines] == [["web01", "worker", "stdout"]] * 2 + \
        [["web01", "worker", "stderr"]] * 2, lines
    assert all(re.search(r"\| \S+ worker web01 tick \d+$", line) for line in lines[:2]), lines
    assert all(re.search(r"\| \S+ worker web01 stderr tick \d+$", line) for line in lines[2:]), lines
    data = herd("tail", "worker", "stderr", "stdout", "-o", "json", "-H", "web01", "-i", str(fleet.inventory_path),
                home=home).json()
    assert data["channel"] == "stdout+stderr"
    assert [(p["name"], p["channel"]) for p in data["hosts"][0]["processes"]] == [("worker", "stdout"),
                                                                                ("worker", "stderr")]
    follow = running("tail", "-f", "worker", "stdout", "stderr", "-n", "0", "-H", "web02", "--interval", "0.2",
                     "-i", str(fleet.inventory_path), home=home)
    assert follow.wait_for(lambda: len(follow.lines_of("web02 worker stdout | ")) >= 2
                           and len(follow.lines_of("web02 worker stderr | ")) >= 2), (follow.out, follow.err)
    assert follow.interrupt() == 130
    twice = herd("tail", "worker", "stderr", "stderr", "-i", str(fleet.inventory_path), home=home)
    assert (twice.code, twice.err) == (2, "herd: tail: stderr given twice\n")


def test_lines_and_bytes(fleet, home):
    settled(fleet, 5)
    five = herd("tail", "worker", "-n", "5", "-H", "web01", "--no-prefix", "-i", str(fleet.inventory_path),
                home=home)
    assert five.code == 0, five.err
    assert len(five.out.splitlines()) == 5 and consecutive(ticks(five.out.splitlines()))

    few = herd("tail", "worker", "-c", "70", "-H", "web04", "--no-prefix", "-i", str(fleet.inventory_path),
               home=home)
    assert few.code == 0, few.err
    shown = few.out[:-1] if few.out.endswith("\n") else few.out
    assert 0 < len(shown.encode()) <= 70
    log = Path(fleet.host("web04").log_dir, "worker.out.log").read_text()
    assert shown in log                     # the end of the file as it was, bytes as written

    zero = herd("tail", "worker", "-n", "0", "-i", str(fleet.inventory_path), home=home)
    assert zero.code == 0 and zero.out == ""


def test_group_star_tails_every_process_of_the_group(fleet, home):
    run = herd("tail", "tornado:*", "-n", "1000", "-H", "web01", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    for port in fleet.host("web01").tornado_ports:
        name = f"tornado:tornado-{port}"
        mine = [line for line in run.out.splitlines() if line.split(" | ")[0].split() == ["web01", name]]
        assert any(f"listening on 127.0.0.1:{port}" in line for line in mine), (name, run.out)
    names = {line.split(" | ")[0].split()[1] for line in run.out.splitlines()}
    assert names == {f"tornado:tornado-{p}" for p in fleet.host("web01").tornado_ports}


def test_several_names_and_json(fleet, home):
    run = herd("tail", "worker", "tornado", "-n", "2", "-H", "web03", "-o", "json", "-i",
               str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    data = run.json()
    assert data["exit_code"] == 0 and data["channel"] == "stdout"
    (web03,) = data["hosts"]
    assert web03["host"] == "web03" and web03["error"] is None and web03["missing"] == []
    names = [p["name"] for p in web03["processes"]]
    assert names == [f"tornado:tornado-{p}" for p in fleet.host("web03").tornado_ports] + ["worker"]
    worker = web03["processes"][-1]
    assert worker["logfile"] == str(Path(fleet.host("web03").log_dir, "worker.out.log"))
    assert len(worker["lines"]) == 2 and worker["error"] is None
    assert all(TICK.match(line) for line in worker["lines"])


def test_unknown_name_and_bad_options_are_one_line_usage_errors(fleet, home):
    inv = str(fleet.inventory_path)
    for args, message in [
        (["tail", "nosuch", "worker"], "herd: no such process or group on any selected host: nosuch"),
        (["tail", "worker", "-n", "3", "-c", "10"], "herd: -n LINES and -c BYTES exclude each other"),
        (["tail", "-f", "worker", "-o", "json"], "herd: -o json is for reading logs once: drop -f"),
    ]:
        run = herd(*args, "-i", inv, home=home)
        assert run.code == 2, (args, run.err)
        assert run.err == message + "\n" and run.out == ""


def test_maintail(fleet, home):
    run = herd("maintail", "-n", "3", "-H", "web0[13]", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    for name in ("web01", "web03"):     # web03: inet_http_server with a password
        mine = [line.split(" | ", 1)[1] for line in run.out.splitlines()
                            if line.startswith(f"{name} supervisord | ")]
        log = Path(fleet.host(name).log_dir, "supervisord.log").read_text().splitlines()
        assert mine == log[-3:]
    small = herd("maintail", "-c", "40", "-H", "web02", "--no-prefix", "-i", str(fleet.inventory_path), home=home)
    assert small.code == 0, small.err
    assert 0 < len(small.out.encode()) <= 41
    assert Path(fleet.host("web02").log_dir, "supervisord.log").read_text().endswith(small.out)


# -- logs that are not plain text, or not there ------------------------------------------


def test_logging_disabled_is_said_per_host(log_fleet, home):
    run = herd("tail", "nolog", "-i", str(log_fleet.inventory_path), home=home)
    assert run.code == 1
    assert run.out == ""
    assert run.err.splitlines() == [f"herd: {h} nolog: stdout is not logged (stdout_logfile=NONE); if nolog "
                                    f"writes log files of its own, name them under logs: in the inventory, "
                                    f"or read one with --file PATH" for h in ("web01", "web02")]
    data = herd("tail", "nolog", "stderr", "-o", "json", "-H", "web02", "-i", str(log_fleet.inventory_path),
                home=home).json()
    assert data["exit_code"] == 1
    assert data["hosts"][0]["processes"][0]["error"].startswith("stderr is not logged (stderr_logfile=NONE); ")


def test_binary_and_control_characters_are_shown_safely(log_fleet, home):
    inv = str(log_fleet.inventory_path)
    run = herd("tail", "binary", "-i", inv, home=home)
    assert run.code == 0, run.err
    expected = ["before", "bin \\xff\\xfe mid \\x1b[31mred\\x1b[0m", "caf\u00e9 \U0001F600"]
    for host in ("web01", "web02"):
        assert [line.split(" | ", 1)[1] for line in run.out.splitlines()
                if line.startswith(f"{host} binary | ")] == expected
    assert "\x1b" not in run.out

    data = herd("tail", "binary", "-H", "web01", "-o", "json", "-i", inv, home=home).json()
    assert data["hosts"][0]["processes"][0]["lines"] == [
        "before", "bin \ufffd\ufffd mid \x1b[31mred\x1b[0m", "caf\u00e9 \U0001F600"]

    # a window that starts inside the emoji's neighbour: the cut character is dropped, not garbled
    cut = herd("tail", "binary", "-c", "7", "-H", "web01", "--no-prefix", "-i", inv, home=home)
    assert cut.code == 0, cut.err
    assert cut.out == " \U0001F600\n"


def test_a_long_run_of_bad_bytes_is_cut_short_and_the_text_after_it_shown(log_fleet, home):
    run = herd("tail", "blob", "-H", "web01", "--no-prefix", "-i", str(log_fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    # the line of bad bytes is torn by the skip: only whole lines are shown around it
    assert run.out.splitlines() in (["blob start", "after blob 1", "after blob 2"], ["blob start", "after blob 2"])
    (note,) = run.err.splitlines()
    skipped = int(re.fullmatch(r"herd: web01 blob: (\d+) bytes not shown: too much output that is not UTF-8 text",
                               note).group(1))
    assert 1000 < skipped < 1500        # what the per-byte repair did not reach


def test_follow_keeps_a_character_split_across_writes_whole(log_fleet, home, running):
    follow = running("tail", "-f", "split", "-n", "0", "-H", "web01", "--no-prefix", "--interval", "0.2",
                     "-i", str(log_fleet.inventory_path), home=home)
    assert follow.wait_for(lambda: len(follow.out) >= 3), (follow.out, follow.err)
    assert follow.interrupt() == 130
    lines = follow.out
    assert all(re.fullmatch(r"(euro )?\u20ac done \d+", line) for line in lines), lines
    assert sum(1 for line in lines if line.startswith("euro \u20ac done")) >= 2
    assert follow.err == []


# -- following ------------------------------------------------------------------------


def test_follow_merges_hosts_and_survives_an_sshd_restart(make_fleet, home, running):
    own = make_fleet(hosts=3, light=True)
    follow = running("tail", "-f", "worker", "-n", "1", "-i", str(own.inventory_path), home=home)
    hosts = ("web01", "web02", "web03")
    assert follow.wait_for(lambda: all(len(follow.lines_of(f"{h} worker | ")) >= 3 for h in hosts)), follow.err

    own.stop_sshd("web02")
    assert follow.wait_for(lambda: any("web02: connection lost" in line for line in follow.err)), follow.err
    during = {h: len(follow.lines_of(f"{h} worker | ")) for h in hosts}
    assert follow.wait_for(lambda: all(len(follow.lines_of(f"{h} worker | ")) > during[h]
                                       for h in ("web01", "web03"))), follow.err   # the others go on

    own.start_sshd("web02")
    assert follow.wait_for(lambda: "herd: web02: reconnected" in follow.err, timeout=40), follow.err
    back = len(follow.lines_of("web02 worker | "))
    assert follow.wait_for(lambda: len(follow.lines_of("web02 worker | ")) > back + 2)
    assert follow.interrupt() == 130

    lost = [line for line in follow.err if "connection lost" in line]
    assert len(lost) == 1 and lost[0].startswith("herd: web02: connection lost (") and lost[0].endswith("; retrying")
    assert follow.err == [lost[0], "herd: web02: reconnected"]
    for host in hosts:   # every host's lines in order, none lost or repeated (web02 catches up)
        seen = ticks(follow.lines_of(f"{host} worker | "))
        assert consecutive(seen), (host, seen)


def test_follow_uses_one_connection_and_one_channel_per_host(fleet):
    """Polls are round trips on the kept-alive channel: no handshake, no new channel per poll."""
    from herd.operations.logs import LogRequest

    follow_on_one_channel(fleet.inventory_path, LogRequest(("worker",), lines=0), 3)


def test_rotation_is_followed_without_repeats_and_said(log_fleet, home, running):
    follow = running("tail", "-f", "rot", "-n", "0", "-H", "web01", "--no-prefix", "-i",
                     str(log_fleet.inventory_path), home=home)
    assert follow.wait_for(lambda: sum("rotated" in line for line in follow.err) >= 2, timeout=40), follow.err
    assert follow.interrupt() == 130
    assert all(re.fullmatch(r"rot line \d{6} x{40}", line) for line in follow.out), \
        [line for line in follow.out if not re.fullmatch(r"rot line \d{6} x{40}", line)][:5]
    numbers = [int(line.split()[2]) for line in follow.out]
    assert len(numbers) == len(set(numbers)) and numbers == sorted(numbers)
    gaps = sum(1 for a, b in zip(numbers, numbers[1:]) if b != a + 1)
    notes = [line for line in follow.err if "rotated" in line]
    assert gaps <= len(notes)
    logfile = Path(log_fleet.host("web01").log_dir, "rot.out.log")
    assert notes[0] == (f"herd: web01 rot: log rotated or cleared: what was written between herd's last read "
                        f"and then is not shown (rotated output is in {logfile}.1)")


def test_clear_during_follow_is_said_and_nothing_repeats(log_fleet, home, running):
    follow = running("tail", "-f", "worker", "-n", "2", "-H", "web02", "--no-prefix", "-i",
                     str(log_fleet.inventory_path), home=home)
    assert follow.wait_for(lambda: len(follow.out) >= 4)
    assert log_fleet.supervisorctl("web02", "clear", "worker").returncode == 0
    assert follow.wait_for(lambda: any("rotated or cleared" in line for line in follow.err))
    before = len(follow.out)
    assert follow.wait_for(lambda: len(follow.out) >= before + 2)
    assert follow.interrupt() == 130
    # a line written between herd's last poll and the clear is gone with the file (the note says so)
    numbers = ticks(follow.out)
    assert numbers == sorted(set(numbers)), follow.out
    assert sum(1 for a, b in zip(numbers, numbers[1:]) if b != a + 1) <= 1, (follow.out, follow.err)


def test_follow_skips_ahead_when_far_behind_after_an_outage(log_fleet, home, running):
    inv = str(log_fleet.inventory_path)
    follow = running("tail", "-f", "burst", "-n", "1", "-H", "web01", "--no-prefix", "-i", inv, home=home)
    logfile = Path(log_fleet.host("web01").log_dir, "burst.out.log")
    assert follow.wait_for(lambda: len(follow.out) == 1), follow.err      # connected, at the end of the log
    log_fleet.stop_sshd("web01")
    try:
        assert follow.wait_for(lambda: any("web01: connection lost" in line for line in follow.err)), follow.err
        start = logfile.stat().st_size
        (log_fleet.progs / "burst-web01.flag").touch()
        wait_until(lambda: logfile.stat().st_size >= start + 11_000_000, 60, "the burst's 11 MB", interval=0.2)
    finally:
        log_fleet.start_sshd("web01")
    assert follow.wait_for(lambda: any("MiB behind" in line for line in follow.err), timeout=40), follow.err

    def past_the_gap() -> bool:   # lines from after the skip have arrived
        numbers = [int(line.split()[2]) for line in follow.out[1:] if line.startswith("burst line ")]
        return any(b != a + 1 for a, b in zip(numbers, numbers[1:]))

    assert follow.wait_for(past_the_gap), follow.err
    assert follow.interrupt() == 130
    after = follow.out[1:]
    assert all(re.fullmatch(r"burst line \d{7} y{80}", line) for line in after), \
        [line for line in after if not re.fullmatch(r"burst line \d{7} y{80}", line)][:3]
    numbers = [int(line.split()[2]) for line in after]
    assert numbers == sorted(set(numbers))
    gaps = [(a, b) for a, b in zip(numbers, numbers[1:]) if b != a + 1]
    assert len(gaps) == 1, gaps
    (note,) = [line for line in follow.err if "skipped" in line]
    skipped = int(re.fullmatch(r"herd: web01 burst: (\d+) bytes skipped: herd fell more than 8 MiB behind",
                               note).group(1))
    missing = gaps[0][1] - gaps[0][0] - 1        # 100-byte lines; the two torn at the edges are dropped
    assert (missing - 2) * 100 < skipped <= missing * 100, (missing, skipped)


def test_maintail_follow_shows_new_supervisord_lines(log_fleet, home, running):
    follow = running("maintail", "-f", "-n", "1", "-H", "web01", "-i", str(log_fleet.inventory_path), home=home)
    assert follow.wait_for(lambda: len(follow.out) == 1), follow.err      # connected, at the end of the log
    assert log_fleet.supervisorctl("web01", "restart", "nolog").returncode == 0
    assert follow.wait_for(lambda: any("spawned: 'nolog'" in line for line in follow.out)), follow.out
    assert follow.interrupt() == 130
    assert all(line.startswith("web01 supervisord | ") for line in follow.out)
    assert any("stopped: nolog" in line for line in follow.out)


# -- fg --------------------------------------------------------------------------------


def test_fg_sends_input_and_shows_output(log_fleet, home, running):
    fg = running("fg", "echo", "-H", "web01", "-i", str(log_fleet.inventory_path), home=home,
                 stdin=subprocess.PIPE)
    assert fg.wait_for(lambda: any(line.startswith("herd: attached to web01 echo") for line in fg.err))
    fg.proc.stdin.write("hello herd\n")
    fg.proc.stdin.flush()
    assert fg.wait_for(lambda: "echo: hello herd" in fg.out and "echo-err: hello herd" in fg.err), (fg.out, fg.err)
    fg.proc.stdin.close()
    assert fg.finish() == 0
    assert fg.err[-1] == "herd: detached from web01 echo at the end of input (it keeps running)"
    assert "echo: hello herd" in Path(log_fleet.host("web01").log_dir, "echo.out.log").read_text()
    assert log_fleet.process_states("web01")["echo:echo"] == "RUNNING"


def test_fg_with_piped_input_ends_even_when_the_process_never_goes_quiet(log_fleet, home, running):
    """rot logs every 20 ms: `herd fg` waited for two quiet polls after the end of input, forever."""
    fg = running("fg", "rot", "-H", "web02", "-i", str(log_fleet.inventory_path), home=home,
                 stdin=subprocess.PIPE)
    assert fg.wait_for(lambda: any(line.startswith("herd: attached to web02 rot") for line in fg.err))
    assert fg.wait_for(lambda: len(fg.out) >= 3), fg.err         # its output is shown meanwhile
    fg.proc.stdin.write("ignored\n")
    fg.proc.stdin.close()
    assert fg.finish(timeout=20) == 0
    assert fg.err[-1] == "herd: detached from web02 rot at the end of input (it keeps running)"


def test_fg_ctrl_c_detaches(log_fleet, home, running):
    fg = running("fg", "echo", "-H", "web02", "-i", str(log_fleet.inventory_path), home=home,
                 stdin=subprocess.PIPE)
    assert fg.wait_for(lambda: any(line.startswith("herd: attached to web02 echo") for line in fg.err))
    assert fg.interrupt() == 130
    assert fg.err[-1] == "herd: detached from web02 echo (it keeps running)"
    assert log_fleet.process_states("web02")["echo:echo"] == "RUNNING"


def test_fg_refuses_what_it_cannot_attach_to(log_fleet, home):
    inv = str(log_fleet.inventory_path)
    cases = [
        (["echo"], 2, "herd: fg attaches to one process on one host: select exactly one host with -H "
                      "(2 selected: web01, web02)"),
        (["nosuch", "-H", "web01"], 2, "herd: web01: no such process or group: nosuch"),
        (["tornado", "-H", "web01"], 2, "herd: web01: tornado matches 4 processes ("),
    ]
    for args, code, message in cases:
        run = herd("fg", *args, "-i", inv, home=home)
        assert run.code == code, (args, run.err)
        assert run.err.startswith(message) and len(run.err.splitlines()) == 1, run.err
    assert log_fleet.supervisorctl("web02", "stop", "echo").returncode == 0
    try:
        stopped = herd("fg", "echo", "-H", "web02", "-i", inv, home=home)
    finally:
        log_fleet.supervisorctl("web02", "start", "echo")
    assert stopped.code == 3
    assert stopped.err == "herd: web02: echo is not running (STOPPED)\n"


def test_fg_ends_when_the_process_stops(log_fleet, home, running):
    fg = running("fg", "echo", "-H", "web01", "-i", str(log_fleet.inventory_path), home=home,
                 stdin=subprocess.PIPE)
    try:
        assert fg.wait_for(lambda: any(line.startswith("herd: attached") for line in fg.err))
        assert log_fleet.supervisorctl("web01", "stop", "echo").returncode == 0
        assert fg.finish() == 3
    finally:
        log_fleet.supervisorctl("web01", "start", "echo")
    assert fg.err[-1] == "herd: web01: echo is STOPPED; detached"
