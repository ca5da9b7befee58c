"""herd's config operations (pending, update, add, remove) in process, on the fake's config model.

tests/test_fake_contract.py holds the fake's reloadConfig / addProcessGroup /
removeProcessGroup to a real supervisord; here herd's operations run on them,
as the rollout's in-process tests will (herd.testing.fake.tornado_hosts).
"""

from __future__ import annotations

from herd.operations import config
from herd.testing.fake import TORNADO_V2, ProgramSpec, fake_fleet, tornado_hosts

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
