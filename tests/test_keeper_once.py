"""A command the keeper accepted is never run again: the client's side against fake keepers, the keeper's
against a client that gives up (in process; the real keeper stalled and killed: tests/test_keeper_fleet.py).

The hand-over is "accepted" from the keeper, then "go" from the client: before "go" the command is the
client's (any trouble: it runs directly), after it the keeper's (any trouble: one line, exit 6, never rerun).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from herd import __version__
from herd.errors import EXIT_LOST
from herd.keeper import client, paths, protocol
from herd.keeper.server import Keeper

Behaviour = Callable[[socket.socket], None]


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short 0700 runtime directory (socket paths are short), HERD_KEEP on, and an inventory in tmp_path."""
    path = Path(f"/tmp/herd-once-{os.getpid()}-{threading.get_ident() % 100000}")
    path.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    monkeypatch.setenv("HERD_KEEP", "1m")
    (tmp_path / "inv.yaml").write_text("hosts: {web01: {}}\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


class FakeKeeper:
    """A socket where a keeper's would be, serving one client with ``behaviour``; what it was told."""

    def __init__(self, inventory: Path, behaviour: Behaviour) -> None:
        self.path = paths.socket_path(str(inventory))
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        self.listener.listen(4)
        self.told: list[dict] = []
        self.behaviour = behaviour
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            self.told.append(protocol.receive(conn))
            self.behaviour(conn)

    def go(self, conn: socket.socket) -> None:
        """Accept, and read the client's answer to it."""
        protocol.send(conn, {"kind": "accepted", "pid": 4242})
        conn.settimeout(5)
        self.told.append(protocol.receive(conn))

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


def run(tmp_path: Path, behaviour: Callable[[FakeKeeper, socket.socket], None], *args: str
        ) -> tuple[int | None, FakeKeeper, float]:
    """``herd restart worker -a`` (or ``args``) through a fake keeper: (run_kept's answer, the fake, seconds)."""
    inventory = tmp_path / "inv.yaml"
    fake = FakeKeeper(inventory, lambda conn: behaviour(fake, conn))
    start = time.monotonic()
    try:
        code = client.run_kept([*(args or ("restart", "worker", "-a")), "-i", str(inventory)])
    finally:
        fake.close()
    return code, fake, time.monotonic() - start


def dies_after_go(fake: FakeKeeper, conn: socket.socket) -> None:
    fake.go(conn)


def silent_after_go(fake: FakeKeeper, conn: socket.socket) -> None:
    fake.go(conn)
    conn.settimeout(10)
    conn.recv(1)            # until the client leaves


def fails_after_go(fake: FakeKeeper, conn: socket.socket) -> None:
    fake.go(conn)
    protocol.send(conn, {"kind": "alive"})
    protocol.send(conn, {"kind": "failed", "reason": "RuntimeError inside the keeper"})


def alive_then_dies(fake: FakeKeeper, conn: socket.socket) -> None:
    fake.go(conn)
    for _ in range(3):
        protocol.send(conn, {"kind": "alive"})
        time.sleep(0.05)


def garbage_after_go(fake: FakeKeeper, conn: socket.socket) -> None:
    fake.go(conn)
    conn.sendall(b"\x00\x00\x00\x03abc")


@pytest.mark.parametrize("behaviour, what", [
    (dies_after_go, "closed the connection"),
    (alive_then_dies, "closed the connection"),
    (silent_after_go, "was silent for 0.4 s"),
    (fails_after_go, "reported that the command failed (RuntimeError inside the keeper)"),
    (garbage_after_go, "sent what herd cannot read (unreadable frame: "),
])
def test_after_go_the_command_is_reported_lost_never_run_again(tmp_path, runtime, monkeypatch, capsys,
                                                                  behaviour, what):
    monkeypatch.setattr(protocol, "SILENCE", 0.4)
    code, fake, seconds = run(tmp_path, behaviour)
    assert code == EXIT_LOST == 6           # not None: the caller does not run it directly
    assert [m.get("op") for m in fake.told] == ["run", "go"]
    out, err = capsys.readouterr()
    log = paths.log_path(fake.path)
    assert out == ""
    assert err.startswith(f"herd: the keeper (pid 4242) {what}"), err
    assert err.endswith(f" after it accepted `herd restart`: the command may have run in part or in full, and "
                        f"is not run again; see `herd status` before you repeat it (the keeper's log: {log})\n"), err
    assert err.count("\n") == 1
    if behaviour is silent_after_go:
        assert 0.4 <= seconds < 3, seconds


def test_a_lost_check_is_a_plugins_unknown_on_stdout(tmp_path, runtime, capsys):
    from herd.cli.check import EXIT_UNKNOWN

    code, fake, _ = run(tmp_path, dies_after_go, "check")
    out, err = capsys.readouterr()
    assert code == client.NAGIOS_UNKNOWN == EXIT_UNKNOWN == 3 and err == ""
    assert out.startswith("HERD UNKNOWN - the keeper (pid 4242) closed the connection after it accepted "
                          "`herd check`: the command may have run") and out.count("\n") == 1, out


def refuses(fake: FakeKeeper, conn: socket.socket) -> None:
    protocol.send(conn, {"kind": "refused", "reason": "busy with another command"})


def closes_before_accepting(fake: FakeKeeper, conn: socket.socket) -> None:
    pass


def accepts_and_closes_before_go(fake: FakeKeeper, conn: socket.socket) -> None:
    protocol.send(conn, {"kind": "accepted", "pid": 4242})
    conn.shutdown(socket.SHUT_RDWR)   # gone before the client's "go": it never started the command


def never_answers(fake: FakeKeeper, conn: socket.socket) -> None:
    conn.settimeout(10)
    conn.recv(1)


@pytest.mark.parametrize("behaviour, said", [
    (refuses, "the keeper refused: busy with another command"),
    (closes_before_accepting, "the keeper stopped answering (connection closed)"),
    (never_answers, "the keeper stopped answering (no answer in time)"),
])
def test_before_accepting_the_command_runs_directly(tmp_path, runtime, capsys, behaviour, said):
    code, fake, _ = run(tmp_path, behaviour, "restart", "worker", "-a", "-v")
    assert code is None
    assert [m.get("op") for m in fake.told] == ["run"]
    assert capsys.readouterr().err == f"herd: keeper: {said}; connecting directly\n"


def test_a_keeper_gone_before_go_means_a_direct_run_or_a_lost_one_never_both(tmp_path, runtime, capsys):
    """Whether the client's "go" still reaches the socket is a race: either way one answer, never both."""
    code, fake, _ = run(tmp_path, accepts_and_closes_before_go, "restart", "worker", "-a", "-v")
    err = capsys.readouterr().err
    if code is None:
        assert "connecting directly" in err and "not run again" not in err
    else:
        assert code == EXIT_LOST and "not run again" in err and "connecting directly" not in err


# -- the keeper's side: it starts a command only on the client's "go" --------------------------------------

@pytest.fixture
def keeper(tmp_path: Path, runtime: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Keeper, list]]:
    """A keeper serving in a thread, whose commands only record that they ran."""
    ran: list[list[str]] = []

    def execute(self: Keeper, conn: socket.socket, request: dict) -> None:
        ran.append(request["argv"])
        protocol.send(conn, {"kind": "done", "code": 0, "output": []})

    monkeypatch.setattr(Keeper, "_execute", execute)
    inv = str(tmp_path / "inv.yaml")
    k = Keeper(inv, paths.socket_path(inv), idle=60)
    assert k.bind()
    thread = threading.Thread(target=k.serve, daemon=True)
    thread.start()
    yield k, ran
    k.stopping.set()
    thread.join(5)


def _request(keeper: Keeper) -> dict:
    return {"op": "run", "version": __version__, "inventory": keeper.inventory, "argv": ["restart", "worker"],
            "env": {}, "keep": 60}


def test_the_keeper_runs_nothing_for_a_client_that_gave_up_before_go(keeper):
    k, ran = keeper
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(k.socket_path))
        protocol.send(s, _request(k))
        assert protocol.receive(s)["kind"] == "accepted"
    # the client left (it timed out waiting for "accepted", say) and runs the command itself
    deadline = time.monotonic() + 5
    while k.busy.locked() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not k.busy.locked()
    assert ran == [] and k.served == 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:       # and it serves the next one
        s.settimeout(5)
        s.connect(str(k.socket_path))
        protocol.send(s, _request(k))
        assert protocol.receive(s)["kind"] == "accepted"
        protocol.send(s, {"op": "go"})
        assert protocol.receive(s) == {"kind": "done", "code": 0, "output": []}
    assert ran == [["restart", "worker"]]


def test_the_client_says_go_and_the_keeper_runs_the_command_once(keeper, capsys):
    k, ran = keeper
    assert client.run_kept(["restart", "worker", "-a", "-i", k.inventory]) == 0
    assert ran == [["restart", "worker", "-a", "-i", k.inventory]]
    deadline = time.monotonic() + 5
    while k.served != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert k.served == 1


def test_a_heartbeat_that_cannot_reach_the_client_keeps_the_keeper_busy_until_the_command_ends(
        tmp_path, runtime, monkeypatch):
    """A client that stops reading (its write side still open) makes the "alive" frame fail: the keeper
    aborts the command's sessions and waits for it before it takes another (never two at once)."""
    release, running = threading.Event(), threading.Event()

    def command(self: Keeper, request: dict, scope, capture, result: dict) -> None:
        running.set()
        release.wait(10)
        result["code"] = 0

    monkeypatch.setattr(Keeper, "_command", command)
    monkeypatch.setattr(protocol, "HEARTBEAT", 0.05)
    inv = str(tmp_path / "inv.yaml")
    k = Keeper(inv, paths.socket_path(inv), idle=60)
    assert k.bind()
    thread = threading.Thread(target=k.serve, daemon=True)
    thread.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(k.socket_path))
            protocol.send(s, _request(k))
            assert protocol.receive(s)["kind"] == "accepted"
            protocol.send(s, {"op": "go"})
            assert running.wait(5)
            s.shutdown(socket.SHUT_RD)              # the keeper's next frames cannot be delivered
            time.sleep(0.5)                         # several heartbeats
            assert k.busy.locked()                  # the command still runs: nothing else may start
            release.set()
        deadline = time.monotonic() + 5
        while k.busy.locked() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not k.busy.locked()
    finally:
        release.set()
        k.stopping.set()
        thread.join(5)
