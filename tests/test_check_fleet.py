"""``herd check`` against the real test fleet (sshd + supervisord per host, on 127.0.0.1).

The shared fleet (conftest) is read, or changed and put back within a test;
tests that break hosts (FATAL, sshd down or hung) use fleets of their own.
Timings are not pass/fail here, except the bound the issue asks for: a hung
host must not stretch the check past its --timeout.
"""

from __future__ import annotations

import http.server
import os
import re
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import edit_inventory, herd, wait_until

from test_check_logic import parse_perfdata



def check(*args: str, home: Path, **kwargs):
    """``herd check ARGS`` with a generous --timeout unless the test sets one: tests that are not
    about time must not turn into UNKNOWN when a loaded machine slows herd's own start-up."""
    extra = [] if "--timeout" in args else ["--timeout", "30"]
    return herd("check", *extra, *args, home=home, **kwargs)


def processes(fleet, name: str) -> list[str]:
    return [f"tornado:tornado-{port}" for port in fleet.host(name).tornado_ports] + ["worker"]


def with_expect(fleet, tmp_path: Path, expect=None, severity=None, name: str = "inv.yaml") -> Path:
    """A copy of the fleet's inventory with ``expect`` and ``check.severity`` sections."""

    def change(data):
        if expect is not None:
            data["expect"] = expect
        if severity is not None:
            data["check"] = {"severity": severity}

    return edit_inventory(fleet.inventory_path, tmp_path / name, change)


def first_line(run) -> tuple[str, dict]:
    """The status text and the parsed perfdata of a plugin's first line."""
    text, sep, perf = run.out.splitlines()[0].partition(" | ")
    assert sep, run.out
    return text, parse_perfdata(perf)


# -- what is checked -------------------------------------------------------------


def test_ok_fleet_is_one_line_with_perfdata(fleet, home):
    run = check("-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.out + run.err
    assert run.err == ""
    assert len(run.out.splitlines()) == 1 and run.out.endswith("\n")
    text, perf = first_line(run)
    assert text == "HERD OK - 4 hosts, 20 processes RUNNING"
    assert perf["hosts"] == (4.0, "", ["", "", "0", ""])
    assert perf["hosts_unreachable"] == (0.0, "", ["", "", "0", "4"])
    assert perf["processes_running"] == (20.0, "", ["", "", "0", "20"])
    assert perf["processes_not_running"] == (0.0, "", ["", "", "0", "20"])
    value, unit, (_, _, low, high) = perf["check_duration"]
    assert unit == "s" and low == "0" and high == "30" and 0 < value < 30
    assert list(perf) == ["hosts", "hosts_unreachable", "processes_running", "processes_not_running",
                          "check_duration"]


def test_selectors_scope_the_check(fleet, home):
    run = check("-g", "odd", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.out
    assert first_line(run)[0] == "HERD OK - 2 hosts, 10 processes RUNNING"


def test_stopped_process_is_critical_and_quiet_still_reports_it(fleet, home, tmp_path):
    target = processes(fleet, "web02")[1]
    ok = check("--quiet", "-i", str(fleet.inventory_path), home=home)
    assert (ok.code, ok.out, ok.err) == (0, "", "")
    assert fleet.supervisorctl("web02", "stop", target).returncode == 0
    try:
        run = check("-i", str(fleet.inventory_path), home=home)
        quiet = check("-q", "-i", str(fleet.inventory_path), home=home)
        relaxed = check("-i", str(with_expect(fleet, tmp_path, severity={"stopped": "warning"})),
                       home=home)
    finally:
        fleet.supervisorctl("web02", "start", target)
    assert run.code == 2
    text, perf = first_line(run)
    assert text == f"HERD CRITICAL - 1 problem: web02 {target} STOPPED"
    assert perf["processes_running"][0] == 19 and perf["processes_not_running"][0] == 1
    lines = run.out.splitlines()
    assert len(lines) == 2 and re.fullmatch(rf"CRITICAL: web02 {target} STOPPED since \w{{3}} +\d+ \d+:\d\d [AP]M",
                                            lines[1]), lines[1]
    assert quiet.code == 2 and quiet.out.splitlines()[1:] == lines[1:]
    assert quiet.out.startswith(f"HERD CRITICAL - 1 problem: web02 {target} STOPPED | ")
    assert relaxed.code == 1
    assert relaxed.out.startswith(f"HERD WARNING - 1 problem: web02 {target} STOPPED | ")


def test_fatal_process(make_fleet, home):
    small = make_fleet(hosts=1)
    # In this fleet only: a start counts as failed unless the app stays up 10 s (the fleet's 1 s
    # could count a slow start-up on a loaded machine as RUNNING, then EXITED, forever), and one
    # retry is enough to give up.  `update` restarts the changed program with the broken app.
    conf = Path(small.host("web01").conf_path)
    text, count = re.subn(r"(\[program:tornado\][^\[]*?)startsecs=1\n", r"\1startsecs=10\nstartretries=1\n",
                          conf.read_text())
    assert count == 1
    conf.write_text(text)
    small.break_app("web01")
    assert small.supervisorctl("web01", "update").returncode == 0
    tornado = processes(small, "web01")[:4]
    wait_until(lambda: all(small.process_states("web01").get(n) == "FATAL" for n in tornado), 60,
             "tornado to become FATAL")
    run = check("-i", str(small.inventory_path), home=home)
    assert run.code == 2
    assert first_line(run)[0] == ("HERD CRITICAL - 4 problems: web01 tornado:tornado-"
                                  f"{small.host('web01').tornado_ports[0]} FATAL (+3 more)")
    assert run.out.splitlines()[1:] == [
        f"CRITICAL: web01 {name} FATAL: Exited too quickly (process log may have details)"
        for name in tornado]
    data = check("--format", "json", "-i", str(small.inventory_path), home=home).json()
    assert [(p["process"], p["state"], p["severity"], p["kind"]) for p in data["problems"]] == [
        (name, "FATAL", "CRITICAL", "fatal") for name in tornado]
    assert data["counts"]["processes_running"] == 1


def test_unreachable_host(make_fleet, home):
    small = make_fleet(hosts=2)
    small.stop_sshd("web02")
    run = check("-i", str(small.inventory_path), home=home)
    assert run.code == 2
    text, perf = first_line(run)
    assert text == "HERD CRITICAL - 1 problem: web02 unreachable"
    port = small.host("web02").ssh_port
    assert run.out.splitlines()[1] == (f"CRITICAL: web02 unreachable: connection refused by 127.0.0.1 "
                                       f"port {port} (is sshd running?)")
    assert perf["hosts_unreachable"] == (1.0, "", ["", "", "0", "2"])
    assert perf["processes_running"][0] == 5
    prom = check("--format", "prometheus", "-i", str(small.inventory_path), home=home)
    assert prom.code == 2
    up = {s.labels["host"]: s.value for f in text_string_to_metric_families(prom.out)
          if f.name == "herd_host_up" for s in f.samples}
    assert up == {"web01": 1, "web02": 0}


def test_hung_host_is_reported_within_the_timeout(make_fleet, home):
    small = make_fleet(hosts=2)
    small.pause_sshd("web02")
    try:
        run = check("--timeout", "10", "-i", str(small.inventory_path), home=home)
    finally:
        small.resume_sshd("web02")
    assert run.code == 2
    assert first_line(run)[0] == "HERD CRITICAL - 1 problem: web02 unreachable", run.out
    assert re.fullmatch(r"CRITICAL: web02 unreachable: SSH handshake with 127\.0\.0\.1 port \d+ did not "
                        r"finish within [0-9.]+ s \(host hung or overloaded\?\)", run.out.splitlines()[1])
    duration = first_line(run)[1]["check_duration"]
    assert duration[0] <= 10 and duration[2][3] == "10"
    # loose on purpose (2 shared cores): unbounded, the host alone would take 2 x 10 + 1 s (status's
    # deadline); the figures measured are in docs/checks.md
    assert run.seconds < 10 + 3, run.seconds


def test_timeout_too_short_for_the_hosts_is_unknown(fleet, home):
    run = check("--timeout", "0.5", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 3
    assert re.fullmatch(r"HERD UNKNOWN - only [0-9.]+ s of --timeout 0\.5 s left for the hosts after "
                        r"[0-9.]+ s of start-up; raise --timeout\n", run.out), run.out


def test_missing_expected_program(fleet, home, tmp_path):
    inv = with_expect(fleet, tmp_path, {"web": {"running": ["tornado", "worker"]},
                                        "web03": {"running": ["cron", "worker"]}})
    run = check("-i", str(inv), home=home)
    assert run.code == 2
    assert first_line(run)[0] == "HERD CRITICAL - 1 problem: web03 cron missing"
    assert run.out.splitlines()[1] == ("CRITICAL: web03 cron missing: no such program on the host "
                                       "(required by expect.web03)")
    fine = check("-i", str(with_expect(fleet, tmp_path, {"web": {"running": ["tornado:*", "worker"]}},
                                               name="fine.yaml")), home=home)
    assert fine.code == 0, fine.out


def test_flapping_process_is_a_warning(fleet, home, tmp_path):
    young = with_expect(fleet, tmp_path, {"odd": {"min_uptime": 100000}, "web": {"min_uptime": 1}})
    run = check("--format", "json", "-i", str(young), home=home)
    assert run.code == 1
    data = run.json()
    assert data["status"] == "WARNING" and data["exit_code"] == 1
    flapping = [(p["host"], p["process"]) for p in data["problems"]]
    assert flapping == [(h, p) for h in ("web01", "web03") for p in processes(fleet, h)]
    assert all(p["state"] == "RUNNING" and p["kind"] == "flapping" and p["severity"] == "WARNING"
               for p in data["problems"])
    assert re.fullmatch(r"RUNNING for \d+ s, less than min_uptime 100000 s \(expect\.odd\)",
                        data["problems"][0]["reason"])
    old_enough = with_expect(fleet, tmp_path, {"web": {"running": ["worker"], "min_uptime": 1}}, name="ok.yaml")
    assert check("-i", str(old_enough), home=home).code == 0


# -- formats ----------------------------------------------------------------------


def test_json_format(fleet, home):
    run = check("--format", "json", "-i", str(fleet.inventory_path), home=home)
    assert run.code == 0, run.out
    data = run.json()
    assert (data["status"], data["exit_code"], data["problems"], data["error"]) == ("OK", 0, [], None)
    assert data["summary"] == "4 hosts, 20 processes RUNNING"
    assert data["counts"] == {"hosts": 4, "hosts_unreachable": 0, "processes": 20, "processes_running": 20,
                              "processes_not_running": 0, "problems": 0, "warning": 0, "critical": 0}
    assert 0 < data["duration_seconds"] < 30
    assert abs(data["timestamp"] - time.time()) < 60
    assert [h["host"] for h in data["hosts"]] == ["web01", "web02", "web03", "web04"]
    assert [p["name"] for p in data["hosts"][2]["processes"]] == processes(fleet, "web03")
    assert fleet.host("web03").password not in run.out + run.err


METRIC_LINE = re.compile(r'^(herd_[a-z_]+)(\{(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+)$')


def strict_families(text: str) -> dict:
    """Parse with prometheus_client, and also check what its parser tolerates: HELP and TYPE
    before each family's samples, two fields per sample (no timestamp), a final newline."""
    assert text.endswith("\n") and not text.endswith("\n\n")
    declared: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            kind, name = line.split(" ", 3)[1:3]
            assert kind in ("HELP", "TYPE"), line
            declared.setdefault(name, set()).add(kind)
            if kind == "TYPE":
                assert line == f"# TYPE {name} gauge"
            continue
        match = METRIC_LINE.match(line)
        assert match, f"not a plain sample line: {line!r}"
        assert declared.get(match[1]) == {"HELP", "TYPE"}, line
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == set(declared)
    return families


def test_prometheus_textfile(fleet, home, tmp_path):
    target = tmp_path / "herd.prom"
    before = time.time()
    run = check("--format", "prometheus", "--output", str(target), "-i", str(fleet.inventory_path),
               home=home)
    assert run.code == 0, run.out
    assert run.out.startswith("HERD OK - 4 hosts, 20 processes RUNNING | ")  # stdout: the plugin text
    families = strict_families(target.read_text())
    assert set(families) == {"herd_check_status", "herd_check_duration_seconds",
                             "herd_check_last_run_timestamp_seconds", "herd_check_problems", "herd_host_up",
                             "herd_process_up", "herd_process_uptime_seconds"}
    assert families["herd_check_status"].samples[0].value == 0
    assert 0 < families["herd_check_duration_seconds"].samples[0].value < 30
    assert before - 1 <= families["herd_check_last_run_timestamp_seconds"].samples[0].value <= time.time() + 1
    assert {s.labels["host"]: s.value for s in families["herd_host_up"].samples} == {
        h.name: 1 for h in fleet.hosts}
    expected = {(h.name, p) for h in fleet.hosts for p in processes(fleet, h.name)}
    up = {(s.labels["host"], s.labels["process"]): s.value for s in families["herd_process_up"].samples}
    assert up == {key: 1 for key in expected}
    uptime = {(s.labels["host"], s.labels["process"]): s.value
              for s in families["herd_process_uptime_seconds"].samples}
    assert set(uptime) == expected and all(v >= 1 for v in uptime.values())
    assert {s.labels["severity"]: s.value for s in families["herd_check_problems"].samples} == {
        "warning": 0, "critical": 0}
    # without --output the same text goes to stdout
    plain = check("--format", "prometheus", "-H", "web01", "-i", str(fleet.inventory_path), home=home)
    assert set(strict_families(plain.out)) == set(families)


def test_stopped_process_in_the_textfile(fleet, home):
    target = processes(fleet, "web04")[0]
    assert fleet.supervisorctl("web04", "stop", target).returncode == 0
    try:
        run = check("--format", "prometheus", "-H", "web04", "-i", str(fleet.inventory_path), home=home)
    finally:
        fleet.supervisorctl("web04", "start", target)
    assert run.code == 2
    families = strict_families(run.out)
    up = {s.labels["process"]: s.value for s in families["herd_process_up"].samples}
    assert up[target] == 0 and sum(up.values()) == 4
    assert target not in {s.labels["process"] for s in families["herd_process_uptime_seconds"].samples}
    assert families["herd_check_status"].samples[0].value == 2
    assert {s.labels["severity"]: s.value for s in families["herd_check_problems"].samples}["critical"] == 1


def test_output_is_replaced_atomically(fleet, home, tmp_path):
    out_dir = tmp_path / "textfiles"
    out_dir.mkdir()
    target = out_dir / "herd.prom"
    target.write_text("# old\n")
    with open(target) as old:  # a reader holding the old file keeps seeing it whole
        inode = os.fstat(old.fileno()).st_ino
        run = check("--format", "prometheus", "--output", str(target), "-q",
                   "-i", str(fleet.inventory_path), home=home)
        assert run.code == 0 and run.out == ""
        assert old.read() == "# old\n"
    info = os.stat(target)
    assert info.st_ino != inode  # renamed into place, not rewritten
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(info.st_mode) == 0o666 & ~umask
    assert sorted(os.listdir(out_dir)) == ["herd.prom"]  # no temporary file left behind
    strict_families(target.read_text())


def test_output_that_cannot_be_written_is_unknown(fleet, home, tmp_path):
    target = tmp_path / "missing-dir" / "herd.prom"
    run = check("--format", "prometheus", "--output", str(target), "-H", "web01",
               "-i", str(fleet.inventory_path), home=home)
    assert run.code == 3
    lines = run.out.splitlines()
    assert lines[0] == f"HERD UNKNOWN - cannot write {target}: No such file or directory"
    assert lines[1].startswith("HERD OK - 1 host, 5 processes RUNNING | ")
    assert not target.parent.exists()


# -- UNKNOWN: the check could not run ------------------------------------------------------


def test_broken_inventory_is_unknown(home, tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  web01:\n    prot: 22\n")
    run = check("-i", str(inv), home=home)
    assert (run.code, run.err) == (3, "")
    assert run.out == f"HERD UNKNOWN - {inv}:3:5: hosts.web01.prot: unknown key (did you mean 'port'?)\n"
    data = check("--format", "json", "-i", str(inv), home=home).json()
    assert (data["status"], data["exit_code"], data["counts"]) == ("UNKNOWN", 3, None)
    assert data["error"] == f"{inv}:3:5: hosts.web01.prot: unknown key (did you mean 'port'?)"
    quiet = check("-q", "-i", str(tmp_path / "nope.yaml"), home=home)
    assert quiet.code == 3
    assert quiet.out == f"HERD UNKNOWN - inventory {tmp_path / 'nope.yaml'} (given with -i/--inventory) does not exist\n"


def test_bad_expect_section_is_unknown(fleet, home, tmp_path):
    inv = with_expect(fleet, tmp_path, {"wbe": {"running": ["worker"]}})
    run = check("-i", str(inv), home=home)
    assert run.code == 3
    assert re.fullmatch(rf"HERD UNKNOWN - {re.escape(str(inv))}:\d+:3: expect\.wbe: 'wbe' is neither a group "
                        r"nor a host \(did you mean 'web'\?\)\n", run.out), run.out


@pytest.mark.parametrize("args,message", [
    (["--format", "xml"], "Invalid value for '--format': 'xml' is not one of 'nagios', 'json', 'prometheus'."),
    (["worker"], "Got unexpected extra argument (worker)"),
    (["--ping", "ftp://example.invalid/x"],
     "Invalid value for '--ping': must be an http:// or https:// URL, e.g. https://hc-ping.com/<uuid>"),
    (["--ping", "http://127.0.0.1:99999/x"],
     "Invalid value for '--ping': the port must be a number between 1 and 65535"),
    (["--timeout", "0"], "Invalid value for '--timeout': 0.0 is not in the range x>=0.1."),
    (["-g", "nosuch"], "unknown group 'nosuch'; groups: web, odd, even, fleet"),
])
def test_command_line_errors_are_unknown(fleet, home, args, message):
    run = check(*args, "-i", str(fleet.inventory_path), home=home)
    assert (run.code, run.out, run.err) == (3, f"HERD UNKNOWN - {message}\n", "")


# -- dead man's switch -------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self._record()

    def do_POST(self):
        self._record()

    def _record(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.server.hits.append((self.command, self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


@pytest.fixture
def ping_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ping_start_then_exit_status(fleet, home, tmp_path, ping_server):
    url = f"http://127.0.0.1:{ping_server.server_address[1]}/ping/5f2c-secret"
    ok = check("--ping", url, "-q", "-i", str(fleet.inventory_path), home=home)
    assert (ok.code, ok.out, ok.err) == (0, "", "")
    bad = check("--ping", url + "/", "--format", "json",
                "-i", str(with_expect(fleet, tmp_path, {"web01": {"running": ["x"]}})), home=home)
    assert bad.code == 2 and bad.json()["status"] == "CRITICAL"
    broken = tmp_path / "broken.yaml"
    broken.write_text("hosts: [web01]\n")
    unknown = check("--ping", url, "-i", str(broken), home=home)
    assert unknown.code == 3
    hits = ping_server.hits
    assert [(method, path) for method, path, _ in hits] == [
        ("GET", "/ping/5f2c-secret/start"), ("POST", "/ping/5f2c-secret/0"),
        ("GET", "/ping/5f2c-secret/start"), ("POST", "/ping/5f2c-secret/2"),
        ("GET", "/ping/5f2c-secret/start"), ("POST", "/ping/5f2c-secret/3")]
    assert hits[1][2].startswith("HERD OK - 4 hosts, 20 processes RUNNING | ")  # sent even when quiet
    # the body is the plugin text whatever --format says
    assert hits[3][2].startswith("HERD CRITICAL - 1 problem: web01 x missing | ")
    assert hits[3][2].splitlines()[1] == ("CRITICAL: web01 x missing: no such program on the host "
                                          "(required by expect.web01)")
    assert hits[5][2] == unknown.out


def test_ping_endpoint_down_changes_nothing(fleet, home):
    port = free_port()
    url = f"http://127.0.0.1:{port}/5f2c-secret"
    run = check("--ping", url, "-q", "-i", str(fleet.inventory_path), home=home)
    assert (run.code, run.out) == (0, "")
    assert run.err == (f"herd: ping start to http://127.0.0.1:{port} failed: Connection refused\n"
                       f"herd: ping 0 to http://127.0.0.1:{port} failed: Connection refused\n")
    assert "secret" not in run.err
    loud = check("--ping", url, "-H", "web01", "-i", str(fleet.inventory_path), home=home)
    assert loud.code == 0 and loud.out.startswith("HERD OK - 1 host, 5 processes RUNNING | ")


def test_help_lists_the_exit_codes(home):
    run = check("--help", home=home)
    assert run.code == 0
    assert "3 UNKNOWN" in run.out and "[default: 8.0" in run.out


# -- the shipped examples work ---------------------------------------------------------


def test_crontab_example_lines_run(fleet, home, tmp_path):
    """Every herd line of scripts/herd-check.cron (the commented ping line too) is a valid, quiet OK run."""
    from helpers import herd_env

    text = (Path(__file__).resolve().parent.parent / "scripts" / "herd-check.cron").read_text()
    commands = [line.lstrip("# ").split(None, 5)[5] for line in text.splitlines()
                if re.match(r"^(# )?[*0-9/,-]+( +[*0-9/,-]+){4} +herd check", line)]
    assert len(commands) == 3, commands
    env = herd_env(home, HERD_INVENTORY=str(fleet.inventory_path))
    for command in commands:
        args = command.split()[2:]
        if "--output" in args:
            args[args.index("--output") + 1] = str(tmp_path / "herd.prom")
        if "--ping" in args:
            args[args.index("--ping") + 1] = f"http://127.0.0.1:{free_port()}/uuid"
        run = check(*args, home=home, env=env)
        assert (run.code, run.out) == (0, ""), (command, run.out, run.err)
    strict_families((tmp_path / "herd.prom").read_text())


def test_nagios_command_definition_runs(fleet, home):
    text = (Path(__file__).resolve().parent.parent / "scripts" / "herd-check.nagios.cfg").read_text()
    command = re.search(r"command_line\s+(.*)", text)[1]
    args = command.replace("$ARG1$", "-g web").split()
    assert args[:2] == ["/usr/local/bin/herd", "check"]
    args[args.index("-i") + 1] = str(fleet.inventory_path)
    args[args.index("--timeout") + 1] = "30"  # the definition's 8 s is no test of a loaded CI machine
    run = herd(*args[1:], home=home)
    assert run.code == 0, run.out
    assert first_line(run)[0] == "HERD OK - 4 hosts, 20 processes RUNNING"


def test_closing_a_fleet_does_not_wait_for_a_host_abandoned_at_the_deadline(make_fleet):
    """check closes its Fleet right after the deadline: a host still in its SSH handshake must not hold it."""
    from herd.errors import HostTimeout
    from herd.fleet import Fleet, direct
    from herd.inventory import load_inventory
    from herd.ssh.connection import Connector

    small = make_fleet(hosts=1)
    small.pause_sshd("web01")
    fleet = Fleet(load_inventory(str(small.inventory_path)).hosts, direct(Connector(timeout=30)))
    try:
        [result] = fleet.run(lambda access: access.client().all_process_info(), deadline=0.5)
        assert isinstance(result.error, HostTimeout)
        assert result.error.reason == "no answer within 0.5 s"
        fleet.close()
        # close() returned while the handshake thread still waits on the paused sshd
        assert [t for t in threading.enumerate() if t.name == "herd-web01" and t.is_alive()]
    finally:
        small.resume_sshd("web01")
        for thread in threading.enumerate():
            if thread.name == "herd-web01":
                thread.join(30)
        fleet.close()
