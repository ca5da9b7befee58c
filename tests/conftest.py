"""Shared fixtures: real test fleets (an sshd and a supervisord per host, on 127.0.0.1).

The fleets come from scripts/testfleet.py.  Each pytest-xdist worker gets its
own session fleet; ports are reserved per fleet, so workers never collide.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import testfleet  # noqa: E402


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testfleet.Fleet]:
    """A 4-host fleet shared by the session: web01 plain, web02 without streamlocal
    forwarding, web03 on inet_http_server with a password, web04 plain.

    Read it, or change it and put it back; use ``make_fleet`` for anything destructive.
    """
    shared = testfleet.Fleet.start(tmp_path_factory.mktemp("fleet"), hosts=4,
                                   no_streamlocal=["web02"], inet=["web03"])
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture
def make_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., testfleet.Fleet]]:
    """``make_fleet(hosts=2, **Fleet.start options)``: a fleet of the test's own, stopped at teardown."""
    started: list[testfleet.Fleet] = []

    def make(hosts: int = 2, **options: Any) -> testfleet.Fleet:
        own = testfleet.Fleet.start(tmp_path_factory.mktemp("fleet"), hosts=hosts, **options)
        started.append(own)
        return own

    yield make
    for own in reversed(started):
        own.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME for herd runs: no ~/.ssh of the machine's user leaks into a test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def start_module_fleet(tmp_path_factory: pytest.TempPathFactory, label: str, hosts: int,
                       **options: Any) -> Iterator[testfleet.Fleet]:
    """For a test module's own fleet fixture: start it, yield it, stop it."""
    own = testfleet.Fleet.start(tmp_path_factory.mktemp(label), hosts=hosts, **options)
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def running() -> Iterator[Callable[..., Any]]:
    """``running(*herd_args, home=...)``: a herd command in the background (helpers.Running), killed at teardown."""
    from helpers import Running

    started: list[Running] = []

    def start(*args: str, **kwargs: Any) -> Running:
        run = Running(*args, **kwargs)
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill()
