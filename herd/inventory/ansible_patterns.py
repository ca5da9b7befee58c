"""Ansible host patterns: ``web[01:20].example.com``, ``db-[a:c]``, ``host:2222``.

An Ansible inventory names hosts by *patterns*: an optional ``:PORT``
suffix (``[::1]:22`` for IPv6) and ``[begin:end]`` or ``[begin:end:step]``
ranges, numeric (a leading zero fixes the width: ``[01:10]``) or one letter
(``[a:f]``), any number of them in one name.  This module expands one
pattern into host names and a port, with the rules Ansible applies, written
here from Ansible's documented behaviour and checked against
``ansible-inventory`` by the tests.

A pattern that does not parse raises :class:`PatternError` with a plain
sentence; the reader adds file and line.
"""

from __future__ import annotations

import ipaddress
import re
import string

__all__ = ["PatternError", "expand_pattern"]


class PatternError(ValueError):
    """A host pattern or range that cannot be expanded; the message says why."""


_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_NUM_RANGE = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]"
# A DNS-like label: letters, digits, '_' and '-', or ranges; not ending in '-' or '_'.
_LABEL = rf"(?:\w|{_RANGE})(?:[\w-]|{_RANGE})*(?<![_-])"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z", re.I)
_OCTET = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUM_RANGE})"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}\Z")
_BRACKETED_PORT = re.compile(r"\[(.+)\]:([0-9]+)\Z")
_HOST_PORT = re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)\Z")


def expand_pattern(pattern: str) -> tuple[list[str], int | None]:
    """``(host names, port or None)`` for one host pattern, in range order."""
    host, port = _split_port(pattern)
    if "[" in host:
        return _expand(host), port
    return [host], port


def _split_port(pattern: str) -> tuple[str, int | None]:
    """Separate a ``:PORT`` suffix, as Ansible does.

    Only a pattern that is a valid host name or address once the port is
    taken off has a port; anything else is kept whole as the name (Ansible
    then treats it as a name too, ranges included).
    """
    host, port = pattern, None
    for shape in (_BRACKETED_PORT, _HOST_PORT):
        match = shape.match(host)
        if match:
            host, port = match.group(1), int(match.group(2))
    if _is_address(host):
        return host, port
    return pattern, None


def _is_address(host: str) -> bool:
    if _IPV4.match(host) or _HOSTNAME.match(host):
        return True
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def _expand(name: str) -> list[str]:
    """Expand the first ``[...]`` range of ``name``, then the rest, recursively."""
    head, _, rest = name.partition("[")
    body, closed, tail = rest.partition("]")
    if not closed:
        raise PatternError(f"'[' without ']' in host pattern '{name}'")
    values = _range_values(body, name)
    names: list[str] = []
    for value in values:
        expanded = head + value + tail
        names.extend(_expand(expanded) if "[" in expanded else [expanded])
    return names


def _range_values(body: str, name: str) -> list[str]:
    """The values of one range body ``begin:end[:step]``."""
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise PatternError(f"host range [{body}] in '{name}' must be [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    if not end:
        raise PatternError(f"host range [{body}] in '{name}' has no end value")
    step = _step(bounds[2] if len(bounds) == 3 else "1", body, name)
    if begin in string.ascii_letters and end in string.ascii_letters:
        first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
        if first > last:
            raise PatternError(f"host range [{body}] in '{name}' must have begin <= end")
        return list(string.ascii_letters[first:last + 1:step])
    if not (begin.isdigit() and end.isdigit()):
        raise PatternError(f"host range [{body}] in '{name}' must be numbers ([01:20]) "
                           f"or single letters ([a:f])")
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise PatternError(f"host range [{body}] in '{name}': begin and end must have the same "
                           f"number of digits when begin has a leading zero")
    values = [str(n).zfill(width) for n in range(int(begin), int(end) + 1, step)]
    if not values:
        raise PatternError(f"host range [{body}] in '{name}' is empty (begin is after end)")
    return values


def _step(text: str, body: str, name: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise PatternError(f"host range [{body}] in '{name}': the step must be a whole number "
                           f"above 0, got '{text}'")
    return int(text)
