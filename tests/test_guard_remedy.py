"""Guard's remediation in process (herd/operations/guard/remedy.py): fake supervisords under the shared poller.

A remediating rule is stood in for by :class:`Leak` (the Rule protocol with
``remediate = True``, as the inventory's ``rss: {above: 800M, for: 5m,
remediate: restart}`` is): the test marks a process as leaking, the rule
fires at its next tick, and a new pid (the process restarted) recovers it.
The gate is the rolling restart's, built from a real inventory's
``rolling:`` entry: min-healthy, a --cmd probe run "on the host" (the fake
host's ``run``, which the :class:`Meter` times), and drain hooks.

Real-fleet proof (sshd + supervisord, one host at a time, a probe): tests/test_guard_remedy_fleet.py.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from herd.errors import UsageError
from herd.inventory import load_inventory
from herd.operations.events import FleetEvent
from herd.operations.guard.engine import Guard
from herd.operations.guard.incidents import IncidentBook
from herd.operations.guard.remedy import Remediator, gates_from
from herd.operations.guard.rules import Signal, program_of
from herd.operations.guard.state import GuardStateFile
from herd.operations.poller import HostSnapshot
from herd.testing.guard import Recorder
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec
from helpers import wait_until
from test_guard_fake import running

Key = tuple[str, str]
WHY = "rss 912M > 800M for 5m"


class Leak:
    """Stand-in for a remediating rule: fires for each process ``leak()`` marks, recovers when its pid changes."""

    name = "rss"
    title = "rss > 800M"
    remediate = True

    def __init__(self, recovers: bool = True) -> None:
        self.recovers = recovers                # False: still firing after a restart (a probe still failing)
        self.marked: dict[Key, int] = {}
        self.due: list[Key] = []
        self.lock = threading.Lock()

    def leak(self, host: FakeHost, process: str) -> None:
        self.mark(host.name, process, host.supervisor.info(process)["pid"])

    def mark(self, host: str, process: str, pid: int) -> None:
        """``process`` on ``host`` leaks while it has ``pid``: fires at the next tick."""
        with self.lock:
            self.marked[(host, process)] = pid
            self.due.append((host, process))

    def observe(self, event: FleetEvent) -> list[Signal]:
        key = (event.host, event.process or "")
        with self.lock:
            if key not in self.marked or event.to_state != "RUNNING" or event.pid in (0, self.marked[key]) \
                    or not self.recovers:
                return []
            del self.marked[key]
        return [Signal(self.name, event.host, program_of(key[1]), key[1], False, event.time, how="restarted")]

    def settle(self, snapshot: HostSnapshot, now: float) -> list[Signal]:
        return []

    def tick(self, now: float) -> list[Signal]:
        with self.lock:
            due, self.due = self.due, []
        return [Signal(self.name, host, program_of(process), process, True, now, WHY) for host, process in due]


class Meter:
    """Counts the processes being restarted at each moment: from their stop request to their probe's end."""

    def __init__(self, probe_time: float = 0.2) -> None:
        self.probe_time = probe_time
        self.lock = threading.Lock()
        self.active: set[Key] = set()
        self.peak = 0
        self.stops: list[tuple[float, str, str]] = []      # (time, host, process) of each stop request
        self.probes: list[tuple[float, str, str]] = []     # (time, host, process) of each probe's end

    def stopping(self, host: str, process: str) -> None:
        with self.lock:
            self.active.add((host, process))
            self.peak = max(self.peak, len(self.active))
            self.stops.append((time.monotonic(), host, process))

    def probed(self, host: str, process: str) -> None:
        with self.lock:
            self.active.discard((host, process))
            self.probes.append((time.monotonic(), host, process))


class MeteredHost(FakeHost):
    """A fake host whose --cmd probe ``probe {host} {process}`` takes ``meter.probe_time`` and is timed."""

    def __init__(self, name: str, supervisor: FakeSupervisor, meter: Meter) -> None:
        super().__init__(name, supervisor)
        self.meter = meter
        supervisor.hooks["supervisor.stopProcess"] = lambda params: meter.stopping(self.name, params[0])

    def run(self, command: str, timeout: float) -> Any:
        time.sleep(self.meter.probe_time)
        result = super().run(command, timeout)
        if command.startswith("probe "):
            self.meter.probed(self.name, command.split()[2])
        return result


def inventory(tmp_path: Path, count: int, rolling: str) -> Any:
    lines = ["hosts:"] + [f"  web{i:02d}: {{}}" for i in range(1, count + 1)] + ["rolling:", rolling]
    path = tmp_path / "inv.yaml"
    path.write_text("\n".join(lines) + "\n")
    return load_inventory(str(path))


GATE = "  tornado: {min_healthy: 0.3, timeout_healthy: 5, cmd: 'probe {host} {process}'}"


def hosts_of(count: int, meter: Meter, numprocs: int = 1) -> list[MeteredHost]:
    specs = [ProgramSpec("tornado", numprocs=numprocs, numprocs_start=8080), ProgramSpec("worker")]
    return [MeteredHost(f"web{i:02d}", FakeSupervisor(specs), meter) for i in range(1, count + 1)]


def tornado(numprocs: int = 1, port: int = 8080) -> str:
    return f"tornado:tornado-{port}" if numprocs > 1 else "tornado"


class Setup:
    """A guard with the Leak rule, a remediator and a recording channel over ``hosts``."""

    def __init__(self, hosts: list[MeteredHost], remediator: Remediator, state: Path | None = None) -> None:
        self.hosts, self.remediator, self.rule, self.channel = hosts, remediator, Leak(), Recorder()
        self.lines: list[str] = []
        self.saved = GuardStateFile(state) if state else None
        book = IncidentBook({self.rule.name: self.rule.title}, len(hosts), group_wait=0.1, update_every=0.5,
                            max_per_minute=600, incidents=self.saved.load() if self.saved else None)
        self.guard = Guard([h.name for h in hosts], [self.rule], [self.channel], book=book, state=self.saved,
                           report=self.lines.append, remediator=remediator)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """The poller and guard's loop running (test_guard_fake.running), every host polled once."""
        with running(self.guard, list(self.hosts)):
            wait_until(lambda: len(self.guard._last) == len(self.hosts), 10, "every host's first poll")
            yield

    def said(self, words: str) -> list[str]:
        """The remediator's lines on guard's output holding ``words`` (not the messages' lines)."""
        return [line for line in self.lines if line.startswith("remediation: ") and words in line]


def test_every_host_leaking_at_once_is_restarted_k_at_a_time_through_the_gate(tmp_path: Path) -> None:
    meter = Meter()
    hosts = hosts_of(6, meter)
    hooks = tmp_path / "hooks.log"
    gates = gates_from(inventory(tmp_path, 6, GATE[:-1] + f", pre_hook: 'echo pre {{host}} >> {hooks}', "
                                                         f"post_hook: 'echo post {{host}} >> {hooks}'}}"))
    setup = Setup(hosts, Remediator(gates, max_processes=2, max_percent=100, cooldown=600))
    pids = {h.name: h.supervisor.info("tornado")["pid"] for h in hosts}
    with setup.watching():
        for host in hosts:
            setup.rule.leak(host, "tornado")
        wait_until(lambda: len(setup.said("restarted tornado on")) == 6, 30, "six restarts")
        wait_until(lambda: any(n.kind == "resolved" for n in setup.channel.notes), 10, "the recovery")
    assert meter.peak == 2                                      # never more than K at once, and K used
    assert sorted(h for _, h, _ in meter.stops) == [h.name for h in hosts]     # each restarted once
    assert all(h.supervisor.info("tornado")["pid"] != pids[h.name] for h in hosts)
    assert all(h.supervisor.starts["tornado"] == 1 and h.supervisor.starts["worker"] == 0 for h in hosts)
    # each stop came after the probe of a restart two before it had passed: two at a time, in turn
    stops, probes = [t for t, _, _ in meter.stops], sorted(t for t, _, _ in meter.probes)
    assert all(stops[i] > probes[i - 2] for i in range(2, 6))
    assert len(setup.said("waits its turn")) == 4 and "max_processes 2" in setup.said("waits its turn")[0]
    assert setup.said("restarting tornado on web01 through the gate (rss 912M > 800M for 5m)")
    restarted = setup.said("restarted tornado on web03")[0]
    assert "healthy after" in restarted and "'probe web03 tornado' exited 0" in restarted
    assert "pre-hook: 'echo pre web03" in restarted and "post-hook: 'echo post web03" in restarted
    lines = hooks.read_text().split("\n")
    for host in hosts:
        assert lines.index(f"pre {host.name}") < lines.index(f"post {host.name}")
    # the incident's messages: opened, the six restarts (as action messages), then resolved -- after them
    kinds = [n.kind for n in setup.channel.notes]
    assert kinds[0] == "opened" and kinds[-1] == "resolved" and set(kinds[1:-1]) <= {"action", "updated"}
    assert sorted(line.split(" on ")[1].split(" ")[0] for line in setup.channel.actions()) == \
        [h.name for h in hosts]
    action = next(n for n in setup.channel.notes if n.kind == "action")
    assert action.summary().startswith("tornado rss > 800M: restarted tornado on web0")
    assert action.body()["event"] == "action" and action.body()["actions"] == list(action.actions)


def test_max_percent_bounds_the_restarts_of_one_program(tmp_path: Path) -> None:
    meter = Meter()
    hosts = hosts_of(3, meter, numprocs=4)            # 12 tornado processes; 20 % of them is 2
    setup = Setup(hosts, Remediator(gates_from(inventory(tmp_path, 3, GATE)), max_processes=10, max_percent=20))
    with setup.watching():
        for host in hosts:
            for port in range(8080, 8084):
                setup.rule.leak(host, tornado(4, port))
        wait_until(lambda: len(setup.said("restarted tornado:")) == 12, 60, "twelve restarts")
    assert meter.peak == 2
    assert len(meter.stops) == 12
    assert setup.said("2 of tornado's 12 process(es) in flight, at most 2 (max_percent 20)")


def test_per_host_from_the_rolling_entry_holds_a_hosts_processes_to_one_at_a_time(tmp_path: Path) -> None:
    meter = Meter()
    hosts = hosts_of(1, meter, numprocs=4)
    setup = Setup(hosts, Remediator(gates_from(inventory(tmp_path, 1, GATE)), max_processes=4, max_percent=100))
    with setup.watching():
        for port in range(8080, 8084):
            setup.rule.leak(hosts[0], tornado(4, port))
        wait_until(lambda: len(setup.said("restarted tornado:")) == 4, 30, "four restarts")
    assert meter.peak == 1 and "(per_host 1)" in setup.said("waits its turn")[0]


def test_a_process_restarted_within_the_cooldown_is_not_restarted_again_said_once(tmp_path: Path) -> None:
    meter = Meter(probe_time=0.0)
    hosts = hosts_of(2, meter)
    setup = Setup(hosts, Remediator(gates_from(inventory(tmp_path, 2, GATE)), cooldown=2.0))
    with setup.watching():
        setup.rule.leak(hosts[0], "tornado")
        wait_until(lambda: setup.said("restarted tornado on web01"), 10, "the first restart")
        first = meter.probes[-1][0]
        setup.rule.leak(hosts[0], "tornado")          # leaking again at once
        wait_until(lambda: setup.said("not restarting tornado on web01"), 10, "the cooldown said")
        time.sleep(0.5)
        assert len(meter.stops) == 1
        wait_until(lambda: len(setup.said("restarted tornado on web01")) == 2, 10, "the restart after it")
    assert len(setup.said("not restarting")) == 1
    assert setup.said("not restarting tornado on web01 (rss 912M > 800M for 5m): restarted 0s ago, cooldown 2s")
    assert meter.stops[1][0] - first >= 2.0 - 0.1          # not before the cooldown ended
    assert "not restarting tornado on web01 (rss 912M > 800M for 5m): restarted 0s ago, cooldown 2s" in \
        setup.channel.actions()
    assert hosts[1].supervisor.starts["tornado"] == 0


def test_a_process_in_trouble_again_during_its_restart_waits_out_the_cooldown(tmp_path: Path) -> None:
    """As an rss rule does: the restart recovers it (a new pid), the new process fires at once, mid-gate."""
    meter = Meter(probe_time=0.0)
    hosts = hosts_of(1, meter)
    gate = "  tornado: {min_healthy: 1.5, timeout_healthy: 5}"
    setup = Setup(hosts, Remediator(gates_from(inventory(tmp_path, 1, gate)), cooldown=1.5))
    with setup.watching():
        setup.rule.leak(hosts[0], "tornado")
        wait_until(lambda: ("web01", "tornado") not in setup.rule.marked and meter.stops, 10, "the new pid seen")
        assert not setup.said("restarted tornado")                  # still in its min-healthy
        setup.rule.leak(hosts[0], "tornado")                        # the new process leaks too
        wait_until(lambda: setup.said("not restarting tornado on web01"), 10, "the cooldown said")
        wait_until(lambda: len(meter.stops) == 2, 10, "restarted again once the cooldown ended")
    assert setup.lines.index(setup.said("restarted tornado on web01")[0]) < \
        setup.lines.index(setup.said("not restarting tornado on web01")[0])


def test_dry_run_says_what_it_would_restart_and_restarts_nothing(tmp_path: Path) -> None:
    meter = Meter()
    hosts = hosts_of(3, meter)
    remediator = Remediator(gates_from(inventory(tmp_path, 3, GATE)), max_processes=1, dry_run=True)
    setup = Setup(hosts, remediator)
    with setup.watching():
        for host in hosts:
            setup.rule.leak(host, "tornado")
        setup.rule.leak(hosts[1], "tornado")       # fires again: said once
        wait_until(lambda: len(setup.said("would restart")) == 3, 10, "three would-restarts")
        wait_until(lambda: len(setup.channel.actions()) == 3, 10, "three action messages")
        time.sleep(0.3)
    assert "remediation: would restart tornado on web02 (rss 912M > 800M for 5m)" in setup.lines
    assert len(setup.said("would restart")) == 3
    assert remediator.started == 0 and meter.stops == []
    assert all("supervisor.stopProcess" not in h.supervisor.calls and h.supervisor.starts["tornado"] == 0
               for h in hosts)
    assert remediator.describe() == "remediation: dry run (restarts said, not done)"


def test_a_signal_that_recovers_while_waiting_its_turn_is_dropped(tmp_path: Path) -> None:
    meter = Meter(probe_time=1.0)
    hosts = hosts_of(2, meter)
    remediator = Remediator(gates_from(inventory(tmp_path, 2, GATE)), max_processes=1)
    setup = Setup(hosts, remediator)
    with setup.watching():
        setup.rule.leak(hosts[0], "tornado")
        setup.rule.leak(hosts[1], "tornado")
        wait_until(lambda: setup.said("tornado on web02 waits its turn"), 10, "web02 waiting")
        hosts[1].client().call("supervisor.stopProcess", "tornado", False)    # someone else restarted it
        wait_until(lambda: hosts[1].supervisor.info("tornado")["statename"] == "STOPPED", 5, "stopped")
        hosts[1].client().call("supervisor.startProcess", "tornado", False)
        wait_until(lambda: setup.said("tornado on web02 recovered (restarted) while waiting its turn: "
                                      "not restarted"), 10, "the drop said")
        wait_until(lambda: setup.said("restarted tornado on web01"), 10, "web01's restart")
        time.sleep(0.3)
    assert remediator.started == 1 and [h for _, h, _ in meter.stops] == ["web01", "web02"]   # web02's own
    assert not setup.said("restarting tornado on web02")


def test_a_restart_that_fails_its_gate_is_said_and_not_retried_before_the_cooldown(tmp_path: Path) -> None:
    meter = Meter(probe_time=0.0)
    hosts = hosts_of(2, meter)
    hosts[0].commands["probe web01 tornado"] = 1                 # the app never answers its probe
    gate = "  tornado: {min_healthy: 0.2, timeout_healthy: 1.5, cmd: 'probe {host} {process}', " \
           "post_hook: 'true'}"
    setup = Setup(hosts, Remediator(gates_from(inventory(tmp_path, 2, gate)), max_processes=2, cooldown=3.0))
    setup.rule.recovers = False                 # the probe rule keeps firing: the restart did not help
    with setup.watching():
        setup.rule.leak(hosts[0], "tornado")
        wait_until(lambda: setup.said("restart of tornado on web01"), 15, "the failure")
        failed_at = time.monotonic()
        time.sleep(1.5)
        assert [h for _, h, _ in meter.stops] == ["web01"]          # not retried within the cooldown
        wait_until(lambda: len(meter.stops) == 2, 10, "the retry after the cooldown (still firing)")
        assert time.monotonic() - failed_at >= 3.0 - 0.5
    failure = setup.said("restart of tornado on web01")[0]
    assert "(rss 912M > 800M for 5m) failed: probe: probe failing after 1.5 s: 'probe web01 tornado' exited 1" \
        in failure
    assert failure.endswith("post-hook not run: the restart failed, the host stays drained; "
                            "not tried again for 3s (cooldown), and no other tornado process is restarted meanwhile")
    assert any(line.startswith("restart of tornado on web01") for line in setup.channel.actions())
    assert not setup.said("not restarting")       # the failure said the cooldown: no second word


def test_a_failed_gate_holds_the_program_s_other_restarts_as_a_roll_stops(tmp_path: Path) -> None:
    """A restart that did not come up healthy means the next would not either: guard must not take the program
    down host after host.  web02 leaks too, waits behind web01, and is held while web01's failure cools down."""
    meter = Meter(probe_time=0.0)
    hosts = hosts_of(3, meter)
    hosts[0].commands["probe web01 tornado"] = 1
    gate = "  tornado: {min_healthy: 0.2, timeout_healthy: 1.0, cmd: 'probe {host} {process}'}"
    setup = Setup(hosts, Remediator(gates_from(inventory(tmp_path, 3, gate)), max_processes=1, cooldown=4.0))
    setup.rule.recovers = False
    with setup.watching():
        setup.rule.leak(hosts[0], "tornado")
        wait_until(lambda: [h for _, h, _ in meter.stops] == ["web01"], 10, "web01's restart")
        setup.rule.leak(hosts[1], "tornado")
        wait_until(lambda: setup.said("restart of tornado on web01"), 15, "the failure")
        wait_until(lambda: setup.said("tornado on web02 not restarted"), 5, "web02 held")
        time.sleep(2.0)
        assert [h for _, h, _ in meter.stops] == ["web01"]          # web02 untouched while the hold lasts
    held = setup.said("tornado on web02 not restarted")[0]
    assert "remediation of tornado is held: the restart of tornado on web01 failed its gate" in held


def test_cooldowns_survive_a_restart_of_guard(tmp_path: Path) -> None:
    meter = Meter(probe_time=0.0)
    hosts = hosts_of(2, meter)
    state = tmp_path / "guard.json"
    gates = gates_from(inventory(tmp_path, 2, GATE))
    first = Setup(hosts, Remediator(gates, cooldown=600), state)
    with first.watching():
        first.rule.leak(hosts[0], "tornado")
        wait_until(lambda: first.said("restarted tornado on web01"), 10, "the restart")
        wait_until(lambda: "cooldowns" in json.loads(state.read_text()), 10, "the cooldown saved")
    saved = json.loads(state.read_text())
    assert [(c["host"], c["process"]) for c in saved["cooldowns"]] == [("web01", "tornado")]
    loaded = GuardStateFile(state)
    loaded.load()
    second = Setup(hosts, Remediator(gates, cooldown=600, cooldowns=loaded.cooldowns), state)
    with second.watching():
        second.rule.leak(hosts[0], "tornado")
        wait_until(lambda: second.said("not restarting tornado on web01"), 10, "the cooldown said")
        time.sleep(0.3)
    assert len(meter.stops) == 1 and hosts[0].supervisor.starts["tornado"] == 1
    assert second.said("left tornado on web01 not restarted (rss 912M > 800M for 5m): in its cooldown (10m to go)")


def test_a_state_file_without_cooldowns_reads_as_none_and_stays_without(tmp_path: Path) -> None:
    state = tmp_path / "old.json"
    state.write_text('{"schema": 1, "incidents": []}')
    saved = GuardStateFile(state)
    assert saved.load() == [] and saved.cooldowns == {}
    saved.save([])
    assert json.loads(state.read_text()) == {"schema": 1, "incidents": []}
    state.write_text('{"schema": 1, "incidents": [], "cooldowns": [{"host": "web01"}]}')
    with pytest.raises(ValueError, match="not a guard state herd wrote"):
        GuardStateFile(state).load()


def test_guard_stopping_lets_the_restart_in_flight_end_its_step_and_says_what_it_left(tmp_path: Path) -> None:
    meter = Meter(probe_time=0.0)
    hosts = hosts_of(2, meter)
    gate = "  tornado: {min_healthy: 30, timeout_healthy: 60}"
    remediator = Remediator(gates_from(inventory(tmp_path, 2, gate)), max_processes=1)
    setup = Setup(hosts, remediator)
    with setup.watching():
        setup.rule.leak(hosts[0], "tornado")
        setup.rule.leak(hosts[1], "tornado")
        wait_until(lambda: hosts[0].supervisor.info("tornado")["statename"] == "RUNNING" and meter.stops, 10,
                   "web01 restarted, in its min-healthy")
        started = time.monotonic()
    assert time.monotonic() - started < 10             # the 30 s min-healthy abandoned
    assert setup.said("restarted tornado on web01 through the gate (rss 912M > 800M for 5m): pid ")
    assert "gate skipped: guard stopping" in setup.said("restarted tornado on web01")[0]
    assert setup.said("left tornado on web02 not restarted (rss 912M > 800M for 5m): guard stopped before its turn")
    assert [h.supervisor.info("tornado")["statename"] for h in hosts] == ["RUNNING", "RUNNING"]
    assert [h for _, h, _ in meter.stops] == ["web01"]


def test_a_bad_rolling_entry_is_refused_when_guard_starts_naming_file_line_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        gates_from(inventory(tmp_path, 1, "  tornado: {http: 'ftp://127.0.0.1/'}"))
    assert str(caught.value) == (f"{tmp_path / 'inv.yaml'}:4: rolling.tornado.http: --http ftp://127.0.0.1/: "
                                 "must be an http:// URL (https is not supported)")
    gate = gates_from(inventory(tmp_path, 1, "  worker: {min_healthy: 2}"))("tornado")
    assert (gate.gate.min_healthy, gate.gate.timeout_healthy, gate.gate.probe, gate.per_host) == (10.0, 120.0, None, 1)


def test_a_restart_still_in_its_step_when_the_wait_runs_out_is_said_left(tmp_path: Path) -> None:
    meter = Meter(probe_time=0.0)
    hosts = hosts_of(1, meter)
    release = threading.Event()
    stuck = hosts[0].supervisor.hooks["supervisor.stopProcess"]

    def hang(params: Any) -> None:            # supervisord slow to take the stop
        stuck(params)
        release.wait(20)

    hosts[0].supervisor.hooks["supervisor.stopProcess"] = hang
    remediator = Remediator(gates_from(inventory(tmp_path, 1, GATE)), finish=0.5)
    setup = Setup(hosts, remediator)
    try:
        with setup.watching():
            setup.rule.leak(hosts[0], "tornado")
            wait_until(lambda: meter.stops, 10, "the stop requested")
            began = time.monotonic()
        assert time.monotonic() - began < 5
        assert setup.said("left tornado on web01 mid-restart (rss 912M > 800M for 5m): not done ")
    finally:
        release.set()
    wait_until(lambda: hosts[0].supervisor.info("tornado")["statename"] == "RUNNING", 10, "started again")


def test_herd_guard_builds_remediation_only_for_remediating_rules_with_the_inventorys_bounds(tmp_path: Path) -> None:
    from herd.cli.guard import _remediator
    from herd.operations.guard.rules import quick_start_rules

    path = tmp_path / "inv.yaml"
    path.write_text("hosts:\n  web01: {}\nrolling:\n  tornado: {min_healthy: 3}\n"
                    "guard:\n  remediation: {max_processes: 3, max_percent: 50, cooldown: 5m}\n")
    saved = GuardStateFile(tmp_path / "state.json")
    saved.cooldowns = {("web01", "tornado"): 1.0}
    assert _remediator(load_inventory(str(path)), quick_start_rules(30), saved, False) is None
    made = _remediator(load_inventory(str(path)), [Leak()], saved, True)
    assert made is not None
    assert (made.max_processes, made.max_percent, made.cooldown, made.dry_run) == (3, 50.0, 300.0, True)
    assert made.gates("tornado").gate.min_healthy == 3.0 and made._cooldowns == {("web01", "tornado"): 1.0}
    default = _remediator(load_inventory(str(inventory(tmp_path, 1, GATE).path)), [Leak()], saved, False)
    assert default is not None and (default.max_processes, default.max_percent, default.cooldown) == (1, 25.0, 600.0)
    assert default.describe() == ("remediation: restarts through the rolling gate, at most 1 process(es) at once "
                                  "and 25 % of a program's, cooldown 10m")
