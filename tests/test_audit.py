"""The audit trail file (herd/audit.py) in process: rotation, concurrent writers, reading back, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import herd
from herd import audit as audit_module
from herd.audit import AuditFilter, AuditTrail, default_audit_path, host_lines, scrub
from herd.cli.trail import Recorder, left_by
from herd.operations.outcomes import ActionReport, HostOutcomes, LeftStopped, Outcome


def lines_of(trail: AuditTrail) -> list[str]:
    """Every line of every file, oldest first."""
    return [line for path in reversed(trail.files()) if path.exists() for line in path.read_text().splitlines()]


def test_the_default_path_is_shared_and_the_environment_overrides_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HERD_AUDIT_LOG", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_audit_path() == tmp_path / "state" / "herd" / "audit.jsonl"
    monkeypatch.setenv("HERD_AUDIT_LOG", str(tmp_path / "mine.jsonl"))
    assert default_audit_path() == tmp_path / "mine.jsonl"


def test_an_entry_is_one_line_with_its_fields_in_order_and_the_file_is_private(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "deep" / "audit.jsonl")
    trail.record("restart", {"names": ["worker"]}, "done", user="alice", via="cli", client="ops1",
                 hosts={"web01": ["web01 worker restarted"]}, exit_code=0)
    [line] = trail.path.read_text().splitlines()
    entry = json.loads(line)
    assert list(entry) == ["time", "user", "via", "from", "action", "targets", "hosts", "result", "exit_code"]
    assert entry["from"] == "ops1" and entry["hosts"] == {"web01": ["web01 worker restarted"]}
    assert oct(trail.path.stat().st_mode & 0o777) == "0o600"
    assert oct(trail.path.parent.stat().st_mode & 0o777) == "0o700"


def test_rotation_by_size_keeps_keep_files_and_drops_the_oldest(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl", max_bytes=1000, keep=2)
    for number in range(60):
        trail.record("start", {"n": number}, "done", user="u")
    files = [p for p in trail.files() if p.exists()]
    assert files == [trail.path, tmp_path / "audit.jsonl.1", tmp_path / "audit.jsonl.2"]
    assert not (tmp_path / "audit.jsonl.3").exists()
    assert all(p.stat().st_size <= 1000 for p in files)
    kept = [json.loads(line)["targets"]["n"] for line in lines_of(trail)]
    assert kept == list(range(60 - len(kept), 60)) and 10 < len(kept) < 60     # the newest, in order, whole


def test_two_processes_appending_at_once_lose_and_tear_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = textwrap.dedent(f"""
        import sys
        from herd.audit import AuditTrail
        trail = AuditTrail({str(path)!r}, max_bytes=20000, keep=100)
        for n in range(400):
            trail.record("restart", {{"writer": sys.argv[1], "n": n, "pad": "x" * (n % 50)}}, "done")
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(herd.__file__).resolve().parent.parent))
    procs = [subprocess.Popen([sys.executable, "-c", writer, name], env=env) for name in ("a", "b")]
    assert [p.wait(60) for p in procs] == [0, 0]
    trail = AuditTrail(path, max_bytes=20000, keep=100)
    rotated = [p for p in trail.files() if p.exists()]
    assert len(rotated) > 5                                  # they rotated many times, while both wrote
    assert all(p.stat().st_size <= 20000 for p in rotated)
    entries = [json.loads(line) for line in lines_of(trail)]     # a torn line would not parse
    for name in ("a", "b"):
        assert [e["targets"]["n"] for e in entries if e["targets"]["writer"] == name] == list(range(400))
    assert len(trail.read(limit=1000)) == 800


def fill(trail: AuditTrail) -> None:
    trail.record("restart", {"names": ["worker"]}, "done", user="alice", via="cli",
                 hosts={"web01": ["web01 worker restarted"], "summary": ["1 host: 1 restarted"]})
    trail.record("stop", {"targets": [{"host": "web02", "name": "tornado"}]}, "refused: no role", user="bob",
                 via="proxy")
    trail.record("update", {"hosts": ["web01", "web02"]}, "failed: 2 hosts: 1 failed", user="alice", via="token",
                 hosts={"web01": [], "web02": ["web02 config: config does not parse"]}, env="staging")
    trail.record("restart", {"names": ["tornado"]}, "done", user="bob", via="cli",
                 hosts={"web02": ["web02 tornado restarted"]}, env="production")


def test_read_newest_first_with_filters_across_rotated_files(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl", max_bytes=450, keep=5)
    fill(trail)
    assert (tmp_path / "audit.jsonl.2").exists()            # spread over three files at least
    assert [e["action"] for e in trail.read()] == ["restart", "update", "stop", "restart"]
    assert [e["user"] for e in trail.read(AuditFilter(action="restart"))] == ["bob", "alice"]
    assert [e["action"] for e in trail.read(AuditFilter(user="ALICE"))] == ["update", "restart"]
    assert [e["action"] for e in trail.read(AuditFilter(host="web02"))] == ["restart", "update", "stop"]
    assert [e["user"] for e in trail.read(AuditFilter(result="refused"))] == ["bob"]
    assert [e["action"] for e in trail.read(AuditFilter(q="does not PARSE"))] == ["update"]
    assert [e["action"] for e in trail.read(AuditFilter(env="staging"))] == ["update", "stop", "restart"]
    assert [e["action"] for e in trail.read(limit=2)] == ["restart", "update"]
    assert trail.read(AuditFilter(user="alice", host="web02", result="done")) == []
    assert [e["user"] for e in trail.read(where=lambda e: e["via"] == "proxy")] == ["bob"]


def test_a_corrupt_or_torn_line_is_skipped(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl")
    trail.record("start", {}, "done", user="one")
    with trail.path.open("a") as raw:
        raw.write('{"time": "2026-12-04T00:00:00.000+00:00", "user": "torn", "act\n[1, 2]\n\x00\x00 garbage\n')
    trail.record("stop", {}, "done", user="two")
    with trail.path.open("a") as raw:
        raw.write('{"user": "half", "action": "sto')           # the last line, without its end
    assert [e["user"] for e in trail.read()] == ["two", "one"]


def test_reading_stops_at_the_limit_and_holds_no_more_than_a_block(tmp_path: Path, monkeypatch) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl", max_bytes=50 * 1024 * 1024)
    line = json.dumps({"user": "u", "action": "start", "targets": {"pad": "y" * 200}, "result": "done"}) + "\n"
    trail.path.write_text(line * 20000)                      # ~4.5 MB
    read = []
    real = os.pread

    def counted(fd: int, size: int, offset: int) -> bytes:
        read.append(size)
        return real(fd, size, offset)

    monkeypatch.setattr(audit_module.os, "pread", counted)
    assert len(trail.read(limit=5)) == 5
    assert sum(read) <= audit_module.READ_BLOCK
    read.clear()
    assert trail.read(AuditFilter(user="nobody"), limit=5) == []      # a miss scans, a block at a time
    assert max(read) <= audit_module.READ_BLOCK and sum(read) >= trail.path.stat().st_size


def test_no_token_password_or_cookie_reaches_the_file(tmp_path: Path) -> None:
    secrets = ["s3cr3t-token-value", "hunter2-password", "cookie-value-123", "csrf-value-456", "bearer-abcdefgh"]
    trail = AuditTrail(tmp_path / "audit.jsonl")
    trail.record("roll", {"token": secrets[0], "password": secrets[1], "Cookie": secrets[2],
                          "nested": [{"X-CSRF-Token": secrets[3], "name": "tornado"}],
                          "http": f"http://127.0.0.1:8080/health?token={secrets[0]}&x=1",
                          "cmd": f"curl -H 'Authorization: Bearer {secrets[4]}' localhost"},
                 "failed: password=hunter2-password refused", user="alice", via="password",
                 hosts={"token-db": [f"token-db login with password={secrets[1]}"]}, session_id="abc", authorization="x")
    text = trail.path.read_text()
    for secret in secrets[:4] + [secrets[4], "abc"]:
        assert secret not in text.replace("token-db", ""), secret
    entry = json.loads(text)
    assert entry["targets"]["nested"] == [{"name": "tornado"}] and "token-db" in entry["hosts"]
    assert entry["targets"]["http"] == "http://127.0.0.1:8080/health?token=<hidden>&x=1"
    assert entry["result"] == "failed: password=<hidden> refused"
    assert "session_id" not in entry and "authorization" not in entry


def test_scrub_keeps_what_is_not_a_secret() -> None:
    kept = {"names": ["worker"], "signal": "HUP", "hosts": ["web01"], "batch": "1,25%", "min_healthy": 0}
    assert scrub(kept) == kept


def test_an_unwritable_trail_warns_once_and_does_not_raise(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    said: list[str] = []
    trail = AuditTrail(tmp_path / "file" / "audit.jsonl", warn=said.append)
    for _ in range(3):
        trail.record("start", {}, "done")
    assert said == [f"herd: cannot write the audit trail {tmp_path / 'file' / 'audit.jsonl'}: Not a directory; "
                    "this change and later ones are not recorded there"]
    with pytest.raises(OSError):
        trail.check()
    assert trail.read() == []


def test_host_lines_group_a_commands_and_a_rolls_output() -> None:
    assert host_lines(["web01  worker  stopped", "web02  nosuch: no such process", "2 hosts: 1 stopped; 1 failed"],
                      ["web01", "web02", "web03"]) == {
        "web01": ["web01 worker stopped"], "web02": ["web02 nosuch: no such process"], "web03": [],
        "summary": ["2 hosts: 1 stopped; 1 failed"]}
    assert host_lines(["web01  done       1/1", "         tornado: pid 1 -> 2", "roll done: 1 of 1"], ["web01"]) == {
        "web01": ["web01 done 1/1", "tornado: pid 1 -> 2"], "summary": ["roll done: 1 of 1"]}


def test_an_interrupted_command_says_what_it_left() -> None:
    report = ActionReport("restart", [HostOutcomes("web01", [Outcome("worker", "stopped")])], interrupted=True,
                          left_stopped=[LeftStopped("web01", ["worker"]), LeftStopped("web02", ["a", "b"], False)])
    assert left_by(report) == "web01: worker left STOPPED; web02: a, b may be left STOPPED"
    recorder = Recorder("restart", hosts=["web01"], lines=["web01  worker  stopped", "1 host: 1 stopped"],
                        interrupted=left_by(report))
    assert recorder.outcome(130, None) == ("interrupted: web01: worker left STOPPED; web02: a, b may be left "
                                           "STOPPED", 130)
    assert Recorder("stop", hosts=[]).outcome(None, KeyboardInterrupt()) == ("interrupted: nothing was changed", 130)
    assert left_by(ActionReport("stop", [], interrupted=True)) == ("the steps in flight were finished; nothing was "
                                                                   "left stopped")


def test_a_commands_result_says_done_refused_or_failed() -> None:
    from herd.errors import HerdError, NotConfirmed, UsageError

    lines = ["web01  worker: no such process", "1 host: 1 failed"]
    assert Recorder("stop", hosts=["web01"]).outcome(0, None) == ("done", 0)
    assert Recorder("stop", hosts=["web01"], lines=lines).outcome(1, None) == ("failed: 1 host: 1 failed", 1)
    assert Recorder("stop", hosts=[]).outcome(None, UsageError("no NAME")) == ("refused: no NAME", 2)
    assert Recorder("stop", hosts=[]).outcome(None, NotConfirmed()) == (
        "refused: not confirmed; nothing was changed", 1)                  # the user said no at the prompt
    assert Recorder("stop", hosts=[]).outcome(None, HerdError("it broke")) == ("failed: it broke", 1)
    assert Recorder("rolling-restart", hosts=[], refused="tornado is FATAL on web01").outcome(3, None) == (
        "refused: tornado is FATAL on web01", 3)


def test_guards_remediation_restarts_are_recorded_as_user_guard(tmp_path: Path, monkeypatch) -> None:
    from herd.cli.guard import _audited
    from herd.operations.guard.remedy import Remediator, gates_from
    from helpers import wait_until
    from test_guard_remedy import GATE, Meter, Setup, hosts_of, inventory

    monkeypatch.setenv("HERD_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    hosts = hosts_of(1, Meter(probe_time=0.01))
    setup = Setup(hosts, Remediator(gates_from(inventory(tmp_path, 1, GATE)), max_percent=100, audit=_audited()))
    with setup.watching():
        setup.rule.leak(hosts[0], "tornado")
        wait_until(lambda: setup.said("restarted tornado on web01"), 30, "the restart")
    [entry] = AuditTrail(tmp_path / "audit.jsonl").read()
    assert (entry["user"], entry["via"], entry["action"], entry["result"]) == ("guard", "guard", "restart", "done")
    assert entry["targets"] == {"names": ["tornado"], "rule": "rss"}
    assert entry["hosts"] == {"web01": [setup.said("restarted tornado on web01")[0].removeprefix("remediation: ")]}


def test_herd_web_refuses_to_start_unable_to_write_its_trail(tmp_path: Path, capsys) -> None:
    from herd.cli import run_command

    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("hosts:\n  web01: {}\n")
    (tmp_path / "file").write_text("")
    code = run_command(["web", "-i", str(inventory), "--listen", "127.0.0.1:0",
                        "--audit-log", str(tmp_path / "file" / "audit.jsonl")])
    assert code == 2
    assert capsys.readouterr().err == (f"herd: cannot write the audit trail {tmp_path / 'file' / 'audit.jsonl'}: "
                                       "Not a directory\n")
