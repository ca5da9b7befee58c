"""The transport's bounds against a misbehaving server on a local socket pair.

The same servers sit on real hosts' supervisord sockets, behind real sshd,
in test_hostile_fleet.py; here each bound is pinned down alone and fast.
"""

from __future__ import annotations

import socket
import threading
import time
import xmlrpc.client

import pytest

from herd.errors import ConnectError, HostTimeout, SupervisorUnavailable
from herd.supervisor import xmlsafe
from herd.supervisor.client import SupervisorClient
from herd.supervisor.transport import MAX_ANSWER, AnswerTooLarge, RPCPipe

OK_BODY = xmlrpc.client.dumps((4242,), methodresponse=True).encode()


def head(length: int | None = None, extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    return f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n{size}{extra}\r\n".encode()


def serve(behaviour):
    """An opener whose pipe is a socket pair; ``behaviour(sock)`` plays the server after each request."""
    def opener():
        ours, theirs = socket.socketpair()

        def run():
            try:
                theirs.recv(65536)          # the request (small: one recv)
                behaviour(theirs)
            except OSError:
                pass                        # herd closed its end: fine
            finally:
                theirs.close()

        threading.Thread(target=run, daemon=True).start()
        return ours
    return opener


def client(behaviour, timeout=1.0, max_answer=MAX_ANSWER):
    pipe = RPCPipe(serve(behaviour), timeout=timeout, max_answer=max_answer)
    return SupervisorClient("web01", pipe, endpoint="unix:///tmp/s.sock", timeout=timeout)


def drip(sock):
    sock.sendall(head(len(OK_BODY)))
    for byte in OK_BODY:
        sock.sendall(bytes([byte]))
        time.sleep(0.2)


def test_a_dripped_answer_cannot_hold_a_call_past_its_timeout():
    started = time.monotonic()
    with pytest.raises(HostTimeout, match="did not answer supervisor.getPID within 1 s"):
        client(drip, timeout=1.0).call("supervisor.getPID")
    assert time.monotonic() - started < 1.6      # each byte came within 0.2 s: a per-read timeout never fires


def test_a_hung_server_times_out():
    started = time.monotonic()
    with pytest.raises(HostTimeout):
        client(lambda sock: time.sleep(5), timeout=0.5).call("supervisor.getPID")
    assert time.monotonic() - started < 1.2


def test_a_declared_size_over_the_limit_is_refused_before_reading():
    def announce(sock):
        sock.sendall(head(10 * 1000))
        time.sleep(5)                                # never sends the body: herd must not wait for it
    started = time.monotonic()
    with pytest.raises(SupervisorUnavailable, match=r"larger than 0.00095\d* MB"):
        client(announce, timeout=3.0, max_answer=1000).call("supervisor.getPID")
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("framing", ["close", "chunked"])
def test_an_endless_answer_is_cut_at_the_limit(framing):
    sent = []

    def flood(sock):
        sock.sendall(head(extra="Transfer-Encoding: chunked\r\n" if framing == "chunked" else "Connection: close\r\n"))
        piece = b"x" * 65536
        while True:
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece
            sock.sendall(data)
            sent.append(len(piece))

    pipe = RPCPipe(serve(flood), timeout=5.0, max_answer=4 * 1024 * 1024)
    with pytest.raises(AnswerTooLarge):
        pipe.post(b"<x/>")
    assert sum(sent) < 4 * 1024 * 1024 + 2 * 1024 * 1024 + 8 * 65536   # read up to the limit (+ one piece)


def test_the_limit_is_named_in_one_sentence():
    with pytest.raises(SupervisorUnavailable) as info:
        client(lambda sock: sock.sendall(head(MAX_ANSWER + 1)), timeout=2.0).call("supervisor.getAllProcessInfo")
    assert info.value.reason.startswith("supervisord's answer to supervisor.getAllProcessInfo is larger than 64 MB")


@pytest.mark.parametrize("garbage", [
    b"\x1b]0;pwned\x07 SSH-2.0-OpenSSH\r\n\r\n",
    b"HTTP/1.1 2OO OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 70000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n",
])
def test_something_that_is_not_http_gets_a_plain_sentence(garbage):
    with pytest.raises(SupervisorUnavailable) as info:
        client(lambda sock: sock.sendall(garbage)).call("supervisor.getPID")
    assert info.value.reason == ("unix:///tmp/s.sock answered supervisor.getPID with something that is not "
                                 "supervisord's HTTP (is it supervisord?)")


def test_a_truncated_answer_is_a_lost_connection():
    with pytest.raises(ConnectError, match="in the middle of its answer"):
        client(lambda sock: sock.sendall(head(len(OK_BODY)) + OK_BODY[:10])).call("supervisor.getPID")


def test_a_healthy_answer_still_passes():
    assert client(lambda sock: sock.sendall(head(len(OK_BODY)) + OK_BODY)).call("supervisor.getPID") == 4242


BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lololololololololol">'
        + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                   for i in range(1, 10))
        + b']><methodResponse><params><param><value><string>&lol9;</string></value></param></params>'
          b'</methodResponse>')
EXTERNAL = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<methodResponse><params><param><value><string>&x;</string></value></param></params></methodResponse>')


@pytest.mark.parametrize("document", [BOMB, EXTERNAL, BOMB.replace(b"DOCTYPE", b"doctype")])
def test_entity_tricks_are_refused(document):
    with pytest.raises(xmlsafe.Refused):
        xmlsafe.loads(document)
    started = time.monotonic()
    with pytest.raises(SupervisorUnavailable, match="document type declaration"):
        client(lambda sock: sock.sendall(head(len(document)) + document)).call("supervisor.getPID")
    assert time.monotonic() - started < 1.0


def test_text_that_mentions_a_doctype_is_still_read():
    body = xmlrpc.client.dumps(("log says <!DOCTYPE html> and <!ENTITY x>",), methodresponse=True).encode()
    assert xmlsafe.loads(body)[0] == ("log says <!DOCTYPE html> and <!ENTITY x>",)
