"""The test fleet's keys and secrets: SSH key pairs, known_hosts lines, 0600 files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from herd.localfleet.hosts import FleetHost


def keygen(path: Path, comment: str) -> None:
    """A fresh ed25519 key pair at ``path`` (+ .pub), no passphrase."""
    for old in (path, path.with_name(path.name + ".pub")):
        old.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)


def known_hosts_line(host: FleetHost) -> str:
    keytype, key = Path(host.host_key_path + ".pub").read_text().split()[:2]
    return f"[{host.address}]:{host.ssh_port} {keytype} {key}\n"


def write_private(path: str, text: str) -> None:
    """Write a secret (a password) readable by its owner only, from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
