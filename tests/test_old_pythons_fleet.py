"""Hosts whose only Python is an old one: herd's agents run on Python 2.7 and 3.6, for real.

Two hosts built like servers of their time (herd.localfleet.distro, root only),
each logged into as ``deploy`` with sudo to a root-only socket, so that
every agent herd starts on a host runs there:

* web01 is CentOS 7: supervisord 3.1.4 from /usr/bin/supervisord on Python
  2.7, config at /etc/supervisord.conf, and no python3 at all;
* web02 runs supervisord 4.1.0 on Python 3.6, its only Python (as CentOS 8
  and Ubuntu 18.04's python3 are).

The inventory names no socket, so the discovering relay finds supervisord
(herd/ssh/discover.py), the socket relay carries its calls (herd/ssh/relay.py)
and the file agent reads log files (herd/ssh/fileagent.py): each is seen
running under the host's own interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any, Callable

from herd.localfleet.fleet import LocalFleet
from herd.testing.pytest_plugin import module_fleet
from helpers import edit_inventory, herd, wait_until

OLD = {"web01": ("3.1.4", "2.7"), "web02": ("4.1.0", "3.6")}

ofleet = module_fleet("oldpython", hosts=2, distro=["web01", "web02"], light=True,
                      releases={"web01": "3.1.4", "web02": "4.1.0@3.6"},
                      layouts={"web01": {"layout": "fedora", "pythons": ["2.7"]}, "web02": {"pythons": ["3.6"]}})


def discovering(fleet: LocalFleet, tmp_path: Path) -> str:
    """The fleet's inventory without its socket: herd finds supervisord on each host."""
    def change(data: dict[str, Any]) -> None:
        for host in data["hosts"].values():
            host.pop("supervisor", None)
    return str(edit_inventory(fleet.inventory_path, tmp_path / "discover.yaml", change))


def agents(fleet: LocalFleet) -> dict[str, set[str]]:
    """Per host, the interpreters (``python2.7``) of herd's agents running in its mount namespace now.

    An agent is started as ``python -S -c SCRIPT`` (a long one packed: herd/ssh/remote.py), under sudo here.
    """
    found: dict[str, set[str]] = {h: set() for h in OLD}
    namespaces = {os.readlink(f"/proc/{fleet.host(h).ns_pid}/ns/mnt"): h for h in OLD}
    for entry in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            host = namespaces.get(os.readlink(f"/proc/{entry}/ns/mnt"))
            exe = os.readlink(f"/proc/{entry}/exe")
        except (OSError, ValueError):
            continue
        if host is not None and b"-S" in argv and b"-c" in argv and "python" in exe:
            found[host].add(re.sub(r".*/python", "python", exe))
    return found


def _on_their_own_python(fleet: LocalFleet, what: str) -> None:
    seen = wait_until(lambda: (a := agents(fleet)) and all(a[h] for h in OLD) and a, 30, what)
    for host, (_, python) in OLD.items():
        assert seen[host] == {f"python{python}"}, (host, seen[host])


def test_discovery_relay_and_file_agent_run_on_the_hosts_own_old_python(ofleet: LocalFleet, home: Path, tmp_path: Path,
                                                                        running: Callable[..., Any]) -> None:
    inventory = discovering(ofleet, tmp_path)
    status = herd("status", "-v", "-i", inventory, home=home)
    assert status.code == 0, status.out + status.err
    for host, config in (("web01", "/etc/supervisord.conf"), ("web02", "/etc/supervisor/supervisord.conf")):
        assert re.search(rf"^herd: {host}: found supervisord at /var/run/supervisor.sock \(\[supervisorctl\] "
                         rf"serverurl in {config}, where supervisord pid \d+ listens\)$", status.err, re.M), status.err
    assert len(status.rows()) == 8 and all(r[2] == "RUNNING" for r in status.rows())
    version = herd("version", "-a", "-i", inventory, home=home)
    assert [line.split()[:3] for line in version.out.splitlines()[1:3]] == [
        ["web01", "supervisord", "3.1.4"], ["web02", "supervisord", "4.1.0"]]

    log = str(Path(ofleet.host("web01").log_dir).parent.parent / "{host}" / "logs" / "supervisord.log")
    follow = running("tail", "-f", "-n", "1", "--file", log, "-a", "-i", inventory, home=home)
    assert follow.wait_for(lambda: {line.split()[0] for line in follow.out} >= set(OLD)), (follow.out, follow.err)
    _on_their_own_python(ofleet, "the file agents of both hosts")
    assert follow.interrupt() == 130
    wait_until(lambda: not any(agents(ofleet).values()), 30, "the file agents gone")

    watch = running("maintail", "-f", "-n", "0", "-a", "-i", inventory, home=home)
    _on_their_own_python(ofleet, "the discovering relays of both hosts")
    assert watch.interrupt() == 130


def test_the_old_hosts_have_no_other_python(ofleet: LocalFleet) -> None:
    """What makes the test above mean something: no python3 to fall back on where there should be none."""
    from herd.localfleet import distro

    for host, (_, python) in OLD.items():
        listing = distro.nsenter(ofleet.host(host), ["sh", "-c", "ls /usr/bin | grep '^python'"])
        found = subprocess.run(listing, capture_output=True, text=True, timeout=30).stdout.split()
        assert all(name.startswith(f"python{python[0]}") or name == "python" for name in found), (host, found)
        assert f"python{python}" in found
