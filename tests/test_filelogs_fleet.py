"""``herd tail`` of the app's own log files (``logs:``, ``--file``) against real sshd + supervisord.

The module's fleet runs the seed deployment's Tornado program verbatim
(the test fleet's ``seed_app``: stdout_logfile=NONE, stderr_logfile=NONE, Tornado
writing WEBNN/log/tornado-PORT.log through --log_file_prefix, a line a
second), and its inventory names those files under ``logs:``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from herd.testing.pytest_plugin import module_fleet
from helpers import edit_inventory, follow_on_one_channel, herd, wait_until

TICK = re.compile(r"^\[I \d{6} \d\d:\d\d:\d\d main:\d+\] app tick (\d+) port (\d+)$")


seed = module_fleet("seedfleet", 2, light=True, seed_app=True)


def logfile(fleet, host: str, port: int) -> Path:
    return Path(fleet.host(host).dir, "log", f"tornado-{port}.log")


def wait_ticks(fleet, count: int = 4) -> None:
    """Every file has ``count`` tick lines (a young fleet has fewer)."""
    files = [logfile(fleet, host.name, port) for host in fleet.hosts for port in host.tornado_ports]
    wait_until(lambda: all(f.read_text().count("app tick") >= count for f in files), 30,
               f"{count} tick lines in every file", interval=0.2)


def body(line: str) -> str:
    return line.split(" | ", 1)[1]


def ticks(lines: list[str]) -> list[int]:
    return [int(TICK.match(line).group(1)) for line in lines if TICK.match(line)]


def without_logs(fleet, tmp_path: Path) -> str:
    return str(edit_inventory(fleet.inventory_path, tmp_path / "nologs.yaml", lambda d: d.pop("logs")))


def unreadable(tmp_path: Path) -> str:
    """A file herd's login user cannot read: mode 000 for a user, a write-only procfs file for root."""
    if os.geteuid() == 0:
        return "/proc/sys/vm/drop_caches"       # mode 0200: root too gets EACCES reading it
    path = tmp_path / "secret.log"
    path.write_text("secret\n")
    path.chmod(0)
    return str(path)


# -- reading once ------------------------------------------------------------------------


def test_tail_reads_each_process_file_on_every_host(seed, home):
    wait_ticks(seed)
    run = herd("tail", "tornado", "-n", "3", "-i", str(seed.inventory_path), home=home)
    assert run.code == 0, run.err
    assert run.err == ""
    lines = run.out.splitlines()
    assert len(lines) == 3 * 4 * len(seed.hosts)
    for host in seed.hosts:
        for port in host.tornado_ports:
            mine = [body(line) for line in lines if line.split(" | ")[0].split() == [host.name, f"tornado:tornado-{port}"]]
            assert len(mine) == 3, (host.name, port, run.out)
            content = logfile(seed, host.name, port).read_text().splitlines()
            start = content.index(mine[0])
            assert content[start:start + 3] == mine             # the file's lines as they were, in order
            assert all(TICK.match(line).group(2) == str(port) for line in mine if TICK.match(line))


def test_lines_bytes_and_json(seed, home):
    wait_ticks(seed)
    inv = str(seed.inventory_path)
    port = seed.host("web01").tornado_ports[0]
    few = herd("tail", f"tornado:tornado-{port}", "-c", "40", "-H", "web01", "--no-prefix", "-i", inv, home=home)
    assert few.code == 0, few.err
    shown = few.out[:-1]
    assert 0 < len(shown.encode()) <= 40 and shown in logfile(seed, "web01", port).read_text()
    assert herd("tail", "tornado", "-n", "0", "-i", inv, home=home).out == ""
    data = herd("tail", "tornado", "-n", "2", "-H", "web02", "-o", "json", "-i", inv, home=home).json()
    assert data["exit_code"] == 0
    (web02,) = data["hosts"]
    assert [p["name"] for p in web02["processes"]] == [f"tornado:tornado-{p}" for p in seed.host("web02").tornado_ports]
    first = web02["processes"][0]
    assert first["channel"] == "file" and first["logfile"] == str(logfile(seed, "web02", seed.host("web02").tornado_ports[0]))
    assert len(first["lines"]) == 2 and all(TICK.match(line) for line in first["lines"])


def test_not_logged_without_logs_key_says_so_and_names_the_key(seed, home, tmp_path):
    run = herd("tail", "tornado", "-H", "web01", "-i", without_logs(seed, tmp_path), home=home)
    assert run.code == 1 and run.out == ""
    assert run.err.splitlines() == [
        f"herd: web01 tornado:tornado-{p}: stdout is not logged (stdout_logfile=NONE); if tornado writes log "
        f"files of its own, name them under logs: in the inventory, or read one with --file PATH"
        for p in seed.host("web01").tornado_ports]
    # with logs: but a channel given: supervisord's log, which the seed does not keep
    chan = herd("tail", "tornado", "stderr", "-H", "web01", "-i", str(seed.inventory_path), home=home)
    assert chan.code == 1
    assert chan.err.splitlines()[0] == (
        f"herd: web01 tornado:tornado-{seed.host('web01').tornado_ports[0]}: stderr is not logged "
        f"(stderr_logfile=NONE); its own log file (logs: in the inventory) is read when no stdout/stderr "
        f"is given: herd tail tornado")


def test_file_option_with_and_without_names(seed, home, tmp_path):
    wait_ticks(seed)
    inv = without_logs(seed, tmp_path)
    template = f"{seed.directory}/{{host}}/log/{{program}}-{{num}}.log"
    run = herd("tail", "tornado", "--file", template, "-n", "1", "-i", inv, home=home)
    assert run.code == 0, run.err
    assert sorted(line.split(" | ")[0].split()[0] for line in run.out.splitlines()) == ["web01"] * 4 + ["web02"] * 4
    assert all(TICK.match(body(line)) for line in run.out.splitlines())

    port = seed.host("web02").tornado_ports[1]
    one = herd("tail", "--file", f"{seed.directory}/{{host}}/log/tornado-{port}.log", "-n", "2",
               "-i", inv, home=home)
    assert one.code == 1                                # web01 has no such port's file
    path = f"{seed.directory}/web02/log/tornado-{port}.log"
    assert [line.split(" | ")[0].split() for line in one.out.splitlines()] == [["web02", path]] * 2
    assert one.err == f"herd: web01 {seed.directory}/web01/log/tornado-{port}.log: no such file\n"


def test_missing_and_unreadable_files_are_one_line_per_host(seed, home, tmp_path):
    inv = str(seed.inventory_path)
    missing = herd("tail", "--file", "/nonexistent/{host}.log", "-i", inv, home=home)
    assert missing.code == 1 and missing.out == ""
    assert missing.err.splitlines() == ["herd: web01 /nonexistent/web01.log: no such file",
                                        "herd: web02 /nonexistent/web02.log: no such file"]
    secret = unreadable(tmp_path)
    denied = herd("tail", "--file", secret, "-f", "-i", inv, home=home, timeout=30)
    assert denied.code == 1 and denied.out == ""        # nothing left to follow: -f ends
    assert denied.err.splitlines() == [f"herd: web01 {secret}: permission denied",
                                       f"herd: web02 {secret}: permission denied"]
    directory = herd("tail", "tornado", "--file", str(seed.directory), "-H", "web01", "-i", inv, home=home)
    assert directory.code == 1
    assert directory.err.splitlines()[0] == (f"herd: web01 tornado:tornado-{seed.host('web01').tornado_ports[0]}: "
                                             f"{seed.directory}: is a directory")


def test_escape_sequences_and_invalid_utf8_are_shown_escaped(seed, home):
    path = Path(seed.host("web01").dir, "log", "odd.log")
    path.write_bytes(b"esc \x1b[31mred\x1b[0m bad \xff\xfe end\r\n\x07bell caf\xc3\xa9\n")
    run = herd("tail", "--file", str(path), "-H", "web01", "--no-prefix", "-i", str(seed.inventory_path), home=home)
    assert run.code == 0, run.err
    assert run.out.splitlines() == ["esc \\x1b[31mred\\x1b[0m bad \\xff\\xfe end", "\\x07bell caf\u00e9"]
    assert "\x1b" not in run.out and "\x07" not in run.out


def test_usage_errors_are_one_line(seed, home):
    inv = str(seed.inventory_path)
    for args, message in [
        (["tail"], "herd: tail needs a NAME (process or group) or --file PATH"),
        (["tail", "--file", "/x/{proces}.log"], "herd: --file /x/{proces}.log: unknown placeholder {proces} "
                                                "(did you mean '{process}'?); a template may use {program}, "
                                                "{process}, {num}, {host}"),
        (["tail", "--file", "/x/{num}.log"], "herd: --file /x/{num}.log: {num} needs a NAME to fill it "
                                             "(herd tail NAME --file TEMPLATE)"),
        (["tail", "--file", "x.log"], "herd: --file x.log: must be an absolute path on the host "
                                      "(e.g. /srv/app/log/{process}.log), got 'x.log'"),
        (["tail", "tornado", "stdout", "--file", "/x"], "herd: --file reads the given file: stdout/stderr "
                                                        "do not apply to it"),
        (["tail", "tornado", "--file", "/x", "--file", "/y"], "herd: with NAMEs, give one --file template "
                                                              "(the file of each process)"),
    ]:
        run = herd(*args, "-i", inv, home=home)
        assert run.code == 2, (args, run.err)
        assert run.err == message + "\n" and run.out == ""


def test_no_python_for_the_reader_is_one_line_per_host(seed, home, tmp_path):
    def nopython(data):
        data["defaults"]["python"] = "nosuchpython"
    inv = edit_inventory(seed.inventory_path, tmp_path / "nopy.yaml", nopython)
    run = herd("tail", "--file", "/etc/hostname", "-i", str(inv), home=home)
    assert run.code == 4
    assert run.err.splitlines() == [f"herd: {h}: no Python interpreter found (tried nosuchpython) for herd's log "
                                    f"file reader; set python: in the inventory to the host's interpreter"
                                    for h in ("web01", "web02")]


# -- following ------------------------------------------------------------------------


def test_follow_across_hosts_with_rotation_by_rename_and_by_truncation(seed, home, running):
    wait_ticks(seed)
    w1, w2 = seed.host("web01").tornado_ports[0], seed.host("web02").tornado_ports[0]
    follow = running("tail", "-f", f"tornado:tornado-{w1}", f"tornado:tornado-{w2}", "-n", "1",
                     "--interval", "0.2", "-i", str(seed.inventory_path), home=home)
    p1, p2 = f"web01 tornado:tornado-{w1} | ", f"web02 tornado:tornado-{w2} | "
    assert follow.wait_for(lambda: len(follow.lines_of(p1)) >= 3 and len(follow.lines_of(p2)) >= 3), follow.err

    # web01: renamed away, then a new file (the app keeps writing the old one; the test writes the new)
    old = logfile(seed, "web01", w1)
    rotated = old.with_name(old.name + ".1")
    old.rename(rotated)
    try:
        _after_rename(follow, old, p1)
    finally:                        # put the app's file back for the other tests
        rotated.replace(old)
    assert follow.wait_for(lambda: sum("log rotated" in line for line in follow.err) >= 2), follow.err

    # web02: truncated in place (copytruncate); the app goes on writing into it
    before = len(follow.lines_of(p2))
    os.truncate(logfile(seed, "web02", w2), 0)
    assert follow.wait_for(lambda: any(line.startswith(f"herd: web02 tornado:tornado-{w2}: log rotated")
                                       for line in follow.err)), follow.err
    assert follow.wait_for(lambda: len(follow.lines_of(p2)) >= before + 2)
    assert follow.interrupt() == 130

    rotated_note = "log rotated or cleared: what was written between herd's last read and then is not shown"
    assert follow.err == [
        f"herd: web01 tornado:tornado-{w1}: {old} is gone (rotated away?); waiting for it to come back",
        f"herd: web01 tornado:tornado-{w1}: {rotated_note}",
        f"herd: web01 tornado:tornado-{w1}: {rotated_note}",           # the app's file put back
        f"herd: web02 tornado:tornado-{w2}: {rotated_note}"]
    web01 = follow.lines_of(p1)
    assert web01.index("after rename 1") + 1 == web01.index("after rename 2")
    web02 = ticks(follow.lines_of(p2))          # in order, nothing repeated; at most one gap (the truncation)
    assert len(set(web02)) == len(web02) and sum(1 for a, b in zip(web02, web02[1:]) if b != a + 1) <= 1


def _after_rename(follow, old: Path, prefix: str) -> None:
    assert follow.wait_for(lambda: any("is gone" in line for line in follow.err)), follow.err
    old.write_text("after rename 1\n")
    assert follow.wait_for(lambda: "after rename 1" in follow.lines_of(prefix)), (follow.out, follow.err)
    with old.open("a") as fh:
        fh.write("after rename 2\n")
    assert follow.wait_for(lambda: "after rename 2" in follow.lines_of(prefix)), (follow.out, follow.err)


def test_follow_shows_escapes_and_a_character_split_across_writes(seed, home, running):
    path = Path(seed.host("web02").dir, "log", "late.log")
    path.write_bytes(b"start\n")
    follow = running("tail", "-f", "--file", str(path), "-n", "1", "-H", "web02", "--no-prefix",
                     "--interval", "0.2", "-i", str(seed.inventory_path), home=home)
    assert follow.wait_for(lambda: follow.out == ["start"]), follow.err      # following from the end now
    with path.open("ab") as fh:
        fh.write(b"one \x1b]0;title\x07 \xff")
        fh.flush()
        time.sleep(0.6)
        fh.write(b"\xe2\x82")
        fh.flush()
        time.sleep(0.6)
        fh.write(b"\xac end\n")
    assert follow.wait_for(lambda: len(follow.out) >= 2), follow.err
    assert follow.interrupt() == 130
    assert follow.out == ["start", "one \\x1b]0;title\\x07 \\xff\u20ac end"] and follow.err == []


def test_follow_holds_one_connection_and_one_channel_per_host(seed):
    """The file agent is the host's only channel for the whole follow: no handshake, no new channel per poll."""
    from herd.operations.logs import LogRequest

    wait_ticks(seed)
    logins = {h.name: Path(h.sshd_log_path).read_text().count("Accepted publickey") for h in seed.hosts}
    follow_on_one_channel(seed.inventory_path, LogRequest(("tornado",), lines=0), 12)   # 3 polls of 4 files
    time.sleep(0.5)
    for host in seed.hosts:
        assert Path(host.sshd_log_path).read_text().count("Accepted publickey") == logins[host.name] + 1, host.name


def test_reading_once_leaves_no_channel_open_on_a_kept_connection(seed):
    """herd shell keeps connections between commands: a tail must not leave its agent running."""
    from herd.fleet import Fleet, direct
    from herd.inventory import load_inventory
    from herd.operations.logs import LogRequest, read_logs
    from herd.ssh.connection import Connector

    f = Fleet(load_inventory(str(seed.inventory_path)).hosts, direct(Connector(timeout=10)))
    try:
        for _ in range(2):
            report = read_logs(f, LogRequest(("tornado",), lines=2), final=True)
            assert report.exit_code == 0 and all(len(p.lines) == 2 for h in report.hosts for p in h.logs)
            report.close()
        for name, session in ((h.name, f.access(h)) for h in f.hosts):
            time.sleep(0.2)
            assert len(session.ssh.transport._channels.values()) == 0, name
    finally:
        f.close()


def test_follow_goes_on_from_its_offset_after_an_sshd_restart(seed, home, running):
    wait_ticks(seed)
    port = seed.host("web02").tornado_ports[2]
    prefix = f"web02 tornado:tornado-{port} | "
    follow = running("tail", "-f", f"tornado:tornado-{port}", "-n", "1", "--interval", "0.2", "-H", "web02",
                     "-i", str(seed.inventory_path), home=home)
    assert follow.wait_for(lambda: len(follow.lines_of(prefix)) >= 2), follow.err
    seed.stop_sshd("web02")
    try:
        assert follow.wait_for(lambda: any("web02: connection lost" in line for line in follow.err)), follow.err
        time.sleep(2.5)
    finally:
        seed.start_sshd("web02")
    assert follow.wait_for(lambda: "herd: web02: reconnected" in follow.err, timeout=40), follow.err
    back = len(follow.lines_of(prefix))
    assert follow.wait_for(lambda: len(follow.lines_of(prefix)) > back + 2)
    assert follow.interrupt() == 130
    seen = ticks(follow.lines_of(prefix))       # what was written meanwhile shown once, in order
    assert seen == list(range(seen[0], seen[0] + len(seen))), seen
    assert len(follow.err) == 2 and follow.err[0].startswith("herd: web02: connection lost (")
