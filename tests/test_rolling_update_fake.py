"""The rolling update's logic in process, on fake supervisords that keep config as supervisord does.

tests/test_rolling_update_fleet.py rolls real config files through sshd and
real supervisords; here each decision is exercised fast: one host at a
time, each process started once on the new config, a bad config halting,
numprocs, added and removed groups, Ctrl-C mid-host, --resume, a lost
connection, pre-flight refusals and rolling-restart's pending check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from herd.errors import Faults, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NOT_RUNNING, EXIT_OK, EXIT_USAGE, RollRefused, UsageError
from herd.operations.rolling.options import roll_options
from herd.operations.rolling.runner import RollRunner, preflight
from herd.operations.rolling.state import RollState, StateFile
from herd.testing.fake import TORNADO_V2, FakeHost, ProgramSpec, fake_fleet, fault, tornado_hosts

TORNADO = [f"tornado:tornado-{p}" for p in range(8080, 8084)]


class Update:
    """preflight + RollRunner for a rolling update, as the CLI drives them, with events recorded."""

    def __init__(self, hosts: list[FakeHost], tmp_path: Path, *groups: str, **options: Any) -> None:
        self.hosts = hosts
        self.fleet = fake_fleet(hosts)
        options.setdefault("min_healthy", 0.05)
        options.setdefault("timeout_healthy", 3)
        self.options = roll_options(" ".join(groups) or "all", update=True, groups=groups, **options)
        self.state_file = StateFile(tmp_path / "update.json")
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.on_event = lambda kind, data: None

    def plan(self, resume: bool = False) -> Any:
        state = self.state_file.load() if resume else None
        return preflight(self.fleet, self.options, state)

    def run(self, resume: bool = False) -> Any:
        state = self.state_file.load() if resume else RollState(self.options.name, "inv.yaml")
        assert state is not None
        plan = preflight(self.fleet, self.options, state if resume else None)
        self.runner = RollRunner(self.fleet, plan, self.options, state, self.state_file, self._record)
        return self.runner.run()

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))
        self.on_event(kind, data)


def serving(hosts: list[FakeHost]) -> dict[str, int]:
    return {h.name: len(h.serving_ports()) for h in hosts}


def test_one_host_at_a_time_each_process_started_once_on_the_new_config(tmp_path):
    hosts = tornado_hosts(3, changed=["web01", "web02", "web03"])
    roll = Update(hosts, tmp_path, "tornado")
    seen: list[dict[str, int]] = []
    roll.on_event = lambda kind, data: seen.append(serving(hosts)) if kind == "group" else None
    report = roll.run()
    assert report.exit_code == EXIT_OK and report.outcome == "done"
    assert [[t.host for t in batch] for batch in report.plan.batches] == [["web01"], ["web02"], ["web03"]]
    # when a host's group was about to bounce, every other host served all of its ports
    assert seen == [{"web01": 4, "web02": 4, "web03": 4}] * 3
    for host in hosts:
        supervisor = host.supervisor
        assert supervisor.running_config("tornado").command == TORNADO_V2
        assert {n: supervisor.starts[n] for n in TORNADO} == dict.fromkeys(TORNADO, 1)
        assert "worker" not in supervisor.starts          # nothing else touched
    assert [(h.host, h.status, len(h.processes)) for h in report.hosts] == [
        ("web01", "done", 4), ("web02", "done", 4), ("web03", "done", 4)]


def test_hosts_without_a_change_are_left_alone_and_said(tmp_path):
    hosts = tornado_hosts(3, changed=["web02"])
    report = Update(hosts, tmp_path, "tornado").run()
    assert report.exit_code == EXIT_OK
    assert [(h.host, h.status, h.notes) for h in report.hosts] == [
        ("web01", "skipped", ["no pending config change"]), ("web02", "done", []),
        ("web03", "skipped", ["no pending config change"])]
    assert hosts[0].supervisor.starts == {} and hosts[2].supervisor.starts == {}


def test_a_new_config_that_fails_halts_after_its_first_host(tmp_path):
    hosts = tornado_hosts(3, changed=["web01", "web02", "web03"], command="/bin/false", fails=True)
    report = Update(hosts, tmp_path, "tornado", timeout_healthy=10).run()
    assert report.outcome == "halted" and report.exit_code == EXIT_FAILED
    web01 = report.hosts[0]
    assert web01.status == "failed"
    assert {p.name: (p.ok, p.phase) for p in web01.processes} == dict.fromkeys(TORNADO, (False, "start"))
    assert all(p.detail.startswith("FATAL while starting") for p in web01.processes)
    assert [h.status for h in report.hosts[1:]] == ["untouched", "untouched"]
    assert hosts[1].supervisor.starts == {} and hosts[2].supervisor.starts == {}
    assert serving(hosts[1:]) == {"web02": 4, "web03": 4}


def test_resume_after_a_fixed_config_retries_the_failed_host_first(tmp_path):
    hosts = tornado_hosts(2, changed=["web01", "web02"], command="/bin/false", fails=True)
    first = Update(hosts, tmp_path, "tornado", timeout_healthy=10).run()
    assert first.outcome == "halted"
    for host in hosts:                                  # the build is fixed
        host.supervisor.edit_config("tornado", command=TORNADO_V2, fails=False)
    # a fresh roll refuses: web01's processes are FATAL; the resumed one retries them
    with pytest.raises(RollRefused) as refused:
        Update(hosts, tmp_path, "tornado").plan()
    assert refused.value.exit_code == EXIT_NOT_RUNNING
    assert refused.value.problems[0] == "web01 tornado:tornado-8080 is FATAL"
    again = Update(hosts, tmp_path, "tornado").run(resume=True)
    assert again.exit_code == EXIT_OK, [(h.host, h.status, h.error) for h in again.hosts]
    assert [t.host for t in again.plan.targets] == ["web01", "web02"]
    assert all(h.supervisor.running_config("tornado").command == TORNADO_V2 for h in hosts)
    assert all(set(h.serving_ports()) == {8080, 8081, 8082, 8083} for h in hosts)


def test_numprocs_four_to_six_starts_the_new_ones_and_six_to_four_stops_two(tmp_path):
    hosts = tornado_hosts(2, changed=["web01", "web02"], numprocs=6)
    up = Update(hosts, tmp_path, "tornado").run()
    assert up.exit_code == EXIT_OK
    web01 = up.hosts[0]
    assert [(p.name, p.ok, bool(p.old_pid)) for p in web01.processes] == \
        [(n, True, True) for n in TORNADO] + [("tornado:tornado-8084", True, False), ("tornado:tornado-8085", True, False)]
    assert hosts[0].serving_ports() == set(range(8080, 8086))
    for host in hosts:
        host.supervisor.edit_config("tornado", numprocs=4)
    down = Update(hosts, tmp_path, "tornado").run()
    assert down.exit_code == EXIT_OK
    gone = [p for p in down.hosts[0].processes if p.name in ("tornado:tornado-8084", "tornado:tornado-8085")]
    assert [(p.ok, p.detail, p.new_pid) for p in gone] == [(True, "stopped and removed (not in the new config)", 0)] * 2
    assert hosts[0].serving_ports() == set(range(8080, 8084))


def test_an_added_group_starts_gated_and_a_removed_one_stops_host_by_host(tmp_path):
    hosts = tornado_hosts(2)
    for host in hosts:
        host.supervisor.delete_config("worker")
        host.supervisor.write_config(ProgramSpec("extra", startsecs=0))
    roll = Update(hosts, tmp_path)
    states: list[tuple[str, str]] = []
    roll.on_event = lambda kind, data: states.append(
        (data["host"], str(sorted(hosts[1].supervisor.states())))) if kind == "group" else None
    report = roll.run()
    assert report.exit_code == EXIT_OK
    assert [(c.group, c.kind) for c in report.plan.targets[0].changes] == [("worker", "removed"), ("extra", "added")]
    assert [(p.name, p.ok, p.detail) for p in report.hosts[0].processes] == [
        ("worker", True, "stopped and removed with its group"), ("extra", True, "")]
    # while web01 changed, web02 still had its worker and no extra
    assert all("'worker'" in seen and "'extra'" not in seen for host, seen in states if host == "web01")
    assert all(sorted(h.supervisor.states()) == sorted([*TORNADO, "extra"]) for h in hosts)


def test_ctrl_c_mid_host_re_adds_the_group_and_resume_does_the_rest(tmp_path):
    hosts = tornado_hosts(3, changed=["web01", "web02", "web03"])
    roll = Update(hosts, tmp_path, "tornado", min_healthy=1)
    roll.on_event = lambda kind, data: roll.runner.interrupt() if kind == "group" else None
    report = roll.run()
    assert report.outcome == "interrupted" and report.exit_code == EXIT_INTERRUPTED
    web01 = report.hosts[0]
    assert {(p.ok, p.phase, p.detail) for p in web01.processes} == {(True, "interrupted",
                                                                     "started (gate skipped: interrupted)")}
    assert hosts[0].serving_ports() == {8080, 8081, 8082, 8083}         # nothing left stopped or removed
    assert hosts[1].supervisor.starts == {} and hosts[2].supervisor.starts == {}
    again = Update(hosts, tmp_path, "tornado", min_healthy=1).run(resume=True)
    assert again.exit_code == EXIT_OK
    assert [t.host for t in again.plan.targets] == ["web02", "web03"]
    assert again.plan.without_name == ["web01"]
    assert {n: hosts[0].supervisor.starts[n] for n in TORNADO} == dict.fromkeys(TORNADO, 1)


def test_a_lost_connection_mid_change_reconnects_and_leaves_nothing_stopped(tmp_path):
    hosts = tornado_hosts(2, changed=["web01", "web02"])
    roll = Update(hosts, tmp_path, "tornado")

    def drop_at_the_stop(kind: str, data: dict[str, Any]) -> None:
        if kind == "phase" and data["host"] == "web01" and data["phase"].startswith("stopping"):
            hosts[0].drop_next_calls(1)   # the stop's call never reaches supervisord: the connection dropped

    roll.on_event = drop_at_the_stop
    report = roll.run()
    web01 = report.hosts[0]
    assert web01.status == "failed" and report.outcome == "halted"
    assert {(p.phase, p.detail) for p in web01.processes} == {
        ("connection", "connection lost: connection to supervisord lost during system.multicall: "
                       "ConnectionResetError; reconnected")}
    assert hosts[0].serving_ports() == {8080, 8081, 8082, 8083}     # the old config still serves
    assert report.hosts[1].status == "untouched"


def test_preflight_refusals(tmp_path):
    hosts = tornado_hosts(2, changed=["web02"])
    hosts[0].supervisor.break_config()
    with pytest.raises(RollRefused) as refused:
        Update(hosts, tmp_path, "tornado").plan()
    assert refused.value.exit_code == EXIT_FAILED
    assert refused.value.problems[0].startswith("web01: config does not parse, so supervisord would fail at its next "
                                                "start")
    hosts[0].supervisor.fix_config()
    with pytest.raises(UsageError) as typo:
        Update(hosts, tmp_path, "tornadoo").plan()
    assert str(typo.value) == ("no such group in supervisord's config on any selected host: tornadoo "
                               "(did you mean 'tornado'?)")
    hosts[1].supervisor.edit_config("worker", command="sleep 2")
    with pytest.raises(UsageError) as portless:
        Update(hosts, tmp_path, "tornado", "worker", http="http://127.0.0.1:{port}/").plan()
    assert "{port} cannot be filled for worker" in str(portless.value)


def test_skip_unhealthy_holds_back_a_host_whose_changed_group_is_down(tmp_path):
    hosts = tornado_hosts(3, changed=["web01", "web02", "web03"])
    hosts[1].supervisor.break_program("tornado")
    hosts[1].supervisor.crash("tornado:tornado-8081")         # spawned again, it fails: BACKOFF, then FATAL
    starts = dict(hosts[1].supervisor.starts)
    report = Update(hosts, tmp_path, "tornado", skip_unhealthy=True).run()
    assert report.exit_code == EXIT_NOT_RUNNING
    assert [t.host for t in report.plan.targets] == ["web01", "web03"]
    held = next(h for h in report.hosts if h.host == "web02")
    assert held.status == "skipped"
    assert held.notes[0].startswith("skipped: tornado:tornado-8081 not RUNNING at pre-flight; its group is re-added as "
                                    "a whole")
    assert hosts[1].supervisor.starts == starts


def test_rolling_restart_refuses_a_changed_program_unless_told(tmp_path):
    hosts = tornado_hosts(2, changed=["web02"])
    fleet = fake_fleet(hosts)
    with pytest.raises(RollRefused) as refused:
        preflight(fleet, roll_options("tornado"), None)
    assert refused.value.exit_code == EXIT_USAGE
    assert refused.value.problems == ["web02: tornado's config changed (a restart would run the old one)"]
    assert refused.value.hint.startswith("roll the new config with herd rolling-update tornado")
    plan = preflight(fleet, roll_options("tornado", ignore_pending=True), None)
    assert plan.warnings == ["web02: tornado's config changed (a restart would run the old one)"]
    # another program's change does not concern it
    assert preflight(fleet, roll_options("worker"), None).warnings == []


def test_a_refused_reread_does_not_stop_a_restart_roll_but_is_said(tmp_path):
    hosts = tornado_hosts(2)

    def refuse(params: Any) -> Any:
        raise fault(Faults.FAILED, "not today")

    hosts[1].supervisor.hooks["supervisor.reloadConfig"] = refuse
    plan = preflight(fake_fleet(hosts), roll_options("tornado"), None)
    assert [t.host for t in plan.targets] == ["web01", "web02"]
    assert plan.warnings == ["web02: the config could not be reread (failed: not today): a changed config would go "
                             "unnoticed"]
