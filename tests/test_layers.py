"""The layers import downwards only: inventory -> ssh -> supervisor -> fleet -> operations -> cli/web/render.

Checked on the source (every import, lazy ones inside functions too), so an
arrow up into the CLI or the test harness fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import herd

ROOT = Path(herd.__file__).resolve().parent

# Modules that host the CLI (they run click commands): herd's entry point and the keeper's server.
HOSTS_THE_CLI = {"launch.py", "keeper/server.py"}
BELOW_OPERATIONS = ("inventory", "ssh", "supervisor", "fleet")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def modules(*under: str) -> list[Path]:
    return sorted(p for part in under for p in (ROOT / part).rglob("*.py") if "programs" not in p.parts
                  and "agents" not in p.parts)


def test_nothing_below_the_cli_imports_it() -> None:
    offenders = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name.startswith("cli/") or name in HOSTS_THE_CLI:
            continue
        up = {m for m in imports(path) if m == "herd.cli" or m.startswith("herd.cli.")}
        if up:
            offenders[name] = up
    assert offenders == {}


def test_the_layers_below_operations_never_import_operations_web_cli_or_render() -> None:
    above = ("herd.operations", "herd.web", "herd.cli", "herd.render", "herd.keeper", "herd.localfleet")
    offenders = {p.relative_to(ROOT).as_posix(): found for p in modules(*BELOW_OPERATIONS)
                 if (found := {m for m in imports(p) if m.startswith(above)})}
    assert offenders == {}


def test_no_keeper_module_but_its_server_imports_click_or_the_cli() -> None:
    """The command line's warm path (herd/launch.py -> herd/keeper/client.py) loads neither."""
    offenders = {p.name: found for p in sorted((ROOT / "keeper").glob("*.py")) if p.name != "server.py"
                 and (found := {m for m in imports(p) if m.split(".")[0] == "click" or m == "herd.cli"
                                or m.startswith("herd.cli.")})}
    assert offenders == {}
    assert imports(ROOT / "launch.py") & {"click", "herd.cli.check"} == set()


def test_shared_helpers_below_every_layer_import_nothing_of_herd() -> None:
    for name in ("duration.py", "procstart.py", "settings.py"):
        assert not {m for m in imports(ROOT / name) if m.startswith("herd")}, name


def test_shipped_code_never_imports_the_test_harness() -> None:
    offenders = {p.relative_to(ROOT).as_posix(): found
                 for p in sorted(ROOT.rglob("*.py")) if not p.relative_to(ROOT).as_posix().startswith("testing/")
                 and (found := {m for m in imports(p) if m == "herd.testing" or m.startswith("herd.testing.")})}
    assert offenders == {}
