"""The test fleet's hosts: what each one is (ports, paths, kind), and the fleet's constants.

A host is a directory, an sshd and a supervisord on 127.0.0.1; FleetHost is
what state.json records of it, so every field is plain JSON.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
ADDRESS = "127.0.0.1"
PROCS_PER_HOST = 4          # tornado numprocs, as in the seed deployment
PORT_STRIDE = 10            # ports per host in a block
SSH_SLOT, INET_SLOT = 4, 5  # offsets of the sshd and inet ports in a host's slot
INET_USERNAME = "herd"
START_TIMEOUT = 30.0        # sshd banner / supervisord socket / programs RUNNING
SEED_RELEASE = "3.0a12"     # the seed deployment's supervisor: run from a copy in the project (releases.py)

# Distribution-style hosts (herd.localfleet.distro): where Debian keeps supervisord's
# socket and config, the login user, and the users of every such host.
DISTRO_SOCKET = "/var/run/supervisor.sock"
DISTRO_CONF = "/etc/supervisor/supervisord.conf"
DISTRO_LOGIN = "deploy"
DISTRO_USERS = {"deploy": 2101, "ops": 2102, "intern": 2103}
PYTHONS_MOUNT = "/run/python"                 # a host's own Pythons: /run/python/X.Y (herd.localfleet.distro)
RELEASE_MOUNT = "/run/supervisor-release"     # and its supervisor release, imported by /usr/bin/supervisord


class FleetError(RuntimeError):
    """A test fleet could not be started, reached or stopped; the message says why."""


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
    # A supervisor release of its own (herd.localfleet.releases), run on its own Python;
    # None: the supervisor installed in the fleet's Python.
    release: str | None = None
    supervisor_python: str | None = None   # the interpreter running that release
    supervisor_path: str | None = None     # the installed release (its PYTHONPATH; for 3.0a12 the build)
    # A distro host's own Pythons ("2.7": CentOS 7): /usr/bin/python* in its namespace are
    # those alone, supervisord is /usr/bin/supervisord on one of them (herd.localfleet.distro).
    pythons: list[str] = field(default_factory=list)

    # layouts "requiretty": sudoers has Defaults requiretty (CentOS/RHEL before 7.3);
    # "system": False: the distribution's supervisord is not started (its config stays);
    # "app": the app's own supervisord from /srv/app as deploy (herd.localfleet.apps).
    requiretty: bool = False
    hidepid: bool = False            # layouts "hidepid": the namespace's /proc hides other users' processes
    system_supervisord: bool = True
    app: str | None = None           # "unix" or "inet"
    app_pid: int | None = None
    app_socket: str | None = None
    app_port: int | None = None
    app_ports: list[int] = field(default_factory=list)

    @property
    def seed_release(self) -> bool:
        """True when the host runs the seed's supervisor (3.0a12) the seed's way: a copy in its
        directory (the project), ``PYTHONPATH=. python supervisor/supervisord.py``, config found in cwd."""
        return self.release == SEED_RELEASE

    @property
    def supervisord_marker(self) -> str:
        """What supervisord's command line names (to recognise our own pid): its config, or
        for the seed's supervisord (which names none) its script, checked with supervisord_cwd."""
        return "supervisor/supervisord.py" if self.seed_release else self.conf_path

    @property
    def supervisord_cwd(self) -> str | None:
        """supervisord's working directory when that is what tells it apart (the seed's), else None."""
        return self.dir if self.seed_release else None

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
    def ns_script_path(self) -> str:
        """A distro host's namespace script (run by unshare; its pid holds the namespace)."""
        return os.path.join(self.dir, "ns.sh")

    @property
    def ns_ready_path(self) -> str:
        """Created by the namespace script once the namespace is set up."""
        return os.path.join(self.dir, "ns.ready")

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
