"""Host key verification against OpenSSH known_hosts files.

paramiko's own loader raises on lines it does not understand (wildcards,
``@cert-authority``, ``@revoked``), and one such line makes the whole file
unusable; its ``save_host_keys`` rewrites the whole file and drops comments.
So herd parses known_hosts line by line itself (hashed names, patterns with
``*``/``?``/``!``, ``[host]:port``, ``@revoked``) and records new keys by
appending a single line under a lock, as OpenSSH's accept-new does.

Decisions (what OpenSSH does with StrictHostKeyChecking=yes / accept-new):

* a key of the offered type is known and equal          -> trusted
* a key of the offered type is known and different      -> refused, always
* keys are known for the host, but none of this type    -> refused, always
* nothing is known for the host                         -> refused, unless
  accept-new, which appends the key and trusts it
* the key is marked ``@revoked``                        -> refused, always
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import functools
import hashlib
import hmac
import os
import re
import threading
from dataclasses import dataclass
from typing import Iterable, Sequence

from paramiko.pkey import PKey


@dataclass(frozen=True)
class KnownKey:
    """One usable known_hosts line: its host field, key type and key blob."""

    hosts: str
    keytype: str
    blob: bytes
    revoked: bool = False
    source: str = ""

    def matches(self, lookup: str) -> bool:
        return host_field_matches(self.hosts, lookup)


class UnknownHostKey(Exception):
    """Nothing is known for this host."""


class ChangedHostKey(Exception):
    """The host offered a key that differs from the known one."""


def lookup_name(hostname: str, port: int) -> str:
    """The name OpenSSH files a host under: ``host`` or ``[host]:port``."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


def host_field_matches(field: str, lookup: str) -> bool:
    """Does a known_hosts host field (hashed, or a pattern list) match ``lookup``?"""
    if field.startswith("|1|"):
        return _hashed_matches(field, lookup)
    matched = False
    for pattern in field.split(","):
        negated = pattern.startswith("!")
        if negated:
            pattern = pattern[1:]
        if _glob_matches(pattern.lower(), lookup.lower()):
            if negated:
                return False
            matched = True
    return matched


def _glob_matches(pattern: str, name: str) -> bool:
    """OpenSSH patterns: only ``*`` and ``?`` are special (``[`` is literal, for ``[host]:port``)."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == name
    return _glob_regex(pattern).fullmatch(name) is not None


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))


def _plain_names(field: str) -> list[str] | None:
    """The names of a host field made only of plain names (no hash, wildcard or
    negation), lowercased; None for any other field."""
    if field.startswith("|"):
        return None
    names = field.lower().split(",")
    if any("*" in n or "?" in n or n.startswith("!") for n in names):
        return None
    return names


def _hashed_matches(field: str, lookup: str) -> bool:
    try:
        _, _, salt_b64, hash_b64 = field.split("|", 3)
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(hash_b64)
    except (ValueError, binascii.Error):
        return False
    digest = hmac.new(salt, lookup.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(digest, expected)


def removal(lookup: str, source: str) -> str:
    """The command that removes ``lookup``'s lines from ``source``: ``-f FILE`` unless it is ssh's own file
    (without it, ssh-keygen -R edits ~/.ssh/known_hosts and leaves the inventory's file as it was)."""
    import shlex

    default = os.path.expanduser("~/.ssh/known_hosts")
    where = "" if not source or os.path.abspath(source) == default else f" -f {shlex.quote(source)}"
    return f"ssh-keygen{where} -R {shlex.quote(lookup)}"


def parse_line(line: str, source: str = "") -> KnownKey | None:
    """Parse one known_hosts line; None for comments, blanks, CA and junk lines."""
    parts = line.strip().split()
    if not parts or parts[0].startswith("#"):
        return None
    revoked = False
    if parts[0].startswith("@"):
        if parts[0] != "@revoked":
            return None  # @cert-authority: herd does not do host certificates
        revoked = True
        parts = parts[1:]
    if len(parts) < 3:
        return None
    try:
        blob = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    return KnownKey(parts[0], parts[1], blob, revoked, source)


def read_known_hosts(path: str) -> list[KnownKey]:
    """Every usable line of one file; a missing file is simply empty."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    return [k for k in (parse_line(line, path) for line in lines) if k is not None]


class KnownHosts:
    """The trusted keys from several files, and where new keys get recorded.

    Lines made of plain names are indexed by name; only hashed and patterned
    lines are matched one by one (a fleet of N hosts against a known_hosts of
    N lines would otherwise cost N x N pattern matches).
    """

    def __init__(self, files: Sequence[str], record_to: str) -> None:
        self.files = list(files)
        self.record_to = record_to
        self._keys: list[KnownKey] = []
        self._by_name: dict[str, list[int]] = {}
        self._scan: list[int] = []  # hashed or patterned lines
        self._lock = threading.Lock()
        for path in self.files:
            for key in read_known_hosts(path):
                self._add(key)

    def _add(self, key: KnownKey) -> None:
        index = len(self._keys)
        self._keys.append(key)
        names = _plain_names(key.hosts)
        if names is None:
            self._scan.append(index)
        for name in dict.fromkeys(names or ()):
            self._by_name.setdefault(name, []).append(index)

    def keys_for(self, lookup: str) -> list[KnownKey]:
        """The lines matching ``lookup``, in file order."""
        with self._lock:
            found = set(self._by_name.get(lookup.lower(), ()))
            found.update(i for i in self._scan if self._keys[i].matches(lookup))
            return [self._keys[i] for i in sorted(found)]

    def known_types(self, lookup: str) -> list[str]:
        """Key types known for a host, to prefer them in the handshake."""
        return list(dict.fromkeys(k.keytype for k in self.keys_for(lookup) if not k.revoked))

    def verify(self, lookup: str, key: PKey) -> None:
        """Raise ChangedHostKey / UnknownHostKey unless ``key`` is trusted."""
        blob = key.asbytes()
        known = self.keys_for(lookup)
        if any(k.revoked and k.blob == blob for k in known):
            raise ChangedHostKey(f"its key {fingerprint(key)} is marked @revoked")
        valid = [k for k in known if not k.revoked]
        if any(k.blob == blob for k in valid):
            return
        same_type = [k for k in valid if k.keytype == key.get_name()]
        if same_type:
            raise ChangedHostKey(
                f"HOST KEY HAS CHANGED: it offered {key.get_name()} {fingerprint(key)}, "
                f"which differs from the key in {same_type[0].source}; this could be an attack. "
                f"If the host was really reinstalled, remove the old line ({removal(lookup, same_type[0].source)})"
            )
        if valid:
            types = ", ".join(sorted({k.keytype for k in valid}))
            raise ChangedHostKey(
                f"it offered a {key.get_name()} key {fingerprint(key)}, but only {types} keys are known for it; "
                f"refusing (check the host, then add its key with ssh-keyscan)"
            )
        raise UnknownHostKey(lookup)

    def record(self, lookup: str, key: PKey) -> None:
        """Append ``lookup keytype base64`` to ``record_to`` (accept-new)."""
        line = f"{lookup} {key.get_name()} {key.get_base64()}\n"
        append_line(self.record_to, line)
        with self._lock:
            self._add(KnownKey(lookup, key.get_name(), key.asbytes(), False, self.record_to))


_append_lock = threading.Lock()


def append_line(path: str, line: str) -> None:
    """Append one line under a thread lock and an flock, creating the file 0600."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    with _append_lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size and not _ends_with_newline(path):
                line = "\n" + line
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def fingerprint(key: PKey) -> str:
    """OpenSSH's SHA256 fingerprint, e.g. ``SHA256:abc...``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def default_files(extra: Iterable[str | None]) -> list[str]:
    """User, system and inventory known_hosts files, in that order."""
    files = [os.path.expanduser("~/.ssh/known_hosts"), "/etc/ssh/ssh_known_hosts"]
    files.extend(f for f in extra if f)
    return list(dict.fromkeys(files))
