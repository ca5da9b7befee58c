"""``herd shell`` against the real test fleet, driven through stdin and through a pty.

The shared fleet is only read here; tests that stop, start or hang hosts use
fleets of their own.  The completion logic is tested on its own at the end
(no terminal, no fleet).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import click
import pytest

from helpers import Run, connected_to, herd, herd_env, wait_until
from herd.cli import all_commands
from herd.cli.shell import HELP_SPEC, HOSTS_SPEC, Completer, ProcessNames, process_names, spec_from_click
from herd.inventory.model import Host
from herd.supervisor.models import ProcessInfo, ProcessState

PROMPT = b"herd> "
PROMPT_AT_END = re.compile(rb"herd( \[[^\]\r\n]*\])?> $")     # the selection in brackets, once chosen



def shell_env(home: Path) -> dict[str, str]:
    env = herd_env(home, TERM="dumb")
    env.pop("XDG_STATE_HOME", None)
    return env


def script(lines: list[str], *args: str, home: Path, timeout: float = 120) -> Run:
    """``herd shell ARGS`` reading ``lines`` from stdin (not a terminal: no prompt, no readline)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "herd", "shell", *args], input="".join(f"{l}\n" for l in lines),
                          capture_output=True, text=True, timeout=timeout, env=shell_env(home))
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def accepted(fleet, name: str) -> int:
    """SSH logins sshd accepted on a host so far (LogLevel VERBOSE logs each one)."""
    return Path(fleet.host(name).sshd_log_path).read_text().count("Accepted publickey for ")


def worker_info(fleet, name: str) -> dict:
    return fleet.rpc(name).supervisor.getProcessInfo("worker")


def waiting_for_a_key(pid: int) -> bool:
    """True while the main thread of ``pid`` sleeps in select/poll: readline waiting for a key."""
    wchan = Path(f"/proc/{pid}/task/{pid}/wchan").read_text()
    return wchan.startswith(("poll_schedule_timeout", "do_select", "do_sys_poll"))


class Terminal:
    """herd running on a pseudo-terminal of its own (its controlling tty, so Ctrl-C is SIGINT)."""

    def __init__(self, args: list[str], home: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen([sys.executable, "-m", "herd", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=shell_env(home), close_fds=True,
                                     preexec_fn=controlling_tty)
        os.close(slave)
        self.master = master
        self.output = b""  # everything read so far

    def read_until(self, predicate, timeout: float = 60) -> bytes:
        """Read until ``predicate(new output)`` holds; return the new output."""
        mark, deadline = len(self.output), time.monotonic() + timeout
        while not predicate(self.output[mark:]):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; output so far: {self.output[mark:]!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed; output: {self.output[mark:]!r}")
                self.output += chunk
        return self.output[mark:]

    def prompt(self, timeout: float = 60) -> bytes:
        return self.read_until(lambda out: PROMPT_AT_END.search(out) is not None, timeout)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def command(self, line: str, timeout: float = 60) -> tuple[str, float]:
        """Type a line and Enter; its output (echo and prompt excluded) and the seconds until the next prompt."""
        self.send(line.encode())
        self.read_until(lambda out: line.encode() in out)
        began = time.monotonic()
        self.send(b"\r")
        out = self.prompt(timeout)
        return PROMPT_AT_END.sub(b"", out).decode().replace("\r\n", "\n").strip("\n"), time.monotonic() - began

    def finish(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        try:
            while chunk := os.read(self.master, 4096):
                self.output += chunk
        except OSError:
            pass
        os.close(self.master)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        try:
            os.close(self.master)
        except OSError:
            pass


@pytest.fixture
def terminals():
    started: list[Terminal] = []

    def start(*args: str, home: Path) -> Terminal:
        term = Terminal(list(args), home)
        started.append(term)
        return term

    yield start
    for term in started:
        term.kill()


# -- the shell on the fleet ------------------------------------------------------


def test_script_selection_guards_changes_and_acts_on_selected_hosts(make_fleet, home):
    fleet = make_fleet(hosts=3)  # groups: odd = web01, web03; even = web02
    before = {h.name: worker_info(fleet, h.name) for h in fleet.hosts}
    run = script(["status", "stop worker", "hosts -g odd", "stop worker", "status worker", "start worker",
                  "quit", "status"], "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    assert run.err == ("herd: this command changes things: choose hosts first (hosts -a, hosts -g NAME, "
                       "hosts -H PATTERN) or add -a/-g/-H to the command\n")
    out = run.out.splitlines()
    assert out[0].split() == ["HOST", "PROCESS", "STATE", "PID", "UPTIME", "DESCRIPTION"]
    assert out[16] == "3 hosts, 15 processes: 15 RUNNING"
    assert out[17:] == [
        "2 hosts: web01, web03",
        "web01  worker  stopped",
        "web03  worker  stopped",
        "2 hosts: 2 stopped",
        "HOST   PROCESS  STATE    PID  UPTIME  DESCRIPTION",
        f"web01  worker   STOPPED  -    -       {out[22].split(None, 5)[5]}",
        f"web03  worker   STOPPED  -    -       {out[23].split(None, 5)[5]}",
        "2 hosts, 2 processes: 2 STOPPED",
        "web01  worker  started",
        "web03  worker  started",
        "2 hosts: 2 started",
    ]  # and nothing after quit
    after = {h.name: worker_info(fleet, h.name) for h in fleet.hosts}
    for name in ("web01", "web03"):  # supervisord itself stopped and restarted them
        assert after[name]["statename"] == "RUNNING"
        assert after[name]["pid"] != before[name]["pid"] and after[name]["stop"] > 0, name
    assert after["web02"]["pid"] == before["web02"]["pid"] and after["web02"]["stop"] == 0
    assert after["web02"]["statename"] == "RUNNING"


def test_selectors_of_a_typed_command_and_of_the_shell(make_fleet, home):
    fleet = make_fleet(hosts=2)
    before = worker_info(fleet, "web01")["pid"]
    run = script(["restart worker -H web02", "hosts", "status worker"], "-H", "web01",
                 "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.err
    assert run.err == ""
    out = run.out.splitlines()
    assert out[:3] == ["web02  worker  restarted", "1 host: 1 restarted", "1 host: web01"]
    assert [line.split()[:3] for line in out[3:]] == [["HOST", "PROCESS", "STATE"], ["web01", "worker", "RUNNING"],
                                                      ["1", "host,", "1"]]
    assert out[5] == "1 host, 1 process: 1 RUNNING"
    assert worker_info(fleet, "web01")["pid"] == before  # the shell's selection was not used


def test_second_status_reuses_the_connections(fleet, home, terminals, record_property):
    """Inside one shell, the second status opens no SSH connection (sshd logs every login)."""
    names = [h.name for h in fleet.hosts]
    term = terminals("shell", "-i", str(fleet.inventory_path), home=home)
    term.prompt()
    logins = {n: accepted(fleet, n) for n in names}
    first, first_s = term.command("status")
    after_first = {n: accepted(fleet, n) for n in names}
    second, second_s = term.command("status")
    after_second = {n: accepted(fleet, n) for n in names}
    term.send(b"quit\r")
    assert term.finish() == 0

    assert first.splitlines()[-1] == second.splitlines()[-1] == "4 hosts, 20 processes: 20 RUNNING"
    assert after_first == {n: logins[n] + 1 for n in names}  # one connection per host...
    assert after_second == after_first  # ...and none more for the second status
    one_shot = herd("status", "-i", str(fleet.inventory_path), home=home)
    record_property("shell_first_status_s", round(first_s, 4))
    record_property("shell_second_status_s", round(second_s, 4))
    record_property("one_shot_herd_status_s", round(one_shot.seconds, 4))
    print(f"\nstatus over 4 hosts inside the shell: first {first_s * 1000:.1f} ms (4 SSH handshakes), "
          f"second {second_s * 1000:.1f} ms (kept connections); one-shot `herd status`: "
          f"{one_shot.seconds * 1000:.0f} ms (process start included)")


def test_pty_prompt_completion_and_history(fleet, home, terminals):
    term = terminals("shell", "-i", str(fleet.inventory_path), home=home)
    assert term.prompt() == PROMPT  # nothing before the prompt

    term.send(b"sta\t\t")
    listing = term.read_until(lambda out: b"start" in out and b"status" in out)
    assert re.search(rb"start\s+status", listing), listing
    term.send(b"\x15")  # Ctrl-U: readline drops the line

    term.send(b"hosts -H w\t")  # the only completion of w: the common prefix of the hosts
    term.read_until(lambda out: b"eb0" in out)  # readline writes what it inserts: w[eb0]
    term.send(b"\t\t")
    hosts_listed = term.read_until(lambda out: b"web04" in out)
    assert re.search(rb"web01\s+web02\s+web03\s+web04", hosts_listed), hosts_listed
    out, _ = term.command("3")
    assert out.splitlines()[-1] == "1 host: web03"
    assert term.output.endswith(b"herd [web03]> ")        # the prompt shows what commands act on now

    term.send(b"status wor\t")  # a process name, fetched from the selected host on the open session
    term.read_until(lambda out: b"status worker " in out)   # completed, with its trailing space
    out, _ = term.command("")
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["web03", "worker", "RUNNING"]
    assert lines[-1] == "1 host, 1 process: 1 RUNNING"

    out, _ = term.command("stop worker --dry-run")  # the selection is explicit now
    pid = worker_info(fleet, "web03")["pid"]
    assert out.splitlines() == ["dry run: nothing was changed", f"web03  worker  would stop  (RUNNING, pid {pid})",
                                    "1 host: 1 would stop"], out
    term.send(b"stop worker")
    term.read_until(lambda out: b"stop worker" in out)
    # CPython's readline acts on a SIGINT only while it waits for a key: wait until it does
    wait_until(lambda: waiting_for_a_key(term.proc.pid), 10, "readline to wait for a key", interval=0.01)
    term.send(b"\x03")  # Ctrl-C at the prompt: the line is dropped, the shell stays
    term.prompt()
    out, _ = term.command("hosts")
    assert out == "1 host: web03"  # and nothing about a stop

    term.send(b"quit\r")
    assert term.finish() == 0
    history = (home / ".local" / "state" / "herd" / "history").read_text().splitlines()
    # lines dropped with Ctrl-U or Ctrl-C (sta, stop worker) are not kept
    assert [line.rstrip() for line in history] == ["hosts -H web03", "status worker", "stop worker --dry-run",
                                                   "hosts", "quit"]
    assert (home / ".local" / "state" / "herd" / "history").stat().st_mode & 0o777 == 0o600

    # the next shell starts with that history: Ctrl-P brings the last line back
    again = terminals("shell", "-i", str(fleet.inventory_path), home=home)
    again.prompt()
    again.send(b"\x10\x10\x10")  # Ctrl-P three times: before quit and hosts
    again.read_until(lambda out: b"stop worker --dry-run" in out)
    again.send(b"\x15\x04")  # Ctrl-U empties the line, Ctrl-D on an empty line leaves
    assert again.finish() == 0


def test_ctrl_c_interrupts_a_command_and_returns_to_the_prompt(make_fleet, home, terminals):
    fleet = make_fleet(hosts=2)
    web02 = fleet.host("web02").ssh_port
    term = terminals("shell", "--timeout", "60", "-i", str(fleet.inventory_path), home=home)
    term.prompt()
    fleet.pause_sshd("web02")  # web02 accepts TCP but never answers: status would wait 60 s
    try:
        term.send(b"status\r")
        wait_until(lambda: connected_to(web02), 30, "status to reach web02's (paused) sshd")
        began = time.monotonic()
        term.send(b"\x03")
        out = term.prompt(timeout=30)
        back_after = time.monotonic() - began
    finally:
        fleet.resume_sshd("web02")
    # the hosts that answered, at once, as a direct run prints them (issue 23), then the prompt
    # (web01 may or may not have answered by then: tests/test_interrupt_fleet.py shows its lines, same code)
    assert b"herd: interrupted: hosts that had not answered are marked so" in out
    assert re.search(rb"web02 +- +INTERRUPTED +- +- +no answer yet", out), out
    # A bound that catches a hang (a wait for the 60 s timeout, a thread joined first), not a benchmark:
    # the prompt comes back in well under 0.1 s on an idle machine.
    assert back_after < 2.0, f"the prompt came back {back_after:.2f} s after Ctrl-C"
    status, _ = term.command("status")  # the shell goes on, on fresh sessions
    assert status.splitlines()[-1] == "2 hosts, 10 processes: 10 RUNNING", status
    term.send(b"\x04")
    assert term.finish() == 0

    # a script read from stdin stops at Ctrl-C: the lines after the interrupted one are not run
    worker = worker_info(fleet, "web01")["pid"]
    fleet.pause_sshd("web02")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "herd", "shell", "--timeout", "60", "-a",
                                 "-i", str(fleet.inventory_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=shell_env(home))
        proc.stdin.write("status\nstop worker\n")
        proc.stdin.close()
        proc.stdin = None  # all written: communicate() only reads
        wait_until(lambda: connected_to(web02), 30, "status to reach web02's (paused) sshd")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        fleet.resume_sshd("web02")
    assert proc.returncode == 130, err
    assert err.strip() == "herd: interrupted: hosts that had not answered are marked so"
    assert re.search(r"web02 +- +INTERRUPTED +- +- +no answer yet", out), out
    assert worker_info(fleet, "web01")["pid"] == worker  # stop worker never ran


# -- bad input -----------------------------------------------------------------------


def test_bad_lines_are_one_line_errors_and_keep_the_shell(fleet, home):
    inv = str(fleet.inventory_path)
    run = script(["frobnicate", "staus", "hosts -g nosuch", "hosts -H 'db*'", "hosts --bogus", "hosts",
                  "shell", "status -i other.yaml", "pid --timeout=3", "version --accept-new", "status --timeout 10",
                  "help nosuch", "stop 'unbalanced",
                  "   ", "# a comment", "hosts -g odd"], "-i", inv, home=home)  # no quit: end of input
    assert run.code == 0
    assert "Traceback" not in run.err
    assert run.err.splitlines() == [
        "herd: unknown command 'frobnicate'; help lists the commands",
        "herd: unknown command 'staus' (did you mean 'status'?); help lists the commands",
        "herd: unknown group 'nosuch'; groups: web, odd, even, fleet",
        "herd: no host matches 'db*'",
        "herd: hosts: No such option '--bogus'. Did you mean '--host'?",
        "herd: already in the shell (quit leaves it)",
        "herd: -i/--inventory applies to the whole shell: give it to `herd shell`",
        "herd: --timeout applies to the shell's connections: give it to `herd shell`",
        "herd: --accept-new applies to the shell's connections: give it to `herd shell`",
        "herd: no help for 'nosuch': not a command; help lists the commands",
        "herd: cannot read that line: No closing quotation",
    ]
    out = run.out.splitlines()
    assert out[0] == ("4 hosts: web01, web02, web03, web04 (by default: commands that change things need hosts -a, "
                      "-g NAME or -H PATTERN first)")
    assert out[-2:] == ["4 hosts, 20 processes: 20 RUNNING", "2 hosts: web01, web03"]  # --timeout 10: the shell's


def test_help_lists_commands_and_shows_a_commands_options(fleet, home):
    run = script(["help", "help stop", "help hosts"], "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0 and run.err == ""
    listed = [line.split()[0] for line in run.out.splitlines() if line.startswith("  ") and line[2] != " "]
    for name in ("status", "start", "stop", "restart", "signal", "clear", "pid", "reread", "avail", "update",
                 "add", "remove", "reload", "shutdown", "version", "hosts", "help", "quit", "exit"):
        assert name in listed, name
    assert "shell" not in listed
    assert "Usage: herd stop [OPTIONS] NAME..." in run.out
    assert "Usage: hosts [OPTIONS]" in run.out


def test_starting_errors_and_eof(fleet, home, tmp_path):
    bad = script([], "-g", "nosuch", "-i", str(fleet.inventory_path), home=home)
    assert bad.code == 2 and bad.out == ""
    assert bad.err == "herd: unknown group 'nosuch'; groups: web, odd, even, fleet\n"
    missing = script([], "-i", str(tmp_path / "none.yaml"), home=home)
    assert missing.code == 2 and len(missing.err.splitlines()) == 1 and "Traceback" not in missing.err
    empty = script([], "-i", str(fleet.inventory_path), home=home)
    assert (empty.code, empty.out, empty.err) == (0, "", "")


# -- completion logic, without a terminal ------------------------------------------------


def info(group: str, name: str) -> ProcessInfo:
    return ProcessInfo(name=name, group=group, state=ProcessState.RUNNING, pid=1, start=0, stop=0, now=0)


INFOS = [info("tornado", "tornado-8080"), info("tornado", "tornado-8081"), info("worker", "worker")]


@pytest.fixture
def completer() -> Completer:
    specs = {name: spec_from_click(command) for name, command in all_commands().items() if name != "shell"}
    specs.update(hosts=HOSTS_SPEC, help=HELP_SPEC)
    return Completer(specs, hosts=lambda: ["web01", "web02", "db01"], groups=lambda: ["web", "odd"],
                     processes=lambda: sorted(process_names(INFOS)), process_groups=lambda: ["tornado", "worker"])


def test_completes_command_names(completer):
    assert completer.candidates("", "sta") == ["start", "status"]
    assert completer.candidates("", "ho") == ["hosts"]
    assert "shell" not in completer.candidates("", "")
    assert completer.candidates("", "nosuch") == []
    assert completer.candidates("nosuch ", "") == []


def test_completes_hosts_groups_and_choices_after_their_options(completer):
    assert completer.candidates("status -H ", "web") == ["web01", "web02"]
    assert completer.candidates("hosts --host ", "") == ["db01", "web01", "web02"]
    assert completer.candidates("hosts -g ", "o") == ["odd"]
    assert completer.candidates("stop worker --group ", "") == ["odd", "web"]
    assert completer.candidates("status ", "--host=w") == ["--host=web01", "--host=web02"]
    assert completer.candidates("status -o ", "") == ["json", "table"]
    assert completer.candidates("stop --wait-timeout ", "") == []  # a number: nothing to offer


def test_completes_options_of_the_command(completer):
    assert completer.candidates("stop ", "--dr") == ["--dry-run"]
    assert completer.candidates("hosts ", "-") == ["--all-hosts", "--group", "--help", "--host", "-H", "-a",
                                                   "-g", "-h"]
    assert "--yes" in completer.candidates("shutdown ", "--")


def test_completes_process_names_where_commands_take_them(completer):
    assert completer.candidates("stop ", "tor") == ["tornado", "tornado:*", "tornado:tornado-8080",
                                                    "tornado:tornado-8081"]
    assert completer.candidates("status -g odd worker ", "") == ["all", "tornado", "tornado:*",
                                                                  "tornado:tornado-8080", "tornado:tornado-8081",
                                                                  "worker"]
    assert completer.candidates("signal ", "U") == ["USR1", "USR2"]  # first a signal...
    assert completer.candidates("signal HUP ", "w") == ["worker"]  # ...then processes
    assert completer.candidates("signal -H web01 HUP ", "w") == ["worker"]  # option values are not positionals
    assert completer.candidates("update ", "") == ["tornado", "worker"]  # supervisor groups
    assert completer.candidates("help ", "st") == ["start", "status", "stop"]
    assert completer.candidates("hosts ", "") == []  # takes no names


def test_a_single_completion_gets_its_trailing_space_unless_more_may_follow():
    from herd.cli.shell import finished

    assert finished(["status"]) == ["status "]
    assert finished(["start", "status"]) == ["start", "status"]
    assert finished(["tornado:"]) == ["tornado:"] and finished(["--host="]) == ["--host="]
    assert finished([]) == []


def test_a_failing_source_offers_nothing():
    def broken():
        raise OSError("no")

    completer = Completer({"status": spec_from_click(all_commands()["status"])}, hosts=broken, groups=broken,
                          processes=broken, process_groups=broken)
    assert completer.candidates("status ", "") == []
    assert completer.candidates("status -H ", "") == []


def test_process_names_as_supervisorctl_prints_them():
    assert process_names(INFOS) == {"all", "tornado", "tornado:*", "tornado:tornado-8080",
                                    "tornado:tornado-8081", "worker"}


def hosts(*names: str) -> list[Host]:
    return [Host(name=n, address="127.0.0.1") for n in names]


def test_process_names_are_fetched_lazily_once_then_after_each_command():
    calls: list[list[str]] = []

    def fetch(chosen):
        calls.append([h.name for h in chosen])
        return {h.name: [info("worker", "worker")] if h.name == "web01" else [info("app", "app")] for h in chosen}

    cache = ProcessNames(fetch, wait=5)
    assert calls == []  # nothing fetched before a completion asks
    web01, web02 = hosts("web01", "web02")
    assert cache.names([web01]) == ["all", "worker"]
    assert cache.names([web01]) == ["all", "worker"]
    assert calls == [["web01"]]  # cached
    assert cache.names([web01, web02]) == ["all", "app", "worker"]
    assert calls == [["web01"], ["web02"]]  # only the host not asked yet
    cache.stale()  # a command ran
    assert cache.groups([web01, web02]) == ["app", "worker"]
    assert calls == [["web01"], ["web02"], ["web01", "web02"]]


def test_a_slow_fetch_does_not_hold_the_prompt():
    release = threading.Event()

    def fetch(chosen):
        release.wait(30)
        return {h.name: [info("worker", "worker")] for h in chosen}

    cache = ProcessNames(fetch, wait=0.05)
    (web01,) = hosts("web01")
    assert cache.names([web01]) == []  # nothing known yet: offer nothing rather than wait
    release.set()
    cache.settle()  # what the shell does before running a command
    assert cache.names([web01]) == ["all", "worker"]


def test_a_failing_fetch_offers_the_names_last_seen():
    answers = [{"web01": [info("worker", "worker")]}, {}]

    def fetch(chosen):
        answer = answers.pop(0)
        if not answer:
            raise OSError("host went away")
        return answer

    cache = ProcessNames(fetch, wait=5)
    (web01,) = hosts("web01")
    assert cache.names([web01]) == ["all", "worker"]
    cache.stale()
    assert cache.names([web01]) == ["all", "worker"]


def test_every_command_spec_reads_from_click():
    spec = spec_from_click(all_commands()["signal"])
    assert spec.args == ("signals", "processes")
    assert spec.values["-H"] == "hosts" and spec.values["--group"] == "groups"
    assert "--dry-run" in spec.flags and "-v" in spec.flags
    assert spec_from_click(all_commands()["update"]).args == ("process-groups",)
    assert spec_from_click(click.Command("bare")).args == ()
