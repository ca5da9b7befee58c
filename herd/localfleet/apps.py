"""The app's own supervisord on a distro host, beside (or instead of) the distribution's: layouts ``app``.

As the seed deploys it: a project directory, /srv/app, holding the supervisor
package (copied in, as the seed copies supervisor-3.0a12 into its project),
supervisord.conf and the app; supervisord runs as the login user ``deploy``,
started in that directory without -c (it finds ./supervisord.conf itself),
with a Python any user may run.  So herd's discovery has to find it from the
process: its working directory, its sockets.

``layouts={"web01": {"app": "unix"}}``: it listens on a unix socket under /tmp
(a name of its own per host: /tmp is the machine's); ``"app": "inet"``: on
inet_http_server only (127.0.0.1, a port of the host's block), with a username
and a plain password in its config.  ``"system": False`` leaves the
distribution's supervisord stopped, its config still in /etc (the leftover
case).  The app's programs (two light web processes) name a file of the
fleet on their command line, so a fleet's sweep finds them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import sys
import time
import xmlrpc.client
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from herd.localfleet.hosts import DISTRO_USERS, INET_USERNAME, START_TIMEOUT, FleetError, FleetHost
from herd.localfleet.keys import write_private
from herd.localfleet.probes import unix_rpc
from herd.localfleet.processes import REAPER, backoff, log_tail, spawn, supervisord_env, terminate_gracefully
from herd.localfleet.templates import program_source

if TYPE_CHECKING:
    from herd.localfleet.fleet import LocalFleet

APP_DIR = "/srv/app"
APP_USER = "deploy"
APP_SLOT, APP_INET_SLOT = 6, 8     # offsets in the host's block: two app processes, then the inet port
APP_PROCS = 2
GRACE = 20.0


def staged(host: FleetHost) -> Path:
    """Where the project directory is staged (the namespace script copies it to APP_DIR)."""
    return Path(host.dir) / "app"


def marker(host: FleetHost) -> str:
    """On the command line of the app's supervisord (its -i identifier) and programs: recognises them."""
    return str(staged(host) / "app.py")


def password_file(host: FleetHost) -> str:
    return os.path.join(host.dir, "app.pass")


def python() -> str:
    """A Python the login user may run: Debian's, else the one running the fleet (when reachable)."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else os.path.realpath(sys.executable)


def plan(host: FleetHost, kind: str, slot: int) -> None:
    """Record what the app's supervisord will listen on (at fleet planning)."""
    if kind not in ("unix", "inet"):
        raise FleetError(f"{host.name}: layouts app must be 'unix' or 'inet', not {kind!r}")
    host.app = kind
    host.app_ports = [slot + APP_SLOT + i for i in range(APP_PROCS)]
    if kind == "unix":
        host.app_socket = f"/tmp/tf-{secrets.token_hex(4)}-{host.name}.sock"
    else:
        host.app_port = slot + APP_INET_SLOT


def conf(host: FleetHost, password: str | None) -> str:
    """The project's supervisord.conf (found from its working directory, as the seed's)."""
    server = (f"[unix_http_server]\nfile={host.app_socket}\nchmod=0700\n" if host.app == "unix" else
              f"[inet_http_server]\nport=127.0.0.1:{host.app_port}\nusername={INET_USERNAME}\npassword={password}\n")
    ctl = f"serverurl=unix://{host.app_socket}" if host.app == "unix" else \
        f"serverurl=http://127.0.0.1:{host.app_port}"
    return f"""\
; the app's own supervisord, written by herd.testing for {host.name}
{server}
[supervisord]
logfile=%(here)s/log/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s/log
identifier=app
nodaemon=true
minfds=256
minprocs=64

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
{ctl}

[program:web]
command={python()} %(here)s/app.py --port=%(process_num)s --light {marker(host)}
process_name=%(program_name)s-%(process_num)s
numprocs={APP_PROCS}
numprocs_start={host.app_ports[0]}
directory=%(here)s
startsecs=1
stopwaitsecs=5
stdout_logfile=%(here)s/log/%(program_name)s-%(process_num)s.log
redirect_stderr=true
"""


def write_files(host: FleetHost) -> None:
    """The project directory, staged: the supervisor package, supervisord.conf, the app, log/."""
    spec = importlib.util.find_spec("supervisor")
    if spec is None or spec.origin is None:
        raise FleetError("the app's supervisord needs the supervisor package: pip install supervisor")
    root = staged(host)
    shutil.rmtree(root, ignore_errors=True)
    (root / "log").mkdir(parents=True)
    shutil.copytree(os.path.dirname(spec.origin), root / "supervisor",
                    ignore=shutil.ignore_patterns("__pycache__", "tests"))
    password = None
    if host.app == "inet":
        password = secrets.token_urlsafe(12)
        write_private(password_file(host), password + "\n")
    (root / "supervisord.conf").write_text(conf(host, password))
    (root / "app.py").write_text(program_source("app.py"))


def namespace_lines(host: FleetHost) -> str:
    """What the host's namespace script does for the app: /srv its own, the project in it, the user's."""
    if not host.app:
        return ""
    uid = DISTRO_USERS[APP_USER]
    return (f"mount -t tmpfs -o mode=0755 testfleet-srv /srv\n"
            f"cp -r {staged(host)} {APP_DIR} && chown -R {uid}:{uid} {APP_DIR}\n")


def start(fleet: LocalFleet, host: FleetHost, timeout: float = START_TIMEOUT) -> None:
    """Start the app's supervisord as deploy in /srv/app; return when it answers and its programs run."""
    from herd.localfleet import distro

    uid = DISTRO_USERS[APP_USER]
    run = f"cd {APP_DIR} && exec {python()} -m supervisor.supervisord -n -i {marker(host)}"
    argv = distro.in_namespace(fleet, host, ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                                             "--", "sh", "-c", run])
    env = supervisord_env()
    env.update(HOME=f"/run/home/{APP_USER}", USER=APP_USER, LOGNAME=APP_USER)
    out = os.path.join(host.log_dir, "app-supervisord.out")
    pid = spawn(argv, out, host.dir, env)
    host.app_pid = pid
    fleet.save()
    deadline = time.monotonic() + timeout
    for delay in backoff():
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            infos = cast(list[dict[str, Any]], rpc(host).supervisor.getAllProcessInfo())
            if len(infos) == APP_PROCS and all(i["statename"] == "RUNNING" for i in infos):
                return
        if not REAPER.alive(pid) or time.monotonic() >= deadline:
            raise FleetError(f"{host.name}: the app's supervisord did not start; end of {out}:\n{log_tail(out)}")
        time.sleep(delay)


def rpc(host: FleetHost, timeout: float = 10.0) -> xmlrpc.client.ServerProxy:
    """An XML-RPC proxy to the app's supervisord (its socket in /tmp, or its inet port)."""
    if host.app == "unix":
        assert host.app_socket is not None
        return unix_rpc(host.app_socket, timeout)
    password = Path(password_file(host)).read_text().strip()
    return xmlrpc.client.ServerProxy(f"http://{INET_USERNAME}:{password}@127.0.0.1:{host.app_port}/RPC2")


def stop(fleet: LocalFleet, host: FleetHost) -> None:
    """Stop the app's supervisord (it stops its programs first)."""
    if host.app_pid:
        terminate_gracefully(host.app_pid, marker(host), GRACE)
    host.app_pid = None
    if host.app_socket:
        with contextlib.suppress(OSError):
            os.unlink(host.app_socket)
    fleet.save()
