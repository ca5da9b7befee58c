"""``herd events`` over real sshd and supervisord: a killed process, a host whose sshd freezes, pending config.

In process against the fake: tests/test_events_fake.py; the model alone: tests/test_events_logic.py.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from herd.localfleet.processes import descendants
from herd.testing.pytest_plugin import module_fleet

# job: exits 3 on SIGTERM (its program expects 0) and is not restarted; worker (the fleet's) autorestarts.
EXTRA = """
[program:job]
command=/bin/sh -c 'trap "exit 3" TERM; while :; do sleep 0.1; done'
startsecs=1
autorestart=false
exitcodes=0
"""
efleet = module_fleet("events", hosts=2, extra_config=EXTRA)
READY = "herd events: watching 2 host(s)"


def pid_of(fleet, host: str, name: str) -> int:
    return int(fleet.supervisorctl(host, "pid", name).stdout.strip())


def started(running, fleet, home: Path, *args: str):
    run = running("events", "-i", str(fleet.inventory_path), "--interval", "0.3", "--timeout", "3", *args,
                  home=home)
    assert run.wait_for(lambda: any(READY in line for line in run.err)), run.err
    return run


def test_a_killed_process_is_a_line_with_from_to_and_its_exit_status_and_json_lines_parse(efleet, running,
                                                                                            home) -> None:
    run = started(running, efleet, home, "-o", "json")
    events = lambda: [json.loads(line) for line in list(run.out)]  # noqa: E731
    try:
        job = pid_of(efleet, "web01", "job")
        os.kill(job, signal.SIGTERM)                         # dies on its own: exit 3, unexpected
        assert run.wait_for(lambda: any(e["process"] == "job" for e in events())), (run.out, run.err)
        (crash,) = [e for e in events() if e["process"] == "job"]
        assert {k: crash[k] for k in ("host", "kind", "from_state", "to_state", "exitstatus", "expected", "pid")} \
            == {"host": "web01", "kind": "state", "from_state": "RUNNING", "to_state": "EXITED", "exitstatus": 3,
                "expected": False, "pid": job}
        worker = pid_of(efleet, "web02", "worker")
        os.kill(worker, signal.SIGKILL)                      # supervisord restarts it at once
        # supervisord shows EXITED until its next turn (up to a second) or restarts it first: both are seen
        worker_events = lambda: [e for e in events() if e["process"] == "worker"]  # noqa: E731
        assert run.wait_for(lambda: any(e["to_state"] == "RUNNING" for e in worker_events())), (run.out, run.err)
        first = worker_events()[0]
        assert (first["host"], first["from_state"], first["exitstatus"]) == ("web02", "RUNNING", -1), first
        if first["to_state"] == "EXITED":
            assert (first["expected"], first["pid"]) == (False, worker), first
        else:
            assert first["to_state"] in ("STARTING", "RUNNING") and first["pid"] not in (0, worker), first
        assert worker_events()[-1]["pid"] not in (0, worker)
        assert all(e["host"] == "web01" or e["process"] == "worker" for e in events())   # nothing else moved
    finally:
        efleet.supervisorctl("web01", "start", "job")
        code = run.interrupt()
    assert code == 130 and not any("Traceback" in line for line in run.err), run.err


def test_a_host_whose_sshd_freezes_is_down_once_then_up_with_what_changed_meanwhile(efleet, running,
                                                                                    home) -> None:
    host = efleet.host("web02")
    run = started(running, efleet, home)
    frozen = [host.sshd_pid, *descendants(host.sshd_pid)]   # the listener and the session herd holds
    try:
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        assert run.wait_for(lambda: any("web02  -  unreachable: " in line for line in run.out)), (run.out, run.err)
        job = pid_of(efleet, "web02", "job")                 # supervisorctl: the local socket, not sshd
        os.kill(job, signal.SIGTERM)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    try:
        assert run.wait_for(lambda: any("answers again" in line for line in run.out), 60), (run.out, run.err)
        assert run.wait_for(lambda: any("  job  " in line for line in run.out)), (run.out, run.err)
        lines = [line.split("  ", 1)[1] for line in run.out]
        assert len([line for line in lines if "unreachable" in line]) == 1, lines
        assert lines[0].startswith("web02  -  unreachable: "), lines
        assert lines[1] == "web02  -  answers again", lines
        assert lines[2].startswith(f"web02  job  RUNNING -> EXITED  exit status 3, unexpected; pid {job}"), lines
    finally:
        efleet.supervisorctl("web02", "start", "job")
        assert run.interrupt() == 130


def test_pending_config_is_reported_when_it_appears_and_when_it_clears(efleet, running, home) -> None:
    conf = Path(efleet.host("web01").conf_path)
    original = conf.read_text()
    run = started(running, efleet, home, "--pending-every", "1")
    try:
        conf.write_text(original + "\n[program:extra]\ncommand=/bin/sleep 1000\n")
        assert run.wait_for(lambda: any("config pending" in line for line in run.out)), (run.out, run.err)
        conf.write_text(original)
        assert run.wait_for(lambda: any("cleared" in line for line in run.out)), (run.out, run.err)
        lines = [line.split("  ", 1)[1] for line in run.out]
        assert lines == ["web01  -  config pending: added: extra", "web01  -  config pending: cleared: nothing pending"]
    finally:
        conf.write_text(original)
        efleet.supervisorctl("web01", "reread")
        run.interrupt()
