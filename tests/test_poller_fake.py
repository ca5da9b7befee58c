"""The shared poller (herd/operations/poller.py) in process, against fake supervisords.

Real-fleet proof: tests/test_watch_fleet.py (status --watch over sshd) and
tests/test_web_browser.py (the page).
"""

from __future__ import annotations

import threading
import time

from herd.operations.poller import Poller
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet
from helpers import wait_until


class CountingSupervisor(FakeSupervisor):
    """Counts the XML-RPC requests (one per round trip) it answers."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[str] = []

    def dispatch(self, method, params):
        self.requests.append(method)
        return super().dispatch(method, params)



def host(name: str) -> FakeHost:
    return FakeHost(name, CountingSupervisor([ProgramSpec("tornado", numprocs=2, numprocs_start=8080),
                                             ProgramSpec("worker")]))


def test_each_host_is_read_in_one_multicall_per_poll_and_snapshots_are_immutable() -> None:
    web01, web02 = host("web01"), host("web02")
    poller = Poller(fake_fleet([web01, web02]), interval=0.05)
    first = poller.poll_once("web01")
    poll = ["system.multicall", "supervisor.getAllProcessInfo", "supervisor.getState"]
    assert web01.supervisor.requests == ["supervisor.getSupervisorVersion"] + poll   # the release, once
    poller.poll_once("web01")
    assert web01.supervisor.requests[4:] == poll
    assert [p.fullname for p in first.processes] == ["tornado:tornado-8080", "tornado:tornado-8081", "worker"]
    before = poller.snapshot()
    poller.poll_once("web02")
    after = poller.snapshot()
    assert before.host("web02").polls == 0 and after.host("web02").polls == 1
    assert after.seq == before.seq + 1


def test_a_poll_that_sees_no_change_is_not_an_event_and_a_state_change_is() -> None:
    web01 = host("web01")
    poller = Poller(fake_fleet([web01]), interval=0.05)
    seen: list[str] = []
    poller.listen(lambda snap: seen.append(snap.host))
    before = poller.poll_once("web01")
    seq = poller.snapshot().seq
    time.sleep(1.1)                       # uptime moves: not a change
    after = poller.poll_once("web01")
    assert poller.snapshot().seq == seq and seen == ["web01"]
    # the answer was the last one with the clock moved: its parse was reused, with the new clock
    assert poller._memos["web01"].reused == 1
    moved = after.processes[0].now - before.processes[0].now
    assert moved >= 1 and after.processes[0].uptime == before.processes[0].uptime + moved
    assert after.processes[0].description != before.processes[0].description
    web01.client().call("supervisor.stopProcess", "worker", False)
    snap = poller.poll_once("web01")
    assert poller.snapshot().seq == seq + 1 and seen == ["web01", "web01"]
    assert next(p for p in snap.processes if p.name == "worker").statename == "STOPPED"


def test_one_poller_thread_per_host_and_a_broken_host_does_not_hold_the_others() -> None:
    web01, web02 = host("web01"), host("web02")
    web02.break_connection("connection reset by peer")
    with Poller(fake_fleet([web01, web02]), interval=0.05) as poller:
        snap = poller.wait_first(2)
        assert snap.host("web02").error == "SSH connection lost: connection reset by peer"
        report = snap.status_report()
        assert report.exit_code == 4 and report.hosts[1].error.reason.startswith("SSH connection lost")
        web01.client().call("supervisor.stopProcess", "worker", False)
        wait_until(lambda: {p.fullname: p.statename for p in poller.snapshot().host("web01").processes}
                   ["worker"] == "STOPPED", 2, "the poller to see worker STOPPED", interval=0.02)
        web02.repair()
        wait_until(lambda: poller.snapshot().host("web02").ok, 3, "the poller to see web02 repaired")
    threads = [t.name for t in threading.enumerate() if t.name.startswith("herd-poll-")]
    assert threads == []


def test_polls_per_interval_do_not_grow_with_the_number_of_listeners() -> None:
    web01 = host("web01")
    with Poller(fake_fleet([web01]), interval=0.1) as poller:
        for _ in range(20):
            poller.listen(lambda snap: None)
        time.sleep(1.05)
    assert 8 <= web01.supervisor.requests.count("system.multicall") <= 13


def test_names_narrow_the_processes_and_missing_names_are_kept() -> None:
    web01 = host("web01")
    poller = Poller(fake_fleet([web01]), names=["worker", "nosuch"])
    snap = poller.poll_once("web01")
    assert [p.fullname for p in snap.processes] == ["worker"] and snap.missing == ("nosuch",)


def test_refresh_polls_at_once_rather_than_at_the_next_tick() -> None:
    web01 = host("web01")
    with Poller(fake_fleet([web01]), interval=30) as poller:
        poller.wait_first(2)
        web01.client().call("supervisor.stopProcess", "worker", False)
        time.sleep(0.1)
        seq = poller.snapshot().seq
        poller.refresh(["web01"])
        snap = poller.wait_change(seq, 2)
    assert snap.seq == seq + 1
