"""The fake supervisord (herd.testing.fake) answers as a real one does.

Each check runs on both: a real supervisord of a one-host test fleet, reached
through sshd by herd's own HostSession, and the fake.  The in-process tests
(test_rolling_fake.py, test_control_fake.py, ...) rely on exactly what is
checked here, so a difference between the two fails here first.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator

import pytest

from herd.errors import Faults, SupervisorFault
from herd.fleet.session import HostSession
from herd.inventory import load_inventory
from herd.ssh.connection import Connector
from herd.supervisor.client import SupervisorClient
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec
from herd.testing.pytest_plugin import module_fleet
from helpers import wait_until

# A program whose stdout log holds known bytes and then stays still.
STATIC_TEXT = "alpha\nbeta\ngamma delta\n"
EXTRA = """
[program:static]
command=/bin/sh -c 'printf "alpha\\nbeta\\ngamma delta\\n"; exec sleep 100000'
startsecs=0
stdout_logfile={logs}/static.out.log
stderr_logfile=NONE
"""


real_fleet = module_fleet("contract", hosts=1, extra_config=EXTRA)


class Backend:
    """One supervisord (real or fake) and the few host-side actions the checks need."""

    def __init__(self, client: SupervisorClient, break_tornado: Callable[[], None],
                 fix_tornado: Callable[[], None]) -> None:
        self.client = client
        self.break_tornado = break_tornado
        self.fix_tornado = fix_tornado

    def state(self, name: str) -> str:
        return str(self.client.call("supervisor.getProcessInfo", name)["statename"])

    def wait_for(self, name: str, states: set[str], timeout: float = 30) -> list[str]:
        """Poll until the process is in one of ``states``; the distinct states seen on the way."""
        seen: list[str] = []

        def arrived() -> bool:
            state = self.state(name)
            if not seen or seen[-1] != state:
                seen.append(state)
            return state in states

        wait_until(arrived, timeout, f"{name} in {sorted(states)} (seen {seen})", interval=0.02)
        return seen


@pytest.fixture(params=[pytest.param("real", marks=pytest.mark.fleet), "fake"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "fake":
        supervisor = FakeSupervisor([ProgramSpec("tornado", numprocs=4, numprocs_start=8080, startsecs=0.3),
                                     ProgramSpec("worker", startsecs=0.3),
                                     ProgramSpec("static", startsecs=0, stderr_logfile=None)])
        supervisor.write_log("static", STATIC_TEXT.encode())
        yield Backend(FakeHost("web01", supervisor).client(),
                      lambda: supervisor.break_program("tornado"), lambda: supervisor.break_program("tornado", False))
        return
    fleet = request.getfixturevalue("real_fleet")
    host = load_inventory(str(fleet.inventory_path)).hosts[0]
    session = HostSession(host, Connector(timeout=10))
    try:
        yield Backend(session.client(), lambda: fleet.break_app(host.name), lambda: fleet.fix_app(host.name))
    finally:
        fleet.fix_app(host.name)
        fleet.wait_running(host.name, timeout=60) if _needs_start(session) else None
        session.close()


def _needs_start(session: HostSession) -> bool:
    infos = session.client().all_process_info()
    for info in infos:
        if info.statename in ("STOPPED", "EXITED", "FATAL"):
            session.client().call("supervisor.startProcess", info.fullname, False)
    return any(i.statename != "RUNNING" for i in infos)


def _fault(call: Callable[[], Any]) -> int:
    with pytest.raises(SupervisorFault) as fault:
        call()
    return fault.value.code


def test_process_info_has_supervisords_fields_and_descriptions(backend: Backend) -> None:
    infos = backend.client.call("supervisor.getAllProcessInfo")
    names = [f"{i['group']}:{i['name']}" for i in infos]
    assert names[0] == "static:static" and names[-1] == "worker:worker"
    assert len(names) == 6 and all(re.fullmatch(r"tornado:tornado-\d+", n) for n in names[1:5])
    for info in infos:
        assert {"name", "group", "state", "statename", "pid", "start", "stop", "now", "spawnerr", "exitstatus",
                "stdout_logfile", "stderr_logfile", "description", "logfile"} <= set(info)
        assert info["statename"] == "RUNNING" and info["state"] == 20 and info["pid"] > 0
        assert re.fullmatch(rf"pid {info['pid']}, uptime \d+:\d\d:\d\d", info["description"])
        assert info["now"] >= info["start"] > 0
    static = infos[0]
    assert static["stderr_logfile"] == "" and static["stdout_logfile"].endswith(".log")


def test_stop_and_start_without_waiting_and_their_faults(backend: Backend) -> None:
    client, name = backend.client, "worker"
    assert client.call("supervisor.stopProcess", name, False) is True
    assert backend.wait_for(name, {"STOPPED"})[-1] == "STOPPED"
    stopped = client.call("supervisor.getProcessInfo", name)
    assert stopped["pid"] == 0 and re.fullmatch(r"[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M", stopped["description"])
    assert _fault(lambda: client.call("supervisor.stopProcess", name, False)) == Faults.NOT_RUNNING
    assert client.call("supervisor.startProcess", name, False) is True
    assert backend.state(name) == "STARTING"
    assert _fault(lambda: client.call("supervisor.startProcess", name, False)) == Faults.ALREADY_STARTED
    assert backend.wait_for(name, {"RUNNING"}) == ["STARTING", "RUNNING"]
    assert _fault(lambda: client.call("supervisor.getProcessInfo", "nosuch")) == Faults.BAD_NAME
    assert _fault(lambda: client.call("supervisor.stopProcess", "nosuch", False)) == Faults.BAD_NAME


def test_multicall_returns_bare_values_and_faults_in_place(backend: Backend) -> None:
    answers = backend.client.multicall([("supervisor.getProcessInfo", ("worker",)),
                                        ("supervisor.getProcessInfo", ("nosuch",)),
                                        ("supervisor.getAPIVersion", ())])
    assert answers[0]["name"] == "worker"
    assert isinstance(answers[1], SupervisorFault) and answers[1].code == Faults.BAD_NAME
    assert answers[2] == "3.0"


def test_a_program_that_exits_at_once_goes_backoff_then_fatal(backend: Backend) -> None:
    name = [i.fullname for i in backend.client.all_process_info() if i.group == "tornado"][-1]
    backend.break_tornado()
    backend.client.call("supervisor.stopProcess", name, False)
    backend.wait_for(name, {"STOPPED"})
    backend.client.call("supervisor.startProcess", name, False)
    seen = backend.wait_for(name, {"FATAL"}, timeout=40)
    assert seen[-1] == "FATAL" and "BACKOFF" in seen and set(seen) <= {"STARTING", "BACKOFF", "FATAL"}
    info = backend.client.call("supervisor.getProcessInfo", name)
    assert info["spawnerr"] == "Exited too quickly (process log may have details)"
    assert info["description"] == info["spawnerr"] and info["pid"] == 0
    backend.fix_tornado()
    backend.client.call("supervisor.startProcess", name, False)
    assert backend.wait_for(name, {"RUNNING"})[-1] == "RUNNING"


# Offsets and lengths around the edges of readFile's and tailFile's arithmetic.
SIZE = len(STATIC_TEXT)
READS = [(0, 0), (0, 5), (6, 4), (SIZE - 1, 0), (SIZE, 0), (SIZE + 10, 0), (-5, 0), (-(SIZE + 10), 0), (3, 100)]
TAILS = [(0, 5), (0, SIZE), (0, SIZE + 10), (SIZE, 10), (SIZE - 3, 10), (SIZE + 5, 10), (2, 0), (0, 0)]


def test_log_reads_and_tails_follow_supervisords_offset_rules(backend: Backend) -> None:
    read = [backend.client.call("supervisor.readProcessStdoutLog", "static", o, n) for o, n in READS]
    tail = [backend.client.call("supervisor.tailProcessStdoutLog", "static", o, n) for o, n in TAILS]
    expected_reads = [STATIC_TEXT[o:] if n == 0 and o >= 0 else STATIC_TEXT[o:o + n] if o >= 0
                      else STATIC_TEXT[max(0, SIZE + o):] for o, n in READS]
    assert read == expected_reads
    assert tail[0] == [STATIC_TEXT[-5:], SIZE, True]       # grown past offset+length: the last bytes, overflow
    assert tail[1] == [STATIC_TEXT, SIZE, False]
    assert tail[3] == ["", SIZE, False] and tail[5] == ["", SIZE, False]
    assert tail[4] == [STATIC_TEXT[-10:], SIZE, False]  # fewer than length after offset: the last length bytes
    assert _fault(lambda: backend.client.call("supervisor.readProcessStdoutLog", "static", -5, 3)) \
        == Faults.BAD_ARGUMENTS
    assert _fault(lambda: backend.client.call("supervisor.readProcessStdoutLog", "static", 0, -3)) \
        == Faults.BAD_ARGUMENTS
    assert _fault(lambda: backend.client.call("supervisor.readProcessStderrLog", "static", 0, 10)) \
        == Faults.NO_FILE
    assert backend.client.call("supervisor.tailProcessStderrLog", "static", 0, 10) == ["", 0, False]


def test_log_answers_are_identical_on_both(real_fleet: Any) -> None:
    """The whole grid, compared answer by answer: fake against real, same bytes in the log."""
    host = load_inventory(str(real_fleet.inventory_path)).hosts[0]
    session = HostSession(host, Connector(timeout=10))
    fake = FakeSupervisor([ProgramSpec("static", stderr_logfile=None)])
    fake.write_log("static", STATIC_TEXT.encode())
    fake_client = FakeHost("web01", fake).client()
    try:
        for method, grid in (("supervisor.readProcessStdoutLog", READS), ("supervisor.tailProcessStdoutLog", TAILS)):
            for offset, length in grid:
                real = session.client().call(method, "static", offset, length)
                assert fake_client.call(method, "static", offset, length) == real, (method, offset, length)
    finally:
        session.close()
