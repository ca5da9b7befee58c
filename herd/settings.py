"""The settings of one command's fleet, below the CLI that reads them and the keeper that keys pools on them.

Imports nothing: `herd --help` and the keeper client's warm path load it for free.

``FleetOptions`` is what every fleet command's shared options say (which
inventory, which hosts, --timeout, --forks, ...).  The CLI builds it from
the command line (herd/cli/options.py); the keeper keys its pools of kept
sessions on it (herd/keeper); neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FleetOptions:
    """The shared options of one command line."""

    inventory: str | None
    all_hosts: bool
    groups: tuple[str, ...]
    patterns: tuple[str, ...]
    timeout: float
    forks: int
    accept_new: bool
    verbose: int
    become: bool | None = None   # --become / --no-become: overrides the inventory's become for this run
    keep: str | None = None      # --keep DURATION / --no-keep ("0"): read by the keeper client (herd/keeper)
    skip_vaulted: bool = False   # --skip-vaulted / $HERD_SKIP_VAULTED: go on without vault-encrypted vars files

    @property
    def has_selector(self) -> bool:
        return self.all_hosts or bool(self.groups) or bool(self.patterns)
