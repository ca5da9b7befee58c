"""Port reservations shared by every test fleet of this user.

Unless a fleet is given a ``base_port``, it takes a block of PORT_STRIDE ports
per host from 20000 up to the kernel's ephemeral range, reserved in a small
cross-process registry so fleets in parallel pytest-xdist workers (and a
``herd demo``) never collide.  Host i uses block+10*i+0..3 for tornado, +4 for
sshd, +5 for inet_http_server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from herd.localfleet.hosts import ADDRESS, PORT_STRIDE, FleetError
from herd.localfleet.processes import pid_alive


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _auto_window(size: int) -> tuple[int, int]:
    """Where automatic blocks go: 20000 up to the ephemeral range, else above it."""
    eph_low, eph_high = _ephemeral_range()
    if eph_low - 20000 >= size:
        return 20000, eph_low
    if 65535 - (eph_high + 1) >= size:
        return eph_high + 1, 65536
    return 20000, 65536


def port_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound (with SO_REUSEADDR, as servers do)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ADDRESS, port))
        except OSError:
            return False
    return True


class PortRegistry:
    """Port ranges reserved by live fleets, in a flock-protected directory.

    One JSON file per fleet: its ranges, its directory and the pid that made
    it.  A reservation is live while that pid or any pid in the fleet's
    state.json is alive; dead ones are dropped the next time someone reserves.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.gettempdir()) / f"testfleet-ports-{os.getuid()}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(mode=0o700, exist_ok=True)
        with open(self.root / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _live_ranges(self) -> list[tuple[range, str]]:
        ranges: list[tuple[range, str]] = []
        for path in self.root.glob("*.json"):
            try:
                entry = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if not _reservation_live(entry):
                path.unlink(missing_ok=True)
                continue
            ranges += [(range(lo, hi), entry["directory"]) for lo, hi in entry["ranges"]]
        return ranges

    def reserve(self, directory: Path, fixed: Sequence[range], auto_size: int,
                used: Callable[[int], list[int]]) -> tuple[str, int]:
        """Reserve ``fixed`` ranges and one automatic block of ``auto_size`` ports.

        ``used(start)`` lists the ports of a block starting at ``start`` that
        must be bindable now.  Returns (token, start of the automatic block).
        """
        with self._locked():
            taken = self._live_ranges()
            for want in fixed:
                _check_fixed(want, taken)
                taken.append((want, str(directory)))
            start = _pick_block(auto_size, taken, used)
            token = uuid.uuid4().hex
            ranges = [[r.start, r.stop] for r in fixed] + [[start, start + auto_size]]
            entry = {"directory": str(directory), "pid": os.getpid(), "ranges": ranges}
            (self.root / f"{token}.json").write_text(json.dumps(entry))
            return token, start

    def release(self, token: str | None) -> None:
        if token:
            with self._locked():
                (self.root / f"{token}.json").unlink(missing_ok=True)


def _reservation_live(entry: dict[str, Any]) -> bool:
    if pid_alive(entry.get("pid")):
        return True
    try:
        state = json.loads((Path(entry["directory"]) / "state.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    return any(pid_alive(h.get(k)) for h in state.get("hosts", [])
               for k in ("sshd_pid", "supervisord_pid"))


def _overlaps(a: range, b: range) -> bool:
    return a.start < b.stop and b.start < a.stop


def _check_fixed(want: range, taken: list[tuple[range, str]]) -> None:
    for have, owner in taken:
        if _overlaps(want, have):
            raise FleetError(f"ports {want.start}-{want.stop - 1} overlap ports reserved by "
                             f"the fleet in {owner}: stop it or pick another --base-port")


def _pick_block(size: int, taken: list[tuple[range, str]], used: Callable[[int], list[int]]) -> int:
    low, high = _auto_window(size)
    slots = (high - low - size) // PORT_STRIDE
    if slots <= 0:
        raise FleetError(f"no room for {size} ports between {low} and {high}")
    for _ in range(200):
        start = low + PORT_STRIDE * random.randrange(slots)
        block = range(start, start + size)
        if any(_overlaps(block, have) for have, _ in taken):
            continue
        if all(port_free(p) for p in used(start)):
            return start
    raise FleetError(f"found no free block of {size} ports between {low} and {high}")
