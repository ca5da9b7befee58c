"""The app's own log files (``logs:`` in the inventory, ``herd tail --file``): windows and follow.

supervisord's logs are read over XML-RPC (herd/supervisor/logs.py); a file
of the app's own is read by herd's file agent (herd/ssh/fileagent.py) on
the host's one agent channel.  Both give the same *pieces* (text, and
Notes such as "rotated"), so line assembly, prefixes, colours and escaping
are shared (herd/operations/logs.py, herd/render/logs.py).

herd keeps every offset.  A reader's requests are written as generators
(``window``, ``poll``) that yield ReadRequests and receive the answers, so
``drive`` can put the requests of every file of a host into one round trip
per step.  A file changed under herd's offset is noticed three ways: another
inode (renamed away and recreated), a size smaller than the offset
(truncated), or the 32 bytes before the offset no longer as herd read them
(rewritten); herd says so once and reads the new file from its start.
Bytes are decoded as UTF-8 with bad bytes kept as lone surrogates (the
renderer shows them as ``\\xff``); a character split across reads is held
until its end arrives.
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass, field
from typing import Any, Generator, Hashable, Mapping, TypeVar

from herd.errors import HerdError, HostTimeout
from herd.inventory import logpaths
from herd.ssh.fileagent import Answer, FileAgent, FileData, FileFailure, ReadRequest, open_file_agent
from herd.supervisor.logs import LogRef
from herd.supervisor.logtext import (ANCHOR, FILE, MAX_BACKLOG, MAX_WINDOW, POLL_LIMIT, Note, Piece, keep_last_lines,
                                     rotation_note)
from herd.supervisor.models import ProcessInfo

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
Step = Generator[ReadRequest, Answer, T]
MAX_ROUNDS = 64                 # round trips one drive() may take (a 16 MiB window takes 17)


class FileProblem(HerdError):
    """This file cannot be read (missing, permission denied, not a file); the host is fine."""

    def __init__(self, path: str, why: str) -> None:
        self.path = path
        self.why = why          # without the path (where the path already labels the line)
        super().__init__(f"{path}: {why}")


class _Changed(Exception):
    """The file was replaced while a window was being read."""


def _decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")("surrogateescape")


def _drop_continuation(data: bytes) -> bytes:
    """A window herd cut may start inside a character: its continuation bytes are not data."""
    skip = 0
    while skip < min(3, len(data)) and 0x80 <= data[skip] <= 0xBF:
        skip += 1
    return data[skip:]


def _data(answer: Answer) -> FileData:
    if isinstance(answer, FileFailure):
        raise FileProblem(answer.path, answer.reason)
    return answer


@dataclass
class FileReader:
    """One file followed on one host: herd's offset in it and what lies just before."""

    ref: LogRef
    pos: int = 0
    ident: tuple[int, int] | None = None
    anchor: bytes = b""
    cut: bool = False           # the next bytes may start inside a character
    mid_line: bool = False      # after seeking to the end: it was inside a line
    waiting: bool = False       # the file vanished while followed: waiting for it
    _decoder: codecs.IncrementalDecoder = field(default_factory=_decoder, repr=False)

    @property
    def path(self) -> str:
        return self.ref.logfile

    # -- windows (-n / -c) --------------------------------------------------------

    def window(self, lines: int | None, nbytes: int | None, *, final: bool) -> Step[list[Piece]]:
        """The last ``nbytes`` bytes, or the last ``lines`` lines; leaves the offset at the end read."""
        for attempt in (1, 2):
            try:
                if nbytes is not None:
                    return (yield from self._last_bytes(nbytes, final))
                return (yield from self._last_lines(lines or 0, final))
            except _Changed as exc:
                if attempt == 2:
                    raise FileProblem(self.path, "keeps changing while herd reads it") from exc
        raise AssertionError("unreachable")

    def _last_bytes(self, count: int, final: bool) -> Step[list[Piece]]:
        if count <= 0:
            yield from self._seek_end()
            return []
        data, start = yield from self._read_last(count)
        return self._text(data, start, final)

    def _last_lines(self, lines: int, final: bool) -> Step[list[Piece]]:
        if lines <= 0:
            yield from self._seek_end()
            return []
        size = min(max(4096, lines * 256), MAX_WINDOW)
        while True:
            data, start = yield from self._read_last(size)
            found = (data[:-1] if data.endswith(b"\n") else data).count(b"\n")
            if start == 0 or found >= lines or size >= MAX_WINDOW:
                break
            size = min(size * 4, MAX_WINDOW)
        kept = keep_last_lines(self._text(data, start, final), lines)
        if start > 0 and found < lines:
            kept.insert(0, Note(f"only the last {MAX_WINDOW >> 20} MiB were searched for lines"))
        return kept

    def _seek_end(self) -> Step[None]:
        answer = _data((yield ReadRequest(self.path, -1, 1)))
        self._stand(answer, answer.end, answer.data)
        self.mid_line = answer.data not in (b"", b"\n")
        self.cut = True

    def _read_last(self, length: int) -> Step[tuple[bytes, int]]:
        """The last ``length`` bytes as they were at the first answer (several requests if large)."""
        first = _data((yield ReadRequest(self.path, -length, length)))
        parts, end = [first.data], first.end
        target = min(first.size, first.start + length)
        while end < target:
            more = _data((yield ReadRequest(self.path, end, target - end)))
            if more.ident != first.ident or more.size < end or not more.data:
                raise _Changed()
            parts.append(more.data)
            end = more.end
        data = b"".join(parts)[:target - first.start]
        self._stand(first, first.start + len(data), data)
        return data, first.start

    def _stand(self, answer: FileData, pos: int, before: bytes) -> None:
        self.ident, self.pos = answer.ident, pos
        self.anchor = before[-ANCHOR:]
        self._decoder = _decoder()

    def _text(self, data: bytes, start: int, final: bool) -> list[Piece]:
        if start > 0:
            data = _drop_continuation(data)
        text = self._decoder.decode(data, final=final)
        return [text] if text else []

    # -- following ----------------------------------------------------------------

    def poll(self) -> Step[tuple[list[Piece], bool]]:
        """What was written since the last read; True when more is waiting (poll again soon)."""
        back = len(self.anchor)
        answer = yield ReadRequest(self.path, self.pos - back, POLL_LIMIT + back)
        if isinstance(answer, FileFailure):
            if not answer.missing:
                raise FileProblem(answer.path, answer.reason)
            if self.waiting:
                return [], False
            self.waiting = True
            return [Note(f"{self.path} is gone (rotated away?); waiting for it to come back")], False
        if self.waiting or answer.ident != self.ident or answer.size < self.pos \
                or answer.data[:back] != self.anchor:
            return (yield from self._restart())
        return self._take(answer, back)

    def _restart(self) -> Step[tuple[list[Piece], bool]]:
        """The file under the offset changed: say so once, read the new one from its start."""
        self.waiting, self.pos, self.anchor, self.cut = False, 0, b"", False
        self._decoder = _decoder()
        answer = yield ReadRequest(self.path, 0, POLL_LIMIT)
        if isinstance(answer, FileFailure):
            if not answer.missing:
                raise FileProblem(answer.path, answer.reason)
            self.waiting = True
            return [rotation_note()], False
        self.ident = answer.ident
        pieces, more = self._take(answer, 0)
        return [rotation_note(), *pieces], more

    def _take(self, answer: FileData, skip: int) -> tuple[list[Piece], bool]:
        data = answer.data[skip:]
        self.pos = answer.end
        self.anchor = (self.anchor + data)[-ANCHOR:]
        if self.cut and data:
            data, self.cut = _drop_continuation(data), False
        text = self._decoder.decode(data, final=False)
        pieces: list[Piece] = [text] if text else []
        full = len(answer.data) - skip >= POLL_LIMIT
        if full and answer.size - self.pos > MAX_BACKLOG:
            skipped = answer.size - POLL_LIMIT - self.pos
            self.pos, self.anchor, self.cut = answer.size - POLL_LIMIT, b"", True
            self._decoder = _decoder()
            pieces.append(Note(f"{skipped} bytes skipped: herd fell more than {MAX_BACKLOG >> 20} MiB behind",
                               cut=True))
        return pieces, full


# -- running readers' steps together ----------------------------------------------------


def drive(agent: FileAgent, steps: Mapping[K, Step[T]], budget: float) -> dict[K, T | FileProblem]:
    """Run every step to its end, one round trip per step for all of them; FileProblem per file.

    The whole drive is bounded by ``budget`` seconds and MAX_ROUNDS round trips.
    """
    results: dict[K, Any] = {}
    pending: dict[K, tuple[Step[T], ReadRequest]] = {}
    for key, step in steps.items():
        _advance(key, step, None, pending, results)
    deadline = time.monotonic() + budget
    for _ in range(MAX_ROUNDS):
        if not pending:
            return results
        left = deadline - time.monotonic()
        if left <= 0:
            raise HostTimeout(agent.host, f"reading log files took longer than {budget:g} s")
        keys = list(pending)
        answers = agent.read([pending[k][1] for k in keys], budget=left)
        for key, answer in zip(keys, answers):
            _advance(key, pending.pop(key)[0], answer, pending, results)
    for key, (step, request) in pending.items():
        step.close()
        results[key] = FileProblem(request.path, f"gave up after {MAX_ROUNDS} reads")
    return results


def _advance(key: K, step: Step[T], answer: Answer | None, pending: dict[K, tuple[Step[T], ReadRequest]],
             results: dict[K, Any]) -> None:
    try:
        request = next(step) if answer is None else step.send(answer)
    except StopIteration as stop:
        results[key] = stop.value
    except FileProblem as exc:
        results[key] = exc
    else:
        pending[key] = (step, request)


class FileAccess:
    """A host's file agent, started on first use on the host's connection, kept after.

    ``access`` is the host's HostAccess (herd/fleet/access.py).  After a
    reconnect (a new supervisord client means a new connection) the agent
    is started again on the new one.
    """

    def __init__(self, access: Any) -> None:
        self.access = access
        self.agent: FileAgent | None = None
        self._client: Any = None        # the client of the connection the agent runs on

    def run(self, steps: Mapping[K, Step[T]], *, budget: float | None = None) -> dict[K, Any]:
        if not steps:
            return {}
        client = self.access.client()   # reconnects if the connection was lost
        if self.agent is None or self.agent.broken or client is not self._client:
            self.close()
            self.agent, self._client = open_file_agent(self.access, client.timeout), client
        return drive(self.agent, steps, self.agent.timeout if budget is None else budget)

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()


# -- which file a process's log is -----------------------------------------------------


def file_ref(template: str, host: str, info: ProcessInfo | None = None) -> LogRef:
    """The LogRef of ``template`` filled for a process (or for the host alone); TemplateError if it cannot be."""
    if info is None:
        return LogRef(None, FILE, logpaths.fill(template, {"host": host}))
    values = logpaths.process_values(info.group, info.name, host)
    return LogRef(info.fullname, FILE, logpaths.fill(template, values))
