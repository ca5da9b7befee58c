"""herd pending's lines, summary and exit code from hosts' rereads (no wire: the reads are given)."""

from __future__ import annotations

import pytest

from herd.errors import ConnectError, UsageError
from herd.fleet import HostResult
from herd.inventory.model import Host
from herd.operations.config import ConfigDiff, HostConfig, UpdatePlan, bounce_warning, check_groups_exist
from herd.render.config import pending_exit_code, pending_json, pending_lines, pending_summary


def read(name: str, added=(), changed=(), removed=(), sizes=None) -> HostResult[HostConfig]:
    return HostResult(Host(name), HostConfig(ConfigDiff(list(added), list(changed), list(removed)), sizes or {}))


def broken(name: str) -> HostResult[HostConfig]:
    return HostResult(Host(name), HostConfig(None, {}, "File contains no section headers"))


def down(name: str) -> HostResult[HostConfig]:
    return HostResult(Host(name), error=ConnectError(name, "connection refused"))


def test_summary_counts_over_every_selected_host():
    hosts = [read("web01", changed=["tornado"]), read("web02", changed=["tornado"], added=["extra"]),
             read("web03"), broken("web04"), down("web05")]
    assert pending_summary(hosts) == ("tornado changed on 2 of 5 hosts; extra added on 1 of 5 hosts; "
                                      "1 host's config does not parse; 1 host unreachable")
    assert pending_exit_code(hosts) == 4
    assert pending_exit_code(hosts[:4]) == 1
    assert pending_exit_code(hosts[:3]) == 0          # changes pending are not a failure


def test_nothing_pending():
    assert pending_summary([read("web01"), read("web02")]) == "2 hosts: no pending config changes"
    assert pending_summary([read("web01"), down("web02")]) == ("no pending config changes on the other 1 of 2 hosts; "
                                                              "1 host unreachable")


def test_lines_one_per_host_and_group():
    lines = pending_lines([read("web01", added=["extra"], removed=["worker"]), read("web02"), broken("web03"),
                           down("web04")])
    assert lines == [
        "web01  extra   added",
        "web01  worker  removed",
        "web02  config  no pending changes",
        "web03  config: config does not parse, so supervisord would fail at its next start (it runs on the last "
        "config it read): File contains no section headers",
        "web04  unreachable: connection refused",
        "extra added on 1 of 4 hosts; worker removed on 1 of 4 hosts; 1 host's config does not parse; "
        "1 host unreachable",
    ]
    data = pending_json([read("web01", added=["extra"]), broken("web02"), down("web03")])
    assert data["hosts"][0] == {"host": "web01", "error": None, "parses": True, "parse_error": None,
                                "added": ["extra"], "changed": [], "removed": []}
    assert data["hosts"][1]["parses"] is False and data["hosts"][2]["parses"] is None
    assert data["groups"] == [{"group": "extra", "change": "added", "hosts": ["web01"], "of": 3}]


def test_update_plan_names_the_groups_that_bounce_whole():
    plan = UpdatePlan((), [read("web01", changed=["tornado", "worker"], sizes={"tornado": 4, "worker": 1}),
                           read("web02", changed=["tornado"], sizes={"tornado": 4}), broken("web03"), down("web04")])
    assert plan.bounces() == [("web01", "tornado", 4), ("web02", "tornado", 4)]
    assert UpdatePlan(("worker",), plan.hosts).bounces() == []
    assert bounce_warning("web02", "tornado", 4) == ("web02: tornado changed: all 4 processes are stopped and "
                                                     "started at once (supervisord bounces a changed group as a whole)")


def test_unknown_groups_are_refused_only_when_no_host_knows_them():
    hosts = [read("web01", added=["extra"], sizes={"tornado": 4}), broken("web02"), down("web03")]
    check_groups_exist(hosts, ["tornado", "extra"])
    with pytest.raises(UsageError) as refused:
        check_groups_exist(hosts, ["extr", "tornado", "zzz"])
    assert str(refused.value) == ("no such group in supervisord's config on any selected host: "
                                  "extr (did you mean 'extra'?), zzz")
    check_groups_exist([broken("web02"), down("web03")], ["zzz"])     # nothing read: the hosts say why
