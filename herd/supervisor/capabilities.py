"""What a host's supervisord can do, learnt once per connection rather than by failing calls.

Every release from the seed's 3.0a12 to 4.3 is still in service, and they
differ in ways a fleet tool meets (each checked against the real release by
tests/test_releases_fleet.py; docs/releases.md has the table):

* **arrays**: before 3.0 final, supervisord's XML-RPC parser keeps only the
  first element of an array and fails (HTTP 500) on an empty one, so a
  ``system.multicall`` runs only its first call;
* **multicall**: before 3.2.0, ``system.multicall`` runs every call up
  front (a stop and a start in one batch race) and answers the calls past
  the second one per turn of its event loop, up to a second each on a
  quiet host (8 calls: 6 s seen);
* **signal**: ``signalProcess*`` exist from 3.2.0;
* **config fields**: ``getAllConfigInfo`` names log files, ``redirect_stderr``,
  syslog and ``exitcodes`` from 4.0.0 (before: names, autostart, priorities);
* **exitcodes**: the default expected exit codes are ``0,2`` before 4.0.0 and
  ``0`` from then on (supervisord does not say which applies to a program
  before 4.0);
* ``getAPIVersion`` answers "3.0" on every one of them: useless to tell them apart.

So herd learns the release once per connection, usually for free: the first
getAllProcessInfo of a connection goes out as a multicall of two calls
without parameters, ``getSupervisorVersion`` and it, which every release
answers right and at once (3.0a12 runs only the first: the second is then
asked on its own).  ``system.listMethods`` is asked once, the first time a
feature that is a method is needed (``herd signal``).  A method's presence is
read from ``listMethods``; what cannot be seen there (how multicall behaves,
the config fields, the default exit codes) from the version.  A version
string herd cannot read counts as the newest release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Iterable

_VERSION = re.compile(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.?(a|b|c|rc|dev)(\d*))?")
_PRE_RANK = {"dev": 0, "a": 1, "b": 2, "c": 3, "rc": 3}
_FINAL = 4


@total_ordering
@dataclass(frozen=True)
class Version:
    """A supervisor release number as its version.txt spells it: ``3.0a12``, ``3.1.4``, ``4.2.5``."""

    text: str
    key: tuple[int, int, int, int, int]

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """The release, or None when ``text`` does not start with a release number."""
        match = _VERSION.match(text or "")
        if match is None:
            return None
        major, minor, micro, pre, number = match.groups()
        rank = _PRE_RANK[pre] if pre else _FINAL
        return cls(text.strip(), (int(major), int(minor or 0), int(micro or 0), rank, int(number or 0)))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key < other.key

    def __str__(self) -> str:
        return self.text


def release(text: str) -> Version:
    """A release number herd's tables name (always readable)."""
    version = Version.parse(text)
    assert version is not None, text
    return version


ARRAYS_WORK = release("3.0")          # array elements after the first kept (CHANGES: 3.0)
MULTICALL_IN_ORDER = release("3.2.0")  # multicall runs its calls in order, without the 1 s ticks
CONFIG_FIELDS = release("4.0.0")     # getAllConfigInfo: logfiles, redirect_stderr, syslog, exitcodes
EXITCODES_ZERO = release("4.0.0")    # default exitcodes=0 (before: 0,2)


@dataclass(frozen=True)
class Feature:
    """Something herd asks of supervisord that not every release has.

    ``doing`` completes "supervisord 3.1.4 cannot ...", ``added`` is the
    first release that has it; ``method``, when set, is looked for in
    ``system.listMethods`` (else the version decides).
    """

    doing: str
    added: str
    method: str | None = None


SIGNAL = Feature("signal processes", "3.2.0", "supervisor.signalProcess")


@dataclass(frozen=True)
class Capabilities:
    """One supervisord's release and methods (None until asked), and what follows from them."""

    version: str
    methods: frozenset[str] | None = None

    @property
    def release(self) -> Version | None:
        return Version.parse(self.version)

    def _before(self, threshold: Version) -> bool:
        parsed = self.release
        return parsed is not None and parsed < threshold

    @property
    def batches(self) -> bool:
        """system.multicall is one round trip that runs its calls in order (3.2.0 and later)."""
        return not self._before(MULTICALL_IN_ORDER)

    @property
    def config_fields(self) -> bool:
        """getAllConfigInfo names log files, redirect_stderr, syslog and exitcodes (4.0.0 and later)."""
        return not self._before(CONFIG_FIELDS)

    @property
    def default_exitcodes(self) -> tuple[int, ...]:
        """The exit codes a program expects when its config names none."""
        return (0, 2) if self._before(EXITCODES_ZERO) else (0,)

    def has(self, feature: Feature) -> bool:
        if feature.method is not None and self.methods is not None:
            return feature.method in self.methods
        return not self._before(release(feature.added))

    def lacks_sentence(self, feature: Feature) -> str:
        """``supervisord 3.1.4 cannot signal processes (added in 3.2.0)``."""
        return f"supervisord {self.version or '(unknown release)'} cannot {feature.doing} (added in {feature.added})"


def learnt(version: object, methods: Iterable[object] | None = None) -> Capabilities:
    """Capabilities from the answers (anything odd in them is taken as text, never trusted further)."""
    return Capabilities(str(version or ""), None if methods is None else frozenset(str(m) for m in methods))
