"""guard's inventory rules in process: flapping, rss above X for T, probe failing N times, config pending for T,
per program and "*" (herd/operations/guard/rules.py), on hand-made snapshots with a fake clock, and through
Guard and the shared poller over fake supervisords (herd/testing/fake.py).

Real-fleet proof (sshd + supervisord): tests/test_guard_rules_fleet.py.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

from herd.inventory.guard import RuleSettings
from herd.operations.events import EventTracker
from herd.operations.guard.engine import Guard
from herd.operations.guard.incidents import IncidentBook
from herd.operations.guard.rules import (FlappingRule, PendingRule, PollData, ProbeRule, Rule, RssRule, Scope, Signal,
                                         describe_rules, inventory_rules, restarted, rule_for)
from herd.operations.poller import HostSnapshot, Poller
from herd.operations.resources import HostResources, ProcessResources
from herd.operations.rolling.probes import Probe
from herd.supervisor.models import ProcessInfo, ProcessState
from herd.testing.guard import Recorder, guard_running
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet
from helpers import wait_until

MIB = 1 << 20


def proc(name: str, state: str = "RUNNING", pid: int = 100, *, start: int = 1000, stop: int = 0) -> ProcessInfo:
    group, _, own = name.partition(":")
    running = state in ("RUNNING", "STARTING", "STOPPING")
    return ProcessInfo(own or group, group, ProcessState[state], pid if running else 0, start, stop, start + 10)


def snap(host: str, *procs: ProcessInfo, at: float = 0.0, rss: dict[str, int] | None = None) -> HostSnapshot:
    resources = None
    if rss is not None:
        resources = HostResources(host, {p.fullname: ProcessResources(p.pid, rss[p.fullname], None, 0.0, 3, 1, 0)
                                         for p in procs if p.fullname in rss})
    return HostSnapshot(host, tuple(procs), polled_at=at, resources=resources)


def fired(signals: Sequence[Signal]) -> list[tuple[str, str | None]]:
    return [(s.host, s.process) for s in signals if s.firing]


def recovered(signals: Sequence[Signal]) -> list[tuple[str, str | None, str]]:
    return [(s.host, s.process, s.how) for s in signals if not s.firing]


class Feed:
    """Snapshots of one host through the events model, into one rule, as guard's loop feeds them."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.tracker = EventTracker()

    def poll(self, snapshot: HostSnapshot) -> list[Signal]:
        return [s for e in self.tracker.feed(snapshot, snapshot.polled_at) for s in self.rule.observe(e)]


# -- flapping -------------------------------------------------------------------------------------

def test_flapping_fires_at_the_nth_start_within_the_window_once_and_recovers_after_the_window_quiet() -> None:
    rule = FlappingRule(3, 300.0)
    feed = Feed(rule)
    assert feed.poll(snap("web01", proc("worker", pid=10), at=0)) == []
    assert feed.poll(snap("web01", proc("worker", "STARTING", pid=11, start=1010), at=10)) == []   # autorestart 1
    assert feed.poll(snap("web01", proc("worker", pid=11, start=1010), at=12)) == []               # STARTING -> RUNNING
    assert feed.poll(snap("web01", proc("worker", "STARTING", pid=12, start=1050), at=50)) == []   # 2
    signals = feed.poll(snap("web01", proc("worker", "STARTING", pid=13, start=1100), at=100))     # 3 (a cycle)
    assert fired(signals) == [("web01", "worker")]
    assert signals[0].detail.startswith("3 starts within 5m; last: STARTING -> STARTING")
    assert fired(feed.poll(snap("web01", proc("worker", pid=14, start=1200), at=200))) == []       # still firing
    assert rule.tick(499) == []                                   # 299 s after the last start
    assert recovered(rule.tick(500)) == [("web01", "worker", "no start for 5m")]
    assert rule.tick(900) == [] and rule._starts == {} and rule._fired == set()     # nothing kept


def test_the_crash_seen_only_as_running_to_starting_or_a_new_pid_counts_and_someones_start_does_not() -> None:
    def event(before: str, after: str, same_pid: bool = False):
        tracker = EventTracker()
        tracker.feed(snap("h", proc("w", before, pid=5, start=1000)), 0)
        pid, start = (5, 1000) if same_pid else (6, 1001)
        return tracker.feed(snap("h", proc("w", after, pid=pid, start=start, stop=1000)), 1)[0]
    assert restarted(event("RUNNING", "STARTING"))
    assert restarted(event("RUNNING", "RUNNING"))             # a whole crash and restart between two polls
    assert restarted(event("EXITED", "RUNNING"))              # its STARTING fell between two polls
    assert restarted(event("RUNNING", "BACKOFF"))
    assert restarted(event("BACKOFF", "STARTING"))
    assert not restarted(event("STARTING", "BACKOFF"))        # the STARTING before it counted already
    assert not restarted(event("STARTING", "RUNNING"))
    assert not restarted(event("STOPPED", "STARTING"))        # someone's start
    assert not restarted(event("FATAL", "STARTING"))
    assert not restarted(event("RUNNING", "EXITED"))          # an end, not a start


def test_starts_spread_wider_than_the_window_never_fire_and_a_stop_recovers() -> None:
    rule = FlappingRule(2, 60.0)
    feed = Feed(rule)
    feed.poll(snap("web01", proc("worker", pid=10), at=0))
    assert fired(feed.poll(snap("web01", proc("worker", pid=11, start=1001), at=10))) == []
    assert fired(feed.poll(snap("web01", proc("worker", pid=12, start=1002), at=100))) == []       # 90 s apart
    assert fired(feed.poll(snap("web01", proc("worker", pid=13, start=1003), at=130))) == [("web01", "worker")]
    assert recovered(feed.poll(snap("web01", proc("worker", "STOPPED", stop=1004), at=131))) == \
        [("web01", "worker", "STOPPED")]


# -- rss --------------------------------------------------------------------------------------------

def test_rss_above_for_t_fires_once_at_t_and_recovers_below_with_a_fake_clock() -> None:
    rule = RssRule(800 * MIB, 300.0)
    data = PollData()
    p = proc("tornado:tornado-8080", pid=42)
    first = rule.measure(snap("web01", p, rss={p.fullname: 100 * MIB}), data, 0)
    assert recovered(first) == [("web01", "tornado:tornado-8080", "RSS 100M")]     # first look: fine (once)
    assert rule.measure(snap("web01", p, rss={p.fullname: 200 * MIB}), data, 5) == []
    assert rule.measure(snap("web01", p, rss={p.fullname: 900 * MIB}), data, 10) == []     # above since 10
    assert rule.measure(snap("web01", p), data, 200) == []                      # no sample this poll: nothing known
    assert rule.measure(snap("web01", p, rss={p.fullname: 950 * MIB}), data, 309) == []
    signals = rule.measure(snap("web01", p, rss={p.fullname: 950 * MIB}), data, 310)
    assert fired(signals) == [("web01", "tornado:tornado-8080")]
    assert signals[0].detail == "RSS 950M above 800M for 5m" and signals[0].subject == "tornado"
    assert rule.measure(snap("web01", p, rss={p.fullname: 990 * MIB}), data, 312) == []   # one signal, not one a poll
    assert recovered(rule.measure(snap("web01", p, rss={p.fullname: 300 * MIB}), data, 320)) == \
        [("web01", "tornado:tornado-8080", "RSS 300M")]
    # above again: the time starts over
    assert rule.measure(snap("web01", p, rss={p.fullname: 900 * MIB}), data, 330) == []
    assert rule.measure(snap("web01", p, rss={p.fullname: 900 * MIB}), data, 600) == []


def test_rss_a_restart_recovers_and_a_process_that_goes_is_forgotten() -> None:
    rule = RssRule(100, 0.0)
    p = proc("worker", pid=7)
    assert fired(rule.measure(snap("web01", p, rss={"worker": 500}), PollData(), 0)) == [("web01", "worker")]
    assert recovered(rule.measure(snap("web01", proc("worker", "STARTING", pid=8)), PollData(), 1)) == \
        [("web01", "worker", "STARTING")]
    assert fired(rule.measure(snap("web01", proc("worker", pid=8), rss={"worker": 500}), PollData(), 2)) == \
        [("web01", "worker")]
    assert recovered(rule.measure(snap("web01"), PollData(), 3)) == [("web01", "worker", "gone")]
    assert rule._since == {} and rule._seen == {} and rule._fired == set()


# -- probe ------------------------------------------------------------------------------------------

def test_a_probe_failing_3_times_in_a_row_fires_once_then_passing_recovers() -> None:
    probe = Probe("http", "http://127.0.0.1:{port}/health")
    rule = ProbeRule(3, {"tornado": probe})
    p = proc("tornado:tornado-8080")
    host = snap("web01", p, proc("worker"))

    def poll(passed: bool | None, now: float) -> list[Signal]:
        results = {} if passed is None else {p.fullname: (passed, "GET http://127.0.0.1:8080/health -> 500")}
        return rule.measure(host, PollData(probes=results), now)
    assert rule.probe_for("tornado:tornado-8080") is probe and rule.probe_for("worker") is None
    assert fired(poll(False, 1)) == [] and fired(poll(False, 2)) == []
    assert poll(None, 3) == []                     # not probed this poll (host busy): the count waits
    signals = poll(False, 4)
    assert fired(signals) == [("web01", "tornado:tornado-8080")]
    assert signals[0].detail == "3 failed probes in a row: GET http://127.0.0.1:8080/health -> 500"
    assert poll(False, 5) == []
    assert recovered(poll(True, 6)) == [("web01", "tornado:tornado-8080", "probe passed")]
    assert poll(True, 7) == []
    assert fired(poll(False, 8)) == [] and fired(poll(False, 9)) == []      # the count starts over


# -- pending ----------------------------------------------------------------------------------------

def test_config_pending_for_t_fires_per_group_and_an_applied_config_recovers() -> None:
    rule = PendingRule(3600.0)
    host = snap("web01", proc("tornado:tornado-8080"), proc("worker"))
    first = rule.measure(host, PollData(pending=("tornado",)), 0)
    assert recovered(first) == [("web01", None, "applied")] and first[0].subject == "worker"   # first reread
    assert rule.measure(host, PollData(), 100) == []           # not reread at this poll
    assert rule.tick(3599) == []
    signals = rule.tick(3600)
    assert [(s.host, s.subject, s.process, s.firing) for s in signals] == [("web01", "tornado", None, True)]
    assert signals[0].detail.startswith("config pending for 1h")
    assert rule.measure(host, PollData(pending=("tornado",)), 3700) == []
    assert [(s.subject, s.how) for s in rule.measure(host, PollData(pending=()), 3800)] == [("tornado", "applied")]
    assert rule.reread_every == 60.0 and PendingRule(30).reread_every == 15.0


# -- per program and "*" ----------------------------------------------------------------------------

def test_a_programs_own_rule_applies_to_it_and_star_to_the_rest_even_where_its_own_is_false() -> None:
    settings = [RuleSettings("rss", "tornado", above_bytes=800 * MIB, remediate=True),
                RuleSettings("rss", "*", above_bytes=1024 * MIB),
                RuleSettings("fatal", "*"),
                RuleSettings("unreachable", "", for_seconds=120)]
    rules = inventory_rules(settings, {}, off=[("worker", "fatal")])
    tornado_rss, star_rss, star_fatal, unreachable = rules
    t, w = proc("tornado:tornado-8080"), proc("worker")
    sizes = {t.fullname: 900 * MIB, w.fullname: 900 * MIB}
    assert fired(tornado_rss.measure(snap("h", t, w, rss=sizes), PollData(), 0)) == [("h", "tornado:tornado-8080")]
    assert fired(star_rss.measure(snap("h", t, w, rss=sizes), PollData(), 0)) == []       # 900M < 1G; tornado's own
    sizes[w.fullname] = 1100 * MIB
    sizes[t.fullname] = 2000 * MIB
    assert fired(star_rss.measure(snap("h", t, w, rss=sizes), PollData(), 1)) == [("h", "worker")]
    feed = Feed(star_fatal)
    feed.poll(snap("h", proc("worker"), proc("api"), at=0))
    assert fired(feed.poll(snap("h", proc("worker", "FATAL"), proc("api", "FATAL"), at=1))) == [("h", "api")]
    assert tornado_rss.remediate and not star_rss.remediate
    assert rule_for(rules, Signal("rss", "h", "tornado", "tornado:tornado-8080", True, 0)) is tornado_rss
    assert rule_for(rules, Signal("rss", "h", "worker", "worker", True, 0)) is star_rss
    assert rule_for(rules, Signal("unreachable", "h", "", None, True, 0)) is unreachable
    assert describe_rules(rules) == ("tornado: rss > 800M (restart); *: rss > 1G, fatal; "
                                     "hosts: unreachable for 2m")
    assert Scope("*", frozenset({"tornado"})).covers("worker") and not Scope("tornado").covers("worker")


# -- through Guard and the poller, over fake supervisords --------------------------------------------

class Sizes:
    """A resource reader for the poller: the RSS this test says, by process name."""

    def __init__(self) -> None:
        self.rss: dict[str, int] = {}

    def read(self, access, processes) -> HostResources:
        return HostResources(access.name, {p.fullname: ProcessResources(p.pid, self.rss.get(p.fullname, MIB), None,
                                                                        0.0, 3, 1, 0) for p in processes if p.pid})

    def forget(self, host: str) -> None:
        pass

    def close(self) -> None:
        pass


@contextlib.contextmanager
def guarding(hosts: list[FakeHost], rules: list[Rule], *,
             sampler: Sizes | None = None) -> Iterator[tuple[Guard, Recorder]]:
    channel = Recorder()
    book = IncidentBook({r.name: r.title for r in rules}, len(hosts), group_wait=0.0)
    guard = Guard([h.name for h in hosts], rules, [channel], book=book)
    poller = Poller(fake_fleet(hosts), 0.05, resources=sampler is not None, sampler=sampler)
    with guard_running(guard, poller, close_timeout=1.0):
        yield guard, channel


def hosts_of(*extra: ProgramSpec, count: int = 2) -> list[FakeHost]:
    specs = [ProgramSpec("tornado", numprocs=2, numprocs_start=8080), ProgramSpec("worker"), *extra]
    return [FakeHost(f"web{i:02d}", FakeSupervisor(specs)) for i in range(1, count + 1)]


def test_guard_runs_the_probes_from_each_host_and_one_failing_host_is_one_incident_then_its_recovery() -> None:
    hosts = hosts_of()
    for host in hosts:
        host.serving = True
    hosts[1].http_status = 500
    rule = ProbeRule(3, {"tornado": Probe("http", "http://127.0.0.1:{port}/health")})
    with guarding(hosts, [rule]) as (guard, channel):
        assert guard.needs == {"polls", "probes"}
        wait_until(lambda: channel.notes, 10, "the probe incident")
        assert channel.events() == [("opened", "probe", "tornado", ["web02"])]
        assert sorted(channel.notes[0].incident.hosts["web02"].processes) == ["tornado:tornado-8080",
                                                                              "tornado:tornado-8081"]
        assert "-> 500" in channel.notes[0].incident.hosts["web02"].detail
        hosts[1].http_status = 200
        wait_until(lambda: len(channel.notes) == 2, 10, "the recovery")
    assert channel.events()[1] == ("resolved", "probe", "tornado", [])


def test_guard_sees_a_program_flapping_and_rss_above_its_limit_through_the_poller() -> None:
    hosts = hosts_of(count=1)
    sizes = Sizes()
    rules: list[Rule] = [FlappingRule(3, 60.0, scope=Scope("worker")),
                         RssRule(500 * MIB, 0.2, scope=Scope("tornado"))]
    with guarding(hosts, rules, sampler=sizes) as (guard, channel):
        wait_until(lambda: "web01" in guard._last, 10, "the first poll")
        for _ in range(3):                  # a crash autorestarted before the next poll: a new pid each time
            hosts[0].supervisor.crash("worker")
            wait_until(lambda: guard._last["web01"].processes[-1].pid == hosts[0].supervisor.info("worker")["pid"],
                       10, "the poll after the crash")
        wait_until(lambda: channel.notes, 10, "the flapping incident")
        assert channel.events() == [("opened", "flapping", "worker", ["web01"])]
        sizes.rss["tornado:tornado-8081"] = 900 * MIB
        wait_until(lambda: len(channel.notes) == 2, 10, "the rss incident")
        assert channel.events()[1] == ("opened", "rss", "tornado", ["web01"])
        assert channel.notes[1].incident.hosts["web01"].processes == ["tornado:tornado-8081"]
        sizes.rss.clear()
        wait_until(lambda: len(channel.notes) == 3, 10, "the rss recovery")
        assert channel.events()[2] == ("resolved", "rss", "tornado", [])


def test_guard_rereads_the_config_for_a_pending_rule_and_an_update_recovers_it() -> None:
    hosts = hosts_of()
    rule = PendingRule(0.3)
    with guarding(hosts, [rule]) as (guard, channel):
        hosts[0].supervisor.edit_config("worker", command="/usr/local/bin/worker --v2")
        wait_until(lambda: channel.notes, 10, "the pending incident")
        assert channel.events() == [("opened", "pending", "worker", ["web01"])]
        hosts[0].supervisor.edit_config("worker", command=None)     # the change undone: nothing pending
        wait_until(lambda: len(channel.notes) == 2, 10, "the recovery")
    assert channel.events()[1] == ("resolved", "pending", "worker", [])
