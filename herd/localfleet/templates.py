"""What the test fleet writes: sshd_config, supervisord.conf, the inventory, and its programs' sources.

Pure functions of a LocalFleet and a FleetHost (nothing here starts a process).
The programs themselves (herd/localfleet/programs/: the app, the worker, the seed
deployment's main.py) are real files shipped with herd, read by
``program_source`` and copied into the fleet's directory, so a fleet keeps
working when herd is upgraded under it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
from importlib import resources
from typing import TYPE_CHECKING

from herd.localfleet.hosts import DISTRO_LOGIN, DISTRO_USERS, INET_USERNAME, PROCS_PER_HOST, FleetHost

if TYPE_CHECKING:
    from herd.localfleet.fleet import LocalFleet


def program_source(name: str) -> str:
    """The text of one of the fleet's programs: ``app.py``, ``worker.py`` or ``seed_app.py``."""
    return (resources.files("herd.localfleet") / "programs" / name).read_text(encoding="utf-8")


_CAT = os.path.realpath(shutil.which("cat") or "/bin/cat")


def _current_user() -> str:
    """The login name of the user running the fleet (sshd's and herd's user)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def sshd_config(fleet: LocalFleet, host: FleetHost) -> str:
    """The sshd_config of one host."""
    bindir = os.path.dirname(fleet.python)
    return f"""\
# written by herd.testing for {host.name}
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


def supervisord_conf(fleet: LocalFleet, host: FleetHost, password: str | None) -> str:
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
    return f"""\
; written by herd.testing for {host.name}
[unix_http_server]
file={host.socket_path}
chmod=0700
{_inet_section(host, password)}
{_daemon_sections(host, f"{host.dir}/supervisord.pid")}
[supervisorctl]
serverurl=unix://{host.socket_path}

{tornado}
{_worker_section(fleet, host)}"""


def _inet_section(host: FleetHost, password: str | None) -> str:
    """[inet_http_server] on the host's inet port (the password as a SHA-1 hash), or nothing."""
    if not host.inet_port:
        return ""
    digest = hashlib.sha1((password or "").encode()).hexdigest()
    return (f"\n[inet_http_server]\nport={host.address}:{host.inet_port}\n"
            f"username={INET_USERNAME}\npassword={{SHA}}{digest}\n")


def _worker_section(fleet: LocalFleet, host: FleetHost) -> str:
    """[program:worker]: a line a second on stdout, one every 5 s on stderr, logged by supervisord."""
    return f"""[program:worker]
command={fleet.python} -S -u {fleet.directory}/worker.py {host.name}
directory={host.dir}
startsecs=1
stopwaitsecs=5
stdout_logfile={host.log_dir}/worker.out.log
stderr_logfile={host.log_dir}/worker.err.log
"""


def seed_supervisord_conf(fleet: LocalFleet, host: FleetHost, password: str | None) -> str:
    """The seed deployment's supervisord.conf for a 3.0a12 host, found in its project directory.

    Verbatim but for what cannot be the same on a shared test machine: the
    socket (the seed's /tmp/supervisor.sock would collide between fleets),
    the interpreter of [program:tornado] (the fleet's Python; the seed's
    ``python`` is Python 2) and numprocs_start (the host's port block).  The
    worker (herd tail needs a program that logs through supervisord) and an
    inet_http_server for inet hosts follow in a section of their own, marked
    as not the seed's.
    """
    return f"""\
[unix_http_server]
file={host.socket_path}

[supervisord]
logfile=%(here)s/log/supervisord.log
pidfile=%(here)s/log/supervisord.pid

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{host.socket_path}

{seed_tornado(fleet, host)}
; ---- not the seed's: added by herd.testing for {host.name} ----
{_inet_section(host, password)}
{_worker_section(fleet, host)}"""


def seed_tornado(fleet: LocalFleet, host: FleetHost) -> str:
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


def distro_conf_d(host: FleetHost) -> str:
    """Where a distro host's program files are, inside its namespace (the seed app's %(here)s)."""
    return "/etc/supervisord.d" if host.layout == "fedora" else "/etc/supervisor/conf.d"


def distro_log_template(host: FleetHost) -> str:
    """A distro host's seed log files, inside its namespace: %(here)s is the program's conf.d."""
    return f"{distro_conf_d(host)}/log/{{program}}-{{num}}.log"


def seed_log_template(fleet: LocalFleet) -> str:
    """The inventory's ``logs:`` template of the seed app's files (one per process, per host)."""
    return f"{fleet.directory}/{{host}}/log/{{program}}-{{num}}.log"


_PLAIN_YAML = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@+-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _yaml_str(value: str) -> str:
    """A YAML scalar that always loads back as the string ``value``."""
    plain = _PLAIN_YAML.match(value) and value.lower() not in _YAML_WORDS \
        and not re.fullmatch(r"[0-9._:+-]+", value)
    return value if plain else json.dumps(value)


def inventory_yaml(fleet: LocalFleet) -> str:
    """The herd inventory of the fleet (only keys herd's strict schema accepts)."""
    lines = ["# written by herd.testing", "defaults:",
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
        elif host.seed_release and not fleet.seed_app:   # the seed's log files, in its project directory
            lines += ["    logs:", f"      tornado: {_yaml_str(host.dir + '/log/{program}-{num}.log')}"]
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


# Distribution-style hosts (herd.localfleet.distro)

DISTRO_SUDOERS = """\
# written by herd.testing (Debian's defaults, without mail)
Defaults env_reset
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
root    ALL=(ALL:ALL) ALL
deploy  ALL=(ALL:ALL) NOPASSWD: ALL
ops     ALL=(ALL:ALL) ALL
"""


# The system accounts every distro host has besides DISTRO_USERS: root, OpenSSH's privilege
# separation user (sshd will not start without it), nobody; and the groups sshd and sudo look up.
_SYSTEM_USERS = ("root:x:0:0:root:/root:/bin/sh", "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin",
                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin")
_SYSTEM_GROUPS = ("root:x:0:", "tty:x:5:", "shadow:x:42:", "nogroup:x:65534:")
# Only these files: no systemd, LDAP or NIS lookup brings the machine's users in.
_NSSWITCH = """\
# written by herd.testing: a test host's users and groups are its own files'
passwd: files
group: files
shadow: files
gshadow: files
hosts: files dns
sudoers: files
"""
# What distro_accounts writes and namespace_script bind-mounts over the machine's files.
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow", "nsswitch.conf")


def distro_accounts(hashes: dict[str, str]) -> dict[str, str]:
    """A distro host's whole passwd, group, shadow, gshadow and nsswitch.conf (``hashes``: user -> shadow hash)."""
    users = tuple(f"{u}:x:{i}:{i}::/run/home/{u}:/bin/sh" for u, i in DISTRO_USERS.items())
    groups = tuple(f"{u}:x:{i}:" for u, i in DISTRO_USERS.items())
    shadow = [f"{line.split(':')[0]}:*:19000:0:99999:7:::" for line in _SYSTEM_USERS]
    shadow += [f"{u}:{hashes[u]}:19000:0:99999:7:::" for u in DISTRO_USERS]
    files = {"passwd": _SYSTEM_USERS + users, "group": _SYSTEM_GROUPS + groups, "shadow": shadow,
             "gshadow": [f"{line.split(':')[0]}:*::" for line in _SYSTEM_GROUPS + groups]}
    texts = {name: "\n".join(lines) + "\n" for name, lines in files.items()}
    return {**texts, "nsswitch.conf": _NSSWITCH}


def namespace_script(fleet: LocalFleet, host: FleetHost, more: str = "") -> str:
    """The shell script that sets up a distro host's mount namespace and then holds it
    (``more``: further set-up, run last)."""
    from herd.localfleet import apps   # (it reads program_source from here)

    h, key = host.dir, f"{fleet.client_key_path}.pub"
    homes = "".join(
        f"mkdir -p /run/home/{u}/.ssh && cp {key} /run/home/{u}/.ssh/authorized_keys && "
        f"chown -R {uid}:{uid} /run/home/{u} && chmod 700 /run/home/{u}/.ssh\n"
        for u, uid in DISTRO_USERS.items())
    hide = "".join(f"mount --bind /dev/null {path}\n" for path in host.hidden)
    # whole files of the host's own over the machine's: its users only, whatever the machine has
    accounts = "".join(f"touch /etc/{name} && mount --bind {h}/etc/{name} /etc/{name}\n" for name in ACCOUNT_FILES)
    # a /proc of its own (Linux 5.8+: options per mount) that hides other users' processes
    proc = "mount -t proc -o hidepid=2 testfleet-proc /proc\n" if host.hidepid else ""
    return f"""\
# written by herd.testing: the mount namespace of {host.name} (run by unshare --mount)
set -e
mount -t tmpfs -o mode=0755 testfleet-etc {h}/ns
mkdir {h}/ns/upper {h}/ns/work
mount -t overlay testfleet-etc -o lowerdir=/etc,upperdir={h}/ns/upper,workdir={h}/ns/work /etc
mount -t tmpfs -o mode=0755 testfleet-run /run
mkdir -p /run/sshd /run/home
{accounts}install -m 0440 {h}/etc/sudoers /etc/sudoers
rm -rf /etc/sudoers.d /etc/supervisor /etc/supervisord.conf /etc/supervisord.d && mkdir -m 0755 /etc/sudoers.d
cp -r {h}/etc/add/. /etc/
mkdir -p {os.path.dirname(host.socket_path)}
{homes}{hide}{apps.namespace_lines(host)}{proc}{more}touch {host.ns_ready_path}
while :; do sleep 3600; done
"""


def distro_supervisord_conf(host: FleetHost, password: str | None) -> str:
    """supervisord.conf as Debian ships it (or Fedora's layout); logs in the host's directory."""
    owner = f"chown={host.socket_owner}:{host.socket_owner}\n" if host.socket_owner else ""
    auth = f"username={INET_USERNAME}\npassword={password}\n" if password else ""
    include = "/etc/supervisord.d/*.ini" if host.layout == "fedora" else "/etc/supervisor/conf.d/*.conf"
    return f"""\
; supervisor config file ({host.layout}'s layout), written by herd.testing for {host.name}

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


def seed_program_conf(first_port: int, light: bool = False, here: str | None = None) -> str:
    """The seed deployment's [program:tornado], verbatim but for numprocs_start
    (and --light on a light fleet: the stdlib server instead of tornado).

    ``here`` spells %(here)s out: supervisord 3.x expands it in an included
    file to the main config's directory, not the file's, so an operator of
    3.x writes the program's directory instead."""
    light_line = "\t--light\n" if light else ""
    text = f"""\
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
    return text.replace("%(here)s", here) if here else text


def distro_sshd_config(fleet: LocalFleet, host: FleetHost) -> str:
    """The plain hosts' sshd_config with a server's login rules: keys in ~/.ssh, no root."""
    text = sshd_config(fleet, host)
    text = re.sub(r"(?m)^AuthorizedKeys(File|Command|CommandUser) .*\n", "", text)
    text = re.sub(r"(?m)^# sshd reads AuthorizedKeysFile.*\n#.*\n", "", text)
    text = text.replace("PermitRootLogin prohibit-password", "PermitRootLogin no")
    text = re.sub(r"(?m)^SetEnv PATH=.*$", "SetEnv PATH=/usr/local/bin:/usr/bin:/bin", text)
    text += "AuthorizedKeysFile /run/home/%u/.ssh/authorized_keys\n"
    if host.requiretty:   # a user sshd gives no pty: sudo's requiretty cannot be met for them
        text += "Match User intern\n    PermitTTY no\n"
    return text
