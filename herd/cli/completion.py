"""Shell completion of process, group and signal names, from what herd last saw (never a round trip on Tab).

bash, zsh and fish complete through click (``_HERD_COMPLETE``, docs/commands.md).
Host and group names come from the inventory (herd/cli/options.py); process
names live on the hosts, and a Tab must answer at once, so ``herd status``
and ``herd check`` leave the names they read in a small cache per inventory
-- ``$XDG_CACHE_HOME/herd/names/<hash of the inventory's path>.json``, 0600,
written atomically -- and completion reads it.  A name is offered only as it
would be typed (no control characters: herd.supervisor.names.offered), and
the cache is bounded (hosts, names per host), so a hostile host can neither
put text on the operator's terminal nor grow the file without limit.

Completion never fails loudly: a missing, old or broken cache offers nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import click

from herd.supervisor.models import ProcessInfo

if TYPE_CHECKING:
    from herd.operations.status import StatusReport

log = logging.getLogger("herd")

SIGNALS = ("HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "STOP", "CONT")
CHANNEL_WORDS = ("stdout", "stderr")
MAX_HOSTS = 5000              # hosts kept in one cache
MAX_NAMES = 2000              # names kept per host


def cache_path(inventory_path: str) -> Path:
    """Where the names seen through ``inventory_path`` are kept (one file per inventory)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha1(os.path.abspath(inventory_path).encode()).hexdigest()[:12]
    return Path(base) / "herd" / "names" / f"{key}.json"


def remember(inventory_path: str, seen: Mapping[str, Sequence[ProcessInfo]], *, whole: bool) -> None:
    """Keep the names ``seen`` per host; ``whole``: every process of those hosts was read (else add to what
    was kept).  Best effort: a cache that cannot be written is said at -v, never an error of the command."""
    from herd.files import write_atomically
    from herd.supervisor.names import offered

    path = cache_path(inventory_path)
    kept = _read(path)
    for host, infos in seen.items():
        names = offered(infos)
        if not whole:
            names |= set(kept.get(host, ()))
        kept[host] = sorted(names)[:MAX_NAMES]
    if len(kept) > MAX_HOSTS:
        kept = dict(list(kept.items())[-MAX_HOSTS:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(path, json.dumps({"version": 1, "hosts": kept}), mode=0o600)
    except OSError as exc:
        log.info("cannot keep process names for completion in %s: %s", path, exc.strerror or exc)


def remember_report(inventory_path: str, report: "StatusReport") -> None:
    """What ``herd status`` read: every process of the hosts that answered (only some, with NAMEs)."""
    seen = {h.host: h.processes for h in report.hosts if h.error is None}
    if seen:
        remember(inventory_path, seen, whole=not report.names)


def _read(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, dict):
        return {}
    return {h: [n for n in names if isinstance(n, str)] for h, names in hosts.items()
            if isinstance(h, str) and isinstance(names, list)}


def _known(ctx: click.Context) -> set[str]:
    """Every name kept for the inventory the command line would use (``-i`` included)."""
    quiet, log.disabled = log.disabled, True
    try:
        from herd.inventory import find_inventory

        path, _ = find_inventory(ctx.params.get("inventory"))
        return {n for names in _read(cache_path(path)).values() for n in names}
    except Exception:  # noqa: BLE001 - any problem means "nothing to offer" while typing
        return set()
    finally:
        log.disabled = quiet


def _starting(words: Iterable[str], incomplete: str) -> list[str]:
    return sorted(w for w in set(words) if w.startswith(incomplete))


def complete_processes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """NAME of start/stop/restart/status/signal...: processes, groups, ``group:*``, ``all``."""
    return _starting(_known(ctx), incomplete)


def complete_groups(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """GROUP/program of rolling-restart, update, add, remove: group names (no ``group:name``, no ``all``)."""
    return _starting((n for n in _known(ctx) if ":" not in n and n != "all"), incomplete)


def complete_tail_words(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """``herd tail``'s words: names, then stdout/stderr once a name is given."""
    words = set(_known(ctx))
    if ctx.params.get("args"):
        words |= set(CHANNEL_WORDS)
    return _starting(words, incomplete)


def complete_signals(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """SIGNAL of ``herd signal``: the names supervisord takes (upper case, as herd prints them)."""
    return [s for s in SIGNALS if s.startswith(incomplete.upper().removeprefix("SIG"))]
