"""``herd tail`` of the seed's own log files through become, on distribution-style hosts.

web02 (OpenSSH) and web03 (Dropbear) are built like Debian servers
(the test fleet's ``distro``/``dropbear``, root only): supervisord runs as root and
so does the seed's Tornado program, which writes
/etc/supervisor/conf.d/log/tornado-PORT.log itself (stdout_logfile=NONE);
herd logs in as ``deploy`` with ``become: true``.  The tests make the log
directory 0700 root, so only sudo reads the files.  web01 is a plain host.
The app logs a line per request: the tests send requests to make lines.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from pathlib import Path

import pytest

from herd.testing.pytest_plugin import start_fleet_for
from helpers import follow_on_one_channel, herd, wait_until

DISTRO = ("web02", "web03")


@pytest.fixture(scope="module")
def bfleet(tmp_path_factory):
    for own in start_fleet_for(tmp_path_factory, "becomelogs", 3, light=True, seed_app=True,
                                  distro=["web02"], dropbear=["web03"]):
        for name in DISTRO:
            os.chmod(log_dir(own, name), 0o700)         # root's only: deploy cannot read them
        yield own


def log_dir(fleet, name: str) -> Path:
    """The host's seed log directory, seen from outside its mount namespace."""
    return Path(f"/proc/{fleet.host(name).ns_pid}/root/etc/supervisor/conf.d/log")


def request(port: int, path: str) -> None:
    """A GET the app logs (paths but / answer 404: the line is what matters)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
    finally:
        conn.close()


def test_tail_reads_root_only_files_through_sudo_on_sshd_and_dropbear(bfleet, home):
    for name in DISTRO:
        for port in bfleet.host(name).tornado_ports:
            request(port, f"/marker-{name}-{port}")
    run = herd("tail", "tornado", "-n", "1", "-H", "web0[23]", "-i", str(bfleet.inventory_path), home=home)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert len(lines) == 8
    for name in DISTRO:
        for port in bfleet.host(name).tornado_ports:
            (line,) = [line for line in lines if line.startswith(f"{name} tornado:tornado-{port} | ")]
            assert line.endswith(f"GET /marker-{name}-{port} 404")
            assert (log_dir(bfleet, name) / f"tornado-{port}.log").read_text().splitlines()[-1] == line.split(" | ", 1)[1]


def test_without_become_the_same_file_is_permission_denied(bfleet, home):
    port = bfleet.host("web03").tornado_ports[0]
    path = f"/etc/supervisor/conf.d/log/tornado-{port}.log"
    inv = str(bfleet.inventory_path)
    denied = herd("tail", "--file", path, "-H", "web03", "--no-become", "-i", inv, home=home)
    assert denied.code == 1 and denied.out == ""
    assert denied.err == f"herd: web03 {path}: permission denied\n"
    allowed = herd("tail", "--file", path, "-H", "web03", "-n", "1", "-i", inv, home=home)
    assert allowed.code == 0, allowed.err
    assert allowed.out.startswith(f"web03 {path} | ")


def test_follow_through_become_with_truncation_on_dropbear(bfleet, home, running):
    p2, p3 = bfleet.host("web02").tornado_ports[1], bfleet.host("web03").tornado_ports[1]
    follow = running("tail", "-f", f"tornado:tornado-{p2}", f"tornado:tornado-{p3}", "-n", "0",
                     "--interval", "0.2", "-H", "web0[23]", "-i", str(bfleet.inventory_path), home=home)
    prefix2, prefix3 = f"web02 tornado:tornado-{p2} | ", f"web03 tornado:tornado-{p3} | "

    def sent(prefix: str, marker: str) -> bool:
        return any(line.endswith(f"GET {marker} 404") for line in follow.lines_of(prefix))

    def both_sent() -> bool:   # -n 0: lines from when herd stands at the end, so ask until they come
        if not sent(prefix2, "/one"):
            request(p2, "/one")
        if not sent(prefix3, "/one"):
            request(p3, "/one")
        return sent(prefix2, "/one") and sent(prefix3, "/one")

    wait_until(both_sent, 30, f"both requests followed: {follow.out} {follow.err}", interval=0.5)

    os.truncate(log_dir(bfleet, "web03") / f"tornado-{p3}.log", 0)
    assert follow.wait_for(lambda: any("log rotated or cleared" in line for line in follow.err)), follow.err
    request(p3, "/after-truncation")
    request(p2, "/two")
    assert follow.wait_for(lambda: sent(prefix3, "/after-truncation") and sent(prefix2, "/two")), follow.out
    assert follow.interrupt() == 130
    assert follow.err == [f"herd: web03 tornado:tornado-{p3}: log rotated or cleared: what was written between "
                          f"herd's last read and then is not shown"]


def test_follow_through_become_holds_one_channel_per_host(bfleet):
    """The agent runs under sudo on the host's one exec channel: no relay channel stays open beside it."""
    from herd.operations.logs import LogRequest

    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            for name in ("web01", *DISTRO):
                for port in bfleet.host(name).tornado_ports:
                    request(port, "/tick")
            time.sleep(0.2)

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    try:
        follow_on_one_channel(bfleet.inventory_path, LogRequest(("tornado",), lines=0), 8)
    finally:
        stop.set()
        thread.join(5)
