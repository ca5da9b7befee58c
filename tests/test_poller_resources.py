"""The shared poller with resources (Poller(resources=True)) in process: the real agent on real processes.

FakeHost.open_agent runs herd's process agent with this Python, reading this
machine's /proc (see tests/test_resources_agent.py); the real-fleet proof over
sshd and supervisord is at the end of this file.
"""

from __future__ import annotations

import time

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
    again = poller.poll_once("web01")                      # a new agent at the next poll
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
    assert len(changes) == 1 and len(polls) == 3
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
