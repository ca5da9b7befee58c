"""herd's config operations (pending, update, add, remove) in process, on the fake's config model.

tests/test_fake_contract.py holds the fake's reloadConfig / addProcessGroup /
removeProcessGroup to a real supervisord; here herd's operations run on them,
as the rollout's in-process tests will (herd.testing.fake.tornado_hosts).
"""

from __future__ import annotations

import _thread
import threading
import time

from herd.cli.config import update_interrupt_lines
from herd.errors import EXIT_INTERRUPTED, Faults
from herd.fleet import Fleet
from herd.operations import config
from herd.render.actions import action_json
from herd.operations.outcomes import ActionReport
from herd.settings import FleetOptions
from herd.testing.fake import TORNADO_V2, FakeHost, ProgramSpec, fake_fleet, fault, tornado_hosts

TORNADO = [f"tornado:tornado-{p}" for p in range(8080, 8084)]


def test_tornado_hosts_have_the_changed_command_pending_on_the_hosts_named():
    hosts = tornado_hosts(3, changed=["web02", "web03"])
    found = {r.name: r.value for r in config.pending(fake_fleet(hosts))}
    assert {n: (c.diff.added, c.diff.changed, c.diff.removed) for n, c in found.items() if c and c.diff} == {
        "web01": ([], [], []), "web02": ([], ["tornado"], []), "web03": ([], ["tornado"], [])}
    # staged, not applied: the old command still runs, and every port serves
    assert hosts[1].supervisor.running_config("tornado").command != TORNADO_V2
    assert hosts[1].serving_ports() == {8080, 8081, 8082, 8083}


def test_update_applies_the_new_command_restarting_each_process_once():
    hosts = tornado_hosts(2, changed=["web02"])
    result = config.update(fake_fleet(hosts), ["tornado"], dry_run=False, wait_timeout=5)
    lines = {r.host: [(o.name, o.result, o.error) for o in r.outcomes] for r in result.hosts}
    assert lines == {"web01": [("tornado", "unchanged", None)],
                     "web02": [("tornado", "updated process group", None)]}
    web02 = hosts[1].supervisor
    assert web02.running_config("tornado").command == TORNADO_V2
    assert {n: web02.starts[n] for n in TORNADO} == dict.fromkeys(TORNADO, 1)
    assert set(web02.states().values()) == {"RUNNING"} and hosts[0].supervisor.starts == {}


def test_numprocs_four_to_six_and_a_broken_new_command():
    hosts = tornado_hosts(2, changed=["web01"], numprocs=6)
    hosts[1].supervisor.edit_config("tornado", command="/bin/false", fails=True)
    result = config.update(fake_fleet(hosts), [], dry_run=False, wait_timeout=2)
    assert sorted(hosts[0].supervisor.states()) == [f"tornado:tornado-{p}" for p in range(8080, 8086)] + ["worker"]
    failed = [(o.name, o.error) for r in result.hosts if r.host == "web02" for o in r.outcomes if o.error]
    assert [n for n, _ in failed] == TORNADO
    assert all(e.startswith("FATAL: Exited too quickly") for _, e in failed), failed
    assert hosts[1].serving_ports() == set()


def test_a_config_that_does_not_parse_keeps_the_last_good_one_staged():
    [web01] = tornado_hosts(1, changed=["web01"])
    web01.supervisor.break_config()
    [found] = config.pending(fake_fleet([web01]))
    assert found.value is not None and found.value.diff is None
    assert found.value.broken == ("program section program:half does not specify a command in section "
                                  "'program:half' (file: '/etc/supervisor/supervisord.conf')")
    assert web01.supervisor.staged["tornado"].command != TORNADO_V2       # the v2 edit was never read
    web01.supervisor.fix_config()
    [again] = config.pending(fake_fleet([web01]))
    assert again.value is not None and again.value.diff is not None and again.value.diff.changed == ["tornado"]


def test_add_and_remove_groups_of_the_staged_config():
    [web01] = tornado_hosts(1)
    web01.supervisor.delete_config("worker")
    web01.supervisor.write_config(ProgramSpec("extra", startsecs=0))
    fleet = fake_fleet([web01])
    config.reread(fleet)
    removed = config.remove(fleet, ["worker"], dry_run=False)
    assert [o.error for r in removed.hosts for o in r.outcomes] == ["still running: stop it first (herd stop "
                                                                       "'worker:*')"]
    added = config.add(fleet, ["extra"], dry_run=False, wait_timeout=2)
    assert [(o.name, o.result, o.error) for r in added.hosts for o in r.outcomes] == [
        ("extra", "added process group", None)]
    assert web01.supervisor.states()["extra"] == "RUNNING" and web01.supervisor.starts["extra"] == 1


# -- Ctrl-C during update (tests/test_interrupt_fleet.py: the same through sshd, and the lines a user sees) -----

def ctrl_c_in(seconds: float) -> None:
    threading.Timer(seconds, _thread.interrupt_main).start()


def results(report: ActionReport) -> dict[str, list[tuple[str, str, str | None]]]:
    return {h.host: [(o.name, o.result, o.error) for o in h.outcomes] for h in report.hosts}


def options(inventory: str | None = None) -> FleetOptions:
    return FleetOptions(inventory, False, (), ("web01",), 10.0, 50, False, 0)


def test_ctrl_c_while_a_changed_group_stops_starts_it_again_and_touches_no_other_group():
    hosts = tornado_hosts(2, changed=["web01", "web02"], stop_delay=0.6)
    hosts[0].supervisor.edit_config("worker", command="/usr/local/bin/worker --v2")
    ctrl_c_in(0.3)                                       # every tornado process STOPPING
    report = config.update(fake_fleet(hosts), [], dry_run=False, wait_timeout=5)
    assert report.interrupted and report.exit_code == EXIT_INTERRUPTED
    assert results(report) == {
        "web01": [("tornado", "started again, not updated (interrupted)", None),
                  ("worker", "left as it was (interrupted)", None)],
        "web02": [("tornado", "started again, not updated (interrupted)", None)]}
    assert report.left_groups == []
    assert update_interrupt_lines(report, options()) == [
        "herd: interrupted: the group in flight was finished on every host; herd left no group removed or stopped"]
    for host in hosts:      # on the config it ran, started once more; the change still pending
        assert host.supervisor.running_config("tornado").command != TORNADO_V2
        assert {n: host.supervisor.starts[n] for n in TORNADO} == dict.fromkeys(TORNADO, 1)
        assert set(host.supervisor.states().values()) <= {"STARTING", "RUNNING"}
    assert hosts[0].supervisor.running_config("worker").command != "/usr/local/bin/worker --v2"
    pending = {r.name: r.value.diff.changed for r in config.pending(fake_fleet(hosts)) if r.value and r.value.diff}
    assert pending == {"web01": ["tornado", "worker"], "web02": ["tornado"]}


def removal_after_the_interrupt(host: FakeHost, fleet: Fleet) -> None:
    """removeProcessGroup answers only once the Ctrl-C came: the group is removed with the interrupt in flight."""
    host.supervisor.hooks["supervisor.removeProcessGroup"] = lambda params: fleet.interrupted.wait(5)


def test_ctrl_c_after_a_changed_group_was_removed_adds_it_back_on_the_new_config():
    hosts = tornado_hosts(1, changed=["web01"])
    hosts[0].supervisor.edit_config("worker", command="/usr/local/bin/worker --v2")
    fleet = fake_fleet(hosts)
    removal_after_the_interrupt(hosts[0], fleet)
    ctrl_c_in(0.3)
    report = config.update(fleet, [], dry_run=False, wait_timeout=5)
    assert report.interrupted
    assert results(report) == {"web01": [("tornado", "updated process group", None),
                                         ("worker", "left as it was (interrupted)", None)]}
    assert report.left_groups == []
    assert hosts[0].supervisor.running_config("tornado").command == TORNADO_V2
    assert set(hosts[0].supervisor.states().values()) <= {"STARTING", "RUNNING"}


def test_a_group_that_could_not_be_added_back_is_named_with_the_command_that_adds_it():
    hosts = tornado_hosts(1, changed=["web01"])
    fleet = fake_fleet(hosts)
    removal_after_the_interrupt(hosts[0], fleet)

    def refuse(params):
        raise fault(Faults.FAILED, "no room")

    hosts[0].supervisor.hooks["supervisor.addProcessGroup"] = refuse
    ctrl_c_in(0.3)
    report = config.update(fleet, [], dry_run=False, wait_timeout=5)
    assert results(report) == {"web01": [("tornado", "add", "failed: no room")]}, results(report)
    assert report.left_groups == [config.LeftGroups("web01", ["tornado"], [], certain=True)]
    assert update_interrupt_lines(report, options("inv.yaml")) == [
        "herd: interrupted: web01: tornado left removed; add it back with: herd add -i inv.yaml -H web01 tornado"]
    data = action_json(report)          # -o json says the same
    assert data["interrupted"] is True and data["exit_code"] == 130
    assert data["left_groups"] == [{"host": "web01", "removed": ["tornado"], "stopped": [], "certain": True}]


def test_a_host_whose_step_outlasts_the_finish_budget_is_named_as_maybe(monkeypatch):
    hosts = tornado_hosts(1, changed=["web01"], stop_delay=3)
    monkeypatch.setattr(config, "FINISH_STEP", 0.5)
    ctrl_c_in(0.3)
    started = time.monotonic()
    report = config.update(fake_fleet(hosts), [], dry_run=False, wait_timeout=10)
    assert time.monotonic() - started < 2.5
    assert report.interrupted and results(report) == {"web01": []}
    assert report.hosts[0].error is not None
    assert report.left_groups == [config.LeftGroups("web01", [], ["tornado"], certain=False)]
    assert update_interrupt_lines(report, options()) == [
        "herd: interrupted: web01: tornado may be left STOPPED (the host's step had not ended 0.5 s after the "
        "interrupt); bring it back with: herd update -H web01 tornado"]
