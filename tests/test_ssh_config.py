"""herd.ssh.config: what ~/.ssh/config says about a host, for herd's SSH targets (the wire is in test_reach_fleet)."""

from herd.inventory.model import Host
from herd.ssh.config import resolve_target


def test_ssh_config_edits_are_seen_by_a_long_lived_process(tmp_path, monkeypatch):
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
