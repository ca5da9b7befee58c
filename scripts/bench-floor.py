#!/usr/bin/env python3
"""The floor for `herd status`: the least a paramiko program must do (scripts/bench).

    bench-floor.py HOSTS.json [--no-quickack]

HOSTS.json: {"user", "key", "known_hosts", "hosts": [{"name", "address", "port", "socket"}]}.

One thread per host, all at once: TCP connect (TCP_NODELAY, and TCP_QUICKACK
re-armed after each read, as herd does), SSH handshake, host key checked
against known_hosts, public-key auth, one direct-streamlocal channel to
supervisord's socket, one HTTP POST of supervisor.getAllProcessInfo; then one
line per process on stdout.  Like herd, it does not import invoke (paramiko
imports it only for ssh_config's `Match exec`).  No inventory, no config, no error handling
beyond "this host failed", no formatting: herd cannot do less work per host,
so its time over this one is what herd's own code costs.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
import xmlrpc.client

import types

if "invoke" not in sys.modules:   # as herd does: paramiko.config imports invoke only for `Match exec`
    class _Deferred(types.ModuleType):
        def __getattr__(self, name: str):
            del sys.modules["invoke"]
            return getattr(__import__("invoke"), name)
    sys.modules["invoke"] = _Deferred("invoke")

import paramiko  # noqa: E402
from paramiko.common import cMSG_CHANNEL_OPEN  # noqa: E402
from paramiko.message import Message  # noqa: E402

TIMEOUT = 30.0
QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class QuickAck:
    """Re-arm TCP_QUICKACK after every read (Linux clears it on its own)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)

    def recv(self, size: int, flags: int = 0) -> bytes:
        data = self._sock.recv(size, flags)
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        except OSError:
            pass
        return data

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def open_streamlocal(transport: paramiko.Transport, path: str) -> paramiko.Channel:
    """paramiko has no direct-streamlocal@openssh.com: build the CHANNEL_OPEN by hand."""
    with transport.lock:
        window = transport._sanitize_window_size(None)
        packet = transport._sanitize_packet_size(None)
        chanid = transport._next_channel()
        chan = paramiko.Channel(chanid)
        transport._channels.put(chanid, chan)
        event = threading.Event()
        transport.channel_events[chanid] = event
        transport.channels_seen[chanid] = True
        chan._set_transport(transport)
        chan._set_window(window, packet)
    m = Message()
    m.add_byte(cMSG_CHANNEL_OPEN)
    m.add_string("direct-streamlocal@openssh.com")
    m.add_int(chanid)
    m.add_int(window)
    m.add_int(packet)
    m.add_string(path)
    m.add_string("")
    m.add_int(0)
    transport._send_user_message(m)
    if not event.wait(TIMEOUT) or transport._channels.get(chanid) is None:
        raise paramiko.SSHException(f"channel to {path} refused")
    return chan


def status(host: dict, user: str, key: paramiko.PKey, known: paramiko.HostKeys,
           quickack: bool) -> list[dict]:
    sock = socket.create_connection((host["address"], host["port"]), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(QuickAck(sock) if quickack and QUICKACK else sock)
    try:
        transport.start_client(timeout=TIMEOUT)
        lookup = host["address"] if host["port"] == 22 else f"[{host['address']}]:{host['port']}"
        server_key = transport.get_remote_server_key()
        if not known.check(lookup, server_key):
            raise paramiko.SSHException(f"host key for {lookup} not in known_hosts")
        transport.auth_publickey(user, key)
        chan = open_streamlocal(transport, host["socket"])
        chan.settimeout(TIMEOUT)
        body = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()
        chan.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        response = http.client.HTTPResponse(chan)
        response.begin()
        (infos,), _ = xmlrpc.client.loads(response.read())
        return infos
    finally:
        transport.close()


def main(argv: list[str]) -> int:
    spec = json.loads(open(argv[0]).read())
    quickack = "--no-quickack" not in argv
    key = paramiko.PKey.from_path(spec["key"])
    known = paramiko.HostKeys(spec["known_hosts"])
    results: dict[str, list[dict] | Exception] = {}

    def one(host: dict) -> None:
        try:
            results[host["name"]] = status(host, spec["user"], key, known, quickack)
        except Exception as exc:  # the floor only reports which host failed
            results[host["name"]] = exc

    threads = [threading.Thread(target=one, args=(h,)) for h in spec["hosts"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = 0
    out = []
    for host in spec["hosts"]:
        result = results[host["name"]]
        if isinstance(result, Exception):
            failed += 1
            out.append(f"{host['name']} FAILED {result!r}")
        else:
            out += [f"{host['name']} {i['group']}:{i['name']} {i['statename']}" for i in result]
    print("\n".join(out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
