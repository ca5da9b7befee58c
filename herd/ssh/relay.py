"""Fallback tunnel: a tiny relay executed on the host with its own Python.

Used when sshd refuses a streamlocal (or direct-tcpip) channel, e.g. with
``AllowStreamLocalForwarding no``.  Python is always on a supervisord host
(supervisord runs on it); socat and ``nc -U`` often are not.

The relay connects to the target first and reports the outcome before
relaying, so that failures are told apart reliably:

* success: it writes one byte, ``+``, then copies stdin <-> socket;
* failure: it writes ``!<errno> <message>`` to stderr and exits 3.

The script is Python 2/3 compatible (supervisor 4 still runs on 2.7).
"""

from __future__ import annotations

from herd.ssh.remote import READY, RelayError, Sudo, python_command  # noqa: F401  (READY, RelayError: re-exported)

# Connects to a socket path or host:port; shared with the discovering relay.
OPEN_SOCKET = r"""
import os, sys, socket, select

def open_socket(target):
    if target.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target)
        return s
    host, port = target.rsplit(":", 1)
    return socket.create_connection((host, int(port)))
"""

_CONNECT = OPEN_SOCKET + r"""
target = sys.argv[1]
try:
    s = open_socket(target)
except socket.error as e:
    sys.stderr.write("!%s %s\n" % (e.errno or 0, e.strerror or e))
    sys.exit(3)
os.write(1, b"+")
"""

# Copies stdin <-> the connected socket ``s`` until supervisord closes it;
# shared with the discovering relay (herd/ssh/discover.py).
RELAY_LOOP = r"""
fds = [0, s.fileno()]
while True:
    r = select.select(fds, [], [])[0]
    if 0 in r:
        data = os.read(0, 65536)
        if not data:
            s.shutdown(socket.SHUT_WR)
            fds.remove(0)
        else:
            s.sendall(data)
    if s.fileno() in r:
        data = s.recv(65536)
        if not data:
            break
        os.write(1, data)
"""

RELAY_SCRIPT = (_CONNECT + RELAY_LOOP).strip()


def relay_command(target: str, python: str | None, sudo: Sudo | None = None) -> str:
    """The shell command that runs the relay to ``target`` with the host's Python."""
    return python_command(RELAY_SCRIPT, [target], python, sudo)

