"""Distribution-style test hosts (root only), for sudo, Dropbear and the layouts of real servers.

Built like a Debian server with `apt-get install supervisor`: supervisord runs
as root from /etc/supervisor/supervisord.conf (programs in conf.d/), its socket
/var/run/supervisor.sock is 0700 root, logins are unprivileged (PermitRootLogin
no, or Dropbear with -w) and reach it through sudo:

  deploy  passwordless sudo (the inventory's login user, with become: true)
  ops     sudo asks for its password (in DIR/webNN/sudo.pass)
  intern  not in sudoers (same password as ops, so sudo gets to say so)

Each host has its own mount namespace, held by `sh DIR/webNN/ns.sh`: an overlay
(on a tmpfs) over /etc, where the users, sudoers and /etc/supervisor are added,
and a tmpfs over /run.  sshd/Dropbear and supervisord are started in it with
nsenter, so nothing of the machine's own /etc or /run changes and hosts never
collide.  The program is the seed's Tornado deployment, verbatim but for its
ports (numprocs_start is the host's reserved block: 8080 would collide).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from herd.testing import apps
from herd.testing.hosts import DISTRO_USERS, START_TIMEOUT, FleetError, FleetHost
from herd.testing.keys import keygen, write_private
from herd.testing.processes import REAPER, backoff, kill_tree, log_tail, owns, spawn
from herd.testing.templates import (DISTRO_SUDOERS, distro_sshd_config, distro_supervisord_conf,
                                    namespace_script, program_source, seed_program_conf)

if TYPE_CHECKING:
    from herd.testing.fleet import Fleet


def check_tools(dropbear: bool) -> None:
    """FleetError unless we are root and have what the namespaces and users need."""
    if os.geteuid() != 0:
        raise FleetError("distro hosts need root (a mount namespace per host): run as root")
    tools = ["unshare", "nsenter", "sudo", "openssl"] + (["dropbear", "dropbearkey"] if dropbear else [])
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise FleetError(f"distro hosts need {', '.join(missing)}: apt-get install sudo dropbear-bin openssl")


def dropbear_argv(host: FleetHost) -> list[str]:
    """Dropbear in the foreground, logging to stderr, no password logins, no root (-w)."""
    return [shutil.which("dropbear") or "dropbear", "-F", "-E", "-s", "-w", "-r", host.host_key_path,
            "-p", f"{host.address}:{host.ssh_port}", "-P", os.path.join(host.dir, "dropbear.pid")]


def _host_key(host: FleetHost) -> None:
    """The host key: OpenSSH's for sshd, Dropbear's own format for Dropbear (+ .pub either way)."""
    if not host.dropbear:
        keygen(Path(host.host_key_path), f"testfleet-{host.name}")
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


def write_files(fleet: Fleet, host: FleetHost) -> None:
    """Everything a distro host's namespace script copies in, staged in the host's directory."""
    h = Path(host.dir)
    _host_key(host)
    password = secrets.token_urlsafe(12)
    write_private(host.sudo_password_file, password + "\n")
    hashes = {"deploy": "*", "ops": _password_hash(password), "intern": _password_hash(password)}
    etc = h / "etc"
    fedora = host.layout == "fedora"
    conf_d = etc / "add" / ("supervisord.d" if fedora else "supervisor/conf.d")
    (conf_d / "log").mkdir(parents=True, exist_ok=True)
    (h / "ns").mkdir(exist_ok=True)
    (etc / "passwd").write_text("".join(f"{u}:x:{i}:{i}::/run/home/{u}:/bin/sh\n" for u, i in DISTRO_USERS.items()))
    (etc / "group").write_text("".join(f"{u}:x:{i}:\n" for u, i in DISTRO_USERS.items()))
    write_private(str(etc / "shadow"), "".join(f"{u}:{hashes[u]}:19000:0:99999:7:::\n" for u in DISTRO_USERS))
    (etc / "sudoers").write_text(DISTRO_SUDOERS + ("Defaults requiretty\n" if host.requiretty else ""))
    if host.app:
        apps.write_files(host)
    supervisor_password = None
    if host.password_file:
        supervisor_password = secrets.token_urlsafe(15)
        write_private(host.password_file, supervisor_password + "\n")
    conf = distro_supervisord_conf(host, supervisor_password) + fleet.extra_config_for(host)
    (etc / "add" / host.distro_conf[len("/etc/"):]).write_text(conf)
    Path(host.conf_path).write_text(conf)   # the staged copy names the pid (see start_supervisord)
    program = seed_program_conf(host.tornado_ports[0], fleet.light)
    (conf_d / ("tornado.ini" if fedora else "tornado.conf")).write_text(program)
    (conf_d / "main.py").write_text(program_source("app.py"))
    Path(host.sshd_config_path).write_text(distro_sshd_config(fleet, host))
    Path(host.ns_script_path).write_text(namespace_script(fleet, host))


def nsenter(host: FleetHost, argv: list[str]) -> list[str]:
    """``argv`` run inside the host's (already started) mount namespace."""
    return ["nsenter", "-t", str(host.ns_pid), "-m", "--", *argv]


def in_namespace(fleet: Fleet, host: FleetHost, argv: list[str]) -> list[str]:
    """``argv`` run inside the host's mount namespace, started first if need be."""
    if not owns(host.ns_pid, host.ns_script_path):
        Path(host.ns_ready_path).unlink(missing_ok=True)
        pid = spawn(["unshare", "--mount", "--propagation", "private", "sh", host.ns_script_path],
                    os.path.join(host.dir, "ns.log"), host.dir)
        host.ns_pid = pid
        fleet.save()
        deadline = time.monotonic() + START_TIMEOUT
        for delay in backoff():
            if os.path.exists(host.ns_ready_path):
                break
            if not REAPER.alive(pid) or time.monotonic() > deadline:
                raise FleetError(f"its mount namespace could not be set up: "
                                 f"{log_tail(os.path.join(host.dir, 'ns.log'))}")
            time.sleep(delay)
    return nsenter(host, argv)


def stop_namespace(fleet: Fleet, host: FleetHost) -> None:
    """Stop the process holding a distro host's namespace (its mounts go with it)."""
    if host.ns_pid:
        kill_tree(host.ns_pid, host.ns_script_path)
        host.ns_pid = None
        fleet.save()
