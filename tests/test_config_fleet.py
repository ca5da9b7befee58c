"""reread / avail / update / add / remove / reload / shutdown against real supervisord config changes."""

from __future__ import annotations

from pathlib import Path

from helpers import herd, on_a_terminal, wait_until



def edit_config(fleet, name: str) -> None:
    """On one host: change [program:tornado], remove [program:worker], add [program:extra]."""
    conf = Path(fleet.host(name).conf_path)
    text = conf.read_text()
    head, _, _ = text.partition("[program:worker]")
    head = head.replace("stopwaitsecs=5", "stopwaitsecs=6", 1)
    conf.write_text(head + "[program:extra]\ncommand=sleep 600\nstartsecs=0\n")


def groups(fleet, name: str) -> dict[str, int]:
    """{process: pid} as supervisord itself reports it."""
    return {f"{p['group']}:{p['name']}": p["pid"] for p in fleet.rpc(name).supervisor.getAllProcessInfo()}


def test_reread_avail_and_update(make_fleet, home):
    fleet = make_fleet(hosts=2)
    inv = str(fleet.inventory_path)
    untouched = groups(fleet, "web02")
    before = groups(fleet, "web01")
    edit_config(fleet, "web01")

    reread = herd("reread", "-i", inv, home=home)
    assert reread.code == 0, reread.out + reread.err
    assert reread.out.splitlines() == [
        "web01  extra    available",
        "web01  tornado  changed",
        "web01  worker   disappeared",
        "web02  config   no config updates to processes",
        "2 hosts: 1 available, 1 changed, 1 disappeared, 1 no config updates to processes",
    ]
    avail = herd("avail", "-H", "web01", "-i", inv, home=home)
    assert "web01  extra                  avail   auto  999:999" in avail.out.splitlines()
    assert "web01  tornado:tornado-{}  in use  auto  999:999".format(fleet.host("web01").tornado_ports[0]) \
        in avail.out.splitlines()

    dry = herd("update", "-a", "--dry-run", "-i", inv, home=home)
    assert dry.code == 0
    assert dry.out.splitlines()[1:4] == ["web01  worker   would stop and remove",
                                         "web01  tornado  would stop, remove and re-add (changed)",
                                         "web01  extra    would add"]
    assert groups(fleet, "web01") == before

    only_tornado = herd("update", "tornado", "-H", "web01", "-i", inv, home=home)
    assert only_tornado.code == 0, only_tornado.out
    assert only_tornado.out.splitlines() == ["web01  tornado  updated process group", "1 host: 1 updated process group"]
    after = groups(fleet, "web01")
    assert "worker:worker" in after and "extra:extra" not in after
    assert all(after[n] != before[n] for n in after if n.startswith("tornado:"))

    full = herd("update", "-a", "-i", inv, home=home)
    assert full.code == 0, full.out
    assert full.out.splitlines() == ["web01  worker  removed process group", "web01  extra   added process group",
                                     "web02  config  no config updates to processes",
                                     "2 hosts: 1 removed process group, 1 added process group, "
                                     "1 no config updates to processes"]
    final = groups(fleet, "web01")
    assert "worker:worker" not in final and final["extra:extra"] > 0
    assert groups(fleet, "web02") == untouched


def test_add_and_remove(make_fleet, home):
    fleet = make_fleet(hosts=1)
    inv = str(fleet.inventory_path)
    edit_config(fleet, "web01")
    assert herd("reread", "-a", "-i", inv, home=home).code == 0

    still = herd("remove", "worker", "-a", "-i", inv, home=home)
    assert still.code == 1
    assert still.out.splitlines()[0] == "web01  worker: still running: stop it first (herd stop 'worker:*')"
    assert herd("stop", "worker", "-a", "-i", inv, home=home).code == 0
    removed = herd("remove", "worker", "-a", "-i", inv, home=home)
    assert removed.out.splitlines()[0] == "web01  worker  removed process group"

    added = herd("add", "extra", "-a", "-i", inv, home=home)
    assert added.code == 0
    assert added.out.splitlines()[0] == "web01  extra  added process group"
    assert herd("add", "extra", "-a", "-i", inv, home=home).out.splitlines()[0] == "web01  extra  already active"
    unknown = herd("add", "nosuch", "-a", "-i", inv, home=home)
    assert unknown.code == 2
    assert unknown.err == "herd: no such group in supervisord's config (as last reread) on any selected host: nosuch\n"


def supervisord_pid(fleet, name: str) -> int:
    return fleet.rpc(name).supervisor.getPID()


def test_reload_needs_confirmation_then_restarts_supervisord(make_fleet, home):
    fleet = make_fleet(hosts=2)
    inv = str(fleet.inventory_path)
    before, untouched = groups(fleet, "web01"), groups(fleet, "web02")

    refused = herd("reload", "-a", "-i", inv, home=home)
    assert refused.code == 2
    assert refused.err == ("herd: restart supervisord and every process on 2 host(s) (web01, web02); "
                           "no terminal to ask: pass --yes to confirm\n")

    done = herd("reload", "-H", "web01", "--yes", "-i", inv, home=home, timeout=120)
    assert done.code == 0, done.out + done.err
    assert done.out.splitlines() == ["web01  supervisord  reloaded", "1 host: 1 reloaded"]
    # supervisord restarts in place (same pid) and restarts every process
    after = groups(fleet, "web01")
    assert all(after[n] != before[n] for n in before)
    assert groups(fleet, "web02") == untouched


def test_confirmation_on_a_terminal_can_be_declined(make_fleet, home):
    fleet = make_fleet(hosts=1)
    old = supervisord_pid(fleet, "web01")
    run = on_a_terminal(["shutdown", "-a", "-i", str(fleet.inventory_path)], b"n\n", home)
    output = run.stdout + run.stderr
    assert "shut down supervisord and every process on 1 host(s): web01. Continue? [y/N]" in output
    assert run.returncode == 1
    assert "herd: not confirmed; nothing was changed" in output
    assert supervisord_pid(fleet, "web01") == old


def test_shutdown_with_yes(make_fleet, home):
    fleet = make_fleet(hosts=2)
    inv = str(fleet.inventory_path)
    dry = herd("shutdown", "-a", "--dry-run", "-i", inv, home=home)
    assert dry.out.splitlines()[1] == "web01  supervisord  would shut down supervisord and all its processes"
    run = herd("shutdown", "-H", "web02", "--yes", "-i", inv, home=home)
    assert run.code == 0, run.out + run.err
    assert run.out.splitlines() == ["web02  supervisord  shut down", "1 host: 1 shut down"]
    # herd waits until supervisord stops answering; the process then exits and removes its socket
    socket_path = Path(fleet.host("web02").socket_path)
    wait_until(lambda: not socket_path.exists(), 30, "supervisord to remove its socket")
    status = herd("status", "-i", inv, home=home)
    assert status.code == 4
    assert status.rows()[-1][5] == (f"no supervisord socket at {fleet.host('web02').socket_path} "
                                    f"(is supervisord running?)")
    assert [r[2] for r in status.rows() if r[0] == "web01"] == ["RUNNING"] * 5
