"""The keeper sits below the CLI: apart from its server (which hosts the CLI, as herd/launch.py does), no
keeper module imports click or herd.cli, and what the inventory, the keeper and the CLI share (durations,
a process's start, the fleet's options) lives below all three."""

from __future__ import annotations

import ast
from pathlib import Path

import herd

ROOT = Path(herd.__file__).resolve().parent
HOSTS_THE_CLI = {"server.py"}


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_keeper_module_but_its_server_imports_click_or_the_cli():
    offenders = {}
    for path in sorted((ROOT / "keeper").glob("*.py")):
        if path.name in HOSTS_THE_CLI:
            continue
        above = {m for m in imported(path) if m.split(".")[0] == "click" or m == "herd.cli" or
                 m.startswith("herd.cli.")}
        if above:
            offenders[path.name] = above
    assert offenders == {}
    assert imported(ROOT / "launch.py") & {"click", "herd.cli.check"} == set()


def test_the_inventory_does_not_reach_up_into_the_keeper_and_shared_helpers_import_nothing_of_herd():
    for path in sorted((ROOT / "inventory").rglob("*.py")):
        assert not {m for m in imported(path) if m.startswith(("herd.keeper", "herd.cli"))}, path
    for name in ("duration.py", "procstart.py"):
        assert not {m for m in imported(ROOT / name) if m.startswith("herd")}, name
