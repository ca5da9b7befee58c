"""Planning a rolling update: each host's pending config, cut into the roll's batches.

The reread (``reloadConfig``, herd/operations/config.py) is the source of
truth, for a fresh roll and for ``--resume`` alike: a host already updated
has nothing pending, a host the roll halted on has its group pending again
once its config is fixed.  Pre-flight refuses, with nothing touched, when a
host is unreachable (exit 4), when a selected host's config does not parse
(exit 1: supervisord would apply nothing there, and fail at its next start),
when a GROUP is on no host (exit 2, with a did-you-mean), and when a process
of a changed group is not RUNNING (exit 3; ``--skip-unhealthy`` leaves that
host alone, since its whole group bounces) unless it is the one the roll
being resumed failed on.
"""

from __future__ import annotations

from typing import Any, Sequence

from herd.errors import EXIT_FAILED, EXIT_NOT_RUNNING, EXIT_UNREACHABLE, RollRefused, UsageError
from herd.fleet import Fleet, HostResult
from herd.operations.config import HostConfig, cant_reread, check_groups_exist, read_host_config
from herd.operations.rolling.options import RollOptions
from herd.operations.rolling.plan import GroupChange, HostTarget, RollPlan, port_of, split_batches
from herd.operations.rolling.state import RollState
from herd.supervisor.models import ProcessState


def preflight_update(fleet: Fleet, options: RollOptions, state: RollState | None) -> RollPlan:
    """Read every host's pending config; refuse (see module docstring) or plan the update."""
    results = fleet.run(lambda access: read_host_config(access.client(), sizes=True, staged=True),
                        deadline=3 * fleet.timeout + 1)
    unreachable = [f"{r.name}: {r.error.reason}" for r in results if r.error is not None]
    if unreachable:
        raise RollRefused(EXIT_UNREACHABLE, unreachable)
    configs = [(r, r.value) for r in results if r.value is not None]
    broken = [f"{r.name}: {cant_reread(config.broken)}" for r, config in configs if config.diff is None]
    if broken:
        raise RollRefused(EXIT_FAILED, broken, "fix the config, or leave the host out (-H/-g)")
    check_groups_exist(results, options.groups)
    targets, unchanged, unhealthy = [], [], []
    for result, config in configs:
        changes = host_changes(config, options.groups)
        if not changes:
            unchanged.append(result.name)
            continue
        target = _target(result, changes, state)
        unhealthy += [f"{result.name} {name} is {_state_of(config, name)}" for name in target.down]
        targets.append(target)
    _check_ports(options, targets)
    if unhealthy and not options.skip_unhealthy:
        raise RollRefused(EXIT_NOT_RUNNING, unhealthy, "pass --skip-unhealthy to update the other hosts and leave "
                                                       "these alone (a changed group is re-added as a whole)")
    todo = [t for t in targets if not t.down]
    held = [t for t in targets if t.down]
    for target in held:
        target.skipped = list(target.processes)
    batches = split_batches([t.host for t in todo], options.batch)
    by_name = {t.host: t for t in todo}
    return RollPlan(options.name, [[by_name[h] for h in batch] for batch in batches], unchanged, options.per_host,
                    held, [r.name for r in results], update=True, warnings=bounce_notes(todo, options.per_host))


def host_changes(config: HostConfig, groups: Sequence[str]) -> list[GroupChange]:
    """A host's pending changes of ``groups`` (all when none), in supervisorctl update's order:
    removed first (their ports may be what an added group needs), then changed, then added."""
    assert config.diff is not None
    diff = config.diff.only(groups)
    running = {i.fullname: i for i in config.processes}
    members = {g: tuple(n for n, i in running.items() if i.group == g) for g in diff.removed + diff.changed}
    staged = [(config_fullname(c), c) for c in config.staged]
    changes = [GroupChange(g, "removed", members[g]) for g in diff.removed]
    for kind, group in [("changed", g) for g in diff.changed] + [("added", g) for g in diff.added]:
        new = [(name, c) for name, c in staged if c.get("group") == group]
        before = members.get(group, ())
        was_running = {n for n in before if running[n].state is ProcessState.RUNNING}
        changes.append(GroupChange(group, kind, before, tuple(n for n, _ in new),   # type: ignore[arg-type]
                                   tuple(n for n, c in new if c.get("autostart")),
                                   tuple(n for n, c in new if not c.get("autostart") and n in was_running)))
    return changes


def config_fullname(config: dict[str, Any]) -> str:
    """A getAllConfigInfo entry's name as ProcessInfo.fullname spells it (``tornado:tornado-8080``)."""
    name, group = str(config.get("name", "")), str(config.get("group", ""))
    return name if name == group else f"{group}:{name}"


def _target(result: HostResult[HostConfig], changes: list[GroupChange], state: RollState | None) -> HostTarget:
    """The host's update; ``down``: processes of a changed group not RUNNING (a resumed roll's failures excepted)."""
    assert result.value is not None
    progress = state.hosts.get(result.name) if state else None
    failed = set(progress.failed) if progress else set()
    infos = {i.fullname: i for i in result.value.processes}
    down = [n for c in changes if c.kind == "changed" for n in c.before
            if infos[n].state is not ProcessState.RUNNING and n not in failed]
    processes = [n for c in changes for n in c.processes]
    return HostTarget(result.name, result.host.address or result.name, processes, down=down, changes=changes)


def _state_of(config: HostConfig, name: str) -> str:
    return next((i.statename for i in config.processes if i.fullname == name), "?")


def bounce_notes(targets: Sequence[HostTarget], per_host: int) -> list[str]:
    """What the rollout cannot keep: a changed group larger than --per-host stops as a whole on its host."""
    bounced: dict[tuple[str, int], list[str]] = {}
    for target in targets:
        for change in target.changes:
            if change.kind == "changed" and len(change.before) > per_host:
                bounced.setdefault((change.group, len(change.before)), []).append(target.host)
    return [f"{group}: all {size} processes stop together on {', '.join(hosts)} (supervisord applies a group's "
            f"new config only by re-adding it whole), so --per-host {per_host} cannot hold there; the hosts of one "
            f"batch at a time are down" for (group, size), hosts in bounced.items()]


def _check_ports(options: RollOptions, targets: Sequence[HostTarget]) -> None:
    """A probe template with {port} needs a number at the end of every gated process's name."""
    probe = options.gate.probe
    if probe is None or "{port}" not in probe.template:
        return
    portless = sorted({c.group for t in targets for c in t.changes if any(not port_of(n) for n in c.gated)})
    if portless:
        raise UsageError(f"{probe.describe()}: {{port}} cannot be filled for {', '.join(portless)} (its process "
                         f"names end in no number): roll it on its own (herd rolling-update {portless[0]}) with a "
                         f"probe that fits it, or name only the groups the probe fits")
