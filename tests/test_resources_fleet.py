"""``herd status --resources`` and ``herd check --resources`` on real sshd + supervisord.

Three hosts: web01 plain (herd logs in as the user supervisord runs as);
web02 built like a Debian server (supervisord and its programs run as root,
herd logs in as ``deploy`` with sudo); web03 like CentOS 7 (the same, on
supervisord 3.1.4 and Python 2.7, no python3 at all).  Every host runs:

* ``hog``: a shell holding 48 MiB in a variable, then sleeping (a child ``sleep``);
* ``burn``: a shell spinning (started by a test, stopped after: the machine has 2 shared cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from herd.localfleet import distro
from herd.testing.pytest_plugin import module_fleet
from helpers import herd, herd_env, wait_until

MIB = 1024 * 1024
EXTRA = """
[program:hog]
command=/bin/sh -c 'x=$(head -c 50331648 /dev/zero | tr "\\0" x); while :; do sleep 3600; done'
startsecs=0

[program:burn]
command=/bin/sh -c 'while :; do :; done'
autostart=false
startsecs=0
"""
HOSTS = ("web01", "web02", "web03")

rfleet = module_fleet("resources", hosts=3, distro=["web02", "web03"], light=True, extra_config=EXTRA,
                      releases={"web03": "3.1.4"}, layouts={"web03": {"layout": "fedora", "pythons": ["2.7"]}})


@pytest.fixture
def inv(rfleet) -> str:
    return str(rfleet.inventory_path)


@pytest.fixture
def burning(rfleet):
    for name in HOSTS:
        rfleet.supervisorctl(name, "start", "burn")
    yield
    for name in HOSTS:
        rfleet.supervisorctl(name, "stop", "burn")


def pids(fleet, name: str) -> dict[str, int]:
    return {p["name"]: p["pid"] for p in fleet.rpc(name).supervisor.getAllProcessInfo()}


def uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Uid:")).split()[1])


def hog_resident(pid: int) -> bool:
    """The hog's shell has read its 48 MiB (it starts RUNNING at once, then fills its variable)."""
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) * 1024 >= 48 * MIB


def test_json_has_rss_cpu_fds_threads_children_on_every_host(rfleet, inv, home, burning) -> None:
    for name in HOSTS:
        wait_until(lambda: hog_resident(pids(rfleet, name)["hog"]), what=f"{name}'s hog to fill its memory")
    run = herd("status", "--resources", "-o", "json", "-i", inv, home=home)
    assert run.code == 0, run.err
    data = json.loads(run.out)
    for host in data["hosts"]:
        name = host["host"]
        assert host["error"] is None and host["resources_error"] is None, host
        by_name = {p["name"]: p for p in host["processes"]}
        hog, burn = by_name["hog"], by_name["burn"]
        assert 48 * MIB <= hog["rss_bytes"] <= 120 * MIB, (name, hog)
        assert hog["children"] == 1 and hog["threads"] == 1, (name, hog)
        assert hog["fds"] == len(os.listdir(f"/proc/{hog['pid']}/fd")), (name, hog)
        assert hog["cpu_percent"] is not None and hog["cpu_percent"] < 5, (name, hog)
        assert burn["cpu_percent"] is not None and 10 <= burn["cpu_percent"] <= 105, (name, burn)
        assert burn["rss_bytes"] < 16 * MIB and burn["children"] == 0, (name, burn)
        assert burn["cpu_seconds"] > 0


def test_through_sudo_a_root_owned_process_is_read_whole(rfleet, inv, home) -> None:
    """web02 and web03's programs run as root: only sudo lists their fds (deploy would get EACCES)."""
    run = herd("status", "hog", "--resources", "-H", "web0[23]", "-i", inv, home=home)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].split() == ["HOST", "PROCESS", "STATE", "PID", "UPTIME", "RSS", "CPU%", "FDS", "THREADS",
                                "DESCRIPTION"]
    for name, line in zip(("web02", "web03"), lines[1:3]):
        host, process, state, pid, uptime, rss, cpu, fds, threads = line.split()
        assert (host, process, state) == (name, "hog", "RUNNING")
        assert uid(int(pid)) == 0
        assert fds == str(len(os.listdir(f"/proc/{pid}/fd"))) and threads == "1"
        assert rss.endswith("M") and 48 <= float(rss[:-1]) <= 120
        assert float(cpu) < 5


def test_the_old_python_host_has_no_python3(rfleet) -> None:
    """What makes web03's answers above mean something: its agent can only have run on Python 2.7."""
    found = subprocess.run(distro.nsenter(rfleet.host("web03"), ["sh", "-c", "ls /usr/bin | grep '^python'"]),
                           capture_output=True, text=True, check=True).stdout.split()
    assert found and all(name.startswith("python2") or name == "python" for name in found), found


def test_check_prometheus_with_resources(rfleet, inv, home) -> None:
    plain = herd("check", "--format", "prometheus", "-H", "web01", "-i", inv, home=home)
    assert "herd_process_resident_memory_bytes" not in plain.out
    run = herd("check", "--format", "prometheus", "--resources", "-H", "web01", "-H", "web02", "-i", inv, home=home)
    assert run.code == 2, run.out        # burn is STOPPED: CRITICAL, as without --resources
    families = {f.name: f for f in text_string_to_metric_families(run.out)}

    def hogs(family: str) -> dict[str, float]:
        return {s.labels["host"]: s.value for s in families[family].samples if s.labels["process"] == "hog"}

    rss = [s for s in families["herd_process_resident_memory_bytes"].samples if s.labels["process"] == "hog"]
    assert [s.labels for s in rss] == [{"host": h, "group": "hog", "process": "hog"} for h in ("web01", "web02")]
    assert all(48 * MIB <= s.value <= 120 * MIB for s in rss)
    assert families["herd_process_cpu_seconds"].type == "counter"
    assert set(hogs("herd_process_cpu_seconds")) == {"web01", "web02"}
    assert set(hogs("herd_process_open_fds")) == {"web01", "web02"}
    assert hogs("herd_process_threads") == {"web01": 1, "web02": 1}
    assert hogs("herd_process_children") == {"web01": 1, "web02": 1}
    assert all(value < 5 for value in hogs("herd_process_cpu_percent").values())
    running = {(s.labels["host"], s.labels["process"]) for s in families["herd_process_up"].samples if s.value == 1}
    measured = {(s.labels["host"], s.labels["process"]) for s in families["herd_process_resident_memory_bytes"].samples}
    assert measured == running          # every RUNNING process, and only those


def test_resources_with_watch_update_every_poll_through_sudo_too(rfleet, inv, home, burning) -> None:
    """Not on a terminal: a table per interval; the burner's CPU % from the second poll on, on the plain
    host and on the sudo host (its agent kept open between polls: one start per host)."""
    proc = subprocess.Popen([sys.executable, "-m", "herd", "status", "burn", "--resources", "--watch",
                             "--interval", "0.5", "-i", inv, "-H", "web01", "-H", "web02"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=herd_env(home),
                            stdin=subprocess.DEVNULL, text=True)
    tables: list[list[str]] = []
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while len(tables) < 6 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("--- ") and lines:
                tables.append(lines)
                lines = []
            elif not line.startswith("--- "):
                lines.append(line.rstrip("\n"))
    finally:
        proc.terminate()
        proc.wait(10)
    assert len(tables) == 6, tables
    assert tables[0][0].split()[5:9] == ["RSS", "CPU%", "FDS", "THREADS"]
    for name, row in zip(("web01", "web02"), tables[-1][1:3]):
        host, process, state, pid, uptime, rss, cpu, fds, threads = row.split()
        assert (host, process, state) == (name, "burn", "RUNNING"), row
        assert 10 <= float(cpu) <= 105 and fds == str(len(os.listdir(f"/proc/{pid}/fd"))), row
    cpus = [float(t[1].split()[6]) for t in tables[2:] if t[1].split()[6] != "-"]
    assert len(cpus) >= 3, tables                          # a new figure on each table, not the first one kept
