"""Process groups and live resources on real sshd + supervisord.

Two hosts: web01 plain (herd logs in as the user supervisord runs as),
web02 built like a Debian server (supervisord and its programs run as root,
herd logs in as ``deploy`` and reads /proc through sudo).  Each runs ``pool``,
a master that forks three workers holding 16 MiB each, the first of them
spinning, with ``killasgroup=true``; and ``alone``, the same program
without it, its workers all asleep.  Both are started by the fixture and stopped after (the
machine has 2 shared cores).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from typing import Any, Iterator

import pytest

from herd.fleet import Fleet, direct
from herd.inventory import load_inventory
from herd.localfleet.fleet import LocalFleet
from herd.operations.poller import Poller
from herd.ssh.connection import Connector
from herd.ssh.procagent import AGENT_SCRIPT
from herd.ssh.remote import packed
from herd.testing.pytest_plugin import module_fleet
from helpers import herd, wait_until

MIB = 1024 * 1024
POOL = """
import os, sys, time
busy = sys.argv[1:] == ["busy"]
def worker(n):
    held = bytearray(b"w" * (16 << 20))
    while n == 0 and busy:
        pass
    while True:
        time.sleep(1)
for n in range(3):
    if os.fork() == 0:
        worker(n)
while True:
    try:
        os.wait()
    except OSError:
        time.sleep(1)
"""
COMMAND = "{python} -c \"import base64; exec(base64.b64decode('%s'))\"" % base64.b64encode(POOL.encode()).decode()
# pool's first worker spins (started for this module only: the machine has 2 shared cores); alone's all sleep
EXTRA = f"""
[program:pool]
command={COMMAND} busy
killasgroup=true
stopasgroup=true
autostart=false
startsecs=0

[program:alone]
command={COMMAND}
autostart=false
startsecs=0
"""
HOSTS = ("web01", "web02")

gfleet = module_fleet("groups", hosts=2, distro=["web02"], light=True, extra_config=EXTRA)


@pytest.fixture(scope="module")
def pools(gfleet: LocalFleet) -> Iterator[LocalFleet]:
    for name in HOSTS:
        gfleet.supervisorctl(name, "start", "pool", "alone")
    for name in HOSTS:
        for program in ("pool", "alone"):
            wait_until(lambda: _filled(_members(_pid(gfleet, name, program))),
                       what=f"{name}'s {program} workers to fill their memory")
    yield gfleet
    # alone is not killasgroup: stopping it leaves its workers behind (what the test shows); they go too
    groups = [pid for pid in (_pid(gfleet, name, "alone") for name in HOSTS) if pid > 0]   # 0: not running
    for name in HOSTS:
        gfleet.supervisorctl(name, "stop", "pool", "alone")
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pid(fleet: LocalFleet, host: str, program: str) -> int:
    info: Any = fleet.rpc(host).supervisor.getProcessInfo(program)
    return int(info["pid"])


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].decode().split()


def _members(pgid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if int(_stat(int(name))[2]) == pgid:
                    found.append(int(name))
            except (OSError, IndexError):
                continue
    return found


def _filled(members: list[int]) -> bool:
    return len(members) == 4 and sum(int(_stat(m)[21]) for m in members) * os.sysconf("SC_PAGE_SIZE") >= 48 * MIB


def test_a_killasgroup_program_is_read_as_its_process_group(pools, home) -> None:
    run = herd("status", "--resources", "-o", "json", "-i", str(pools.inventory_path), home=home)
    assert run.code == 0, run.err
    for host in json.loads(run.out)["hosts"]:
        by_name = {p["name"]: p for p in host["processes"]}
        pool, alone = by_name["pool"], by_name["alone"]
        assert pool["process_group"] is True and pool["children"] == 3, (host["host"], pool)
        assert 48 * MIB <= pool["rss_bytes"] <= 48 * MIB + 160 * MIB, (host["host"], pool)
        assert 10 <= pool["cpu_percent"] <= 105, (host["host"], pool)        # its spinning worker
        assert pool["threads"] == 4 and pool["fds"] >= 4 * 3, (host["host"], pool)
        assert alone["process_group"] is False and alone["children"] == 3, (host["host"], alone)
        assert alone["rss_bytes"] < 40 * MIB and alone["cpu_percent"] < 5, (host["host"], alone)
        others = [p for n, p in by_name.items() if n not in ("pool", "alone")]
        assert others and all(p["process_group"] is False for p in others if p["pid"])
    table = herd("status", "pool", "alone", "--resources", "-i", str(pools.inventory_path), home=home)
    rows = {tuple(line.split()[:2]): line.split() for line in table.out.splitlines()[1:5]}
    assert rows[("web01", "pool")][5].endswith("M+") and not rows[("web01", "alone")][5].endswith("+")
    assert rows[("web02", "pool")][5].endswith("M+") and rows[("web02", "pool")][7] != "-"   # fds through sudo


def test_a_worker_that_dies_leaves_the_group_and_the_count_follows(pools, home) -> None:
    pgid = _pid(pools, "web01", "pool")
    victim = max(m for m in _members(pgid) if m != pgid)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(_members(pgid)) == 3, what="the worker to be reaped")
    run = herd("status", "pool", "--resources", "-o", "json", "-H", "web01", "-i", str(pools.inventory_path),
               home=home)
    pool = json.loads(run.out)["hosts"][0]["processes"][0]
    assert pool["children"] == 2 and pool["rss_bytes"] < 48 * MIB + 160 * MIB - 16 * MIB


def _agents_of(sshd_children_of: int) -> list[int]:
    """The process agents running on the host (python -S -c <the agent>) under its sshd."""
    marker = packed(AGENT_SCRIPT).encode()[:60]
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"-S" in argv and any(a.startswith(marker) for a in argv) and _under(int(name), sshd_children_of):
                found.append(int(name))
    return found


def _under(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            pid = int(_stat(pid)[1])
        except (OSError, IndexError):
            return False
        if pid == ancestor:
            return True
    return False


def test_the_poller_samples_every_poll_on_one_agent_and_survives_its_loss(pools) -> None:
    hosts = [h for h in load_inventory(str(pools.inventory_path)).hosts if h.name == "web01"]
    fleet = Fleet(hosts, direct(Connector(timeout=10)))
    poller = Poller(fleet, interval=0.5, resources=True)
    try:
        first = poller.poll_once("web01")
        assert first.ok and first.resources is not None
        assert first.resources.processes["pool"].process_group
        assert first.resources.processes["pool"].cpu_percent is None           # one reading so far
        time.sleep(0.5)
        second = poller.poll_once("web01")
        assert second.resources is not None
        assert 10 <= (second.resources.processes["pool"].cpu_percent or 0) <= 105
        agents = _agents_of(pools.host("web01").sshd_pid)
        assert len(agents) == 1                                                 # kept between polls
        os.kill(agents[0], signal.SIGKILL)
        wait_until(lambda: not _agents_of(pools.host("web01").sshd_pid), what="the agent to end")
        lost = poller.poll_once("web01")
        assert lost.ok and lost.resources is None and lost.resources_error, lost    # the host is up
        assert {p.fullname for p in lost.processes} >= {"pool", "alone"}
        time.sleep(1.1)                                   # a failed sample waits 2 intervals before the next
        again = poller.poll_once("web01")
        assert again.resources is not None and again.resources.processes["pool"].rss_bytes >= 48 * MIB
        assert len(_agents_of(pools.host("web01").sshd_pid)) == 1
    finally:
        poller.stop()
        fleet.close()
    wait_until(lambda: not _agents_of(pools.host("web01").sshd_pid), what="the agent to end with the poller")
