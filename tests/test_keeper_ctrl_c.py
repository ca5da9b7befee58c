"""The client's side of Ctrl-C through the keeper, against fake keepers (in process).

After "go" the first SIGINT (or SIGTERM) is passed on as ``{"op": "interrupt"}`` and the client reads
on until the command's "done"; a second one stops the waiting (one line, exit 130); before "go" a
Ctrl-C is a Ctrl-C and the keeper never gets "go".  The keeper's side, on a real fleet:
tests/test_keeper_interrupt.py.
"""

from __future__ import annotations

import base64
import select
import signal
import socket
import threading
import time

import pytest

from herd.keeper import paths, protocol
from test_keeper_once import FakeKeeper, run, runtime  # noqa: F401  (runtime: a fixture)

INTERRUPTED = b"herd: interrupted: the steps in flight were finished; herd left nothing stopped\n"


def signal_client(sig: int = signal.SIGINT) -> None:
    """The user's Ctrl-C, to the client's main thread (where a terminal's SIGINT is handled)."""
    signal.pthread_kill(threading.main_thread().ident or 0, sig)


def next_op(conn: socket.socket, timeout: float = 5) -> dict | None:
    """The client's next frame, sending "alive" meanwhile as a keeper does; None when it left."""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            protocol.send(conn, {"kind": "alive"})
            readable, _, _ = select.select([conn], [], [], 0.05)
            if readable:
                if conn.recv(1, socket.MSG_PEEK) == b"":
                    return None
                return protocol.receive(conn)
    except OSError:         # it closed with our "alive" frames unread (a reset)
        return None
    raise AssertionError("the client sent nothing")


def interrupted_with(sig: int):
    def behaviour(fake: FakeKeeper, conn: socket.socket) -> None:
        fake.go(conn)
        signal_client(sig)
        fake.told.append(next_op(conn))
        protocol.send(conn, {"kind": "done", "code": 130,
                             "output": [["stderr", base64.b64encode(INTERRUPTED).decode()]]})
    return behaviour


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_ctrl_c_after_go_is_passed_on_and_the_commands_own_ending_is_printed(tmp_path, runtime, capsys, sig):
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    code, fake, _ = run(tmp_path, interrupted_with(sig))
    assert code == 130
    assert [m.get("op") for m in fake.told] == ["run", "go", "interrupt"]
    assert capsys.readouterr() == ("", INTERRUPTED.decode())
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before   # put back


def interrupted_twice(fake: FakeKeeper, conn: socket.socket) -> None:
    fake.go(conn)
    signal_client()
    fake.told.append(next_op(conn))
    signal_client()
    fake.told.append({"left": next_op(conn) is None})   # the client closes: it stopped waiting


def test_a_second_ctrl_c_stops_waiting_in_one_line(tmp_path, runtime, capsys):
    code, fake, seconds = run(tmp_path, interrupted_twice)
    assert code == 130 and seconds < 3, seconds
    assert fake.told[1:] == [{"op": "go"}, {"op": "interrupt"}, {"left": True}]
    log = paths.log_path(fake.path)
    assert capsys.readouterr() == ("", (
        f"herd: interrupted again: no longer waiting for the keeper (pid 4242), which finishes the step in flight "
        f"of `herd restart` on its own and logs what it did and printed (the keeper's log: {log})\n"))


def interrupted_before_accepting(fake: FakeKeeper, conn: socket.socket) -> None:
    signal_client()
    conn.settimeout(5)
    fake.told.append({"left": conn.recv(1) == b""})


def test_a_ctrl_c_before_the_keeper_accepted_ends_the_client_and_nothing_runs(tmp_path, runtime):
    fakes: list[FakeKeeper] = []

    def behaviour(fake: FakeKeeper, conn: socket.socket) -> None:
        fakes.append(fake)
        interrupted_before_accepting(fake, conn)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, behaviour)
    assert [m.get("op") for m in fakes[0].told] == ["run", None]     # no "go": the keeper runs nothing
    assert fakes[0].told[1] == {"left": True}


# -- the keeper's command thread: fanout.interrupt() is its Ctrl-C, raised only where a fan-out waits ----------

def waiting_fan_out(release: threading.Event, outcome: dict) -> threading.Thread:
    """A thread (not the main one) fanning out two items: one done at once, one until ``release``."""
    from herd.fleet import Interrupted, in_parallel

    def body() -> None:
        try:
            outcome["results"] = in_parallel(["quick", "slow"], lambda item: item if item == "quick" or
                                             release.wait(10) else None)
        except Interrupted as stop:
            outcome["interrupted"] = stop.results

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_interrupt_raises_in_that_threads_fan_out_wait_only():
    from herd.fleet import fanout

    release = threading.Event()
    one, other = {}, {}
    first, second = waiting_fan_out(release, one), waiting_fan_out(release, other)
    time.sleep(0.3)
    start = time.monotonic()
    fanout.interrupt(first.ident or 0)
    first.join(5)
    took = time.monotonic() - start
    assert one == {"interrupted": ["quick", None]}, one       # what it had, as after a Ctrl-C
    assert took <= fanout.JOIN_STEP + 0.3, took
    assert second.is_alive()                                  # another thread's wait goes on
    release.set()
    second.join(5)
    assert other == {"results": ["quick", "slow"]}
    assert not fanout.withdraw_interrupt(first.ident or 0)    # raised once, then gone


def test_a_withdrawn_interrupt_is_never_raised():
    from herd.fleet import fanout

    release = threading.Event()
    outcome: dict = {}
    thread = waiting_fan_out(release, outcome)
    fanout.interrupt(thread.ident or 0)
    assert fanout.withdraw_interrupt(thread.ident or 0)
    time.sleep(fanout.JOIN_STEP * 2)
    release.set()
    thread.join(5)
    assert outcome == {"results": ["quick", "slow"]}
