"""``herd fg``: one process on one host, its output shown and lines sent to its stdin."""

from __future__ import annotations

import queue
import time
from typing import Any, Callable

from herd.errors import HerdError, NotRunning, SupervisorFault, UsageError
from herd.fleet import Fleet
from herd.operations.logs.model import EXIT, OUTPUT, POLL_INTERVAL, LogEvent
from herd.supervisor import names as namespec
from herd.supervisor.client import SupervisorClient
from herd.supervisor.logs import LogReader, LogRef, reader_for
from herd.supervisor.logtext import STDERR, STDOUT
from herd.supervisor.models import ProcessInfo, ProcessState

# After the end of input, output is shown until two polls in a row bring none, or for this long at most:
# a process that logs every second never goes quiet, and a piped `herd fg` must still end.
DRAIN_SECONDS = 2.0


class Attachment:
    """``herd fg``: one process on one host, its output shown, lines sent to its stdin.

    The caller's thread polls (it owns the host's connection): input lines
    queued with ``send()`` go out in the same multicall as the poll of the
    process's stdout and stderr logs and of its state.
    """

    def __init__(self, fleet: Fleet, host: str, process: str, *, interval: float = POLL_INTERVAL) -> None:
        self.session = fleet.access(host)
        self.host = host
        self.process = process
        self.interval = interval
        self.inputs: queue.Queue[str | None] = queue.Queue()
        self.readers: dict[str, LogReader] = {}

    def attach(self) -> ProcessInfo:
        """Check the process runs and start reading its logs from their current ends."""
        client = self.session.client()
        chosen, _ = namespec.select([self.process], client.all_process_info())
        info = chosen[0]
        if info.state is not ProcessState.RUNNING:
            raise NotRunning(f"{self.host}: {info.fullname} is not running ({info.statename})")
        for channel, logfile in ((STDOUT, info.stdout_logfile), (STDERR, info.stderr_logfile)):
            if logfile:
                reader = reader_for(LogRef(info.fullname, channel, logfile))
                reader.last_bytes(client, 0, final=False)
                self.readers[channel] = reader
        self.process = info.fullname
        return info

    def send(self, line: str | None) -> None:
        """Queue a line for the process's stdin (None: no more input)."""
        self.inputs.put(line)

    def run(self, output: Callable[[LogEvent], None]) -> LogEvent:
        """Poll until the input ends (and output settled) or the process stops; the final EXIT event."""
        client = self.session.client()
        eof = False
        quiet_polls = 0
        drained_by = float("inf")
        while True:
            lines, eof = self._take_input(eof)
            if eof and drained_by == float("inf"):
                drained_by = time.monotonic() + DRAIN_SECONDS
            calls: list[Any] = [("supervisor.sendProcessStdin", (self.process, line)) for line in lines]
            calls.append(("supervisor.getProcessInfo", (self.process,)))
            spans = []
            for channel, reader in self.readers.items():
                mine = reader.poll_calls()
                spans.append((channel, reader, len(calls), len(mine)))
                calls += mine
            answers = client.multicall(calls)
            for answer in answers[:len(lines)]:
                if isinstance(answer, SupervisorFault):
                    return self._ended(client, output, f"{self.process} no longer takes input ({answer.text})")
            shown = False
            for channel, reader, first, count in spans:
                pieces, _ = reader.absorb(client, answers[first:first + count])
                for piece in pieces:
                    text = piece if isinstance(piece, str) else f"[herd: {piece.text}]\n"
                    if text:
                        shown = True
                        output(LogEvent(OUTPUT, self.host, self.process, text, channel))
            info = answers[len(lines)]
            if isinstance(info, SupervisorFault) or info.get("state") != ProcessState.RUNNING:
                state = "gone" if isinstance(info, SupervisorFault) else ProcessInfo.from_rpc(info).statename
                return self._ended(client, output, f"{self.process} is {state}")
            quiet_polls = 0 if (shown or lines) else quiet_polls + 1
            if eof and (quiet_polls >= 2 or time.monotonic() >= drained_by):
                return LogEvent(EXIT, self.host, self.process, "input ended", "detached")
            self._wait_input()

    def _take_input(self, eof: bool) -> tuple[list[str], bool]:
        lines: list[str] = []
        while True:
            try:
                line = self.inputs.get_nowait()
            except queue.Empty:
                return lines, eof
            if line is None:
                eof = True
            else:
                lines.append(line)

    def _wait_input(self) -> None:
        """Sleep one interval, or less when input arrives (it is put back for the next poll)."""
        try:
            line = self.inputs.get(timeout=self.interval)
        except queue.Empty:
            return
        rest = [line]
        while True:
            try:
                rest.append(self.inputs.get_nowait())
            except queue.Empty:
                break
        for item in rest:
            self.inputs.put(item)

    def _ended(self, client: SupervisorClient, output: Callable[[LogEvent], None], why: str) -> LogEvent:
        time.sleep(min(self.interval, 0.2))       # its last words
        for channel, reader in self.readers.items():
            try:
                pieces, _ = reader.absorb(client, client.multicall(reader.poll_calls()))
            except HerdError:
                continue
            for piece in pieces:
                if isinstance(piece, str) and piece:
                    output(LogEvent(OUTPUT, self.host, self.process, piece, channel))
        return LogEvent(EXIT, self.host, self.process, why, "ended")


def select_one(fleet: Fleet, name: str) -> tuple[str, str]:
    """The one host and the one process ``fg`` attaches to, or a UsageError saying why not."""
    if len(fleet.hosts) != 1:
        listed = ", ".join(h.name for h in fleet.hosts[:5]) + (" ..." if len(fleet.hosts) > 5 else "")
        raise UsageError(f"fg attaches to one process on one host: select exactly one host with -H "
                         f"({len(fleet.hosts)} selected: {listed})")
    host = fleet.hosts[0].name
    chosen, _ = namespec.select([name], fleet.access(host).client().all_process_info())
    if not chosen:
        raise UsageError(f"{host}: no such process or group: {name}")
    if len(chosen) > 1:
        names = ", ".join(p.fullname for p in chosen)
        raise UsageError(f"{host}: {name} matches {len(chosen)} processes ({names}): fg attaches to one")
    return host, chosen[0].fullname


def clean_input(line: str) -> tuple[str, bool]:
    """A line without the control characters XML-RPC cannot carry; True if some were removed."""
    kept = "".join(c for c in line if c in "\t\n" or not (ord(c) < 0x20 or 0xFFFE <= ord(c) <= 0xFFFF
                                                          or 0xD800 <= ord(c) <= 0xDFFF))
    return kept, kept != line
