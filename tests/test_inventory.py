"""Loading, validating and locating inventory files (pure: no network, no SSH)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from herd.errors import InventoryError
from herd.inventory import (DEFAULT_SOCKET, Host, Inventory, SupervisorTarget, find_inventory,
                            load_inventory)
from herd.inventory.yamlnodes import compose

REPO = Path(__file__).resolve().parent.parent

SPEC_EXAMPLE = """\
defaults:                 # every host inherits these unless it overrides them
  user: deploy
  port: 22
  identity_file: ~/.ssh/id_ed25519
  known_hosts: ./known_hosts        # extra known_hosts file, besides ~/.ssh/known_hosts
  supervisor:
    socket: /var/run/supervisor.sock   # unix socket on the host
hosts:
  web01:
    address: 10.0.0.11
  web02: {}                # no address: the name itself, resolved through ~/.ssh/config
  web03:
    address: web03.example.com
    supervisor:
      url: http://127.0.0.1:9001      # inet_http_server on the host's loopback
      username: herd
      password_env: HERD_WEB03_PASS   # or password_file: path
groups:
  web: [web01, web02, web03]
  edge: [web01, "@web"]    # "@name" includes another group
"""


def write(tmp_path: Path, text: str, name: str = "inv.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def load(tmp_path: Path, text: str) -> Inventory:
    return load_inventory(write(tmp_path, text))


def error(tmp_path: Path, text: str) -> str:
    """The one-line message, with the tmp file name shortened to 'inv.yaml'."""
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    message = str(info.value)
    assert "\n" not in message
    return message.replace(path, "inv.yaml")


@pytest.fixture(autouse=True)
def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


# --------------------------------------------------------------------------
# The documented shape
# --------------------------------------------------------------------------

def test_spec_example_loads_with_defaults_merged(tmp_path: Path, fake_home: Path) -> None:
    inv = load(tmp_path, SPEC_EXAMPLE)
    assert inv.host_names == ("web01", "web02", "web03")
    web01 = inv.host("web01")
    assert web01 == Host(
        name="web01", address="10.0.0.11", user="deploy", port=22,
        identity_file=str(fake_home / ".ssh" / "id_ed25519"),
        known_hosts=str(tmp_path / "known_hosts"),
        supervisor=SupervisorTarget(socket="/var/run/supervisor.sock"),
        line=9)
    assert inv.host("web02").address is None
    assert inv.host("web02").line == 11
    web03 = inv.host("web03")
    assert web03.supervisor == SupervisorTarget(
        socket=None, url="http://127.0.0.1:9001", username="herd",
        password_env="HERD_WEB03_PASS")
    assert web03.user == "deploy"
    assert inv.groups == {"web": ("web01", "web02", "web03"),
                          "edge": ("web01", "web02", "web03")}
    assert inv.path == str(tmp_path / "inv.yaml")


def test_example_file_in_repo_loads() -> None:
    inv = load_inventory(str(REPO / "inventory" / "example.yaml"))
    assert inv.hosts
    for host in inv.hosts:
        assert (host.supervisor.socket is None) != (host.supervisor.url is None)


def test_minimal_host_gets_socket_default_and_unset_ssh_fields(tmp_path: Path) -> None:
    inv = load(tmp_path, "hosts:\n  web01:\n")
    assert inv.hosts == (Host(name="web01", line=2),)
    assert inv.hosts[0].supervisor == SupervisorTarget(socket=DEFAULT_SOCKET)
    assert inv.groups == {}


def test_host_overrides_defaults_key_by_key(tmp_path: Path) -> None:
    inv = load(tmp_path, """\
        defaults: {user: deploy, port: 2222, python: python3}
        hosts:
          a: {user: root}
          b: {port: 22}
        """)
    assert (inv.host("a").user, inv.host("a").port, inv.host("a").python) == ("root", 2222, "python3")
    assert (inv.host("b").user, inv.host("b").port) == ("deploy", 22)


def test_null_at_host_level_unsets_an_inherited_default(tmp_path: Path) -> None:
    inv = load(tmp_path, """\
        defaults: {proxy_jump: "ops@bastion:2222,jump2"}
        hosts:
          bastion: {proxy_jump: null}
          app: {}
        """)
    assert inv.host("bastion").proxy_jump is None
    assert inv.host("app").proxy_jump == "ops@bastion:2222,jump2"


def test_paths_expand_home_and_resolve_relative_to_the_inventory(
        tmp_path: Path, fake_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    monkeypatch.chdir(tmp_path)  # cwd differs from the inventory's directory
    inv = load_inventory(write(sub, """\
        defaults:
          identity_file: keys/id
          known_hosts: ../kh
        hosts:
          a:
            identity_file: ~/.ssh/a
            known_hosts: /etc/ssh/kh
            supervisor: {username: u, password_file: secret.txt}
        """))
    host = inv.host("a")
    assert host.identity_file == str(fake_home / ".ssh" / "a")
    assert host.known_hosts == "/etc/ssh/kh"
    assert host.supervisor.password_file == str(sub / "secret.txt")
    inv2 = load_inventory(write(sub, "defaults: {identity_file: keys/id, known_hosts: ../kh}\nhosts: {b: }\n"))
    assert inv2.host("b").identity_file == str(sub / "keys" / "id")
    assert inv2.host("b").known_hosts == str(tmp_path / "kh")


def test_yaml_merge_keys_are_honoured(tmp_path: Path) -> None:
    inv = load(tmp_path, """\
        defaults:
          supervisor: &auth {username: herd, password_env: HERD_PASS}
        hosts:
          a:
            supervisor:
              <<: *auth
              url: http://127.0.0.1:9001
              username: admin
        """)
    assert inv.host("a").supervisor == SupervisorTarget(
        socket=None, url="http://127.0.0.1:9001", username="admin", password_env="HERD_PASS")


# --------------------------------------------------------------------------
# supervisor: endpoint and credentials
# --------------------------------------------------------------------------

def test_host_url_replaces_inherited_socket_and_vice_versa(tmp_path: Path) -> None:
    inv = load(tmp_path, """\
        defaults:
          supervisor: {socket: /run/s.sock, username: herd, password_env: P}
        hosts:
          sock: {}
          http: {supervisor: {url: "http://127.0.0.1:9001/RPC2"}}
        """)
    assert inv.host("sock").supervisor == SupervisorTarget(
        socket="/run/s.sock", username="herd", password_env="P")
    assert inv.host("http").supervisor == SupervisorTarget(
        socket=None, url="http://127.0.0.1:9001/RPC2", username="herd", password_env="P")

    inv = load(tmp_path, """\
        defaults: {supervisor: {url: "http://localhost:9001"}}
        hosts:
          a: {supervisor: {socket: /run/a.sock}}
          b:
        """)
    assert inv.host("a").supervisor == SupervisorTarget(socket="/run/a.sock")
    assert inv.host("b").supervisor == SupervisorTarget(socket=None, url="http://localhost:9001")


def test_host_password_source_replaces_inherited_one(tmp_path: Path) -> None:
    inv = load(tmp_path, """\
        defaults: {supervisor: {username: herd, password_env: HERD_PASS}}
        hosts:
          a: {supervisor: {password_file: /etc/herd/a.pass}}
        """)
    assert inv.host("a").supervisor == SupervisorTarget(
        username="herd", password_file="/etc/herd/a.pass")


def test_socket_and_url_at_the_same_level(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        hosts:
          a:
            supervisor:
              socket: /run/s.sock
              url: http://127.0.0.1:9001
        """) == ("inv.yaml:5:12: hosts.a.supervisor: socket and url are exclusive; "
                 "set only one")


def test_password_env_and_password_file_at_the_same_level(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        defaults:
          supervisor: {username: u, password_env: P, password_file: /p}
        hosts: {a: }
        """) == ("inv.yaml:2:61: defaults.supervisor: password_env and password_file "
                 "are exclusive; set only one")


def test_username_without_password_source(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        hosts:
          a:
            supervisor: {username: herd}
        """) == ("inv.yaml:3:17: hosts.a.supervisor: username is set but neither "
                 "password_env nor password_file is; supervisor authentication needs both")


def test_inherited_password_source_without_username(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        defaults:
          supervisor: {password_env: HERD_PASS}
        hosts:
          a:
        """) == ("inv.yaml:4:3: hosts.a.supervisor: password_env is set (in defaults, line 2) "
                 "but username is not; supervisor authentication needs both")


def test_inline_password_is_refused_without_echoing_it(tmp_path: Path) -> None:
    message = error(tmp_path, """\
        hosts:
          a:
            supervisor: {username: herd, password: hunter2}
        """)
    assert message == ("inv.yaml:3:34: hosts.a.supervisor.password: inline passwords are "
                       "not allowed; use password_env or password_file")
    assert "hunter2" not in message


def test_credentials_in_url_are_refused_without_echoing_the_url(tmp_path: Path) -> None:
    message = error(tmp_path, """\
        hosts:
          a: {supervisor: {url: "http://herd:hunter2@127.0.0.1:9001"}}
        """)
    assert message == ("inv.yaml:2:25: hosts.a.supervisor.url: must not contain credentials; "
                       "set username, and password_env or password_file")
    assert "hunter2" not in message


@pytest.mark.parametrize("url, what", [
    ("https://127.0.0.1:9001", "must start with http:// (supervisord's inet_http_server does "
                               "not speak https), e.g. http://127.0.0.1:9001"),
    ("127.0.0.1:9001", "must start with http:// (supervisord's inet_http_server does "
                       "not speak https), e.g. http://127.0.0.1:9001"),
    ("http://:9001", "must be http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:9001; "
                     "the host is missing"),
    ("http://localhost:99999", "must be http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:9001; "
                               "the port must be a number between 1 and 65535"),
    ("http://localhost:abc", "must be http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:9001; "
                             "the port must be a number between 1 and 65535"),
])
def test_bad_urls(tmp_path: Path, url: str, what: str) -> None:
    assert error(tmp_path, f"hosts:\n  a: {{supervisor: {{url: '{url}'}}}}\n") == \
        f"inv.yaml:2:25: hosts.a.supervisor.url: {what}"


def test_socket_must_be_absolute(tmp_path: Path) -> None:
    assert error(tmp_path, "defaults: {supervisor: {socket: run/s.sock}}\nhosts: {a: }\n") == (
        "inv.yaml:1:33: defaults.supervisor.socket: must be an absolute path on the host "
        "(e.g. /var/run/supervisor.sock), got 'run/s.sock'")


def test_password_env_that_is_not_a_variable_name_is_not_echoed(tmp_path: Path) -> None:
    message = error(tmp_path, """\
        hosts:
          a: {supervisor: {username: u, password_env: "s3cr#t pass"}}
        """)
    assert message == ("inv.yaml:2:47: hosts.a.supervisor.password_env: must be the name of "
                       "an environment variable (letters, digits and _, not starting with a digit)")
    assert "s3cr" not in message


@pytest.mark.parametrize("key", ["password_env", "password_file"])
def test_wrong_type_under_password_keys_is_not_echoed(tmp_path: Path, key: str) -> None:
    message = error(tmp_path, f"hosts:\n  a: {{supervisor: {{username: u, {key}: 918273645}}}}\n")
    assert message == f"inv.yaml:2:{35 + len(key)}: hosts.a.supervisor.{key}: must be a string, got integer"
    assert "918273645" not in message


def test_unknown_supervisor_key(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts:\n  a: {supervisor: {usrname: u}}\n") == (
        "inv.yaml:2:20: hosts.a.supervisor.usrname: unknown key (did you mean 'username'?)")


# --------------------------------------------------------------------------
# Keys and types
# --------------------------------------------------------------------------

def test_unknown_host_key_with_did_you_mean(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        hosts:
          web01:
            address: 10.0.0.11
            prot: 22
        """) == "inv.yaml:4:5: hosts.web01.prot: unknown key (did you mean 'port'?)"


def test_unknown_key_without_near_miss_lists_the_keys(tmp_path: Path) -> None:
    assert error(tmp_path, "defaults:\n  colour: red\nhosts: {a: }\n") == (
        "inv.yaml:2:3: defaults.colour: unknown key; expected one of: user, port, "
        "identity_file, known_hosts, proxy_jump, python, become, become_user, become_password_env, "
        "become_password_file, supervisor, supervisors, keep")


def test_near_miss_identity_file(tmp_path: Path) -> None:
    assert error(tmp_path, "defaults:\n  identityfile: ~/.ssh/id\nhosts: {a: }\n") == (
        "inv.yaml:2:3: defaults.identityfile: unknown key (did you mean 'identity_file'?)")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts: {a: }\ngroup: {}\n") == (
        "inv.yaml:2:1: group: unknown key (did you mean 'groups'?)")


def test_address_is_not_a_default(tmp_path: Path) -> None:
    assert error(tmp_path, "defaults: {address: x}\nhosts: {a: }\n") == (
        "inv.yaml:1:12: defaults.address: address is per host; it cannot be a default")


@pytest.mark.parametrize("value, got", [
    ("abc", "string 'abc'"),
    ('"22"', "string '22'"),
    ("true", "boolean true"),
    ("2.5", "float 2.5"),
    ("[22]", "a list"),
])
def test_port_must_be_an_integer(tmp_path: Path, value: str, got: str) -> None:
    assert error(tmp_path, f"hosts:\n  a:\n    port: {value}\n") == \
        f"inv.yaml:3:11: hosts.a.port: must be an integer, got {got}"


@pytest.mark.parametrize("value", ["0", "65536", "-1"])
def test_port_range(tmp_path: Path, value: str) -> None:
    assert error(tmp_path, f"defaults:\n  port: {value}\nhosts: {{a: }}\n") == \
        f"inv.yaml:2:9: defaults.port: must be between 1 and 65535, got {int(value)}"


def test_string_fields_refuse_other_types(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts:\n  a: {user: 123}\n") == (
        "inv.yaml:2:13: hosts.a.user: must be a string, got integer 123 "
        "(quote it if you meant the text)")
    assert error(tmp_path, "hosts:\n  a: {address: {x: 1}}\n") == (
        "inv.yaml:2:16: hosts.a.address: must be a string, got a mapping")


def test_empty_and_blank_values(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts:\n  a: {address: ''}\n") == (
        "inv.yaml:2:16: hosts.a.address: must not be empty")
    assert error(tmp_path, "hosts:\n  a: {user: 'de ploy'}\n") == (
        "inv.yaml:2:13: hosts.a.user: must not contain whitespace, got 'de ploy'")
    assert error(tmp_path, "hosts:\n  a: {proxy_jump: 'j1,,j2'}\n") == (
        "inv.yaml:2:19: hosts.a.proxy_jump: empty hop in 'j1,,j2'; "
        "write [user@]host[:port][,...]")


def test_host_value_must_be_a_mapping(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts:\n  web01: 10.0.0.11\n") == (
        "inv.yaml:2:10: hosts.web01: must be a mapping of settings "
        "(e.g. {address: 10.0.0.11}) or empty, got string '10.0.0.11'")


def test_defaults_must_be_a_mapping(tmp_path: Path) -> None:
    assert error(tmp_path, "defaults: [deploy]\nhosts: {a: }\n") == (
        "inv.yaml:1:11: defaults: must be a mapping of settings (e.g. {user: deploy}) "
        "or empty, got a list")


def test_supervisor_must_be_a_mapping(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts:\n  a: {supervisor: /run/s.sock}\n") == (
        "inv.yaml:2:19: hosts.a.supervisor: must be a mapping, got string '/run/s.sock'")


# --------------------------------------------------------------------------
# Host names and duplicates
# --------------------------------------------------------------------------

def test_duplicate_host_names_are_detected(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        hosts:
          web01:
            address: 10.0.0.11
          web02:
          web01:
            address: 10.0.0.12
        """) == "inv.yaml:5:3: hosts.web01: duplicate host name (first defined on line 2)"


def test_duplicate_host_names_even_when_quoted(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts:\n  web01:\n  'web01':\n") == (
        "inv.yaml:3:3: hosts.web01: duplicate host name (first defined on line 2)")


def test_duplicate_keys_anywhere(tmp_path: Path) -> None:
    assert error(tmp_path, "defaults:\n  port: 22\n  port: 2222\nhosts: {a: }\n") == (
        "inv.yaml:3:3: defaults.port: duplicate key (first defined on line 2)")
    assert error(tmp_path, "hosts:\n  a: {supervisor: {socket: /a, socket: /b}}\n") == (
        "inv.yaml:2:32: hosts.a.supervisor.socket: duplicate key (first defined on line 2)")
    assert error(tmp_path, "hosts: {a: }\ngroups:\n  g: [a]\n  g: []\n") == (
        "inv.yaml:4:3: groups.g: duplicate group name (first defined on line 3)")
    assert error(tmp_path, "hosts: {a: }\nhosts: {b: }\n") == (
        "inv.yaml:2:1: hosts: duplicate key (first defined on line 1)")


@pytest.mark.parametrize("name, what", [
    ('"web 01"', "invalid host name 'web 01': must not contain whitespace"),
    ('"@web"', "invalid host name '@web': must not start with '@' (that marks a group include)"),
    ('""', "host name must not be empty"),
    ("1234", "host name must be a string, got integer 1234 (quote it)"),
])
def test_bad_host_names(tmp_path: Path, name: str, what: str) -> None:
    assert error(tmp_path, f"hosts:\n  {name}:\n") == f"inv.yaml:2:3: hosts: {what}"


# --------------------------------------------------------------------------
# Whole-file problems
# --------------------------------------------------------------------------

def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts:\n  web01:\n    address: a: b\n") == (
        "inv.yaml:3:15: invalid YAML: mapping values are not allowed here")


def test_yaml_syntax_error_with_context(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts: {a: }\ngroups:\n  web: [a, b\n") == (
        "inv.yaml:4:1: invalid YAML: while parsing a flow sequence: expected ',' or ']', "
        "but got '<stream end>' (see line 3)")


def test_unquoted_group_include_gets_a_hint(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts: {a: }\ngroups:\n  g: [a, @web]\n") == (
        "inv.yaml:3:10: invalid YAML: while scanning for the next token: found character '@' "
        "that cannot start any token; quote group includes: \"@web\"")


def test_control_character_is_a_yaml_error(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts:\n  a: {user: x\x01}\n") == (
        "inv.yaml:2:14: invalid YAML: special characters are not allowed (character #x0001)")


def test_several_documents_are_refused(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts: {a: }\n---\nhosts: {b: }\n") == (
        "inv.yaml:2:1: invalid YAML: expected a single document in the stream: "
        "but found another document (see line 1)")


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert error(tmp_path, text) == "inv.yaml: inventory is empty; it needs at least a 'hosts' mapping"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert error(tmp_path, "- web01\n- web02\n") == (
        "inv.yaml:1:1: the top level must be a mapping with keys defaults, hosts, groups, expect, check, logs, "
            "rolling, guard; "
        "got a list")


def test_hosts_is_required_and_non_empty(tmp_path: Path) -> None:
    assert error(tmp_path, "defaults: {user: x}\n") == (
        "inv.yaml:1:1: missing key 'hosts' (a mapping of host names to their settings)")
    assert error(tmp_path, "hosts: {}\n") == (
        "inv.yaml:1:8: hosts: must be a non-empty mapping of host names to settings, "
        "got an empty mapping")
    assert error(tmp_path, "hosts:\n") == (
        "inv.yaml:1:1: hosts: must be a non-empty mapping of host names to settings, got null")
    assert error(tmp_path, "hosts: [web01]\n") == (
        "inv.yaml:1:8: hosts: must be a non-empty mapping of host names to settings, got a list")


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value) == f"cannot read inventory {path}: No such file or directory"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory(str(tmp_path))
    assert str(info.value) == f"cannot read inventory {tmp_path}: Is a directory"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "hosts: {a: }\n")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("herd.inventory.yamlnodes.open", refuse, raising=False)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value) == f"cannot read inventory {path}: Permission denied"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(b"hosts:\n  caf\xe9:\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(str(path))
    assert str(info.value) == f"{path}:2:6: not UTF-8 text; save the inventory as UTF-8"


@pytest.mark.parametrize("text", [
    "hosts: {a: }\ngroups: [a]\n",
    "hosts: {a: }\ngroups: {g: {a: 1}}\n",
    "hosts:\n  ? [a, b]\n  : 1\n",
    "hosts: {a: {<<: 3}}\n",
    "hosts: &x {a: {<<: *x}}\n",
    "hosts: {a: !custom 1}\n",
    "hosts: {a: {address: 2001-02-30}}\n",
    "hosts: {a: {port: 99999999999999999999999}}\n",
    "defaults: [1]\nhosts: {a: }\n",
    "hosts: {a: }\n" + "x: " + "[" * 2000 + "]" * 2000 + "\n",
    "hosts: {a: {supervisor: {url: 9001}}}\n",
    "\t\thosts:\n",
])
def test_malformed_input_never_escapes_as_another_exception(tmp_path: Path, text: str) -> None:
    with pytest.raises(InventoryError):
        load(tmp_path, text)


# --------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------

def test_groups_resolve_includes_in_inventory_order_without_duplicates(tmp_path: Path) -> None:
    inv = load(tmp_path, """\
        hosts: {a: , b: , c: , d: }
        groups:
          back: [d, b]
          all: ["@back", c, a, b, "@front"]
          front: [a]
          none: []
          also_none:
        """)
    assert inv.groups == {
        "back": ("b", "d"),
        "all": ("a", "b", "c", "d"),
        "front": ("a",),
        "none": (),
        "also_none": (),
    }


def test_group_with_unknown_host(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        hosts: {web01: , web02: }
        groups:
          web: [web01, wb02]
        """) == "inv.yaml:3:16: groups.web[1]: unknown host 'wb02' (did you mean 'web02'?)"
    assert error(tmp_path, "hosts: {web01: }\ngroups:\n  web: [db09]\n") == (
        "inv.yaml:3:9: groups.web[0]: unknown host 'db09'")


def test_group_naming_a_group_without_at(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        hosts: {web01: }
        groups:
          web: [web01]
          edge: [web]
        """) == ("inv.yaml:4:10: groups.edge[0]: 'web' is a group, not a host; "
                 "write '@web' to include it")


def test_group_including_unknown_group(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        hosts: {web01: }
        groups:
          web: [web01]
          edge: ["@wbe"]
        """) == "inv.yaml:4:10: groups.edge[0]: unknown group '@wbe' (did you mean '@web'?)"
    assert error(tmp_path, "hosts: {a: }\ngroups:\n  g: ['@']\n") == (
        "inv.yaml:3:7: groups.g[0]: '@' must be followed by a group name")


def test_group_cycles_are_named(tmp_path: Path) -> None:
    assert error(tmp_path, """\
        hosts: {web01: }
        groups:
          edge: [web01, "@web"]
          web: ["@edge"]
        """) == "inv.yaml:4:9: groups.web[0]: group include cycle: edge -> web -> edge"
    assert error(tmp_path, "hosts: {a: }\ngroups:\n  g: [a, '@g']\n") == (
        "inv.yaml:3:10: groups.g[1]: group include cycle: g -> g")


def test_group_values_must_be_lists_of_strings(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts: {web01: }\ngroups:\n  web: web01\n") == (
        "inv.yaml:3:8: groups.web: must be a list of host names and '@group' includes, "
        "e.g. [web01, '@db'], got string 'web01'")
    assert error(tmp_path, "hosts: {web01: }\ngroups:\n  web: [web01, 3]\n") == (
        "inv.yaml:3:16: groups.web[1]: must be a host name or '@group', got integer 3")


def test_bad_group_name(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts: {a: }\ngroups:\n  '@g': [a]\n") == (
        "inv.yaml:3:3: groups: invalid group name '@g': must not start with '@' "
        "(that marks a group include)")


# --------------------------------------------------------------------------
# Locating the file
# --------------------------------------------------------------------------

@pytest.fixture
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cwd, no $HERD_INVENTORY, and the system-wide /etc/herd/inventory.yaml looked for in
    the test's own directory: the machine may have one of its own (messages still name /etc/herd)."""
    from herd.inventory import locate

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("HERD_INVENTORY", raising=False)
    display = locate._display
    system = tmp_path / "etc-herd-inventory.yaml"
    monkeypatch.setattr(locate, "_display",
                        lambda entry: str(system) if entry == "/etc/herd/inventory.yaml" else display(entry))
    return work


def test_explicit_path_wins(clean_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_cwd / "inventory.yaml").write_text("hosts: {a: }\n")
    (clean_cwd / "mine.yaml").write_text("hosts: {a: }\n")
    monkeypatch.setenv("HERD_INVENTORY", "inventory.yaml")
    assert find_inventory("mine.yaml") == ("mine.yaml", "from -i")


def test_env_beats_search_path(clean_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_cwd / "inventory.yaml").write_text("hosts: {a: }\n")
    (clean_cwd / "env.yaml").write_text("hosts: {a: }\n")
    monkeypatch.setenv("HERD_INVENTORY", "env.yaml")
    assert find_inventory(None) == ("env.yaml", "from $HERD_INVENTORY")


def test_search_order(clean_cwd: Path, fake_home: Path) -> None:
    user = fake_home / ".config" / "herd" / "inventory.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("hosts: {a: }\n")
    assert find_inventory(None) == (str(user), "~/.config/herd/inventory.yaml")
    (clean_cwd / "inventory").mkdir()
    (clean_cwd / "inventory" / "herd.yaml").write_text("hosts: {a: }\n")
    assert find_inventory(None) == ("inventory/herd.yaml", "./inventory/herd.yaml")
    (clean_cwd / "inventory.yaml").write_text("hosts: {a: }\n")
    assert find_inventory(None) == ("inventory.yaml", "./inventory.yaml")


def test_missing_explicit_path_is_an_error(clean_cwd: Path) -> None:
    (clean_cwd / "inventory.yaml").write_text("hosts: {a: }\n")
    with pytest.raises(InventoryError) as info:
        find_inventory("nope.yaml")
    assert str(info.value) == "inventory nope.yaml (given with -i/--inventory) does not exist"


def test_missing_env_path_is_an_error(clean_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_cwd / "inventory.yaml").write_text("hosts: {a: }\n")
    monkeypatch.setenv("HERD_INVENTORY", "/no/such.yaml")
    with pytest.raises(InventoryError) as info:
        find_inventory(None)
    assert str(info.value) == "inventory /no/such.yaml (set in $HERD_INVENTORY) does not exist"


def test_explicit_directory_is_taken_as_an_ansible_inventory(clean_cwd: Path) -> None:
    # a directory is an Ansible inventory directory (herd/inventory/ansible.py)
    assert find_inventory(str(clean_cwd)) == (str(clean_cwd), "from -i")


def test_the_system_wide_file_comes_last(clean_cwd: Path, fake_home: Path) -> None:
    system = clean_cwd.parent / "etc-herd-inventory.yaml"
    system.write_text("hosts: {a: }\n")
    assert find_inventory(None) == (str(system), "/etc/herd/inventory.yaml")
    (fake_home / ".config" / "herd").mkdir(parents=True)
    (fake_home / ".config" / "herd" / "inventory.yaml").write_text("hosts: {a: }\n")
    assert find_inventory(None)[1] == "~/.config/herd/inventory.yaml"


def test_nothing_found(clean_cwd: Path) -> None:
    with pytest.raises(InventoryError) as info:
        find_inventory(None)
    assert str(info.value) == (
        "no inventory found; looked for -i, $HERD_INVENTORY, ./inventory.yaml, "
        "./inventory/herd.yaml, ~/.config/herd/inventory.yaml, /etc/herd/inventory.yaml")


# -- logs: the app's own log files ----------------------------------------------------------


def test_logs_top_level_with_per_host_overrides(tmp_path: Path) -> None:
    inv = load(tmp_path, """\
        logs:
          tornado: /srv/app/log/{process}.log
          worker: /srv/{host}/worker-{num}.log
        hosts:
          web01: {}
          web02:
            logs:
              tornado: /opt/{program}/{{literal}}-{num}.log
              worker: null
        """)
    assert inv.host("web01").logs == {"tornado": "/srv/app/log/{process}.log",
                                      "worker": "/srv/{host}/worker-{num}.log"}
    assert inv.host("web02").logs == {"tornado": "/opt/{program}/{{literal}}-{num}.log"}


@pytest.mark.parametrize("entry, message", [
    ("tornado: /srv/{proces}.log", "inv.yaml:2:12: logs.tornado: unknown placeholder {proces} "
     "(did you mean '{process}'?); a template may use {program}, {process}, {num}, {host}"),
    ("tornado: srv/x.log", "inv.yaml:2:12: logs.tornado: must be an absolute path on the host "
     "(e.g. /srv/app/log/{process}.log), got 'srv/x.log'"),
    ("tornado: /srv/{num:04}.log", "inv.yaml:2:12: logs.tornado: placeholder {num} takes no format or "
     "conversion (got '{num:04}')"),
    ("tornado: /srv/{x.log", "inv.yaml:2:12: logs.tornado: malformed placeholder in '/srv/{x.log' "
     "(expected '}' before end of string); write {{ and }} for literal braces"),
    ("tornado: /srv/{}.log", "inv.yaml:2:12: logs.tornado: unknown placeholder {} ; a template may use"),
    ("'a:b': /x", "inv.yaml:2:3: logs.a:b: 'a:b' is not a program name: write the program (or group) "
     "alone, without ':'"),
    ("tornado: 12", "inv.yaml:2:12: logs.tornado: must be a string, got integer 12 (quote it if you "
     "meant the text)"),
    ("tornado: [a]", "inv.yaml:2:12: logs.tornado: must be a string, got a list"),
])
def test_bad_logs_entries(tmp_path: Path, entry: str, message: str) -> None:
    got = error(tmp_path, f"logs:\n  {entry}\nhosts:\n  a: {{}}\n")
    assert got.startswith(message.replace(" ; ", "; ")) or got == message, got


def test_logs_is_not_a_default_and_must_be_a_mapping(tmp_path: Path) -> None:
    assert error(tmp_path, "defaults:\n  logs: {a: /x}\nhosts:\n  a: {}\n") == \
        "inv.yaml:2:3: defaults.logs: logs is a top-level key (for every host; a host may override it)"
    assert error(tmp_path, "logs: /x.log\nhosts:\n  a: {}\n").startswith(
        "inv.yaml:1:7: logs: must be a mapping of program names to log file paths")
    assert error(tmp_path, "logs: {}\nlgos: {}\nhosts:\n  a: {}\n") == \
        "inv.yaml:2:1: lgos: unknown key (did you mean 'logs'?)"


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML without libyaml")
def test_libyaml_composes_the_same_tree_as_the_pure_parser():
    text = "defaults:\n  user: deploy\nhosts:\n  web01:\n    address: 10.0.0.1\n    port: 2222\n" \
           "groups:\n  web: [web01, \"@all\"]\n"
    fast, slow = compose(text, "inv.yaml"), yaml.compose(text, Loader=yaml.SafeLoader)

    def shape(node):
        value = node.value
        if isinstance(value, list):
            value = [shape(v) if not isinstance(v, tuple) else (shape(v[0]), shape(v[1])) for v in value]
        return (node.tag, node.start_mark.line, node.start_mark.column, value)

    assert shape(fast) == shape(slow)
