"""Process groups (killasgroup) in process: the real agent sums a real forking program's group.

A master started in a session of its own (so it leads its process group, as
supervisord makes every program it starts) forks three workers that hold
16 MiB each, one of which burns CPU; a grandchild in another group does not
count.  The agent runs with this Python on a socketpair (as in
tests/test_resources_agent.py); the real-fleet proof, with supervisord's own
killasgroup, is tests/test_resources_groups_fleet.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

from herd.errors import ConnectError
from herd.localfleet.releases import find_python, missing_python
from herd.operations.poller import Poller
from herd.operations.resources import ProcessResources, fetch_resources, measure
from herd.render.status import status_json, status_table
from herd.ssh.procagent import ProcFailure, ProcReading
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet
from test_resources_agent import MIB, local_agent, scripted_agent

# The master forks 3 workers (16 MiB each, the first burning CPU) and one process that leaves the group.
MASTER = """
import os, sys, time
r, w = os.pipe()
def worker(n):
    held = bytearray(b"w" * (16 << 20))
    os.write(w, b"+")
    while True:
        if n == 0:
            pass
        else:
            time.sleep(1)
kids = []
for n in range(3):
    pid = os.fork()
    if pid == 0:
        worker(n)
    kids.append(pid)
outsider = os.fork()
if outsider == 0:
    os.setpgid(0, 0)
    held = bytearray(b"o" * (32 << 20))
    os.write(w, b"+")
    time.sleep(600)
try:
    os.setpgid(outsider, outsider)
except OSError:
    pass
got = b""
while len(got) < 4:
    got += os.read(r, 4)
sys.stdout.write("ready\\n"); sys.stdout.flush()
time.sleep(600)
"""


@pytest.fixture
def master() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", MASTER], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    outsiders = _outsiders(proc.pid)       # found while they are still the master's children
    yield proc
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in outsiders:
        os.kill(pid, signal.SIGKILL)
    proc.wait()


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].decode().split()


def _outsiders(master: int) -> list[int]:
    """The master's children outside its process group."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                rest = _stat(int(name))
            except OSError:
                continue
            if int(rest[1]) == master and int(rest[2]) != master:
                found.append(int(name))
    return found


def test_the_agent_sums_the_process_group_and_leaves_other_groups_out(master) -> None:
    agent = local_agent()
    alone, grouped = (ok(measure(agent.sample([master.pid], wait=0.5, groups=g))[master.pid])
                      for g in ((), {master.pid}))
    assert not alone.process_group and alone.children == 4 and alone.rss_bytes < 16 * MIB
    assert grouped.process_group and grouped.children == 3                # the workers; not the one that left
    assert 3 * 16 * MIB <= grouped.rss_bytes <= 3 * 16 * MIB + 120 * MIB   # three workers' 16 MiB, not the 32
    assert grouped.threads == 4 and grouped.fds is not None and grouped.fds >= 4 * 3
    assert alone.cpu_percent is not None and alone.cpu_percent < 5        # the master sleeps
    assert grouped.cpu_percent is not None and 10 <= grouped.cpu_percent <= 110    # its burning worker
    assert grouped.cpu_seconds >= alone.cpu_seconds
    agent.close()


@pytest.mark.parametrize("version", ["2.7", "3.6"])
def test_the_group_sums_on_the_hosts_old_pythons(master, version: str) -> None:
    python = find_python(version)
    assert python is not None, missing_python("3.1.4" if version == "2.7" else "4.1.0@3.6", version)
    agent = local_agent(python=python)
    found = measure(agent.sample([master.pid, 999_999_999], wait=0.3, groups={master.pid, 999_999_999}))
    group = ok(found[master.pid])
    assert group.process_group and group.children == 3 and group.rss_bytes >= 3 * 16 * MIB
    assert 10 <= (group.cpu_percent or 0) <= 110
    assert isinstance(found[999_999_999], ProcFailure)
    agent.close()


def test_a_pid_that_leads_no_group_is_read_alone_even_when_its_group_is_asked(master) -> None:
    (outsider,) = _outsiders(master.pid)
    worker = next(int(n) for n in os.listdir("/proc") if n.isdigit() and _is_worker(int(n), master.pid))
    agent = local_agent()
    found = measure(agent.sample([worker, outsider], groups={worker, outsider}))
    assert not ok(found[worker]).process_group
    assert ok(found[outsider]).process_group and ok(found[outsider]).children == 0
    agent.close()


def ok(found: ProcessResources | ProcFailure) -> ProcessResources:
    assert isinstance(found, ProcessResources), found
    return found


def _is_worker(pid: int, master: int) -> bool:
    try:
        rest = _stat(pid)
    except OSError:
        return False
    return int(rest[1]) == master and int(rest[2]) == master


def test_a_group_line_not_asked_for_ends_the_agent() -> None:
    agent, _ = scripted_agent(b"R 100 4096 10 10 1\nG 7 1 1 1 1 1 0 1\n")
    with pytest.raises(ConnectError, match="process group of pid 7 not asked for"):
        agent.sample([7])
    agent, _ = scripted_agent(b"R 100 4096 10 10 1\nG 7 1 9 1 1 1 2 -1\n")
    sample = agent.sample([7], groups={7})
    assert sample.answers[0] == ProcReading(7, 1, 9, 1, 1, 1, 2, -1, group=True)


class KillAsGroupSupervisor(FakeSupervisor):
    """getAllConfigInfo says killasgroup for the programs named (supervisord 4's field)."""

    def __init__(self, *args: Any, grouped: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grouped = grouped
        self.config_reads = 0

    def dispatch(self, method: str, params: Any) -> Any:
        answer = super().dispatch(method, params)
        if method == "supervisor.getAllConfigInfo":
            self.config_reads += 1
            for config in answer:
                config["killasgroup"] = config["group"] in self.grouped
        return answer


def config_reads(host: FakeHost) -> int:
    assert isinstance(host.supervisor, KillAsGroupSupervisor)
    return host.supervisor.config_reads


def group_host(name: str, pid: int, solo: int, *, version: str = "4.2.5") -> FakeHost:
    """``app`` (killasgroup) runs as ``pid``, ``solo`` (not) as ``solo``."""
    host = FakeHost(name, KillAsGroupSupervisor([ProgramSpec("app", startsecs=0), ProgramSpec("solo", startsecs=0)],
                                                grouped=("app",), version=version))
    fake_fleet([host]).access(name).client().all_process_info()
    host.supervisor.processes["app"].pid = pid
    host.supervisor.processes["solo"].pid = solo
    return host


def test_status_resources_marks_the_group_row_and_json(master) -> None:
    (outsider,) = _outsiders(master.pid)
    found = fetch_resources(fake_fleet([group_host("web01", master.pid, outsider)]), [], wait=0.3)
    lines = status_table(found.status, False, found.resources).splitlines()
    app = next(line for line in lines if " app " in line).split()
    solo = next(line for line in lines if " solo " in line).split()
    assert app[5].endswith("M+") and float(app[5][:-2]) >= 48          # the group's RSS, marked
    assert not solo[5].endswith("+") and 32 <= float(solo[5][:-1]) < 48     # a process read alone
    hosts = status_json(found.status, found.resources)["hosts"]
    entries = {p["name"]: p for p in hosts[0]["processes"]}
    assert entries["app"]["process_group"] is True and entries["app"]["children"] == 3
    assert entries["solo"]["process_group"] is False and entries["solo"]["children"] == 0


def test_before_4_0_supervisord_does_not_say_so_every_process_is_read_alone(master) -> None:
    host = group_host("web01", master.pid, os.getpid(), version="3.3.5")
    found = fetch_resources(fake_fleet([host]), [], wait=0.1)
    assert not any(r.process_group for r in found.resources["web01"].processes.values())
    assert config_reads(host) == 0                 # nothing to ask a release that cannot tell


def test_the_sampler_asks_killasgroup_again_only_when_a_pid_changes(master) -> None:
    host = group_host("web01", master.pid, os.getpid())
    poller = Poller(fake_fleet([host]), interval=0.05, resources=True)
    first = poller.poll_once("web01")
    time.sleep(0.3)
    second = poller.poll_once("web01")
    assert first.resources is not None and second.resources is not None
    group = second.resources.processes["app"]
    assert group.process_group and group.children == 3 and 10 <= (group.cpu_percent or 0) <= 110
    assert config_reads(host) == 1
    host.supervisor.processes["solo"].pid = os.getppid()     # solo restarted (another pid): asked again
    poller.poll_once("web01")
    assert config_reads(host) == 2
    poller.stop()
