"""``herd pending``: every host's pending config, per host and group, and what it comes to across the fleet.

::

    web01  extra    added
    web01  tornado  changed
    web01  worker   removed
    web02  config   no pending changes
    web03  config: config does not parse, so supervisord would fail at its next start (...): <why>
    tornado changed on 2 of 3 hosts; extra added on 1 of 3 hosts; worker removed on 1 of 3 hosts; ...

The summary counts over the selected hosts, so "2 of 3" never hides a host
that did not answer or whose config does not parse: those have tails of their own.
Group names and parse errors come from hosts: each is shown through herd.text.field.
"""

from __future__ import annotations

from typing import Any, Sequence

from herd import text as safe
from herd.errors import exit_code_for
from herd.fleet import HostResult
from herd.operations.config import ConfigDiff, HostConfig, cant_reread

KINDS = ("added", "changed", "removed")


def _changes(diff: ConfigDiff) -> list[tuple[str, str]]:
    """(group, kind) in the order a reader expects: added, changed, removed."""
    return [(g, "added") for g in diff.added] + [(g, "changed") for g in diff.changed] + \
        [(g, "removed") for g in diff.removed]


def pending_lines(hosts: Sequence[HostResult[HostConfig]]) -> list[str]:
    f = safe.field
    host_width = max((len(f(h.name)) for h in hosts), default=0)
    name_width = max([len("config")] + [len(f(g)) for h in hosts if h.value is not None and h.value.diff
                                        for g, _ in _changes(h.value.diff)])
    lines = []
    for host in hosts:
        prefix = f(host.name).ljust(host_width)
        if host.error is not None or host.value is None:
            lines.append(f"{prefix}  unreachable: {safe.error(host.error) if host.error else 'no answer'}")
        elif host.value.diff is None:
            lines.append(f"{prefix}  config: {f(cant_reread(host.value.broken))}")
        elif not _changes(host.value.diff):
            lines.append(f"{prefix}  {'config'.ljust(name_width)}  no pending changes")
        else:
            lines += [f"{prefix}  {f(g).ljust(name_width)}  {kind}" for g, kind in _changes(host.value.diff)]
    lines.append(pending_summary(hosts))
    return lines


def by_group(hosts: Sequence[HostResult[HostConfig]]) -> list[tuple[str, str, list[str]]]:
    """(group, kind, hosts) for every pending change, in the order first seen."""
    seen: dict[tuple[str, str], list[str]] = {}
    for host in hosts:
        if host.value is not None and host.value.diff is not None:
            for group, kind in _changes(host.value.diff):
                seen.setdefault((group, kind), []).append(host.name)
    return [(group, kind, names) for (group, kind), names in seen.items()]


def pending_summary(hosts: Sequence[HostResult[HostConfig]]) -> str:
    """``tornado changed on 2 of 3 hosts; 1 host's config does not parse; 1 host unreachable``."""
    n = len(hosts)
    plural = "s" if n != 1 else ""
    parts = [f"{safe.field(g)} {kind} on {len(names)} of {n} host{plural}" for g, kind, names in by_group(hosts)]
    broken = sum(1 for h in hosts if h.value is not None and h.value.diff is None)
    down = sum(1 for h in hosts if h.error is not None or h.value is None)
    if not parts:
        parts = [f"{n} host{plural}: no pending config changes" if not broken and not down
                 else f"no pending config changes on the other {n - broken - down} of {n} host{plural}"]
    if broken:
        parts.append("1 host's config does not parse" if broken == 1 else f"{broken} hosts' configs do not parse")
    if down:
        parts.append(f"{down} host{'s' if down != 1 else ''} unreachable")
    return "; ".join(parts)


def pending_exit_code(hosts: Sequence[HostResult[HostConfig]]) -> int:
    """0 read everywhere (pending changes are not a failure); 1 a config does not parse; 4 a host unreachable."""
    broken = any(h.value is not None and h.value.diff is None for h in hosts)
    return exit_code_for((h.error for h in hosts if h.error is not None), broken)


def pending_json(hosts: Sequence[HostResult[HostConfig]]) -> dict[str, Any]:
    rows = []
    for host in hosts:
        config, diff = host.value, host.value.diff if host.value is not None else None
        rows.append({
            "host": host.name,
            "error": host.error.reason if host.error is not None else None,
            "parses": None if config is None else diff is not None,
            "parse_error": config.broken if config is not None else None,
            **{kind: [g for g, k in (_changes(diff) if diff else []) if k == kind] for kind in KINDS},
        })
    return {
        "action": "pending",
        "hosts": rows,
        "groups": [{"group": g, "change": kind, "hosts": names, "of": len(hosts)} for g, kind, names in by_group(hosts)],
        "summary": pending_summary(hosts),
        "exit_code": pending_exit_code(hosts),
    }
