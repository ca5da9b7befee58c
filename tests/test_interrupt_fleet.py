"""Ctrl-C (SIGINT) and SIGTERM never leave a half-done command unreported, on real sshd + supervisord.

restart finishes the step in flight (what it stopped is started again);
stop names, per host, what it left stopped and the command that starts it;
a hung host never holds Ctrl-C back, and status prints what the others said;
``stop all`` on several hosts asks first.  Each test leaves every process RUNNING.
"""

from __future__ import annotations

import shlex
import signal
import time
from pathlib import Path

import pytest

from herd.testing.pytest_plugin import module_fleet
from helpers import Running, connected_to, herd, on_a_terminal, wait_until

# Two processes a host whose stop takes 1.5 s (well within the 5 s a Ctrl-C gives the step in flight):
# a test has time to see them STOPPING, then interrupt herd.
EXTRA = """
[program:slowstop]
command=/bin/sh -c 'trap "sleep 1.5; exit 0" TERM; while :; do sleep 0.1; done'
process_name=%(program_name)s-%(process_num)d
numprocs=2
startsecs=0
stopwaitsecs=20
"""
SLOW = ["slowstop:slowstop-0", "slowstop:slowstop-1"]

ifleet = module_fleet("interrupts", hosts=3, extra_config=EXTRA)
HOSTS = ["web01", "web02", "web03"]


@pytest.fixture
def inv(ifleet):
    """The inventory path; afterwards every sshd answers and every process is RUNNING again."""
    yield str(ifleet.inventory_path)
    for name in HOSTS:
        ifleet.resume_sshd(name)
        ifleet.supervisorctl(name, "start", "all")


def states(fleet, names=SLOW) -> dict[str, list[str]]:
    """{host: [state of each of ``names``]}, from supervisord itself."""
    return {h: [fleet.process_states(h)[n] for n in names] for h in HOSTS}


def slow_pids(fleet) -> dict[str, list[int]]:
    return {h: [p["pid"] for p in fleet.rpc(h).supervisor.getAllProcessInfo() if p["group"] == "slowstop"]
            for h in HOSTS}


def interrupt_while_stopping(fleet, *args: str, home, sig: int = signal.SIGINT, hosts: list[str] = HOSTS,
                             stopping=None, what: str = "slowstop STOPPING on every host"
                             ) -> tuple[Running, int, float]:
    """Run herd ARGS; once supervisord shows slowstop STOPPING on ``hosts`` (or ``stopping()`` holds), send
    ``sig``: (the run, its exit code, seconds from the signal to herd's exit)."""
    run = Running(*args, home=home)
    stopping = stopping or (lambda: all(states(fleet)[h] == ["STOPPING", "STOPPING"] for h in hosts))
    try:
        wait_until(stopping, 30, what, give_up=lambda: run.proc.poll() is not None)
        run.proc.send_signal(sig)
        sent = time.monotonic()
        code = run.finish()
        return run, code, time.monotonic() - sent
    finally:
        run.kill()


def test_ctrl_c_mid_restart_finishes_the_step_in_flight(ifleet, home, inv):
    before = slow_pids(ifleet)
    run, code, took = interrupt_while_stopping(ifleet, "restart", "slowstop", "-a", "-i", inv, home=home)
    assert code == 130, run.out + run.err
    assert took < 5, took                                  # the stop's 1.5 s and a start, not a wait for more
    assert run.err == ["herd: interrupted: the steps in flight were finished; herd left nothing stopped"]
    assert run.out[-1] == "3 hosts: 6 starting"            # started again, not waited for after the Ctrl-C
    wait_until(lambda: all(s == ["RUNNING", "RUNNING"] for s in states(ifleet).values()), 30,
               "slowstop RUNNING again everywhere")
    after = slow_pids(ifleet)
    assert all(a != b for h in HOSTS for a, b in zip(after[h], before[h])), (before, after)


def test_sigterm_mid_restart_is_a_ctrl_c(ifleet, home, inv):
    run, code, _ = interrupt_while_stopping(ifleet, "restart", "slowstop", "-H", "web0[12]", "-i", inv,
                                            home=home, sig=signal.SIGTERM, hosts=["web01", "web02"])
    assert code == 130, run.out + run.err
    assert run.err == ["herd: interrupted: the steps in flight were finished; herd left nothing stopped"]
    assert run.out[-1] == "2 hosts: 4 starting"


def test_ctrl_c_mid_stop_names_what_it_left_stopped_and_how_to_start_it(ifleet, home, inv):
    run, code, took = interrupt_while_stopping(ifleet, "stop", "slowstop", "-a", "-i", inv, home=home)
    assert code == 130, run.out + run.err
    assert took < 5, took
    assert run.err == [f"herd: interrupted: {h}: slowstop:slowstop-0, slowstop:slowstop-1 left STOPPED; "
                       f"start them with: herd start -i {inv} -H {h} slowstop:slowstop-0 slowstop:slowstop-1"
                       for h in HOSTS]
    assert states(ifleet) == {h: ["STOPPED", "STOPPED"] for h in HOSTS}      # exactly as said
    command = shlex.split(run.err[1].partition("start them with: ")[2])
    assert command[0] == "herd"
    started = herd(*command[1:], home=home)
    assert started.code == 0, started.out + started.err
    assert states(ifleet)["web02"] == ["RUNNING", "RUNNING"]


def test_ctrl_c_with_a_hung_host_prints_the_answering_hosts_at_once(ifleet, home, inv):
    ifleet.pause_sshd("web02")
    run = Running("status", "--timeout", "20", "-i", inv, home=home)
    try:
        assert run.wait_for(lambda: connected_to(ifleet.host("web02").ssh_port), 20)
        time.sleep(2)       # the scenario: Ctrl-C 2 s in (web01 and web03 answered long since)
        run.proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code = run.finish()
        took = time.monotonic() - sent
    finally:
        run.kill()
        ifleet.resume_sshd("web02")
    assert code == 130, run.out + run.err
    assert took < 1.0, took
    rows = [line.split() for line in run.out[1:-1]]
    assert ["web02", "-", "INTERRUPTED", "-", "-", "no", "answer", "yet"] in rows
    assert sorted({r[0] for r in rows if r[2] == "RUNNING"}) == ["web01", "web03"]
    assert len([r for r in rows if r[2] == "RUNNING"]) == 2 * 7          # tornado x4, worker, slowstop x2
    assert run.out[-1] == "3 hosts, 14 processes: 14 RUNNING; 1 host interrupted before answering"
    assert run.err == ["herd: interrupted: hosts that had not answered are marked so"]


def test_stop_all_on_several_hosts_asks_first(ifleet, home, inv):
    before = slow_pids(ifleet)
    refused = herd("stop", "all", "-a", "-i", inv, home=home)            # no terminal: as reload and shutdown
    assert refused.code == 2
    assert refused.err == ("herd: stop every process on 3 host(s) (web01, web02, web03); no terminal to ask: "
                           "pass --yes to confirm\n")
    declined = on_a_terminal(["stop", "all", "-a", "-i", inv], b"n\n", home)
    assert declined.returncode == 1, declined.stdout + declined.stderr
    assert "stop every process on 3 host(s): web01, web02, web03. Continue? [y/N]" in declined.stdout
    assert declined.stderr == "herd: not confirmed; nothing was changed\n"
    assert slow_pids(ifleet) == before
    accepted = on_a_terminal(["stop", "all", "-g", "odd", "-i", inv], b"y\n", home)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "stop every process on 2 host(s): web01, web03. Continue? [y/N]" in accepted.stdout
    assert accepted.stdout.splitlines()[-1] == "2 hosts: 14 stopped"
    assert set(ifleet.process_states("web01").values()) == {"STOPPED"}
    assert set(ifleet.process_states("web02").values()) == {"RUNNING"}


def test_stop_all_with_yes_or_on_one_host_does_not_ask(ifleet, home, inv):
    one = herd("stop", "all", "-H", "web02", "-i", inv, home=home)
    assert one.code == 0, one.out + one.err
    assert one.out.splitlines()[-1] == "1 host: 7 stopped"
    yes = herd("stop", "all", "-a", "-y", "-i", inv, home=home)
    assert yes.code == 0, yes.out + yes.err
    assert yes.out.splitlines()[-1] == "3 hosts: 14 stopped, 7 not running"
    assert all(set(ifleet.process_states(h).values()) == {"STOPPED"} for h in HOSTS)


# A process that takes 8 s to stop: longer than the 5 s a Ctrl-C gives the step in flight.
STUBBORN = """
[program:stubborn]
command=/bin/sh -c 'trap "sleep 8; exit 0" TERM; while :; do sleep 0.1; done'
startsecs=0
stopwaitsecs=30
"""


def ctrl_c_while_stubborn_stops(own, home, *args: str) -> tuple[Running, int, float]:
    """Ctrl-C herd ARGS once web01's stubborn is STOPPING: (the run, its exit code, seconds to exit)."""
    def stubborn_stopping() -> bool:
        return own.process_states("web01")["stubborn:stubborn"] == "STOPPING"

    return interrupt_while_stopping(own, *args, home=home, what="stubborn STOPPING", stopping=stubborn_stopping)


def test_a_step_that_does_not_end_in_time_is_reported_as_maybe_left_stopped(make_fleet, home):
    own = make_fleet(hosts=1, extra_config=STUBBORN)
    inv = str(own.inventory_path)
    run, code, took = ctrl_c_while_stubborn_stops(own, home, "restart", "stubborn", "-a", "-i", inv)
    assert code == 130, run.out + run.err
    assert 4.5 <= took < 7, took                        # the 5 s bound, not the 8 s stop
    assert run.out == ["web01  interrupted: no answer yet", "1 host: 1 host interrupted before answering"]
    assert run.err == [f"herd: interrupted: web01: stubborn may be left STOPPED (the host's step had not ended "
                       f"5 s after the interrupt); start them with: herd start -i {inv} -H web01 stubborn"]
    wait_until(lambda: own.process_states("web01")["stubborn:stubborn"] == "STOPPED", 30, "stubborn STOPPED")


# -- Ctrl-C during update ------------------------------------------------------------------------------------

def change_command(fleet, program: str, hosts: list[str]) -> list[tuple[Path, str]]:
    """[program:PROGRAM]'s loop sleeps 0.2 s instead of 0.1 s in the config files of ``hosts`` (a changed group);
    the original texts, for put_back."""
    saved = []
    for name in hosts:
        conf = Path(fleet.host(name).conf_path)
        text = conf.read_text()
        head, section, tail = text.partition(f"[program:{program}]\n")
        assert section and "sleep 0.1" in tail.partition("[")[0]
        conf.write_text(head + section + tail.replace("sleep 0.1", "sleep 0.2", 1))
        saved.append((conf, text))
    return saved


def put_back(fleet, saved: list[tuple[Path, str]]) -> None:
    """The original config files, reread (staged again), so the next test finds nothing pending."""
    for conf, text in saved:
        conf.write_text(text)
    for name in HOSTS[:len(saved)]:
        fleet.supervisorctl(name, "reread")


def test_ctrl_c_mid_update_of_a_changed_group_starts_it_again_on_the_config_it_ran(ifleet, home, inv):
    before = slow_pids(ifleet)
    saved = change_command(ifleet, "slowstop", HOSTS)
    try:
        run, code, took = interrupt_while_stopping(ifleet, "update", "slowstop", "-a", "-i", inv, home=home)
        assert code == 130, run.out + run.err
        assert took < 5, took                               # the stop's 1.5 s and a start
        assert run.out == [f"{h}  slowstop  started again, not updated (interrupted)" for h in HOSTS] + [
            "3 hosts: 3 started again, not updated (interrupted)"]
        assert run.err == ["herd: interrupted: the group in flight was finished on every host; herd left no group "
                           "removed or stopped"]
        wait_until(lambda: all(s == ["RUNNING", "RUNNING"] for s in states(ifleet).values()), 30,
                   "slowstop RUNNING again everywhere")
        after = slow_pids(ifleet)
        assert all(a != b for h in HOSTS for a, b in zip(after[h], before[h])), (before, after)
        pending = herd("pending", "-i", inv, home=home)              # not updated: still pending, as said
        assert pending.out.splitlines()[-1] == "slowstop changed on 3 of 3 hosts", pending.out
    finally:
        put_back(ifleet, saved)


def test_ctrl_c_mid_update_with_a_stop_outlasting_5_s_names_the_group_and_the_update_that_finishes_it(
        make_fleet, home):
    own = make_fleet(hosts=1, extra_config=STUBBORN)
    inv = str(own.inventory_path)
    change_command(own, "stubborn", ["web01"])
    run, code, took = ctrl_c_while_stubborn_stops(own, home, "update", "stubborn", "-a", "-i", inv)
    assert code == 130, run.out + run.err
    assert 4.5 <= took < 7, took                        # the 5 s bound, not the 8 s stop
    assert run.out == ["web01  interrupted: no answer yet", "1 host: 1 host interrupted before answering"]
    assert run.err == [f"herd: interrupted: web01: stubborn may be left STOPPED (the host's step had not ended 5 s "
                       f"after the interrupt); bring it back with: herd update -i {inv} -H web01 stubborn"]
    wait_until(lambda: own.process_states("web01")["stubborn:stubborn"] == "STOPPED", 30, "stubborn STOPPED")
    command = shlex.split(run.err[0].partition("bring it back with: ")[2])
    finished = herd(*command[1:], home=home)
    assert finished.code == 0, finished.out + finished.err
    assert finished.out.splitlines() == ["web01  stubborn  updated process group", "1 host: 1 updated process group"]
    assert own.process_states("web01")["stubborn:stubborn"] == "RUNNING"
    config = {c["name"]: c["command"] for c in own.rpc("web01").supervisor.getAllConfigInfo()}
    assert "sleep 0.2" in config["stubborn"], config          # on the new config now
