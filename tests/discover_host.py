"""A fake host tree for the discovering agent (herd/ssh/agents/find_supervisord.py): its /etc, /proc, sockets.

The agent reads every host path through ROOT, so a test builds the host
under a directory of its own and runs the real script there (with its own
Python, and with Python 2.7 too): nothing reads the machine's /etc or /proc.
Processes are files (cmdline, status, mountinfo, a cwd link, fd links to
``socket:[INODE]``); /proc/net/unix and /proc/net/tcp list what they listen
on; a socket the agent connects to is a real one, bound inside the tree.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from herd.ssh.discover import discover_script

PYTHON27 = "/root/.pyenv/versions/2.7.18/bin/python"
NET_UNIX_HEADER = "Num       RefCount Protocol Flags    Type St Inode Path\n"
NET_TCP_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
                  "inode\n")


class FakeHost:
    """A host's files under ``root``; ``cwd`` is where the agent runs (inside the tree)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd = self.dir("/home/deploy")
        self.unix: list[tuple[int, str]] = []
        self.tcp: list[tuple[int, str, int]] = []
        self.servers: list[socket.socket] = []
        self.dir("/proc/self")
        self.file("/proc/self/mountinfo", "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
                                          "22 27 0:21 / /proc rw - proc proc rw\n")
        self.file("/etc/passwd", "root:x:0:0::/root:/bin/sh\ndeploy:x:2101:2101::/home/deploy:/bin/sh\n")

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    def dir(self, host_path: str) -> Path:
        path = self.path(host_path)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def file(self, host_path: str, text: str) -> None:
        self.dir(os.path.dirname(host_path))
        self.path(host_path).write_text(text)

    def process(self, pid: int, argv: list[str], *, uid: int = 0, cwd: str | None = "/",
                inodes: list[int] | None = None, mount: str = "27") -> None:
        """A process: ``inodes`` None means its fds cannot be read (another user's)."""
        proc = f"/proc/{pid}"
        self.dir(proc)
        self.path(f"{proc}/cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        self.file(f"{proc}/status", f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        self.file(f"{proc}/mountinfo", f"{mount} 1 254:0 / / rw - ext4 /dev/vda rw\n")
        if cwd is not None:
            os.symlink(cwd, self.path(f"{proc}/cwd"))
        if inodes is not None:
            fd = self.dir(f"{proc}/fd")
            os.symlink("/dev/null", fd / "0")
            for number, inode in enumerate(inodes, start=3):
                os.symlink(f"socket:[{inode}]", fd / str(number))

    def listen_unix(self, host_path: str, inode: int, *, bound_as: str | None = None) -> None:
        """A real socket at ``host_path`` in the tree, in /proc/net/unix as ``bound_as`` (supervisord: PATH.PID)."""
        self.dir(os.path.dirname(host_path))
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path(host_path)))
        self._serve(server)
        self.unix.append((inode, bound_as or host_path))

    def listen_tcp(self, inode: int, address: str = "127.0.0.1") -> int:
        """A real listening TCP socket on loopback; its port, as /proc/net/tcp will show it."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind((address, 0))
        self._serve(server)
        port = server.getsockname()[1]
        self.tcp.append((inode, address, port))
        return port

    def _serve(self, server: socket.socket) -> None:
        server.listen(4)
        self.servers.append(server)

        def serve() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                conn.close()

        threading.Thread(target=serve, daemon=True).start()

    def write_net(self) -> None:
        lines = [f"0000000000000000: 00000002 00000000 00010000 0001 01 {inode} {path}\n" for inode, path in self.unix]
        lines.append("0000000000000000: 00000003 00000000 00000000 0001 03 999 /run/connected.sock\n")
        self.file("/proc/net/unix", NET_UNIX_HEADER + "".join(lines))
        rows = []
        for n, (inode, address, port) in enumerate(self.tcp):
            packed = socket.inet_aton(address)
            word = int.from_bytes(packed, sys.byteorder)
            rows.append(f"   {n}: {word:08X}:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
                        f"     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n")
        self.file("/proc/net/tcp", NET_TCP_HEADER + "".join(rows))

    def run(self, common: list[str] | None = None, python: str = sys.executable) -> subprocess.CompletedProcess[bytes]:
        """The discovering relay, run in the tree (stdin closed: after its report it relays nothing)."""
        self.write_net()
        empty = self.dir("/empty-path")
        return subprocess.run([python, "-S", "-c", discover_script(common or [], root=str(self.root))],
                              cwd=self.cwd, capture_output=True, timeout=30, env={"PATH": str(empty)},
                              stdin=subprocess.DEVNULL)

    def close(self) -> None:
        for server in self.servers:
            server.close()


def report(done: subprocess.CompletedProcess[bytes]) -> dict:
    """The agent's JSON report after its ready byte (it found and connected)."""
    assert done.stdout[:1] == b"+", done.stderr.decode()
    return json.loads(done.stdout[1:].split(b"\n")[0])


def failure(done: subprocess.CompletedProcess[bytes]) -> dict:
    """The agent's ``!errno {json}`` failure."""
    assert done.returncode == 3 and done.stdout == b"", (done.stdout, done.stderr)
    line = done.stderr.decode().strip().splitlines()[-1]
    code, _, data = line[1:].partition(" ")
    return dict(json.loads(data), errno_line=int(code))
