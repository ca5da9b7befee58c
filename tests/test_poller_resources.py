"""The shared poller with resources (Poller(resources=True)) in process: the real agent on real processes.

FakeHost.open_agent runs herd's process agent with this Python, reading this
machine's /proc (see tests/test_resources_agent.py); the real-fleet proof over
sshd and supervisord is at the end of this file.
"""

from __future__ import annotations

import time
from typing import Any

from herd.operations.poller import HostSnapshot, Poller
from herd.testing.fake import fake_fleet
from test_resources_agent import MIB, hog, real_pid_host      # noqa: F401  (hog: the fixture)


def test_each_poll_samples_the_resources_on_one_kept_agent_and_cpu_percent_comes_from_the_second(hog) -> None:
    host = real_pid_host("web01", hog.pid)
    poller = Poller(fake_fleet([host]), interval=0.05, resources=True)
    first = poller.poll_once("web01")
    assert first.ok and first.resources is not None and first.resources_error is None
    usage = first.resources.processes["hog"]
    assert usage.pid == hog.pid and 48 * MIB <= usage.rss_bytes <= 200 * MIB and usage.cpu_percent is None
    time.sleep(0.4)
    second = poller.poll_once("web01")
    assert second.resources is not None
    assert 10 <= (second.resources.processes["hog"].cpu_percent or 0) <= 110
    assert len(host.agents) == 1 and host.agents[0].poll() is None      # one agent, kept between polls
    assert poller.snapshot().host("web01") is second                   # the snapshot holds the latest sample
    assert poller.snapshot().seq == 1                                  # resources moving is not a change
    poller.stop()
    assert host.agents[0].wait(5) == 0                                 # closed with the poller


def test_without_resources_nothing_is_sampled() -> None:
    host = real_pid_host("web01", 999_999_999)
    poller = Poller(fake_fleet([host]), interval=0.05)
    snap = poller.poll_once("web01")
    assert snap.ok and snap.resources is None and snap.resources_error is None and host.agents == []
    poller.stop()


def test_an_agent_that_fails_leaves_the_host_up_with_its_processes_and_the_reason(hog) -> None:
    host = real_pid_host("web01", hog.pid)
    poller = Poller(fake_fleet([host]), interval=0.05, resources=True)
    poller.poll_once("web01")
    host.agents[0].kill()                                  # the agent dies between two polls
    host.agents[0].wait(5)
    snap = poller.poll_once("web01")
    assert snap.ok and [p.fullname for p in snap.processes] == ["hog"]
    assert snap.resources is None and snap.resources_error and "reading process resources" in snap.resources_error
    assert poller.snapshot().errors == {}
    soon = poller.poll_once("web01")                       # not started again at once: it waits 2 intervals
    assert soon.resources is None and soon.resources_error == snap.resources_error and len(host.agents) == 1
    time.sleep(0.15)
    again = poller.poll_once("web01")                      # then a new agent
    assert again.resources is not None and again.resources.processes["hog"].rss_bytes >= 48 * MIB
    assert len(host.agents) == 2
    poller.stop()


def test_every_poll_listeners_hear_each_poll_and_change_listeners_only_changes(hog) -> None:
    host = real_pid_host("web01", hog.pid)
    poller = Poller(fake_fleet([host]), interval=0.05, resources=True)
    changes: list[HostSnapshot] = []
    polls: list[HostSnapshot] = []
    poller.listen(changes.append)
    stop = poller.listen(polls.append, every_poll=True)
    for _ in range(3):
        poller.poll_once("web01")
    assert len(changes) == 1 and len(polls) == 3          # each poll heard once, with its sample
    assert all(p.resources is not None for p in polls)
    stop()
    poller.poll_once("web01")
    assert len(polls) == 3
    poller.stop()


def test_a_host_that_fails_drops_its_agent(hog) -> None:
    host = real_pid_host("web01", hog.pid)
    poller = Poller(fake_fleet([host]), interval=0.05, resources=True)
    poller.poll_once("web01")
    host.break_connection()
    down = poller.poll_once("web01")
    assert not down.ok and down.resources is None
    assert host.agents[0].wait(5) == 0                     # its agent closed with the lost session
    host.repair()
    up = poller.poll_once("web01")
    assert up.ok and up.resources is not None and up.resources.processes["hog"].cpu_percent is None
    poller.stop()


# -- herd status --resources --watch: the table of each poll ----------------------------------------


def test_the_watch_frame_has_the_resource_columns_updated_each_poll(hog) -> None:
    from herd.cli.watch import frame

    host = real_pid_host("web01", hog.pid)
    poller = Poller(fake_fleet([host]), interval=0.05, resources=True)
    poller.poll_once("web01")
    first = frame(poller, (), False, 200, 40).replace("\x1b[K", "").replace("\x1b[J", "").split("\r\n")
    assert first[0].startswith("\x1b[Hherd status --resources --watch  every 0.05s")
    assert first[2].split() == ["HOST", "PROCESS", "STATE", "PID", "UPTIME", "RSS", "CPU%", "FDS", "THREADS",
                                "DESCRIPTION"]
    host_, name, state, pid, uptime, rss, cpu, fds, threads = first[3].split()
    assert (host_, name, state, pid, cpu, threads) == ("web01", "hog", "RUNNING", str(hog.pid), "-", "1")
    assert rss.endswith("M") and 48 <= float(rss[:-1]) <= 200 and int(fds) >= 3
    time.sleep(0.4)
    poller.poll_once("web01")
    second = frame(poller, (), False, 200, 40).replace("\x1b[K", "").replace("\x1b[J", "").split("\r\n")
    assert 10 <= float(second[3].split()[6]) <= 110         # CPU % from the second poll
    poller.stop()


def test_the_watch_table_says_why_a_hosts_resources_are_missing(hog) -> None:
    from herd.cli.watch import table

    host = real_pid_host("web01", hog.pid)
    poller = Poller(fake_fleet([host]), interval=0.05, resources=True)
    poller.poll_once("web01")
    host.agents[0].kill()
    host.agents[0].wait(5)
    poller.poll_once("web01")
    lines = table(poller, (), False).splitlines()
    assert lines[1].split()[5:9] == ["-", "-", "-", "-"] and lines[1].split()[2] == "RUNNING"
    assert lines[2].startswith("web01: resources not read: SSH connection lost while reading process resources")
    plain = Poller(fake_fleet([real_pid_host("web02", hog.pid)]), interval=0.05)
    plain.poll_once("web02")
    assert "RSS" not in table(plain, (), False).splitlines()[0]          # without --resources: as before
    poller.stop()
    plain.stop()


def test_the_plain_watch_prints_a_table_every_interval_with_resources(hog, monkeypatch) -> None:
    import io

    from herd.cli import watch as watching

    host = real_pid_host("web01", hog.pid)
    poller = Poller(fake_fleet([host]), interval=0.2, resources=True).start()
    poller.wait_first(5)
    out = io.StringIO()
    tables: list[str] = []

    def write(text: str) -> int:
        tables.append(text)
        if len(tables) == 4:
            raise KeyboardInterrupt
        return len(text)

    monkeypatch.setattr(out, "write", write)
    started = time.monotonic()
    assert watching._plain(poller, (), False, out) == 130
    took = time.monotonic() - started
    poller.stop()
    assert 0.5 <= took <= 3.0                               # one table per interval although nothing changed
    cpus = [t.splitlines()[2].split()[6] for t in tables]
    assert all(t.splitlines()[1].split()[5] == "RSS" for t in tables)
    assert any(c != "-" and 10 <= float(c) <= 110 for c in cpus[1:])


class SlowSampler:
    """A sampler whose agent takes ``delay`` seconds to answer (a start on a loaded host)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.reads: list[float] = []

    def read(self, access: Any, processes: Any) -> Any:
        from herd.operations.resources import HostResources

        time.sleep(self.delay)
        self.reads.append(time.monotonic())
        return HostResources(access.name)

    def forget(self, host: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_change_is_heard_before_the_sample_and_every_poll_listeners_after_it() -> None:
    from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec

    host = FakeHost("web01", FakeSupervisor([ProgramSpec("worker")]))
    sampler = SlowSampler(0.5)
    poller = Poller(fake_fleet([host]), interval=0.05, resources=True, sampler=sampler)
    heard: list[tuple[str, float, HostSnapshot]] = []
    poller.listen(lambda snap: heard.append(("change", time.monotonic(), snap)))
    poller.listen(lambda snap: heard.append(("poll", time.monotonic(), snap)), every_poll=True)
    poller.poll_once("web01")
    host.client().call("supervisor.stopProcess", "worker", False)
    heard.clear()
    done = poller.poll_once("web01")
    assert [kind for kind, _, _ in heard] == ["change", "poll"]
    (_, changed_at, changed), (_, polled_at, polled) = heard
    assert changed_at < sampler.reads[-1] <= polled_at            # the change did not wait for the sample
    assert changed.processes[0].statename == "STOPPED" and polled is done and done.polls == 2
    assert polled.resources is not None and poller.snapshot().seq == 2


def test_agents_start_a_few_at_a_time_and_a_host_waiting_its_turn_keeps_what_it_had(hog) -> None:
    from herd.operations.resources import Sampler

    web01, web02 = real_pid_host("web01", hog.pid), real_pid_host("web02", hog.pid)
    sampler = Sampler(max_starts=1)
    poller = Poller(fake_fleet([web01, web02]), interval=0.05, resources=True, sampler=sampler)
    assert poller.poll_once("web01").resources is not None and len(web01.agents) == 1
    assert sampler._starts is not None and sampler._starts.acquire(blocking=False)   # another start under way
    waiting = poller.poll_once("web02")
    assert waiting.ok and waiting.resources is None and waiting.resources_error is None and web02.agents == []
    kept = poller.poll_once("web01")                       # a started agent is not a start: read as usual
    assert kept.resources is not None and kept.resources.processes["hog"].rss_bytes >= 48 * MIB
    sampler._starts.release()
    turn = poller.poll_once("web02")                       # its turn: no failure was counted, no wait
    assert turn.resources is not None and len(web02.agents) == 1
    poller.stop()
