"""herd reads Ansible inventories as Ansible does: checked against ``ansible-inventory --list``.

Each inventory below is written for the tests; herd's hosts, groups (direct
hosts and children, in order) and every host's merged variables must equal
what the real ansible-inventory reports for it.  Then the connection
variables herd takes from them are checked on the Host objects.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ansible_oracle import ansible_graph, ansible_list, herd_list

INI_BASICS = """\
# comments and ; comments
; lonely hosts before any section are 'ungrouped'
lonely ansible_host=10.0.0.9
solo:2201
[web]
web[01:03].example.com ansible_user=deploy
web[08:12:2].example.com
db-[a:c] x=1 y='two words' z="{'a': 1}" t=True n=None f=1.5
solo:2202 lead=0022 zero=0 under=1_000 word=abc dotted=a.b-c esc=a\\ b hash=a#b
node[1:2]-[x:y]
10.1.0.[1:3]
"[::1]:2222"
[web:vars]
ansible_port=2222
flag=yes
spaced = some words here   # a comment is part of the text here
num = 22 # and here it is a Python comment
[prod:children]
web
late
[late]
latecomer other=1
[late:vars]
ansible_user=late
[prod:vars]
ansible_port=22
ansible_user=produser
[all:vars]
everywhere=1
ansible_user=alluser
[twice]
web01.example.com ansible_user=again x=2
"""

INI_PRECEDENCE = """\
[parent]
h1
h2
[parent:children]
child
[child]
h2
h3 ansible_port=3333
[parent:vars]
level=parent
ansible_port=1111
[child:vars]
level=child
[aa]
h4
[zz]
h4
[aa:vars]
who=aa
prio=aa
[zz:vars]
who=zz
prio=zz
ansible_group_priority=0
[all:vars]
level=all
who=all
"""

YAML_BASICS = """\
all:
  vars:
    ansible_user: alluser
    nested: {a: [1, 2], b: {c: null}}
  hosts:
    top.example.com:
      ansible_port: 2200
  children:
    web:
      hosts:
        web[01:02].example.com:
          ansible_host: 127.0.0.1
        "web03.example.com:2203":
      vars:
        ansible_user: webuser
        yes_is: yes
        quoted: "yes"
        literal: !unsafe '{{ not a template }}'
      children:
        canary: {hosts: web01.example.com}
    db:
      hosts: db[a:b]
    empty:
    ungrouped:
      hosts:
        stray:
prod:
  children:
    web:
    db:
      vars:
        role: database
"""

YAML_NO_EXT = """\
all:
  hosts:
    plain01:
"""

INI_NO_EXT = """\
[grp]
noext01 ansible_port=2022
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def directory_inventory(root: Path) -> Path:
    """A directory inventory with group_vars/host_vars as files and directories."""
    return write(root, {
        "10-hosts.ini": """\
            [web]
            web01 ansible_user=inline
            web02
            [app:children]
            web
            [app:vars]
            from_ini=app
            both=ini
            """,
        "20-more.yaml": """\
            all:
              children:
                web:
                  hosts:
                    web03:
                db:
                  hosts:
                    db01:
            """,
        "sub/30-extra": "[extra]\nweb01\n",
        "40-json.json": '{"jsongroup": {"hosts": {"j01": {"a": 1}}, "children": {"web": {}}}}',
        "50-merge.yml": "anchors:\n  vars: &common {m: 1, n: 2}\nmerged:\n  hosts: {mh: }\n"
                        "  vars:\n    <<: *common\n    n: 3\n",
        "README.md": "[notinventory]\nignored-host\n",
        "60-empty.yml": "# nothing here yet\n",
        "notes.cfg": "[x]\nignored2\n",
        ".hidden": "[x]\nignored3\n",
        "group_vars/all.yml": "ansible_user: fromall\nlevel: all\n",
        "group_vars/web.yml": "level: web\nboth: group_vars\n",
        "group_vars/app/10-a.yml": "app_a: 1\nshared: a\n",
        "group_vars/app/20-b.yaml": "shared: b\n",
        "group_vars/app/sub/30-c.json": '{"deep": true}',
        "group_vars/app/skip.txt": "ignored: true\n",
        "group_vars/db": "level: db-noext\n",
        "host_vars/web02.yml": "ansible_user: hostfile\nlevel: host\n",
        "host_vars/db01/main.yml": "ansible_port: 2345\n",
    })


def deep_ini(depth: int) -> str:
    """Groups nested ``depth`` deep, with a diamond (``side`` under g1 and under g3) and hosts on the way.

    Sections come deepest first for half of them, so children are named
    before they are defined, as real inventories do.
    """
    lines = [f"[g{i}:children]\ng{i + 1}\n" for i in range(depth)]
    lines += ["[g1:children]\nside\n", "[g3:children]\nside\n", "[side]\nside01\n"]
    lines += [f"[g{i}]\nh{i:04d} level={i}\n" for i in range(depth, -1, -7)]
    lines.append(f"[g{depth}:vars]\ndeepest=1\n")
    return "".join(lines)


def deep_yaml(depth: int) -> str:
    """The same kind of chain in Ansible's YAML format: each group's children nested in it
    (indented one space a level, as YAML allows, to keep a thousand levels small)."""
    lines = ["all:", " children:"]
    indent = "  "
    for i in range(depth):
        lines += [f"{indent}g{i}:", f"{indent} hosts: {{h{i:04d}: {{level: {i}}}}}" if i % 5 == 0
                  else f"{indent} vars: {{at: {i}}}", f"{indent} children:"]
        if i in (2, 5):
            lines += [f"{indent}  side: {{hosts: {{side01: }}}}"]
        indent += "  "
    lines += [f"{indent}g{depth}:", f"{indent} hosts: {{last: }}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def inventories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ansible-inventories")
    made = {
        "ini-basics": write(root / "a", {"hosts.ini": INI_BASICS}) / "hosts.ini",
        "ini-precedence": write(root / "b", {
            "hosts.ini": INI_PRECEDENCE,
            "group_vars/parent.yml": "level: parent-file\n",
            "group_vars/all.yml": "who: all-file\n",
            "host_vars/h3.yml": "ansible_port: 4444\n",
        }) / "hosts.ini",
        "yaml-basics": write(root / "c", {"inventory.yml": YAML_BASICS,
                                          "group_vars/web/main.yml": "gv: web\n"}) / "inventory.yml",
        "yaml-no-extension": write(root / "d", {"hosts": YAML_NO_EXT}) / "hosts",
        "ini-no-extension": write(root / "e", {"hosts": INI_NO_EXT}) / "hosts",
        "directory": directory_inventory(root / "f"),
        # as deep as ansible-inventory itself goes (its INI reader recurses: ~300 levels is its limit)
        "ini-deep": write(root / "g", {"deep.ini": deep_ini(120)}) / "deep.ini",
        "yaml-deep": write(root / "h", {"deep.yml": deep_yaml(120)}) / "deep.yml",
    }
    return made


CASES = ["ini-basics", "ini-precedence", "yaml-basics", "yaml-no-extension", "ini-no-extension",
         "directory", "ini-deep", "yaml-deep"]


@pytest.mark.parametrize("case", CASES)
def test_hosts_groups_and_variables_equal_ansible(inventories: dict[str, Path], case: str) -> None:
    path = inventories[case]
    assert herd_list(path) == ansible_list(path)


@pytest.mark.parametrize("case", ["ini-basics", "directory", "ini-deep", "yaml-deep"])
def test_graph_equals_ansible_inventory_graph(inventories: dict[str, Path], case: str) -> None:
    from herd.inventory.read import read_inventory
    from herd.render.inventory import inventory_graph

    path = inventories[case]
    assert inventory_graph(read_inventory(str(path.resolve()))) == ansible_graph(path)


CONNECTION_INI = """\
[web]
web01 ansible_host=10.0.0.1 ansible_port=2222 ansible_user=deploy
web02 ansible_ssh_host=10.0.0.2 ansible_host=ignored ansible_ssh_port='2200'
web03 ansible_ssh_common_args='-o ProxyJump=ops@bastion:2022 -o StrictHostKeyChecking=no'
web04 ansible_ssh_extra_args='-J jump1,jump2' ansible_become=yes ansible_become_user=app
web05 ansible_ssh_common_args='-oProxyJump=first' ansible_ssh_extra_args='-J second'
web06 ansible_python_interpreter=/usr/bin/python3 ansible_become=False
web07 ansible_python_interpreter=auto_silent ansible_ssh_common_args='-o ProxyJump=none'
web08 ansible_ssh_private_key_file=~/.ssh/deploy_key ansible_private_key_file=/ignored
local01 ansible_connection=local
web10 ansible_ssh_common_args='-o ProxyCommand="ssh -W %h:%p -q -p 2022 ops@bastion"'
web11 ansible_ssh_extra_args="-o 'ProxyCommand ssh -l ops -W %h:%p bastion'"
[web:vars]
ansible_ssh_common_args="-o StrictHostKeyChecking=no"
herd_supervisor_socket=/var/run/supervisor.sock
herd_become_password_env=SUDO_PASS
[inet]
web09 herd_supervisor_url=http://127.0.0.1:9001
[inet:vars]
herd_supervisor_username=herd
herd_supervisor_password_file=secrets/web.pass
herd_logs={'worker': '/var/log/app/{program}.log'}
herd_known_hosts=./known_hosts
"""


def expected_connection(hostvars: dict) -> dict:
    """What herd must take from Ansible's merged variables (the later alias wins)."""
    def last(*names):
        values = [hostvars[n] for n in names if hostvars.get(n) is not None]
        return values[-1] if values else None

    port = last("ansible_port", "ansible_ssh_port")
    return {"address": last("ansible_host", "ansible_ssh_host"),
            "port": int(port) if port is not None else None,
            "user": last("ansible_user", "ansible_ssh_user")}


def test_connection_variables_follow_ansibles_variables(tmp_path: Path, monkeypatch) -> None:
    from herd.inventory.read import read_inventory

    path = write(tmp_path, {"hosts.ini": CONNECTION_INI}) / "hosts.ini"
    ansible = ansible_list(path)["_meta"]["hostvars"]
    monkeypatch.chdir(tmp_path)
    inventory = read_inventory(str(path))
    assert "local01" in ansible and "local01" not in inventory.host_names   # not reached over SSH
    assert set(inventory.host_names) == set(ansible) - {"local01"}
    for host in inventory.hosts:
        got = {"address": host.address, "port": host.port, "user": host.user}
        assert got == expected_connection(ansible[host.name]), host.name
    byname = {h.name: h for h in inventory.hosts}
    assert byname["web01"].address == "10.0.0.1" and byname["web02"].address == "10.0.0.2"
    assert byname["web02"].port == 2200
    assert byname["web03"].proxy_jump == "ops@bastion:2022"
    assert byname["web04"].proxy_jump == "jump1,jump2"
    assert byname["web05"].proxy_jump == "first"            # ssh: the first ProxyJump given wins
    assert byname["web07"].proxy_jump is None and byname["web01"].proxy_jump is None
    assert byname["web10"].proxy_jump == "ops@bastion:2022"      # the classic ssh -W ProxyCommand
    assert byname["web11"].proxy_jump == "ops@bastion"
    assert (byname["web04"].become, byname["web04"].become_user) == (True, "app")
    assert (byname["web06"].become, byname["web06"].become_user) == (False, None)
    assert byname["web06"].python == "/usr/bin/python3" and byname["web07"].python is None
    assert byname["web08"].identity_file == str(Path.home() / ".ssh" / "deploy_key")
    assert byname["web01"].supervisor.socket == "/var/run/supervisor.sock"
    assert byname["web01"].become_password_env == "SUDO_PASS"
    web09 = byname["web09"]
    assert (web09.supervisor.url, web09.supervisor.socket) == ("http://127.0.0.1:9001", None)
    assert web09.supervisor.username == "herd"
    assert web09.supervisor.password_file == str(tmp_path / "secrets" / "web.pass")
    assert web09.logs == {"worker": "/var/log/app/{program}.log"}
    assert web09.known_hosts == str(tmp_path / "known_hosts")


def test_no_herd_supervisor_variable_keeps_the_default_target(tmp_path: Path) -> None:
    from herd.inventory import SupervisorTarget
    from herd.inventory.read import read_inventory

    path = write(tmp_path, {"hosts": "[web]\nweb01 ansible_host=10.0.0.1\n"}) / "hosts"
    assert read_inventory(str(path)).hosts[0].supervisor == SupervisorTarget()


def test_exclusive_settings_take_the_more_specific_one(tmp_path: Path) -> None:
    from herd.inventory.read import read_inventory

    path = write(tmp_path, {"hosts.ini": """\
        [web]
        web01 herd_supervisor_url=http://127.0.0.1:9001
        web02
        [web:vars]
        herd_supervisor_socket=/run/supervisor.sock
        herd_become_password_file=/etc/herd/sudo.pass
        """, "host_vars/web02.yml": "herd_become_password_env: SUDO\n"}) / "hosts.ini"
    web01, web02 = read_inventory(str(path)).hosts
    assert (web01.supervisor.url, web01.supervisor.socket) == ("http://127.0.0.1:9001", None)
    assert (web02.supervisor.url, web02.supervisor.socket) == (None, "/run/supervisor.sock")
    assert (web01.become_password_file, web01.become_password_env) == ("/etc/herd/sudo.pass", None)
    assert (web02.become_password_file, web02.become_password_env) == (None, "SUDO")


def test_unused_vault_values_are_ignored_and_vault_files_skipped_when_asked(tmp_path: Path, caplog) -> None:
    from herd.inventory.read import read_inventory

    path = write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    web01:\n      ansible_become_password: !vault |\n"
                     "        $ANSIBLE_VAULT;1.1;AES256\n        6162\n",
        "host_vars/web01/vault.yml": "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
        "host_vars/web01/main.yml": "ansible_user: deploy\n"}) / "hosts.yml"
    (host,) = read_inventory(str(path), skip_vaulted=True).hosts
    assert host.user == "deploy"
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path}/host_vars/web01/vault.yml: encrypted with ansible-vault; going on without it "
        "(--skip-vaulted): its variables are not applied"]
    assert caplog.records[0].levelname == "WARNING"


def test_templates_in_variables_herd_does_not_use_are_fine(tmp_path: Path) -> None:
    from herd.inventory.read import read_inventory

    path = write(tmp_path, {"hosts.ini": """\
        [web]
        web01 ansible_become_user='{{ app_user }}' motd='{{ banner }}'
        localhost ansible_connection=local ansible_python_interpreter='{{ ansible_playbook_python }}'
        [web:vars]
        ansible_host_alias="{% if x %}a{% endif %}"
        """}) / "hosts.ini"
    (host,) = read_inventory(str(path)).hosts
    assert (host.name, host.become, host.become_user) == ("web01", False, None)


def test_nesting_a_thousand_deep_reads_and_draws_without_recursion(tmp_path: Path) -> None:
    """Deeper than Ansible goes (its INI reader and --graph recurse; libyaml stops at 1000 levels)."""
    from paramiko import SSHConfig

    from herd.inventory.read import read_inventory
    from herd.render.inventory import inventory_graph, inventory_json
    from herd.ssh.config import resolve_target

    depth = 1000
    paths = write(tmp_path, {"deep.ini": deep_ini(depth), "deep.yml": deep_yaml(depth),
                             "herd.yaml": "hosts:\n  last: {}\n  other: {}\ngroups:\n"
                                          + "".join(f"  g{i}: ['@g{i + 1}']\n" for i in range(depth))
                                          + f"  g{depth}: [last]\n"})
    for name in ("deep.ini", "deep.yml", "herd.yaml"):
        inventory = read_inventory(str(paths / name))
        deepest = "last" if name != "deep.ini" else f"h{depth:04d}"
        assert deepest in inventory.groups["g0"] and inventory.groups[f"g{depth}"] == (deepest,), name
        graph = inventory_graph(inventory).splitlines()
        assert graph[0] == "@all:" and "  |" * (depth + 2) + "--" + deepest in graph, name
        selected = inventory_graph(inventory, [deepest]).splitlines()
        assert len(selected) == depth + 3, name       # @all, g0..g{depth}, the host
        data = inventory_json(inventory, [(h, resolve_target(h, SSHConfig())) for h in inventory.hosts
                                          if h.name == deepest])
        assert data["groups"][f"g{depth // 2}"] == [deepest], name
