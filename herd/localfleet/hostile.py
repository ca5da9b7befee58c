#!/usr/bin/env python3
"""A misbehaving stand-in for supervisord, for the test fleet (herd.localfleet.fleet.Fleet.impersonate).

It listens where the host's supervisord listened (its unix socket, or its
inet_http_server port) so herd reaches it through the host's real sshd, and
answers every XML-RPC request the way BEHAVIOUR says::

    python herd/localfleet/hostile.py unix:/path/supervisor.sock escapes
    python herd/localfleet/hostile.py tcp:20015 drip

Behaviours:

    escapes   valid XML-RPC, as supervisord writes it (control characters raw),
              whose names, descriptions, spawn errors, version, log text and
              fault strings carry terminal escape sequences, CR/LF and fake rows
    many      a valid getAllProcessInfo of --processes processes (default 5000)
    huge      an answer announcing and sending --size bytes (default 400 MB)
    flood     an answer without a length, sent until herd hangs up
    drip      a valid answer, one byte every --interval seconds (default 0.5)
    hang      reads the request and never answers
    garbage   bytes that are not HTTP (with an escape sequence), then closes
    bomb      a valid-looking answer with an XML entity bomb in its DTD

Standard library only: it runs with whatever Python the fleet uses.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import threading
import time
import xmlrpc.client
from typing import Any

EVIL_NAME = "evil\x1b]0;title\x07"
EVIL_ROW = "\x1b[2J\r\n\x1b[1Aweb99  worker  RUNNING  4242  1:00:00"
EVIL_TEXT = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\r\nFAKE LINE\x9b1A\x1b[8mhidden\x1b[0m"
BEHAVIOURS = ("escapes", "many", "huge", "flood", "drip", "hang", "garbage", "bomb")
_METHOD = re.compile(rb"<methodName>([^<]*)</methodName>")


def process(name: str, group: str, state: int, statename: str, *, description: str = "", spawnerr: str = "",
            pid: int = 0) -> dict:
    now = int(time.time())
    return {"name": name, "group": group, "state": state, "statename": statename, "pid": pid,
            "start": now - 60 if pid else 0, "stop": 0, "now": now, "description": description,
            "spawnerr": spawnerr, "exitstatus": 0, "logfile": "/tmp/x.log", "stdout_logfile": "/tmp/x.log",
            "stderr_logfile": "/tmp/x.err"}


def evil_processes() -> list[dict]:
    return [
        process(EVIL_NAME, EVIL_NAME, 0, "STOPPED", description=EVIL_ROW),
        process("worker\r\nweb99", "tornado\x1b[8m", 200, "FATAL", spawnerr=EVIL_TEXT),
        process("fine", "fine", 20, "RUNNING", description=f"pid 42, uptime 0:01:00{EVIL_TEXT}", pid=42),
    ]


def evil_answer(method: str, params: tuple) -> object:
    """What the escapes behaviour answers to ``method``; an xmlrpc.client.Fault for anything else."""
    if method == "system.multicall":
        out = []
        for call in params[0]:
            try:
                out.append(evil_answer(call["methodName"], tuple(call.get("params", ()))))
            except xmlrpc.client.Fault as fault:
                out.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
        return out
    answers = {
        "supervisor.getAllProcessInfo": lambda: evil_processes(),
        "supervisor.getProcessInfo": lambda: evil_processes()[0],
        "supervisor.getState": lambda: {"statecode": 1, "statename": "RUNNING"},
        "supervisor.getPID": lambda: 4242,
        "supervisor.getSupervisorVersion": lambda: "4.2.5\x1b]0;version\x07",
        "supervisor.getAPIVersion": lambda: "3.0\r\nfake",
        "supervisor.getIdentification": lambda: EVIL_TEXT,
        "supervisor.getAllConfigInfo": lambda: [
            {"name": EVIL_NAME, "group": EVIL_NAME, "inuse": True, "autostart": True,
             "group_prio": 999, "process_prio": "1\x1b[2J"}],
        "supervisor.readLog": lambda: EVIL_TEXT + "\n",
        "supervisor.readProcessStdoutLog": lambda: EVIL_TEXT + "\n",
        "supervisor.readProcessStderrLog": lambda: EVIL_TEXT + "\n",
        "supervisor.tailProcessStdoutLog": lambda: [EVIL_TEXT + "\n", len(EVIL_TEXT) + 1, False],
        "supervisor.tailProcessStderrLog": lambda: [EVIL_TEXT + "\n", len(EVIL_TEXT) + 1, False],
    }
    if method not in answers:
        raise xmlrpc.client.Fault(10, f"BAD_NAME: {EVIL_TEXT}")
    return answers[method]()


def response_body(value: Any = None, fault: xmlrpc.client.Fault | None = None) -> bytes:
    if fault is not None:
        return xmlrpc.client.dumps(fault, methodresponse=True).encode("utf-8")
    return xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode("utf-8")


def head(length: int | None, close: bool = False) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: text/xml"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


BOMB = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lololololololololol">'
        + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                   for i in range(1, 10))
        + b']>\n<methodResponse><params><param><value><string>&lol9;</string></value></param></params>'
          b'</methodResponse>\n')


class Server:
    """One behaviour, served to every connection in its own thread."""

    def __init__(self, behaviour: str, options: argparse.Namespace) -> None:
        self.behaviour = behaviour
        self.options = options
        self._many: bytes | None = None
        self._many_procs: list[dict] = []

    def many_body(self, method: str, params: tuple) -> bytes:
        """getAllProcessInfo's answer, alone or in a multicall (as herd's first call of a connection
        asks it, with getSupervisorVersion); 4242 to anything else."""
        if self._many is None:
            self._many_procs = [process(f"p{i:05d}", f"group{i // 100:03d}", 20, "RUNNING", pid=1000 + i,
                                        description=f"pid {1000 + i}, uptime 0:01:00")
                                for i in range(self.options.processes)]
            self._many = response_body(self._many_procs)
        if method == "system.multicall":
            answers = {"supervisor.getAllProcessInfo": self._many_procs, "supervisor.getSupervisorVersion": "4.2.5"}
            return response_body([answers.get(c.get("methodName"), 4242) for c in params[0]])
        return self._many if method == "supervisor.getAllProcessInfo" else response_body(4242)

    def handle(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while True:
                method, params = read_request(reader)
                if method is None:
                    return
                if not self.answer(conn, method, params):
                    return
        except (OSError, ValueError):
            return
        finally:
            reader.close()
            conn.close()

    def answer(self, conn: socket.socket, method: str, params: tuple) -> bool:
        """Send one answer; False when the connection is to be closed."""
        b = self.behaviour
        if b == "escapes":
            try:
                body = response_body(evil_answer(method, params))
            except xmlrpc.client.Fault as fault:
                body = response_body(fault=fault)
            conn.sendall(head(len(body)) + body)
            return True
        if b == "many":
            body = self.many_body(method, params)
            conn.sendall(head(len(body)) + body)
            return True
        if b == "huge":
            size = self.options.size
            conn.sendall(head(size))
            send_junk(conn, size)
            return False
        if b == "flood":
            conn.sendall(head(None, close=True))
            send_junk(conn, None)
            return False
        if b == "drip":
            body = response_body(evil_processes() if method == "supervisor.getAllProcessInfo" else 4242)
            data = head(len(body)) + body
            for i in range(len(data)):
                conn.sendall(data[i:i + 1])
                time.sleep(self.options.interval)
            return True
        if b == "hang":
            time.sleep(3600)
            return False
        if b == "garbage":
            conn.sendall(b"\x1b]0;pwned\x07\x1b[2JSSH-2.0-not-http \xff\xfe garbage\r\n\r\n")
            return False
        if b == "bomb":
            conn.sendall(head(len(BOMB)) + BOMB)
            return True
        raise ValueError(b)


def send_junk(conn: socket.socket, size: int | None) -> None:
    """``size`` bytes (forever when None) of a never-ending XML string."""
    piece = b"<value><string>" + b"x" * (1024 * 1024 - 32) + b"</string></value>"
    sent = 0
    while size is None or sent < size:
        chunk = piece if size is None else piece[:size - sent]
        conn.sendall(chunk)
        sent += len(chunk)


def read_request(reader) -> tuple[str | None, tuple]:
    """The XML-RPC method and params of one HTTP POST, or (None, ()) at the end of the connection."""
    length = 0
    first = reader.readline(65537)
    if not first:
        return None, ()
    while True:
        line = reader.readline(65537)
        if not line or line in (b"\r\n", b"\n"):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = reader.read(length) if length else b""
    try:   # herd sends names as they came, control characters included: not XML, so blank them
        params, method = xmlrpc.client.loads(re.sub(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", b"?", body))
    except Exception:
        found = _METHOD.search(body)
        return (found.group(1).decode() if found else ""), ()
    return method or "", params


def listen(address: str) -> socket.socket:
    kind, _, where = address.partition(":")
    if kind == "unix":
        if os.path.exists(where):
            os.unlink(where)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(where)
    elif kind == "tcp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(where)))
    else:
        raise SystemExit(f"hostile_supervisord: ADDRESS must be unix:PATH or tcp:PORT, not {address!r}")
    sock.listen(64)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("address", metavar="ADDRESS", help="unix:PATH or tcp:PORT")
    parser.add_argument("behaviour", choices=BEHAVIOURS)
    parser.add_argument("--processes", type=int, default=5000)
    parser.add_argument("--size", type=int, default=400 * 1000 * 1000)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args(argv)
    server = Server(args.behaviour, args)
    sock = listen(args.address)
    print(f"hostile_supervisord: {args.behaviour} on {args.address}", flush=True)
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=server.handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
