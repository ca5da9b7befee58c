"""Probing the test fleet's servers: sshd's banner, supervisord's XML-RPC on its unix socket, open ports.

Standard library only (the fleet's own checks must not depend on the herd code
under test): a minimal XML-RPC transport over a unix socket, with basic auth.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import time
import xmlrpc.client
from typing import Any, Callable

from herd.localfleet.hosts import ADDRESS, INET_USERNAME, START_TIMEOUT, FleetError, FleetHost
from herd.localfleet.processes import backoff


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._path, self._timeout = path, timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        _, self._extra_headers, _ = self.get_host_info(host)   # basic auth from user:password@ in the URL
        return _UnixHTTPConnection(self._path, self._timeout)


def unix_rpc(socket_path: str, timeout: float = 10.0, password: str | None = None) -> xmlrpc.client.ServerProxy:
    """An XML-RPC proxy to the supervisord listening on ``socket_path`` (as INET_USERNAME with a password)."""
    auth = f"{INET_USERNAME}:{password}@" if password else ""
    return xmlrpc.client.ServerProxy(f"http://{auth}localhost/RPC2",
                                     transport=_UnixTransport(socket_path, timeout))


def wait_ssh_banner(port: int, alive: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
    """Wait until 127.0.0.1:port accepts and sends an SSH banner (while ``alive()``)."""
    deadline = time.monotonic() + timeout
    for delay in backoff():
        with contextlib.suppress(OSError):
            with socket.create_connection((ADDRESS, port), timeout=5) as sock:
                if sock.recv(256).startswith(b"SSH-"):
                    return
        if not alive():
            raise FleetError(f"sshd on port {port} exited")
        if time.monotonic() >= deadline:
            raise FleetError(f"sshd on port {port} sent no banner within {timeout:.0f}s")
        time.sleep(delay)


def accepts(port: int) -> bool:
    """Does something accept TCP connections on ADDRESS:port?"""
    try:
        with socket.create_connection((ADDRESS, port), timeout=1.0):
            return True
    except OSError:
        return False


def listening(host: FleetHost) -> bool:
    """True once something accepts connections where ``host``'s supervisord listens (its socket or inet port)."""
    with contextlib.suppress(OSError):
        if host.inet_port:
            socket.create_connection((ADDRESS, host.inet_port), timeout=1).close()
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(1)
                sock.connect(host.socket_path)
            finally:
                sock.close()
        return True
    return False
