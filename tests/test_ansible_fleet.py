"""herd status on the real test fleet, described by an Ansible inventory.

The Ansible inventory is generated from the fleet's own (herd YAML)
inventory: hosts and their supervisord endpoints as INI host variables,
the SSH user, key and known_hosts in group_vars/all.yml.  herd must reach
every host through it exactly as through its own file; ansible-inventory
must read the same variables from it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ansible_oracle import ansible_list, herd_list
from helpers import assert_through_jump, herd
from herd.inventory import load_inventory


def ansible_inventory_for(fleet_inventory: Path, target: Path) -> Path:
    """Write ``target``/hosts.ini and group_vars/ describing the same fleet."""
    inventory = load_inventory(str(fleet_inventory))
    first = inventory.hosts[0]
    lines = ["# generated from the test fleet's inventory.yaml"]
    for group, members in inventory.groups.items():
        lines.append(f"[{group}]")
        for name in members:
            host = inventory.host(name)
            sup = host.supervisor
            words = [name, f"ansible_host={host.address}", f"ansible_port={host.port}"]
            if sup.url:
                words += [f"herd_supervisor_url={sup.url}", f"herd_supervisor_username={sup.username}",
                          f"herd_supervisor_password_file={shlex.quote(sup.password_file)}"]
            else:
                words.append(f"herd_supervisor_socket={shlex.quote(sup.socket)}")
            lines.append(" ".join(words))
    target.mkdir(parents=True, exist_ok=True)
    (target / "hosts.ini").write_text("\n".join(lines) + "\n")
    (target / "group_vars").mkdir(exist_ok=True)
    (target / "group_vars" / "all.yml").write_text(
        f"ansible_user: {first.user}\n"
        f"ansible_ssh_private_key_file: {first.identity_file}\n"
        f"herd_known_hosts: {first.known_hosts}\n"
        "some_ansible_only_setting: '{{ ignored_by_herd }}'\n")
    return target / "hosts.ini"


@pytest.fixture(scope="module")
def ansible_inv(fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ansible_inventory_for(fleet.inventory_path, tmp_path_factory.mktemp("ansible-fleet"))


def test_generated_inventory_reads_as_ansible_reads_it(ansible_inv: Path) -> None:
    assert herd_list(ansible_inv) == ansible_list(ansible_inv)


def test_status_through_the_ansible_inventory_equals_status_through_herds(fleet, home, ansible_inv) -> None:
    own = herd("status", "-i", str(fleet.inventory_path), home=home)
    via = herd("status", "-v", "-i", str(ansible_inv), home=home)
    assert via.code == 0, via.err
    assert own.code == 0, own.err
    rows = [r[:3] for r in via.rows()]
    assert rows == [r[:3] for r in own.rows()]
    assert {r[0] for r in rows} == {h.name for h in fleet.hosts}
    assert all(r[2] == "RUNNING" for r in rows)
    assert f"inventory: {ansible_inv} (from -i), {len(fleet.hosts)} hosts" in via.err


def test_groups_of_the_ansible_inventory_select_hosts(fleet, home, ansible_inv) -> None:
    run = herd("status", "-g", "odd", "-o", "json", "-i", str(ansible_inv), home=home)
    assert run.code == 0, run.err
    odd = [h.name for h in fleet.hosts if h.index % 2 == 0]
    assert [h["host"] for h in run.json()["hosts"]] == odd
    web03 = herd("status", "-H", "web03", "-i", str(ansible_inv), home=home)   # inet_http_server + password
    assert web03.code == 0, web03.err
    assert {r[0] for r in web03.rows()} == {"web03"}


def test_inventory_command_shows_how_each_host_is_reached(fleet, home, ansible_inv) -> None:
    run = herd("inventory", "-o", "json", "-i", str(ansible_inv), home=home)
    assert run.code == 0, run.err
    hosts = {h["name"]: h for h in run.json()["hosts"]}
    for fh in fleet.hosts:
        shown = hosts[fh.name]
        assert (shown["address"], shown["port"]) == (fh.address, fh.ssh_port)
        if fh.inet_port:
            assert shown["supervisor"]["url"] == fh.inet_url
            assert shown["supervisor"]["password_file"] == fh.password_file
        else:
            assert shown["supervisor"]["socket"] == fh.socket_path
    assert fleet.host("web03").password not in run.out
    table = herd("inventory", "-i", str(ansible_inv), home=home)
    assert table.code == 0 and fleet.host("web03").password not in table.out
    assert table.out.splitlines()[0].split() == ["HOST", "ADDRESS", "PORT", "USER", "KEY", "JUMP",
                                                 "BECOME", "SUPERVISOR"]


@pytest.mark.parametrize("form", ["-J {dest}:{port}", '-o ProxyCommand="ssh -W %h:%p -q -p {port} {dest}"'])
def test_proxy_jump_from_ansible_ssh_args_goes_through_the_jump_host(fleet, home, ansible_inv, tmp_path,
                                                                     form) -> None:
    from herd.inventory.read import read_inventory

    jump = fleet.host("web01")
    text = ansible_inv.read_text()
    user = load_inventory(str(fleet.inventory_path)).hosts[0].user
    jumping = tmp_path / "hosts.ini"
    args = form.format(dest=f"{user}@127.0.0.1", port=jump.ssh_port)
    jumping.write_text(text + f"[web:vars]\nansible_ssh_extra_args='-o StrictHostKeyChecking=no {args}'\n")
    (tmp_path / "group_vars").symlink_to(ansible_inv.parent / "group_vars")
    run = herd("status", "-H", "web04", "-i", str(jumping), home=home)
    assert run.code == 0, run.out + run.err
    assert {r[0] for r in run.rows()} == {"web04"}

    host = read_inventory(str(jumping)).host("web04")
    assert host.proxy_jump == f"{user}@127.0.0.1:{jump.ssh_port}"
    assert_through_jump(host, jump.ssh_port)
