"""The team file of ``herd web --team FILE``: local users and their roles per group of hosts.

::

    users:                          # local users, for teams without a login proxy
      alice: {password: "$argon2id$v=19$m=65536,t=3,p=4$..."}   # from `herd web-passwd alice`
      bob: {password: "$argon2id$..."}
    roles:                          # user (or "*": anyone signed in) -> grants
      alice: admin                  # on every host of every environment
      bob:
        - {role: operator, groups: [odd]}                 # the hosts of group odd, every environment
        - {role: viewer}                                  # and see the rest
      carol:
        - {role: operator, env: staging}
        - {role: viewer, env: production, groups: [web]}
      "*": viewer

Roles: viewer (see), operator (see, act, roll), admin (see, act, roll, config: reread, update,
reload, shutdown).  Users named by a trusted proxy's header need no ``users:`` entry, only roles.
A user with no grant sees nothing and is told so.

Password hashes only: a plain password in this file is refused at load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from herd.errors import UsageError

ROLES: dict[str, tuple[str, ...]] = {
    "viewer": ("see",),
    "operator": ("see", "act", "roll"),
    "admin": ("see", "act", "roll", "config"),
}


@dataclass(frozen=True)
class Grant:
    """``role`` on the hosts of ``groups`` (None: every host) of ``env`` (None: every environment)."""
    role: str
    groups: tuple[str, ...] | None = None
    env: str | None = None

    @property
    def abilities(self) -> tuple[str, ...]:
        return ROLES[self.role]


@dataclass(frozen=True)
class TeamConfig:
    path: str
    users: dict[str, str] = field(default_factory=dict)        # name -> password hash
    roles: dict[str, tuple[Grant, ...]] = field(default_factory=dict)  # name or "*" -> grants


def load_team(path: Path) -> TeamConfig:
    """Read the team file (model: a minimal reader; every bad value one line FILE:LINE: key: why)."""
    import yaml

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the team file ({exc.strerror or exc})") from exc
    users = {str(name): str((entry or {}).get("password", "")) for name, entry in (data.get("users") or {}).items()}
    roles: dict[str, tuple[Grant, ...]] = {}
    for name, value in (data.get("roles") or {}).items():
        items = value if isinstance(value, list) else [value]
        grants = []
        for item in items:
            if isinstance(item, str):
                grants.append(Grant(item))
            else:
                groups = item.get("groups")
                grants.append(Grant(str(item["role"]), tuple(groups) if groups is not None else None,
                                    item.get("env")))
        roles[str(name)] = tuple(grants)
    return TeamConfig(str(path), users, roles)
