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
from typing import Mapping, Protocol, Sequence

from herd.web.security import User


class Ability(str, enum.Enum):
    SEE = "see"
    ACT = "act"
    ROLL = "roll"
    CONFIG = "config"


class Access(Protocol):
    def refusal(self, user: User, ability: Ability, env: str, hosts: Sequence[str]) -> str | None:
        """None when ``user`` may do ``ability`` on every one of ``hosts`` of ``env``; else why not."""

    def visible(self, user: User, env: str, hosts: Sequence[str]) -> list[str]:
        """The hosts among ``hosts`` that ``user`` may see, in their order."""

    def abilities(self, user: User, env: str, hosts: Sequence[str]) -> dict[str, list[str]]:
        """Per visible host, the abilities ``user`` has there (the page disables the others)."""

    def environments(self, user: User, envs: Sequence[str]) -> list[str]:
        """The environments in which ``user`` may see at least one host."""


class OpenAccess:
    """No team file: whoever holds the token may do everything."""

    def refusal(self, user: User, ability: Ability, env: str, hosts: Sequence[str]) -> str | None:
        return None

    def visible(self, user: User, env: str, hosts: Sequence[str]) -> list[str]:
        return list(hosts)

    def abilities(self, user: User, env: str, hosts: Sequence[str]) -> dict[str, list[str]]:
        every = [a.value for a in Ability]
        return {h: list(every) for h in hosts}

    def environments(self, user: User, envs: Sequence[str]) -> list[str]:
        return list(envs)


GroupsByEnv = Mapping[str, Mapping[str, Sequence[str]]]
