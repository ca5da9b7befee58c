"""supervisorctl-style name selection (pure)."""

import pytest

from herd.supervisor.models import ProcessInfo, ProcessState
from herd.supervisor.names import select


def proc(group, name):
    return ProcessInfo(name=name, group=group, state=ProcessState.RUNNING, pid=1, start=0, stop=0, now=0)


INFOS = [proc("tornado", f"tornado-{p}") for p in range(8080, 8084)] + [proc("worker", "worker")]


@pytest.mark.parametrize("specs,expected", [
    ((), [p.fullname for p in INFOS]),
    (("all",), [p.fullname for p in INFOS]),
    (("worker",), ["worker"]),
    (("tornado",), [f"tornado:tornado-{p}" for p in range(8080, 8084)]),
    (("tornado:*",), [f"tornado:tornado-{p}" for p in range(8080, 8084)]),
    (("tornado:",), [f"tornado:tornado-{p}" for p in range(8080, 8084)]),
    (("tornado:tornado-8081",), ["tornado:tornado-8081"]),
    (("tornado-8082",), ["tornado:tornado-8082"]),
    (("worker", "tornado:tornado-8080"), ["tornado:tornado-8080", "worker"]),
])
def test_select(specs, expected):
    chosen, unmatched = select(specs, INFOS)
    assert [p.fullname for p in chosen] == expected
    assert unmatched == []


def test_unmatched_names_are_returned():
    chosen, unmatched = select(["nosuch", "tornado:tornado-9999", "worker"], INFOS)
    assert [p.fullname for p in chosen] == ["worker"]
    assert unmatched == ["nosuch", "tornado:tornado-9999"]
