"""Distribution-style test hosts (root only), for sudo, Dropbear and the layouts of real servers.

Built like a Debian server with `apt-get install supervisor`: supervisord runs
as root from /etc/supervisor/supervisord.conf (programs in conf.d/), its socket
/var/run/supervisor.sock is 0700 root, logins are unprivileged (PermitRootLogin
no, or Dropbear with -w) and reach it through sudo:

  deploy  passwordless sudo (the inventory's login user, with become: true)
  ops     sudo asks for its password (in DIR/webNN/sudo.pass)
  intern  not in sudoers (same password as ops, so sudo gets to say so)

Each host has its own mount namespace, held by `sh DIR/webNN/ns.sh`: an overlay
(on a tmpfs) over /etc and a tmpfs over /run.  sshd/Dropbear and supervisord
are started in it with nsenter, so nothing of the machine's own /etc or /run
changes and hosts never collide.

A host sees only its own users and its own /etc files, whatever the machine
has (a `deploy` user of its own, Debian's supervisor package, sudoers.d
rules, users from LDAP): passwd, group, shadow, gshadow and nsswitch.conf
are whole files written for the host (root, sshd's privilege separation
user, nobody, and the users above) and bind-mounted over the machine's;
sudoers is replaced whole, and the machine's sudoers.d, /etc/supervisor,
/etc/supervisord.conf and /etc/supervisord.d are removed (in the overlay)
before the host's own are copied in.  Nothing is appended to a machine file.

The program is the seed's Tornado deployment, verbatim but for its ports
(numprocs_start is the host's reserved block: 8080 would collide).

A distro host may run a supervisor release (herd.localfleet.releases) instead
of the fleet's, and may have Pythons of its own (``"pythons": ["2.7"]`` in
its layout: CentOS 7, whose only Python is 2.7).  Then /usr/bin gets an
overlay too, in which every python* is removed and only those Pythons come
back: each interpreter's installation is bind-mounted at /run/python/X.Y
(readable by every user, wherever it really is: pyenv's under /root is not)
and /usr/bin/pythonX.Y, pythonX (and python for 2.x) run it.  supervisord is
/usr/bin/supervisord, a script on the release's Python importing the release
bind-mounted at /run/supervisor-release, as a distribution's package installs
it: herd's agents, looking for python3, python, then supervisord's own
interpreter, find exactly what such a host has.  The program runs on the
host's ``python`` (``python3`` without a 2.x), with --light.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from herd.localfleet import apps
from herd.localfleet.hosts import DISTRO_USERS, PYTHONS_MOUNT, RELEASE_MOUNT, START_TIMEOUT, FleetError, FleetHost
from herd.localfleet.keys import keygen, write_private
from herd.localfleet.processes import REAPER, backoff, kill_tree, log_tail, owns, spawn
from herd.localfleet.releases import find_python, here_is_the_including_file, missing_python, python_version_for
from herd.localfleet.templates import (DISTRO_SUDOERS, distro_accounts, distro_conf_d, distro_sshd_config,
                                    distro_supervisord_conf,
                                    namespace_script, program_source, seed_program_conf)

if TYPE_CHECKING:
    from herd.localfleet.fleet import LocalFleet


def check_tools(dropbear: bool) -> None:
    """FleetError unless we are root and have what the namespaces and users need."""
    if os.geteuid() != 0:
        raise FleetError("distro hosts need root (a mount namespace per host): run as root")
    tools = ["unshare", "nsenter", "sudo", "openssl"] + (["dropbear", "dropbearkey"] if dropbear else [])
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise FleetError(f"distro hosts need {', '.join(missing)}: apt-get install sudo dropbear-bin openssl")


def check_pythons(name: str, pythons: list[str], release: str | None) -> None:
    """FleetError (one line) unless a host of its own ``pythons`` runs a release on one of them,
    and each of them is found."""
    if not release:
        raise FleetError(f"{name}: a host of its own Pythons ({', '.join(pythons)}) needs a supervisor release "
                         f"to run on one of them (releases={{{name!r}: '3.1.4'}})")
    needs = python_version_for(release)
    if needs not in pythons:
        raise FleetError(f"{name}: supervisor {release} runs on Python {needs}, which {name} does not have "
                         f"(its Pythons: {', '.join(pythons)})")
    for python_version in pythons:
        if find_python(python_version) is None:
            raise FleetError(f"{name}: " + missing_python(release, python_version).replace(
                f"supervisor {release} needs", "its layout names"))


def _installation(python: str) -> tuple[str, str]:
    """(installation prefix, interpreter path relative to it) of ``python`` (a venv's base)."""
    probe = ("import sys; p = getattr(sys, 'real_prefix', getattr(sys, 'base_prefix', sys.prefix)); "
             "sys.stdout.write(p + '\\n' + 'bin/python%d.%d' % sys.version_info[:2])")
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True, timeout=30,
                         stdin=subprocess.DEVNULL).stdout
    prefix, executable = out.split("\n")
    if not os.path.exists(os.path.join(prefix, executable)):
        raise FleetError(f"{python}: no {executable} in its installation {prefix}: cannot mount it on a host")
    return prefix, executable


def own_pythons(host: FleetHost) -> list[tuple[str, str, str]]:
    """(X.Y, installation prefix, interpreter relative to it) of each Python the host has of its own."""
    found = []
    for python_version in host.pythons:
        python = find_python(python_version)
        if python is None:
            raise FleetError(missing_python(host.release or "?", python_version))
        found.append((python_version, *_installation(python)))
    return found


def _own_bin(host: FleetHost, staged: Path) -> None:
    """/usr/bin/python*, supervisord and supervisorctl of a host of its own Pythons, staged in ``staged``."""
    staged.mkdir(exist_ok=True)
    for python_version, prefix, executable in own_pythons(host):
        mount = f"{PYTHONS_MOUNT}/{python_version}"
        wrapper = staged / f"python{python_version}"
        wrapper.write_text(f"""#!/bin/sh
# Python {python_version} of this host: {prefix}, mounted at {mount} (herd.testing)
LD_LIBRARY_PATH={mount}/lib${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}
export LD_LIBRARY_PATH
exec {mount}/{executable} "$@"
""")
        wrapper.chmod(0o755)
        major = python_version.split(".")[0]
        names = [f"python{major}"] + (["python"] if major == "2" else [])
        for name in names:
            if not (staged / name).exists():
                (staged / name).symlink_to(f"python{python_version}")
    python = f"/usr/bin/python{python_version_for(host.release or '')}"
    for tool in ("supervisord", "supervisorctl"):
        script = staged / tool
        script.write_text(f"""#!{python}
# {tool} of supervisor {host.release}, in place of the distribution's package (herd.testing:
# a cached release, mounted at {RELEASE_MOUNT})
import sys
sys.path.insert(0, "{RELEASE_MOUNT}")
from supervisor.{tool} import main
main()
""")
        script.chmod(0o755)


def pythons_script(host: FleetHost) -> str:
    """The part of the namespace script that gives a host its own Pythons (nothing for other hosts)."""
    if not host.pythons:
        return ""
    h = host.dir
    mounts = "".join(f"mkdir -p {PYTHONS_MOUNT}/{v} && mount --bind {prefix} {PYTHONS_MOUNT}/{v}\n"
                     for v, prefix, _ in own_pythons(host))
    return f"""# its own Pythons ({", ".join(host.pythons)}): /usr/bin/python* are those alone
mkdir {h}/ns/usr-bin-upper {h}/ns/usr-bin-work
mount -t overlay testfleet-usr-bin -o lowerdir=/usr/bin,upperdir={h}/ns/usr-bin-upper,workdir={h}/ns/usr-bin-work /usr/bin
mountpoint -q /usr/bin
rm -f /usr/bin/python*
{mounts}mkdir -p {RELEASE_MOUNT} && mount --bind {host.supervisor_path} {RELEASE_MOUNT}
cp -P {h}/usr-bin/* /usr/bin/
"""


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


def write_files(fleet: LocalFleet, host: FleetHost) -> None:
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
    _write_accounts(etc, hashes)
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
    here = distro_conf_d(host) if host.release and not here_is_the_including_file(host.release) else None
    program = seed_program_conf(host.tornado_ports[0], fleet.light, here)
    if host.pythons:   # the host's own python (python3 without a 2.x), on the standard library
        _own_bin(host, h / "usr-bin")
        python = "python" if any(v.startswith("2.") for v in host.pythons) else "python3"
        program = seed_program_conf(host.tornado_ports[0], True, here).replace("command=python\n",
                                                                                f"command={python}\n")
    (conf_d / ("tornado.ini" if fedora else "tornado.conf")).write_text(program)
    (conf_d / "main.py").write_text(program_source("app.py"))
    Path(host.sshd_config_path).write_text(distro_sshd_config(fleet, host))
    Path(host.ns_script_path).write_text(namespace_script(fleet, host, pythons_script(host)))


def _write_accounts(etc: Path, hashes: dict[str, str]) -> None:
    """The host's whole passwd, group, shadow, gshadow and nsswitch.conf, in DIR/etc (shadows 0600)."""
    for name, text in distro_accounts(hashes).items():
        if "shadow" in name:
            write_private(str(etc / name), text)
        else:
            (etc / name).write_text(text)


def nsenter(host: FleetHost, argv: list[str]) -> list[str]:
    """``argv`` run inside the host's (already started) mount namespace."""
    return ["nsenter", "-t", str(host.ns_pid), "-m", "--", *argv]


def in_namespace(fleet: LocalFleet, host: FleetHost, argv: list[str]) -> list[str]:
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


def stop_namespace(fleet: LocalFleet, host: FleetHost) -> None:
    """Stop the process holding a distro host's namespace (its mounts go with it)."""
    if host.ns_pid:
        kill_tree(host.ns_pid, host.ns_script_path)
        host.ns_pid = None
        fleet.save()
