"""The plan of ``update`` as the page's confirmation shows it: ``herd update --dry-run``, per host.

The page's Update button asks for the plan first (``POST /api/config/plan``)
and shows it; the user confirms, and the update is run with the same hosts
and groups.  ``update`` reads every host again when it runs (the CLI's
``plan_update``): a config edited between the plan and the go is applied as
read at the go, and the answer says the plan changed (``plan_id`` differs).

Reading the plan is a reloadConfig on each host, which stages the config
(herd/operations/config.py), so it is a POST under the rules of the update
itself (CSRF, read-only).  Group names, parse errors and unreachable
sentences come from hosts: each is escaped as herd prints it (herd.text).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from herd import text as safe
from herd.fleet import Fleet, HostResult
from herd.operations import config
from herd.operations.config import ConfigDiff, HostConfig, UpdatePlan
from herd.operations.outcomes import Outcome
from herd.render.actions import action_lines

KINDS = ("added", "changed", "removed")


def plan_json(fleet: Fleet, plan: UpdatePlan) -> dict[str, Any]:
    """The page's plan: per host what update would do, the CLI's dry-run lines, bounce warnings, a summary."""
    dry = config.update(fleet, plan.groups, dry_run=True, wait_timeout=0, plan=plan)
    outcomes = {h.host: h.outcomes for h in dry.hosts}
    bounces = plan.bounces()
    hosts = [_host_json(r, plan, outcomes.get(r.name, []), bounces) for r in plan.hosts]
    return {"groups": [safe.field(g) for g in plan.groups], "hosts": hosts, "lines": action_lines(dry, False),
            "warnings": [safe.field(config.bounce_warning(*b)) for b in bounces],
            "changes": sum(1 for h in hosts if h["state"] == "change"), "summary": summary(hosts),
            "plan_id": plan_id(plan)}


def _host_json(result: HostResult[HostConfig], plan: UpdatePlan, outcomes: list[Outcome],
               bounces: list[tuple[str, str, int]]) -> dict[str, Any]:
    """One host: ``state`` change / unchanged / unreachable / broken (its config does not parse), its lines."""
    f = safe.field
    entry: dict[str, Any] = {"host": f(result.name), "added": [], "changed": [], "removed": [], "bounces": [],
                             "error": None}
    if result.error is not None or result.value is None:
        why = safe.error(result.error) if result.error is not None else "no answer"
        return {**entry, "state": "unreachable", "error": why, "lines": [f"unreachable: {why}"]}
    if result.value.diff is None:
        why = f(config.cant_reread(result.value.broken))
        return {**entry, "state": "broken", "error": why, "lines": [f"config: {why}"]}
    diff = plan.diff(result.name) or ConfigDiff([], [], [])
    for kind in KINDS:
        entry[kind] = [f(g) for g in getattr(diff, kind)]
    entry["bounces"] = [{"group": f(g), "processes": n, "warning": f(config.bounce_warning(h, g, n))}
                        for h, g, n in bounces if h == result.name]
    entry["lines"] = [f"{f(o.name)}  {f(o.result)}" if o.ok else f"{f(o.name)}: {f(o.error or 'failed')}"
                      for o in outcomes]
    changed = diff.added or diff.changed or diff.removed
    return {**entry, "state": "change" if changed else "unchanged"}


def summary(hosts: Sequence[dict[str, Any]]) -> str:
    """``changes on 1 of 3 hosts; 1 host's config does not parse; 1 host unreachable``."""
    n = len(hosts)
    count = {state: sum(1 for h in hosts if h["state"] == state) for state in ("change", "broken", "unreachable")}
    plural = "s" if n != 1 else ""
    if count["change"]:
        parts = [f"changes on {count['change']} of {n} host{plural}"]
    elif count["broken"] + count["unreachable"] == n:
        parts = ["nothing to change: no host's config could be read"]
    elif count["broken"] or count["unreachable"]:
        read = n - count["broken"] - count["unreachable"]
        parts = [f"nothing to change on the {read} of {n} host{plural} whose config was read"]
    else:
        parts = [f"nothing to change on {n} host{plural}"]
    if count["broken"]:
        parts.append("1 host's config does not parse" if count["broken"] == 1
                     else f"{count['broken']} hosts' configs do not parse")
    if count["unreachable"]:
        parts.append(f"{count['unreachable']} host{'s' if count['unreachable'] != 1 else ''} unreachable")
    return "; ".join(parts)


def plan_id(plan: UpdatePlan) -> str:
    """A digest of what the plan would do on which host: the go compares it with what it reads again."""
    what: list[Any] = [list(plan.groups)]
    for result in plan.hosts:
        if result.error is not None or result.value is None:
            what.append([result.name, "unreachable"])
        elif result.value.diff is None:
            what.append([result.name, "broken", result.value.broken])
        else:
            diff = plan.diff(result.name) or ConfigDiff([], [], [])
            what.append([result.name, sorted(diff.added), sorted(diff.changed), sorted(diff.removed)])
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


PLAN_CHANGED = ("the config changed after the plan was shown: update applied what it read just now "
                "(the lines below), not the plan you confirmed")
