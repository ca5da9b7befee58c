"""``herd keeper status`` and ``herd keeper stop``: the user's background keepers (herd/keeper)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import click

from herd.errors import HerdError

ASK_TIMEOUT = 2.0


@click.group()
def keeper() -> None:
    """The background keeper of SSH connections: its status, or stop it (docs/keeper.md).

    A keeper runs per user and inventory when the inventory's defaults say
    ``keep: 10m`` (or --keep DURATION, or $HERD_KEEP): commands then reuse
    its open connections, and it exits after that idle time.
    """


_inventory_option = click.option("-i", "--inventory", metavar="FILE", type=click.Path(dir_okay=True),
                                  help="Only the keeper of this inventory (default: every keeper of yours).")


@keeper.command()
@_inventory_option
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Table for people, JSON for scripts.")
def status(inventory: str | None, output: str) -> int:
    """Each running keeper: pid, inventory, hosts connected, idle time.

    \b
    Exit codes: 0 shown (none running is not an error); 1 -i names an inventory with no keeper.
    """
    found = [a for a in (_ask(p, "status") for p in _sockets(inventory)) if a is not None]
    if output == "json":
        click.echo(json.dumps([{k: v for k, v in a.items() if k != "kind"} for a in found], indent=2))
    elif not found:
        click.echo("no keeper running" + (f" for {inventory}" if inventory else ""))
    else:
        click.echo(_table(found))
    return 1 if inventory and not found else 0


@keeper.command()
@_inventory_option
@click.option("--all", "everyone", is_flag=True, help="Every keeper of yours.")
def stop(inventory: str | None, everyone: bool) -> int:
    """Stop the keeper of the inventory (-i, or the one herd would use), or --all; their connections close.

    \b
    Exit codes: 0 stopped, or none was running; 1 a keeper did not exit within 5 s.
    """
    from herd.inventory.locate import find_inventory

    if not everyone:
        inventory, _ = find_inventory(inventory)
    code = 0
    stopped = 0
    for path in _sockets(None if everyone else inventory):
        answer = _ask(path, "stop")
        if answer is None:
            continue
        pid = int(answer.get("pid", 0))
        if _wait_gone(pid, 5.0):
            click.echo(f"stopped keeper pid {pid}")
            stopped += 1
        else:
            click.echo(f"herd: keeper pid {pid} did not exit within 5 s", err=True)
            code = 1
    if not stopped and code == 0:
        click.echo("no keeper running" + (f" for {inventory}" if inventory and not everyone else ""))
    return code


def _sockets(inventory: str | None) -> list[Path]:
    """The sockets of this user's keepers (of this HOME and state directory), or of one inventory's."""
    from herd.keeper.paths import KeeperPathError, keeper_dir, socket_path

    try:
        if inventory is not None:
            if not os.path.exists(inventory):
                raise HerdError(f"inventory {inventory} does not exist")
            return [socket_path(os.path.abspath(inventory))]
        found = set(keeper_dir().glob("keeper-*.sock")) | set(keeper_dir(short=True).glob("keeper-*.sock"))
    except KeeperPathError as exc:
        raise HerdError(str(exc)) from exc
    return sorted(found)


def _mine(path: Path, answer: dict[str, Any]) -> bool:
    """The keeper at ``path`` is named for its inventory under this HOME and state directory."""
    from herd.keeper.paths import keeper_name

    return path.name == f"keeper-{keeper_name(str(answer.get('inventory')))}.sock"


def _ask(path: Path, op: str) -> dict[str, Any] | None:
    """The keeper's answer to ``op``, or None when none answers at ``path`` (a stale socket)."""
    from herd.keeper import protocol

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ASK_TIMEOUT)
    try:
        sock.connect(str(path))
        if not protocol.same_user(sock):
            return None
        if op != "status" and not _mine(path, _ask(path, "status") or {}):
            return None
        protocol.send(sock, {"op": op})
        answer = protocol.receive(sock)
        return answer if op != "status" or _mine(path, answer) else None
    except (OSError, protocol.ProtocolError):
        return None
    finally:
        sock.close()


def _wait_gone(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.05)
    return False


def _table(answers: list[dict[str, Any]]) -> str:
    from herd import text
    from herd.render.table import format_table

    rows = [[str(a.get("pid")), text.field(str(a.get("inventory"))), str(a.get("hosts_connected")),
             _seconds(a.get("idle")), _seconds(a.get("keep")), "busy" if a.get("busy") else "idle",
             str(a.get("commands"))] for a in answers]
    return "\n".join(format_table(["PID", "INVENTORY", "CONNECTED", "IDLE", "KEEP", "STATE", "COMMANDS"], rows,
                                   False))


def _seconds(value: Any) -> str:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"
