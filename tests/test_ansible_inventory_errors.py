"""Every problem in an Ansible inventory is the one line a user sees, with exit 2.

The commands run in-process through herd's CLI boundary (run_command, as
``herd`` itself does), and one through the real ``herd`` executable.
Passwords and URLs written in the inventory are never repeated.
"""

from __future__ import annotations

import json
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
     "plugin.yaml:1:1: plugin: this is the configuration of an Ansible inventory plugin (aws_ec2), which herd "
     "cannot run; herd reads only INI and YAML inventories (ansible-inventory -i FILE --list --yaml writes one)"),
    # groups: is also a key of herd's own format: still a plugin's configuration, not herd's with a bad key
    ("constructed.yml", "plugin: constructed\nstrict: false\ngroups:\n  web: \"'web' in group_names\"\n",
     "constructed.yml:1:1: plugin: this is the configuration of an Ansible inventory plugin (constructed), which "
     "herd cannot run; herd reads only INI and YAML inventories (ansible-inventory -i FILE --list --yaml writes "
     "one)"),
    ("aws_ec2.yml", "regions: [eu-west-1]\ngroups:\n  web: true\nplugin: amazon.aws.aws_ec2\n"
                    "keyed_groups:\n  - key: tags\n",
     "aws_ec2.yml:4:1: plugin: this is the configuration of an Ansible inventory plugin (amazon.aws.aws_ec2), "
     "which herd cannot run; herd reads only INI and YAML inventories (ansible-inventory -i FILE --list --yaml "
     "writes one)"),
    ("vault.ini", "$ANSIBLE_VAULT;1.1;AES256\n3862613431\n6431303965\n",
     "vault.ini: encrypted with ansible-vault; herd does not decrypt vaults: write the hosts in plain text "
     "(ansible-vault view vault.ini shows them), or use herd's own YAML"),
    ("vaulthosts", "$ANSIBLE_VAULT;1.2;AES256;prod\n3862613431\n6431303965\n",
     "vaulthosts: encrypted with ansible-vault; herd does not decrypt vaults: write the hosts in plain text "
     "(ansible-vault view vaulthosts shows them), or use herd's own YAML"),
    ("vault.yml", "$ANSIBLE_VAULT;1.1;AES256\n3862613431\n",
     "vault.yml: encrypted with ansible-vault; herd does not decrypt vaults: write the hosts in plain text "
     "(ansible-vault view vault.yml shows them), or use herd's own YAML"),
    ("herdvault.yaml", "hosts:\n  web01:\n    user: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n",
     "herdvault.yaml:3:11: hosts.web01.user: must be a string, got a value encrypted with ansible-vault "
     "(!vault), which herd does not decrypt: write it in plain text"),
    ("nestedvault.yml", "all:\n  hosts:\n    web01:\n      herd_logs:\n        worker: !vault |\n"
                        "          $ANSIBLE_VAULT;1.1;AES256\n          6162\n",
     "nestedvault.yml:4: herd_logs: is encrypted with Ansible Vault, which herd cannot decrypt; "
     "write this setting in plain text"),
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


VAULT = "$ANSIBLE_VAULT;1.1;AES256\n3862613431643130396534\n6431303965336438613461\n"
HOSTS = "[web]\nweb01\n[db]\ndb01\n"
VARS_REFUSED = ("encrypted with ansible-vault; herd does not decrypt vaults: keep the settings herd needs in a "
                "plain file beside it, or go on without this file: --skip-vaulted (or HERD_SKIP_VAULTED=1)")
PLUGIN = ("this is the configuration of an Ansible inventory plugin (constructed), which herd cannot run; herd "
          "reads only INI and YAML inventories (ansible-inventory -i FILE --list --yaml writes one)")

FILE_CASES = [
    ("in-directory", "inv", {"inv/10-hosts.ini": HOSTS, "inv/20-secret.yml": VAULT},
     "inv/20-secret.yml: encrypted with ansible-vault; herd does not decrypt vaults: write the hosts in plain "
     "text (ansible-vault view inv/20-secret.yml shows them), or use herd's own YAML"),
    ("in-subdirectory", "inv", {"inv/hosts.ini": HOSTS, "inv/prod/hosts": VAULT},
     "inv/prod/hosts: encrypted with ansible-vault; herd does not decrypt vaults: write the hosts in plain "
     "text (ansible-vault view inv/prod/hosts shows them), or use herd's own YAML"),
    ("group-vars-file", "hosts.ini", {"hosts.ini": HOSTS, "group_vars/web.yml": VAULT},
     f"group_vars/web.yml: {VARS_REFUSED}"),
    ("group-vars-all", "hosts.ini", {"hosts.ini": HOSTS, "group_vars/all": VAULT}, f"group_vars/all: {VARS_REFUSED}"),
    ("group-vars-directory", "hosts.ini",
     {"hosts.ini": HOSTS, "group_vars/db/vars.yml": "x: 1\n", "group_vars/db/vault.yml": VAULT},
     f"group_vars/db/vault.yml: {VARS_REFUSED}"),
    ("host-vars-labelled", "hosts.ini",
     {"hosts.ini": HOSTS, "host_vars/web01": VAULT.replace("1.1;AES256", "1.2;AES256;prod")},
     f"host_vars/web01: {VARS_REFUSED}"),
    ("directory-vars", "inv", {"inv/hosts.ini": HOSTS, "inv/group_vars/web/vault": VAULT},
     f"inv/group_vars/web/vault: {VARS_REFUSED}"),
    ("plugin-in-directory", "inv",
     {"inv/10-hosts.ini": HOSTS, "inv/20-constructed.yml": "plugin: constructed\ngroups:\n  x: true\n"},
     f"inv/20-constructed.yml:1:1: plugin: {PLUGIN}"),
    ("plugin-after-groups-in-directory", "inv",
     {"inv/10-hosts.ini": HOSTS, "inv/20-constructed.yml": "groups:\n  x: true\nplugin: constructed\n"},
     f"inv/20-constructed.yml:3:1: plugin: {PLUGIN}"),
]


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.parametrize("case,target,files,line", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_vault_and_plugin_files_are_refused_wherever_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str], case: str,
                                                              target: str, files: dict[str, str],
                                                              line: str) -> None:
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, files)
    assert run_command(["inventory", "-i", target]) == 2
    assert capsys.readouterr().err == f"herd: {line}\n"


@pytest.mark.parametrize("how", ["--skip-vaulted", "HERD_SKIP_VAULTED=1", "HERD_SKIP_VAULTED=yes"])
def test_vaulted_vars_files_are_left_out_with_a_warning_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    how: str) -> None:
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, {"hosts.ini": HOSTS, "group_vars/web/vars.yml": "ansible_user: deploy\n",
                           "group_vars/web/vault.yml": VAULT, "host_vars/db01.yml": VAULT})
    args = ["inventory", "-i", "hosts.ini", "-o", "json"]
    if how.startswith("--"):
        args.append(how)
    else:
        monkeypatch.setenv(*how.split("="))
    assert run_command(args) == 0
    out, err = capsys.readouterr()
    assert err == ("herd: group_vars/web/vault.yml: encrypted with ansible-vault; going on without it "
                   "(--skip-vaulted): its variables are not applied\n"
                   "herd: host_vars/db01.yml: encrypted with ansible-vault; going on without it "
                   "(--skip-vaulted): its variables are not applied\n")
    users = {host["name"]: host["user"] for host in json.loads(out)["hosts"]}
    assert users["web01"] == "deploy"          # the plain file beside the vault still counts


@pytest.mark.parametrize("value,code", [("0", 2), ("maybe", 2)])
def test_skip_vaulted_env_must_say_yes_to_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], value: str, code: int) -> None:
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, {"hosts.ini": HOSTS, "group_vars/web.yml": VAULT})
    monkeypatch.setenv("HERD_SKIP_VAULTED", value)
    assert run_command(["inventory", "-i", "hosts.ini"]) == code
    err = capsys.readouterr().err
    if value == "0":
        assert err == f"herd: group_vars/web.yml: {VARS_REFUSED}\n"
    else:
        assert err.splitlines()[-1] == ("Error: Invalid value for '--skip-vaulted': $HERD_SKIP_VAULTED is 'maybe'; "
                                        "set it to 1 (go on without vault-encrypted vars files) or 0")


def test_a_vault_file_is_never_skipped_as_the_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """--skip-vaulted is for vars files: an inventory file's hosts would be lost."""
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, {"inv/hosts.ini": HOSTS, "inv/more.ini": VAULT})
    assert run_command(["inventory", "-i", "inv", "--skip-vaulted"]) == 2
    assert capsys.readouterr().err.startswith("herd: inv/more.ini: encrypted with ansible-vault; ")


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
