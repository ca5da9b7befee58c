"""Running the real ``herd`` command in tests, isolated from the user's ~/.ssh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass
class Run:
    """A finished herd command: exit code, outputs, and how long it took."""

    code: int
    out: str
    err: str
    seconds: float

    def json(self):
        return json.loads(self.out)

    def rows(self) -> list[list[str]]:
        """Table rows (header and summary excluded), split into the first five columns + rest."""
        lines = self.out.splitlines()[1:-1]
        return [line.split(None, 5) for line in lines]


def herd_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with an empty HOME (no ~/.ssh), no agent and no colour."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "HERD_INVENTORY")}
    env.update(HOME=str(home), NO_COLOR="1")
    env.update(extra)
    return env


def herd(*args: str, home: Path, timeout: float = 60, env: dict[str, str] | None = None) -> Run:
    """Run ``python -m herd ARGS`` and collect the result."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "herd", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or herd_env(home), stdin=subprocess.DEVNULL)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def edit_inventory(source: Path, target: Path, change) -> Path:
    """Copy an inventory, letting ``change(data)`` modify the parsed YAML."""
    data = yaml.safe_load(Path(source).read_text())
    change(data)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def assert_through_jump(host, jump_port: int) -> None:
    """Connect to ``host`` (an inventory Host) and check its SSH transport rides on a jump host's channel."""
    import paramiko

    from herd.fleet import HostSession
    from herd.ssh.connection import Connector

    connector = Connector(timeout=10)
    session = HostSession(host, connector)
    try:
        session.client().all_process_info()
        assert isinstance(session.ssh.transport.sock, paramiko.Channel)
        assert session.ssh.via is not None and session.ssh.via.target.port == jump_port
    finally:
        session.close()
        connector.close()
