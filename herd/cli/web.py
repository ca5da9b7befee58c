"""``herd web``: serve the selected hosts as a live page (needs ``pip install herd[web]``)."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from herd.cli.fleets import load_selected
from herd.cli.options import fleet_options
from herd.errors import EXIT_INTERRUPTED, InventoryError, UsageError
from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.audit import AuditTrail
    from herd.inventory.model import Host, Inventory
    from herd.web.access import Access
    from herd.web.actions import Dashboard
    from herd.web.identity import Passwords
    from herd.web.team import TeamConfig

DEFAULT_PORT = 8765
ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
EPILOG = """
\b
Security: listens on 127.0.0.1 unless told otherwise; the URL printed at start
carries a one-off access token (keep it secret); every change is a POST with a
CSRF token; --read-only refuses every change. Users: a login proxy's header
(--user-header, --trusted-proxy) or local users with passwords (--team FILE,
herd web-passwd). TLS: --certfile/--keyfile, or a reverse proxy in front
(docs/web.md). Audit trail (shared with the CLI): $XDG_STATE_HOME/herd/audit.jsonl
by default ($HERD_AUDIT_LOG, --audit-log).
\b
Exit codes: 130 stopped with Ctrl-C/SIGTERM (the normal end); 2 usage or
inventory error, a bad team file or certificate, --web extra missing, or the
address is in use.
"""


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` or ``PORT`` -> (host, port)."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.lstrip(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif text.isdigit():
        host, port_text = "", text
    else:
        host, port_text = text, str(DEFAULT_PORT)
    host = host or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--listen {value}: bad HOST:PORT (a port from 0 to 65535)")
    if host != "localhost" and not _is_ip(host):
        raise UsageError(f"--listen {value}: bad HOST:PORT ({host!r} is not an IP address or localhost; "
                         f"for example 127.0.0.1:{DEFAULT_PORT}, [::1]:{DEFAULT_PORT} or a port alone)")
    return host, int(port_text)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"--listen {host}:{port}: cannot listen there ({exc.strerror or exc})") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@click.command(epilog=EPILOG)
@fleet_options
@click.option("--listen", default=f"127.0.0.1:{DEFAULT_PORT}", show_default=True, metavar="HOST:PORT",
              help="Where to serve (port 0: any free port).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --listen address other than loopback (then use a TLS reverse proxy).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer to this Host header (the name a reverse proxy forwards; repeatable).")
@click.option("--read-only", is_flag=True, help="Show everything, change nothing (refused by the server).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, metavar="SECONDS",
              help="Seconds between polls of a host (one poll per host per interval, whatever the pages).")
@click.option("--audit-log", type=click.Path(dir_okay=False), metavar="FILE",
              help="The audit trail, JSON lines (default $HERD_AUDIT_LOG, else $XDG_STATE_HOME/herd/audit.jsonl, "
                   "the one the CLI writes).")
@click.option("--resources", is_flag=True,
              help="Add each process's RSS and CPU% (read from /proc on the hosts, as status --resources) "
                   "to the page and the JSON, updated every poll.")
@click.option("--env", "envs", multiple=True, metavar="NAME=INVENTORY",
              help="Serve several inventories (environments: staging=inventory/staging.yaml ...), switchable "
                   "in the page; repeatable; the first is shown first. Instead of -i.")
@click.option("--token-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the access token to FILE (mode 0600), for scripts using the JSON API.")
@click.option("--team", "team_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="The team file: local users (password hashes from herd web-passwd, signed in at /login) "
                   "and their roles (viewer, operator, admin) per group of hosts and environment (docs/web.md, "
                   "Roles); checked at start.")
@click.option("--user-header", metavar="NAME",
              help="The header a login proxy names the user in (e.g. X-Forwarded-User); needs --trusted-proxy.")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="ADDRESS",
              help="The login proxy's address (an IP or a CIDR; repeatable): --user-header is believed only "
                   "from there, and refused from anywhere else.")
@click.option("--certfile", type=click.Path(dir_okay=False), metavar="FILE",
              help="Serve HTTPS with this PEM certificate (with --keyfile).")
@click.option("--keyfile", type=click.Path(dir_okay=False), metavar="FILE",
              help="The certificate's unencrypted PEM key (with --certfile).")
@click.option("--session-idle", default="8h", show_default=True, metavar="DURATION",
              help="A browser session ends after this long without a request (90s, 30m, 8h).")
@click.option("--session-max", default="7d", show_default=True, metavar="DURATION",
              help="A browser session ends this long after it began, however busy.")
def web(fleet_opts: FleetOptions, listen: str, allow_remote: bool, allow_hosts: tuple[str, ...], read_only: bool,
        interval: float, audit_log: str | None, token_file: str | None, resources: bool = False,
        envs: tuple[str, ...] = (), team_file: str | None = None, user_header: str | None = None,
        trusted_proxies: tuple[str, ...] = (), certfile: str | None = None, keyfile: str | None = None,
        session_idle: str = "8h", session_max: str = "7d") -> int:
    """Serve the selected hosts (all when none is selected) as a live dashboard in the browser.

    One process, one SSH session per host, one poll per host per interval
    shared by every page; changes pushed to the page as they happen.
    """
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise UsageError("herd web needs its extra: pip install 'herd[web]'") from exc
    from herd.fleet import SessionPool, borrowed
    from herd.ssh.connection import Connector
    from herd.web.actions import Dashboard
    from herd.web.app import Web, create_app
    from herd.web.identity import ProxyTrust, check_tls
    from herd.web.security import Guard, Sessions, new_token

    host, port = parse_listen(listen)
    if not is_loopback(host) and not allow_remote:
        raise UsageError(f"--listen {listen}: not a loopback address; add --allow-remote to serve the network "
                         "(and put a TLS reverse proxy in front)")
    proxy = ProxyTrust.parse(user_header, trusted_proxies)
    tls = check_tls(certfile, keyfile)
    sessions = Sessions(idle=_duration("--session-idle", session_idle),
                        lifetime=_duration("--session-max", session_max))
    team = _load_team(team_file)
    chosen = load_environments(fleet_opts, envs)
    pools = {name: SessionPool(Connector(timeout=fleet_opts.timeout, accept_new=fleet_opts.accept_new))
             for name in chosen}     # one per environment: the same host name may be in two inventories
    dashboards = {name: Dashboard(inventory, hosts, borrowed(pools[name]), interval=interval,
                                  forks=fleet_opts.forks, follow_fleet=_follow_fleet(fleet_opts),
                                  resources=resources)
                  for name, (inventory, hosts) in chosen.items()}   # nothing connects before the poller starts
    access = _access(team, dashboards)      # the team file checked against the inventories (exit 2)
    audit = _audit_trail(audit_log)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    token = new_token()
    if token_file:
        _write_token(Path(token_file), token)
    guard = Guard(token, port, host, allow_hosts, sessions=sessions, tls=tls, proxy=proxy,
                  passwords=_passwords(team))
    web_app = Web(dashboards, guard, audit, read_only=read_only, access=access)
    hosts = [h for _, served in chosen.values() for h in served]
    shown = f"[{host}]" if ":" in host else host
    if not is_loopback(host):
        click.echo(f"herd web: WARNING: serving on {host}, reachable from the network; anyone with the token "
                   "can act on the fleet. Use TLS (a reverse proxy) and a firewall.", err=True)
    where = "" if not envs else " in " + ", ".join(f"{n} ({len(s)})" for n, (_, s) in chosen.items())
    click.echo(f"herd web: {len(hosts)} host(s){where}{' (read-only)' if read_only else ''}; "
               f"audit log {audit.path}")
    if team is not None:
        click.echo(f"herd web: team file {team.path}: {len(team.users)} local user(s) (sign in at /login)")
    if proxy is not None:
        click.echo(f"herd web: users named by {proxy.header} from {', '.join(map(str, proxy.networks))}")
    click.echo(f"herd web: open {'https' if tls else 'http'}://{shown}:{port}/?token={token}")
    sys.stdout.flush()
    # proxy_headers off: uvicorn would otherwise take the client address from X-Forwarded-For, which any
    # client on 127.0.0.1 can write (then the audit trail and --trusted-proxy would believe it)
    config = uvicorn.Config(create_app(web_app), log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2, server_header=False, proxy_headers=False,
                            ssl_certfile=certfile if tls else None, ssl_keyfile=keyfile if tls else None)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        web_app.close()         # a running roll is interrupted and finishes its process in flight first
        for pool in pools.values():
            pool.close()
        audit.close()
        sock.close()
    return EXIT_INTERRUPTED


def _audit_trail(audit_log: str | None) -> "AuditTrail":
    """The trail every change is recorded in; the server does not start unable to write it."""
    from herd.audit import AuditTrail, default_audit_path

    audit = AuditTrail(Path(audit_log) if audit_log else default_audit_path())
    try:
        audit.check()
    except OSError as exc:
        raise UsageError(f"cannot write the audit trail {audit.path}: {exc.strerror or exc}") from exc
    return audit


def _duration(option: str, value: str) -> float:
    from herd.duration import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option} {value}: not a duration (for example 90s, 30m, 8h, 7d)") from exc
    if seconds <= 0:
        raise UsageError(f"{option} {value}: must be more than 0")
    return seconds


def _load_team(path: str | None) -> "TeamConfig | None":
    """The team file (a plain password is refused with FILE:LINE); its groups and environments are checked
    against the inventories once they are read (team_access runs check_team), before anything listens."""
    if path is None:
        return None
    from herd.web.team import load_team

    return load_team(Path(path))


def _passwords(team: "TeamConfig | None") -> "Passwords | None":
    from herd.web.identity import Passwords

    return Passwords(team.users) if team is not None and team.users else None


def _access(team: "TeamConfig | None", dashboards: dict[str, "Dashboard"]) -> "Access | None":
    """The team file's roles (herd/web/access.py's team_access); without a team file everyone may do all."""
    if team is None:
        return None
    from herd.web.access import team_access

    return team_access(team, dashboards)


@click.command("web-passwd")
@click.argument("name")
def web_passwd(name: str) -> int:
    """Print a team file line for local user NAME of herd web, with the password's argon2 hash.

    Asks for the password twice without echo on a terminal; otherwise reads one
    line from stdin (never from the command line, which other users can see):

    \b
        herd web-passwd alice                  # then paste under users: in the team file
        printf '%s\\n' "$PW" | herd web-passwd alice

    Exit codes: 0 printed; 2 a bad name, an empty password, the two entries differ,
    or argon2-cffi is missing (pip install 'herd[web]').
    """
    from herd.web.identity import bad_name, hash_password
    from herd.web.team import NAME as TEAM_NAME

    why = bad_name(name)
    if why is not None:
        raise UsageError(f"web-passwd: {why}")
    if not TEAM_NAME.fullmatch(name):
        raise UsageError(f"web-passwd: {name!r}: a user of the team file has no spaces or ':' in its name")
    password = _read_password(name)
    if not password:
        raise UsageError("web-passwd: an empty password")
    click.echo(f"  {_yaml_key(name)}: {{password: \"{hash_password(password)}\"}}")
    return 0


def _read_password(name: str) -> str:
    import getpass

    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("web-passwd: the two passwords differ; nothing printed")
    return first


def _yaml_key(name: str) -> str:
    """NAME as a YAML key: plain when it reads back as itself, else double-quoted (JSON is YAML)."""
    import json

    import yaml

    try:
        if re.fullmatch(r"[A-Za-z0-9_.@-]+", name) and yaml.safe_load(f"{name}: 1") == {name: 1}:
            return name
    except yaml.YAMLError:
        pass
    return json.dumps(name)


def load_environments(opts: FleetOptions, envs: tuple[str, ...]) -> dict[str, tuple["Inventory", list["Host"]]]:
    """``--env NAME=INVENTORY`` each loaded and selected as -i would be; without --env, the one inventory."""
    if not envs:
        return {"default": load_selected(opts, default_all=True)}
    if opts.inventory is not None:
        raise UsageError("--env names each environment's inventory: give -i or --env, not both")
    chosen: dict[str, tuple[Inventory, list[Host]]] = {}
    for value in envs:
        name, sep, path = value.partition("=")
        name = name.strip()
        if not sep or not name or not path.strip():
            raise UsageError(f"--env {value}: expected NAME=INVENTORY (for example staging=inventory/staging.yaml)")
        if not ENV_NAME.fullmatch(name):
            raise UsageError(f"--env {value}: bad environment name {name!r} (letters, digits, '.', '_', '-')")
        if name in chosen:
            raise UsageError(f"--env {value}: environment {name!r} given twice")
        path = os.path.expanduser(path.strip())
        if not os.path.exists(path):
            raise InventoryError(f"--env {value}: inventory {path} does not exist")
        chosen[name] = load_selected(replace(opts, inventory=path), default_all=True)
    return chosen


def _follow_fleet(opts: FleetOptions):
    """Log follows get connections of their own (see herd/web/actions.py)."""
    from herd.fleet import Fleet, direct
    from herd.ssh.connection import Connector

    def make(hosts):
        return Fleet(list(hosts), direct(Connector(timeout=opts.timeout, accept_new=False)), forks=opts.forks)
    return make


def _write_token(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.chmod(path, 0o600)
