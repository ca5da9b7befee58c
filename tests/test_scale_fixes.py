"""What scripts/bench's profiles changed: indexed known_hosts, deferred invoke, libyaml."""

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from herd.inventory.yamlnodes import compose
from herd.ssh.hostkeys import KnownHosts, host_field_matches

BLOB = base64.b64encode(b"\0\0\0\x0bssh-ed25519" + b"\1" * 36).decode()


def _hashed(name: str) -> str:
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_known_hosts_index_finds_what_a_scan_finds_in_file_order(tmp_path):
    fields = ["web01", "WEB02,10.0.0.2", "web*", "*.example.com,!bad.example.com", "web0?",
              "[127.0.0.1]:2200", _hashed("web01"), "!web03,web03", "web01,web01", "Db.Example.com"]
    lines = [f"{'@revoked ' if i == 4 else ''}{f} ssh-ed25519 {BLOB}" for i, f in enumerate(fields)]
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    store = KnownHosts([str(path)], str(path))
    for lookup in ["web01", "web02", "WEB01", "10.0.0.2", "web03", "web07", "bad.example.com",
                   "db.example.com", "[127.0.0.1]:2200", "127.0.0.1", "nothing"]:
        expected = [f for f in fields if host_field_matches(f, lookup)]
        assert [k.hosts for k in store.keys_for(lookup)] == expected, lookup


def test_recorded_keys_are_found_again(tmp_path):
    path = tmp_path / "known_hosts"
    store = KnownHosts([str(path)], str(path))
    assert store.keys_for("[10.0.0.9]:2222") == []

    class Key:
        def get_name(self):
            return "ssh-ed25519"

        def get_base64(self):
            return BLOB

        def asbytes(self):
            return base64.b64decode(BLOB)

    store.record("[10.0.0.9]:2222", Key())
    assert [k.hosts for k in store.keys_for("[10.0.0.9]:2222")] == ["[10.0.0.9]:2222"]
    assert KnownHosts([str(path)], str(path)).known_types("[10.0.0.9]:2222") == ["ssh-ed25519"]


def test_the_cli_defers_invoke_and_match_exec_still_works():
    code = textwrap.dedent("""
        import sys
        from herd.cli.imports import defer_optional_imports
        defer_optional_imports()
        import herd.ssh.connection
        import paramiko
        assert "unittest.mock" not in sys.modules, "invoke (and unittest.mock) imported with paramiko"
        config = paramiko.SSHConfig.from_text('Match exec "true"\\n  User matched\\n')
        assert config.lookup("web01")["user"] == "matched"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_importing_herd_as_a_library_plants_nothing_in_sys_modules():
    code = textwrap.dedent("""
        import sys, types
        import herd.ssh.connection, herd.fleet, herd.cli
        planted = [n for n, m in sys.modules.items() if type(m) is not types.ModuleType
                   and type(m).__module__.startswith("herd")]
        assert not planted, planted
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


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


def test_ssh_config_edits_are_seen_by_a_long_lived_process(tmp_path, monkeypatch):
    from herd.inventory.model import Host
    from herd.ssh.config import resolve_target

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    config = tmp_path / ".ssh" / "config"
    host = Host(name="web01", user="deploy")
    assert resolve_target(host).hostname == "web01"          # no config yet
    config.write_text("Host web01\n  HostName 10.0.0.1\n  Port 2201\n")
    assert (resolve_target(host).hostname, resolve_target(host).port) == ("10.0.0.1", 2201)
    config.write_text("Host web01\n  HostName 10.0.0.2\n  Port 2202\n")  # same size, maybe same mtime
    assert (resolve_target(host).hostname, resolve_target(host).port) == ("10.0.0.2", 2202)
    config.unlink()
    assert resolve_target(host).hostname == "web01"
