"""Every problem in an Ansible inventory is the one line a user sees, with exit 2.

The commands run in-process through herd's CLI boundary (run_command, as
``herd`` itself does), and one through the real ``herd`` executable.
Passwords and URLs written in the inventory are never repeated.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import herd
from herd.cli import run_command

CASES = [
    ("children.ini", "[web]\nweb01\n[web:children]\nnosuch\n",
     "children.ini:4: section [web:children] includes group 'nosuch', which is not defined "
     "anywhere (add a [nosuch] section)"),
    ("vars.ini", "[web]\nweb01\n[db:vars]\nx=1\n",
     "vars.ini:3: section [db:vars] is for group 'db', which is not defined anywhere (add a [db] section)"),
    ("cycle.ini", "[a:children]\nb\n[b:children]\na\n", "cycle.ini:4: group cycle: b -> a -> b"),
    ("self.ini", "[a:children]\na\n", "self.ini:2: group 'a' cannot be a child of itself"),
    ("cycle.yaml", "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n"
                   "            a:\n", "cycle.yaml:5: group cycle: a -> b -> a"),
    ("range1.ini", "[web]\nweb[01:5]\n",
     "range1.ini:2: host range [01:5] in 'web[01:5]': begin and end must have the same number of "
     "digits when begin has a leading zero"),
    ("range2.ini", "[web]\nweb[a:5]\n",
     "range2.ini:2: host range [a:5] in 'web[a:5]' must be numbers ([01:20]) or single letters ([a:f])"),
    ("range3.ini", "[web]\nweb[5:1]\n", "range3.ini:2: host range [5:1] in 'web[5:1]' is empty (begin is after end)"),
    ("range4.ini", "[web]\nweb[1:3:0]\n",
     "range4.ini:2: host range [1:3:0] in 'web[1:3:0]': the step must be a whole number above 0, got '0'"),
    ("range5.yaml", "all:\n  hosts:\n    web[1:]:\n",
     "range5.yaml:3:5: all.hosts.web[1:]: host range [1:] in 'web[1:]' has no end value"),
    ("section.ini", "[web:hosts2]\nweb01\n",
     "section.ini:1: section [web:hosts2] has an unknown type 'hosts2'; use [web], [web:vars] or [web:children]"),
    ("header.ini", "[web prod]\nweb01\n",
     "header.ini:1: invalid section header [web prod]: write [group], [group:vars] or [group:children], "
     "without spaces"),
    ("kv.ini", "[web]\nweb01 ansible_user\n", "kv.ini:2: expected key=value after the host pattern, got 'ansible_user'"),
    ("quote.ini", "[web]\nweb01 x='open\n", "quote.ini:2: cannot split host line (No closing quotation): web01 x='open"),
    ("colon.ini", "[web]\nweb01:\n", "colon.ini:2: host pattern 'web01:' ends in ':'; write host:PORT or drop the ':'"),
    ("syntax.yaml", "all:\n  hosts:\n    web01: {\n",
     "syntax.yaml:4:1: invalid YAML: while parsing a flow node: expected the node content, but found '<stream end>'"),
    ("key.yaml", "all:\n  host:\n    web01:\n",
     "key.yaml:2:3: all.host: unknown key in group 'all'; a group has only hosts, vars and children"),
    ("intkey.yaml", "all:\n  hosts:\n    1234:\n",
     "intkey.yaml:3:5: all.hosts.1234: a host pattern must be a string, got integer 1234 (quote it)"),
    ("dup.yaml", "all:\n  hosts:\n    web01:\n    web01:\n",
     "dup.yaml:4:5: all.hosts.web01: duplicate key (first defined on line 3)"),
    ("plugin.yaml", "plugin: aws_ec2\nregions: [x]\n",
     "plugin.yaml:1:1: plugin: this is the configuration of an Ansible inventory plugin; herd reads only "
     "INI and YAML inventories (ansible-inventory -i FILE --list --yaml writes one)"),
    ("toml.toml", "[web]\n", "toml.toml: TOML inventories are not supported; use INI or YAML"),
    ("nohosts.ini", "[web]\n[web:vars]\nx=1\n", "nohosts.ini: the Ansible inventory has no host herd can reach"),
    ("local.ini", "[web]\nlocalhost ansible_connection=local\n",
     "local.ini: the Ansible inventory has no host herd can reach (1 left out: their ansible_connection is not SSH)"),
    ("jinja.ini", "[web]\nweb01 ansible_host='{{ lookup(\"env\", \"X\") }}'\n",
     "jinja.ini:2: ansible_host: is a Jinja template ({{ ... }}); herd does not evaluate templates: "
     "write the value itself"),
    ("jinja-file.ini", "[web]\nweb01\n",
     "group_vars/web.yml:2: herd_supervisor_socket: is a Jinja template ({{ ... }}); herd does not "
     "evaluate templates: write the value itself"),
    ("port.ini", "[web]\nweb01\n[web:vars]\nansible_port=ssh\n",
     "port.ini:4: ansible_port: must be a port number between 1 and 65535, got 'ssh'"),
    ("typo.ini", "[web]\nweb01 herd_supervisor_sockt=/run/s.sock\n",
     "typo.ini:2: herd_supervisor_sockt: unknown herd variable (did you mean 'herd_supervisor_socket'?)"),
    ("inline.ini", "[web]\nweb01 herd_supervisor_password=hunter2\n",
     "inline.ini:2: herd_supervisor_password: inline passwords are not allowed; use "
     "herd_supervisor_password_env or herd_supervisor_password_file"),
    ("both.ini", "[web]\nweb01\n[web:vars]\nherd_supervisor_socket=/run/s.sock\n"
                 "herd_supervisor_url=http://127.0.0.1:9001\n",
     "both.ini:5: herd_supervisor_url: herd_supervisor_socket and herd_supervisor_url are exclusive; set only one"),
    ("user.ini", "[web]\nweb01 herd_supervisor_username=herd\n",
     "user.ini:2: herd_supervisor_username: is set but neither herd_supervisor_password_env nor "
     "herd_supervisor_password_file is; supervisor authentication needs both"),
    ("su.ini", "[web]\nweb01 ansible_become=true ansible_become_method=su\n",
     "su.ini:2: ansible_become_method: herd becomes another user only through sudo, not 'su'"),
    ("become.ini", "[web]\nweb01 ansible_become=maybe\n",
     "become.ini:2: ansible_become: must be a boolean (true/false, yes/no), got 'maybe'"),
    ("proxycmd.ini", "[web]\nweb01 ansible_ssh_common_args='-o ProxyCommand=\"nc -x proxy:1080 %h %p\"'\n",
     "proxycmd.ini:2: ansible_ssh_common_args: this ProxyCommand is not supported by herd (only "
     "'ssh -W %h:%p [-q] [-p PORT] [-l USER] [user@]host'); use -J or -o ProxyJump=[user@]host[:port]"),
    ("vault.yaml", "all:\n  hosts:\n    web01:\n      ansible_user: !vault |\n"
                   "        $ANSIBLE_VAULT;1.1;AES256\n        6162\n",
     "vault.yaml:4: ansible_user: is encrypted with Ansible Vault, which herd cannot decrypt; "
     "write this setting in plain text"),
    ("https.ini", "[web]\nweb01 herd_supervisor_url=https://user:hunter2@127.0.0.1:9001\n",
     "https.ini:2: herd_supervisor_url: must not contain credentials; set herd_supervisor_username, "
     "and herd_supervisor_password_env or herd_supervisor_password_file"),
    ("pwenv.ini", "[web]\nweb01 herd_supervisor_username=u herd_supervisor_password_env='hunter2 pass'\n",
     "pwenv.ini:2: herd_supervisor_password_env: must be the name of an environment variable "
     "(letters, digits and _, not starting with a digit)"),
    ("logs.ini", "[web]\nweb01 herd_logs=\"{'worker': 'logs/w.log'}\"\n",
     "logs.ini:2: herd_logs.worker: must be an absolute path on the host, got 'logs/w.log'"),
    ("socket.ini", "[web]\nweb01 herd_supervisor_socket=run/s.sock\n",
     "socket.ini:2: herd_supervisor_socket: must be an absolute path on the host "
     "(e.g. /var/run/supervisor.sock), got 'run/s.sock'"),
]


@pytest.mark.parametrize("name,text,line", CASES, ids=[c[0] for c in CASES])
def test_error_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], name: str, text: str,
                                      line: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(text)
    if name == "jinja-file.ini":
        Path("group_vars").mkdir()
        Path("group_vars/web.yml").write_text("x: 1\nherd_supervisor_socket: \"{{ sock }}\"\n")
    code = run_command(["inventory", "-i", name])
    err = capsys.readouterr().err
    assert (code, err) == (2, f"herd: {line}\n")
    assert "hunter2" not in err


def test_inventory_script_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("inv.sh").write_text("#!/bin/sh\necho '{}'\n")
    os.chmod("inv.sh", 0o755)
    assert run_command(["inventory", "-i", "inv.sh"]) == 2
    assert capsys.readouterr().err == (
        "herd: inv.sh: this is an inventory script; herd does not run scripts to read an inventory "
        "(save its output: ansible-inventory -i SCRIPT --list --yaml)\n")


def test_herd_format_inside_an_ansible_directory_is_refused(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hosts.ini").write_text("[web]\nweb01\n")
    (tmp_path / "herd.yaml").write_text("hosts:\n  web02: {}\n")
    assert run_command(["inventory", "-i", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"herd: {tmp_path}/herd.yaml: herd's own inventory format cannot be part of an Ansible "
        "inventory directory; give it with -i on its own\n")


def test_real_command_prints_one_line(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nweb[01:03\n")
    run = herd("status", "-i", str(path), home=home)
    assert run.code == 2
    assert run.err == f"herd: {path}:2: '[' without ']' in host pattern 'web[01:03'\n"
    assert run.out == ""
