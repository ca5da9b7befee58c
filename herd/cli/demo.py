"""``herd demo``: a local fleet to try herd on, without a fleet or a clone (``pip install herd[demo]``).

The fleet is herd.localfleet (which herd's tests run on too): every host is a real
OpenSSH sshd and a real supervisord on 127.0.0.1, running the reference app
(tornado, numprocs=4) and a log-writing worker.  Its processes run in their
own sessions, so they outlive this command until ``herd demo stop``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from herd.errors import HerdError, UsageError

if TYPE_CHECKING:   # herd.localfleet is imported when the demo runs, never by `herd --help`
    from herd.localfleet.fleet import LocalFleet

# The demo's three hosts: one of each way herd reaches a supervisord.
DEMO_HOSTS = 3
DEMO_OPTIONS: dict[str, Any] = {
    "no_streamlocal": ["web02"],   # its sshd forbids streamlocal forwarding: herd falls back to a relay
    "inet": ["web03"],             # inet_http_server with a password (in a 0600 file)
}
EPILOG = """
\b
  herd demo                 start it (again: show it) in the default directory
  herd demo status          is every host and process up?
  herd demo stop            stop every process it started
  herd demo --supervisor 3.1.4             every host on CentOS 7's supervisord (Python 2.7)
  herd demo --release web01=3.0a12,web02=3.3.5   some hosts on their own release
\b
Needs OpenSSH's sshd (/usr/sbin/sshd: apt-get install openssh-server) and
supervisor in herd's Python (pip install 'herd[demo]'); --supervisor and
--release need the Python that release runs on (2.7 before 4.0, 3.7 for
4.0.x, 3.11 after: pyenv's, or HERD_TEST_PYTHON27/37/311) and, the first
time, the package index. Exit codes: 0 done, 1 the fleet could not be
started or is not all up, 2 something is missing or a bad option.
"""


def default_directory() -> Path:
    """``$XDG_STATE_HOME/herd/demo``, by default ``~/.local/state/herd/demo``."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "herd" / "demo"


def check_requirements(need_supervisor: bool = True) -> None:
    """UsageError (one line: what to install) unless sshd, ssh-keygen and (unless every host
    runs a release of its own) supervisor are there."""
    from herd.localfleet.hosts import SSHD

    if not os.path.exists(SSHD):
        raise UsageError(f"the demo needs OpenSSH's sshd at {SSHD}: install openssh-server "
                         "(apt-get install openssh-server)")
    if not shutil.which("ssh-keygen"):
        raise UsageError("the demo needs ssh-keygen: install openssh-client (apt-get install openssh-client)")
    if need_supervisor and importlib.util.find_spec("supervisor") is None:
        raise UsageError("the demo needs supervisor in herd's Python: pip install 'herd[demo]'")


@click.command(epilog=EPILOG)
@click.argument("action", type=click.Choice(["start", "status", "stop"]), default="start")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the fleet lives (default $XDG_STATE_HOME/herd/demo).")
@click.option("--base-port", type=click.IntRange(1024, 65000), default=None,
              help="First app port (default: a free block from 20000 up).")
@click.option("--supervisor", "release", metavar="VERSION", default=None,
              help="Every host runs a real supervisord of that release on its own Python "
                   "(3.0a12 the seed's way, 3.1.4, 3.3.5, 4.0.4, 4.1.0, 4.2.5, 4.3.0).")
@click.option("--release", "per_host", metavar="HOST=VERSION,...", multiple=True,
              help="Only these hosts run that release (web02=3.1.4); wins over --supervisor.")
def demo(action: str, directory: Path | None, base_port: int | None, release: str | None,
         per_host: tuple[str, ...]) -> None:
    """Start (or show, or stop) a local 3-host demo fleet: real sshd + supervisord per host, on 127.0.0.1.

    web01 is reached by SSH streamlocal forwarding, web02's sshd forbids it
    (herd relays), web03's supervisord is on inet_http_server with a password.
    The command prints the inventory to use with every other herd command.
    """
    from herd.localfleet.hosts import FleetError

    where = (directory or default_directory()).expanduser()
    try:
        if action == "stop":
            _stop(where)
        elif action == "status":
            _status(where)
        else:
            _start(where, base_port, _releases(release, per_host))
    except FleetError as exc:   # its first line says what; the rest is log tails
        raise HerdError(f"demo fleet in {where}: {str(exc).splitlines()[0]}") from exc


def _releases(release: str | None, per_host: tuple[str, ...]) -> dict[str, str]:
    """Host -> supervisor release, every release checked (its version, its interpreter) up front:
    UsageError, one line, for a bad one or a missing Python."""
    from herd.localfleet.cli import parse_releases
    from herd.localfleet.hosts import FleetError, host_name
    from herd.localfleet.releases import interpreter_for

    names = [host_name(i) for i in range(DEMO_HOSTS)]
    try:
        wanted = {**{name: release for name in names if release}, **parse_releases(list(per_host))}
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise FleetError(f"--release names {', '.join(unknown)}: the demo's hosts are {', '.join(names)}")
        for version in sorted(set(wanted.values())):
            interpreter_for(version)
    except FleetError as exc:
        raise UsageError(str(exc)) from exc
    return wanted


def _running(where: Path) -> LocalFleet | None:
    """The demo fleet in ``where`` if any of its processes is alive, else None."""
    from herd.localfleet.fleet import LocalFleet
    from herd.localfleet.hosts import FleetError

    if not (where / "state.json").exists():
        return None
    try:
        fleet = LocalFleet.load(where)
    except FleetError:
        return None
    return fleet if fleet.pids() else None


def _start(where: Path, base_port: int | None, releases: dict[str, str]) -> None:
    from herd.localfleet.cli import print_summary
    from herd.localfleet.fleet import LocalFleet

    fleet = _running(where)
    if fleet is not None:
        click.echo(f"the demo fleet is already running in {where}:")
    else:
        check_requirements(need_supervisor=len(releases) < DEMO_HOSTS)
        light = importlib.util.find_spec("tornado") is None   # the app on bare sockets then
        click.echo(f"starting {DEMO_HOSTS} hosts in {where} ...")
        fleet = LocalFleet.start(where, hosts=DEMO_HOSTS, base_port=base_port, light=light, releases=releases,
                                 **DEMO_OPTIONS)
    print_summary(fleet)
    click.echo(f"""
Try it:
  export HERD_INVENTORY={fleet.inventory_path}
  herd status
  herd rolling-restart tornado
  herd tail -f worker
  herd --help

Stop it with: herd demo stop{_dir_option(where)}""")


def _status(where: Path) -> None:
    from herd.localfleet.cli import print_status
    from herd.localfleet.fleet import LocalFleet

    if not (where / "state.json").exists():
        raise HerdError(f"no demo fleet in {where}: start one with herd demo{_dir_option(where)}")
    fleet = LocalFleet.load(where)
    if not print_status(fleet):
        again = f"herd demo{_dir_option(where)}"
        if not fleet.pids():
            raise HerdError(f"the demo fleet in {where} is stopped: start it with {again}")
        raise HerdError(f"the demo fleet in {where} is not all up: herd demo stop{_dir_option(where)}, then {again}")


def _stop(where: Path) -> None:
    from herd.localfleet.fleet import LocalFleet

    if not (where / "state.json").exists():
        click.echo(f"no demo fleet in {where}")
        return
    fleet = LocalFleet.load(where)
    fleet.stop()
    click.echo(f"stopped the demo fleet in {where} ({len(fleet.hosts)} hosts)")


def _dir_option(where: Path) -> str:
    """`` --dir WHERE`` unless WHERE is the default directory."""
    return "" if where == default_directory() else f" --dir {where}"
