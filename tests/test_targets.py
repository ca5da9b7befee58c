"""Several supervisords per host: the ``supervisors`` key, targets named host/name, selection, one connection.

Pure (no SSH): the loaders, herd/inventory/targets.py, selection, and the
sharing of one SSH connection by a host's targets (herd/fleet/session.py)
with a counting connector.  The real hosts are tests/test_running_fleet.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from herd.errors import InventoryError, UsageError
from herd.fleet.session import SessionPool, SharedConnection
from herd.inventory import SupervisorTarget, load_inventory, read_inventory, select_hosts
from herd.ssh.config import resolve_target

SEVERAL = """\
defaults:
  user: deploy
hosts:
  web01:
    address: 10.0.0.1
    become: true
    supervisors:
      system: {socket: /var/run/supervisor.sock}
      app: {url: "http://127.0.0.1:9001", username: herd, password_env: APP_PASS}
  web02:
    address: 10.0.0.2
groups:
  web: [web01, web02]
  apps: [web01/app]
expect:
  web01/app: {running: [tornado]}
  "@web": {running: [worker]}
"""


def write(tmp_path: Path, text: str, name: str = "inv.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert "\n" not in str(info.value)
    return str(info.value).replace(path, "inv.yaml")


def test_each_supervisord_is_a_target_named_host_slash_name(tmp_path):
    inv = load_inventory(write(tmp_path, SEVERAL))
    assert inv.host_names == ("web01/system", "web01/app", "web02")
    system, app, web02 = inv.hosts
    assert (system.host_name, system.supervisor_name, system.supervisor) == (
        "web01", "system", SupervisorTarget(socket="/var/run/supervisor.sock"))
    assert app.supervisor == SupervisorTarget(socket=None, url="http://127.0.0.1:9001", username="herd",
                                              password_env="APP_PASS")
    assert (app.address, app.user, app.become) == ("10.0.0.1", "deploy", True)   # the host's, shared
    assert (web02.host_name, web02.supervisor_name) == ("web02", None)
    assert inv.groups == {"web": ("web01/system", "web01/app", "web02"), "apps": ("web01/app",)}
    assert {k: e.hosts for k, e in inv.expect.items()} == {"web01/app": ("web01/app",),
                                                            "@web": ("web01/system", "web01/app", "web02")}
    assert inv.tree["web"].hosts == ("web01/system", "web01/app", "web02")


def test_a_target_connects_as_its_host():
    inv_host = load_inventory_text("hosts:\n  web01:\n    supervisors:\n      app: {socket: /tmp/a.sock}\n")
    target = resolve_target(inv_host.hosts[0])
    assert (target.name, target.hostname) == ("web01", "web01")


def load_inventory_text(text: str, tmp: Path | None = None):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return load_inventory(write(Path(d), text))


def test_supervisors_in_defaults_and_a_host_that_has_one(tmp_path):
    inv = load_inventory(write(tmp_path, """\
        defaults:
          supervisors:
            app: {socket: /srv/app/supervisor.sock}
            infra: {socket: /run/infra.sock}
        hosts:
          web01: {}
          web02:
            supervisor: {socket: /run/only.sock}
          web03:
            supervisors: null
          web04:
            supervisors:
              solo: {socket: /run/solo.sock}
        """))
    assert inv.host_names == ("web01/app", "web01/infra", "web02", "web03", "web04/solo")
    assert inv.hosts[2].supervisor.socket == "/run/only.sock"
    assert inv.hosts[3].supervisor.socket == "discover"


@pytest.mark.parametrize("text, message", [
    ("hosts:\n  web01:\n    supervisor: {socket: /a}\n    supervisors: {app: {socket: /b}}\n",
     "inv.yaml:4:18: hosts.web01.supervisors: supervisor and supervisors are exclusive: supervisor for a host "
     "with one supervisord, supervisors to name each of several"),
    ("hosts:\n  web01:\n    supervisors: {app: {}}\n",
     "inv.yaml:3:24: hosts.web01.supervisors.app: needs socket or url: discovery finds one supervisord per host, "
     "so each of several is named by where it listens"),
    ("hosts:\n  web01:\n    supervisors: {a/b: {socket: /b}}\n",
     "inv.yaml:3:19: hosts.web01.supervisors.a/b: invalid supervisord name 'a/b': use letters, digits, '_', '.' "
     "and '-', starting with a letter or digit (it becomes part of the target's name, host/a/b)"),
    ("hosts:\n  web01:\n    supervisors: {}\n",
     "inv.yaml:3:18: hosts.web01.supervisors: must be a mapping of names to supervisord settings, e.g. {app: "
     "{socket: /tmp/app.sock}, infra: {url: http://127.0.0.1:9001}}, got an empty mapping"),
    ("hosts:\n  web01:\n    supervisors: {app: {socket: /b, username: u}}\n",
     "inv.yaml:3:24: hosts.web01.supervisors.app: username is set but neither password_env nor password_file "
     "is; supervisor authentication needs both"),
    ("hosts:\n  web01:\n    supervisors: {app: {socket: /b, password: x}}\n",
     "inv.yaml:3:37: hosts.web01.supervisors.app.password: inline passwords are not allowed; use password_env "
     "or password_file"),
    ("hosts:\n  web01/app: {}\n  web01:\n    supervisors: {app: {socket: /b}}\n",
     "inv.yaml:3: 'web01/app' names both a host (line 2) and a supervisord of web01 (line 3); rename one"),
    ("hosts:\n  web01:\n    supervisors: {app: {socket: /b}}\ngroups:\n  g: [web01/ap]\n",
     "inv.yaml:5:7: groups.g[0]: unknown host 'web01/ap' (did you mean 'web01/app'?)"),
])
def test_supervisors_errors_are_one_line_with_file_line_and_key(tmp_path, text, message):
    assert error(tmp_path, text) == message


def select(inv, *patterns: str) -> list[str]:
    return [h.name for h in select_hosts(inv, all_hosts=False, groups=[], patterns=list(patterns), default_all=False)]


def test_selectors_match_the_target_or_its_host(tmp_path):
    inv = load_inventory(write(tmp_path, SEVERAL))
    assert select(inv, "web01") == ["web01/system", "web01/app"]
    assert select(inv, "web01/app") == ["web01/app"]
    assert select(inv, "*/app") == ["web01/app"]
    assert select(inv, "web0*") == ["web01/system", "web01/app", "web02"]
    assert [h.name for h in select_hosts(inv, all_hosts=False, groups=["apps"], patterns=[], default_all=False)] \
        == ["web01/app"]
    with pytest.raises(UsageError, match=r"^no host matches 'web02/app' \(web02 has one supervisord, not named: "
                                         r"use -H web02\)$"):
        select(inv, "web02/app")


def test_ansible_herd_supervisors(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(textwrap.dedent("""\
        all:
          children:
            web:
              hosts:
                web01:
                  ansible_host: 10.0.0.1
                  herd_supervisors:
                    app: {socket: /tmp/app.sock}
                    infra: {url: "http://127.0.0.1:9001", username: herd, password_file: /etc/herd/infra.pass}
                web02: {}
        """))
    inv = read_inventory(str(path))
    assert inv.host_names == ("web01/app", "web01/infra", "web02")
    assert inv.groups["web"] == ("web01/app", "web01/infra", "web02")
    assert inv.hosts[1].supervisor == SupervisorTarget(socket=None, url="http://127.0.0.1:9001", username="herd",
                                                       password_file="/etc/herd/infra.pass")


@pytest.mark.parametrize("value, message", [
    ("{app: {}}", "herd_supervisors.app: needs socket or url: discovery finds one supervisord per host, so each of "
                  "several is named by where it listens"),
    ("{app: {socket: relative}}", "herd_supervisors.app.socket: must be an absolute path on the host "
                                  "(e.g. /var/run/supervisor.sock), got 'relative'"),
    ("[a]", "herd_supervisors: must be a mapping of names to supervisord settings, e.g. {app: {socket: "
            "/tmp/app.sock}, infra: {url: 'http://127.0.0.1:9001'}}"),
    ("{app: {socket: /a, colour: red}}", "herd_supervisors.app: unknown key 'colour'; expected one of: socket, url, "
                                         "username, password_env, password_file"),
])
def test_ansible_herd_supervisors_errors(tmp_path, value, message):
    path = tmp_path / "hosts.yml"
    path.write_text(f"all:\n  hosts:\n    web01:\n      herd_supervisors: {value}\n")
    with pytest.raises(InventoryError) as info:
        read_inventory(str(path))
    assert str(info.value) == f"{path}:4: {message}"


def test_ansible_herd_supervisors_exclusive_with_herd_supervisor_socket(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text("all:\n  hosts:\n    web01:\n      herd_supervisor_socket: /a\n"
                    "      herd_supervisors: {app: {socket: /b}}\n")
    with pytest.raises(InventoryError) as info:
        read_inventory(str(path))
    assert str(info.value) == (f"{path}:5: herd_supervisors: herd_supervisor_socket and herd_supervisors are "
                               f"exclusive: herd_supervisor_* for a host with one supervisord, herd_supervisors "
                               f"to name each of several")


# -- one SSH connection per host -------------------------------------------------------

class FakeSSH:
    def __init__(self) -> None:
        self.alive = True
        self.becomes = False

    def close(self) -> None:
        self.alive = False


class CountingConnector:
    timeout = 5.0
    sockets = None

    def __init__(self) -> None:
        self.made: list[FakeSSH] = []

    def connect(self, target):
        self.made.append(FakeSSH())
        return self.made[-1]

    def close(self) -> None:
        pass


def test_a_hosts_targets_share_one_connection_closed_when_the_last_lets_go(tmp_path):
    inv = load_inventory(write(tmp_path, SEVERAL))
    connector = CountingConnector()
    pool = SessionPool(connector)   # type: ignore[arg-type]
    system, app, web02 = (pool.session(h) for h in inv.hosts)
    assert system._link is app._link and web02._link is not app._link
    first = system._link.acquire(system.host, system)
    assert app._link.acquire(app.host, app) is first and len(connector.made) == 1
    system._link.release(first, system)
    assert first.alive                         # app still uses it
    app._link.release(first, app)
    assert not first.alive                     # nobody does
    again = app._link.acquire(app.host, app)
    assert again is not first and len(connector.made) == 2


def test_a_dead_connection_is_replaced_for_every_target(tmp_path):
    connector = CountingConnector()
    link = SharedConnection(connector)   # type: ignore[arg-type]
    inv = load_inventory(write(tmp_path, SEVERAL))
    a, b = inv.hosts[:2]
    first = link.acquire(a, "a")
    link.acquire(b, "b")
    first.alive = False
    second = link.acquire(a, "a")
    assert second is not first and link.acquire(b, "b") is second
    link.release(first, "b")                    # the old one, let go late: closed, the new one untouched
    assert second.alive


def test_changed_ssh_settings_get_a_connection_of_their_own(tmp_path):
    from dataclasses import replace

    inv = load_inventory(write(tmp_path, SEVERAL))
    pool = SessionPool(CountingConnector())   # type: ignore[arg-type]
    app = pool.session(inv.hosts[1])
    moved = pool.session(replace(inv.hosts[1], port=2222))
    assert moved is not app and moved._link is not app._link
    both = [pool.session(replace(h, port=2222)) for h in inv.hosts[:2]]
    assert both[0]._link is both[1]._link is moved._link
