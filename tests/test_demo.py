"""``herd demo``: the test fleet as a command a user runs to try herd (real sshd + supervisord, 127.0.0.1)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from herd.cli import run_command
from herd.localfleet import hosts, releases
from herd.localfleet.fleet import LocalFleet
from helpers import herd, herd_env


@pytest.mark.fleet     # through `herd demo` (a subprocess): tests/conftest.py cannot see it by itself
def test_demo_starts_a_fleet_herd_works_on_shows_it_and_stops_it(tmp_path: Path, home: Path) -> None:
    where = tmp_path / "demo"
    started = herd("demo", "--dir", str(where), home=home, timeout=120)
    try:
        assert started.code == 0, started.err
        inventory = where / "inventory.yaml"
        assert f"export HERD_INVENTORY={inventory}" in started.out
        assert f"herd demo stop --dir {where}" in started.out
        status = herd("status", "-i", str(inventory), home=home)   # its known_hosts is in the inventory
        assert status.code == 0, status.err
        assert status.out.splitlines()[-1] == "3 hosts, 15 processes: 15 RUNNING"
        rows = {row[0] for row in status.rows()}
        assert rows == {"web01", "web02", "web03"}

        again = herd("demo", "--dir", str(where), home=home)
        assert again.code == 0 and again.out.startswith(f"the demo fleet is already running in {where}:")
        shown = herd("demo", "status", "--dir", str(where), home=home)
        assert shown.code == 0 and shown.out.count("5/5 RUNNING") == 3
    finally:
        stopped = herd("demo", "stop", "--dir", str(where), home=home, timeout=120)
    assert stopped.code == 0, stopped.err
    assert stopped.out == f"stopped the demo fleet in {where} (3 hosts)\n"
    assert LocalFleet.load(where).pids() == []
    after = herd("demo", "status", "--dir", str(where), home=home)
    assert after.code == 1
    assert after.err == f"herd: the demo fleet in {where} is stopped: start it with herd demo --dir {where}\n"


def test_demo_stop_without_a_fleet_says_so(tmp_path: Path, home: Path) -> None:
    stopped = herd("demo", "stop", "--dir", str(tmp_path / "none"), home=home)
    assert (stopped.code, stopped.out) == (0, f"no demo fleet in {tmp_path / 'none'}\n")


def _demo_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run_command(["demo", "--dir", str(tmp_path / "demo")])
    captured = capsys.readouterr()
    assert captured.out == "" and not (tmp_path / "demo").exists()   # refused before anything is written
    return code, captured.err


def test_a_missing_sshd_is_one_line_naming_the_package(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(hosts, "SSHD", str(tmp_path / "no-sshd"))
    assert _demo_error(tmp_path, capsys) == (
        2, f"herd: the demo needs OpenSSH's sshd at {tmp_path / 'no-sshd'}: install openssh-server "
           "(apt-get install openssh-server)\n")


def test_a_missing_supervisor_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "supervisor" else real(name, *a))
    assert _demo_error(tmp_path, capsys) == (
        2, "herd: the demo needs supervisor in herd's Python: pip install 'herd[demo]'\n")


def release_env(home: Path, **extra: str) -> dict[str, str]:
    """herd's environment with the releases' cache and pyenv of this machine (not of the empty HOME)."""
    machine = {"HERD_TEST_CACHE": str(releases.cache_root().parent),
               "PYENV_ROOT": releases.pyenv_root() or str(home / "no-pyenv")}
    return herd_env(home, **{**machine, **extra})


def test_demo_on_old_supervisord_releases(tmp_path: Path, home: Path) -> None:
    where = tmp_path / "demo"
    started = herd("demo", "--dir", str(where), "--supervisor", "3.1.4", "--release", "web01=3.0a12",
                   home=home, timeout=180, env=release_env(home))
    try:
        assert started.code == 0, started.err
        lines = [line for line in started.out.splitlines() if line.startswith("  web0")]
        assert [line.split("  [supervisord ")[-1] for line in lines] == ["3.0a12 the seed's way]", "3.1.4]", "3.1.4]"]
        fleet = LocalFleet.load(where)
        assert [fleet.rpc(h.name).supervisor.getSupervisorVersion() for h in fleet.hosts] == ["3.0a12", "3.1.4",
                                                                                           "3.1.4"]
        status = herd("status", "-i", str(where / "inventory.yaml"), home=home)
        assert status.code == 0, status.err
        assert status.out.splitlines()[-1] == "3 hosts, 15 processes: 15 RUNNING"
    finally:
        stopped = herd("demo", "stop", "--dir", str(where), home=home, timeout=120)
    assert stopped.code == 0, stopped.err
    assert LocalFleet.load(where).pids() == []


def test_a_release_without_its_python_is_a_usage_error_before_anything_starts(tmp_path: Path, home: Path) -> None:
    env = release_env(home, PYENV_ROOT=str(tmp_path), PATH="/usr/bin:/bin", HERD_TEST_PYTHON27="")
    refused = herd("demo", "--dir", str(tmp_path / "demo"), "--release", "web02=3.3.5", home=home, env=env)
    assert (refused.code, refused.out) == (2, "")
    assert refused.err == ("herd: supervisor 3.3.5 needs Python 2.7: none found "
                           "(pyenv install 2.7.18, or set HERD_TEST_PYTHON27)\n")
    assert not (tmp_path / "demo").exists()
    bad = herd("demo", "--dir", str(tmp_path / "demo"), "--release", "web02", home=home, env=env)
    assert (bad.code, bad.err) == (2, "herd: --release 'web02': expected HOST=VERSION, e.g. web02=3.1.4\n")
