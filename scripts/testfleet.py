#!/usr/bin/env python3
"""A local test fleet: K "hosts", each a real OpenSSH sshd and a real supervisord.

Every host listens on 127.0.0.1 only.  Used by the tests (``import testfleet``
with ``scripts/`` on sys.path), by ``scripts/demo`` and by benchmarks::

    python scripts/testfleet.py start DIR --hosts 3 --inet web03 --no-streamlocal web02
    python scripts/testfleet.py start DIR --hosts 2 --distro web01 --dropbear web02   # as root
    python scripts/testfleet.py status DIR
    python scripts/testfleet.py stop DIR

Layout of DIR::

    inventory.yaml  known_hosts  client_key(.pub)  state.json  app.py  worker.py
    web01/  sshd_config  ssh_host_ed25519_key(.pub)  sshd.log  supervisord.conf
            supervisor.sock  supervisor.pass (inet hosts)  app.broken (break_app)
            logs/  (supervisord.log, tornado-8080.out.log, worker.err.log, ...)

Distribution-style hosts (``--distro``, ``--dropbear``; root only) are built
like a Debian server in a mount namespace of their own: see "Distribution-style
hosts" below.

Ports: unless ``base_port`` is given, each fleet takes a block of 10 ports per
host from 20000-32767 (below the kernel's ephemeral range), reserved in a
small cross-process registry so fleets in parallel pytest-xdist workers never
collide.  Host i uses block+10*i+0..3 for tornado, +4 for sshd, +5 for
inet_http_server.  With an explicit ``base_port`` the tornado ports are
base_port+10*i+0..3 and sshd/inet ports still come from a reserved block.

Misbehaving hosts: ``Fleet.impersonate(name, behaviour)`` stops a host's
supervisord and serves its socket (or inet port) with
scripts/hostile_supervisord.py instead (escape sequences, a huge or endless
answer, a drip, a hang, garbage, an entity bomb, thousands of processes);
``Fleet.restore(name)`` puts supervisord back.

Processes: sshd runs as ``/usr/sbin/sshd -D -e -f CONFIG`` and supervisord as
``python -m supervisor.supervisord -n -c CONF``, both our own children in
their own sessions, so the recorded pid is the real one.  Stopping verifies
/proc/PID/cmdline before signalling, and also stops every descendant (sshd
session processes, supervised programs) and waits until they are all gone.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, cast

SSHD = "/usr/sbin/sshd"
ADDRESS = "127.0.0.1"
PROCS_PER_HOST = 4          # tornado numprocs, as in the seed deployment
PORT_STRIDE = 10            # ports per host in a block
SSH_SLOT, INET_SLOT = 4, 5  # offsets of the sshd and inet ports in a host's slot
SOCKET_PATH_MAX = 100       # sun_path is 108 bytes with the NUL; keep a margin
INET_USERNAME = "herd"
STATE_VERSION = 1
START_TIMEOUT = 30.0        # sshd banner / supervisord socket / programs RUNNING
SUPERVISORD_GRACE = 20.0    # supervisord stops its programs (stopwaitsecs=5)
_UNSAFE_PATH = re.compile(r"[\s%\"';#\\]")


class FleetError(RuntimeError):
    """A test fleet could not be started, reached or stopped; the message says why."""


# --------------------------------------------------------------------------
# Hosts and on-disk paths
# --------------------------------------------------------------------------

@dataclass
class FleetHost:
    """One fake host.  Path fields are absolute ``str`` (they go to JSON and YAML)."""

    name: str
    index: int
    address: str
    ssh_port: int
    dir: str
    socket_path: str
    conf_path: str
    inet_port: int | None
    password_file: str | None
    tornado_ports: list[int]
    streamlocal: bool
    sshd_pid: int | None = None
    supervisord_pid: int | None = None
    hostile_pid: int | None = None      # a misbehaving server in supervisord's place (impersonate)
    # Distribution-style hosts (see "Distribution-style hosts" below): their own
    # mount namespace, held by the process ns_pid; dropbear: Dropbear, not OpenSSH.
    distro: bool = False
    dropbear: bool = False
    ns_pid: int | None = None
    hidden: list[str] = field(default_factory=list)   # paths hidden in the namespace (/usr/bin/sudo)
    layout: str = "debian"          # or "fedora": /etc/supervisord.conf and supervisord.d/*.ini
    socket_owner: str | None = None  # [unix_http_server] chown (default root)

    @property
    def distro_conf(self) -> str:
        """Where the distro host's supervisord.conf is, inside its namespace."""
        return "/etc/supervisord.conf" if self.layout == "fedora" else DISTRO_CONF

    @property
    def ssh_marker(self) -> str:
        """What the SSH server's command line names (to recognise our own pid)."""
        return self.host_key_path if self.dropbear else self.sshd_config_path

    @property
    def rpc_socket(self) -> str:
        """supervisord's socket as this (root) process reaches it: through the
        namespace's root for a distro host."""
        if not self.distro:
            return self.socket_path
        # /var/run is an absolute symlink to /run: resolved outside the namespace, so skip it
        inside = re.sub(r"^/var/run/", "/run/", self.socket_path)
        return f"/proc/{self.ns_pid}/root{inside}"

    @property
    def sudo_password_file(self) -> str:
        """The password of the distro host's user ``ops`` (sudo asks for it)."""
        return os.path.join(self.dir, "sudo.pass")

    @property
    def sshd_config_path(self) -> str:
        return os.path.join(self.dir, "sshd_config")

    @property
    def host_key_path(self) -> str:
        return os.path.join(self.dir, "ssh_host_ed25519_key")

    @property
    def sshd_log_path(self) -> str:
        return os.path.join(self.dir, "sshd.log")

    @property
    def log_dir(self) -> str:
        return os.path.join(self.dir, "logs")

    @property
    def broken_flag_path(self) -> str:
        return os.path.join(self.dir, "app.broken")

    @property
    def inet_url(self) -> str | None:
        return f"http://{self.address}:{self.inet_port}" if self.inet_port else None

    @property
    def password(self) -> str | None:
        """The inet_http_server password (read from ``password_file``), or None."""
        if not self.password_file:
            return None
        return Path(self.password_file).read_text(encoding="utf-8").rstrip("\r\n")


def host_name(index: int) -> str:
    """The name of host number ``index`` (0-based): web01, web02, ..."""
    return f"web{index + 1:02d}"


# --------------------------------------------------------------------------
# Processes (/proc based, Linux only)
# --------------------------------------------------------------------------

def _backoff(first: float = 0.02, factor: float = 1.5, limit: float = 0.5) -> Iterator[float]:
    """Endless polling delays: short at first (fast on an idle machine), then
    longer, so 100 hosts waiting at once do not flood a small machine."""
    delay = first
    while True:
        yield delay
        delay = min(delay * factor, limit)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    if not pid:
        return False
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _pid_stopped(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] in ("T", "t")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode("utf-8", "replace").rstrip("\0").split("\0")


def _owns(pid: int | None, marker: str) -> bool:
    """True when ``pid`` is alive and its command line mentions ``marker``.

    sshd rewrites its title to ``sshd: /usr/sbin/sshd -D -e -f CONFIG [listener]
    ...``, so a substring check on the joined command line covers both sshd and
    supervisord (``... -c CONF``).
    """
    return pid_alive(pid) and marker in " ".join(_cmdline(pid))  # type: ignore[arg-type]


def _children_map() -> dict[int, list[int]]:
    """ppid -> children, from a scan of every /proc/PID/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _children(pid: int) -> list[int] | None:
    """Children of ``pid`` from /proc/PID/task/*/children (cheap), or None when
    the kernel lacks that file (then callers scan all of /proc)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except FileNotFoundError:
            return None if os.path.exists(f"/proc/{pid}") else []
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first, breadth-first)."""
    scanned: dict[int, list[int]] | None = None
    found, queue = [], [pid]
    while queue:
        parent = queue.pop(0)
        kids = _children(parent)
        if kids is None:
            scanned = scanned if scanned is not None else _children_map()
            kids = scanned.get(parent, [])
        found += kids
        queue += kids
    return [p for p in found if pid_alive(p)]


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class _Reaper:
    """Popen handles of the processes this Python process started, to reap them."""

    def __init__(self) -> None:
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs[proc.pid] = proc

    def alive(self, pid: int) -> bool:
        with self._lock:
            proc = self._procs.get(pid)
        if proc is not None and proc.poll() is not None:
            with self._lock:
                self._procs.pop(pid, None)
            return False
        return pid_alive(pid)

    def wait_gone(self, pids: Iterable[int], timeout: float) -> list[int]:
        """Wait until none of ``pids`` is alive; return those still alive at the deadline."""
        left = list(pids)
        deadline = time.monotonic() + timeout
        for delay in _backoff():
            left = [p for p in left if self.alive(p)]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(delay)
        return left


_REAPER = _Reaper()


def _freeze_tree(root: int) -> list[int]:
    """SIGSTOP ``root`` and all its descendants (until no new one appears)."""
    frozen: list[int] = []
    while True:
        fresh = [p for p in [root, *descendants(root)] if p not in frozen]
        if not fresh:
            return frozen
        _signal(fresh, signal.SIGSTOP)
        frozen.extend(fresh)


def kill_tree(root: int, marker: str, timeout: float = 5.0) -> None:
    """Stop ``root`` (only if its cmdline mentions ``marker``) and all its descendants.

    The whole tree is frozen first so nothing forks behind our back, then gets
    SIGTERM + SIGCONT, then SIGKILL for whatever is left after ``timeout``.
    """
    if not _owns(root, marker):
        return
    tree = _freeze_tree(root)
    _signal(tree, signal.SIGTERM)
    _signal(tree, signal.SIGCONT)
    left = _REAPER.wait_gone(tree, timeout)
    if left:
        _signal(left, signal.SIGKILL)
        _REAPER.wait_gone(left, 5.0)


def terminate_gracefully(root: int, marker: str, timeout: float) -> None:
    """SIGTERM ``root`` alone and let it stop its children; then kill leftovers."""
    if not _owns(root, marker):
        return
    tree = descendants(root)
    _signal([root], signal.SIGTERM)
    _signal([root], signal.SIGCONT)
    if _REAPER.wait_gone([root], timeout):
        kill_tree(root, marker)
    left = [p for p in tree if pid_alive(p)]
    if left:   # orphans of a supervisord that did not stop them (pids checked alive)
        _signal(left, signal.SIGKILL)
        _REAPER.wait_gone(left, 5.0)


def _spawn(argv: list[str], log_path: str, cwd: str, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in its own session, output appended to ``log_path``; return its pid."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                cwd=cwd, env=env, start_new_session=True)
    _REAPER.add(proc)
    return proc.pid


def _log_tail(path: str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"({path} is missing)"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# Port reservations shared by every fleet of this user
# --------------------------------------------------------------------------

def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _auto_window(size: int) -> tuple[int, int]:
    """Where automatic blocks go: 20000 up to the ephemeral range, else above it."""
    eph_low, eph_high = _ephemeral_range()
    if eph_low - 20000 >= size:
        return 20000, eph_low
    if 65535 - (eph_high + 1) >= size:
        return eph_high + 1, 65536
    return 20000, 65536


def _accepts(port: int) -> bool:
    """Does something accept TCP connections on ADDRESS:port?"""
    try:
        with socket.create_connection((ADDRESS, port), timeout=1.0):
            return True
    except OSError:
        return False


def port_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound (with SO_REUSEADDR, as servers do)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ADDRESS, port))
        except OSError:
            return False
    return True


class PortRegistry:
    """Port ranges reserved by live fleets, in a flock-protected directory.

    One JSON file per fleet: its ranges, its directory and the pid that made
    it.  A reservation is live while that pid or any pid in the fleet's
    state.json is alive; dead ones are dropped the next time someone reserves.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.gettempdir()) / f"testfleet-ports-{os.getuid()}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(mode=0o700, exist_ok=True)
        with open(self.root / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _live_ranges(self) -> list[tuple[range, str]]:
        ranges: list[tuple[range, str]] = []
        for path in self.root.glob("*.json"):
            try:
                entry = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if not _reservation_live(entry):
                path.unlink(missing_ok=True)
                continue
            ranges += [(range(lo, hi), entry["directory"]) for lo, hi in entry["ranges"]]
        return ranges

    def reserve(self, directory: Path, fixed: Sequence[range], auto_size: int,
                used: Callable[[int], list[int]]) -> tuple[str, int]:
        """Reserve ``fixed`` ranges and one automatic block of ``auto_size`` ports.

        ``used(start)`` lists the ports of a block starting at ``start`` that
        must be bindable now.  Returns (token, start of the automatic block).
        """
        with self._locked():
            taken = self._live_ranges()
            for want in fixed:
                _check_fixed(want, taken)
                taken.append((want, str(directory)))
            start = _pick_block(auto_size, taken, used)
            token = uuid.uuid4().hex
            ranges = [[r.start, r.stop] for r in fixed] + [[start, start + auto_size]]
            entry = {"directory": str(directory), "pid": os.getpid(), "ranges": ranges}
            (self.root / f"{token}.json").write_text(json.dumps(entry))
            return token, start

    def release(self, token: str | None) -> None:
        if token:
            with self._locked():
                (self.root / f"{token}.json").unlink(missing_ok=True)


def _reservation_live(entry: dict[str, Any]) -> bool:
    if pid_alive(entry.get("pid")):
        return True
    try:
        state = json.loads((Path(entry["directory"]) / "state.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    return any(pid_alive(h.get(k)) for h in state.get("hosts", [])
               for k in ("sshd_pid", "supervisord_pid"))


def _overlaps(a: range, b: range) -> bool:
    return a.start < b.stop and b.start < a.stop


def _check_fixed(want: range, taken: list[tuple[range, str]]) -> None:
    for have, owner in taken:
        if _overlaps(want, have):
            raise FleetError(f"ports {want.start}-{want.stop - 1} overlap ports reserved by "
                             f"the fleet in {owner}: stop it or pick another --base-port")


def _pick_block(size: int, taken: list[tuple[range, str]], used: Callable[[int], list[int]]) -> int:
    low, high = _auto_window(size)
    slots = (high - low - size) // PORT_STRIDE
    if slots <= 0:
        raise FleetError(f"no room for {size} ports between {low} and {high}")
    for _ in range(200):
        start = low + PORT_STRIDE * random.randrange(slots)
        block = range(start, start + size)
        if any(_overlaps(block, have) for have, _ in taken):
            continue
        if all(port_free(p) for p in used(start)):
            return start
    raise FleetError(f"found no free block of {size} ports between {low} and {high}")


# --------------------------------------------------------------------------
# File contents
# --------------------------------------------------------------------------

APP_SOURCE = r'''"""testfleet app: GET / -> 200 "ok <port> <pid>" on 127.0.0.1.

--light serves with bare sockets (no tornado) to save memory.  Exits 1 at
start-up when --broken-flag names an existing file (testfleet break_app).
With --log_file_prefix=FILE (the seed deployment's tornado option) it logs
to that file, as tornado does, instead of stdout.
"""
import os
import signal
import sys
import time

LOG = [sys.stdout]


def log(*parts):
    print(time.strftime("%Y-%m-%dT%H:%M:%S"), *parts, flush=True, file=LOG[0])


def options(argv):
    opts = {"port": None, "broken-flag": None, "light": False}
    for arg in argv:
        key, _, value = arg.lstrip("-").partition("=")
        opts[key] = value or True
    return int(opts["port"]), opts["broken-flag"], opts["light"]


def options_log_file(argv):
    for arg in argv:
        if arg.startswith("--log_file_prefix="):
            return arg.partition("=")[2]
    return None


def on_term(signum, frame):
    log("app stopping on signal", signum)
    os._exit(0)


def serve_light(port):
    import socket
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    log("app (light) listening on 127.0.0.1:%d pid %d" % (port, os.getpid()))
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                path = data.split(b" ", 2)[1] if data.count(b" ") >= 2 else b""
                status, body = ("200 OK", "ok %d %d" % (port, os.getpid())) if path == b"/" \
                    else ("404 Not Found", "not found")
                conn.sendall(("HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                              "Connection: close\r\n\r\n%s" % (status, len(body), body)).encode())
                log("GET", path.decode(errors="replace"), status.split()[0])
            except OSError:
                pass


def serve_tornado(port):
    import asyncio
    import tornado.web

    class Root(tornado.web.RequestHandler):
        def get(self):
            self.write("ok %d %d" % (port, os.getpid()))

    def log_request(handler):
        log(handler.request.method, handler.request.uri, handler.get_status())

    async def main():
        tornado.web.Application([(r"/", Root)], log_function=log_request).listen(
            port, address="127.0.0.1")
        log("app (tornado) listening on 127.0.0.1:%d pid %d" % (port, os.getpid()))
        await asyncio.Event().wait()

    asyncio.run(main())


def main():
    port, flag, light = options(sys.argv[1:])
    prefix = options_log_file(sys.argv[1:])
    if prefix:
        LOG[0] = open(prefix, "a", buffering=1)
    if flag and os.path.exists(flag):
        print("app: refusing to start on port %d: %s exists (testfleet break_app)"
              % (port, flag), file=sys.stderr, flush=True)
        sys.exit(1)
    signal.signal(signal.SIGTERM, on_term)
    (serve_light if light else serve_tornado)(port)


if __name__ == "__main__":
    main()
'''

WORKER_SOURCE = r'''"""testfleet worker: a line on stdout every second, one on stderr every 5 s."""
import os
import signal
import sys
import time

host = sys.argv[1] if len(sys.argv) > 1 else "?"
signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
n = 0
while True:
    n += 1
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print("%s worker %s tick %d" % (stamp, host, n), flush=True)
    if n % 5 == 1:
        print("%s worker %s stderr tick %d" % (stamp, host, n), file=sys.stderr, flush=True)
    time.sleep(1)
'''


SEED_APP_SOURCE = r'''"""testfleet seed app (main.py): the Tornado app of the seed deployment, logging to its own file.

Run as the seed's [program:tornado] runs it: --port, --logging=info,
--log_file_prefix=FILE (stdout/stderr are not logged by supervisord).  It
logs a line every second ("app tick N port P") and one per request; GET /
answers "ok PORT PID".  With tornado missing (python -S, a light fleet) the
same options and log format are served by the standard library.
"""
import logging
import os
import sys
import threading
import time

log = logging.getLogger("app")


def ticks(port):
    n = 0
    while True:
        n += 1
        log.info("app tick %d port %d", n, port)
        time.sleep(1)


def options():
    opts = {"port": "8888", "logging": "info", "log_file_prefix": None}
    for arg in sys.argv[1:]:
        key, _, value = arg.lstrip("-").partition("=")
        opts[key.replace("-", "_")] = value
    return opts


def stdlib_main():
    opts = options()
    port = int(opts["port"])
    handler = logging.FileHandler(opts["log_file_prefix"]) if opts["log_file_prefix"] else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d] %(message)s",
                                           "%y%m%d %H:%M:%S"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(getattr(logging, opts["logging"].upper()))
    import socket
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    log.info("app (light) listening on 127.0.0.1:%d pid %d", port, os.getpid())
    threading.Thread(target=ticks, args=(port,), daemon=True).start()
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(65536)
                body = "ok %d %d" % (port, os.getpid())
                conn.sendall(("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                              % (len(body), body)).encode())
                log.info("200 GET / (127.0.0.1)")
            except OSError:
                pass


def tornado_main():
    import asyncio
    import tornado.options
    import tornado.web

    tornado.options.define("port", default=8888, type=int)
    tornado.options.parse_command_line()
    port = tornado.options.options.port

    class Root(tornado.web.RequestHandler):
        def get(self):
            self.write("ok %d %d" % (port, os.getpid()))

    async def main():
        tornado.web.Application([(r"/", Root)]).listen(port, address="127.0.0.1")
        log.info("app (tornado) listening on 127.0.0.1:%d pid %d", port, os.getpid())
        threading.Thread(target=ticks, args=(port,), daemon=True).start()
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    try:
        import tornado  # noqa: F401
    except ImportError:
        stdlib_main()
    else:
        tornado_main()
'''


_CAT = os.path.realpath(shutil.which("cat") or "/bin/cat")


def _current_user() -> str:
    """The login name of the user running the fleet (sshd's and herd's user)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def sshd_config(fleet: Fleet, host: FleetHost) -> str:
    """The sshd_config of one host."""
    bindir = os.path.dirname(fleet.python)
    return f"""\
# written by scripts/testfleet.py for {host.name}
Port {host.ssh_port}
ListenAddress {host.address}
HostKey {host.host_key_path}
PidFile {os.path.join(host.dir, "sshd.pid")}
AuthorizedKeysFile {fleet.client_key_path}.pub
# sshd reads AuthorizedKeysFile as the target user, who may not reach DIR (a 0700
# pytest tmp dir): this lets every local user log in with the fleet's key too.
AuthorizedKeysCommand {_CAT} {fleet.client_key_path}.pub
AuthorizedKeysCommandUser {_current_user()}
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 100:30:200
MaxSessions 100
AllowTcpForwarding yes
AllowStreamLocalForwarding {"yes" if host.streamlocal else "no"}
X11Forwarding no
PrintMotd no
SetEnv PATH={bindir}:/usr/local/bin:/usr/bin:/bin
LogLevel VERBOSE
"""


def _daemon_sections(host: FleetHost, pidfile: str) -> str:
    """[supervisord] and [rpcinterface:supervisor], as every host of the fleet has them."""
    return f"""[supervisord]
logfile={host.log_dir}/supervisord.log
pidfile={pidfile}
childlogdir={host.log_dir}
identifier={host.name}
nodaemon=true
minfds=256
minprocs=64

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""


def supervisord_conf(fleet: Fleet, host: FleetHost, password: str | None) -> str:
    """The supervisord.conf of one host (the inet password only as a SHA-1 hash)."""
    py, d, logs = fleet.python, fleet.directory, host.log_dir
    light = " -S" if fleet.light else ""
    tornado = seed_tornado(fleet, host) if fleet.seed_app else f"""\
[program:tornado]
command={py}{light} {d}/app.py --port=%(process_num)s --broken-flag={host.broken_flag_path}{" --light" if fleet.light else ""}
process_name=%(program_name)s-%(process_num)s
numprocs={PROCS_PER_HOST}
numprocs_start={host.tornado_ports[0]}
directory={host.dir}
startsecs=1
stopwaitsecs=5
stdout_logfile={logs}/%(program_name)s-%(process_num)s.out.log
stderr_logfile={logs}/%(program_name)s-%(process_num)s.err.log
"""
    inet = ""
    if host.inet_port:
        digest = hashlib.sha1((password or "").encode()).hexdigest()
        inet = (f"\n[inet_http_server]\nport={host.address}:{host.inet_port}\n"
                f"username={INET_USERNAME}\npassword={{SHA}}{digest}\n")
    return f"""\
; written by scripts/testfleet.py for {host.name}
[unix_http_server]
file={host.socket_path}
chmod=0700
{inet}
{_daemon_sections(host, f"{host.dir}/supervisord.pid")}
[supervisorctl]
serverurl=unix://{host.socket_path}

{tornado}
[program:worker]
command={py} -S -u {d}/worker.py {host.name}
directory={host.dir}
startsecs=1
stopwaitsecs=5
stdout_logfile={logs}/worker.out.log
stderr_logfile={logs}/worker.err.log
"""


def seed_tornado(fleet: Fleet, host: FleetHost) -> str:
    """The seed deployment's [program:tornado], verbatim but for the interpreter and the first port:
    supervisord logs nothing (NONE), Tornado writes %(here)s/log/tornado-PORT.log itself."""
    return f"""[program:tornado]
command={fleet.python}{" -S" if fleet.light else ""}
\t%(here)s/main.py
\t--port=%(process_num)s
\t--logging=info
\t--log_file_prefix=%(here)s/log/%(program_name)s-%(process_num)s.log
process_name=%(program_name)s-%(process_num)s
directory=%(here)s
numprocs={PROCS_PER_HOST}
numprocs_start={host.tornado_ports[0]}
stdout_logfile=NONE
stderr_logfile=NONE
"""


def distro_log_template(host: FleetHost) -> str:
    """A distro host's seed log files, inside its namespace: %(here)s is the program's conf.d."""
    conf_d = "/etc/supervisord.d" if host.layout == "fedora" else "/etc/supervisor/conf.d"
    return f"{conf_d}/log/{{program}}-{{num}}.log"


def seed_log_template(fleet: Fleet) -> str:
    """The inventory's ``logs:`` template of the seed app's files (one per process, per host)."""
    return f"{fleet.directory}/{{host}}/log/{{program}}-{{num}}.log"


_PLAIN_YAML = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@+-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _yaml_str(value: str) -> str:
    """A YAML scalar that always loads back as the string ``value``."""
    plain = _PLAIN_YAML.match(value) and value.lower() not in _YAML_WORDS \
        and not re.fullmatch(r"[0-9._:+-]+", value)
    return value if plain else json.dumps(value)


def inventory_yaml(fleet: Fleet) -> str:
    """The herd inventory of the fleet (only keys herd's strict schema accepts)."""
    lines = ["# written by scripts/testfleet.py", "defaults:",
             f"  user: {_yaml_str(_current_user())}",
             f"  identity_file: {_yaml_str(str(fleet.client_key_path))}",
             f"  known_hosts: {_yaml_str(str(fleet.known_hosts_path))}", "hosts:"]
    for host in fleet.hosts:
        lines += [f"  {host.name}:", f"    address: {host.address}", f"    port: {host.ssh_port}"]
        if host.distro:   # log in as an unprivileged user; supervisord's socket is root's
            lines += [f"    user: {DISTRO_LOGIN}", "    become: true"]
        lines += ["    supervisor:"]
        if host.inet_port:
            lines += [f"      url: {host.inet_url}", f"      username: {INET_USERNAME}",
                      f"      password_file: {_yaml_str(str(host.password_file))}"]
        else:
            lines += [f"      socket: {_yaml_str(host.socket_path)}"]
            if host.password_file:   # a distro host with supervisor credentials
                lines += [f"      username: {INET_USERNAME}",
                          f"      password_file: {_yaml_str(str(host.password_file))}"]
        if host.distro and fleet.seed_app:   # the seed's log files, where the distribution keeps the program
            lines += ["    logs:", f"      tornado: {_yaml_str(distro_log_template(host))}"]
    lines += ["groups:"] + [f"  {name}: [{', '.join(members)}]"
                            for name, members in _groups(fleet.hosts).items()]
    if fleet.seed_app:
        lines += ["logs:", f"  tornado: {_yaml_str(seed_log_template(fleet))}"]
    return "\n".join(lines) + "\n"


def _groups(hosts: list[FleetHost]) -> dict[str, list[str]]:
    groups = {"web": [h.name for h in hosts],
              "odd": [h.name for h in hosts if h.index % 2 == 0],
              "even": [h.name for h in hosts if h.index % 2 == 1]}
    groups = {k: v for k, v in groups.items() if v}
    groups["fleet"] = ['"@web"']
    return groups


# --------------------------------------------------------------------------
# Talking to supervisord and sshd
# --------------------------------------------------------------------------

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
    for delay in _backoff():
        with contextlib.suppress(OSError):
            with socket.create_connection((ADDRESS, port), timeout=5) as sock:
                if sock.recv(256).startswith(b"SSH-"):
                    return
        if not alive():
            raise FleetError(f"sshd on port {port} exited")
        if time.monotonic() >= deadline:
            raise FleetError(f"sshd on port {port} sent no banner within {timeout:.0f}s")
        time.sleep(delay)


# --------------------------------------------------------------------------
# The fleet
# --------------------------------------------------------------------------

@dataclass
class _Plan:
    """What Fleet.start needs before any file is written."""

    directory: Path
    count: int
    base_port: int | None
    no_streamlocal: frozenset[str]
    inet: frozenset[str]
    names: list[str] = field(default_factory=list)
    distro: frozenset[str] = frozenset()     # Debian-style hosts (dropbear ones included)
    dropbear: frozenset[str] = frozenset()
    hidden: dict[str, list[str]] = field(default_factory=dict)
    layouts: dict[str, dict[str, Any]] = field(default_factory=dict)


class Fleet:
    """A running (or stopped) test fleet rooted at ``directory``."""

    extra_config = ""   # see start(); only used when writing the hosts' files
    seed_app = False    # see start(): the seed's Tornado program, logging to its own files

    def __init__(self, directory: Path, hosts: list[FleetHost], *, python: str,
                 light: bool = False, reservation: str | None = None,
                 short_dir: str | None = None) -> None:
        self.directory = directory
        self.hosts = hosts
        self.python = python
        self.light = light
        self.reservation = reservation
        self.short_dir = short_dir
        self._lock = threading.Lock()

    # -- paths ---------------------------------------------------------------
    @property
    def inventory_path(self) -> Path:
        return self.directory / "inventory.yaml"

    @property
    def known_hosts_path(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def client_key_path(self) -> Path:
        return self.directory / "client_key"

    @property
    def state_path(self) -> Path:
        return self.directory / "state.json"

    def host(self, name: str) -> FleetHost:
        """The host called ``name``; FleetError if there is none."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise FleetError(f"no host {name!r} in the fleet at {self.directory}")

    # -- creation ------------------------------------------------------------
    @classmethod
    def start(cls, directory: str | os.PathLike[str], hosts: int = 3, base_port: int | None = None,
              no_streamlocal: Iterable[str] = (), inet: Iterable[str] = (),
              light: bool = False, extra_config: str = "", distro: Iterable[str] = (),
              dropbear: Iterable[str] = (), hidden: dict[str, list[str]] | None = None,
              layouts: dict[str, dict[str, Any]] | None = None, seed_app: bool = False) -> Fleet:
        """Create and start a fleet of ``hosts`` hosts in ``directory``; return when all
        sshd answer with a banner and every supervised program is RUNNING.

        ``extra_config`` (off by default) is appended to every host's
        supervisord.conf, e.g. extra ``[program:x]`` sections for a test;
        ``{name}``, ``{dir}``, ``{logs}`` and ``{python}`` in it become the
        host's name, directory, log directory and the fleet's Python.

        ``distro`` hosts are built like a Debian server (root only): see
        "Distribution-style hosts" below; ``dropbear`` hosts are distro
        hosts whose SSH server is Dropbear; ``hidden`` maps a distro host to
        paths that do not exist on it (``{"web03": ["/usr/bin/sudo"]}``);
        ``layouts`` changes a distro host's supervisord set-up:
        ``{"web02": {"layout": "fedora", "socket": "/run/supervisor/herd.sock",
        "owner": "deploy", "auth": True}}`` (auth: a username and password in
        [unix_http_server] and [supervisorctl], the password in password_file).

        ``seed_app`` (off by default) runs the seed deployment's Tornado
        program on the plain hosts instead (stdout_logfile=NONE,
        stderr_logfile=NONE, Tornado writing WEBNN/log/tornado-PORT.log via
        --log_file_prefix, a line a second and one per request) and names
        those files under ``logs:`` in the inventory."""
        plan = _plan(Path(directory), hosts, base_port, no_streamlocal, inet, distro, dropbear, hidden or {},
                     layouts or {})
        registry = PortRegistry()
        fleet = cls._allocate(plan, registry, light)
        fleet.extra_config = extra_config
        fleet.seed_app = seed_app
        try:
            fleet._write_files()
            fleet._parallel(fleet._start_host, [h.name for h in fleet.hosts])
        except BaseException:
            with contextlib.suppress(Exception):
                fleet.stop()
            raise
        return fleet

    @classmethod
    def _allocate(cls, plan: _Plan, registry: PortRegistry, light: bool) -> Fleet:
        size = PORT_STRIDE * plan.count
        fixed = [range(plan.base_port, plan.base_port + size)] if plan.base_port else []
        if plan.base_port:
            _check_fixed_ports_free(plan.base_port, plan.count)

        def used(start: int) -> list[int]:
            ports = [start + PORT_STRIDE * i + s for i in range(plan.count) for s in (SSH_SLOT, INET_SLOT)]
            if not plan.base_port:
                ports += _tornado_ports(start, range(plan.count))
            return ports

        token, block = registry.reserve(plan.directory, fixed, size, used)
        short_dir = _short_socket_dir(plan.directory, plan.names)
        hosts = [_make_host(plan, i, block, short_dir) for i in range(plan.count)]
        return cls(plan.directory, hosts, python=sys.executable, light=light,
                   reservation=token, short_dir=short_dir)

    def _write_files(self) -> None:
        d = self.directory
        (d / "app.py").write_text(APP_SOURCE)
        (d / "worker.py").write_text(WORKER_SOURCE)
        _keygen(self.client_key_path, "testfleet-client")
        self._parallel(self._write_host_files, [h.name for h in self.hosts])
        self.known_hosts_path.write_text("".join(_known_hosts_line(h) for h in self.hosts))
        self.inventory_path.write_text(inventory_yaml(self))
        self.save()

    def _write_host_files(self, name: str) -> None:
        host = self.host(name)
        os.makedirs(host.log_dir, exist_ok=True)
        if self.seed_app:
            os.makedirs(os.path.join(host.dir, "log"), exist_ok=True)
            Path(host.dir, "main.py").write_text(SEED_APP_SOURCE)
        if host.distro:
            _write_distro_files(self, host)
            return
        _keygen(Path(host.host_key_path), f"testfleet-{host.name}")
        password = None
        if host.password_file:
            password = secrets.token_urlsafe(18) + "@:/%#"   # needs quoting in a URL
            _write_private(host.password_file, password + "\n")
        Path(host.sshd_config_path).write_text(sshd_config(self, host))
        extra = self.extra_config
        for key, value in (("{name}", host.name), ("{dir}", host.dir), ("{logs}", host.log_dir),
                           ("{python}", self.python)):
            extra = extra.replace(key, value)
        Path(host.conf_path).write_text(supervisord_conf(self, host, password) + extra)

    def _start_host(self, name: str) -> None:
        timeout = START_TIMEOUT + 0.5 * len(self.hosts)   # 100 hosts on 2 CPUs take ~25 s
        self.start_sshd(name, timeout)
        self.start_supervisord(name, timeout)

    def _parallel(self, func: Callable[[str], None], names: list[str]) -> None:
        """Run ``func(name)`` for every name in threads; raise one FleetError for all failures."""
        if not names:
            return
        with ThreadPoolExecutor(max_workers=min(len(names), 64)) as pool:
            futures = {name: pool.submit(func, name) for name in names}
        errors = [_prefixed(name, fut.exception()) for name, fut in futures.items() if fut.exception()]
        if errors:
            raise FleetError("\n".join(errors))

    # -- persistence ---------------------------------------------------------
    def save(self) -> None:
        """Write state.json atomically."""
        state = {"version": STATE_VERSION, "directory": str(self.directory),
                 "python": self.python, "light": self.light, "seed_app": self.seed_app,
                 "reservation": self.reservation, "short_dir": self.short_dir,
                 "hosts": [asdict(h) for h in self.hosts]}
        with self._lock:
            tmp = self.state_path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(json.dumps(state, indent=2) + "\n")
            tmp.replace(self.state_path)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Fleet:
        """The fleet described by ``directory``/state.json."""
        path = Path(directory).resolve() / "state.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise FleetError(f"no test fleet in {directory} ({path} is missing)") from None
        except ValueError as exc:
            raise FleetError(f"{path} is not valid JSON: {exc}") from None
        if state.get("version") != STATE_VERSION:
            raise FleetError(f"{path} has state version {state.get('version')}, expected {STATE_VERSION}")
        hosts = [FleetHost(**h) for h in state["hosts"]]
        fleet = cls(Path(state["directory"]), hosts, python=state["python"], light=state["light"],
                    reservation=state["reservation"], short_dir=state["short_dir"])
        fleet.seed_app = bool(state.get("seed_app", False))
        return fleet

    # -- sshd ----------------------------------------------------------------
    def start_sshd(self, name: str, timeout: float = START_TIMEOUT) -> None:
        """Start ``name``'s sshd (same port, same host key); return once it sends its banner."""
        host = self.host(name)
        if _owns(host.sshd_pid, host.ssh_marker):
            raise FleetError(f"{name}: sshd is already running (pid {host.sshd_pid})")
        _ensure_privsep_dir()
        argv = [SSHD, "-D", "-e", "-f", host.sshd_config_path]
        if host.distro:
            argv = _in_namespace(self, host, _dropbear_argv(host) if host.dropbear else argv)
        pid = _spawn(argv, host.sshd_log_path, host.dir)
        host.sshd_pid = pid
        self.save()
        try:
            wait_ssh_banner(host.ssh_port, lambda: _REAPER.alive(pid), timeout)
        except FleetError as exc:
            raise FleetError(f"{name}: {exc}; end of {host.sshd_log_path}:\n"
                             f"{_log_tail(host.sshd_log_path)}") from None

    def stop_sshd(self, name: str) -> None:
        """Stop ``name``'s sshd and every session it serves (like a host going down)."""
        host = self.host(name)
        if host.sshd_pid:
            kill_tree(host.sshd_pid, host.ssh_marker)
        host.sshd_pid = None
        self.save()

    def pause_sshd(self, name: str) -> None:
        """SIGSTOP the listening sshd: new connections hang before the banner."""
        self._signal_sshd(name, signal.SIGSTOP)

    def resume_sshd(self, name: str) -> None:
        """SIGCONT the listening sshd."""
        self._signal_sshd(name, signal.SIGCONT)

    def _signal_sshd(self, name: str, sig: int) -> None:
        host = self.host(name)
        if not _owns(host.sshd_pid, host.ssh_marker):
            raise FleetError(f"{name}: sshd is not running")
        os.kill(host.sshd_pid, sig)  # type: ignore[arg-type]

    # -- supervisord ---------------------------------------------------------
    def start_supervisord(self, name: str, timeout: float = START_TIMEOUT) -> None:
        """Start ``name``'s supervisord; return when its socket answers and the
        autostart programs are RUNNING."""
        host = self.host(name)
        if _owns(host.supervisord_pid, host.conf_path):
            raise FleetError(f"{name}: supervisord is already running (pid {host.supervisord_pid})")
        argv = [self.python, "-m", "supervisor.supervisord", "-n", "-c", host.conf_path]
        env = _supervisord_env()
        if host.distro:   # as Debian starts it; -j names our staged file, to recognise the pid
            argv = _in_namespace(self, host, [self.python, "-m", "supervisor.supervisord", "-n", "-c",
                                              host.distro_conf, "-j", f"{host.conf_path}.pid"])
            env["PATH"] = f"{os.path.dirname(self.python)}:{env.get('PATH', '/usr/bin:/bin')}"
        out = os.path.join(host.log_dir, "supervisord.out")
        pid = _spawn(argv, out, host.dir, env)
        host.supervisord_pid = pid
        self.save()
        try:
            self._wait_socket(host, lambda: _REAPER.alive(pid), timeout)
        except FleetError as exc:
            raise FleetError(f"{name}: {exc}; end of {out}:\n{_log_tail(out)}") from None
        self.wait_running(name, timeout)

    def stop_supervisord(self, name: str) -> None:
        """Stop ``name``'s supervisord gracefully (it stops its programs first)."""
        host = self.host(name)
        if host.supervisord_pid:
            terminate_gracefully(host.supervisord_pid, host.conf_path, SUPERVISORD_GRACE)
        host.supervisord_pid = None
        self.save()

    def rpc(self, name: str, timeout: float = 10.0) -> xmlrpc.client.ServerProxy:
        """An XML-RPC proxy to ``name``'s supervisord over its unix socket."""
        host = self.host(name)
        return unix_rpc(host.rpc_socket, timeout, host.password if host.distro else None)

    def supervisorctl(self, name: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the real supervisorctl against ``name``'s config (text output, never raises on exit code)."""
        host = self.host(name)
        argv = [self.python, "-m", "supervisor.supervisorctl", "-c", host.conf_path, *args]
        if host.distro:
            argv = _nsenter(host, [self.python, "-m", "supervisor.supervisorctl", "-c", host.distro_conf, *args])
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=_supervisord_env(), stdin=subprocess.DEVNULL)

    def _wait_socket(self, host: FleetHost, alive: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for delay in _backoff():
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                state = cast(dict[str, Any], self.rpc(host.name, 5.0).supervisor.getState())
                if state["statename"] == "RUNNING":
                    return
            if not alive():
                raise FleetError("supervisord exited")
            if time.monotonic() >= deadline:
                raise FleetError(f"supervisord did not answer on {host.socket_path} within {timeout:.0f}s")
            time.sleep(delay)

    def process_states(self, name: str) -> dict[str, str]:
        """``{"tornado:tornado-8080": "RUNNING", ..., "worker:worker": ...}`` for ``name``."""
        infos = cast(list[dict[str, Any]], self.rpc(name, 10.0).supervisor.getAllProcessInfo())
        return {f"{i['group']}:{i['name']}": i["statename"] for i in infos}

    def wait_running(self, name: str, timeout: float = 20) -> None:
        """Wait until every autostart process of ``name`` is RUNNING and the app's ports accept
        connections; FleetError on timeout."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] | str = {}
        wanted: set[str] | None = None
        for delay in _backoff(0.1):
            try:
                if wanted is None:
                    configs = cast(list[dict[str, Any]], self.rpc(name, 10.0).supervisor.getAllConfigInfo())
                    wanted = {f"{c['group']}:{c['name']}" for c in configs if c["autostart"]}
                states = {k: v for k, v in self.process_states(name).items() if k in wanted}
                if len(states) == len(wanted) and all(v == "RUNNING" for v in states.values()) \
                        and all(_accepts(port) for port in self.host(name).tornado_ports):
                    return  # RUNNING is a timer (startsecs); on a busy machine the app listens later
            except (OSError, xmlrpc.client.Error) as exc:
                states = f"supervisord unreachable: {exc}"
            if time.monotonic() >= deadline:
                raise FleetError(f"{name}: not every program RUNNING after {timeout:.0f}s: {states}")
            time.sleep(delay)

    # -- the app -------------------------------------------------------------
    def break_app(self, name: str) -> None:
        """Make ``name``'s tornado processes exit 1 at their next start-up."""
        Path(self.host(name).broken_flag_path).write_text("broken by testfleet break_app\n")

    def fix_app(self, name: str) -> None:
        """Undo break_app (running processes are not touched)."""
        Path(self.host(name).broken_flag_path).unlink(missing_ok=True)

    # -- a misbehaving supervisord ----------------------------------------------
    def impersonate(self, name: str, behaviour: str, *options: str) -> None:
        """Stop ``name``'s supervisord and serve its socket (or inet port) with a misbehaving
        server instead: scripts/hostile_supervisord.py BEHAVIOUR (escapes, many, huge, flood,
        drip, hang, garbage, bomb; ``options`` such as ``--size``, ``--processes`` go to it).
        herd reaches it through the host's real sshd; ``restore(name)`` puts supervisord back."""
        host = self.host(name)
        self.stop_hostile(name)
        self.stop_supervisord(name)
        address = _hostile_address(host)
        pid = _spawn([self.python, HOSTILE_SCRIPT, address, behaviour, *options],
                     os.path.join(host.log_dir, "hostile.log"), host.dir)
        host.hostile_pid = pid
        self.save()
        deadline = time.monotonic() + START_TIMEOUT
        for delay in _backoff():
            if _hostile_listening(host):
                return
            if not _REAPER.alive(pid) or time.monotonic() >= deadline:
                raise FleetError(f"{name}: hostile server ({behaviour}) did not listen on {address}")
            time.sleep(delay)

    def stop_hostile(self, name: str) -> None:
        """Stop the misbehaving server of ``name``, if any."""
        host = self.host(name)
        if host.hostile_pid:
            kill_tree(host.hostile_pid, HOSTILE_SCRIPT)
        host.hostile_pid = None
        self.save()

    def restore(self, name: str) -> None:
        """Undo impersonate: stop the misbehaving server, start the real supervisord again."""
        self.stop_hostile(name)
        self.start_supervisord(name)

    # -- the whole fleet -----------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """Per host: name, ssh_port, sshd (running/paused/stopped), supervisord, processes."""
        return [self._host_status(h) for h in self.hosts]

    def _host_status(self, host: FleetHost) -> dict[str, Any]:
        sshd = "stopped"
        if _owns(host.sshd_pid, host.ssh_marker):
            sshd = "paused" if _pid_stopped(host.sshd_pid) else "running"  # type: ignore[arg-type]
        up = _owns(host.supervisord_pid, host.conf_path)
        procs: dict[str, str] = {}
        if up:
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                procs = self.process_states(host.name)
        return {"name": host.name, "ssh_port": host.ssh_port, "sshd": sshd,
                "supervisord": "running" if up else "stopped", "processes": procs}

    def stop(self) -> None:
        """Stop every process the fleet started and wait until all are gone; idempotent."""
        def stop_host(name: str) -> None:
            self.stop_hostile(name)
            self.stop_supervisord(name)
            self.stop_sshd(name)
            _stop_namespace(self, self.host(name))

        try:
            self._parallel(stop_host, [h.name for h in self.hosts])
        finally:
            self._sweep()
            PortRegistry().release(self.reservation)
            self.reservation = None
            if self.short_dir:
                shutil.rmtree(self.short_dir, ignore_errors=True)
            self.save()

    def _sweep(self) -> None:
        """Kill orphans whose command line names one of this fleet's own files
        (programs left behind by a supervisord that was SIGKILLed, say)."""
        ours = {str(self.directory / "app.py"), str(self.directory / "worker.py")}
        ours |= {os.path.join(h.dir, "main.py") for h in self.hosts}
        ours |= {_hostile_address(h) for h in self.hosts}   # impersonate's servers
        ours |= {h.conf_path for h in self.hosts}
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != me and ours & set(_cmdline(int(entry))):
                kill_tree(int(entry), _cmdline(int(entry))[0])

    def pids(self) -> list[int]:
        """Every live process of the fleet: sshd, supervisord and their descendants."""
        roots = [(h.sshd_pid, h.ssh_marker) for h in self.hosts]
        roots += [(h.supervisord_pid, h.conf_path) for h in self.hosts]
        roots += [(h.ns_pid, _ns_script(h)) for h in self.hosts if h.distro]
        found: list[int] = []
        for pid, marker in roots:
            if pid and _owns(pid, marker):
                found += [pid, *descendants(pid)]
        return found


# --------------------------------------------------------------------------
# Helpers for Fleet.start
# --------------------------------------------------------------------------

def _plan(directory: Path, count: int, base_port: int | None,
          no_streamlocal: Iterable[str], inet: Iterable[str],
          distro: Iterable[str] = (), dropbear: Iterable[str] = (),
          hidden: dict[str, list[str]] | None = None,
          layouts: dict[str, dict[str, Any]] | None = None) -> _Plan:
    """Validate the arguments of Fleet.start and prepare the directory."""
    if count < 1:
        raise FleetError("a fleet needs at least one host")
    if not os.path.exists(SSHD):
        raise FleetError(f"{SSHD} is missing: install openssh-server (apt-get install openssh-server)")
    if not shutil.which("ssh-keygen"):
        raise FleetError("ssh-keygen is missing: install openssh-client")
    directory = directory.resolve()
    if _UNSAFE_PATH.search(str(directory)):
        raise FleetError(f"{directory}: pick a directory without spaces, quotes, %, #, ; or \\")
    plan = _Plan(directory, count, base_port, frozenset(no_streamlocal), frozenset(inet),
                 [host_name(i) for i in range(count)], frozenset(distro) | frozenset(dropbear),
                 frozenset(dropbear), dict(hidden or {}), dict(layouts or {}))
    odd = (set(plan.hidden) | set(plan.layouts)) - plan.distro
    if odd:
        raise FleetError(f"hidden paths and layouts are for distro hosts only: {', '.join(sorted(odd))}")
    unknown = sorted((plan.no_streamlocal | plan.inet | plan.distro) - set(plan.names))
    if unknown:
        raise FleetError(f"unknown host(s) {', '.join(unknown)}: the fleet has {plan.names[0]}..{plan.names[-1]}")
    if base_port is not None and not 1024 <= base_port <= 65535 - PORT_STRIDE * count:
        raise FleetError(f"--base-port {base_port} is out of range")
    if plan.distro:
        _check_distro_tools(plan)
    directory.mkdir(parents=True, exist_ok=True)
    _refuse_running(directory)
    return plan


def _refuse_running(directory: Path) -> None:
    if not (directory / "state.json").exists():
        return
    try:
        running = Fleet.load(directory).pids()
    except (FleetError, KeyError, TypeError):
        return   # an unreadable old state: nothing we could stop anyway
    if running:
        raise FleetError(f"a fleet is already running in {directory}: stop it first "
                         f"(scripts/testfleet.py stop {directory})")


def _tornado_ports(start: int, indexes: Iterable[int]) -> list[int]:
    return [start + PORT_STRIDE * i + k for i in indexes for k in range(PROCS_PER_HOST)]


def _check_fixed_ports_free(base_port: int, count: int) -> None:
    busy = [p for p in _tornado_ports(base_port, range(count)) if not port_free(p)]
    if busy:
        raise FleetError(f"port(s) {', '.join(map(str, busy))} already in use: pick another --base-port")


def _short_socket_dir(directory: Path, names: list[str]) -> str | None:
    """None when DIR/webNN/supervisor.sock fits in a unix socket address, else a
    fresh short directory under /tmp for the sockets."""
    longest = max(len(os.fsencode(directory / n / "supervisor.sock")) for n in names)
    if longest <= SOCKET_PATH_MAX:
        return None
    return tempfile.mkdtemp(prefix="tf-", dir="/tmp")


def _make_host(plan: _Plan, index: int, block: int, short_dir: str | None) -> FleetHost:
    name = plan.names[index]
    hdir = plan.directory / name
    slot = block + PORT_STRIDE * index
    inet = name in plan.inet
    socket_path = os.path.join(short_dir, f"{name}.sock") if short_dir else str(hdir / "supervisor.sock")
    setup = plan.layouts.get(name, {})
    if name in plan.distro:
        socket_path = setup.get("socket", DISTRO_SOCKET)
    auth = name in plan.inet or bool(setup.get("auth"))
    return FleetHost(
        name=name, index=index, address=ADDRESS, ssh_port=slot + SSH_SLOT, dir=str(hdir),
        socket_path=socket_path, conf_path=str(hdir / "supervisord.conf"),
        inet_port=slot + INET_SLOT if inet else None,
        password_file=str(hdir / "supervisor.pass") if auth else None,
        tornado_ports=_tornado_ports(plan.base_port or block, [index]),
        streamlocal=name not in plan.no_streamlocal and name not in plan.dropbear,
        distro=name in plan.distro, dropbear=name in plan.dropbear, hidden=list(plan.hidden.get(name, [])),
        layout=setup.get("layout", "debian"), socket_owner=setup.get("owner"))


HOSTILE_SCRIPT = str(Path(__file__).resolve().with_name("hostile_supervisord.py"))


def _hostile_address(host: FleetHost) -> str:
    return f"tcp:{host.inet_port}" if host.inet_port else f"unix:{host.socket_path}"


def _hostile_listening(host: FleetHost) -> bool:
    """True once something accepts connections where ``host``'s supervisord listens."""
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


def _keygen(path: Path, comment: str) -> None:
    """A fresh ed25519 key pair at ``path`` (+ .pub), no passphrase."""
    for old in (path, path.with_name(path.name + ".pub")):
        old.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)


def _known_hosts_line(host: FleetHost) -> str:
    keytype, key = Path(host.host_key_path + ".pub").read_text().split()[:2]
    return f"[{host.address}]:{host.ssh_port} {keytype} {key}\n"


def _write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def _ensure_privsep_dir() -> None:
    """sshd started as root needs /run/sshd (its privilege-separation chroot)."""
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


def _prefixed(name: str, exc: BaseException | None) -> str:
    """``exc``'s message, starting with the host name exactly once."""
    text = str(exc)
    return text if text.startswith(f"{name}:") else f"{name}: {text}"


def _supervisord_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISOR_")}


# --------------------------------------------------------------------------
# Distribution-style hosts (root only)
# --------------------------------------------------------------------------
#
# Built like a Debian server with `apt-get install supervisor`: supervisord runs
# as root from /etc/supervisor/supervisord.conf (programs in conf.d/), its socket
# /var/run/supervisor.sock is 0700 root, logins are unprivileged (PermitRootLogin
# no, or Dropbear with -w) and reach it through sudo:
#
#   deploy  passwordless sudo (the inventory's login user, with become: true)
#   ops     sudo asks for its password (in DIR/webNN/sudo.pass)
#   intern  not in sudoers (same password as ops, so sudo gets to say so)
#
# Each host has its own mount namespace, held by `sh DIR/webNN/ns.sh`: an overlay
# (on a tmpfs) over /etc, where the users, sudoers and /etc/supervisor are added,
# and a tmpfs over /run.  sshd/Dropbear and supervisord are started in it with
# nsenter, so nothing of the machine's own /etc or /run changes and hosts never
# collide.  The program is the seed's Tornado deployment, verbatim but for its
# ports (numprocs_start is the host's reserved block: 8080 would collide).

DISTRO_SOCKET = "/var/run/supervisor.sock"
DISTRO_CONF = "/etc/supervisor/supervisord.conf"
DISTRO_LOGIN = "deploy"
DISTRO_USERS = {"deploy": 2101, "ops": 2102, "intern": 2103}
DISTRO_SUDOERS = """\
# written by scripts/testfleet.py (Debian's defaults, without mail)
Defaults env_reset
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
root    ALL=(ALL:ALL) ALL
deploy  ALL=(ALL:ALL) NOPASSWD: ALL
ops     ALL=(ALL:ALL) ALL
"""


def _check_distro_tools(plan: _Plan) -> None:
    if os.geteuid() != 0:
        raise FleetError("distro hosts need root (a mount namespace per host): run as root")
    tools = ["unshare", "nsenter", "sudo", "openssl"] + (["dropbear", "dropbearkey"] if plan.dropbear else [])
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise FleetError(f"distro hosts need {', '.join(missing)}: apt-get install sudo dropbear-bin openssl")


def _ns_script(host: FleetHost) -> str:
    return os.path.join(host.dir, "ns.sh")


def _ns_ready(host: FleetHost) -> str:
    return os.path.join(host.dir, "ns.ready")


def namespace_script(fleet: Fleet, host: FleetHost) -> str:
    """The shell script that sets up a distro host's mount namespace and then holds it."""
    h, key = host.dir, f"{fleet.client_key_path}.pub"
    homes = "".join(
        f"mkdir -p /run/home/{u}/.ssh && cp {key} /run/home/{u}/.ssh/authorized_keys && "
        f"chown -R {uid}:{uid} /run/home/{u} && chmod 700 /run/home/{u}/.ssh\n"
        for u, uid in DISTRO_USERS.items())
    hide = "".join(f"mount --bind /dev/null {path}\n" for path in host.hidden)
    return f"""\
# written by scripts/testfleet.py: the mount namespace of {host.name} (run by unshare --mount)
set -e
mount -t tmpfs -o mode=0755 testfleet-etc {h}/ns
mkdir {h}/ns/upper {h}/ns/work
mount -t overlay testfleet-etc -o lowerdir=/etc,upperdir={h}/ns/upper,workdir={h}/ns/work /etc
mount -t tmpfs -o mode=0755 testfleet-run /run
mkdir -p /run/sshd /run/home
cat {h}/etc/passwd >>/etc/passwd
cat {h}/etc/group >>/etc/group
cat {h}/etc/shadow >>/etc/shadow
install -m 0440 {h}/etc/sudoers /etc/sudoers
rm -rf /etc/sudoers.d /etc/supervisor /etc/supervisord.conf /etc/supervisord.d && mkdir -m 0755 /etc/sudoers.d
cp -r {h}/etc/add/. /etc/
mkdir -p {os.path.dirname(host.socket_path)}
{homes}{hide}touch {_ns_ready(host)}
while :; do sleep 3600; done
"""


def distro_supervisord_conf(host: FleetHost, password: str | None) -> str:
    """supervisord.conf as Debian ships it (or Fedora's layout); logs in the host's directory."""
    owner = f"chown={host.socket_owner}:{host.socket_owner}\n" if host.socket_owner else ""
    auth = f"username={INET_USERNAME}\npassword={password}\n" if password else ""
    include = "/etc/supervisord.d/*.ini" if host.layout == "fedora" else "/etc/supervisor/conf.d/*.conf"
    return f"""\
; supervisor config file ({host.layout}'s layout), written by scripts/testfleet.py for {host.name}

[unix_http_server]
file={host.socket_path}   ; (the path to the socket file)
chmod=0700                       ; socket file mode (default 0700)
{owner}{auth}
{_daemon_sections(host, "/var/run/supervisord.pid")}
[supervisorctl]
serverurl=unix://{host.socket_path} ; use a unix:// URL  for a unix socket
{auth}
[include]
files = {include}
"""


def seed_program_conf(first_port: int, light: bool = False) -> str:
    """The seed deployment's [program:tornado], verbatim but for numprocs_start
    (and --light on a light fleet: the stdlib server instead of tornado)."""
    light_line = "\t--light\n" if light else ""
    return f"""\
[program:tornado]
command=python
	%(here)s/main.py
	--port=%(process_num)s
	--logging=info
	--log_file_prefix=%(here)s/log/%(program_name)s-%(process_num)s.log
{light_line}process_name=%(program_name)s-%(process_num)s
directory=%(here)s
numprocs={PROCS_PER_HOST}
numprocs_start={first_port}
stdout_logfile=NONE
stderr_logfile=NONE
"""


def distro_sshd_config(fleet: Fleet, host: FleetHost) -> str:
    """The plain hosts' sshd_config with a server's login rules: keys in ~/.ssh, no root."""
    text = sshd_config(fleet, host)
    text = re.sub(r"(?m)^AuthorizedKeys(File|Command|CommandUser) .*\n", "", text)
    text = re.sub(r"(?m)^# sshd reads AuthorizedKeysFile.*\n#.*\n", "", text)
    text = text.replace("PermitRootLogin prohibit-password", "PermitRootLogin no")
    text = re.sub(r"(?m)^SetEnv PATH=.*$", "SetEnv PATH=/usr/local/bin:/usr/bin:/bin", text)
    return text + "AuthorizedKeysFile /run/home/%u/.ssh/authorized_keys\n"


def _dropbear_argv(host: FleetHost) -> list[str]:
    return [shutil.which("dropbear") or "dropbear", "-F", "-E", "-s", "-w", "-r", host.host_key_path,
            "-p", f"{host.address}:{host.ssh_port}", "-P", os.path.join(host.dir, "dropbear.pid")]


def _distro_keygen(host: FleetHost) -> None:
    """The host key: OpenSSH's for sshd, Dropbear's own format for Dropbear (+ .pub either way)."""
    if not host.dropbear:
        _keygen(Path(host.host_key_path), f"testfleet-{host.name}")
        return
    Path(host.host_key_path).unlink(missing_ok=True)
    subprocess.run(["dropbearkey", "-t", "ed25519", "-f", host.host_key_path], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)
    out = subprocess.run(["dropbearkey", "-y", "-f", host.host_key_path], check=True, text=True,
                         stdin=subprocess.DEVNULL, capture_output=True).stdout
    public = next(line for line in out.splitlines() if line.startswith("ssh-"))
    Path(host.host_key_path + ".pub").write_text(public + "\n")


def _password_hash(password: str) -> str:
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n", text=True,
                          check=True, capture_output=True).stdout.strip()


def _write_distro_files(fleet: Fleet, host: FleetHost) -> None:
    """Everything a distro host's namespace script copies in, staged in the host's directory."""
    h = Path(host.dir)
    _distro_keygen(host)
    password = secrets.token_urlsafe(12)
    _write_private(host.sudo_password_file, password + "\n")
    hashes = {"deploy": "*", "ops": _password_hash(password), "intern": _password_hash(password)}
    etc = h / "etc"
    fedora = host.layout == "fedora"
    conf_d = etc / "add" / ("supervisord.d" if fedora else "supervisor/conf.d")
    (conf_d / "log").mkdir(parents=True, exist_ok=True)
    (h / "ns").mkdir(exist_ok=True)
    (etc / "passwd").write_text("".join(f"{u}:x:{i}:{i}::/run/home/{u}:/bin/sh\n" for u, i in DISTRO_USERS.items()))
    (etc / "group").write_text("".join(f"{u}:x:{i}:\n" for u, i in DISTRO_USERS.items()))
    _write_private(str(etc / "shadow"), "".join(f"{u}:{hashes[u]}:19000:0:99999:7:::\n" for u in DISTRO_USERS))
    (etc / "sudoers").write_text(DISTRO_SUDOERS)
    extra = fleet.extra_config
    for key, value in (("{name}", host.name), ("{dir}", host.dir), ("{logs}", host.log_dir),
                       ("{python}", fleet.python)):
        extra = extra.replace(key, value)
    supervisor_password = None
    if host.password_file:
        supervisor_password = secrets.token_urlsafe(15)
        _write_private(host.password_file, supervisor_password + "\n")
    conf = distro_supervisord_conf(host, supervisor_password) + extra
    (etc / "add" / host.distro_conf[len("/etc/"):]).write_text(conf)
    Path(host.conf_path).write_text(conf)   # the staged copy names the pid (see start_supervisord)
    (conf_d / ("tornado.ini" if fedora else "tornado.conf")).write_text(seed_program_conf(host.tornado_ports[0], fleet.light))
    (conf_d / "main.py").write_text(APP_SOURCE)
    Path(host.sshd_config_path).write_text(distro_sshd_config(fleet, host))
    Path(_ns_script(host)).write_text(namespace_script(fleet, host))


def _nsenter(host: FleetHost, argv: list[str]) -> list[str]:
    return ["nsenter", "-t", str(host.ns_pid), "-m", "--", *argv]


def _in_namespace(fleet: Fleet, host: FleetHost, argv: list[str]) -> list[str]:
    """``argv`` run inside the host's mount namespace, started first if need be."""
    if not _owns(host.ns_pid, _ns_script(host)):
        Path(_ns_ready(host)).unlink(missing_ok=True)
        pid = _spawn(["unshare", "--mount", "--propagation", "private", "sh", _ns_script(host)],
                     os.path.join(host.dir, "ns.log"), host.dir)
        host.ns_pid = pid
        fleet.save()
        deadline = time.monotonic() + START_TIMEOUT
        for delay in _backoff():
            if os.path.exists(_ns_ready(host)):
                break
            if not _REAPER.alive(pid) or time.monotonic() > deadline:
                raise FleetError(f"its mount namespace could not be set up: "
                                 f"{_log_tail(os.path.join(host.dir, 'ns.log'))}")
            time.sleep(delay)
    return _nsenter(host, argv)


def _stop_namespace(fleet: Fleet, host: FleetHost) -> None:
    """Stop the process holding a distro host's namespace (its mounts go with it)."""
    if host.ns_pid:
        kill_tree(host.ns_pid, _ns_script(host))
        host.ns_pid = None
        fleet.save()


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _print_summary(fleet: Fleet) -> None:
    for host in fleet.hosts:
        where = f"{host.inet_url} (user {INET_USERNAME}, password in {host.password_file})" \
            if host.inet_port else f"unix://{host.socket_path}"
        notes = "" if host.streamlocal else "  [streamlocal forbidden]"
        ports = f"{host.tornado_ports[0]}-{host.tornado_ports[-1]}"
        print(f"  {host.name}  ssh 127.0.0.1:{host.ssh_port}  tornado {ports}  supervisor {where}{notes}")
    print(f"inventory: {fleet.inventory_path}")


def _cmd_start(args: argparse.Namespace) -> int:
    began = time.monotonic()
    fleet = Fleet.start(args.directory, hosts=args.hosts, base_port=args.base_port,
                        no_streamlocal=_names(args.no_streamlocal), inet=_names(args.inet),
                        light=args.light, distro=_names(args.distro), dropbear=_names(args.dropbear),
                        seed_app=args.seed_app)
    print(f"started {len(fleet.hosts)} host(s) in {time.monotonic() - began:.1f}s:")
    _print_summary(fleet)
    print(f"stop with: {sys.argv[0]} stop {fleet.directory}")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    fleet = Fleet.load(args.directory)
    fleet.stop()
    print(f"stopped {len(fleet.hosts)} host(s) in {fleet.directory}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    fleet = Fleet.load(args.directory)
    healthy = True
    for st in fleet.status():
        running = sum(1 for v in st["processes"].values() if v == "RUNNING")
        print(f"  {st['name']}  ssh {st['ssh_port']} {st['sshd']:8} supervisord {st['supervisord']:8}"
              f"  {running}/{len(st['processes'])} RUNNING")
        healthy &= st["sshd"] == "running" and st["supervisord"] == "running" \
            and running == len(st["processes"])
    print(f"inventory: {fleet.inventory_path}")
    return 0 if healthy else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="testfleet.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a fleet in DIR")
    start.add_argument("directory", metavar="DIR")
    start.add_argument("--hosts", type=int, default=3, metavar="K")
    start.add_argument("--base-port", type=int, default=None,
                       help="first tornado port (default: a free reserved block)")
    start.add_argument("--no-streamlocal", default="", metavar="web02,...",
                       help="hosts whose sshd forbids unix-socket forwarding")
    start.add_argument("--inet", default="", metavar="web03,...",
                       help="hosts reached through inet_http_server with a password")
    start.add_argument("--light", action="store_true", help="stdlib app instead of tornado")
    start.add_argument("--seed-app", action="store_true",
                       help="the seed's [program:tornado]: no supervisord logs, Tornado's own log files")
    start.add_argument("--distro", default="", metavar="web01,...",
                       help="Debian-style hosts (root only): supervisord as root, 0700 socket, login deploy + sudo")
    start.add_argument("--dropbear", default="", metavar="web02,...",
                       help="Debian-style hosts whose SSH server is Dropbear")
    start.set_defaults(func=_cmd_start)
    for name, func in (("stop", _cmd_stop), ("status", _cmd_status)):
        cmd = sub.add_parser(name, help=f"{name} the fleet in DIR")
        cmd.add_argument("directory", metavar="DIR")
        cmd.set_defaults(func=func)
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.func
    try:
        return command(args)
    except FleetError as exc:
        print(f"testfleet: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
