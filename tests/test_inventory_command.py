"""``herd inventory``: hosts and how herd reaches them, groups, and --graph; never a password."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from herd.cli import run_command

REPO = Path(__file__).resolve().parent.parent

HOSTS_INI = """\
[web]
web01 ansible_host=10.0.0.11
web02 ansible_host=10.0.0.12 herd_supervisor_url=http://127.0.0.1:9001 herd_supervisor_username=herd herd_supervisor_password_env=WEB_PASS
[db]
db01 ansible_port=2222 herd_supervisor_password_file=db.pass herd_supervisor_username=herd
[web:vars]
ansible_user=deploy
ansible_ssh_private_key_file=/keys/deploy
ansible_ssh_common_args='-J ops@bastion'
ansible_become=true
herd_supervisor_socket=/var/run/supervisor.sock
[prod:children]
web
db
"""


@pytest.fixture
def inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))            # no ~/.ssh/config of this machine
    monkeypatch.setenv("WEB_PASS", "hunter2-secret")
    (tmp_path / "db.pass").write_text("other-secret\n")
    path = tmp_path / "hosts.ini"
    path.write_text(HOSTS_INI)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_command(["inventory", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_shows_how_each_host_is_reached(inv: Path, capsys) -> None:
    code, out, err = run(capsys, "-i", str(inv))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["HOST", "ADDRESS", "PORT", "USER", "KEY", "JUMP", "BECOME", "SUPERVISOR"]
    assert lines[1].split() == ["web01", "10.0.0.11", "22", "deploy", "/keys/deploy", "ops@bastion", "root",
                                "unix:///var/run/supervisor.sock"]
    assert lines[2].split() == ["web02", "10.0.0.12", "22", "deploy", "/keys/deploy", "ops@bastion", "root",
                                "http://127.0.0.1:9001", "(user", "herd)"]
    assert lines[3].split()[:7] == ["db01", "db01", "2222", getpass.getuser(), "-", "-", "-"]
    assert "web    web01, web02" in out and "prod   web01, web02, db01" in out
    assert lines[-1] == f"3 hosts from {inv}"
    assert "secret" not in out


def test_json_names_password_sources_never_passwords(inv: Path, capsys) -> None:
    code, out, _ = run(capsys, "-i", str(inv), "-o", "json", "-g", "web", "-H", "db01")
    assert code == 0
    data = json.loads(out)
    assert "secret" not in out
    web02 = data["hosts"][1]
    assert web02["supervisor"] == {"socket": None, "url": "http://127.0.0.1:9001", "username": "herd",
                                   "password_env": "WEB_PASS", "password_file": None}
    assert web02["become"] is True and web02["become_user"] == "root"
    assert data["hosts"][2]["supervisor"]["password_file"] == str(inv.parent / "db.pass")
    assert data["groups"]["prod"] == ["web01", "web02", "db01"]
    assert data["tree"]["prod"] == {"children": ["web", "db"], "hosts": []}


def test_graph_with_a_selection_draws_only_what_leads_to_it(inv: Path, capsys) -> None:
    code, out, _ = run(capsys, "-i", str(inv), "--graph", "-H", "db01")
    assert code == 0
    assert out == "@all:\n  |--@prod:\n  |  |--@db:\n  |  |  |--db01\n"


def test_graph_as_json_has_the_hosts_of_the_selection(inv: Path, capsys) -> None:
    code, out, _ = run(capsys, "-i", str(inv), "--graph", "-o", "json")
    assert code == 0
    tree = json.loads(out)
    assert tree["web"] == {"children": [], "hosts": ["web01", "web02"]} and tree["db"]["hosts"] == ["db01"]
    assert tree["all"] == {"children": ["ungrouped", "prod"], "hosts": []}
    code, out, _ = run(capsys, "-i", str(inv), "--graph", "-o", "json", "-H", "db01")
    assert json.loads(out)["web"]["hosts"] == [] and json.loads(out)["db"]["hosts"] == ["db01"]


def test_graph_of_herds_own_yaml(capsys) -> None:
    code, out, _ = run(capsys, "-i", str(REPO / "inventory" / "example.yaml"), "--graph")
    assert code == 0
    assert out.splitlines()[:8] == ["@all:", "  |--@ungrouped:", "  |  |--bastion.example.com", "  |--@edge:",
                                    "  |  |--@web:", "  |  |  |--web01", "  |  |  |--web02", "  |  |  |--web03"]


def test_unknown_group_is_a_usage_error(inv: Path, capsys) -> None:
    code, _, err = run(capsys, "-i", str(inv), "-g", "wbe")
    assert (code, err) == (2, "herd: unknown group 'wbe' (did you mean 'web'?)\n")


def test_inventory_help_stays_light() -> None:
    from test_cli_startup import HEAVY, _modules_after

    code, modules = _modules_after(["inventory", "--help"])
    assert code == 0 and "herd.cli.inventory" in modules
    assert not {m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY}


def test_completion_offers_the_groups_and_hosts_of_an_ansible_inventory(inv: Path) -> None:
    from test_cli_startup import _complete

    assert _complete(f"herd status -i {inv} -g ", 5, inv.parent) == ["all", "ungrouped", "web", "db", "prod"]
    assert _complete(f"herd status -i {inv} -H web", 5, inv.parent) == ["web01", "web02"]
