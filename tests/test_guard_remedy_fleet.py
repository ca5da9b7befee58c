"""Guard's remediation on the real test fleet (sshd + supervisord + the Tornado app on 3 hosts).

A remediating rule (tests/test_guard_remedy.py's Leak stand-in) fires on all
three hosts at once; with ``max_processes: 1`` guard restarts one host's
process at a time through the rolling-restart gate, whose probe (from the
inventory's ``rolling:`` entry, run on the host over SSH) fails once per host
before it passes: the next host's restart must wait for it.  Checked from
outside herd: the pids supervisord reports, its log's spawn times, and the
probe's own log.
"""

from __future__ import annotations

import datetime
import re
import threading
from pathlib import Path

from herd.fleet import Fleet, direct
from herd.inventory import load_inventory
from herd.operations.guard.engine import Guard
from herd.operations.guard.incidents import IncidentBook
from herd.operations.guard.remedy import Remediator, gates_from
from herd.operations.poller import Poller
from herd.ssh.connection import Connector
from helpers import edit_inventory, wait_until
from test_guard_remedy import Leak, Recorder

PROBE = """\
#!/bin/sh
# the gate's probe: fails the first time for each host, passes after; logs each attempt with its time
log={log}
if [ -e "{dir}/ok-$1" ]; then echo "$(date +%s.%N) $1 pass" >> "$log"; exit 0; fi
touch "{dir}/ok-$1"; echo "$(date +%s.%N) $1 fail" >> "$log"; exit 1
"""
SPAWNED = re.compile(r"^(\S+ \S+) INFO spawned: '(\S+)' with pid (\d+)$", re.M)


def spawned_at(log: Path, name: str, pid: int) -> float:
    """When supervisord's log says it spawned ``name`` with ``pid`` (its local time, as the epoch)."""
    for stamp, who, spawned in SPAWNED.findall(log.read_text()):
        if who == name and int(spawned) == pid:
            return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise AssertionError(f"no spawn of {name} with pid {pid} in {log}")


def test_a_leak_on_every_host_is_restarted_one_host_at_a_time_with_the_probe_respected(make_fleet,
                                                                                        tmp_path: Path) -> None:
    fleet = make_fleet(hosts=3)
    probe = tmp_path / "probe.sh"
    probes = tmp_path / "probes.log"
    probe.write_text(PROBE.format(log=probes, dir=tmp_path))
    inv = edit_inventory(fleet.inventory_path, tmp_path / "inv.yaml", lambda data: data.update(rolling={
        "tornado": {"min_healthy": 1, "timeout_healthy": 60, "cmd": f"sh {probe} {{host}}"}}))
    inventory = load_inventory(str(inv))
    before = {h.name: {f"{p['group']}:{p['name']}": p["pid"] for p in fleet.rpc(h.name).supervisor.getAllProcessInfo()}
              for h in fleet.hosts}
    target = {h.name: f"tornado:tornado-{h.tornado_ports[0]}" for h in fleet.hosts}
    rule, channel, lines = Leak(), Recorder(), list[str]()
    remediator = Remediator(gates_from(inventory), max_processes=1, max_percent=100, cooldown=600)
    book = IncidentBook({rule.name: rule.title}, 3, group_wait=0.5, max_per_minute=600)
    guard = Guard([h.name for h in inventory.hosts], [rule], [channel], book=book, report=lines.append,
                  remediator=remediator)
    stop = threading.Event()

    def steps() -> None:
        while not stop.is_set():
            guard.step(0.1)

    with Fleet(inventory.hosts, direct(Connector(timeout=10))) as herd_fleet:
        poller = Poller(herd_fleet, 0.5)
        guard.attach(poller)
        loop = threading.Thread(target=steps, daemon=True)
        with poller:
            loop.start()
            try:
                wait_until(lambda: len(guard._last) == 3, 30, "every host's first poll")
                for host in fleet.hosts:
                    rule.mark(host.name, target[host.name], before[host.name][target[host.name]])
                wait_until(lambda: sum("remediation: restarted tornado:" in line for line in lines) == 3, 120,
                           "three restarts")
                wait_until(lambda: any(n.kind == "resolved" for n in channel.notes), 30, "the recovery")
            finally:
                stop.set()
                loop.join(10)
                guard.close(2.0)
    after = {h.name: {f"{p['group']}:{p['name']}": p["pid"] for p in fleet.rpc(h.name).supervisor.getAllProcessInfo()}
             for h in fleet.hosts}
    for host in fleet.hosts:        # the leaking process restarted, nothing else touched
        changed = sorted(name for name, pid in after[host.name].items() if pid != before[host.name][name])
        assert changed == [target[host.name]], (host.name, changed)
    # the restarts in the order they began; each spawned only after the previous host's probe passed
    order = [line.split(" on ")[1].split(" ")[0] for line in lines if line.startswith("remediation: restarting")]
    assert sorted(order) == ["web01", "web02", "web03"]
    attempts = [line.split() for line in probes.read_text().splitlines()]
    assert [(host, outcome) for _, host, outcome in attempts] == \
        [(host, outcome) for host in order for outcome in ("fail", "pass")]
    passed = {host: float(stamp) for stamp, host, outcome in attempts if outcome == "pass"}
    failed = {host: float(stamp) for stamp, host, outcome in attempts if outcome == "fail"}
    spawned = {h.name: spawned_at(Path(h.log_dir) / "supervisord.log", target[h.name].split(":")[1],
                                  after[h.name][target[h.name]]) for h in fleet.hosts}
    for previous, host in zip(order, order[1:]):
        assert spawned[host] > passed[previous], (previous, host, spawned, passed)
    for host in order:              # the gate waited through the failed probe: passed a probe period later
        assert spawned[host] < failed[host] < passed[host] and passed[host] - failed[host] >= 0.9
    restarted = [line for line in lines if line.startswith("remediation: restarted")]
    assert all("healthy after" in line and f"'sh {probe} " in line and "exited 0" in line for line in restarted)
    assert sorted(line.split(" on ")[1].split(" ")[0] for line in channel.actions()) == ["web01", "web02", "web03"]
