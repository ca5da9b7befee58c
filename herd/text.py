"""Text that came from a host, made safe to show on a terminal: the one place that does it.

Anything a host sends is untrusted: process and group names, descriptions,
spawn errors, supervisord's version, fault strings, exception texts that
quote remote bytes, hook and probe output, log lines.  A host (broken or
compromised) must not be able to retitle or clear the operator's terminal,
move the cursor to paint a fake row for another host, or hide text.  So
before any such text is printed:

* C0 control characters (ESC, BEL, CR, LF, backspace...), DEL and C1
  controls are shown as escapes: ESC as ``\\x1b``, CR as ``\\r``, LF as
  ``\\n``; with them every escape sequence becomes visible, not applied;
* bytes that were not UTF-8 (kept by herd as lone surrogates
  U+DC80..U+DCFF, Python's surrogateescape) are shown as ``\\xNN``;
* characters that reorder or break lines on a terminal (Unicode bidi
  overrides and isolates, U+2028/U+2029, U+FEFF) as ``\\uNNNN``.

``field()`` is for one cell or one quoted value: a CR or LF in it never
starts a new row; a TAB is escaped too (it would break columns).
``line()`` is a log line (TAB kept); ``block()`` is output shown as it comes
(``herd fg``: newlines and TABs kept).  ``-o json`` output keeps the exact
strings (JSON escapes control characters itself) and does not use this.
``shorten()`` makes a value fit in a one-line error message; ``exception()``
writes one of the causes ``herd -vv`` shows under an error.

Text herd writes itself (headers, colours from click.style) is never passed
through here, so herd's own colours still work.
"""

from __future__ import annotations

import re

# C0 but TAB and LF (line() keeps TAB; field() adds TAB, block() keeps LF), DEL, C1,
# bidi embeddings/overrides/isolates, line/paragraph separators, BOM, lone surrogates.
_CONTROLS = "\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff\udc80-\udcff"
_UNSAFE_FIELD = re.compile(f"[\t{_CONTROLS}]")
_UNSAFE_LINE = re.compile(f"[{_CONTROLS}]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
_ANY_UNSAFE = _UNSAFE_FIELD


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def field(text: object) -> str:
    """One cell or quoted value on one line: every control character escaped, TAB included."""
    return _UNSAFE_FIELD.sub(_escape_char, str(text))


def line(text: str) -> str:
    """One log line: as field(), but a TAB stays a TAB."""
    return _UNSAFE_LINE.sub(_escape_char, text)


def block(text: str) -> str:
    """Output shown as it comes (several lines): as line(), but newlines kept."""
    return "\n".join(line(part) for part in text.split("\n"))


def is_safe(text: str) -> bool:
    """True when field(text) == text: nothing in it would need escaping."""
    return _ANY_UNSAFE.search(text) is None


def error(exc: BaseException) -> str:
    """An error's sentence for a terminal (a host error's reason may quote remote text)."""
    return field(getattr(exc, "reason", None) or str(exc))


def exception(exc: BaseException, limit: int = 300) -> str:
    """An exception on one line, for ``herd -vv``'s causes: ``ssh_exception.SSHException: text``.

    The class is named with the last part of its module (none for builtins:
    ``ConnectionRefusedError: ...``); its text may quote what a host sent, so it
    is escaped as field() does and cut to about ``limit`` characters (an HTTP
    status line, say, can be 64 KiB).
    """
    kind = type(exc)
    module = kind.__module__.rsplit(".", 1)[-1]
    name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    said = field(exc)
    if len(said) > limit:
        said = said[:limit] + "..."
    return f"{name}: {said}" if said else name

def shorten(value: object, limit: int = 60) -> str:
    """A value for a one-line message: escaped, and cut to about ``limit`` characters.

    A multi-line value (a YAML block scalar, say) shows its first line and
    how many more there are: ``'first line...' (+3 lines)``.
    """
    text = str(value)
    lines = text.splitlines() or [""]
    head = field(lines[0])
    more = len(lines) - 1
    cut = len(head) > limit
    if cut:
        head = head[:limit]
    shown = head + ("..." if cut or more else "")
    return shown + (f" (+{more} line{'s' if more != 1 else ''})" if more else "")
