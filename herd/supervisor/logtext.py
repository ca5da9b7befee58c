"""Pure text helpers for log reading: no I/O, shared by the XML-RPC readers and the file agent's.

What a read hands back is a list of pieces: text (``str``), and ``Note``s
where something must be said in the stream (rotation, bytes skipped).  A
bad byte supervisord named is the lone surrogate U+DC80+byte (Python's
surrogateescape), any other undecodable sequence U+FFFD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Union

from herd.errors import Faults, SupervisorFault

ANCHOR = 32                     # bytes re-read before the offset to detect rotation
POLL_LIMIT = 256 * 1024         # bytes read per log per follow poll
MAX_BACKLOG = 8 * 1024 * 1024   # a follower further behind than this skips ahead (and says so)
MAX_WINDOW = 16 * 1024 * 1024   # -n never searches further back than this
REPAIR_ROUNDS = 200             # round trips spent on undecodable bytes per read
XMLRPC_INT_MAX = 2**31 - 1      # offsets beyond cannot be asked for (nor answered by supervisord)
STDOUT, STDERR, MAIN = "stdout", "stderr", "main"
FILE = "file"                   # an app's own log file, read by herd's agent (herd/operations/filelogs.py)

_DECODE_ERROR = re.compile(r"can't decode (?:byte 0x([0-9a-f]{2})|bytes) in position (\d+)(?:-(\d+))?: (.+?)'?$")


@dataclass(frozen=True)
class Note:
    """Something the reader must tell the operator, in the stream where it happened.

    ``cut``: bytes were skipped, so the text after the note starts inside a line.
    """

    text: str
    cut: bool = False


Piece = Union[str, Note]


def utf8_len(text: str) -> int:
    """Byte length of text as it was in the file (bad bytes are one surrogate each)."""
    return len(text.encode("utf-8", "surrogateescape"))


def decode_error(answer: Any) -> tuple[int, int, int | None, str] | None:
    """(start, end, byte or None, reason) of a UnicodeDecodeError fault, relative to the window."""
    if not isinstance(answer, SupervisorFault) or answer.code != Faults.FAILED:
        return None
    match = _DECODE_ERROR.search(answer.text)
    if not match or "UnicodeDecodeError" not in answer.text:
        return None
    byte, start, last, reason = match.groups()
    start_i = int(start)
    end_i = int(last) + 1 if last else start_i + 1
    return start_i, end_i, int(byte, 16) if byte else None, reason


def undecodable(answer: Any) -> bool:
    """Did supervisord fail to decode the bytes asked for (with or without a position)?"""
    return (isinstance(answer, SupervisorFault) and answer.code == Faults.FAILED
            and ("UnicodeDecodeError" in answer.text or "'utf-8'" in answer.text))


def uncut(text: str, cut: bool) -> str:
    """``text`` without the rest of a character that a window herd cut began with.

    From a supervisord on Python 2 the bytes arrive as they are (a bad byte
    as its surrogate escape, herd/supervisor/xmlsafe.py): a window starting
    inside a character starts with up to three continuation bytes, which are
    not data.  (On Python 3 supervisord refuses to decode them: see _suffix.)
    """
    if not cut:
        return text
    drop = 0
    while drop < 3 and drop < len(text) and "\udc80" <= text[drop] <= "\udcbf":
        drop += 1
    return text[drop:]


def bad_char(byte: int | None, length: int) -> str:
    return chr(0xDC00 + byte) if byte is not None and byte >= 0x80 and length == 1 else "\ufffd"


def clean_tail(text: str) -> str:
    """The longest end of ``text`` (at most ANCHOR bytes) without bad bytes, usable as an anchor."""
    tail = text[-ANCHOR:]
    while tail and utf8_len(tail) > ANCHOR:
        tail = tail[1:]
    cut = max(tail.rfind("\ufffd"), max((i for i, c in enumerate(tail) if "\udc80" <= c <= "\udcff"), default=-1))
    return tail[cut + 1:]


def keep_last_lines(pieces: list[Piece], lines: int) -> list[Piece]:
    """The pieces from the start of the last ``lines`` lines on, notes kept where they were."""
    text = "".join(p for p in pieces if isinstance(p, str))
    pos = len(text) - 1 if text.endswith("\n") else len(text)
    for _ in range(lines):
        pos = text.rfind("\n", 0, pos)
        if pos < 0:
            break
    begin = pos + 1            # 0 when the text has no more lines than asked for
    kept: list[Piece] = []
    offset = 0
    for piece in pieces:
        if isinstance(piece, Note):
            if offset >= begin:
                kept.append(piece)
            continue
        if offset + len(piece) > begin:
            kept.append(piece[max(0, begin - offset):])
        offset += len(piece)
    return kept


def rotation_note(where: str = "") -> Note:
    """What herd says when a followed log changed under its offset (rotated, cleared, replaced)."""
    return Note(f"log rotated or cleared: what was written between herd's last read and then "
                f"is not shown{where}")
