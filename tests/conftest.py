"""Shared fixtures: the real test fleets of herd.testing.pytest_plugin (fleet, make_fleet,
module_fleet), an empty HOME, and herd commands running in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from helpers import Running

pytest_plugins = ["herd.testing.pytest_plugin"]


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
