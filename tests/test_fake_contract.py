"""The fake supervisord (herd.testing.fake) answers as a real one does.

Each check runs on both: a real supervisord of a one-host test fleet, reached
through sshd by herd's own HostSession, and the fake.  The in-process tests
(test_rolling_fake.py, test_control_fake.py, ...) rely on exactly what is
checked here, so a difference between the two fails here first.
"""

from __future__ import annotations

import re
from pathlib import Path
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


class ConfigFiles:
    """The host's config files, edited the way a deploy does: a [program:extra] section, a syntax error."""

    def set_extra(self, command: str | None, numprocs: int = 1) -> None:
        """[program:extra] runs ``command`` (``numprocs`` processes extra-0 ..), or is deleted (None)."""
        raise NotImplementedError

    def break_syntax(self, broken: bool) -> None:
        """A [program:half] without a command (the files no longer parse), or not."""
        raise NotImplementedError


class RealFiles(ConfigFiles):
    def __init__(self, conf_path: str) -> None:
        self.path = Path(conf_path)
        self.original = self.path.read_text()
        self.extra = ""
        self.broken = False

    def set_extra(self, command: str | None, numprocs: int = 1) -> None:
        self.extra = "" if command is None else f"\n[program:extra]\ncommand={command}\nstartsecs=0\n" + (
            f"numprocs={numprocs}\nprocess_name=%(program_name)s-%(process_num)s\n" if numprocs > 1 else "")
        self._write()

    def break_syntax(self, broken: bool) -> None:
        self.broken = broken
        self._write()

    def _write(self) -> None:
        self.path.write_text(self.original + self.extra + ("\n[program:half]\nstartsecs=0\n" if self.broken else ""))


class FakeFiles(ConfigFiles):
    def __init__(self, supervisor: FakeSupervisor) -> None:
        self.supervisor = supervisor

    def set_extra(self, command: str | None, numprocs: int = 1) -> None:
        if command is None:
            self.supervisor.delete_config("extra")
        else:
            self.supervisor.write_config(ProgramSpec("extra", command=command, numprocs=numprocs, startsecs=0))

    def break_syntax(self, broken: bool) -> None:
        self.supervisor.break_config("half") if broken else self.supervisor.fix_config()


class Backend:
    """One supervisord (real or fake) and the few host-side actions the checks need."""

    def __init__(self, client: SupervisorClient, break_tornado: Callable[[], None],
                 fix_tornado: Callable[[], None], files: ConfigFiles) -> None:
        self.client = client
        self.break_tornado = break_tornado
        self.fix_tornado = fix_tornado
        self.files = files

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
                      lambda: supervisor.break_program("tornado"), lambda: supervisor.break_program("tornado", False),
                      FakeFiles(supervisor))
        return
    fleet = request.getfixturevalue("real_fleet")
    host = load_inventory(str(fleet.inventory_path)).hosts[0]
    session = HostSession(host, Connector(timeout=10))
    files = RealFiles(fleet.host(host.name).conf_path)
    try:
        yield Backend(session.client(), lambda: fleet.break_app(host.name), lambda: fleet.fix_app(host.name), files)
    finally:
        files.path.write_text(files.original)
        _drop_extra(session.client())
        fleet.fix_app(host.name)
        fleet.wait_running(host.name, timeout=60) if _needs_start(session) else None
        session.close()


def _drop_extra(client: SupervisorClient) -> None:
    """Put a real supervisord back on its original config: reread, then stop and remove [program:extra]."""
    client.call("supervisor.reloadConfig")
    if any(i.group == "extra" for i in client.all_process_info()):
        for info in client.all_process_info():
            if info.group == "extra" and info.statename not in ("STOPPED", "EXITED", "FATAL"):
                client.call("supervisor.stopProcess", info.fullname, True)
        client.call("supervisor.removeProcessGroup", "extra")


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


def _reread(backend: Backend) -> list[list[str]]:
    [[added, changed, removed]] = backend.client.call("supervisor.reloadConfig")
    return [added, changed, removed]


def _configs(backend: Backend) -> dict[str, tuple[bool, str]]:
    """getAllConfigInfo of [program:extra]: process name -> (inuse, command)."""
    return {c["name"]: (c["inuse"], c["command"]) for c in backend.client.call("supervisor.getAllConfigInfo")
            if c["group"] == "extra"}


def _extra(backend: Backend) -> dict[str, int]:
    """The active processes of group extra: full name -> pid."""
    return {i.fullname: i.pid for i in backend.client.all_process_info() if i.group == "extra"}


def _stop_extra(backend: Backend) -> None:
    for name in _extra(backend):
        backend.client.call("supervisor.stopProcess", name, False)
        backend.wait_for(name, {"STOPPED"})


def test_reread_stages_the_config_and_groups_are_added_and_removed_as_supervisord_does(backend: Backend) -> None:
    client = backend.client
    assert _reread(backend) == [[], [], []]

    # a new group: reloadConfig stages it (getAllConfigInfo shows it, not in use), starts nothing
    backend.files.set_extra("sleep 600")
    assert _reread(backend) == [["extra"], [], []]
    assert _reread(backend) == [["extra"], [], []]           # staging activates nothing
    assert _configs(backend) == {"extra": (False, "sleep 600")}
    assert _extra(backend) == {}
    assert _fault(lambda: client.call("supervisor.removeProcessGroup", "extra")) == Faults.BAD_NAME
    assert _fault(lambda: client.call("supervisor.addProcessGroup", "nosuch")) == Faults.BAD_NAME

    # added: its autostart process starts (supervisord's next turn)
    assert client.call("supervisor.addProcessGroup", "extra") is True
    assert backend.wait_for("extra", {"RUNNING"})[0] in ("STOPPED", "STARTING", "RUNNING")
    assert _configs(backend) == {"extra": (True, "sleep 600")}
    assert _fault(lambda: client.call("supervisor.addProcessGroup", "extra")) == Faults.ALREADY_ADDED
    assert _fault(lambda: client.call("supervisor.removeProcessGroup", "extra")) == Faults.STILL_RUNNING
    assert _reread(backend) == [[], [], []]

    # changed (command, then numprocs): staged, shown, but the running process is untouched
    pid = _extra(backend)["extra"]
    backend.files.set_extra("sleep 601")
    assert _reread(backend) == [[], ["extra"], []]
    assert _configs(backend) == {"extra": (True, "sleep 601")}
    backend.files.set_extra("sleep 601", numprocs=2)
    assert _reread(backend) == [[], ["extra"], []]
    assert _configs(backend) == {"extra-0": (True, "sleep 601"), "extra-1": (True, "sleep 601")}
    assert _extra(backend) == {"extra": pid}

    # a config that does not parse: CANT_REREAD, supervisord's text, the last good config stays staged
    backend.files.break_syntax(True)
    with pytest.raises(SupervisorFault) as fault:
        client.call("supervisor.reloadConfig")
    assert fault.value.code == Faults.CANT_REREAD
    assert fault.value.text.startswith("CANT_REREAD: program section program:half does not specify a command in "
                                       "section 'program:half' (file: '"), fault.value.text
    assert _configs(backend) == {"extra-0": (True, "sleep 601"), "extra-1": (True, "sleep 601")}
    backend.files.break_syntax(False)

    # the update of a changed group: stop, remove (then it is "added"), add: the new config runs
    _stop_extra(backend)
    assert client.call("supervisor.removeProcessGroup", "extra") is True
    assert _extra(backend) == {}
    assert _reread(backend) == [["extra"], [], []]
    assert client.call("supervisor.addProcessGroup", "extra") is True
    for name in ("extra:extra-0", "extra:extra-1"):
        backend.wait_for(name, {"RUNNING"})
    assert sorted(_extra(backend)) == ["extra:extra-0", "extra:extra-1"]

    # removed from the files: reported removed, dropped from the staged config, still running until removed
    backend.files.set_extra(None)
    assert _reread(backend) == [[], [], ["extra"]]
    assert _configs(backend) == {}
    assert sorted(_extra(backend)) == ["extra:extra-0", "extra:extra-1"]
    _stop_extra(backend)
    assert client.call("supervisor.removeProcessGroup", "extra") is True
    assert _reread(backend) == [[], [], []] and _extra(backend) == {}
