"""Process resources in process: the agent's protocol checks, its /proc readings, the fan-out and rendering.

The agent script runs for real here (FakeHost.open_agent runs it with this
Python on a socketpair), reading this machine's /proc for real processes:
a child of the test that holds memory and burns CPU.  Hostile answers come
from a socket the test writes itself.  Real sshd/supervisord, sudo and old
Pythons: tests/test_resources_fleet.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from herd.errors import ConnectError, HostTimeout
from herd.inventory.model import Inventory
from herd.localfleet.releases import find_python, missing_python
from herd.operations.check import CheckReport, evaluate
from herd.operations.resources import NO_PROC, Sampler, fetch_resources, measure
from herd.render.check import check_json, prometheus
from herd.render.status import format_bytes, status_json, status_table
from herd.ssh.procagent import AGENT_SCRIPT, NoProc, ProcAgent, ProcFailure, ProcReading, ProcSample
from herd.ssh.remote import packed
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet

MIB = 1024 * 1024
# Holds 48 MiB (written, so resident), starts one child, then burns CPU until killed.
HOG = """
import subprocess, sys
held = bytearray(b"x" * (48 << 20))
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
sys.stdout.write("ready\\n"); sys.stdout.flush()
while True:
    pass
"""


@pytest.fixture
def hog() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", HOG], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    yield proc
    for child in _children(proc.pid):
        os.kill(child, 9)
    proc.kill()
    proc.wait()


def _children(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    rest = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(rest[1]) == pid:
                found.append(int(name))
    return found


def _settled(pid: int, deadline: float = 20.0) -> None:
    """Waits until ``pid`` has used no CPU for 0.3 s: the sleeper child is a Python start-up that can
    take seconds on loaded cores, and the test's "idle reads exactly 0 %" means idle, not starting."""
    def ticks() -> int:
        with open(f"/proc/{pid}/stat", "rb") as f:
            rest = f.read().rsplit(b")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    end = time.monotonic() + deadline
    before = ticks()
    while time.monotonic() < end:
        time.sleep(0.3)
        now = ticks()
        if now == before:
            return
        before = now
    raise AssertionError(f"pid {pid} still busy after {deadline} s")


def local_agent(timeout: float = 5.0, python: str = sys.executable) -> ProcAgent:
    """The real agent script under ``python``, on a socketpair, packed as herd/ssh/remote.py sends it."""
    ours, theirs = socket.socketpair()
    subprocess.Popen([python, "-S", "-c", packed(AGENT_SCRIPT)], stdin=theirs.fileno(), stdout=theirs.fileno())
    theirs.close()
    ours.settimeout(timeout)
    assert ours.recv(1) == b"+"
    return ProcAgent(ours, "web01", timeout)


# -- the agent on this machine's /proc -----------------------------------------------------


def test_one_round_trip_reads_rss_cpu_fds_threads_children_of_a_real_process(hog) -> None:
    agent = local_agent()
    (sleeper,) = _children(hog.pid)
    _settled(sleeper)
    sample = agent.sample([hog.pid, os.getpid(), 999_999_999, sleeper], wait=0.5)
    assert sample.hz > 0 and sample.page_size > 0
    assert 40 <= sample.uptime1 - sample.uptime0 <= 150          # hundredths of a second: the 0.5 s pause
    found = measure(sample)
    usage = found[hog.pid]
    assert not isinstance(usage, ProcFailure)
    assert 48 * MIB <= usage.rss_bytes <= 200 * MIB
    assert usage.cpu_percent is not None and 10 <= usage.cpu_percent <= 110     # one core, busy
    assert usage.threads == 1 and usage.children == 1
    assert usage.fds == len(os.listdir(f"/proc/{hog.pid}/fd"))
    assert usage.cpu_seconds > 0
    me = found[os.getpid()]
    assert not isinstance(me, ProcFailure) and me.pid == os.getpid() and me.rss_bytes > 0
    idle = found[sleeper]
    assert not isinstance(idle, ProcFailure) and idle.cpu_percent == 0 and idle.children == 0
    gone = found[999_999_999]
    assert isinstance(gone, ProcFailure) and gone.reason == "process gone"
    agent.close()


@pytest.mark.parametrize("version", ["2.7", "3.6"])
def test_the_agent_runs_on_the_hosts_old_pythons(hog, version: str) -> None:
    python = find_python(version)
    assert python is not None, missing_python("3.1.4" if version == "2.7" else "4.1.0@3.6", version)
    agent = local_agent(python=python)
    usage = measure(agent.sample([hog.pid, 999_999_999], wait=0.3))
    assert 48 * MIB <= usage[hog.pid].rss_bytes <= 200 * MIB            # type: ignore[union-attr]
    assert 10 <= (usage[hog.pid].cpu_percent or 0) <= 110               # type: ignore[union-attr]
    assert usage[hog.pid].children == 1                                 # type: ignore[union-attr]
    assert isinstance(usage[999_999_999], ProcFailure)
    agent.close()


def test_without_a_pause_there_is_no_cpu_percent_and_the_sampler_gives_it_from_the_second_poll(hog) -> None:
    agent = local_agent()
    assert measure(agent.sample([hog.pid]))[hog.pid].cpu_percent is None      # type: ignore[union-attr]
    fakes = [real_pid_host("web01", hog.pid)]
    sampler = Sampler()
    fleet = fake_fleet(fakes)
    access = fleet.access("web01")
    processes = access.client().all_process_info()
    first = sampler.read(access, processes)
    assert first.processes["hog"].cpu_percent is None
    time.sleep(0.4)
    second = sampler.read(access, processes)
    assert 10 <= (second.processes["hog"].cpu_percent or 0) <= 110
    assert len(fakes[0].agents) == 1                # one agent for both polls, kept between them
    sampler.close()
    agent.close()


def test_the_sampler_starts_a_new_agent_after_a_reconnect_and_an_error_is_the_hosts(hog) -> None:
    host = real_pid_host("web01", hog.pid)
    fleet = fake_fleet([host])
    access = fleet.access("web01")
    processes = access.client().all_process_info()
    sampler = Sampler()
    sampler.read(access, processes)
    host.agents[0].kill()                               # the agent dies under the sampler
    result = fleet.attempt(fleet.host("web01"), lambda a: sampler.read(a, processes))
    assert isinstance(result.error, ConnectError) and "process" in result.error.reason
    again = sampler.read(access, access.client().all_process_info())      # reconnected: a new agent
    assert len(host.agents) == 2 and again.processes["hog"].cpu_percent is None     # no stale previous sample
    assert 48 * MIB <= again.processes["hog"].rss_bytes
    sampler.close()
    assert host.agents[1].wait(5) == 0


def test_the_sampler_gives_no_cpu_percent_across_a_restart_of_the_pid() -> None:
    previous = (100, {42: (5000, 300)})
    restarted = ProcSample(100, 4096, 200, 200, (ProcReading(42, 6000, 10, 1, 3, 1, 0, 10),))
    same = ProcSample(100, 4096, 200, 200, (ProcReading(42, 5000, 350, 1, 3, 1, 0, 350),))
    assert measure(restarted, previous)[42].cpu_percent is None         # type: ignore[union-attr]
    assert measure(same, previous)[42].cpu_percent == 50.0              # type: ignore[union-attr]


# -- hostile and broken answers end the agent as a host error -----------------------------------


def scripted_agent(answer: bytes, *, close: bool = False, timeout: float = 1.0) -> tuple[ProcAgent, socket.socket]:
    """An agent whose host side answers ``answer`` to the first request (then closes, with ``close``)."""
    ours, theirs = socket.socketpair()

    def host_side() -> None:
        theirs.recv(4096)
        theirs.sendall(answer)
        if close:
            theirs.close()

    threading.Thread(target=host_side, daemon=True).start()
    ours.settimeout(timeout)
    return ProcAgent(ours, "web01", timeout), theirs


@pytest.mark.parametrize("answer, words", [
    (b"hello\n", "unexpected answer"),
    (b"R 100 4096 10 10 2\nP 7 1 1 1 1 1 0 1\nP 8 1 1 1 1 1 0 1\n", "2 answers for 1 pids"),
    (b"R 100 4096 10 10 1\nP 8 1 1 1 1 1 0 1\n", "answer for pid 8, asked 7"),
    (b"R 100 4096 10 10 1\nE 9 2\n", "answer for pid 9, asked 7"),
    (b"R 100 4096 10 10 1\nP 7 1 5 1 1 1 0 9\n", "CPU ticks went back"),
    (b"R 0 4096 10 10 1\nP 7 1 1 1 1 1 0 1\n", "impossible clock"),
    (b"R 100 4096 20 10 1\nP 7 1 1 1 1 1 0 1\n", "impossible clock"),
    (b"R 100 4096 10 10 1\nP 7 1 1 1 1 1 0 1 \x1b[31m\n", "unexpected answer"),
    (b"R 100 4096 10 10 1\n" + b"9" * 300, "line longer than 256 bytes"),
    (b"R 100 4096 10 10 1\nP 7 1 1 -5 1 1 0 1\n", "unexpected answer"),
])
def test_a_bad_answer_ends_the_agent_as_a_host_error(answer: bytes, words: str) -> None:
    agent, host_side = scripted_agent(answer)
    with pytest.raises(ConnectError) as caught:
        agent.sample([7])
    assert "the process reader on the host answered something herd does not understand" in caught.value.reason
    assert words in caught.value.reason
    assert "\x1b" not in str(caught.value)
    assert agent.broken
    host_side.settimeout(1)
    assert host_side.recv(10) == b""        # the channel is closed: nothing more is read from it


def test_an_agent_that_exits_or_hangs_is_a_host_error_within_the_timeout() -> None:
    agent, _ = scripted_agent(b"R 100 4096 10 10 1\n", close=True)
    with pytest.raises(ConnectError, match="the process reader on the host exited"):
        agent.sample([7])
    agent, _keep = scripted_agent(b"", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(HostTimeout, match="did not answer within 0.3 s"):
        agent.sample([7])
    assert time.monotonic() - started < 1.5 and agent.broken


def test_errnos_are_worded_by_herd() -> None:
    agent, _ = scripted_agent(b"R 100 4096 10 10 2\nE 7 13\nE 8 2\n")
    sample = agent.sample([7, 8])
    assert [a.reason for a in sample.answers] == ["permission denied", "process gone"]     # type: ignore[union-attr]
    assert not agent.broken


# -- a host without /proc ----------------------------------------------------------------------


class NoProcHost(FakeHost):
    """A host whose agent finds no /proc (the real script, looking for a path that does not exist)."""

    def open_agent(self, script, args, what):       # type: ignore[no-untyped-def]
        return super().open_agent(script.replace('"/proc/self/stat"', '"/nonexistent/self/stat"'), args, what)


def real_pid_host(name: str, pid: int, host_class: type[FakeHost] = FakeHost) -> FakeHost:
    """A fake host whose one RUNNING process ``hog`` has a real pid of this machine."""
    host = host_class(name, FakeSupervisor([ProgramSpec("hog", startsecs=0)]))
    fleet = fake_fleet([host])
    fleet.access(name).client().all_process_info()       # supervisord's turn: started
    host.supervisor.processes["hog"].pid = pid
    return host


def test_a_host_without_proc_says_so_in_one_line(hog) -> None:
    agent, _ = scripted_agent(b"X\n")
    with pytest.raises(NoProc):
        agent.sample([7])
    assert not agent.broken                      # not an error of the host: the agent stays usable
    fakes = [real_pid_host("web01", hog.pid), real_pid_host("web03", hog.pid, NoProcHost)]
    found = fetch_resources(fake_fleet(fakes), [], wait=0.1)
    assert found.resources["web03"].no_proc and not found.resources["web01"].no_proc
    lines = status_table(found.status, False, found.resources).splitlines()
    assert "web03: no /proc: resources are read on Linux hosts only" in lines
    assert NO_PROC == "no /proc: resources are read on Linux hosts only"
    row = next(line for line in lines if line.startswith("web03 "))
    assert row.split()[5:9] == ["-", "-", "-", "-"]
    data = status_json(found.status, found.resources)
    assert data["hosts"][1]["resources_error"] == NO_PROC and data["hosts"][1]["processes"][0]["rss_bytes"] is None
    assert found.exit_code == 0


# -- through the fleet: table, JSON, prometheus -----------------------------------------------------


def test_status_with_resources_table_and_json(hog) -> None:
    fakes = [real_pid_host("web01", hog.pid)]
    found = fetch_resources(fake_fleet(fakes), [])
    assert len(fakes[0].agents) == 1 and fakes[0].agents[0].wait(5) == 0     # started for the read, then ended
    lines = status_table(found.status, False, found.resources).splitlines()
    assert lines[0].split() == ["HOST", "PROCESS", "STATE", "PID", "UPTIME", "RSS", "CPU%", "FDS", "THREADS",
                                "DESCRIPTION"]
    host, name, state, pid, uptime, rss, cpu, fds, threads = lines[1].split()
    assert (host, name, state, pid, threads) == ("web01", "hog", "RUNNING", str(hog.pid), "1")
    assert rss.endswith("M") and 48 <= float(rss[:-1]) <= 200
    assert 10 <= float(cpu) <= 110 and int(fds) >= 3
    process = status_json(found.status, found.resources)["hosts"][0]["processes"][0]
    json.dumps(process)
    assert set(process) >= {"rss_bytes", "cpu_percent", "cpu_seconds", "fds", "threads", "children"}
    assert 48 * MIB <= process["rss_bytes"] <= 200 * MIB and 10 <= process["cpu_percent"] <= 110
    assert process["children"] == 1 and process["threads"] == 1 and process["resources_error"] is None


def test_a_stopped_process_and_a_vanished_pid_have_no_resources() -> None:
    host = real_pid_host("web01", 999_999_999)
    host.supervisor.processes["hog"].pid = 999_999_999
    found = fetch_resources(fake_fleet([host]), [], wait=0)
    assert found.resources["web01"].unread == {"hog": "process gone"}
    process = status_json(found.status, found.resources)["hosts"][0]["processes"][0]
    assert process["rss_bytes"] is None and process["resources_error"] == "process gone"
    stopped = FakeHost("web02", FakeSupervisor([ProgramSpec("idle", autostart=False)]))
    found = fetch_resources(fake_fleet([stopped]), [], wait=0)
    assert stopped.agents == []                  # nothing running: no agent started
    assert found.resources["web02"].processes == {}


def test_an_agent_that_cannot_start_is_that_hosts_error_only(hog) -> None:
    good, bad = real_pid_host("web01", hog.pid), real_pid_host("web02", hog.pid)
    bad.break_connection("connection reset by peer")
    found = fetch_resources(fake_fleet([good, bad]), [], wait=0)
    assert found.status.hosts[0].error is None and found.status.hosts[1].error is not None
    assert set(found.resources) == {"web01"} and found.exit_code == 4


def test_prometheus_metrics_only_with_resources(hog) -> None:
    fakes = [real_pid_host("web01", hog.pid)]
    found = fetch_resources(fake_fleet(fakes), [], exits=True)
    inventory = Inventory("fake.yaml", tuple(h.host for h in fakes))
    plain = prometheus(CheckReport(found.status, evaluate(found.status, inventory)))
    assert "herd_process_resident_memory_bytes" not in plain
    report = CheckReport(found.status, evaluate(found.status, inventory), resources=found.resources)
    families = {f.name: f for f in text_string_to_metric_families(prometheus(report))}
    labels = {"host": "web01", "group": "hog", "process": "hog"}
    rss = families["herd_process_resident_memory_bytes"].samples
    assert [s.labels for s in rss] == [labels] and 48 * MIB <= rss[0].value <= 200 * MIB
    assert families["herd_process_cpu_seconds"].type == "counter"       # the parser drops _total
    assert families["herd_process_cpu_seconds"].samples[0].value > 0
    assert 10 <= families["herd_process_cpu_percent"].samples[0].value <= 110
    assert families["herd_process_open_fds"].samples[0].value >= 3
    assert families["herd_process_threads"].samples[0].value == 1
    assert families["herd_process_children"].samples[0].value == 1
    assert check_json(report)["hosts"][0]["processes"][0]["rss_bytes"] == rss[0].value


def test_rss_in_human_units() -> None:
    assert [format_bytes(n) for n in (512, 812 * 1024, int(35.24 * MIB), int(1.4 * 1024 * MIB))] == \
        ["512B", "812K", "35.2M", "1.4G"]
