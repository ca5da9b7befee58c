"""Errors keep their cause, and ``-vv`` shows it: one escaped line per cause under the error, never a traceback.

In process, through herd's CLI boundary (run_command, as ``herd`` itself
does), against a host that is not an SSH server: a port that answers with
something other than an SSH banner, so that paramiko's own words are the
cause of herd's one-line error.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Iterator

import pytest

from herd import text
from herd.cli import run_command
from herd.errors import ConnectError, HerdError, causes


@pytest.fixture
def not_ssh() -> Iterator[int]:
    """A port on 127.0.0.1 that greets every connection with a line that is no SSH banner, then hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"220 smtp.example.com ESMTP \x1b[2Jready\r\n")
                conn.shutdown(socket.SHUT_WR)   # an end of stream; then read what herd sent until it
                conn.settimeout(5)              # hangs up (closing with its banner unread would be a reset)
                with contextlib.suppress(OSError):
                    while conn.recv(4096):
                        pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


def _inventory(tmp_path: Path, port: int) -> str:
    path = tmp_path / "inventory.yaml"
    path.write_text(f"hosts:\n  web01:\n    address: 127.0.0.1\n    port: {port}\n"
                    f"    supervisor:\n      socket: /tmp/supervisor.sock\n")
    return str(path)


ERROR = "herd: web01: SSH handshake with 127.0.0.1 port {port} failed: Error reading SSH protocol banner"
CAUSE = "herd: caused by: ssh_exception.SSHException: Error reading SSH protocol banner"


def test_vv_shows_paramikos_cause_under_the_one_line_error(not_ssh: int, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = run_command(["fg", "worker", "-H", "web01", "-i", _inventory(tmp_path, not_ssh), "-vv"])
    err = capsys.readouterr().err.splitlines()
    assert code == 4
    error = err.index(ERROR.format(port=not_ssh))
    assert err[error + 1] == CAUSE
    # paramiko raised its SSHException while handling the end of the stream: the context, one line too
    assert err[error + 2] == "herd: caused by: EOFError"
    assert err[error + 3:] == []
    assert not [line for line in err if "Traceback" in line]


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_without_vv_the_error_is_one_line(not_ssh: int, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          verbose: list[str]) -> None:
    code = run_command(["fg", "worker", "-H", "web01", "-i", _inventory(tmp_path, not_ssh), *verbose])
    err = capsys.readouterr().err.splitlines()
    assert code == 4
    assert err[-1] == ERROR.format(port=not_ssh)
    assert not [line for line in err if "caused by" in line]


def test_an_inventory_error_shows_the_parsers_words_at_vv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("hosts:\n  web01: {address: [\n")
    assert run_command(["status", "-i", str(inventory), "-vv"]) == 2
    err = capsys.readouterr().err.splitlines()
    error = next(i for i, line in enumerate(err) if line.startswith(f"herd: {inventory}:"))
    assert err[error + 1].startswith("herd: caused by: parser.ParserError: while parsing a flow node\\nexpected")
    assert err[error + 2:] == []


# -- the chain and its lines -------------------------------------------------------------------------


def _raised(make: object) -> BaseException:
    try:
        make()   # type: ignore[operator]
    except BaseException as exc:   # noqa: BLE001 - the test looks at whatever was raised
        return exc
    raise AssertionError("nothing raised")


def _chained() -> None:
    try:
        try:
            raise OSError(111, "Connection refused")
        except OSError as exc:
            raise ValueError("while reading") from exc
    except ValueError:
        raise ConnectError("web01", "cannot connect")   # noqa: B904 - a context, no cause


def _hidden() -> None:
    try:
        raise KeyError("the secret")
    except KeyError:
        raise HerdError("no secret here") from None


def test_causes_follow_cause_then_context_and_stop_at_from_none() -> None:
    chain = causes(_raised(_chained))
    assert [text.exception(c) for c in chain] == ["ValueError: while reading",
                                                  "ConnectionRefusedError: [Errno 111] Connection refused"]
    assert causes(_raised(_hidden)) == []


def test_causes_end_on_a_loop_and_at_their_limit() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    assert causes(first) == [second]
    links = [ValueError(str(i)) for i in range(20)]
    for near, far in zip(links, links[1:]):
        near.__cause__ = far
    assert causes(links[0]) == links[1:11]


def test_a_cause_is_one_escaped_line_cut_to_its_limit() -> None:
    hostile = text.exception(ValueError("\x1b]0;owned\x07line\nnext\r\u202eevil"))
    assert hostile == "ValueError: \\x1b]0;owned\\x07line\\nnext\\r\\u202eevil"
    assert text.exception(ValueError("x" * 5000)) == "ValueError: " + "x" * 300 + "..."
    assert text.exception(EOFError()) == "EOFError"
    assert text.exception(socket.gaierror(-2, "Name or service not known")) == \
        "socket.gaierror: [Errno -2] Name or service not known"
