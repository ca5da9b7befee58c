#!/usr/bin/env python3
"""herd status against the tools operators use today, on one fleet, side by side.

Run through ``scripts/bench`` (it installs the contenders first); see
docs/benchmarks.md.  Sub-commands, for scripts/bench and for people:

    bench.py run [--sizes 1,20,100] [--rtt 0,40] [--runs 3] [--contenders ...] [--loopback]
    bench.py cleanup            # remove namespaces, relays and fleets left by a killed run
    bench.py plot RESULTS.json PNG          (needs matplotlib: .bench-venv)
    bench.py table RESULTS.json             (print the tables again)
    bench.py measure --out F [--extra-pids P,...] -- CMD...   (internal: one timed run)

Topology as root (each host a separate network stack; nothing routed anywhere
else)::

    herdbench-ctl  (contenders run here; eth0 10.200.0.1/24)
          |  veth
    herdbench-core (bridge hb-br, no address)
          |  veth, one per host
    herdbench-hN   (eth0 10.200.0.(9+N)/24; relay on :22 -> sshd on 127.0.0.1:PORT;
                    supervisord, 4 app processes and a worker, all on its own loopback)

No namespace has a default route and none is connected to the root
namespace, so 10.200.0.0/24 exists only inside them.  Without root: the
loopback test fleet (herd.testing), no latency.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv"
BENCH_VENV = ROOT / ".bench-venv"
DEFAULT_DIR = Path("/tmp/herdbench")
LOCK_PATH = Path("/tmp/herdbench.lock")

NS_PREFIX = "herdbench-"
CORE_NS = NS_PREFIX + "core"
CTL_NS = NS_PREFIX + "ctl"
BRIDGE = "hb-br"
SUBNET = "10.200.0"
CTL_ADDRESS = f"{SUBNET}.1"
FIRST_HOST = 10          # host i (0-based) is 10.200.0.(10+i)
MAX_HOSTS = 240
PROCS_PER_HOST = 5       # 4 app processes + the worker (herd.testing)
REMOTE_STATUS = 'supervisorctl -c "$HERDBENCH_CONF" status'
ANSIBLE_STATUS = "supervisorctl -c {{ supervisor_conf }} status"

CONTENDERS = ["herd", "herd-forks", "herd-keep", "floor", "pssh", "pssh-warm", "ssh", "ssh-warm", "ansible"]
SLOW = ("pssh", "pssh-warm", "ssh", "ssh-warm", "ansible")   # fewer runs at large sizes (--slow-runs)
WARM = ("ssh-warm", "pssh-warm")                # on the ControlPersist masters of a warm-up loop
LABELS = {
    "herd": "herd status",
    "herd-keep": "herd status, keeper (warm)",
    "pssh-warm": "parallel-ssh, ControlPersist (warm)",
    "herd-forks": "herd status --forks N",
    "floor": "paramiko floor",
    "pssh": "parallel-ssh",
    "ssh": "ssh loop",
    "ssh-warm": "ssh loop, ControlPersist (warm)",
    "ansible": "ansible -m command",
}


# --------------------------------------------------------------------------
# Network namespaces
# --------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Run the block (this thread only) in network namespace ``name``; sockets
    created inside stay in it.  ``None``: the current namespace."""
    if name is None:
        yield
        return
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{name}") as target:
        _setns(target.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def host_ns(index: int) -> str:
    return f"{NS_PREFIX}h{index + 1}"


def host_address(index: int) -> str:
    return f"{SUBNET}.{FIRST_HOST + index}"


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def our_namespaces() -> list[str]:
    proc = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.startswith(NS_PREFIX)]


def create_network(count: int) -> None:
    """The core bridge, the controller and ``count`` host namespaces (see module doc)."""
    if count > MAX_HOSTS:
        raise SystemExit(f"at most {MAX_HOSTS} hosts")
    if our_namespaces():
        raise SystemExit(f"namespaces {NS_PREFIX}* exist already: run scripts/bench --cleanup first")
    _ip("netns", "add", CORE_NS)
    _ip("-n", CORE_NS, "link", "set", "lo", "up")
    _ip("-n", CORE_NS, "link", "add", BRIDGE, "type", "bridge")
    _ip("-n", CORE_NS, "link", "set", BRIDGE, "up")

    def attach(ns: str, port: str, address: str) -> None:
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", CORE_NS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", CORE_NS, "link", "set", port, "master", BRIDGE, "up")
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")

    attach(CTL_NS, "ctl", CTL_ADDRESS)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: attach(host_ns(i), f"h{i + 1}", host_address(i)), range(count)))
    for ns in [CTL_NS, *[host_ns(i) for i in range(count)]]:
        routes = subprocess.run(["ip", "-n", ns, "route", "show", "default"], capture_output=True, text=True)
        if routes.stdout.strip():
            raise SystemExit(f"{ns} has a default route ({routes.stdout.strip()}): refusing to go on")


def delete_network() -> list[str]:
    """Kill every process left in our namespaces, then delete them."""
    names = our_namespaces()
    for ns in names:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
    for ns in names:
        with contextlib.suppress(RuntimeError):
            _ip("netns", "del", ns)
    return names


# --------------------------------------------------------------------------
# The fleet: herd.localfleet's hosts, each in its namespace behind a relay
# --------------------------------------------------------------------------

def _testfleet() -> Any:
    """herd.localfleet's fleet module, imported late (the measure helper must not pay for it)."""
    from herd.localfleet import fleet  # noqa: PLC0415
    return fleet


def _processes() -> Any:
    """herd.localfleet's process helpers (spawn, reap, kill a tree), imported late as _testfleet."""
    from herd.localfleet import processes  # noqa: PLC0415
    return processes


@dataclass
class Target:
    """How the contenders reach one host."""

    name: str
    address: str
    port: int
    socket: str
    conf: str


class FleetHandle:
    """Starts and stops the bench fleet; knows the targets."""

    def __init__(self, directory: Path, count: int, namespaces: bool) -> None:
        self.directory = directory
        self.count = count
        self.namespaces = namespaces
        self.fleet: Any = None
        self.relay_pids: dict[str, int] = {}
        self.rtt_file = directory / "rtt_ms"
        self._lock = threading.Lock()

    @property
    def controller_ns(self) -> str | None:
        return CTL_NS if self.namespaces else None

    def start(self) -> None:
        tf, proc = _testfleet(), _processes()
        fleet_dir = self.directory / "fleet"
        fleet_dir.mkdir(parents=True, exist_ok=True)
        self.rtt_file.write_text("0\n")
        handle = self

        class BenchFleet(tf.LocalFleet):  # type: ignore[misc, name-defined]
            def _write_host_files(self, name: str) -> None:
                super()._write_host_files(name)
                host = self.host(name)
                path = Path(host.sshd_config_path)
                text = re.sub(r"^SetEnv (.*)$", rf"SetEnv \1 HERDBENCH_CONF={host.conf_path}",
                              path.read_text(), count=1, flags=re.M)
                path.write_text(text)

            def start_sshd(self, name: str, timeout: float = 30.0) -> None:
                if not handle.namespaces:
                    return super().start_sshd(name, timeout)
                host = self.host(name)
                ns = host_ns(host.index)
                proc.ensure_privsep_dir()
                pid = proc.spawn(["ip", "netns", "exec", ns, tf.SSHD, "-D", "-e", "-f", host.sshd_config_path],
                                host.sshd_log_path, host.dir)
                host.sshd_pid = pid
                self.save()
                wait_banner(ns, "127.0.0.1", host.ssh_port, timeout)
                relay_log = os.path.join(host.dir, "relay.log")
                handle._add_relay(name, proc.spawn(
                    ["ip", "netns", "exec", ns, self.python, "-S", str(HERE / "bench-relay.py"),
                     host_address(host.index), "22", "127.0.0.1", str(host.ssh_port), str(handle.rtt_file)],
                    relay_log, host.dir))
                wait_banner(ns, host_address(host.index), 22, timeout)

            def start_supervisord(self, name: str, timeout: float = 30.0) -> None:
                if not handle.namespaces:
                    return super().start_supervisord(name, timeout)
                host = self.host(name)
                argv = ["ip", "netns", "exec", host_ns(host.index),
                        self.python, "-m", "supervisor.supervisord", "-n", "-c", host.conf_path]
                out = os.path.join(host.log_dir, "supervisord.out")
                pid = proc.spawn(argv, out, host.dir, proc.supervisord_env())
                host.supervisord_pid = pid
                self.save()
                self._wait_socket(host, lambda: proc.REAPER.alive(pid), timeout)
                with in_netns(host_ns(host.index)):   # it may also probe the app's ports on the host's loopback
                    self.wait_running(name, timeout)

        plan = tf.plan_fleet(fleet_dir, self.count, None, (), ())
        fleet = BenchFleet._allocate(plan, tf.PortRegistry(), True)
        self.fleet = fleet
        try:
            fleet._write_files()
            fleet._parallel(fleet._start_host, [h.name for h in fleet.hosts])
        except BaseException:
            self.stop()
            raise

    def _add_relay(self, name: str, pid: int) -> None:
        """Remember a relay (relays.json is what --cleanup reads after a crash)."""
        with self._lock:
            self.relay_pids[name] = pid
            tmp = self.directory / "relays.json.tmp"
            tmp.write_text(json.dumps(self.relay_pids))
            tmp.replace(self.directory / "relays.json")

    def stop(self) -> None:
        proc = _processes()
        for pid in self.relay_pids.values():
            proc.kill_tree(pid, "bench-relay.py")
        self.relay_pids = {}
        (self.directory / "relays.json").unlink(missing_ok=True)
        if self.fleet is not None:
            self.fleet.stop()

    def targets(self) -> list[Target]:
        out = []
        for host in self.fleet.hosts:
            if self.namespaces:
                address, port = host_address(host.index), 22
            else:
                address, port = host.address, host.ssh_port
            out.append(Target(host.name, address, port, host.socket_path, host.conf_path))
        return out

    def set_rtt(self, ms: float) -> None:
        self.rtt_file.write_text(f"{ms:g}\n")

    def fleet_cpu_seconds(self) -> float:
        """CPU used so far by the fleet's long-lived processes and their reaped children."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        pids = list(self.fleet.pids()) + list(self.relay_pids.values())
        for pid in set(pids):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += sum(int(f) for f in fields[11:15])   # utime stime cutime cstime
        return total / tick


def wait_banner(ns: str | None, address: str, port: int, timeout: float) -> float:
    """Wait until address:port (in ``ns``) sends an SSH banner; seconds it took the last try."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        began = time.monotonic()
        with contextlib.suppress(OSError):
            with in_netns(ns):
                sock = socket.socket()
            with sock:
                sock.settimeout(5)
                sock.connect((address, port))
                if sock.recv(256).startswith(b"SSH-"):
                    return time.monotonic() - began
        if time.monotonic() >= deadline:
            raise RuntimeError(f"no SSH banner from {address}:{port} in {ns} within {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def probe_rtt(ns: str | None, address: str, port: int, tries: int = 5) -> dict[str, float]:
    """Connect -> SSH banner, and our banner -> sshd's KEXINIT, in ms (medians)."""
    connect_banner, round_trip = [], []
    for _ in range(tries):
        with in_netns(ns):
            sock = socket.socket()
        with sock:
            sock.settimeout(10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.perf_counter()
            sock.connect((address, port))
            banner = b""
            while b"\n" not in banner:
                banner += sock.recv(4096)
            t1 = time.perf_counter()
            sock.sendall(b"SSH-2.0-herdbench-probe\r\n")
            sock.recv(4096)
            t2 = time.perf_counter()
        connect_banner.append((t1 - t0) * 1000)
        round_trip.append((t2 - t1) * 1000)
    return {"connect_to_banner_ms": statistics.median(connect_banner),
            "round_trip_ms": statistics.median(round_trip)}


# --------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------

def ssh_options(directory: Path, extra: list[str] | None = None) -> list[str]:
    """Options of every OpenSSH-based contender: cold, key only, strict host keys."""
    return ["-F", "/dev/null", "-i", str(directory / "fleet" / "client_key"), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={directory / 'known_hosts'}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            *(extra or ["-o", "ControlMaster=no", "-o", "ControlPath=none"])]


def herd_bin() -> Path:
    """herd as users install it (scripts/bench puts a regular install in .bench-venv);
    the editable .venv one when there is none."""
    installed = BENCH_VENV / "bin" / "herd"
    return installed if installed.exists() else VENV / "bin" / "herd"


def bench_python() -> Path:
    """The Python of herd_bin(): the floor runs on the same paramiko."""
    return herd_bin().parent / "python"


WARM_OPTIONS = ["-o", "ControlMaster=auto", "-o", "ControlPersist=900", "-o", "ControlPath={dir}/cm/%C"]


@dataclass
class Contender:
    name: str
    argv: list[str]
    env: dict[str, str]


class Setup:
    """Files and command lines of every contender for every fleet size."""

    def __init__(self, directory: Path, targets: list[Target], user: str) -> None:
        self.directory = directory
        self.targets = targets
        self.user = user
        self.home = directory / "home"
        (self.home / ".ssh").mkdir(parents=True, exist_ok=True)
        (directory / "cm").mkdir(exist_ok=True)
        (directory / "ansible-home").mkdir(exist_ok=True)
        self._write_common()

    def _write_common(self) -> None:
        d = self.directory
        lines = []
        for t in self.targets:
            pub = Path(d / "fleet" / t.name / "ssh_host_ed25519_key.pub").read_text().split()
            where = t.address if t.port == 22 else f"[{t.address}]:{t.port}"
            lines.append(f"{where} {pub[0]} {pub[1]}\n")
        (d / "known_hosts").write_text("".join(lines))
        (d / "ansible.cfg").write_text(f"""\
# scripts/bench: Ansible as an operator tunes it for speed (pipelining), cold
# SSH like every other contender (no ControlMaster), strict host keys.
[defaults]
host_key_checking = True
interpreter_python = {sys.executable}
private_key_file = {d / 'fleet' / 'client_key'}
remote_user = {self.user}
gathering = explicit
retry_files_enabled = False
deprecation_warnings = False
local_tmp = {d / 'ansible-home' / 'tmp'}

[ssh_connection]
pipelining = True
ssh_args = {' '.join(shlex.quote(a) for a in ssh_options(d))}
""")

    def env(self) -> dict[str, str]:
        keep = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TZ") if k in os.environ}
        return {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(self.home),
                "NO_COLOR": "1", "TERM": "dumb", "ANSIBLE_CONFIG": str(self.directory / "ansible.cfg"),
                "ANSIBLE_HOME": str(self.directory / "ansible-home")}

    def files_for(self, n: int) -> dict[str, Path]:
        d, targets = self.directory / f"n{n}", self.targets[:n]
        d.mkdir(exist_ok=True)
        inv = ["defaults:", f"  user: {self.user}", f"  identity_file: {self.directory / 'fleet' / 'client_key'}",
               f"  known_hosts: {self.directory / 'known_hosts'}", "hosts:"]
        for t in targets:
            inv += [f"  {t.name}:", f"    address: {t.address}", f"    port: {t.port}",
                    "    supervisor:", f"      socket: {t.socket}"]
        (d / "inventory.yaml").write_text("\n".join(inv) + "\n")
        (d / "floor.json").write_text(json.dumps({
            "user": self.user, "key": str(self.directory / "fleet" / "client_key"),
            "known_hosts": str(self.directory / "known_hosts"),
            "hosts": [{"name": t.name, "address": t.address, "port": t.port, "socket": t.socket} for t in targets]}))
        (d / "pssh-hosts").write_text("".join(
            f"{self.user}@{t.address}" + (f":{t.port}" if t.port != 22 else "") + "\n" for t in targets))
        (d / "ansible.ini").write_text("[fleet]\n" + "".join(
            f"{t.name} ansible_host={t.address} ansible_port={t.port} supervisor_conf={t.conf}\n" for t in targets))
        for script, extra in (("ssh-loop.sh", None), ("ssh-warm.sh",
                                                      [o.format(dir=self.directory) for o in WARM_OPTIONS])):
            opts = " ".join(shlex.quote(o) for o in ssh_options(self.directory, extra))
            body = ["#!/bin/bash", "# scripts/bench: one host after the other, as a shell loop does", "rc=0"]
            body += [f"ssh {opts} -p {t.port} {self.user}@{t.address} {shlex.quote(REMOTE_STATUS)} || rc=1"
                     for t in targets]
            (d / script).write_text("\n".join(body + ["exit $rc"]) + "\n")
        return {"dir": d}

    def contender(self, name: str, n: int) -> Contender:
        d = self.directory / f"n{n}"
        env = self.env()
        if name == "herd":
            argv = [str(herd_bin()), "status", "-i", str(d / "inventory.yaml"), "-a"]
        elif name == "herd-forks":
            argv = [str(herd_bin()), "status", "-i", str(d / "inventory.yaml"), "-a", "--forks", str(n)]
        elif name == "floor":
            argv = [str(bench_python()), str(HERE / "bench-floor.py"), str(d / "floor.json")]
        elif name == "pssh":
            opts = " ".join(shlex.quote(o) for o in ssh_options(self.directory))
            argv = ["parallel-ssh", "-h", str(d / "pssh-hosts"), "-p", str(n), "-t", "600", "-i",
                    "-x", opts, REMOTE_STATUS]
        elif name == "herd-keep":
            argv = [str(herd_bin()), "status", "-i", str(d / "inventory.yaml"), "-a"]
            env = self.keeper_env()
        elif name == "pssh-warm":
            opts = " ".join(shlex.quote(o) for o in ssh_options(self.directory, self.warm_options()))
            argv = ["parallel-ssh", "-h", str(d / "pssh-hosts"), "-p", str(n), "-t", "600", "-i",
                    "-x", opts, REMOTE_STATUS]
        elif name == "ssh":
            argv = ["bash", str(d / "ssh-loop.sh")]
        elif name == "ssh-warm":
            argv = ["bash", str(d / "ssh-warm.sh")]
        elif name == "ansible":
            argv = [str(BENCH_VENV / "bin" / "ansible"), "all", "-i", str(d / "ansible.ini"),
                    "-m", "command", "-a", ANSIBLE_STATUS, "-f", str(n)]
        else:
            raise ValueError(name)
        return Contender(name, argv, env)

    def warm_options(self) -> list[str]:
        return [o.format(dir=self.directory) for o in WARM_OPTIONS]

    def keeper_env(self) -> dict[str, str]:
        """herd with a keeper (docs/keeper.md): HERD_KEEP, and a runtime directory of the bench's own."""
        runtime = self.directory / "rt"
        runtime.mkdir(mode=0o700, exist_ok=True)
        return {**self.env(), "HERD_KEEP": "15m", "XDG_RUNTIME_DIR": str(runtime)}

    def warm_masters(self, n: int) -> list[int]:
        """Pids of the ControlPersist masters of the first ``n`` hosts (after a warm-up run)."""
        pids = []
        opts = ssh_options(self.directory, [o.format(dir=self.directory) for o in WARM_OPTIONS])
        for t in self.targets[:n]:
            proc = subprocess.run(["ssh", *opts, "-O", "check", "-p", str(t.port), f"{self.user}@{t.address}"],
                                  capture_output=True, text=True, env=self.env())
            found = re.search(r"pid=(\d+)", proc.stderr + proc.stdout)
            if found:
                pids.append(int(found.group(1)))
        return pids

    def close_masters(self) -> None:
        opts = ssh_options(self.directory, [o.format(dir=self.directory) for o in WARM_OPTIONS])
        for t in self.targets:
            subprocess.run(["ssh", *opts, "-O", "exit", "-p", str(t.port), f"{self.user}@{t.address}"],
                           capture_output=True, env=self.env())


# --------------------------------------------------------------------------
# One timed run (a fresh helper process each time: rusage of its children only)
# --------------------------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36


def _proc_children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                kids += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    return kids


def _tree(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        kids = _proc_children(queue.pop())
        found += kids
        queue += kids
    return found


def _rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    return 0


def _cpu_ticks(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return int(fields[11]) + int(fields[12])
    return 0


def measure_main(args: argparse.Namespace) -> int:
    """Run CMD once; write wall time, CPU and memory of its process tree as JSON."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)   # orphans come to us: their CPU counts
    extra = [int(p) for p in args.extra_pids.split(",") if p] if args.extra_pids else []
    me = os.getpid()
    peak = {"tree_kb": 0, "samples": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            began = time.perf_counter()
            total = sum(_rss_kb(p) for p in _tree(me) + extra)
            peak["tree_kb"] = max(peak["tree_kb"], total)
            peak["samples"] += 1
            done.wait(max(0.05, 5 * (time.perf_counter() - began)))

    extra_before = sum(_cpu_ticks(p) for p in extra)
    load = os.getloadavg()[0]
    with open(args.out + ".stdout", "wb") as out, open(args.out + ".stderr", "wb") as err:
        sampler = threading.Thread(target=sample, daemon=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen(args.cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler.start()
        rc = proc.wait()
        wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    leftover = _reap_orphans(5.0)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    extra_cpu = (sum(_cpu_ticks(p) for p in extra) - extra_before) / os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    result = {"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime,
              "cpu": usage.ru_utime + usage.ru_stime + extra_cpu, "extra_cpu": extra_cpu,
              "max_rss_kb": usage.ru_maxrss, "peak_tree_kb": max(peak["tree_kb"], usage.ru_maxrss),
              "samples": peak["samples"], "rc": rc, "load1": load, "leftover": leftover,
              "helper_cpu": own.ru_utime + own.ru_stime}
    Path(args.out).write_text(json.dumps(result))
    return 0


def _reap_orphans(grace: float) -> list[int]:
    """Wait (up to ``grace``) for descendants orphaned to us; the pids still alive."""
    deadline = time.monotonic() + grace
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return []
        if pid == 0:
            if time.monotonic() >= deadline:
                return _proc_children(os.getpid())
            time.sleep(0.01)


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------

@dataclass
class Run:
    contender: str
    hosts: int
    rtt_ms: float
    wall: float
    cpu: float
    max_rss_kb: int
    peak_tree_kb: int
    load1: float
    fleet_cpu: float
    ok: bool
    note: str = ""


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    probes: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        data = {"meta": self.meta, "runs": [asdict(r) for r in self.runs], "probes": self.probes,
                "extras": self.extras}
        path.write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Results":
        data = json.loads(path.read_text())
        return cls(data["meta"], [Run(**r) for r in data["runs"]], data.get("probes", {}), data.get("extras", {}))


def check_output(stdout: str, rc: int, hosts: int) -> tuple[bool, str]:
    running = len(re.findall(r"\bRUNNING\b", stdout))
    if rc != 0:
        return False, f"exit {rc}"
    if running < PROCS_PER_HOST * hosts:
        return False, f"{running} RUNNING, expected {PROCS_PER_HOST * hosts}"
    return True, ""


class Bench:
    def __init__(self, args: argparse.Namespace, handle: FleetHandle, results: Results) -> None:
        self.args = args
        self.handle = handle
        self.results = results
        self.setup = Setup(args.dir, handle.targets(), _user())
        self.counter = 0
        self.default_forks = default_forks()
        results.meta["herd"] = str(herd_bin())
        results.meta["herd_default_forks"] = self.default_forks

    def timed(self, contender: Contender, hosts: int, rtt: float, extra_pids: list[int] | None = None,
              record: bool = True) -> Run:
        self.counter += 1
        out = self.args.dir / "runs" / f"{self.counter:04d}-{contender.name}-n{hosts}-rtt{rtt:g}.json"
        out.parent.mkdir(exist_ok=True)
        helper = [sys.executable, "-S", str(Path(__file__).resolve()), "measure", "--out", str(out)]
        if extra_pids:
            helper += ["--extra-pids", ",".join(map(str, extra_pids))]
        prefix = ["ip", "netns", "exec", CTL_NS] if self.handle.namespaces else []
        fleet_before = self.handle.fleet_cpu_seconds()
        proc = subprocess.run([*prefix, *helper, "--", *contender.argv], env=contender.env,
                              cwd=str(self.args.dir), capture_output=True, text=True)
        fleet_cpu = self.handle.fleet_cpu_seconds() - fleet_before
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"measure helper failed: {proc.stdout}{proc.stderr}")
        m = json.loads(out.read_text())
        stdout = Path(str(out) + ".stdout").read_text(errors="replace")
        ok, note = check_output(stdout, m["rc"], hosts)
        if m["leftover"]:
            note = (note + "; " if note else "") + f"left running: {m['leftover']}"
        run = Run(contender.name, hosts, rtt, m["wall"], m["cpu"], m["max_rss_kb"], m["peak_tree_kb"],
                  m["load1"], fleet_cpu, ok, note)
        flag = "" if ok else f"  FAILED: {note}; see {out}.stdout/.stderr"
        print(f"    {LABELS[contender.name]:<32} {run.wall:8.3f} s  cpu {run.cpu:6.2f} s  "
              f"rss {run.peak_tree_kb / 1024:7.1f} MB  hosts' cpu {fleet_cpu:6.2f} s  "
              f"load {run.load1:5.2f}{'' if record else '  (warm-up, not counted)'}{flag}", flush=True)
        if record:
            self.results.runs.append(run)
            self.results.save(self.args.dir / "results.json")
        return run

    def run(self) -> None:
        names = self.args.contenders
        for rtt in self.args.rtt:
            self.handle.set_rtt(rtt)
            probe = probe_rtt(self.handle.controller_ns, self.setup.targets[0].address, self.setup.targets[0].port)
            if self.handle.namespaces:   # the same, straight to sshd inside the host: what sshd itself takes
                host = self.handle.fleet.hosts[0]
                direct = probe_rtt(host_ns(host.index), "127.0.0.1", host.ssh_port)
                probe.update({f"direct_{k}": v for k, v in direct.items()})
                probe["effective_rtt_ms"] = probe["round_trip_ms"] - direct["round_trip_ms"]
            self.results.probes[f"{rtt:g}"] = probe
            print(f"RTT {rtt:g} ms: connect -> SSH banner {probe['connect_to_banner_ms']:.1f} ms "
                  f"(2 RTT + sshd; straight to sshd: {probe.get('direct_connect_to_banner_ms', 0):.1f} ms), "
                  f"our banner -> sshd's KEXINIT {probe['round_trip_ms']:.1f} ms (1 RTT + sshd; straight: "
                  f"{probe.get('direct_round_trip_ms', 0):.1f} ms) => effective RTT "
                  f"{probe.get('effective_rtt_ms', probe['round_trip_ms']):.1f} ms", flush=True)
            for n in self.args.sizes:
                self.setup.files_for(n)
                print(f"  {n} host(s), RTT {rtt:g} ms; uptime: {_uptime()}", flush=True)
                masters: list[int] = []
                warm = any(w in names for w in WARM) and n <= self.args.warm_max_hosts
                if warm:
                    self.timed(self.setup.contender("ssh-warm", n), n, rtt, record=False)
                    masters = self.setup.warm_masters(n)
                keeper = self.start_keeper(n) if "herd-keep" in names else []
                for i in range(self.args.runs):
                    for name in names:
                        if name == "herd-forks" and n <= self.default_forks:
                            continue   # the same command as "herd" at this size
                        if name in WARM and not warm:
                            continue
                        if name in SLOW and n > self.args.slow_above and i >= self.args.slow_runs:
                            continue
                        extra = masters if name in WARM else keeper if name == "herd-keep" else None
                        self.timed(self.setup.contender(name, n), n, rtt, extra_pids=extra)
                if masters:
                    self.setup.close_masters()
                if keeper:
                    self.stop_keepers()

    def start_keeper(self, n: int) -> list[int]:
        """Start the keeper of size ``n``'s inventory and let it connect (outside any timed run): its pid.

        It runs in the controller's namespace, detached; its CPU during the
        timed runs is added to the contender's, as the ssh masters' are.
        """
        contender = self.setup.contender("herd-keep", n)
        prefix = ["ip", "netns", "exec", CTL_NS] if self.handle.namespaces else []
        for _ in range(2):   # the first starts it and connects through it; the second checks it is warm
            subprocess.run([*prefix, *contender.argv], env=contender.env, capture_output=True, check=False)
        shown = subprocess.run([*prefix, str(herd_bin()), "keeper", "status", "-o", "json"], env=contender.env,
                               capture_output=True, text=True, check=False)
        try:
            pids = [int(k["pid"]) for k in json.loads(shown.stdout)]
        except (ValueError, KeyError, TypeError):
            pids = []
        print(f"    keeper started for {n} host(s): pid {pids}", flush=True)
        return pids

    def stop_keepers(self) -> None:
        env = self.setup.keeper_env()
        prefix = ["ip", "netns", "exec", CTL_NS] if self.handle.namespaces else []
        subprocess.run([*prefix, str(herd_bin()), "keeper", "stop", "--all"], env=env, capture_output=True,
                       check=False)

    def warm_up(self) -> None:
        print("warm-up (page cache), 1 host, not counted:", flush=True)
        self.setup.files_for(1)
        for name in self.args.contenders:
            if name not in ("herd-forks", "herd-keep"):
                self.timed(self.setup.contender(name, 1), 1, 0, record=False)
        self.setup.close_masters()


def default_forks() -> int:
    """herd's default --forks, as its help says it."""
    proc = subprocess.run([str(herd_bin()), "status", "--help"], capture_output=True, text=True)
    found = re.search(r"--forks N\s+Hosts contacted at once\.\s+\[default:\s*(\d+)\]", proc.stdout)
    return int(found.group(1)) if found else 50


def _user() -> str:
    import pwd
    return pwd.getpwuid(os.geteuid()).pw_name


def _uptime() -> str:
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def idle_fleet_cpu(handle: FleetHandle, seconds: float = 5.0) -> float:
    before = handle.fleet_cpu_seconds()
    time.sleep(seconds)
    return (handle.fleet_cpu_seconds() - before) / seconds


def startup_time(runs: int, directory: Path) -> dict[str, Any]:
    """`herd --help` wall time: hyperfine when installed, else repeated runs."""
    herd = str(herd_bin())
    out: dict[str, Any] = {"load_before": os.getloadavg()[0], "herd": herd}
    if shutil_which("hyperfine"):
        export = directory / "hyperfine.json"
        subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(export),
                        f"{herd} --help", f"{herd} status --help"], check=True, capture_output=True)
        for entry in json.loads(export.read_text())["results"]:
            out[entry["command"].replace(herd, "herd")] = {
                "median": entry["median"], "mean": entry["mean"], "min": entry["min"], "max": entry["max"],
                "tool": "hyperfine"}
    else:
        for cmd in ([herd, "--help"], [herd, "status", "--help"]):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                subprocess.run(cmd, capture_output=True, check=True)
                times.append(time.perf_counter() - t0)
            out[" ".join(cmd).replace(herd, "herd")] = {"median": statistics.median(times), "min": min(times),
                                                        "max": max(times), "tool": "repeated runs"}
    proc = subprocess.run([str(VENV / "bin" / "python"), "-X", "importtime", "-c", "import herd.cli"],
                          capture_output=True, text=True)
    modules = {line.split("|")[2].strip() for line in proc.stderr.splitlines() if line.count("|") == 2}
    out["heavy_imported_for_cli"] = sorted(m for m in ("paramiko", "yaml", "cryptography", "nacl") if m in modules)
    out["load_after"] = os.getloadavg()[0]
    return out


def shutil_which(name: str) -> str | None:
    import shutil
    return shutil.which(name)


def run_script(name: str, args: list[str]) -> dict[str, Any]:
    path = HERE / name
    if not path.exists():
        return {"status": f"scripts/{name} does not exist yet: not measured"}
    load = os.getloadavg()[0]
    proc = subprocess.run([str(VENV / "bin" / "python"), str(path), *args], capture_output=True, text=True)
    return {"status": "ok" if proc.returncode == 0 else f"exit {proc.returncode}", "output": proc.stdout,
            "stderr": proc.stderr[-2000:], "load_before": load, "load_after": os.getloadavg()[0]}


# --------------------------------------------------------------------------
# Tables and the picture
# --------------------------------------------------------------------------

def summarize(results: Results) -> list[dict[str, Any]]:
    rows: dict[tuple[float, int, str], list[Run]] = {}
    for run in results.runs:
        rows.setdefault((run.rtt_ms, run.hosts, run.contender), []).append(run)
    out = []
    for (rtt, hosts, name), runs in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                       CONTENDERS.index(kv[0][2]))):
        good = [r for r in runs if r.ok]
        herd = [r for r in rows.get((rtt, hosts, "herd"), []) if r.ok]
        wall = statistics.median(r.wall for r in good) if good else None
        herd_wall = statistics.median(r.wall for r in herd) if herd else None
        out.append({"rtt_ms": rtt, "hosts": hosts, "contender": name, "runs": len(runs), "failed": len(runs) - len(good),
                    "wall": wall, "cpu": statistics.median(r.cpu for r in good) if good else None,
                    "peak_mb": max(r.peak_tree_kb for r in good) / 1024 if good else None,
                    "max_rss_mb": max(r.max_rss_kb for r in good) / 1024 if good else None,
                    "fleet_cpu": statistics.median(r.fleet_cpu for r in good) if good else None,
                    "load": [round(r.load1, 2) for r in runs],
                    "ratio": wall / herd_wall if wall and herd_wall else None})
    return out


def print_tables(results: Results, file: Any = sys.stdout) -> None:
    rows = summarize(results)
    meta = results.meta
    print(f"\n{meta.get('mode', '')}; {meta.get('cores', '?')} cores; runs per cell: {meta.get('runs', '?')}; "
          f"started {meta.get('started', '')}", file=file)
    header = ("| RTT | hosts | contender | median wall s | x herd | CPU s | peak RSS MB | largest process MB "
              "| hosts' CPU s | runs | load (1 min) at each run |")
    print(header, file=file)
    print("|---" * (header.count("|") - 1) + "|", file=file)
    for r in rows:
        def f(x: float | None, fmt: str) -> str:
            return "-" if x is None else format(x, fmt)
        runs = f"{r['runs']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
        print(f"| {r['rtt_ms']:g} ms | {r['hosts']} | {LABELS[r['contender']]} | {f(r['wall'], '.3f')} | "
              f"{f(r['ratio'], '.2f')} | {f(r['cpu'], '.2f')} | {f(r['peak_mb'], '.0f')} | "
              f"{f(r['max_rss_mb'], '.0f')} | {f(r['fleet_cpu'], '.2f')} | {runs} | "
              f"{', '.join(map(str, r['load']))} |", file=file)


def targets(results: Results) -> list[tuple[str, str, bool | None]]:
    """The issue's targets: (what, measured, met); met is None when not measured."""
    cells = {(r["rtt_ms"], r["hosts"], r["contender"]): r for r in summarize(results)}

    def wall(rtt: float, hosts: int, name: str) -> float | None:
        cell = cells.get((rtt, hosts, name))
        return cell["wall"] if cell else None

    out: list[tuple[str, str, bool | None]] = []
    rtt = 40.0
    herd20, pssh20, floor20 = wall(rtt, 20, "herd"), wall(rtt, 20, "pssh"), wall(rtt, 20, "floor")
    herd100, floor100 = wall(rtt, 100, "herd"), wall(rtt, 100, "floor")
    if herd20 and pssh20:
        out.append(("20 hosts, 40 ms: parallel-ssh >= 4x herd", f"{pssh20 / herd20:.1f}x ({pssh20:.2f} s vs "
                    f"{herd20:.2f} s)", pssh20 / herd20 >= 4))
    else:
        out.append(("20 hosts, 40 ms: parallel-ssh >= 4x herd", "not measured", None))
    for hosts, h, f in ((20, herd20, floor20), (100, herd100, floor100)):
        what = f"{hosts} hosts, 40 ms: herd <= 1.3x the paramiko floor"
        out.append((what, f"{h / f:.2f}x ({h:.2f} s vs {f:.2f} s)", h / f <= 1.3) if h and f
                   else (what, "not measured", None))
    cell = cells.get((rtt, 100, "herd"))
    what = "100 hosts, 40 ms: herd peak memory < 150 MB"
    out.append((what, f"{cell['peak_mb']:.0f} MB", cell["peak_mb"] < 150) if cell and cell["peak_mb"]
               else (what, "not measured", None))
    for hosts, limit in ((100, 0.25), (20, 0.15)):
        kept = wall(rtt, hosts, "herd-keep")
        what = f"{hosts} hosts, 40 ms: warm herd status (keeper) < {limit:g} s"
        out.append((what, f"{kept:.3f} s median", kept < limit) if kept else (what, "not measured", None))
    start = results.extras.get("startup", {}).get("herd --help")
    out.append(("herd --help < 0.25 s", f"{start['median'] * 1000:.0f} ms median" if start else "not measured",
                start["median"] < 0.25 if start else None))
    return out


def print_targets(results: Results, file: Any = sys.stdout) -> None:
    print("\n| target | measured | |\n|---|---|---|", file=file)
    for what, measured, met in targets(results):
        print(f"| {what} | {measured} | {'met' if met else 'MISSED' if met is False else '-'} |", file=file)


def report_main(args: argparse.Namespace) -> int:
    """The results as markdown, for docs/benchmarks.md."""
    results = Results.load(Path(args.results))
    meta = results.meta
    loads = [r.load1 for r in results.runs]
    print(f"Run of {meta.get('started', '?')[:16].replace('T', ' ')} to {meta.get('finished', '?')[11:16]} "
          f"(UTC): {meta.get('mode')}; {meta.get('cores')} cores shared with other engineers' test suites; "
          f"1-minute load average at the start of each run {min(loads):.1f} to {max(loads):.1f} "
          f"(median {statistics.median(loads):.1f}); kernel {meta.get('uname')}; {meta.get('ssh')}; "
          f"{len(meta.get('sizes', []))} sizes x {len(meta.get('rtt', []))} RTTs, {meta.get('runs')} runs per cell "
          f"({meta.get('slow_note')}); {meta.get('fleet_start_seconds')} s to start "
          f"{max(meta.get('sizes', [0]))} hosts; the idle fleet used "
          f"{meta.get('idle_fleet_cpu_share', 0) * 100:.0f}% of one core.\n")
    for rtt, probe in results.probes.items():
        if "direct_round_trip_ms" in probe:
            print(f"- RTT {rtt} ms, measured through the relay: connect to SSH banner "
                  f"{probe['connect_to_banner_ms']:.1f} ms (straight to sshd in the namespace: "
                  f"{probe['direct_connect_to_banner_ms']:.1f} ms), client banner to sshd's KEXINIT "
                  f"{probe['round_trip_ms']:.1f} ms (straight: {probe['direct_round_trip_ms']:.1f} ms): "
                  f"effective RTT {probe['effective_rtt_ms']:.1f} ms.")
    print()
    print_tables(results)
    print_targets(results)
    start = results.extras.get("startup")
    if start:
        print(f"\n`herd --help` and `herd status --help` ({start.get('herd')}; hyperfine, load "
              f"{start['load_before']:.1f} before, {start['load_after']:.1f} after):\n")
        for cmd in ("herd --help", "herd status --help"):
            f = start.get(cmd)
            if f:
                print(f"- `{cmd}`: median {f['median'] * 1000:.0f} ms, min {f['min'] * 1000:.0f}, "
                      f"max {f['max'] * 1000:.0f} ({f['tool']})")
        print(f"- heavy modules imported by `import herd.cli`: {start['heavy_imported_for_cli'] or 'none'}")
    for name in ("bench-rolling", "bench-follow"):
        extra = results.extras.get(name)
        if extra:
            print(f"\n`scripts/{name}` (load {extra.get('load_before', 0):.1f} before, "
                  f"{extra.get('load_after', 0):.1f} after): {extra['status']}\n")
            if extra.get("output"):
                print("\n".join("    " + line for line in extra["output"].rstrip().splitlines()))
    return 0


def plot_main(args: argparse.Namespace) -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = Results.load(Path(args.results))
    rows = summarize(results)
    rtts = sorted({r["rtt_ms"] for r in rows})
    fig, axes = plt.subplots(1, len(rtts), figsize=(6 * len(rtts), 4.8), squeeze=False, sharey=True)
    styles = {"herd": ("tab:blue", "o", 2.6), "herd-forks": ("tab:cyan", "o", 1.2), "floor": ("tab:gray", "s", 1.4), "pssh": ("tab:orange", "^", 1.6),
              "ssh": ("tab:red", "v", 1.6), "ssh-warm": ("tab:pink", "D", 1.4), "ansible": ("tab:green", "P", 1.6)}
    for ax, rtt in zip(axes[0], rtts):
        for name in CONTENDERS:
            pts = sorted((r["hosts"], r["wall"]) for r in rows
                         if r["rtt_ms"] == rtt and r["contender"] == name and r["wall"])
            if not pts:
                continue
            color, marker, width = styles[name]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, linewidth=width,
                    label=LABELS[name], linestyle="--" if name == "floor" else "-")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"herd status vs. others, RTT {rtt:g} ms" + ("" if results.meta.get("namespaces")
                                                                  else " (loopback, no latency)"))
        ax.set_xlabel("hosts")
        ax.grid(True, which="both", alpha=0.3)
        sizes = sorted({r["hosts"] for r in rows})
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(s) for s in sizes])
    axes[0][0].set_ylabel("median wall time, seconds (log)")
    axes[0][-1].legend(loc="upper left", fontsize=8)
    meta = results.meta
    fig.text(0.01, 0.01, f"{meta.get('cores')} shared cores, load {meta.get('load_range', '?')}; "
             f"median of {meta.get('runs')} runs ({meta.get('slow_note', '')}); hosts share the "
             f"controller's CPU. scripts/bench, {meta.get('started', '')[:10]}", fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png}")
    return 0


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------

def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


@contextlib.contextmanager
def single_instance() -> Iterator[None]:
    with open(LOCK_PATH, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit("another scripts/bench is running (lock on /tmp/herdbench.lock)") from None
        yield


def cleanup_main(args: argparse.Namespace) -> int:
    tf, proc = _testfleet(), _processes()
    directory = Path(args.dir)
    relays = directory / "relays.json"
    if relays.exists():
        with contextlib.suppress(ValueError, OSError):
            for pid in json.loads(relays.read_text()).values():
                proc.kill_tree(pid, "bench-relay.py")
        relays.unlink()
    if (directory / "fleet" / "state.json").exists():
        with contextlib.suppress(Exception):
            tf.LocalFleet.load(directory / "fleet").stop()
    for ns in delete_network():
        print(f"removed namespace {ns}")
    if not args.quiet:
        print("clean: no herdbench namespace, relay or fleet left")
    return 0


def up_main(args: argparse.Namespace) -> int:
    """Start the fleet (and namespaces) and leave it running, for profiling by hand."""
    args.dir = Path(args.dir).resolve()
    args.dir.mkdir(parents=True, exist_ok=True)
    namespaces = os.geteuid() == 0 and not args.loopback
    handle = FleetHandle(args.dir, args.hosts, namespaces)
    try:
        if namespaces:
            create_network(args.hosts)
        handle.start()
    except BaseException:
        handle.stop()
        if namespaces:
            delete_network()
        raise
    handle.set_rtt(args.rtt if namespaces else 0)
    setup = Setup(args.dir, handle.targets(), _user())
    setup.files_for(args.hosts)
    prefix = f"ip netns exec {CTL_NS} " if namespaces else ""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in setup.env().items() if k in ("HOME", "ANSIBLE_CONFIG"))
    print(f"{args.hosts} hosts up, RTT {args.rtt if namespaces else 0:g} ms (change: echo MS > {handle.rtt_file})")
    for name in CONTENDERS:
        print(f"  {prefix}env {env} {shlex.join(setup.contender(name, args.hosts).argv)}")
    print("remove with: scripts/bench --cleanup")
    return 0


def run_main(args: argparse.Namespace) -> int:
    args.dir = Path(args.dir).resolve()
    unknown = [c for c in args.contenders if c not in CONTENDERS]
    if unknown:
        raise SystemExit(f"unknown contender(s) {unknown}; choose from {CONTENDERS}")
    if "ansible" in args.contenders and not (BENCH_VENV / "bin" / "ansible").exists():
        print("ansible-core is not installed in .bench-venv: skipping Ansible", file=sys.stderr)
        args.contenders.remove("ansible")
    if "pssh" in args.contenders and not shutil_which("parallel-ssh"):
        print("parallel-ssh is not installed: skipping it", file=sys.stderr)
        args.contenders.remove("pssh")
    namespaces = os.geteuid() == 0 and not args.loopback
    if not namespaces:
        print("NOT root (or --loopback): loopback fleet, every host on 127.0.0.1; latency is NOT simulated "
              "(--rtt ignored, 0 only)", file=sys.stderr)
        args.rtt = [0.0]
    count = max(args.sizes)
    results = Results(meta={
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "namespaces": namespaces,
        "mode": ("network namespaces, one per host, latency relay" if namespaces
                 else "loopback fleet, latency not simulated"),
        "cores": os.cpu_count(), "runs": args.runs, "sizes": args.sizes, "rtt": args.rtt,
        "contenders": args.contenders,
        "slow_note": f"parallel-ssh, ssh loops and Ansible: {args.slow_runs} run(s) above {args.slow_above} hosts",
        "uname": os.uname().release, "ssh": subprocess.run(["ssh", "-V"], capture_output=True,
                                                            text=True).stderr.strip()})
    args.dir.mkdir(parents=True, exist_ok=True)
    handle = FleetHandle(args.dir, count, namespaces)
    stop = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    bench_ref: list[Bench] = []
    try:
        if namespaces:
            create_network(count)
        began = time.perf_counter()
        print(f"starting {count} light hosts ({results.meta['mode']}); {_uptime()}", flush=True)
        handle.start()
        results.meta["fleet_start_seconds"] = round(time.perf_counter() - began, 1)
        print(f"fleet up in {results.meta['fleet_start_seconds']} s", flush=True)
        results.meta["idle_fleet_cpu_share"] = round(idle_fleet_cpu(handle), 3)
        print(f"idle fleet uses {results.meta['idle_fleet_cpu_share'] * 100:.1f}% of one core", flush=True)
        bench = Bench(args, handle, results)
        bench_ref.append(bench)
        bench.warm_up()
        bench.run()
        loads = [r.load1 for r in results.runs]
        results.meta["load_range"] = f"{min(loads):.1f}-{max(loads):.1f}" if loads else "?"
    finally:
        for bench in bench_ref:
            with contextlib.suppress(Exception):
                bench.setup.close_masters()
            with contextlib.suppress(Exception):
                bench.stop_keepers()
        if not args.keep:
            handle.stop()
            if namespaces:
                delete_network()
        else:
            print("--keep: fleet left running; scripts/bench --cleanup removes it", file=sys.stderr)
    if args.startup:
        print(f"herd start-up ({_uptime()}):", flush=True)
        results.extras["startup"] = startup_time(args.startup_runs, args.dir)
        for cmd, figures in results.extras["startup"].items():
            if isinstance(figures, dict):
                print(f"  {cmd:<20} median {figures['median'] * 1000:.0f} ms (min {figures['min'] * 1000:.0f}, "
                      f"max {figures['max'] * 1000:.0f}) [{figures['tool']}]")
    if args.extras:
        for name, script_args in (("bench-rolling", []), ("bench-follow", [])):
            print(f"scripts/{name} ({_uptime()}):", flush=True)
            results.extras[name] = run_script(name, script_args)
            print(results.extras[name].get("output") or results.extras[name]["status"], flush=True)
    results.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out = Path(args.out) if args.out else args.dir / "results.json"
    results.save(out)
    print_tables(results)
    print_targets(results)
    print(f"\nresults: {out}")
    if args.plot and (BENCH_VENV / "bin" / "python").exists():
        subprocess.run([str(BENCH_VENV / "bin" / "python"), __file__, "plot", str(out), args.plot], check=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build the fleet, run every contender, print the tables")
    run.add_argument("--sizes", type=_ints, default=[1, 20, 100], help="host counts (default 1,20,100)")
    run.add_argument("--rtt", type=_floats, default=[0.0, 40.0], help="round-trip times in ms (default 0,40)")
    run.add_argument("--runs", type=int, default=3, help="timed runs per contender and cell (default 3)")
    run.add_argument("--contenders", type=lambda s: [c for c in s.split(",") if c], default=list(CONTENDERS),
                     help=f"comma-separated, from {','.join(CONTENDERS)} (default: all)")
    run.add_argument("--slow-runs", type=int, default=1,
                     help="runs of parallel-ssh, the ssh loops and Ansible above --slow-above hosts (default 1)")
    run.add_argument("--slow-above", type=int, default=20)
    run.add_argument("--warm-max-hosts", type=int, default=20,
                     help="largest size with the ControlPersist ssh loop (default 20)")
    run.add_argument("--loopback", action="store_true", help="no namespaces even as root (no latency)")
    run.add_argument("--dir", default=str(DEFAULT_DIR))
    run.add_argument("--out", default=None, help="results JSON (default DIR/results.json)")
    run.add_argument("--plot", default=str(ROOT / "docs" / "bench-status.png"), help="PNG to draw ('' for none)")
    run.add_argument("--keep", action="store_true", help="leave the fleet and namespaces running")
    run.add_argument("--no-startup", dest="startup", action="store_false", help="skip `herd --help` timing")
    run.add_argument("--startup-runs", type=int, default=30)
    run.add_argument("--extras", action="store_true", help="also scripts/bench-rolling and scripts/bench-follow")
    run.set_defaults(func=run_main)
    up = sub.add_parser("up", help="start the fleet and leave it running (profiling by hand)")
    up.add_argument("--hosts", type=int, default=20)
    up.add_argument("--rtt", type=float, default=40.0)
    up.add_argument("--loopback", action="store_true")
    up.add_argument("--dir", default=str(DEFAULT_DIR))
    up.set_defaults(func=up_main)
    clean = sub.add_parser("cleanup", help="remove what a killed run left behind")
    clean.add_argument("--dir", default=str(DEFAULT_DIR))
    clean.add_argument("--quiet", action="store_true")
    clean.set_defaults(func=cleanup_main)
    plot = sub.add_parser("plot")
    plot.add_argument("results")
    plot.add_argument("png")
    plot.set_defaults(func=plot_main)
    table = sub.add_parser("table")
    table.add_argument("results")
    table.set_defaults(func=lambda a: (print_tables(Results.load(Path(a.results))),
                                       print_targets(Results.load(Path(a.results))), 0)[-1])
    report = sub.add_parser("report", help="the results as markdown (docs/benchmarks.md)")
    report.add_argument("results")
    report.set_defaults(func=report_main)
    measure = sub.add_parser("measure")
    measure.add_argument("--out", required=True)
    measure.add_argument("--extra-pids", default="")
    measure.add_argument("cmd", nargs=argparse.REMAINDER)
    measure.set_defaults(func=measure_main)
    args = parser.parse_args(argv)
    if args.command == "measure":
        if args.cmd and args.cmd[0] == "--":
            args.cmd = args.cmd[1:]
        return measure_main(args)
    if args.command in ("run", "cleanup", "up"):
        with single_instance():
            return args.func(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
