"""The inventory's ``expect`` and ``check`` sections (herd check): loading and strict validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from herd.errors import InventoryError
from herd.inventory import Inventory, load_inventory
from herd.inventory.model import DEFAULT_SEVERITY, Expectation

BASE = """\
hosts:
  web01:
  web02:
  db01:
groups:
  web: [web01, web02]
  all: ["@web", db01]
"""


def load(tmp_path: Path, extra: str) -> Inventory:
    path = tmp_path / "inv.yaml"
    path.write_text(BASE + textwrap.dedent(extra), encoding="utf-8")
    return load_inventory(str(path))


def error(tmp_path: Path, extra: str) -> str:
    path = tmp_path / "inv.yaml"
    path.write_text(BASE + textwrap.dedent(extra), encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_inventory(str(path))
    message = str(info.value)
    assert "\n" not in message
    return message.replace(str(path), "inv.yaml")


def test_without_the_sections_nothing_is_expected_and_severity_is_the_default(tmp_path: Path) -> None:
    inv = load(tmp_path, "")
    assert inv.expect == {}
    assert inv.check.severity == DEFAULT_SEVERITY
    assert inv.expectations_for("web01") == []


def test_documented_example_loads(tmp_path: Path) -> None:
    inv = load(tmp_path, """\
        expect:
          web:                       # a group
            running: [tornado, worker]
            min_uptime: 60
          db01:                      # a host
            running: ["postgres:*"]
          "@all":
        check:
          severity:
            stopped: warning
            exited: ok
        """)
    assert inv.expect["web"] == Expectation(target="web", hosts=("web01", "web02"),
                                            running=("tornado", "worker"), min_uptime=60, line=9)
    assert inv.expect["db01"] == Expectation(target="db01", hosts=("db01",), running=("postgres:*",),
                                             line=12)
    assert inv.expect["@all"].hosts == ("web01", "web02", "db01")
    assert inv.expect["@all"].running == () and inv.expect["@all"].min_uptime is None
    assert [e.target for e in inv.expectations_for("web01")] == ["web", "@all"]
    assert [e.target for e in inv.expectations_for("db01")] == ["db01", "@all"]
    # `exited: ok` (written before expected exits had a kind of their own) covers them too
    assert inv.check.severity == {**DEFAULT_SEVERITY, "stopped": "warning", "exited": "ok", "exited_expected": "ok"}


def test_empty_sections_are_allowed(tmp_path: Path) -> None:
    inv = load(tmp_path, "expect:\ncheck:\n")
    assert inv.expect == {} and inv.check.severity == DEFAULT_SEVERITY
    inv = load(tmp_path, "expect: {web: {running: []}}\ncheck: {severity: }\n")
    assert inv.expect["web"].running == () and inv.check.severity == DEFAULT_SEVERITY


@pytest.mark.parametrize("extra,message", [
    ("expect:\n  wbe: {running: [x]}\n",
     "inv.yaml:9:3: expect.wbe: 'wbe' is neither a group nor a host (did you mean 'web'?)"),
    ("expect:\n  web03: {running: [x]}\n",
     "inv.yaml:9:3: expect.web03: 'web03' is neither a group nor a host (did you mean 'web02'?)"),
    ("expect:\n  nothing_like_it:\n",
     "inv.yaml:9:3: expect.nothing_like_it: 'nothing_like_it' is neither a group nor a host"),
    ("expect:\n  '@wbe':\n",
     "inv.yaml:9:3: expect.@wbe: unknown group '@wbe' (did you mean '@web'?)"),
    ("expect:\n  '@db01':\n",
     "inv.yaml:9:3: expect.@db01: unknown group '@db01' ('db01' is a host: write db01)"),
    ("expect:\n  web:\n  '@web':\n",
     "inv.yaml:10:3: expect.@web: names the same group as line 9"),
    ("expect:\n  web:\n  web:\n",
     "inv.yaml:10:3: expect.web: duplicate target (first defined on line 9)"),
    ("expect:\n  web: {runing: [x]}\n",
     "inv.yaml:9:9: expect.web.runing: unknown key (did you mean 'running'?)"),
    ("expect:\n  web: {colour: red}\n",
     "inv.yaml:9:9: expect.web.colour: unknown key; expected one of: running, min_uptime"),
    ("expect:\n  web: [tornado]\n",
     "inv.yaml:9:8: expect.web: must be a mapping with keys running, min_uptime, e.g. "
     "{running: [tornado, worker], min_uptime: 60}, got a list"),
    ("expect: [web]\n",
     "inv.yaml:8:9: expect: must be a mapping of group or host names to expectations, e.g. "
     "{web: {running: [tornado]}}, got a list"),
    ("expect:\n  web: {running: tornado}\n",
     "inv.yaml:9:18: expect.web.running: must be a list of program names, e.g. [tornado, worker], "
     "got string 'tornado'"),
    ("expect:\n  web: {running: [tornado, 8080]}\n",
     "inv.yaml:9:28: expect.web.running[1]: must be a string, got integer 8080 "
     "(quote it if you meant the text)"),
    ("expect:\n  web: {running: ['tornado worker']}\n",
     "inv.yaml:9:19: expect.web.running[0]: must not contain whitespace, got 'tornado worker'"),
    ("expect:\n  web: {running: ['tornado:']}\n",
     "inv.yaml:9:19: expect.web.running[0]: 'tornado:' is not a process name: "
     "write name, group:name or group:*"),
    ("expect:\n  web: {running: [':x']}\n",
     "inv.yaml:9:19: expect.web.running[0]: ':x' is not a process name: write name, group:name or group:*"),
    ("expect:\n  web: {running: [worker, worker]}\n",
     "inv.yaml:9:27: expect.web.running[1]: 'worker' is listed twice"),
    ("expect:\n  web: {min_uptime: '60'}\n",
     "inv.yaml:9:21: expect.web.min_uptime: must be a whole number of seconds, got string '60'"),
    ("expect:\n  web: {min_uptime: 1.5}\n",
     "inv.yaml:9:21: expect.web.min_uptime: must be a whole number of seconds, got float 1.5"),
    ("expect:\n  web: {min_uptime: true}\n",
     "inv.yaml:9:21: expect.web.min_uptime: must be a whole number of seconds, got boolean true"),
    ("expect:\n  web: {min_uptime: -1}\n",
     "inv.yaml:9:21: expect.web.min_uptime: must be 0 or more, got -1"),
    ("expect:\n  123: {}\n",
     "inv.yaml:9:3: expect: must be a group or host name, got integer 123 (quote it)"),
    ("check:\n  severty: {}\n",
     "inv.yaml:9:3: check.severty: unknown key (did you mean 'severity'?)"),
    ("check:\n  severity: {fatl: critical}\n",
     "inv.yaml:9:14: check.severity.fatl: unknown key (did you mean 'fatal'?)"),
    ("check:\n  severity: {FATAL: critical}\n",
     "inv.yaml:9:14: check.severity.FATAL: unknown key (write it in lower case: 'fatal')"),
    ("check:\n  severity: {running: ok}\n",
     "inv.yaml:9:14: check.severity.running: unknown key; expected one of: unreachable, missing, "
     "fatal, exited, exited_expected, stopped, unknown, backoff, starting, stopping, flapping"),
    ("check:\n  severity: {fatal: crit}\n",
     "inv.yaml:9:21: check.severity.fatal: must be one of ok, warning, critical, got 'crit' "
     "(did you mean 'critical'?)"),
    ("check:\n  severity: {fatal: CRITICAL}\n",
     "inv.yaml:9:21: check.severity.fatal: must be one of ok, warning, critical, got 'CRITICAL' "
     "(did you mean 'critical'?)"),
    ("check:\n  severity: {fatal: 2}\n",
     "inv.yaml:9:21: check.severity.fatal: must be a string, got integer 2 "
     "(quote it if you meant the text)"),
    ("check:\n  severity: [fatal]\n",
     "inv.yaml:9:13: check.severity: must be a mapping, got a list"),
    ("check: {severity: {fatal: ok}, severity: {}}\n",
     "inv.yaml:8:32: check.severity: duplicate key (first defined on line 8)"),
])
def test_bad_expect_and_check_sections(tmp_path: Path, extra: str, message: str) -> None:
    assert error(tmp_path, extra) == message


def test_a_name_that_is_both_group_and_host_needs_an_at(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("hosts: {web: , web02: }\ngroups: {web: [web02]}\nexpect:\n  web:\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(str(path))
    assert str(info.value) == (f"{path}:4:3: expect.web: 'web' is both a group and a host; "
                               f"write '@web' for the group")
    path.write_text("hosts: {web: , web02: }\ngroups: {web: [web02]}\nexpect:\n  '@web': {min_uptime: 5}\n")
    assert load_inventory(str(path)).expect["@web"].hosts == ("web02",)


def test_unknown_top_level_key_suggests_expect(tmp_path: Path) -> None:
    assert error(tmp_path, "expects: {}\n") == "inv.yaml:8:1: expects: unknown key (did you mean 'expect'?)"
