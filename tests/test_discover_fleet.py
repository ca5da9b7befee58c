"""Finding supervisord's socket as supervisorctl would, on hosts built like distribution servers.

web01: Debian's layout (/etc/supervisor/supervisord.conf, /var/run/supervisor.sock, root only).
web02: Fedora's layout (/etc/supervisord.conf) pointing elsewhere, /run/supervisor/herd.sock,
       with a username and password in [unix_http_server] and [supervisorctl].
web03: Fedora's layout, socket /run/supervisor/own.sock owned by the login user deploy, so it is
       reached without become, through sshd's socket forwarding: the path found is remembered.
The inventory names no socket for any of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herd.testing.pytest_plugin import module_fleet
from helpers import edit_inventory, herd, herd_env


sfleet = module_fleet(
    "discover", hosts=3, distro=["web01", "web02", "web03"],
    layouts={"web02": {"layout": "fedora", "socket": "/run/supervisor/herd.sock", "auth": True},
             "web03": {"layout": "fedora", "socket": "/run/supervisor/own.sock", "owner": "deploy"}})


@pytest.fixture
def inv(sfleet, tmp_path) -> str:
    """The fleet's inventory without any supervisor settings."""
    return str(edit_inventory(sfleet.inventory_path, tmp_path / "nosocket.yaml",
                              lambda d: [h.pop("supervisor") for h in d["hosts"].values()]))


def state_env(home: Path) -> dict[str, str]:
    return herd_env(home, XDG_STATE_HOME=str(home / "state"))


def memory(home: Path) -> dict:
    files = list((home / "state" / "herd" / "sockets").glob("*.json"))
    return json.loads(files[0].read_text()) if files else {}


def test_debian_and_elsewhere_sockets_are_found_through_become(sfleet, home, inv):
    run = herd("status", "-i", inv, "-H", "web0[12]", "-v", home=home, env=state_env(home))
    assert run.code == 0, run.out + run.err
    assert len(run.rows()) == 8 and all(r[2] == "RUNNING" for r in run.rows())
    assert f"herd: web01: found supervisord at /var/run/supervisor.sock ([supervisorctl] serverurl in " \
           f"/etc/supervisor/supervisord.conf, where supervisord pid {sfleet.host('web01').supervisord_pid} " \
           f"listens)" in run.err
    assert f"herd: web02: found supervisord at /run/supervisor/herd.sock ([supervisorctl] serverurl in " \
           f"/etc/supervisord.conf, where supervisord pid {sfleet.host('web02').supervisord_pid} listens; with the " \
           f"credentials of that section)" in run.err
    assert memory(home) == {}   # through sudo discovery costs nothing: nothing to remember


def test_found_credentials_are_used_and_never_shown(sfleet, home, inv):
    password = sfleet.host("web02").password
    run = herd("status", "-i", inv, "-H", "web02", "-vvv", home=home, env=state_env(home))
    assert run.code == 0, run.out + run.err
    assert password not in run.out + run.err
    assert password not in json.dumps(memory(home))


def test_control_on_a_found_socket(sfleet, home, inv):
    port = sfleet.host("web02").tornado_ports[1]
    before = sfleet.rpc("web02").supervisor.getProcessInfo(f"tornado:tornado-{port}")["pid"]
    run = herd("restart", f"tornado:tornado-{port}", "-H", "web02", "-i", inv, home=home, env=state_env(home))
    assert run.code == 0, run.out + run.err
    assert sfleet.rpc("web02").supervisor.getProcessInfo(f"tornado:tornado-{port}")["pid"] != before


def test_without_become_a_found_root_socket_is_refused_in_one_line(sfleet, home, inv):
    run = herd("status", "-i", inv, "-H", "web01", "--no-become", home=home, env=state_env(home))
    assert run.code == 4
    assert run.rows() == [["web01", "-", "UNREACHABLE", "-", "-", "permission denied on socket "
                           "/var/run/supervisor.sock for user deploy (set become: true in the inventory to reach "
                           "it through sudo, log in as supervisord's user, or set chmod/chown in "
                           "[unix_http_server])"]]


def test_socket_found_without_become_is_remembered_and_rediscovered_once_when_stale(sfleet, home, inv):
    env = state_env(home)
    first = herd("status", "-i", inv, "-H", "web03", "--no-become", "-v", home=home, env=env)
    assert first.code == 0, first.out + first.err
    assert f"herd: web03: found supervisord at /run/supervisor/own.sock ([supervisorctl] serverurl in " \
           f"/etc/supervisord.conf, where supervisord pid {sfleet.host('web03').supervisord_pid} listens)" in first.err
    remembered = memory(home)["web03"]
    assert remembered["socket"] == "/run/supervisor/own.sock"

    second = herd("status", "-i", inv, "-H", "web03", "--no-become", "-v", home=home, env=env)
    assert second.code == 0
    assert "herd: web03: using socket /run/supervisor/own.sock, found on an earlier run" in second.err
    assert "found supervisord at" not in second.err

    stale = memory(home)
    stale["web03"]["socket"] = "/run/supervisor/moved.sock"   # as if supervisord's socket had moved since
    next((home / "state" / "herd" / "sockets").glob("*.json")).write_text(json.dumps(stale))
    third = herd("status", "-i", inv, "-H", "web03", "--no-become", "-v", home=home, env=env)
    assert third.code == 0, third.out + third.err
    assert "the remembered socket /run/supervisor/moved.sock does not answer" in third.err
    assert third.err.count("found supervisord at /run/supervisor/own.sock") == 1
    assert memory(home)["web03"]["socket"] == "/run/supervisor/own.sock"


def test_an_explicit_socket_is_used_as_given(sfleet, home, inv, tmp_path):
    wrong = edit_inventory(inv, tmp_path / "wrong.yaml",
                           lambda d: d["hosts"]["web01"].update(supervisor={"socket": "/run/nosuch.sock"}))
    run = herd("status", "-i", str(wrong), "-H", "web01", home=home, env=state_env(home))
    assert run.code == 4
    assert run.rows()[0][5] == "no supervisord socket at /run/nosuch.sock (is supervisord running?)"


def test_the_socket_a_config_names_but_nobody_serves_is_named(sfleet, home, inv):
    sfleet.stop_supervisord("web03")   # its config stays: the socket it names is gone
    try:
        run = herd("status", "-i", inv, "-H", "web03", home=home, env=state_env(home))
        assert run.code == 4
        assert run.rows()[0][5] == "no supervisord socket at /run/supervisor/own.sock (is supervisord running?)"
    finally:
        sfleet.start_supervisord("web03")
