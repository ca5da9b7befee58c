"""The CLI's audit trail over a real fleet: one entry per command that changes something, none for reads.

Every command here runs as the user does (``python -m herd``), with ``$HERD_AUDIT_LOG`` (or the
default path under the empty HOME) naming the trail; the entries are read back from the file.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from herd.audit import local_account
from herd.testing.pytest_plugin import module_fleet
from helpers import Running, herd, herd_env, wait_until
from test_interrupt_fleet import EXTRA, SLOW
from test_keeper_fleet import Keeping

afleet = module_fleet("audit", hosts=2, extra_config=EXTRA)   # groups: odd = web01, even = web02; slowstop


@pytest.fixture
def inv(afleet):
    """The inventory path; afterwards, every process of every host RUNNING again."""
    yield str(afleet.inventory_path)
    for host in afleet.hosts:
        afleet.supervisorctl(host.name, "start", "all")


def entries(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(path: Path, home: Path, *args: str):
    return herd(*args, home=home, env=herd_env(home, HERD_AUDIT_LOG=str(path)))


def test_a_restart_is_one_entry_with_user_via_hosts_and_result(afleet, home, inv, tmp_path):
    trail = tmp_path / "audit.jsonl"
    done = run(trail, home, "restart", "worker", "-H", "web01", "-i", inv)
    assert done.code == 0, done.err
    assert done.err == ""                       # the trail says nothing when it is written
    [entry] = entries(trail)
    assert entry["user"] == local_account() and entry["via"] == "cli" and entry["from"] == socket.gethostname()
    assert entry["action"] == "restart" and entry["targets"] == {"names": ["worker"]}
    assert entry["hosts"] == {"web01": ["web01 worker restarted"], "summary": ["1 host: 1 restarted"]}
    assert entry["result"] == "done" and entry["exit_code"] == 0
    assert entry["time"].endswith("+00:00") and len(entry["time"].split(".")[1]) == len("123+00:00")
    assert oct(trail.stat().st_mode & 0o777) == "0o600"


def test_reads_and_dry_runs_record_nothing(afleet, home, inv, tmp_path):
    trail = tmp_path / "audit.jsonl"
    for args in (["status"], ["tail", "worker", "-H", "web01"], ["pending"], ["avail"],
                 ["restart", "worker", "-a", "--dry-run"], ["update", "-a", "--dry-run"]):
        assert run(trail, home, *args, "-i", inv).code in (0, 1), args
    assert entries(trail) == []


def test_a_refused_stop_and_a_failed_one_are_recorded_as_such(afleet, home, inv, tmp_path):
    trail = tmp_path / "audit.jsonl"
    refused = run(trail, home, "stop", "all", "-a", "-i", inv)           # no terminal to ask, no --yes
    assert refused.code == 2
    missing = run(trail, home, "stop", "nosuch", "-H", "web01", "-i", inv)
    assert missing.code == 2
    assert afleet.supervisorctl("web02", "stop", "worker").returncode == 0
    failed = run(trail, home, "signal", "HUP", "worker", "-H", "web02", "-i", inv)
    assert failed.code == 1, failed.out + failed.err
    first, second, third = entries(trail)
    assert first["action"] == "stop" and first["targets"] == {"names": ["all"]}
    assert first["result"].startswith("refused: stop every process on 2 host(s) (web01, web02); no terminal")
    assert first["exit_code"] == 2 and first["hosts"] == {"web01": [], "web02": []}
    assert second["result"].startswith("refused: ") and "nosuch" in second["result"]
    assert third["action"] == "signal" and third["targets"] == {"names": ["worker"], "signal": "HUP"}
    assert third["result"] == f"failed: {failed.out.splitlines()[-1]}" and third["exit_code"] == 1
    assert third["hosts"]["web02"] == [" ".join(failed.out.splitlines()[0].split())]


def test_update_and_a_rolling_restart_are_one_entry_each(afleet, home, inv, tmp_path):
    trail = tmp_path / "audit.jsonl"
    update = run(trail, home, "update", "-a", "-i", inv)
    assert update.code == 0, update.err
    roll = run(trail, home, "rolling-restart", "worker", "-H", "web02", "--min-healthy", "0", "-i", inv)
    assert roll.code == 0, roll.out + roll.err
    up, rolled = entries(trail)
    assert up["action"] == "update" and up["result"] == "done" and set(up["hosts"]) >= {"web01", "web02"}
    assert rolled["action"] == "rolling-restart" and rolled["targets"] == {"name": "worker"}
    assert rolled["result"] == "done" and rolled["exit_code"] == 0 and rolled["via"] == "cli"
    assert rolled["hosts"]["web02"][0].startswith("web02 done 1/1")
    assert rolled["hosts"]["summary"][0].startswith("roll done: 1 of 1 process(es) restarted")


def test_the_default_trail_and_a_command_typed_in_the_shell(afleet, home, inv):
    typed = subprocess.run([sys.executable, "-m", "herd", "shell", "-i", inv], input="hosts -g even\nstart worker\n",
                           capture_output=True, text=True, timeout=120, env=herd_env(home))
    assert typed.returncode == 0, typed.stderr
    [entry] = entries(home / ".local" / "state" / "herd" / "audit.jsonl")
    assert entry["action"] == "start" and entry["hosts"]["web02"] == ["web02 worker already started"]
    assert entry["user"] == local_account() and entry["via"] == "cli" and entry["result"] == "done"


def test_an_unwritable_trail_warns_once_and_the_command_acts(afleet, home, inv, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory\n")         # (a read-only directory is writable to root)
    done = run(blocked / "audit.jsonl", home, "restart", "worker", "-H", "web01", "-i", inv)
    assert done.code == 0
    assert done.out.splitlines() == ["web01  worker  restarted", "1 host: 1 restarted"]
    assert done.err == (f"herd: cannot write the audit trail {blocked / 'audit.jsonl'}: Not a directory; "
                        "this change and later ones are not recorded there\n")


def test_an_interrupted_stop_records_what_it_left_stopped(afleet, home, inv):
    run = Running("stop", "slowstop", "-H", "web01", "-i", inv, home=home)
    try:
        wait_until(lambda: [afleet.process_states("web01")[n] for n in SLOW] == ["STOPPING", "STOPPING"], 30,
                   "slowstop STOPPING", give_up=lambda: run.proc.poll() is not None)
        code = run.interrupt()
    finally:
        run.kill()
    assert code == 130, run.out + run.err
    [entry] = entries(home / ".local" / "state" / "herd" / "audit.jsonl")
    assert entry["action"] == "stop" and entry["exit_code"] == 130
    assert entry["result"] == "interrupted: web01: slowstop:slowstop-0, slowstop:slowstop-1 left STOPPED"


def test_commands_a_keeper_runs_are_recorded_as_run_directly(afleet, inv, tmp_path):
    keeping = Keeping(tmp_path)
    try:
        for _ in range(2):
            kept = keeping.kept("restart", "worker", "-H", "web02", "-i", inv)
            assert kept.code == 0, kept.err
        assert len(keeping.keepers()) == 1                   # the second ran in the keeper the first started
    finally:
        keeping.stop()
    first, second = entries(keeping.state / "herd" / "audit.jsonl")
    for entry in (first, second):
        assert (entry["action"], entry["via"], entry["user"], entry["result"]) == ("restart", "cli", local_account(),
                                                                                   "done")
        assert entry["hosts"]["web02"] == ["web02 worker restarted"]
