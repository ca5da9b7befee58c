"""Parsing supervisord's XML-RPC answers when they carry characters XML forbids.

supervisord writes log text into its answers as is (Python's xmlrpc escapes
only ``& < >``), so a log line with an ANSI colour (ESC), a NUL or any other
C0 control character makes the answer ill-formed XML, and a carriage return
would be turned into a line feed by any conforming parser.  Before parsing,
each such character (C0 controls but TAB and LF, CR included, and the
non-characters U+FFFE/U+FFFF) is replaced by a stand-in from the top of
Unicode's last private-use plane (U+10FF00 + its code); after parsing, every
string of the result is translated back.  The caller gets exactly the text
supervisord sent.  (A log that itself contains U+10FF00..U+10FF21 would come
back as control characters: those code points are private and unassigned.)

A supervisord on Python 2 (3.x, and 4.0 there) puts a log's bytes into its
answer as they are, so a log that is not UTF-8 (or a window that cuts a
character) makes the answer invalid UTF-8 as well.  Such an answer is read
with each bad byte standing in for itself (U+10FE80 + byte - 0x80 while
parsing) and handed back as Python's surrogate escape for it (U+DC80 +
byte - 0x80), the representation herd's log readers already use for bytes
that are not text (herd/supervisor/logtext.py).

Parser tricks are refused before parsing: supervisord's answers never carry
a document type declaration, so an answer with ``<!DOCTYPE`` or
``<!ENTITY`` (an entity bomb, an external entity naming a local file) is
refused outright (``Refused``), whatever expat's own limits are.  Text in an
answer cannot hide one: supervisord escapes ``<`` in strings as ``&lt;``.
"""

from __future__ import annotations

import re
import xmlrpc.client
from typing import Any

_BASE = 0x10FF00
_FORBIDDEN = re.compile(rb"[\x00-\x08\x0b-\x1f]|\xef\xbf[\xbe\xbf]")
_CONTROLS = bytes(range(0x00, 0x09)) + bytes(range(0x0B, 0x20))
_NONCHAR = {b"\xef\xbf\xbe": 0x20, b"\xef\xbf\xbf": 0x21}
_BACK = {_BASE + c: c for c in range(0x20)}
_BACK.update({_BASE + 0x20: 0xFFFE, _BASE + 0x21: 0xFFFF})
_BAD_BYTE_BASE = 0x10FE80     # U+10FE80..U+10FEFF stand for the raw bytes 0x80..0xFF while parsing
_BACK.update({_BAD_BYTE_BASE + b: 0xDC80 + b for b in range(0x80)})
_BAD_BYTES = {0xDC80 + b: _BAD_BYTE_BASE + b for b in range(0x80)}


def _stand_in(match: re.Match[bytes]) -> bytes:
    raw = match.group()
    code = _NONCHAR.get(raw, raw[0])
    return chr(_BASE + code).encode("utf-8")


def _restore(value: Any) -> Any:
    if isinstance(value, str):
        return value.translate(_BACK)
    if isinstance(value, (list, tuple)):
        return type(value)(_restore(v) for v in value)
    if isinstance(value, dict):
        return {_restore(k): _restore(v) for k, v in value.items()}
    return value


_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class Refused(ValueError):
    """The answer uses an XML feature supervisord never sends (a DTD, entity declarations)."""


def _has_forbidden(data: bytes) -> bool:
    """``_FORBIDDEN.search(data)``, ten times faster: the regex's alternation defeats its fast scan."""
    return (len(data.translate(None, _CONTROLS)) != len(data) or b"\xef\xbf\xbe" in data
            or b"\xef\xbf\xbf" in data)


def loads(data: bytes) -> tuple[tuple[Any, ...], str | None]:
    """``xmlrpc.client.loads(data, use_builtin_types=True)`` that tolerates control characters
    and raw bytes that are not UTF-8, and refuses document type declarations."""
    if _DECLARATION.search(data):
        raise Refused("an XML document type declaration (entity tricks)")
    bad_bytes = not _is_utf8(data)
    if not bad_bytes and not _has_forbidden(data):
        return xmlrpc.client.loads(data, use_builtin_types=True)
    if bad_bytes:
        data = data.decode("utf-8", "surrogateescape").translate(_BAD_BYTES).encode("utf-8")
    try:
        params, method = xmlrpc.client.loads(_FORBIDDEN.sub(_stand_in, data), use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        raise xmlrpc.client.Fault(fault.faultCode, _restore(fault.faultString)) from fault
    return _restore(params), method


def _is_utf8(data: bytes) -> bool:
    """Valid UTF-8 (an ASCII answer, the usual case, is checked at memory speed)."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
