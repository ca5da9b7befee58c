"""known_hosts parsing and the trust decisions (pure; the wire is in test_ssh_*)."""

import base64
import hashlib
import hmac
import os

import paramiko
import pytest

from herd.ssh.hostkeys import (
    ChangedHostKey,
    KnownHosts,
    UnknownHostKey,
    fingerprint,
    host_field_matches,
    lookup_name,
    parse_line,
)

# A syntactically valid ed25519 public key blob (the index never checks more)
BLOB = base64.b64encode(b"\0\0\0\x0bssh-ed25519" + b"\1" * 36).decode()


def _ed25519(tmp_path, name):
    path = tmp_path / name
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {path}")
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def _hashed(name: str) -> str:
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_lookup_name_brackets_non_default_ports():
    assert lookup_name("web01", 22) == "web01"
    assert lookup_name("127.0.0.1", 2222) == "[127.0.0.1]:2222"


@pytest.mark.parametrize("field,lookup,expected", [
    ("web01,10.0.0.11", "web01", True),
    ("web01,10.0.0.11", "10.0.0.11", True),
    ("web*", "web07", True),
    ("web?", "web07", False),
    ("*.example.com,!bad.example.com", "bad.example.com", False),
    ("*.example.com,!bad.example.com", "good.example.com", True),
    ("[127.0.0.1]:2222", "[127.0.0.1]:2222", True),
    ("[127.0.0.1]:2222", "127.0.0.1", False),
])
def test_host_patterns(field, lookup, expected):
    assert host_field_matches(field, lookup) is expected


def test_hashed_names_match_only_their_host():
    field = _hashed("[127.0.0.1]:2200")
    assert host_field_matches(field, "[127.0.0.1]:2200")
    assert not host_field_matches(field, "[127.0.0.1]:2201")


def test_parse_line_skips_what_paramiko_chokes_on():
    assert parse_line("# comment") is None
    assert parse_line("") is None
    assert parse_line("@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==") is None
    assert parse_line("web01 ssh-ed25519 not-base64!!") is None
    revoked = parse_line("@revoked web01 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==")
    assert revoked is not None and revoked.revoked


def test_verify_known_unknown_changed_and_record(tmp_path):
    key = _ed25519(tmp_path, "a")
    other = _ed25519(tmp_path, "b")
    kh = tmp_path / "known_hosts"
    kh.write_text("# a comment that paramiko would keep\n"
                  "@cert-authority * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n"
                  f"[127.0.0.1]:2200 {key.get_name()} {key.get_base64()}\n")
    store = KnownHosts([str(kh)], str(kh))
    store.verify("[127.0.0.1]:2200", key)  # trusted
    with pytest.raises(ChangedHostKey, match="HOST KEY HAS CHANGED"):
        store.verify("[127.0.0.1]:2200", other)
    with pytest.raises(UnknownHostKey):
        store.verify("[127.0.0.1]:2201", other)
    store.record("[127.0.0.1]:2201", other)
    store.verify("[127.0.0.1]:2201", other)
    text = kh.read_text()
    assert text.startswith("# a comment that paramiko would keep\n")  # appended, not rewritten
    assert text.endswith(f"[127.0.0.1]:2201 {other.get_name()} {other.get_base64()}\n")
    assert KnownHosts([str(kh)], str(kh)).keys_for("[127.0.0.1]:2201")  # and readable again


def test_revoked_key_is_refused(tmp_path):
    key = _ed25519(tmp_path, "a")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"web01 {key.get_name()} {key.get_base64()}\n@revoked * {key.get_name()} {key.get_base64()}\n")
    with pytest.raises(ChangedHostKey, match="revoked"):
        KnownHosts([str(kh)], str(kh)).verify("web01", key)


def test_fingerprint_matches_ssh_keygen(tmp_path):
    key = _ed25519(tmp_path, "a")
    out = os.popen(f"ssh-keygen -l -f {tmp_path / 'a.pub'}").read().split()[1]
    assert fingerprint(key) == out


# -- the index (scripts/bench's profile: a lookup is not a scan of the file) ---------------


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
