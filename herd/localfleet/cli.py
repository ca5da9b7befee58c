"""A local test fleet from the shell: start, stop or check one in DIR (also used by scripts/demo).

    python -m herd.localfleet start DIR --hosts 3 --inet web03 --no-streamlocal web02
    python -m herd.localfleet start DIR --hosts 2 --release web01=3.0a12,web02=3.1.4
    python -m herd.localfleet status DIR
    python -m herd.localfleet stop DIR
    python -m herd.localfleet releases install [VERSION...]   # into the shared cache (scripts/test does)
    python -m herd.localfleet releases list
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

from herd.localfleet import releases
from herd.localfleet.fleet import LocalFleet
from herd.localfleet.hosts import INET_USERNAME, FleetError


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def parse_releases(texts: list[str]) -> dict[str, str]:
    """``["web01=3.0a12,web02=3.1.4", ...]`` -> {"web01": "3.0a12", "web02": "3.1.4"}; FleetError on a bad item."""
    found: dict[str, str] = {}
    for item in (i for text in texts for i in _names(text)):
        name, sep, version = (part.strip() for part in item.partition("="))
        if not sep or not name or not version:
            raise FleetError(f"--release {item!r}: expected HOST=VERSION, e.g. web02=3.1.4")
        if found.get(name, version) != version:
            raise FleetError(f"--release names {name} twice: {found[name]} and {version}")
        found[name] = version
    return found


def print_summary(fleet: LocalFleet) -> None:
    """One line per host (its ports and how supervisord is reached), then the inventory's path."""
    for host in fleet.hosts:
        where = f"{host.inet_url} (user {INET_USERNAME}, password in {host.password_file})" \
            if host.inet_port else f"unix://{host.socket_path}"
        notes = "" if host.streamlocal else "  [streamlocal forbidden]"
        if host.release:
            way = " the seed's way" if host.seed_release else ""
            notes += f"  [supervisord {host.release}{way}]"
        ports = f"{host.tornado_ports[0]}-{host.tornado_ports[-1]}"
        print(f"  {host.name}  ssh 127.0.0.1:{host.ssh_port}  tornado {ports}  supervisor {where}{notes}")
    print(f"inventory: {fleet.inventory_path}")


def _cmd_start(args: argparse.Namespace) -> int:
    began = time.monotonic()
    fleet = LocalFleet.start(args.directory, hosts=args.hosts, base_port=args.base_port,
                             no_streamlocal=_names(args.no_streamlocal), inet=_names(args.inet),
                             light=args.light, distro=_names(args.distro), dropbear=_names(args.dropbear),
                             seed_app=args.seed_app, release=args.supervisor, releases=parse_releases(args.release))
    print(f"started {len(fleet.hosts)} host(s) in {time.monotonic() - began:.1f}s:")
    print_summary(fleet)
    print(f"stop with: python -m herd.localfleet stop {fleet.directory}")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    fleet = LocalFleet.load(args.directory)
    fleet.stop()
    print(f"stopped {len(fleet.hosts)} host(s) in {fleet.directory}")
    return 0


def print_status(fleet: LocalFleet) -> bool:
    """One line per host (sshd, supervisord, how many programs RUNNING); True when all of it is up."""
    healthy = True
    for st in fleet.status():
        running = sum(1 for v in st["processes"].values() if v == "RUNNING")
        print(f"  {st['name']}  ssh {st['ssh_port']} {st['sshd']:8} supervisord {st['supervisord']:8}"
              f"  {running}/{len(st['processes'])} RUNNING")
        healthy &= st["sshd"] == "running" and st["supervisord"] == "running" \
            and running == len(st["processes"])
    print(f"inventory: {fleet.inventory_path}")
    return healthy


def _cmd_status(args: argparse.Namespace) -> int:
    return 0 if print_status(LocalFleet.load(args.directory)) else 1


def _cmd_releases_install(args: argparse.Namespace) -> int:
    began = time.monotonic()
    installed = releases.install_all(args.versions, say=print)
    if not args.quiet:
        print(f"{len(installed)} supervisor release(s) ready in {releases.cache_root()} "
              f"({', '.join(r.version for r in installed)}) in {time.monotonic() - began:.1f}s")
    return 0


def _cmd_releases_list(args: argparse.Namespace) -> int:
    for version in args.versions or releases.RELEASES:
        print(releases.describe(version))
    return 0


def main(argv: list[str] | None = None, name: str = "herd.localfleet") -> int:
    """``python -m NAME start|stop|status DIR``; the exit code (1 on a FleetError, one line: ``NAME: what``).

    ``name`` is the module run: ``herd.localfleet``, or ``herd.testing`` (the
    same command under the name scripts/lib.sh and the tests have always used).
    """
    parser = argparse.ArgumentParser(prog=f"python -m {name}", description=__doc__.split("\n")[0])
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
    start.add_argument("--release", action="append", default=[], metavar="web02=3.1.4,...",
                       help="hosts running a real supervisord of that release on its own Python "
                            f"({', '.join(releases.RELEASES)}; 3.0a12 the seed's way)")
    start.add_argument("--supervisor", default=None, metavar="VERSION",
                       help="that release on every host not named by --release")
    start.set_defaults(func=_cmd_start)
    rel = sub.add_parser("releases", help="the supervisor releases release hosts run (a shared cache)")
    rel_sub = rel.add_subparsers(dest="releases_command", required=True)
    rel_install = rel_sub.add_parser("install", help="install releases into the cache (default: all of them)")
    rel_install.add_argument("versions", nargs="*", metavar="VERSION")
    rel_install.add_argument("-q", "--quiet", action="store_true", help="say nothing unless installing")
    rel_install.set_defaults(func=_cmd_releases_install)
    rel_list = rel_sub.add_parser("list", help="each release: its Python, the interpreter found, cached or not")
    rel_list.add_argument("versions", nargs="*", metavar="VERSION")
    rel_list.set_defaults(func=_cmd_releases_list)
    for verb, func in (("stop", _cmd_stop), ("status", _cmd_status)):
        cmd = sub.add_parser(verb, help=f"{verb} the fleet in DIR")
        cmd.add_argument("directory", metavar="DIR")
        cmd.set_defaults(func=func)
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.func
    try:
        return command(args)
    except FleetError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
