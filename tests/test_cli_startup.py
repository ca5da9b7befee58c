"""The command line loads lazily and completes in bash, zsh and fish (click's own mechanism)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

from herd.cli import COMMANDS, all_commands, cli

HEAVY = ("paramiko", "yaml", "xmlrpc.client", "http.client", "cryptography")


def _first_paragraph(command: click.Command) -> str:
    return " ".join((command.help or "").split("\n\n")[0].split())


def test_every_listed_command_loads_and_its_help_line_is_its_docstring() -> None:
    loaded = all_commands()
    assert sorted(loaded) == sorted(COMMANDS)
    for name, command in loaded.items():
        assert command.name == name
        assert COMMANDS[name][2] == _first_paragraph(command), name


def test_unknown_command_is_a_usage_error() -> None:
    assert cli.get_command(click.Context(cli), "nosuch") is None
    result = subprocess.run([sys.executable, "-m", "herd", "nosuch"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "No such command 'nosuch'" in result.stderr


def _modules_after(args: list[str]) -> tuple[int, set[str]]:
    """Run a herd command line in a fresh interpreter; its exit code and the modules it imported."""
    code = textwrap.dedent(f"""
        import json, sys
        from herd.cli import run_command
        code = run_command({args!r})
        sys.stdout.flush()
        print("\\nMODULES=" + json.dumps(sorted(sys.modules)))
        sys.exit(code)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    marker = result.stdout.rindex("MODULES=")
    return result.returncode, set(json.loads(result.stdout[marker + len("MODULES="):]))


def test_top_level_help_imports_no_command_module() -> None:
    code, modules = _modules_after(["--help"])
    assert code == 0
    assert not {m for m in modules if m.startswith("herd.cli.")}
    assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}


@pytest.mark.parametrize("args", [["status", "--help"], ["status", "--no-such-option"],
                                  ["rolling-restart", "--help"], ["check", "--help"], ["tail", "-n", "x", "w"],
                                  ["demo", "--help"], ["demo", "nosuch"]])
def test_command_help_and_argument_errors_stay_light(args: list[str]) -> None:
    code, modules = _modules_after(args)
    assert code in (0, 2)
    assert f"herd.cli.{COMMANDS[args[0]][0].rsplit('.', 1)[1]}" in modules
    heavy = {m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY}
    assert not heavy, heavy
    assert not {m for m in modules if m.startswith(("herd.testing", "herd.localfleet"))}   # herd demo: when it runs


def test_the_demo_and_the_local_fleet_stand_without_the_test_harness() -> None:
    """``herd demo`` is shipped: it and every module of herd.localfleet load without herd.testing
    (the test harness builds on the local fleet, never the other way round)."""
    code = textwrap.dedent("""
        import importlib, json, pkgutil, sys
        import herd.localfleet
        for found in pkgutil.iter_modules(herd.localfleet.__path__):
            if found.name != "__main__":
                importlib.import_module("herd.localfleet." + found.name)
        import herd.cli.demo
        print(json.dumps(sorted(sys.modules)))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(json.loads(result.stdout))
    assert {"herd.cli.demo", "herd.localfleet.fleet", "herd.localfleet.cli", "herd.localfleet.hostile"} <= modules
    assert not {m for m in modules if m.startswith("herd.testing")}


# The CLI defers what paramiko imports for features herd does not use (invoke; scripts/bench's profile)


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


def _complete(words: str, cword: int, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    full_env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword), "_HERD_COMPLETE": "bash_complete",
                **(env or {})}
    result = subprocess.run([sys.executable, "-m", "herd"], capture_output=True, text=True, cwd=cwd, env=full_env)
    assert result.returncode == 0, result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


@pytest.fixture
def inventory_dir(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yaml").write_text(textwrap.dedent("""
        hosts:
          web01: {address: 127.0.0.1}
          web02: {address: 127.0.0.1}
          db01: {address: 127.0.0.1}
        groups:
          web: [web01, web02]
          db: [db01]
    """))
    return tmp_path


def test_completion_offers_the_hosts_of_an_inventory_with_vaulted_vars_silently(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text("[web]\nweb01\nweb02\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    env = {**os.environ, "COMP_WORDS": "herd status -i hosts.ini -H we", "COMP_CWORD": "5",
           "_HERD_COMPLETE": "bash_complete"}
    result = subprocess.run([sys.executable, "-m", "herd"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "plain,web01\nplain,web02\n", "")


def test_completion_of_commands_options_hosts_and_groups(inventory_dir: Path) -> None:
    assert _complete("herd sta", 1, inventory_dir) == ["start", "status"]
    assert _complete("herd status --ti", 2, inventory_dir) == ["--timeout"]
    assert _complete("herd status -H w", 3, inventory_dir) == ["web01", "web02"]
    assert _complete("herd restart -g ", 3, inventory_dir) == ["web", "db"]
    other = inventory_dir / "other.yaml"
    other.write_text("hosts:\n  zeta: {}\n")
    assert _complete(f"herd status -i {other} -H ", 5, inventory_dir) == ["zeta"]


def test_completion_offers_nothing_for_a_broken_inventory(inventory_dir: Path) -> None:
    (inventory_dir / "inventory.yaml").write_text("hosts: [\n")
    assert _complete("herd status -H ", 3, inventory_dir) == []


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _herd_completion herd"),
                                           ("zsh", "#compdef herd"), ("fish", "complete --no-files --command herd")])
def test_completion_scripts_for_each_shell(shell: str, marker: str) -> None:
    result = subprocess.run([sys.executable, "-m", "herd"], capture_output=True, text=True,
                            env={**os.environ, "_HERD_COMPLETE": f"{shell}_source"})
    assert result.returncode == 0
    assert marker in result.stdout

