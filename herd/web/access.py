"""Who may do what on which hosts: roles per group of hosts, checked before any route acts.

Four abilities, one per kind of request: ``see`` (the table, logs, health, the audit trail), ``act``
(start, stop, restart, signal, clear), ``roll`` (rolling restarts and updates, their interruption)
and ``config`` (reread, update and its plan, reload, shutdown).  A role is a set of them
(herd/web/team.py: viewer = see; operator = see, act, roll; admin = everything) granted to a user
on some groups of hosts of an environment, or on all of them.

:class:`OpenAccess` is the server without a team file (one person with the token): everything is
allowed.  :class:`TeamAccess` reads the grants of a :class:`~herd.web.team.TeamConfig`.

A refusal is one sentence naming the user, what was asked and on which hosts, and what would
allow it; the API answers it with 403, the page shows it as it is.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

from herd.web.security import User
from herd.web.team import ROLES, Grant, TeamConfig, check_team

if TYPE_CHECKING:
    from herd.web.actions import Dashboard


class Ability(str, enum.Enum):
    SEE = "see"
    ACT = "act"
    ROLL = "roll"
    CONFIG = "config"


class Access(Protocol):
    def refusal(self, user: User, ability: Ability, env: str, hosts: Sequence[str],
                action: str | None = None) -> str | None:
        """None when ``user`` may do ``ability`` on every one of ``hosts`` of ``env``; else why not
        (``action``, e.g. ``restart``, names what was asked in the sentence)."""

    def visible(self, user: User, env: str, hosts: Sequence[str]) -> list[str]:
        """The hosts among ``hosts`` that ``user`` may see, in their order."""

    def abilities(self, user: User, env: str, hosts: Sequence[str]) -> dict[str, list[str]]:
        """Per visible host, the abilities ``user`` has there (the page disables the others)."""

    def environments(self, user: User, envs: Sequence[str]) -> list[str]:
        """The environments in which ``user`` may see at least one host."""

    def denied(self, user: User, env: str) -> str | None:
        """Why ``user`` may not use ``env`` at all (no role anywhere, or no host there): every request
        of theirs to it is refused with this sentence; None when they see something there."""


class OpenAccess:
    """No team file: whoever holds the token may do everything."""

    def refusal(self, user: User, ability: Ability, env: str, hosts: Sequence[str],
                action: str | None = None) -> str | None:
        return None

    def visible(self, user: User, env: str, hosts: Sequence[str]) -> list[str]:
        return list(hosts)

    def abilities(self, user: User, env: str, hosts: Sequence[str]) -> dict[str, list[str]]:
        every = [a.value for a in Ability]
        return {h: list(every) for h in hosts}

    def environments(self, user: User, envs: Sequence[str]) -> list[str]:
        return list(envs)

    def denied(self, user: User, env: str) -> str | None:
        return None


class TeamAccess:
    """The grants of a team file (herd/web/team.py), with each grant's groups resolved to hosts.

    A user's grants are their own and those of ``"*"``; on a host they have the union of the
    abilities of every grant covering it (its environment, and one of its groups or every host).
    The token's holder is a user like any other here: named by the local account, given a role
    in the file (``ops: admin``) or nothing.
    """

    def __init__(self, team: TeamConfig, groups: Mapping[str, Mapping[str, Sequence[str]]],
                 hosts: Mapping[str, Sequence[str]]) -> None:
        """``groups``: per environment, its inventory's groups (name -> member hosts); ``hosts``: per
        environment, the hosts served."""
        self.team = team
        self.hosts = {env: list(names) for env, names in hosts.items()}
        self.members = {env: {g: frozenset(m) for g, m in found.items()} for env, found in groups.items()}

    # -- who has what where --------------------------------------------------------------------

    def covers(self, grant: Grant, env: str, host: str) -> bool:
        if grant.env is not None and grant.env != env:
            return False
        if grant.groups is None:
            return True
        members = self.members.get(env, {})
        return any(host in members.get(group, ()) for group in grant.groups)

    def roles_on(self, user: User, env: str, host: str) -> list[str]:
        """The roles ``user`` has on ``host``, strongest first."""
        found = {g.role for g in self.team.grants_of(user.name) if self.covers(g, env, host)}
        return [role for role in reversed(ROLES) if role in found]

    def abilities_on(self, user: User, env: str, host: str) -> set[str]:
        return {a for g in self.team.grants_of(user.name) if self.covers(g, env, host) for a in g.abilities}

    # -- Access ----------------------------------------------------------------------------------

    def refusal(self, user: User, ability: Ability, env: str, hosts: Sequence[str],
                action: str | None = None) -> str | None:
        if not self.team.grants_of(user.name):
            return self.no_role(user)
        refused = [h for h in hosts if ability.value not in self.abilities_on(user, env, h)]
        if not refused:
            return None
        name = user.name
        needed = next(role for role, abilities in ROLES.items() if ability.value in abilities)
        by_role: dict[str, list[str]] = {}
        for host in refused:
            best = self.roles_on(user, env, host)
            by_role.setdefault(best[0] if best else "", []).append(host)
        held = [f"is {_article(role)} {role} of {_hosts_text(found)}" for role, found in by_role.items() if role]
        if "" in by_role:
            held.append(f"has no role on {_hosts_text(by_role[''])}")
        return (f"{name} may not {_verb(action, ability)} on {_hosts_text(refused)}: that needs the {needed} "
                f"role there ({name} {' and '.join(held)})")

    def visible(self, user: User, env: str, hosts: Sequence[str]) -> list[str]:
        return [h for h in hosts if Ability.SEE.value in self.abilities_on(user, env, h)]

    def abilities(self, user: User, env: str, hosts: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for host in hosts:
            has = self.abilities_on(user, env, host)
            if Ability.SEE.value in has:
                out[host] = [a.value for a in Ability if a.value in has]
        return out

    def environments(self, user: User, envs: Sequence[str]) -> list[str]:
        return [env for env in envs if self.visible(user, env, self.hosts.get(env, ()))]

    def denied(self, user: User, env: str) -> str | None:
        if not self.team.grants_of(user.name):
            return self.no_role(user)
        if self.visible(user, env, self.hosts.get(env, ())):
            return None
        return f"{user.name} sees no host {'here' if env == DEFAULT_ENV else f'of {env}'}"

    def no_role(self, user: User) -> str:
        who = user.name or "this user"
        return f"{who} has no role here: an admin gives them one under roles: in the team file"


def team_access(team: TeamConfig, envs: Mapping[str, "Dashboard"]) -> TeamAccess:
    """The team file's access over the dashboards served; a group or environment it names that is not
    served is refused first (herd/web/team.py ``check_team``: one line FILE:LINE, exit 2)."""
    check_team(team, {name: dash.inventory for name, dash in envs.items()})
    return TeamAccess(team, {name: dash.inventory.groups for name, dash in envs.items()},
                      {name: [h.name for h in dash.hosts] for name, dash in envs.items()})


DEFAULT_ENV = "default"
VERBS = {"update-plan": "plan an update", "rolling-restart": "start a rolling restart",
         "rolling-update": "start a rolling update", "rolling-restart-interrupt": "interrupt a rolling restart",
         "shutdown": "shut down", "logs": "read the logs", "avail": "read the config (avail)"}
ABILITY_VERBS = {Ability.SEE: "see", Ability.ACT: "start, stop or restart processes",
                 Ability.ROLL: "roll", Ability.CONFIG: "change the config"}


def _verb(action: str | None, ability: Ability) -> str:
    if not action:
        return ABILITY_VERBS[ability]
    return VERBS.get(action, action)


def _article(role: str) -> str:
    return "an" if role[:1] in "aeiou" else "a"


def _hosts_text(hosts: Sequence[str], limit: int = 3) -> str:
    if len(hosts) <= limit:
        return ", ".join(hosts)
    return f"{', '.join(hosts[:limit])} and {len(hosts) - limit} more"
