"""`herd rolling-restart` in process over fake supervisords: the gate kept for --resume, the failed
process retried, hosts left alone shown and counted, and the inventory's ``rolling:`` settings.

The command runs as the CLI runs it (click, the inventory, the state file,
the output); only the fleet is the fake one (herd.testing.fake), so every
decision here is exercised fast.  tests/test_rolling_fleet.py resumes a
halted roll behind the same --http gate on real hosts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from herd.cli import run_command
from herd.errors import EXIT_FAILED, EXIT_NOT_RUNNING, EXIT_OK, EXIT_USAGE
from herd.operations.rolling.state import StateFile
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet
from helpers import wait_until

TORNADO = [f"tornado:tornado-{p}" for p in range(8080, 8084)]
HTTP = "http://127.0.0.1:{port}/health"


def make_hosts(count: int = 2) -> list[FakeHost]:
    hosts = [FakeHost(f"web{i:02d}", FakeSupervisor([ProgramSpec("tornado", numprocs=4, numprocs_start=8080)]))
             for i in range(1, count + 1)]
    for host in hosts:
        host.listening = set(range(8080, 8084))
    return hosts


class Cli:
    """``herd rolling-restart`` with the fleet swapped for fake hosts; an inventory and a state file in tmp."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hosts: list[FakeHost],
                 rolling: str = "") -> None:
        self.hosts = {h.name: h for h in hosts}
        self.inventory = tmp_path / "inv.yaml"
        self.inventory.write_text("hosts:\n" + "".join(f"  {h.name}: {{}}\n" for h in hosts) + rolling)
        self.state = tmp_path / "roll.json"
        monkeypatch.setattr("herd.cli.rolling.open_fleet", self._fleet)

    def _fleet(self, opts: Any, *, default_all: bool, selected: Any) -> Any:
        return fake_fleet([self.hosts[h.name] for h in selected[1]])

    def __call__(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        code = run_command(["rolling-restart", "tornado", "-i", str(self.inventory), "--state-file", str(self.state),
                            *args])
        out, err = capsys.readouterr()
        return code, out, err

    def saved(self) -> Any:
        return StateFile(self.state).load()


def states(host: FakeHost) -> dict[str, str]:
    return {name: host.supervisor.info(name)["statename"] for name in TORNADO}


def pids(host: FakeHost) -> dict[str, int]:
    return {name: host.supervisor.info(name)["pid"] for name in TORNADO}


def test_a_halted_roll_resumes_behind_its_recorded_gate_and_retries_the_failed_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts()
    web01, web02 = hosts
    roll = Cli(tmp_path, monkeypatch, hosts)
    web01.supervisor.break_program("tornado")
    code, out, _ = roll(capsys, "--http", HTTP, "--min-healthy", "0.05", "--timeout-healthy", "2", "--per-host", "1")
    assert code == EXIT_FAILED, out
    assert states(web01)[TORNADO[0]] == "FATAL"
    saved = roll.saved()
    assert saved.options["http"] == HTTP and saved.options["min_healthy"] == 0.05
    assert saved.options["timeout_healthy"] == 2.0 and saved.hosts["web01"].failed == [TORNADO[0]]

    web01.supervisor.break_program("tornado", fails=False)   # the fixed build
    web02.http_status = 503      # the recorded probe must gate the resumed roll: web02 now fails it
    before = pids(web01)
    code, out, err = roll(capsys, "--resume", "--min-healthy", "0.1", "-v")
    assert [l for l in err.splitlines() if "resume:" in l] == [
        "herd: resume: --min-healthy 0.1 from the command line overrides the recorded 0.05"]
    assert f"gate: RUNNING, same pid for 0.1s, probe --http {HTTP}; within 2s; stop at the first failed host" \
        in out.splitlines()
    lines = out.splitlines()
    assert f"  batch 1/2  web01: {', '.join(TORNADO)}" in lines   # the failed process first, FATAL as it is
    assert code == EXIT_FAILED            # web02 failed the recorded --http probe
    assert f"         {TORNADO[0]}: FAILED in probe: probe failing after 2 s: GET " \
           f"http://127.0.0.1:8080/health -> 503" in lines
    first = lines.index(next(line for line in lines if line.startswith("web01  done")))
    assert lines[first + 1] == f"         {TORNADO[0]}: pid 0 -> {pids(web01)[TORNADO[0]]} " \
                               f"(GET http://127.0.0.1:8080/health -> 200)"   # retried first, behind the probe
    assert all(s == "RUNNING" for s in states(web01).values())
    assert all(pids(web01)[n] != before[n] for n in TORNADO[1:])
    assert roll.saved().hosts["web01"].status == "done" and roll.saved().hosts["web01"].failed == []

    web02.http_status = 200
    code, out, _ = roll(capsys, "--resume")
    assert code == EXIT_OK, out
    assert "web01" not in out.splitlines()[2] and out.splitlines()[2].startswith("  batch 1/1  web02: ")
    assert roll.saved().finished


def test_resume_without_recorded_options_the_command_line_alone_and_a_bad_recorded_option_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts(1)
    roll = Cli(tmp_path, monkeypatch, hosts)
    roll.state.write_text(json.dumps({"name": "tornado", "inventory": "x", "outcome": "halted",
                                      "options": {"min_healthy": -3}}))
    code, _, err = roll(capsys, "--resume")
    assert code == EXIT_USAGE
    assert err == "herd: Invalid value for '--min-healthy': -3.0 is not in the range x>=0.\n"
    code, out, _ = roll(capsys, "--resume", "--min-healthy", "0", "--dry-run")   # the command line wins, 0 too
    assert code == EXIT_OK and "gate: RUNNING, same pid for 0s; within 120s" in out


def test_a_host_left_alone_is_in_the_plan_the_report_the_exit_code_and_the_resume(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts()
    web01, web02 = hosts
    roll = Cli(tmp_path, monkeypatch, hosts)
    web01.client().call("supervisor.stopProcess", TORNADO[1], False)
    left = "tornado:tornado-8081, tornado:tornado-8080, tornado:tornado-8082, tornado:tornado-8083"
    skipped = (f"  skipped  web01: {TORNADO[1]} not RUNNING; restarting another would exceed --per-host 1 "
               f"(left alone: {left})")

    code, out, _ = roll(capsys, "--skip-unhealthy", "--min-healthy", "0.05", "--dry-run")
    assert code == EXIT_OK and skipped in out.splitlines()
    code, out, _ = roll(capsys, "--skip-unhealthy", "--min-healthy", "0.05", "--per-host", "1")
    assert code == EXIT_NOT_RUNNING, out
    lines = out.splitlines()
    assert skipped in lines
    assert any(line.startswith("web01  skipped") for line in lines)
    assert lines[-1].endswith("; left alone (not RUNNING): web01; continue with --resume")
    assert lines[-1].startswith("roll done: 4 of 4 process(es) restarted")
    assert states(web01)[TORNADO[1]] == "STOPPED"
    assert not roll.saved().finished and roll.saved().outcome == "done, skipped web01"

    again = roll(capsys, "--min-healthy", "0.05")    # the roll is not over: web01 is still to do
    assert again[0] == EXIT_USAGE and "continue it with --resume, or start over with --fresh" in again[2]
    web01.client().call("supervisor.startProcess", TORNADO[1], False)
    wait_until(lambda: states(web01)[TORNADO[1]] == "RUNNING", 5, "web01's process to run again")
    before = pids(web02)
    code, out, _ = roll(capsys, "--resume", "--min-healthy", "0.05")
    assert code == EXIT_OK, out
    assert out.splitlines()[2] == f"  batch 1/1  web01: {', '.join(TORNADO)}"
    assert pids(web02) == before and roll.saved().finished


def test_processes_left_alone_on_a_rolled_host_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts(1)
    roll = Cli(tmp_path, monkeypatch, hosts)
    hosts[0].client().call("supervisor.stopProcess", TORNADO[0], False)
    code, out, _ = roll(capsys, "--skip-unhealthy", "--min-healthy", "0.05", "--per-host", "2")
    assert code == EXIT_NOT_RUNNING, out
    assert out.splitlines()[-1].endswith("; left alone (not RUNNING): web01")
    assert roll.saved().finished      # everything it could restart is done: nothing to resume


ROLLING = f"""rolling:
  tornado:
    http: "{HTTP}"
    min_healthy: 0.05
    timeout_healthy: 3
    batch: 2
"""


def test_the_inventory_s_rolling_settings_are_used_and_the_command_line_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    roll = Cli(tmp_path, monkeypatch, make_hosts(), ROLLING)
    code, out, _ = roll(capsys, "--dry-run")
    assert code == EXIT_OK
    assert "in 1 batch(es) (--batch 2)" in out.splitlines()[1]
    assert f"gate: RUNNING, same pid for 0.05s, probe --http {HTTP}; within 3s; stop at the first failed host" in out
    code, out, _ = roll(capsys, "--dry-run", "--tcp", "{port}", "--timeout-healthy", "9", "--batch", "1")
    assert "in 2 batch(es) (--batch 1)" in out.splitlines()[1]
    assert "gate: RUNNING, same pid for 0.05s, probe --tcp {port}; within 9s; stop at the first failed host" in out
    code, out, _ = roll(capsys)
    assert code == EXIT_OK, out
    assert roll.saved().options["http"] == HTTP     # what the roll ran with, recorded for --resume


def test_an_inventory_value_only_the_engine_reads_is_refused_with_its_file_line_and_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    roll = Cli(tmp_path, monkeypatch, make_hosts(), "rolling:\n  tornado:\n    min_healthy: 1\n    batch: '1,0'\n")
    code, _, err = roll(capsys, "--dry-run")
    assert code == EXIT_USAGE
    assert err == f"herd: {roll.inventory}:7: rolling.tornado.batch: --batch 1,0: '0' must be at least 1\n"
    roll = Cli(tmp_path, monkeypatch, make_hosts(), "rolling:\n  tornado:\n    http: 'https://x/'\n")
    code, _, err = roll(capsys, "--dry-run")
    assert err == (f"herd: {roll.inventory}:6: rolling.tornado.http: --http https://x/: must be an http:// URL "
                   f"(https is not supported)\n")
    # the inventory is wrong whatever the command line says: it is refused even when overridden
    assert roll(capsys, "--dry-run", "--http", "http://127.0.0.1:{port}/")[0] == EXIT_USAGE


def test_the_page_s_options_layer_like_the_cli_s(tmp_path: Path) -> None:
    """herd web's roll form: the inventory's entry, then the resumed roll's recorded options, then the
    page's fields; an empty field or an unticked --skip-unhealthy is not given."""
    from herd.inventory.loader import load_inventory
    from herd.web.errors import Refused
    from herd.web.rolls import page_options

    path = tmp_path / "inv.yaml"
    path.write_text("hosts:\n  web01: {}\n" + ROLLING)
    inventory = load_inventory(str(path))
    body = {"name": "tornado", "min_healthy": "", "batch": "", "skip_unhealthy": False, "tcp": ""}
    options = page_options(body, inventory)
    assert options.gate.probe is not None and options.gate.probe.template == HTTP
    assert (options.gate.min_healthy, options.gate.timeout_healthy, str(options.batch[0])) == (0.05, 3.0, "2")
    resumed = page_options(body, inventory, {"min_healthy": 7, "skip_unhealthy": True, "tcp": "{port}"})
    assert resumed.gate.min_healthy == 7 and resumed.skip_unhealthy
    assert resumed.gate.probe is not None and resumed.gate.probe.kind == "tcp"
    assert page_options(dict(body, min_healthy="1"), inventory, {"min_healthy": 7}).gate.min_healthy == 1
    path.write_text("hosts:\n  web01: {}\nrolling:\n  tornado:\n    batch: '1,0'\n")
    with pytest.raises(Refused) as refused:
        page_options(body, load_inventory(str(path)))
    assert str(refused.value) == f"{path}:5: rolling.tornado.batch: --batch 1,0: '0' must be at least 1"
