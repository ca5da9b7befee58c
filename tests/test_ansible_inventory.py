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
        "README.md": "[notinventory]\nignored-host\n",
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
    }
    return made


CASES = ["ini-basics", "ini-precedence", "yaml-basics", "yaml-no-extension", "ini-no-extension",
         "directory"]


@pytest.mark.parametrize("case", CASES)
def test_hosts_groups_and_variables_equal_ansible(inventories: dict[str, Path], case: str) -> None:
    path = inventories[case]
    assert herd_list(path) == ansible_list(path)


@pytest.mark.parametrize("case", ["ini-basics", "directory"])
def test_graph_equals_ansible_inventory_graph(inventories: dict[str, Path], case: str) -> None:
    from herd.inventory.read import read_inventory
    from herd.render.inventory import inventory_graph

    path = inventories[case]
    assert inventory_graph(read_inventory(str(path.resolve()))) == ansible_graph(path)
