"""Reading supervisord's log files over XML-RPC: byte offsets, windows, and text that is not text.

What supervisord offers, and how herd uses it:

* ``tailProcessStdoutLog(name, offset, length)`` returns ``[text, size,
  overflow]``, but ``text`` is always the *last* ``length`` bytes of the file
  (``offset`` only decides whether anything is returned and the overflow
  flag).  herd uses it for the windows (``-n``/``-c``), for the file size
  (``length`` 0) and, when the text is not valid UTF-8, for the position of
  the first bad byte (supervisord's multicall reports the UnicodeDecodeError
  with its position).
* ``readProcessStdoutLog(name, offset, length)`` reads exactly
  ``[offset, offset+length)``: herd's follow polls use it, so only new bytes
  travel, plus a short *anchor*: the up to 32 bytes before ``offset`` that
  herd already showed.  If the anchor no longer matches, or the file is now
  shorter than ``offset``, the log was rotated (``logfile_maxbytes``) or
  cleared, and herd says so and reads the new file from its start.
* ``readLog(offset, length)`` (supervisord's own log) has no size call:
  herd finds the size once by probing offsets, 64 per round trip.

supervisord decodes the bytes as UTF-8 before sending them: a window with an
invalid byte fails as a whole.  herd then reads the valid part before the bad
byte exactly, represents a bad byte whose value supervisord named by the
lone surrogate U+DC80+byte (Python's surrogateescape) and any other bad
sequence by U+FFFD, and goes on after it; a window herd cut itself may
start in the middle of a character, whose continuation bytes are dropped
silently.  Control characters arrive intact (see xmlsafe).  Escaping for a
terminal is the renderer's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from herd.errors import Faults, HerdError, LogGone, SupervisorFault
from herd.supervisor.client import Call, SupervisorClient
from herd.supervisor.logtext import (FILE, MAIN, MAX_BACKLOG, MAX_WINDOW, POLL_LIMIT, REPAIR_ROUNDS, STDOUT,
                                  XMLRPC_INT_MAX, Note, Piece, bad_char, clean_tail, decode_error,
                                  keep_last_lines, rotation_note, uncut, undecodable, utf8_len)


@dataclass(frozen=True)
class LogRef:
    """A log file of one host: a process's stdout or stderr (full name), or supervisord's own log."""

    process: str | None
    channel: str
    logfile: str = ""
    maxbytes: int = 0
    tagged: bool = False        # both channels of the process are read: its label names the channel

    @property
    def label(self) -> str:
        if self.process:
            return f"{self.process} {self.channel}" if self.tagged else self.process
        return self.logfile if self.channel == FILE else "supervisord"

    @property
    def is_main(self) -> bool:
        return self.channel == MAIN

    def read_call(self, offset: int, length: int) -> Call:
        if self.is_main:
            return ("supervisor.readLog", (offset, length))
        method = "readProcessStdoutLog" if self.channel == STDOUT else "readProcessStderrLog"
        return (f"supervisor.{method}", (self.process, offset, length))

    def tail_call(self, offset: int, length: int) -> Call:
        method = "tailProcessStdoutLog" if self.channel == STDOUT else "tailProcessStderrLog"
        return (f"supervisor.{method}", (self.process, offset, length))


class _Restart(Exception):
    """The file under the offset changed: rotated, cleared or replaced."""


@dataclass
class LogReader:
    """One log read or followed on one host (a base: see ProcessLogReader, MainLogReader): where herd is in it, and how to read on from there.

    ``pos`` is the byte offset of the next byte to read; ``anchor`` the clean
    text just before it (empty when unknown).  Methods take the host's client
    and make the calls they need; ``poll_calls``/``absorb`` let a host batch
    every log's poll into one multicall.
    """

    ref: LogRef
    pos: int = 0
    anchor: str = ""
    cut: bool = False          # pos may be in the middle of a character (a window herd cut)
    mid_line: bool = False     # after seeking to the end: it was in the middle of a line
    gone: bool = False
    _probe: bool = field(default=False, repr=False)

    # -- windows -----------------------------------------------------------

    def last_lines(self, client: SupervisorClient, lines: int, *, final: bool) -> list[Piece]:
        """The last ``lines`` lines (a partial last line counts); leaves ``pos`` at the end read."""
        if lines <= 0:
            self._seek_end(client)
            return []
        window = min(max(4096, lines * 256), MAX_WINDOW)
        while True:
            pieces, start = self._window(client, window, final=final)
            text = "".join(p for p in pieces if isinstance(p, str))
            found = (text[:-1] if text.endswith("\n") else text).count("\n")
            if start == 0 or found >= lines or window >= MAX_WINDOW:
                break
            window = min(window * 4, MAX_WINDOW)
        kept = keep_last_lines(pieces, lines)
        if start > 0 and found < lines:
            kept.insert(0, Note(f"only the last {MAX_WINDOW >> 20} MiB were searched for lines"))
        return kept

    def last_bytes(self, client: SupervisorClient, count: int, *, final: bool) -> list[Piece]:
        """The last ``count`` bytes (as supervisorctl's ``tail -BYTES``); leaves ``pos`` at the end."""
        if count <= 0:
            self._seek_end(client)
            return []
        pieces, _ = self._window(client, count, final=final)
        return pieces

    def _seek_end(self, client: SupervisorClient) -> None:
        """Stand at the end of the file (nothing shown); note whether that is inside a line."""
        size, last = self._end(client)
        self.pos, self.anchor, self.cut = size, "", True
        self.mid_line = last != "\n"
        self._probe = self.pos > 0

    def _end(self, client: SupervisorClient) -> tuple[int, Any]:
        """The file's size and its last character ("\n" for an empty file)."""
        raise NotImplementedError

    def _window(self, client: SupervisorClient, length: int, *, final: bool) -> tuple[list[Piece], int]:
        """The last ``length`` bytes as pieces, and the offset the window started at."""
        try:
            return self._window_once(client, length, final=final)
        except _Restart:        # rotated while herd was reading it: once more, in the new file
            return self._window_once(client, length, final=final)

    def _window_once(self, client: SupervisorClient, length: int, *, final: bool) -> tuple[list[Piece], int]:
        raise NotImplementedError

    def _arrive(self, pos: int, pieces: list[Piece]) -> None:
        """``pos`` reached; the last piece (if text) is what lies just before it."""
        if not pieces and pos == self.pos:
            self.cut = False
            return              # nothing consumed: the anchor still holds
        last = pieces[-1] if pieces else None
        self.pos, self.cut = pos, False
        self.anchor = clean_tail(last) if isinstance(last, str) else ""
        self._probe = self.pos > 0 and not self.anchor

    # -- following -------------------------------------------------------------

    def poll_calls(self) -> list[Call]:
        """The calls of one follow poll (one, or two when there is no anchor to check)."""
        back = utf8_len(self.anchor)
        calls = [self.ref.read_call(self.pos - 1, 1)] if self._probe else []
        calls.append(self.ref.read_call(self.pos - back, POLL_LIMIT + back))
        return calls

    def absorb(self, client: SupervisorClient, answers: list[Any]) -> tuple[list[Piece], bool]:
        """Turn a poll's answers into pieces; True when more may be waiting (poll again soon)."""
        try:
            return self._absorb(client, answers)
        except _Restart:
            return self._restart(client), False

    def _absorb(self, client: SupervisorClient, answers: list[Any]) -> tuple[list[Piece], bool]:
        if self._probe:
            probe, answers = answers[0], answers[1:]
            if probe == "":
                raise _Restart()
        answer = answers[0]
        if isinstance(answer, SupervisorFault):
            return self._poll_fault(client, answer), False
        if self.anchor:
            if not answer.startswith(self.anchor):
                raise _Restart()
            answer = answer[len(self.anchor):]
        if not answer:
            return [], False
        size = utf8_len(answer)
        answer = uncut(answer, self.cut)
        self._arrive(self.pos + size, [answer])
        full = size >= POLL_LIMIT
        if full:
            skipped = self._skip_backlog(client)
            if skipped:
                return [answer, skipped], True
        return [answer], full

    def _poll_fault(self, client: SupervisorClient, answer: SupervisorFault) -> list[Piece]:
        if answer.code == Faults.NO_FILE:
            if self.pos > 0:
                raise _Restart()
            return []       # not created yet (the process never wrote)
        if not undecodable(answer):
            raise self._failure(answer)
        self._check_anchor(client)
        return self._read_rest(client, self.pos, cut=self.cut)

    def _read_rest(self, client: SupervisorClient, start: int, *, cut: bool) -> list[Piece]:
        """Everything from ``start`` to the end of the file despite bad bytes; sets pos after it."""
        raise NotImplementedError

    def _check_anchor(self, client: SupervisorClient) -> None:
        back = utf8_len(self.anchor)
        if back and self._one(client, self.ref.read_call(self.pos - back, back)) != self.anchor:
            raise _Restart()

    def _skip_backlog(self, client: SupervisorClient) -> Note | None:
        """After a full poll: jump ahead when herd fell too far behind (a Note saying so), else None."""
        return None

    def _restart(self, client: SupervisorClient) -> list[Piece]:
        where = f" (rotated output is in {self.ref.logfile}.1)" if self.ref.logfile and self.ref.maxbytes else ""
        note = rotation_note(where)
        self.pos, self.anchor, self.cut, self._probe = 0, "", False, False
        try:
            pieces = self._read_rest(client, 0, cut=False)
        except _Restart:
            pieces = []
        return [note, *pieces]

    def _size(self, client: SupervisorClient) -> int:
        raise NotImplementedError


    # -- helpers -------------------------------------------------------------------

    def _one(self, client: SupervisorClient, call: Call) -> Any:
        return client.multicall([call])[0]

    def _text(self, answer: Any) -> str:
        if isinstance(answer, SupervisorFault):
            if answer.code in (Faults.NO_FILE,) or undecodable(answer):
                raise _Restart()
            raise self._failure(answer)
        return str(answer)

    def _failure(self, fault: SupervisorFault) -> HerdError:
        if fault.code == Faults.BAD_NAME:
            self.gone = True
            return LogGone("no longer known to supervisord (removed from its configuration?)")
        return fault


@dataclass
class ProcessLogReader(LogReader):
    """A process's stdout or stderr log: tail calls give the size, exact reads the bytes.

    Undecodable bytes are repaired by ``_suffix``: valid prefixes read
    exactly, bad bytes replaced, a few round trips per bad byte.
    """

    def _end(self, client: SupervisorClient) -> tuple[int, Any]:
        last = self._one(client, self.ref.tail_call(0, 1))
        if isinstance(last, SupervisorFault) and not undecodable(last):
            raise self._failure(last)
        size = self._size(client) if isinstance(last, SupervisorFault) else int(last[1])
        return size, last if isinstance(last, SupervisorFault) else (last[0] if size else "\n")

    def _window_once(self, client: SupervisorClient, length: int, *, final: bool) -> tuple[list[Piece], int]:
        answer = self._one(client, self.ref.tail_call(0, length))
        if not isinstance(answer, SupervisorFault):
            text, size, _ = answer
            start = max(0, size - length)
            text = uncut(text, start > 0)
            self._arrive(size, [text])
            return [text], start
        if not undecodable(answer):
            raise self._failure(answer)
        size = self._size(client)
        start = max(0, size - length)
        pieces, end = self._suffix(client, start, size, cut=start > 0, final=final, window=length)
        self._arrive(end, pieces)
        return pieces, max(0, end - length)

    def _read_rest(self, client: SupervisorClient, start: int, *, cut: bool) -> list[Piece]:
        pieces, end = self._suffix(client, start, None, cut=cut, final=False)
        self._arrive(end, pieces)
        return pieces

    def _skip_backlog(self, client: SupervisorClient) -> Note | None:
        size = self._size(client)
        if size - self.pos <= MAX_BACKLOG:
            return None
        skipped = size - POLL_LIMIT - self.pos
        self.pos, self.anchor, self.cut, self._probe = size - POLL_LIMIT, "", True, True
        return Note(f"{skipped} bytes skipped: herd fell more than {MAX_BACKLOG >> 20} MiB behind", cut=True)


    def _suffix(self, client: SupervisorClient, start: int, size: int | None, *, cut: bool,
                final: bool, window: int | None = None) -> tuple[list[Piece], int]:
        """Decode ``[start, end of file)`` despite bad bytes; returns pieces and the offset reached.

        With ``window``, the range is the file's last ``window`` bytes: when
        the file grows during the repair, the range slides with it (what was
        read so far is dropped), so a window never shows more than asked.

        Each round trip asks for the size, the valid prefix found last time
        (exact read) and everything after the last bad byte (a tail read whose
        window is known because the size comes in the same multicall).
        """
        pieces: list[Piece] = []
        prefix: tuple[int, int] | None = None
        bad = ""
        for _ in range(REPAIR_ROUNDS):
            calls = [self.ref.tail_call(0, 0)]
            if prefix:
                calls.append(self.ref.read_call(*prefix))
            if size is not None:
                calls.append(self.ref.tail_call(start, max(size - start, 0)))
            answers = client.multicall(calls)
            now = self._size_answer(answers[0])
            if prefix:
                pieces.append(self._text(answers[1]))
                prefix = None
            if bad:
                pieces.append(bad)
                bad = ""
            if now < start:
                raise _Restart()
            if size != now:
                size = now
                if window is not None:      # the file grew: the last `window` bytes are others now
                    pieces, prefix, bad = [], None, ""
                    start = max(0, now - window)
                    cut = start > 0
                continue
            answer = answers[-1]
            if not isinstance(answer, SupervisorFault):
                pieces.append(uncut(answer[0], cut))
                return pieces, size
            error = decode_error(answer)
            if error is None:
                raise self._failure(answer)
            first, end, byte, reason = error
            if cut and first == 0 and byte is not None and 0x80 <= byte <= 0xBF:
                start += 1          # the rest of a character the window cut: not data
                continue
            cut = False
            if first:
                prefix = (start, first)
            if reason == "unexpected end of data" and start + end == size and not final:
                if prefix:            # a character still being written: stop before it
                    pieces.append(self._text(self._one(client, self.ref.read_call(*prefix))))
                return pieces, start + first
            bad = bad_char(byte, end - first)
            start += end
        if prefix:
            pieces.append(self._text(self._one(client, self.ref.read_call(*prefix))))
        if bad:
            pieces.append(bad)
        rest, end_at = self._clean_suffix(client, start)
        return pieces + rest, end_at


    def _clean_suffix(self, client: SupervisorClient, start: int) -> tuple[list[Piece], int]:
        """After too many bad bytes: skip to the longest end of the file that decodes, and say so.

        One round trip asks for the last L bytes for L shrinking by a quarter
        each time (about 4x the remaining bytes travel, once).
        """
        size = self._size(client)
        lengths: list[int] = []
        length = size - start
        while length > 0 and len(lengths) < 40:
            lengths.append(length)
            length = length * 3 // 4
        answers = client.multicall([self.ref.tail_call(0, n) for n in lengths]) if lengths else []
        for n, answer in zip(lengths, answers):
            if not isinstance(answer, SupervisorFault):
                text, now, _ = answer           # the last n bytes of the file as it is now
                skipped = max(0, now - n - start)
                note = Note(f"{skipped} bytes not shown: too much output that is not UTF-8 text", cut=True)
                return ([note, text] if skipped else [text]), now
        return [Note(f"{size - start} bytes not shown: too much output that is not UTF-8 text", cut=True)], size

    def _size(self, client: SupervisorClient) -> int:
        return self._size_answer(self._one(client, self.ref.tail_call(0, 0)))

    def _size_answer(self, answer: Any) -> int:
        if isinstance(answer, SupervisorFault):
            raise self._failure(answer)
        return int(answer[1])


@dataclass
class MainLogReader(LogReader):
    """supervisord's own log (readLog): no size call, so the size is found by probing offsets.

    supervisord writes only UTF-8 there, so a read that fails to decode
    started inside a character; no backlog skipping (herd reads its end).
    """

    def _end(self, client: SupervisorClient) -> tuple[int, Any]:
        size = self._size(client)
        return size, self._one(client, self.ref.read_call(size - 1, 1)) if size else "\n"

    def _window_once(self, client: SupervisorClient, length: int, *, final: bool) -> tuple[list[Piece], int]:
        size = self._size(client)
        start = max(0, size - length)
        return self._read_main(client, start, size, cut=start > 0), start

    def _read_rest(self, client: SupervisorClient, start: int, *, cut: bool) -> list[Piece]:
        return self._read_main(client, start, None, cut=cut)

    def _size(self, client: SupervisorClient) -> int:
        return self._main_size(client)

    def _failure(self, fault: SupervisorFault) -> HerdError:
        if fault.code == Faults.NO_FILE:
            self.gone = True
            return LogGone("supervisord's log is not a file (see logfile= in [supervisord])")
        return super()._failure(fault)

    def _main_size(self, client: SupervisorClient) -> int:
        """The main log's size: readLog(x, 1) is empty exactly when x >= size."""
        def beyond(answers: list[Any]) -> list[bool]:
            for answer in answers:
                if isinstance(answer, SupervisorFault) and not undecodable(answer):
                    raise self._failure(answer)
            return [a == "" for a in answers]

        marks = [0] + [1 << k for k in range(0, 31)]        # XML-RPC integers stop at 2**31 - 1
        ends = beyond(client.multicall([self.ref.read_call(x, 1) for x in marks]))
        if ends[0]:
            return 0
        low = max(x for x, end in zip(marks, ends) if not end)      # size > low
        high = min((x for x, end in zip(marks, ends) if end), default=XMLRPC_INT_MAX)   # size <= high
        while high - low > 1:
            step = max(1, (high - low) // 64)
            points = list(range(low + step, high, step))[:63]
            ends = beyond(client.multicall([self.ref.read_call(x, 1) for x in points]))
            for x, end in zip(points, ends):
                if end:
                    high = min(high, x)
                    break
                low = x
        return high


    def _read_main(self, client: SupervisorClient, start: int, end: int | None, *, cut: bool) -> list[Piece]:
        """Bytes [start, end) of the main log (to its end with None); sets pos after them.

        supervisord writes only UTF-8 there (it logs undecodable output as a
        Python repr), so a failure is a window that starts inside a
        character: the next start that decodes is taken.
        """
        if end is not None and end <= start:
            self._arrive(start, [])
            return []
        # readLog(offset, 0) reads to the end of the file
        lengths = [0 if end is None else end - start - i for i in range(4 if cut else 1)]
        answers = client.multicall([self.ref.read_call(start + i, n) for i, n in enumerate(lengths) if end is None or n > 0])
        for i, answer in enumerate(answers):
            if isinstance(answer, SupervisorFault) and not undecodable(answer):
                raise self._failure(answer)
            if isinstance(answer, str):
                self._arrive(start + i + utf8_len(answer), [answer])
                answer = uncut(answer, cut and i == 0)
                return [answer] if answer else []
        size = self._main_size(client) if end is None else end
        self._arrive(size, [])
        return [Note(f"{size - start} bytes of supervisord's log not shown: not UTF-8 text")]


def reader_for(ref: LogRef) -> LogReader:
    """The reader that suits the log: supervisord's own (``main``) or a process's."""
    return MainLogReader(ref) if ref.is_main else ProcessLogReader(ref)
