"""herd rolling-update on real sshd + supervisord + the Tornado app: config changes rolled behind the gate.

One 3-host fleet for the module; each test changes config files and rolls
them, and the fixture puts every host back on the fleet's own config.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from herd.testing.pytest_plugin import module_fleet
from helpers import herd, herd_env, wait_until
from test_rolling_fleet import Poller, pids

HOSTS = ("web01", "web02", "web03")
POOL = """
[program:pool]
command=sleep 3600
process_name=%(program_name)s-%(process_num)s
numprocs=4
startsecs=0
stopwaitsecs=2
"""

ufleet = module_fleet("rolling-update", hosts=3, extra_config=POOL)


@pytest.fixture
def inv(ufleet, home):
    """The inventory; afterwards every host runs its original config again, everything started."""
    originals = {h: Path(ufleet.host(h).conf_path).read_text() for h in HOSTS}
    yield str(ufleet.inventory_path)
    for name, text in originals.items():
        Path(ufleet.host(name).conf_path).write_text(text)
        ufleet.fix_app(name)
    restore = herd("update", "-a", "-y", "-i", str(ufleet.inventory_path), home=home, timeout=120)
    assert restore.code == 0, restore.out + restore.err
    for name in HOSTS:
        ufleet.supervisorctl(name, "start", "all")
        ufleet.wait_running(name, timeout=30)


def edit(fleet, host: str, section: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in one [program:SECTION] of a host's config file."""
    conf = Path(fleet.host(host).conf_path)
    text = conf.read_text()
    head, marker, tail = text.partition(f"[program:{section}]\n")
    assert marker, f"{host}: no [program:{section}]"
    body, sep, rest = tail.partition("\n[")
    assert old in body, f"{host}: {old!r} not in [program:{section}]"
    conf.write_text(head + marker + body.replace(old, new, 1) + sep + rest)


def new_build(fleet, host: str) -> None:
    """A harmless change of tornado's command, as a deploy makes (a new flag value in its environment)."""
    edit(fleet, host, "tornado", "startsecs=1", "startsecs=1\nenvironment=BUILD=\"2\"")


def break_build(fleet, host: str) -> None:
    """A new config whose command exits at once: the processes end FATAL."""
    conf = Path(fleet.host(host).conf_path)
    conf.write_text(re.sub(r"(\[program:tornado\]\n)command=[^\n]*", r"\1command=/bin/sh -c 'exit 3'",
                           conf.read_text(), count=1))


def row(out: str, host: str) -> list[str]:
    """A host's line of the report, split: [status, done/planned]."""
    return next(line.split()[1:3] for line in out.splitlines() if line.startswith(f"{host}  "))


def roll(inv: str, home, *args: str, timeout: float = 240):
    return herd("rolling-update", "-i", inv, *args, home=home, timeout=timeout)


def test_a_changed_command_rolls_host_by_host_behind_the_probe(ufleet, home, inv):
    for host in HOSTS:
        new_build(ufleet, host)
    before = pids(ufleet)
    ports = {h: ufleet.host(h).tornado_ports for h in HOSTS}
    with Poller(ufleet) as poller:
        run = roll(inv, home, "tornado", "--http", "http://127.0.0.1:{port}/", "--min-healthy", "1")
    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert lines[0] == "rolling update of tornado: 3 host(s) with pending config in 3 batch(es) (--batch 1)"
    assert lines[2:5] == [f"  batch {i}/3  {h}: tornado: re-add on the new config (4 processes)"
                          for i, h in enumerate(HOSTS, 1)]
    assert lines[5] == ("  note: tornado: all 4 processes stop together on web01, web02, web03 (supervisord applies "
                        "a group's new config only by re-adding it whole), so --per-host 1 cannot hold there; the "
                        "hosts of one batch at a time are down")
    assert re.match(r"roll done: 12 of 12 process\(es\) updated in [\d.]+s$", lines[-1]), lines[-1]
    for host in HOSTS:
        assert row(run.out, host) == ["done", "4/4"]
        for port in ports[host]:
            assert re.search(rf"tornado:tornado-{port}: pid \d+ -> \d+ \(GET http://127.0.0.1:{port}/ -> 200\)",
                             run.out), run.out
    # never a moment with nothing serving: at most one host's processes were down at once
    assert poller.samples > 20
    assert poller.max_down <= 4, poller.max_down
    after = pids(ufleet)
    tornado = [k for k in before if k[1].startswith("tornado:")]
    assert all(after[k] != before[k] for k in tornado)              # each process restarted ...
    assert all(after[k] == before[k] for k in before if k not in tornado)   # ... and nothing else
    # ... once: supervisord spawned each exactly once since the roll began
    for host in HOSTS:
        log = Path(ufleet.host(host).log_dir, "supervisord.log").read_text()
        for port in ports[host]:
            assert log.count(f"spawned: 'tornado-{port}'") == 2, (host, port)   # at fleet start, at the roll
    # the new config runs everywhere: nothing pending, the environment applied
    pending = herd("pending", "-i", inv, home=home)
    assert pending.out.splitlines()[-1] == "3 hosts: no pending config changes", pending.out
    for host in HOSTS:
        environ = Path(f"/proc/{after[(host, f'tornado:tornado-{ports[host][0]}')]}/environ").read_bytes()
        assert b"BUILD=2" in environ.split(b"\0")


def test_a_broken_config_halts_after_the_first_host(ufleet, home, inv):
    for host in HOSTS:
        break_build(ufleet, host)
    before = pids(ufleet)
    run = roll(inv, home, "tornado", "--min-healthy", "1", "--timeout-healthy", "60")
    assert run.code == 1, run.out + run.err
    assert row(run.out, "web01")[0] == "failed"
    assert row(run.out, "web02") == row(run.out, "web03") == ["untouched", "0/4"]
    assert re.search(r"tornado:tornado-\d+: FAILED in start: FATAL while starting", run.out), run.out
    assert re.match(r"roll HALTED: \d+ of 12 process\(es\) updated in [\d.]+s; 1 host\(s\) failed; untouched: "
                    r"web02, web03; continue with --resume$", run.out.splitlines()[-1]), run.out
    after = pids(ufleet)
    assert {k: v for k, v in after.items() if k[0] != "web01"} == \
        {k: v for k, v in before.items() if k[0] != "web01"}       # the other hosts untouched
    for host in ("web02", "web03"):
        assert {p["statename"] for p in ufleet.rpc(host).supervisor.getAllProcessInfo()} == {"RUNNING"}


def test_numprocs_up_and_down_and_the_other_hosts_keep_their_processes(ufleet, home, inv):
    for host in HOSTS:
        edit(ufleet, host, "pool", "numprocs=4", "numprocs=6")
    dry = roll(inv, home, "pool", "--min-healthy", "0", "--dry-run")
    assert dry.code == 0, dry.out + dry.err
    assert "  batch 1/3  web01: pool: re-add on the new config (4 -> 6 processes)" in dry.out.splitlines()
    before = pids(ufleet)
    run = roll(inv, home, "pool", "--min-healthy", "0.5")
    assert run.code == 0, run.out + run.err
    for host in HOSTS:
        assert row(run.out, host) == ["done", "6/6"]
        assert f"{host} pool:pool-4: ok (new, pid " in run.err, run.err
        states = {f"{p['group']}:{p['name']}": p["statename"] for p in ufleet.rpc(host).supervisor.getAllProcessInfo()
                  if p["group"] == "pool"}
        assert states == {f"pool:pool-{i}": "RUNNING" for i in range(6)}
    assert "roll done: 18 of 18 process(es) updated" in run.out

    for host in HOSTS:
        edit(ufleet, host, "pool", "numprocs=6", "numprocs=4")
    middle = pids(ufleet)
    run = roll(inv, home, "pool", "--min-healthy", "0.5", "-H", "web02")
    assert run.code == 0, run.out + run.err
    assert "  batch 1/1  web02: pool: re-add on the new config (6 -> 4 processes)" in run.out.splitlines()
    assert re.search(r"pool:pool-5: was pid \d+ \(stopped and removed \(not in the new config\)\)", run.out), run.out
    after = pids(ufleet)
    assert sorted(k[1] for k in after if k[0] == "web02" and k[1].startswith("pool:")) == \
        [f"pool:pool-{i}" for i in range(4)]
    assert {k: v for k, v in after.items() if k[0] != "web02"} == \
        {k: v for k, v in middle.items() if k[0] != "web02"}       # only the selected host changed
    assert before   # (read before the first roll: the 4 -> 6 roll replaced every pool process)


def test_added_and_removed_groups_only_on_the_hosts_of_the_batch(ufleet, home, inv, tmp_path):
    for host in HOSTS:
        conf = Path(ufleet.host(host).conf_path)
        text = conf.read_text()
        head, _, tail = text.partition("[program:pool]\n")
        _, sep, rest = tail.partition("\n[")
        conf.write_text(head + (("[" + rest) if sep else "") + "\n[program:extra]\ncommand=sleep 3600\nstartsecs=0\n")
    marks = tmp_path / "hooks.log"
    hook = f"echo {{host}} >> {marks}"
    run = roll(inv, home, "pool", "extra", "--min-healthy", "0.5", "--pre-hook", hook)
    assert run.code == 0, run.out + run.err
    assert "  batch 1/3  web01: pool: remove (4 processes); extra: add (1 process)" in run.out.splitlines()
    for host in HOSTS:
        groups = {p["group"] for p in ufleet.rpc(host).supervisor.getAllProcessInfo()}
        assert "pool" not in groups and "extra" in groups
    assert [line.split()[0] for line in marks.read_text().splitlines()] == list(HOSTS)
    progress = run.err.splitlines()
    # host by host: web02's pool is removed only after web01 is done
    assert progress.index("  web01: done") < progress.index("  web02 pool: remove")


def test_ctrl_c_mid_rollout_finishes_the_host_and_resume_keeps_the_gate(ufleet, home, inv):
    for host in HOSTS:
        new_build(ufleet, host)
    env = herd_env(home, XDG_STATE_HOME=str(home / "state"))
    proc = subprocess.Popen([sys.executable, "-m", "herd", "rolling-update", "tornado", "-i", inv,
                             "--http", "http://127.0.0.1:{port}/", "--min-healthy", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "web01 tornado: re-add on the new config" not in seen:
        line = proc.stderr.readline()
        assert line, "herd ended before updating a host: " + seen
        seen += line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "herd: interrupted: finishing the process in flight so that nothing is left stopped" in err
    assert "roll INTERRUPTED" in out and "continue with --resume" in out
    # web01's group was re-added and runs; the others were not touched
    states = {p["name"]: p["statename"] for p in ufleet.rpc("web01").supervisor.getAllProcessInfo()}
    assert set(states.values()) == {"RUNNING"}, states
    pending = herd("pending", "-i", inv, "-o", "json", home=home).json()
    assert next(g for g in pending["groups"] if g["group"] == "tornado")["hosts"] == ["web02", "web03"]

    again = subprocess.run([sys.executable, "-m", "herd", "rolling-update", "tornado", "-i", inv, "--resume"],
                           env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    lines = again.stdout.splitlines()
    assert lines[1] == ("gate: RUNNING, same pid for 2s, probe --http http://127.0.0.1:{port}/; within 120s; stop at "
                        "the first failed host")         # the recorded gate
    assert "  unchanged: web01" in lines
    assert row(again.stdout, "web02") == row(again.stdout, "web03") == ["done", "4/4"]
    assert "(GET http://127.0.0.1:" in again.stdout


def test_rolling_restart_refuses_a_program_whose_config_changed(ufleet, home, inv):
    new_build(ufleet, "web02")
    before = pids(ufleet)
    run = herd("rolling-restart", "tornado", "-i", inv, "--min-healthy", "0", home=home)
    assert run.code == 2, run.out + run.err
    assert run.out == ""
    assert run.err == ("herd: refusing to roll tornado: web02: tornado's config changed (a restart would run the old "
                       "one)\nherd: roll the new config with herd rolling-update tornado (same options and gate), or "
                       "pass --ignore-pending to restart the old one\n")
    assert pids(ufleet) == before
    dry = herd("rolling-restart", "tornado", "-i", inv, "--ignore-pending", "--dry-run", home=home)
    assert dry.code == 0, dry.out + dry.err
    assert "  warning: web02: tornado's config changed (a restart would run the old one)" in dry.out.splitlines()


def test_nothing_pending_and_unknown_groups(ufleet, home, inv):
    run = roll(inv, home, "tornado")
    assert run.code == 0, run.out + run.err
    assert "  nothing to roll: no pending config change on any selected host" in run.out.splitlines()
    assert run.out.splitlines()[-1].startswith("roll done: 0 of 0 process(es) updated")
    typo = roll(inv, home, "tornadoo")
    assert (typo.code, typo.err) == (2, "herd: no such group in supervisord's config on any selected host: tornadoo "
                                        "(did you mean 'tornado'?)\n")
    data = json.loads(roll(inv, home, "--dry-run", "-o", "json").out)
    assert data["update"] is True and data["batches"] == []
