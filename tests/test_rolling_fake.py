"""The rolling runner's logic in process, against fake supervisords (herd.testing.fake).

tests/test_rolling_fleet.py proves the same roll end to end through sshd and
real supervisords; here every decision of the runner is exercised fast:
capacity, halting, --max-fail, interrupt and resume, the per-host allowance,
connection loss mid-restart, and the probes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from herd.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NOT_RUNNING, EXIT_OK
from herd.operations.rolling.gate import GateSpec
from herd.operations.rolling.plan import parse_batch
from herd.operations.rolling.probes import Probe
from herd.errors import RollRefused
from herd.operations.rolling.runner import RollOptions, RollRunner, preflight
from herd.operations.rolling.state import RollState, StateFile
from herd.supervisor.models import ProcessState
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet

TORNADO = [f"tornado:tornado-{p}" for p in range(8080, 8084)]


def make_hosts(count: int = 3) -> list[FakeHost]:
    return [FakeHost(f"web{i:02d}", FakeSupervisor([ProgramSpec("tornado", numprocs=4, numprocs_start=8080),
                                                    ProgramSpec("worker")]))
            for i in range(1, count + 1)]


def pids(host: FakeHost) -> dict[str, int]:
    return {name: host.supervisor.info(name)["pid"] for name in [*TORNADO, "worker"]}


class Roll:
    """preflight + RollRunner as the CLI drives them, with events recorded."""

    def __init__(self, hosts: list[FakeHost], tmp_path: Path, **options: Any) -> None:
        self.hosts = hosts
        self.fleet = fake_fleet(hosts)
        gate = GateSpec(options.pop("min_healthy", 0.05), options.pop("timeout_healthy", 2.0),
                        options.pop("probe", None))
        self.options = RollOptions(name=options.pop("name", "tornado"), batch=parse_batch(options.pop("batch", "1")),
                                   gate=gate, **options)
        self.state_file = StateFile(tmp_path / "roll.json")
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.on_event = lambda kind, data: None

    def run(self, resume: bool = False) -> Any:
        state = self.state_file.load() if resume else RollState(self.options.name, "inv.yaml")
        plan = preflight(self.fleet, self.options, state if resume else None)
        self.runner = RollRunner(self.fleet, plan, self.options, state, self.state_file, self._record)
        return self.runner.run()

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))
        self.on_event(kind, data)


class DownWatcher:
    """Samples every fake host and keeps the most tornado processes seen down at once."""

    def __init__(self, hosts: list[FakeHost]) -> None:
        self.hosts = hosts
        self.most_total = 0
        self.most_per_host = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "DownWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            down = [sum(h.supervisor.info(n)["state"] != ProcessState.RUNNING for n in TORNADO) for h in self.hosts]
            self.most_total = max(self.most_total, sum(down))
            self.most_per_host = max(self.most_per_host, max(down))
            time.sleep(0.002)


def test_a_roll_restarts_every_process_one_at_a_time_and_nothing_else(tmp_path: Path) -> None:
    hosts = make_hosts(3)
    before = {h.name: pids(h) for h in hosts}
    with DownWatcher(hosts) as watcher:
        report = Roll(hosts, tmp_path).run()
    assert report.outcome == "done" and report.exit_code == EXIT_OK
    for host in hosts:
        after = pids(host)
        assert all(after[n] != before[host.name][n] for n in TORNADO)
        assert after["worker"] == before[host.name]["worker"]
    assert watcher.most_total == 1


def test_batches_and_per_host_bound_capacity(tmp_path: Path) -> None:
    hosts = make_hosts(3)
    with DownWatcher(hosts) as watcher:
        report = Roll(hosts, tmp_path, batch="1,100%", per_host=2).run()
    assert report.outcome == "done"
    assert [len(b) for b in report.plan.batches] == [1, 2]
    assert watcher.most_per_host == 2 and watcher.most_total <= 4


def test_the_first_failed_host_halts_the_roll(tmp_path: Path) -> None:
    hosts = make_hosts(3)
    hosts[1].supervisor.break_program("tornado")
    untouched = pids(hosts[2])
    report = Roll(hosts, tmp_path).run()
    assert report.outcome == "halted" and report.exit_code == EXIT_FAILED
    states = [hosts[1].supervisor.info(n)["statename"] for n in TORNADO]
    assert states == ["FATAL", "RUNNING", "RUNNING", "RUNNING"]   # exactly one down, left as supervisord has it
    assert pids(hosts[2]) == untouched
    by_host = {r.host: r for r in report.hosts}
    assert by_host["web02"].status == "failed" and by_host["web03"].status == "untouched"
    failed = by_host["web02"].processes[-1]
    assert failed.phase == "start" and "FATAL while starting" in failed.detail


def test_max_fail_lets_the_others_finish(tmp_path: Path) -> None:
    hosts = make_hosts(3)
    hosts[0].supervisor.break_program("tornado")
    report = Roll(hosts, tmp_path, max_fail=1).run()
    assert report.outcome == "done" and report.exit_code == EXIT_FAILED
    assert [r.status for r in report.hosts] == ["failed", "done", "done"]


def test_interrupt_restarts_the_process_in_flight_and_resume_finishes(tmp_path: Path) -> None:
    hosts = make_hosts(2)
    before = {h.name: pids(h) for h in hosts}
    roll = Roll(hosts, tmp_path)

    def interrupt_after_the_first(kind: str, data: dict[str, Any]) -> None:
        if kind == "phase" and data["phase"] == "stopping" and data["process"] == TORNADO[1]:
            roll.runner.interrupt()   # while the second process is being stopped

    roll.on_event = interrupt_after_the_first
    report = roll.run()
    assert report.outcome == "interrupted" and report.exit_code == EXIT_INTERRUPTED
    assert all(h.supervisor.info(n)["statename"] == "RUNNING" for h in hosts for n in TORNADO)
    done_first = [n for n in TORNADO if pids(hosts[0])[n] != before["web01"][n]]
    assert done_first == TORNADO[:2]
    assert pids(hosts[1]) == before["web02"]

    middle = {h.name: pids(h) for h in hosts}
    roll.on_event = lambda kind, data: None
    resumed = roll.run(resume=True)
    assert resumed.outcome == "done"
    after = pids(hosts[0])
    assert [after[n] == middle["web01"][n] for n in TORNADO] == [True, True, False, False]  # none twice
    assert all(pids(hosts[1])[n] != before["web02"][n] for n in TORNADO)


def test_unhealthy_targets_refuse_the_roll_unless_skipped(tmp_path: Path) -> None:
    hosts = make_hosts(2)
    hosts[0].client().call("supervisor.stopProcess", TORNADO[0], False)
    before = {h.name: pids(h) for h in hosts}
    with pytest.raises(RollRefused) as refused:
        Roll(hosts, tmp_path).run()
    assert refused.value.exit_code == EXIT_NOT_RUNNING
    assert refused.value.problems == ["web01 tornado:tornado-8080 is STOPPED"]
    assert {h.name: pids(h) for h in hosts} == before

    # one already down uses up web01's --per-host 1 allowance: the host is left alone
    report = Roll(hosts, tmp_path, skip_unhealthy=True).run()
    assert report.outcome == "done"
    assert pids(hosts[0]) == before["web01"]
    assert hosts[0].supervisor.info(TORNADO[0])["statename"] == "STOPPED"
    web01 = next(r for r in report.hosts if r.host == "web01")
    assert web01.status == "skipped" and "exceed --per-host 1" in web01.notes[0]


def test_per_host_two_with_one_down_restarts_one_at_a_time(tmp_path: Path) -> None:
    hosts = make_hosts(1)
    hosts[0].client().call("supervisor.stopProcess", TORNADO[0], False)
    before = pids(hosts[0])
    with DownWatcher(hosts) as watcher:
        report = Roll(hosts, tmp_path, skip_unhealthy=True, per_host=2).run()
    assert report.outcome == "done"
    after = pids(hosts[0])
    assert all(after[n] != before[n] for n in TORNADO[1:]) and after[TORNADO[0]] == 0
    assert watcher.most_per_host == 2   # the stopped one plus one in flight


def test_connection_lost_mid_restart_reconnects_and_starts_the_process_again(tmp_path: Path) -> None:
    hosts = make_hosts(1)
    roll = Roll(hosts, tmp_path)

    def drop_before_the_start(kind: str, data: dict[str, Any]) -> None:
        if kind == "phase" and data["phase"] == "starting" and data["process"] == TORNADO[0]:
            hosts[0].drop_next_calls(1)   # startProcess fails: the connection dropped

    roll.on_event = drop_before_the_start
    report = roll.run()
    result = report.hosts[0].processes[0]
    assert not result.ok and result.phase == "connection"
    assert "reconnected and started it again" in result.detail
    time.sleep(0.1)
    assert hosts[0].supervisor.info(TORNADO[0])["statename"] == "RUNNING"
    assert report.outcome == "halted" and report.hosts[0].status == "failed"


@pytest.mark.parametrize("probe, setup, ok, detail", [
    (Probe("http", "http://127.0.0.1:{port}/health"), {"listening": True, "http_status": 200}, True, "-> 200"),
    (Probe("http", "http://127.0.0.1:{port}/health"), {"listening": True, "http_status": 503}, False, "-> 503"),
    (Probe("tcp", "{port}"), {"listening": False}, False, "nothing accepts connections on 127.0.0.1:8080"),
    (Probe("cmd", "check {process}"), {"command_status": 1}, False, "exited 1"),
    (Probe("cmd", "check {process}"), {"command_status": 0}, True, "exited 0"),
])
def test_probes_gate_each_process(tmp_path: Path, probe: Probe, setup: dict[str, Any], ok: bool,
                                  detail: str) -> None:
    hosts = make_hosts(1)
    host = hosts[0]
    if setup.get("listening"):
        host.listening = set(range(8080, 8084))
    host.http_status = setup.get("http_status", 200)
    host.commands = {f"check {n}": setup.get("command_status", 0) for n in TORNADO}
    report = Roll(hosts, tmp_path, probe=probe, timeout_healthy=0.5).run()
    first = report.hosts[0].processes[0]
    assert first.ok is ok, first
    assert detail in first.detail
    if not ok:
        assert first.phase == "probe" and report.outcome == "halted"
        assert len(report.hosts[0].processes) == 1   # halted at the first failing process
