"""A local test fleet: K "hosts", each a real OpenSSH sshd and a real supervisord.

Every host listens on 127.0.0.1 only.  Used by the tests (the fixtures of
herd.testing.pytest_plugin), by ``herd demo``, ``scripts/demo`` and the
benchmarks; from a shell (herd.localfleet.cli)::

    python -m herd.localfleet start DIR --hosts 3 --inet web03 --no-streamlocal web02
    python -m herd.localfleet start DIR --hosts 2 --distro web01 --dropbear web02   # as root
    python -m herd.localfleet start DIR --hosts 2 --release web01=3.0a12,web02=3.1.4
    python -m herd.localfleet status DIR
    python -m herd.localfleet stop DIR

Layout of DIR::

    inventory.yaml  known_hosts  client_key(.pub)  state.json  app.py  worker.py
    web01/  sshd_config  ssh_host_ed25519_key(.pub)  sshd.log  supervisord.conf
            supervisor.sock  supervisor.pass (inet hosts)  app.broken (break_app)
            logs/  (supervisord.log, tornado-8080.out.log, worker.err.log, ...)

Distribution-style hosts (``--distro``, ``--dropbear``; root only) are built
like a Debian server in a mount namespace of their own: see herd.localfleet.distro.

Release hosts (``releases=``, ``--release``) run a real supervisord of an
older release on its own Python (herd.localfleet.releases; see start()).  The
seed's 3.0a12 host adds to its directory what the seed's project has:
``supervisor/`` (the build), ``meld3/__init__.py``, ``main.py`` and ``log/``
(supervisord.log, tornado-PORT.log).

Ports: see herd.localfleet.ports.  With an explicit ``base_port`` the tornado
ports are base_port+10*i+0..3 and sshd/inet ports still come from a reserved
block.

Misbehaving hosts: ``LocalFleet.impersonate(name, behaviour)`` stops a host's
supervisord and serves its socket (or inet port) with
herd/localfleet/hostile.py instead (escape sequences, a huge or endless
answer, a drip, a hang, garbage, an entity bomb, thousands of processes);
``LocalFleet.restore(name)`` puts supervisord back.

Processes: sshd runs as ``/usr/sbin/sshd -D -e -f CONFIG`` and supervisord as
``python -m supervisor.supervisord -n -c CONF`` (the release's Python with
PYTHONPATH naming the release on a release host; the seed's ``python2.7
supervisor/supervisord.py -n`` in its directory, recognised by that
directory); how they are started, recognised and reaped is
herd.localfleet.processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, cast

from herd.localfleet import apps
from herd.localfleet import distro as distro_hosts
from herd.localfleet.hosts import (ADDRESS, DISTRO_SOCKET, INET_SLOT, PORT_STRIDE, PROCS_PER_HOST, SEED_RELEASE,
                                SSH_SLOT, SSHD, START_TIMEOUT, FleetError, FleetHost, host_name)
from herd.localfleet.keys import keygen, known_hosts_line, write_private
from herd.localfleet.ports import PortRegistry, port_free
from herd.localfleet.probes import accepts, listening, unix_rpc, wait_ssh_banner
from herd.localfleet.processes import (REAPER, backoff, cmdline, descendants, ensure_privsep_dir, kill_tree, log_tail,
                                    owns, pid_stopped, spawn, supervisord_env, terminate_gracefully)
from herd.localfleet.releases import Release, install_all
from herd.localfleet.templates import (inventory_yaml, program_source, seed_supervisord_conf, sshd_config,
                                       supervisord_conf)

SOCKET_PATH_MAX = 100       # sun_path is 108 bytes with the NUL; keep a margin
STATE_VERSION = 1
SUPERVISORD_GRACE = 20.0    # supervisord stops its programs (stopwaitsecs=5)
_UNSAFE_PATH = re.compile(r"[\s%\"';#\\]")


@dataclass
class _Plan:
    """What LocalFleet.start needs before any file is written."""

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
    releases: dict[str, Release] = field(default_factory=dict)   # hosts running a supervisor release
    wanted: dict[str, str] = field(default_factory=dict)         # ... as asked ("4.1.0", "4.1.0@3.6")


class LocalFleet:
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
              layouts: dict[str, dict[str, Any]] | None = None, seed_app: bool = False,
              release: str | None = None, releases: dict[str, str] | None = None) -> LocalFleet:
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
        [unix_http_server] and [supervisorctl], the password in password_file);
        ``"pythons": ["2.7"]`` gives a distro host Pythons of its own: its
        /usr/bin/python* are those alone (no python3), and its supervisord is
        /usr/bin/supervisord running its release on one of them.  A CentOS 7
        host: ``distro=["web01"], releases={"web01": "3.1.4"},
        layouts={"web01": {"layout": "fedora", "pythons": ["2.7"]}}``.
        ``"requiretty": True`` adds ``Defaults requiretty`` to its sudoers;
        ``"hidepid": True`` mounts its own /proc with hidepid=2;
        ``"app": "unix"`` or ``"inet"`` runs the app's own supervisord too, as
        deploy from /srv/app, and ``"system": False`` leaves the
        distribution's stopped (herd.localfleet.apps).

        ``seed_app`` (off by default) runs the seed deployment's Tornado
        program on the plain hosts instead (stdout_logfile=NONE,
        stderr_logfile=NONE, Tornado writing WEBNN/log/tornado-PORT.log via
        --log_file_prefix, a line a second and one per request) and names
        those files under ``logs:`` in the inventory.

        ``releases`` (``{"web01": "3.0a12", "web02": "3.1.4"}``) makes hosts run a
        real supervisord of that release on the Python its hosts run it on,
        installed once into a cache shared by every run (herd.localfleet.releases:
        a missing interpreter is a one-line FleetError); ``release`` does so
        for every host not named in ``releases``.  Other hosts run the
        supervisor installed in the fleet's Python.  Release hosts use the
        fleet's supervisord.conf (``-c CONF``) with PYTHONPATH naming the
        release; 3.0a12 runs the seed's way instead: its build copied into
        the host's directory (the project) beside an empty stand-in
        ``meld3/__init__.py``, the seed's config as ./supervisord.conf,
        started as ``cd DIR/webNN && PYTHONPATH=. python2.7
        supervisor/supervisord.py -n`` (-n, which the seed does not give, so
        that the fleet keeps supervisord's pid), its Tornado logging to
        DIR/webNN/log/tornado-PORT.log (named under the host's ``logs:`` in
        the inventory).  ``supervisorctl(name)`` runs the host's own release."""
        wanted = {**{h: release for h in map(host_name, range(hosts)) if release}, **(releases or {})}
        plan = plan_fleet(Path(directory), hosts, base_port, no_streamlocal, inet, distro, dropbear, hidden or {},
                          layouts or {}, wanted)
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
    def _allocate(cls, plan: _Plan, registry: PortRegistry, light: bool) -> LocalFleet:
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
        (d / "app.py").write_text(program_source("app.py"))
        (d / "worker.py").write_text(program_source("worker.py"))
        keygen(self.client_key_path, "testfleet-client")
        self._parallel(self._write_host_files, [h.name for h in self.hosts])
        self.known_hosts_path.write_text("".join(known_hosts_line(h) for h in self.hosts))
        self.inventory_path.write_text(inventory_yaml(self))
        self.save()

    def _write_host_files(self, name: str) -> None:
        host = self.host(name)
        os.makedirs(host.log_dir, exist_ok=True)
        if self.seed_app or host.seed_release:
            os.makedirs(os.path.join(host.dir, "log"), exist_ok=True)
            Path(host.dir, "main.py").write_text(program_source("seed_app.py"))
        if host.seed_release:   # the seed's install: cp -R build/lib/supervisor, mkdir meld3, touch __init__.py
            shutil.copytree(os.path.join(host.supervisor_path or "", "supervisor"), os.path.join(host.dir, "supervisor"),
                            dirs_exist_ok=True)
            os.makedirs(os.path.join(host.dir, "meld3"), exist_ok=True)
            Path(host.dir, "meld3", "__init__.py").touch()
        if host.distro:
            distro_hosts.write_files(self, host)
            return
        keygen(Path(host.host_key_path), f"testfleet-{host.name}")
        password = None
        if host.password_file:
            password = secrets.token_urlsafe(18) + "@:/%#"   # needs quoting in a URL
            write_private(host.password_file, password + "\n")
        Path(host.sshd_config_path).write_text(sshd_config(self, host))
        conf = seed_supervisord_conf if host.seed_release else supervisord_conf
        Path(host.conf_path).write_text(conf(self, host, password) + self.extra_config_for(host))

    def extra_config_for(self, host: FleetHost) -> str:
        """``extra_config`` for one host: {name}, {dir}, {logs} and {python} replaced."""
        extra = self.extra_config
        for key, value in (("{name}", host.name), ("{dir}", host.dir), ("{logs}", host.log_dir),
                           ("{python}", self.python)):
            extra = extra.replace(key, value)
        return extra

    def _start_host(self, name: str) -> None:
        timeout = START_TIMEOUT + 0.5 * len(self.hosts)   # 100 hosts on 2 CPUs take ~25 s
        self.start_sshd(name, timeout)
        host = self.host(name)
        if host.system_supervisord:
            self.start_supervisord(name, timeout)
        if host.app:
            apps.start(self, host, timeout)

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
    def load(cls, directory: str | os.PathLike[str]) -> LocalFleet:
        """The fleet described by ``directory``/state.json."""
        path = Path(directory).resolve() / "state.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise FleetError(f"no test fleet in {directory} ({path} is missing)") from exc
        except ValueError as exc:
            raise FleetError(f"{path} is not valid JSON: {exc}") from exc
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
        if owns(host.sshd_pid, host.ssh_marker):
            raise FleetError(f"{name}: sshd is already running (pid {host.sshd_pid})")
        ensure_privsep_dir()
        argv = [SSHD, "-D", "-e", "-f", host.sshd_config_path]
        if host.distro:
            argv = distro_hosts.in_namespace(self, host, distro_hosts.dropbear_argv(host) if host.dropbear else argv)
        pid = spawn(argv, host.sshd_log_path, host.dir)
        host.sshd_pid = pid
        self.save()
        try:
            wait_ssh_banner(host.ssh_port, lambda: REAPER.alive(pid), timeout)
        except FleetError as exc:
            raise FleetError(f"{name}: {exc}; end of {host.sshd_log_path}:\n"
                             f"{log_tail(host.sshd_log_path)}") from exc

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
        if not owns(host.sshd_pid, host.ssh_marker):
            raise FleetError(f"{name}: sshd is not running")
        os.kill(host.sshd_pid, sig)  # type: ignore[arg-type]

    # -- supervisord ---------------------------------------------------------
    def start_supervisord(self, name: str, timeout: float = START_TIMEOUT) -> None:
        """Start ``name``'s supervisord; return when its socket answers and the
        autostart programs are RUNNING."""
        host = self.host(name)
        if self.supervisord_running(host):
            raise FleetError(f"{name}: supervisord is already running (pid {host.supervisord_pid})")
        argv, env = self.supervisor_command(host, "supervisord")
        argv += ["-n"] if host.seed_release else ["-n", "-c", host.conf_path]
        if host.distro:   # as Debian starts it; -j names our staged file, to recognise the pid
            argv = distro_hosts.in_namespace(self, host, [*argv[:-1], host.distro_conf, "-j", f"{host.conf_path}.pid"])
            if not host.pythons:   # the programs' `python` is the fleet's (a host of its own Pythons: theirs)
                env["PATH"] = f"{os.path.dirname(self.python)}:{env.get('PATH', '/usr/bin:/bin')}"
        out = os.path.join(host.log_dir, "supervisord.out")
        pid = spawn(argv, out, host.dir, env)
        host.supervisord_pid = pid
        self.save()
        try:
            self._wait_socket(host, lambda: REAPER.alive(pid), timeout)
        except FleetError as exc:
            raise FleetError(f"{name}: {exc}; end of {out}:\n{log_tail(out)}") from exc
        self.wait_running(name, timeout)

    def stop_supervisord(self, name: str) -> None:
        """Stop ``name``'s supervisord gracefully (it stops its programs first)."""
        host = self.host(name)
        if host.supervisord_pid:
            terminate_gracefully(host.supervisord_pid, host.supervisord_marker, SUPERVISORD_GRACE,
                                 host.supervisord_cwd)
        host.supervisord_pid = None
        self.save()

    def rpc(self, name: str, timeout: float = 10.0) -> xmlrpc.client.ServerProxy:
        """An XML-RPC proxy to ``name``'s supervisord over its unix socket."""
        host = self.host(name)
        return unix_rpc(host.rpc_socket, timeout, host.password if host.distro else None)

    def supervisorctl(self, name: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the real supervisorctl of ``name``'s release against its config (text output,
        never raises on exit code); on the seed's host the seed's way, from its directory."""
        host = self.host(name)
        argv, env = self.supervisor_command(host, "supervisorctl")
        if host.distro:
            argv = distro_hosts.nsenter(host, [*argv, "-c", host.distro_conf, *args])
        else:
            argv += [*args] if host.seed_release else ["-c", host.conf_path, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=host.dir,
                              env=env, stdin=subprocess.DEVNULL)

    def supervisor_command(self, host: FleetHost, tool: str) -> tuple[list[str], dict[str, str]]:
        """The command (without its options) and environment that run supervisor's ``tool``
        (supervisord, supervisorctl) of ``host``'s release: ``python -m supervisor.TOOL`` of the
        fleet's Python, or of the release's Python with PYTHONPATH naming the release, or for
        the seed's 3.0a12 ``python2.7 supervisor/TOOL.py`` with PYTHONPATH=. (run it in host.dir)."""
        env = supervisord_env()
        if host.release is None:
            return [self.python, "-m", f"supervisor.{tool}"], env
        if host.pythons:   # the host's own /usr/bin/supervisord (in its namespace), as its package has it
            return [f"/usr/bin/{tool}"], env
        env.pop("PYTHONHOME", None)
        python = host.supervisor_python or "python"
        if host.seed_release:
            env["PYTHONPATH"] = "."
            return [python, f"supervisor/{tool}.py"], env
        env["PYTHONPATH"] = host.supervisor_path or ""
        return [python, "-m", f"supervisor.{tool}"], env

    @staticmethod
    def supervisord_running(host: FleetHost) -> bool:
        """Is the supervisord the fleet started for ``host`` alive (checked by its command line)?"""
        return owns(host.supervisord_pid, host.supervisord_marker, host.supervisord_cwd)

    def _wait_socket(self, host: FleetHost, alive: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for delay in backoff():
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
        for delay in backoff(0.1):
            try:
                if wanted is None:
                    configs = cast(list[dict[str, Any]], self.rpc(name, 10.0).supervisor.getAllConfigInfo())
                    wanted = {f"{c['group']}:{c['name']}" for c in configs if c["autostart"]}
                states = {k: v for k, v in self.process_states(name).items() if k in wanted}
                if len(states) == len(wanted) and all(v == "RUNNING" for v in states.values()) \
                        and all(accepts(port) for port in self.host(name).tornado_ports):
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
        server instead: herd/localfleet/hostile.py BEHAVIOUR (escapes, many, huge, flood,
        drip, hang, garbage, bomb; ``options`` such as ``--size``, ``--processes`` go to it).
        herd reaches it through the host's real sshd; ``restore(name)`` puts supervisord back."""
        host = self.host(name)
        self.stop_hostile(name)
        self.stop_supervisord(name)
        address = _hostile_address(host)
        pid = spawn([self.python, HOSTILE_SCRIPT, address, behaviour, *options],
                     os.path.join(host.log_dir, "hostile.log"), host.dir)
        host.hostile_pid = pid
        self.save()
        deadline = time.monotonic() + START_TIMEOUT
        for delay in backoff():
            if listening(host):
                return
            if not REAPER.alive(pid) or time.monotonic() >= deadline:
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
        if owns(host.sshd_pid, host.ssh_marker):
            sshd = "paused" if pid_stopped(host.sshd_pid) else "running"  # type: ignore[arg-type]
        up = self.supervisord_running(host)
        procs: dict[str, str] = {}
        if up:
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                procs = self.process_states(host.name)
        return {"name": host.name, "ssh_port": host.ssh_port, "sshd": sshd,
                "supervisord": "running" if up else "stopped", "processes": procs}

    def stop(self) -> None:
        """Stop every process the fleet started and wait until all are gone; idempotent."""
        def stop_host(name: str) -> None:
            apps.stop(self, self.host(name))
            self.stop_hostile(name)
            self.stop_supervisord(name)
            self.stop_sshd(name)
            distro_hosts.stop_namespace(self, self.host(name))

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
        ours |= {apps.marker(h) for h in self.hosts if h.app}   # the app's supervisord and programs
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != me and ours & set(cmdline(int(entry))):
                kill_tree(int(entry), cmdline(int(entry))[0])

    def pids(self) -> list[int]:
        """Every live process of the fleet: sshd, supervisord and their descendants."""
        roots: list[tuple[int | None, str, str | None]] = [(h.sshd_pid, h.ssh_marker, None) for h in self.hosts]
        roots += [(h.supervisord_pid, h.supervisord_marker, h.supervisord_cwd) for h in self.hosts]
        roots += [(h.ns_pid, h.ns_script_path, None) for h in self.hosts if h.distro]
        roots += [(h.app_pid, apps.marker(h), None) for h in self.hosts if h.app]
        found: list[int] = []
        for pid, marker, cwd in roots:
            if pid and owns(pid, marker, cwd):
                found += [pid, *descendants(pid)]
        return found


# --------------------------------------------------------------------------
# Helpers for LocalFleet.start
# --------------------------------------------------------------------------

def plan_fleet(directory: Path, count: int, base_port: int | None,
          no_streamlocal: Iterable[str], inet: Iterable[str],
          distro: Iterable[str] = (), dropbear: Iterable[str] = (),
          hidden: dict[str, list[str]] | None = None,
          layouts: dict[str, dict[str, Any]] | None = None,
          releases: dict[str, str] | None = None) -> _Plan:
    """Validate the arguments of LocalFleet.start, install the releases it needs and prepare the directory."""
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
    unknown = sorted((plan.no_streamlocal | plan.inet | plan.distro | set(releases or {})) - set(plan.names))
    if unknown:
        raise FleetError(f"unknown host(s) {', '.join(unknown)}: the fleet has {plan.names[0]}..{plan.names[-1]}")
    if base_port is not None and not 1024 <= base_port <= 65535 - PORT_STRIDE * count:
        raise FleetError(f"--base-port {base_port} is out of range")
    if plan.distro:
        distro_hosts.check_tools(bool(plan.dropbear))
    plan.wanted = dict(releases or {})
    plan.releases = _install_releases(plan, plan.wanted)
    directory.mkdir(parents=True, exist_ok=True)
    _refuse_running(directory)
    return plan


def _install_releases(plan: _Plan, wanted: dict[str, str]) -> dict[str, Release]:
    """The installed release of every host that runs one (installing each version once)."""
    seed_distro = sorted(n for n, v in wanted.items() if v == SEED_RELEASE and n in plan.distro)
    if seed_distro:
        raise FleetError(f"{', '.join(seed_distro)}: supervisor {SEED_RELEASE} runs the seed's way, from a project "
                         f"directory, not as a distribution's package: not on a distro host")
    for name, setup in sorted(plan.layouts.items()):
        if setup.get("pythons"):
            distro_hosts.check_pythons(name, setup["pythons"], wanted.get(name))
    versions = sorted(set(wanted.values()))
    by_version = dict(zip(versions, install_all(versions))) if wanted else {}
    return {name: by_version[version] for name, version in wanted.items()}


def _refuse_running(directory: Path) -> None:
    if not (directory / "state.json").exists():
        return
    try:
        running = LocalFleet.load(directory).pids()
    except (FleetError, KeyError, TypeError):
        return   # an unreadable old state: nothing we could stop anyway
    if running:
        raise FleetError(f"a fleet is already running in {directory}: stop it first "
                         f"(python -m herd.localfleet stop {directory})")


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
    host = FleetHost(
        name=name, index=index, address=ADDRESS, ssh_port=slot + SSH_SLOT, dir=str(hdir),
        socket_path=socket_path, conf_path=str(hdir / "supervisord.conf"),
        inet_port=slot + INET_SLOT if inet else None,
        password_file=str(hdir / "supervisor.pass") if auth else None,
        tornado_ports=_tornado_ports(plan.base_port or block, [index]),
        streamlocal=name not in plan.no_streamlocal and name not in plan.dropbear,
        distro=name in plan.distro, dropbear=name in plan.dropbear, hidden=list(plan.hidden.get(name, [])),
        layout=setup.get("layout", "debian"), socket_owner=setup.get("owner"), pythons=list(setup.get("pythons", [])),
        requiretty=bool(setup.get("requiretty")), hidepid=bool(setup.get("hidepid")),
        system_supervisord=setup.get("system", True) is not False, **_release_fields(plan, name))
    if setup.get("app"):
        apps.plan(host, setup["app"], slot)
    return host


def _release_fields(plan: _Plan, name: str) -> dict[str, Any]:
    """FleetHost's release, supervisor_python and supervisor_path for host ``name`` (none: {})."""
    release = plan.releases.get(name)
    if release is None:
        return {}
    # as asked: "4.1.0", or "4.1.0@3.6" (that release on another Python: herd.localfleet.releases.split)
    return {"release": plan.wanted[name], "supervisor_python": release.python, "supervisor_path": release.path}


HOSTILE_SCRIPT = str(Path(__file__).resolve().with_name("hostile.py"))


def _hostile_address(host: FleetHost) -> str:
    return f"tcp:{host.inet_port}" if host.inet_port else f"unix:{host.socket_path}"


def _prefixed(name: str, exc: BaseException | None) -> str:
    """``exc``'s message, starting with the host name exactly once."""
    text = str(exc)
    return text if text.startswith(f"{name}:") else f"{name}: {text}"
