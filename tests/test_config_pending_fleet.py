"""herd pending, and update's safety (unknown groups, bounce warnings, waiting for RUNNING) on real supervisord."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import herd, on_a_terminal
from test_config_fleet import edit_config, groups


def change_tornado(fleet, name: str) -> None:
    """A harmless change to [program:tornado] on one host (its processes would bounce at update)."""
    conf = Path(fleet.host(name).conf_path)
    conf.write_text(conf.read_text().replace("stopwaitsecs=5", "stopwaitsecs=7", 1))


def break_command(fleet, name: str) -> None:
    """[program:tornado]'s command replaced by one that exits at once: every process ends BACKOFF, then FATAL."""
    conf = Path(fleet.host(name).conf_path)
    text = conf.read_text()
    head, _, tail = text.partition("[program:tornado]\n")
    command, _, rest = tail.partition("\n")
    assert command.startswith("command=")
    conf.write_text(f"{head}[program:tornado]\ncommand=/bin/sh -c 'exit 3'\n{rest}")


def break_syntax(fleet, name: str) -> None:
    """A config supervisord can no longer read (CANT_REREAD): a program section without a command."""
    with open(fleet.host(name).conf_path, "a") as conf:
        conf.write("\n[program:half]\nstartsecs=0\n")


def test_pending_view_per_host_and_group(make_fleet, home):
    fleet = make_fleet(hosts=3)
    inv = str(fleet.inventory_path)
    edit_config(fleet, "web01")
    change_tornado(fleet, "web02")
    break_syntax(fleet, "web03")
    before = {h: groups(fleet, h) for h in ("web01", "web02", "web03")}

    view = herd("pending", "-i", inv, home=home)
    assert view.code == 1, view.out + view.err    # a config that does not parse is a failure
    lines = view.out.splitlines()
    assert lines[:4] == ["web01  extra    added", "web01  tornado  changed", "web01  worker   removed",
                         "web02  tornado  changed"]
    assert lines[4].startswith("web03  config: config does not parse, so supervisord would fail at its next start "
                               "(it runs on the last config it read): "), lines[4]
    assert "program:half" in lines[4]
    assert lines[5] == ("extra added on 1 of 3 hosts; tornado changed on 2 of 3 hosts; worker removed on 1 of 3 "
                        "hosts; 1 host's config does not parse")
    assert len(lines) == 6

    data = herd("pending", "-o", "json", "-i", inv, home=home).json()
    assert {"group": "tornado", "change": "changed", "hosts": ["web01", "web02"], "of": 3} in data["groups"]
    web03 = next(h for h in data["hosts"] if h["host"] == "web03")
    assert web03["parses"] is False and "program:half" in web03["parse_error"]
    assert next(h for h in data["hosts"] if h["host"] == "web02")["changed"] == ["tornado"]
    assert data["exit_code"] == 1
    # reloadConfig stages, it does not act: every process as it was
    assert {h: groups(fleet, h) for h in before} == before


def test_pending_with_nothing_pending(make_fleet, home):
    fleet = make_fleet(hosts=2)
    view = herd("pending", "-i", str(fleet.inventory_path), home=home)
    assert view.code == 0, view.out + view.err
    assert view.out.splitlines() == ["web01  config  no pending changes", "web02  config  no pending changes",
                                     "2 hosts: no pending config changes"]


def test_update_refuses_unknown_group_with_did_you_mean(make_fleet, home):
    fleet = make_fleet(hosts=2)
    inv = str(fleet.inventory_path)
    change_tornado(fleet, "web01")
    before = groups(fleet, "web01")

    typo = herd("update", "tornadoo", "-a", "-i", inv, home=home)
    assert typo.code == 2
    assert typo.out == ""
    assert typo.err == ("herd: no such group in supervisord's config on any selected host: tornadoo "
                        "(did you mean 'tornado'?)\n")
    nosuch = herd("update", "nosuch", "-a", "-i", inv, home=home)
    assert (nosuch.code, nosuch.err) == (2, "herd: no such group in supervisord's config on any selected host: "
                                            "nosuch\n")
    assert groups(fleet, "web01") == before      # nothing touched

    # a group known on one host only: the other host says so, and it is not a failure
    edit_config(fleet, "web01")
    extra = herd("update", "extra", "-a", "-i", inv, home=home)
    assert extra.code == 0, extra.out + extra.err
    assert extra.out.splitlines() == ["web01  extra  added process group", "web02  extra  not in this host's config",
                                      "2 hosts: 1 added process group, 1 not in this host's config"]


def test_add_and_remove_refuse_unknown_names_with_did_you_mean(make_fleet, home):
    fleet = make_fleet(hosts=2)
    inv = str(fleet.inventory_path)
    before = {h: groups(fleet, h) for h in ("web01", "web02")}
    added = herd("add", "workr", "-a", "-i", inv, home=home)
    assert (added.code, added.out) == (2, "")
    assert added.err == ("herd: no such group in supervisord's config (as last reread) on any selected host: workr "
                         "(did you mean 'worker'?)\n")
    removed = herd("remove", "tornad", "nosuch", "-a", "-i", inv, home=home)
    assert (removed.code, removed.out) == (2, "")
    assert removed.err == ("herd: no such active process group on any selected host: tornad (did you mean "
                           "'tornado'?), nosuch\n")
    # a group in the files but not yet reread is not in supervisord's config: add says so (reread, then add)
    edit_config(fleet, "web01")
    fresh = herd("add", "extra", "--dry-run", "-a", "-i", inv, home=home)
    assert fresh.code == 2 and "extra" in fresh.err, fresh.out + fresh.err
    assert {h: groups(fleet, h) for h in before} == before    # nothing touched
    assert herd("reread", "-H", "web01", "-i", inv, home=home).code == 0
    # known on one host: that host adds it, the other says it is not in its config
    somewhere = herd("add", "extra", "-a", "-i", inv, home=home)
    assert somewhere.code == 1, somewhere.out + somewhere.err
    assert somewhere.out.splitlines()[:2] == ["web01  extra  added process group",
                                              "web02  extra: not in supervisord's config (edit it, then run herd "
                                              "reread)"]


def test_update_dry_run_warns_that_a_changed_group_bounces_whole(make_fleet, home):
    fleet = make_fleet(hosts=2)
    inv = str(fleet.inventory_path)
    change_tornado(fleet, "web02")
    before = groups(fleet, "web02")
    size = len(fleet.host("web02").tornado_ports)

    dry = herd("update", "-a", "--dry-run", "-i", inv, home=home)
    assert dry.code == 0, dry.out + dry.err
    assert dry.err == (f"herd: web02: tornado changed: all {size} processes are stopped and started at once "
                       f"(supervisord bounces a changed group as a whole)\n")
    assert dry.out.splitlines() == ["dry run: nothing was changed",
                                    "web01  config   no config updates to processes",
                                    "web02  tornado  would stop, remove and re-add (changed)",
                                    "2 hosts: 1 no config updates to processes, "
                                    "1 would stop, remove and re-add (changed)"]
    assert groups(fleet, "web02") == before

    break_syntax(fleet, "web01")
    refused = herd("update", "-a", "--dry-run", "-i", inv, home=home)
    assert refused.code == 1
    assert refused.out.splitlines()[1].startswith("web01  config: config does not parse, so supervisord would fail "
                                                  "at its next start (it runs on the last config it read): ")
    applied = herd("update", "-a", "-i", inv, home=home)
    assert applied.code == 1, applied.out + applied.err
    assert applied.out.splitlines()[1:] == ["web02  tornado  updated process group",
                                            "2 hosts: 1 updated process group; 1 failed"]
    assert all(pid != before[n] for n, pid in groups(fleet, "web02").items() if n.startswith("tornado:"))


def test_update_on_a_terminal_asks_before_bouncing(make_fleet, home):
    fleet = make_fleet(hosts=1)
    change_tornado(fleet, "web01")
    before = groups(fleet, "web01")
    run = on_a_terminal(["update", "-a", "-i", str(fleet.inventory_path)], b"n\n", home)
    output = run.stdout + run.stderr
    assert "herd: web01: tornado changed: all 4 processes are stopped and started at once" in output
    assert "Bounce 1 group(s) as a whole on 1 host(s)? Continue? [y/N]" in output
    assert run.returncode == 1
    assert "herd: not confirmed; nothing was changed" in output
    assert groups(fleet, "web01") == before


def test_update_with_a_broken_command_reports_fatal_and_fails(make_fleet, home):
    fleet = make_fleet(hosts=2)
    inv = str(fleet.inventory_path)
    break_command(fleet, "web02")
    untouched = groups(fleet, "web01")

    done = herd("update", "-a", "--wait-timeout", "40", "-i", inv, home=home, timeout=90)
    assert done.code == 1, done.out + done.err
    lines = done.out.splitlines()
    assert lines[0] == "web01  config   no config updates to processes"
    assert lines[1] == "web02  tornado  updated process group"
    ports = fleet.host("web02").tornado_ports
    assert len(lines) == 3 + len(ports)
    for port, line in zip(ports, lines[2:-1]):
        assert re.fullmatch(rf"web02  tornado:tornado-{port}: FATAL: .+ \(see herd tail -H web02 tornado:tornado-{port} "
                            rf"stderr\)", line), line
    assert lines[-1] == (f"2 hosts: 1 no config updates to processes, 1 updated process group; "
                         f"{len(ports)} failed")
    assert set(fleet.process_states("web02").values()) >= {"FATAL"}
    assert groups(fleet, "web01") == untouched


def test_update_reports_backoff_at_its_deadline(make_fleet, home):
    fleet = make_fleet(hosts=1)
    conf = Path(fleet.host("web01").conf_path)
    break_command(fleet, "web01")
    conf.write_text(conf.read_text().replace("[program:tornado]\n", "[program:tornado]\nstartretries=100\n", 1))

    done = herd("update", "tornado", "-a", "--wait-timeout", "4", "-i", str(fleet.inventory_path), home=home)
    assert done.code == 1, done.out + done.err
    failures = done.out.splitlines()[1:-1]
    assert failures and all(re.fullmatch(r"web01  tornado:tornado-\d+: (BACKOFF: it exits at start and "
                                         r"supervisord keeps retrying.*; not RUNNING after 4 s|"
                                         r"not RUNNING after 4 s \(STARTING\))", line) for line in failures), failures
    assert any("BACKOFF" in line for line in failures), failures
