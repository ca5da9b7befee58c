"""pytest fixtures for real test fleets (herd.localfleet.fleet): ``pytest_plugins = ["herd.testing.pytest_plugin"]``.

Not registered as a pytest11 entry point on purpose: installing herd must not
add fixtures (nor start fleets) in other projects' test suites.

Each pytest-xdist worker gets its own session fleet; ports are reserved per
fleet (herd.localfleet.ports), so workers never collide.  A test module that
needs a fleet of its own (it changes it destructively, or needs other hosts)
declares one with ``module_fleet``::

    web_fleet = module_fleet("webui", hosts=3, light=True)
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from herd.localfleet.fleet import LocalFleet


def start_fleet_for(tmp_path_factory: pytest.TempPathFactory, label: str, hosts: int,
                    **options: Any) -> Iterator[LocalFleet]:
    """Start a fleet in a fresh temporary directory, yield it, stop it: the body of every fleet fixture.

    For a module fixture that does more than start its fleet (measures it,
    changes permissions) before yielding it: ``for own in start_fleet_for(...)``.
    """
    own = LocalFleet.start(tmp_path_factory.mktemp(label), hosts=hosts, **options)
    try:
        yield own
    finally:
        own.stop()


def module_fleet(label: str, hosts: int, **options: Any) -> Any:
    """A module-scoped fixture: a fleet of ``hosts`` hosts (LocalFleet.start ``options``) for one test module.

    Assign it to the fixture's name in the module: ``rfleet = module_fleet("rolling", hosts=3)``.
    """
    @pytest.fixture(scope="module")
    def own_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
        yield from start_fleet_for(tmp_path_factory, label, hosts, **options)

    return own_fleet


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    """A 4-host fleet shared by the session: web01 plain, web02 without streamlocal
    forwarding, web03 on inet_http_server with a password, web04 plain.

    Read it, or change it and put it back; use ``make_fleet`` for anything destructive.
    """
    yield from start_fleet_for(tmp_path_factory, "fleet", 4, no_streamlocal=["web02"], inet=["web03"])


@pytest.fixture
def make_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalFleet]]:
    """``make_fleet(hosts=2, **LocalFleet.start options)``: a fleet of the test's own, stopped at teardown."""
    started: list[LocalFleet] = []

    def make(hosts: int = 2, **options: Any) -> LocalFleet:
        own = LocalFleet.start(tmp_path_factory.mktemp("fleet"), hosts=hosts, **options)
        started.append(own)
        return own

    yield make
    for own in reversed(started):
        own.stop()
