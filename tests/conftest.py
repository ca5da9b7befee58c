"""Shared fixtures: the real test fleets of herd.testing.pytest_plugin (fleet, make_fleet,
module_fleet), an empty HOME, and herd commands running in the background.

The suite passes on an operator's machine, not only a fresh one: every pytest
process (each xdist worker too) drops the machine user's HERD_INVENTORY,
HERD_KEEP, ssh-agent and XDG directories and runs with an empty HOME of its
own, so no test, in process or not, reads the user's ~/.ssh/config,
~/.ssh/known_hosts, ~/.config/herd or ~/.local/state (helpers.MACHINE_ENV).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from helpers import Running, hermetic_environment

pytest_plugins = ["herd.testing.pytest_plugin"]

_session_home: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    home = tempfile.mkdtemp(prefix="herd-test-home-")
    _session_home.append(home)
    hermetic_environment(Path(home))


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
