"""Shared fixtures: the real test fleets of herd.testing.pytest_plugin (fleet, make_fleet,
module_fleet), an empty HOME, and herd commands running in the background.

The suite passes on an operator's machine, not only a fresh one: every pytest
process (each xdist worker too) drops the machine user's HERD_INVENTORY,
HERD_KEEP, ssh-agent and XDG directories and runs with an empty HOME of its
own, so no test, in process or not, reads the user's ~/.ssh/config,
~/.ssh/known_hosts, ~/.config/herd or ~/.local/state (helpers.MACHINE_ENV).

Nor does it inherit an ignored SIGINT: a suite started as a background job
without job control (``cmd &`` in a script) gets SIGINT and SIGQUIT ignored,
passes that on to every herd it starts, and herd's Ctrl-C tests then send
signals nobody hears (33 of them failed that way once).  Each pytest process
takes Python's own SIGINT handler back, so what it starts gets the default.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from helpers import Running, hermetic_environment

pytest_plugins = ["herd.testing.pytest_plugin"]

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGQUIT) is signal.SIG_IGN:
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)   # (SIG_DFL set by a process is reset at exec anyway)

_session_home: list[str] = []

# What starts a real fleet: a fixture of herd.testing.pytest_plugin, or code naming one of these.
_FLEET_NAMES = {"start_fleet_for", "Fleet", "LocalFleet", "make_fleet"}


def _starts_fleets(func: Any) -> bool:
    if getattr(func, "__module__", "") == "herd.testing.pytest_plugin":
        return True
    code = getattr(func, "__code__", None)
    return code is not None and bool(_FLEET_NAMES & set(code.co_names))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``fleet`` every test that needs real sshd/supervisord processes (through its fixtures or itself),
    so that ``-m "not fleet"`` selects the in-process tests (scripts/test --python X.Y runs them on other Pythons)."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        fixtures = [d.func for defs in (info.name2fixturedefs.values() if info else ()) for d in defs]
        if any(_starts_fleets(f) for f in [*fixtures, getattr(item, "function", None)]):
            item.add_marker(pytest.mark.fleet)


def pytest_configure(config: pytest.Config) -> None:
    """A hermetic environment for the session (an empty HOME, none of the machine user's HERD_*,
    agent or XDG dirs); with ``-m "not fleet"``, a test that starts a fleet all the same fails
    loudly instead of running one."""
    home = tempfile.mkdtemp(prefix="herd-test-home-")
    _session_home.append(home)
    hermetic_environment(Path(home))
    if config.option.markexpr.replace(" ", "") in ("notfleet", "(notfleet)"):
        import herd.localfleet.fleet as fleet_module

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("an in-process test started a real process of the test fleet: mark it fleet")

        fleet_module.spawn = refuse   # type: ignore[assignment]


def pytest_unconfigure(config: pytest.Config) -> None:
    for home in _session_home:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME for herd runs: no ~/.ssh of the machine's user leaks into a test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def running() -> Iterator[Callable[..., Any]]:
    """``running(*herd_args, home=...)``: a herd command in the background (helpers.Running), killed at teardown."""
    started: list[Running] = []

    def start(*args: str, **kwargs: Any) -> Running:
        run = Running(*args, **kwargs)
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill()
