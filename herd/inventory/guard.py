"""PROVISIONAL copy of H's "guard config: model" interface (common24b.md), for helper C's branch only.

Dropped (git revert) when H's commit is cherry-picked; nothing here but the shared dataclasses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from herd.errors import UsageError


@dataclass(frozen=True)
class SecretRef:
    """A secret is never written in the inventory itself: an environment variable or a file names it."""

    env: str | None = None
    file: str | None = None
    where: str = ""

    def read(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env, "")
            if not value.strip():
                raise UsageError(f"{self.where}: ${self.env} is not set")
            return value.strip()
        assert self.file is not None
        try:
            with open(self.file, encoding="utf-8") as fh:
                first = fh.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{self.where}: cannot read {self.file} "
                             f"({getattr(exc, 'strerror', None) or type(exc).__name__})") from exc
        if not first:
            raise UsageError(f"{self.where}: {self.file} is empty")
        return first


@dataclass(frozen=True)
class RuleSettings:
    kind: str
    program: str
    remediate: bool = False
    restarts: int = 0
    within: float = 0.0
    above_bytes: int = 0
    for_seconds: float = 0.0
    failing: int = 0
    where: str = ""


@dataclass(frozen=True)
class RemediationSettings:
    max_processes: int = 1
    max_percent: float = 25.0
    cooldown: float = 600.0


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    sender: str = ""
    to: tuple[str, ...] = ()
    user: str | None = None
    password: SecretRef | None = None
    timeout: float = 10.0
    where: str = ""


@dataclass(frozen=True)
class NotifySettings:
    webhooks: tuple[SecretRef, ...] = ()
    slack: tuple[SecretRef, ...] = ()
    email: EmailSettings | None = None
    commands: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class GuardSettings:
    rules: tuple[RuleSettings, ...] = ()
    remediation: RemediationSettings = RemediationSettings()
    notify: NotifySettings = NotifySettings()
