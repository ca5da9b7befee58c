"""``herd tail``, ``herd maintail`` and ``herd fg``: logs of many hosts, read once or followed.

Reading once is a fan-out like status: every host resolves the names
(getAllProcessInfo + getAllConfigInfo, one round trip) and reads the end of
each log.  Following keeps going from where that left off: one thread per
host polls all of its logs with one multicall per poll over the host's one
kept-alive connection, and hands events (lines, notes, connection lost or
back) to a queue that the command prints.  A host that drops is retried with
backoff (1, 2, 4 ... 10 s) while the others keep flowing; when it is back,
what was written meanwhile is read from the same offsets.

Lines are assembled per log: text between polls is kept until its newline
arrives, so a line is delivered once and whole (a line longer than
MAX_LINE is delivered in pieces).  One trailing CR is dropped (CRLF logs).
Nothing here prints.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from herd.errors import (
    EXIT_FAILED,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    EXIT_UNREACHABLE,
    HerdError,
    HostError,
    SupervisorFault,
    UsageError,
)
from herd.fleet import Fleet
from herd.inventory.logpaths import TemplateError
from herd.inventory.model import Host
from herd.operations.filelogs import FileAccess, FileProblem, FileReader, file_ref
from herd.supervisor import names as namespec
from herd.supervisor.client import SupervisorClient
from herd.supervisor.logs import FILE, MAIN, STDERR, STDOUT, LogGone, LogReader, LogRef, Note, Piece
from herd.supervisor.models import ProcessInfo, ProcessState

log = logging.getLogger("herd.logs")

MAX_LINE = 64 * 1024
POLL_INTERVAL = 0.5
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 10.0

# Event kinds
LINE, NOTE, DOWN, UP, OUTPUT, EXIT = "line", "note", "down", "up", "output", "exit"


@dataclass(frozen=True)
class LogRequest:
    """What to read: process NAMEs and a channel, or supervisord's own log (channel main)."""

    names: tuple[str, ...] = ()
    channel: str = STDOUT       # or FILE: only the app's own files (logs:), a note where none is named
    lines: int | None = 20
    nbytes: int | None = None
    # --file templates: without names, files of the host; with names, the file of each process
    files: tuple[str, ...] = ()
    # stdout/stderr written on the command line: supervisord's log even where ``logs:`` names a file
    channel_given: bool = False


@dataclass(frozen=True)
class LogEvent:
    """Something for the operator: a line of ``source`` on ``host``, a note, a host lost or back."""

    kind: str
    host: str
    source: str = ""
    text: str = ""
    channel: str = ""


class LineBuffer:
    """Whole lines out of text that arrives in arbitrary pieces."""

    def __init__(self) -> None:
        self.partial = ""
        self._resync = False

    def resync(self) -> None:
        """Bytes were skipped: drop what comes before the next newline (the rest of a line)."""
        self._resync = True

    def feed(self, text: str) -> list[str]:
        if self._resync:
            if "\n" not in text:
                return []
            text = text.split("\n", 1)[1]
            self._resync = False
        if not text:
            return []
        parts = (self.partial + text).split("\n")
        self.partial = parts.pop()
        while len(self.partial) > MAX_LINE:
            parts.append(self.partial[:MAX_LINE])
            self.partial = self.partial[MAX_LINE:]
        return [p[:-1] if p.endswith("\r") else p for p in parts]

    def flush(self) -> list[str]:
        rest, self.partial = self.partial, ""
        return [rest[:-1] if rest.endswith("\r") else rest] if rest else []


@dataclass
class ProcessLog:
    """One log of one host: what was read of it, or why it cannot be read."""

    ref: LogRef
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    reader: LogReader | FileReader | None = field(default=None, repr=False)
    buffer: LineBuffer = field(default_factory=LineBuffer, repr=False)

    @property
    def name(self) -> str:
        return self.ref.label


@dataclass
class HostLogs:
    host: str
    logs: list[ProcessLog] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: HerdError | None = None
    files: FileAccess | None = field(default=None, repr=False)   # the host's file agent, if it reads files


@dataclass
class TailReport:
    hosts: list[HostLogs]
    request: LogRequest

    def close(self) -> None:
        """End the hosts' file agents (their channels); the SSH connections are the fleet's."""
        for host in self.hosts:
            if host.files is not None:
                host.files.close()

    @property
    def exit_code(self) -> int:
        """0 every log read; 1 a log could not be read (disabled, redirected, failed); 4 a host failed."""
        if any(h.error is not None for h in self.hosts):
            return EXIT_UNREACHABLE
        if any(p.error for h in self.hosts for p in h.logs):
            return EXIT_FAILED
        return EXIT_OK


# -- which logs a host has --------------------------------------------------------------


def _config_key(item: dict[str, Any]) -> tuple[str, str]:
    return str(item.get("group", "")), str(item.get("name", ""))


def plan_host(client: SupervisorClient, request: LogRequest, host: Host | None = None) -> HostLogs:
    """The logs ``request`` names on this host, and the NAMEs it lacks (one round trip).

    ``host`` (the inventory's) gives the ``logs:`` templates; files named
    with ``--file`` and no NAME need no round trip at all.
    """
    if request.files and not request.names:
        plan = HostLogs(client.host)
        for template in request.files:
            plan.logs.append(_file_log(template, client.host, None))
        return plan
    if request.channel == MAIN:
        plan = HostLogs(client.host)
        plan.logs.append(ProcessLog(LogRef(None, MAIN), reader=LogReader(LogRef(None, MAIN))))
        return plan
    infos_raw, configs_raw = client.multicall([("supervisor.getAllProcessInfo", ()),
                                               ("supervisor.getAllConfigInfo", ())])
    if isinstance(infos_raw, SupervisorFault):
        raise infos_raw
    configs = {} if isinstance(configs_raw, SupervisorFault) else {_config_key(c): c for c in configs_raw}
    chosen, missing = namespec.select(request.names, [ProcessInfo.from_rpc(i) for i in infos_raw])
    plan = HostLogs(client.host, missing=missing)
    templates = host.logs if host is not None else {}
    for info in chosen:
        template = request.files[0] if request.files else \
            (None if request.channel_given else log_template(templates, info))
        if template is not None:
            plan.logs.append(_file_log(template, client.host, info))
        elif request.channel == FILE:
            plan.logs.append(ProcessLog(LogRef(info.fullname, FILE), error=(
                f"no log file of its own: logs: in the inventory names none for {info.group} on this host")))
        else:
            plan.logs.append(_process_log(info, configs.get((info.group, info.name), {}), request.channel,
                                          log_template(templates, info)))
    return plan


def log_template(templates: Mapping[str, str], info: ProcessInfo) -> str | None:
    """The ``logs:`` template of a process: by its program (group) name, else its own name."""
    return templates.get(info.group) or templates.get(info.name)


def _file_log(template: str, host: str, info: ProcessInfo | None) -> ProcessLog:
    try:
        ref = file_ref(template, host, info)
    except TemplateError as exc:
        return ProcessLog(LogRef(info.fullname if info else None, FILE, template), error=str(exc))
    return ProcessLog(ref, reader=FileReader(ref))


def _process_log(info: ProcessInfo, config: dict[str, Any], channel: str,
                 template: str | None = None) -> ProcessLog:
    logfile = info.stdout_logfile if channel == STDOUT else info.stderr_logfile
    maxbytes = int(config.get(f"{channel}_logfile_maxbytes", 0) or 0)
    ref = LogRef(info.fullname, channel, logfile, maxbytes)
    if logfile:
        return ProcessLog(ref, reader=LogReader(ref))
    if channel == STDERR and config.get("redirect_stderr"):
        why = "stderr is redirected to stdout (redirect_stderr=true): tail stdout instead"
    elif config.get(f"{channel}_syslog"):
        why = f"{channel} goes to syslog only ({channel}_syslog=true, {channel}_logfile=NONE)"
    elif template is not None:
        why = (f"{channel} is not logged ({channel}_logfile=NONE); its own log file (logs: in the "
               f"inventory) is read when no stdout/stderr is given: herd tail {info.group}")
    else:
        why = (f"{channel} is not logged ({channel}_logfile=NONE); if {info.group} writes log files of "
               f"its own, name them under logs: in the inventory, or read one with --file PATH")
    return ProcessLog(ref, error=why)


def check_names_exist(plans: Sequence[HostLogs], request: LogRequest) -> None:
    """A NAME that no reachable host has is a usage error (a host lacking it is skipped)."""
    reachable = [p for p in plans if p.error is None]
    if not reachable or request.channel == MAIN or not request.names:
        return
    unknown = [n for n in request.names if all(n in p.missing for p in reachable)]
    if unknown:
        raise UsageError(f"no such process or group on any selected host: {', '.join(unknown)}")


# -- reading the end of every log ---------------------------------------------------------


def _read_window(client: SupervisorClient, item: ProcessLog, request: LogRequest, *, final: bool) -> list[Piece]:
    assert item.reader is not None
    if request.nbytes is not None:
        return item.reader.last_bytes(client, request.nbytes, final=final)
    return item.reader.last_lines(client, request.lines or 0, final=final)


def _absorb(item: ProcessLog, pieces: Sequence[Piece]) -> list[tuple[str, str]]:
    """Feed pieces into the log's line buffer: (LINE|NOTE, text) in order."""
    out: list[tuple[str, str]] = []
    for piece in pieces:
        if isinstance(piece, Note):
            if piece.cut:           # bytes skipped: only whole lines on either side
                item.buffer.flush()
                item.buffer.resync()
            else:
                out += [(LINE, line) for line in item.buffer.flush()]
            out.append((NOTE, piece.text))
        else:
            out += [(LINE, line) for line in item.buffer.feed(piece)]
    return out


def read_host(client: SupervisorClient, request: LogRequest, *, final: bool,
              session: Any = None) -> HostLogs:
    """Plan a host and read the end of each of its logs into ``lines``/``notes``.

    ``session`` (the host's HostSession) is needed for files: their agent
    runs on its SSH connection.  When every log of the host is a file, the
    RPC channel is closed after planning: a follow then holds one channel.
    """
    plan = plan_host(client, request, session.host if session is not None else None)
    windows: dict[Any, Any] = {}
    for index, item in enumerate(plan.logs):
        if isinstance(item.reader, FileReader):
            windows[index] = item.reader.window(request.lines, request.nbytes, final=final)
        elif item.reader is not None:
            try:
                _show(item, _read_window(client, item, request, final=final), final=final)
            except (LogGone, SupervisorFault) as exc:
                item.error = str(exc)
                item.reader = None
    if windows:
        plan.files = FileAccess(session)
        try:
            for index, result in plan.files.run(windows, budget=2 * client.timeout).items():
                _show_or_fail(plan.logs[index], result, final=final)
        finally:
            if final:       # read once: the agent's work is done (a shell's connection stays open)
                plan.files.close()
        if not any(isinstance(p.reader, LogReader) for p in plan.logs):
            client.close()
    return plan


def _show(item: ProcessLog, pieces: Sequence[Piece], *, final: bool) -> None:
    """A window's pieces into the log's lines and notes."""
    assert item.reader is not None
    if item.reader.mid_line:      # -n 0 / -c 0 stood inside a line: its rest is not a line
        item.buffer.resync()
    for kind, text in _absorb(item, pieces):
        (item.lines if kind == LINE else item.notes).append(text)
    if final:
        item.lines += item.buffer.flush()


def problem_text(item: ProcessLog, problem: FileProblem) -> str:
    """``/x.log: no such file`` for a process's file; the reason alone where the label is the path."""
    return problem.why if item.ref.process is None else str(problem)


def _show_or_fail(item: ProcessLog, result: Any, *, final: bool) -> None:
    if isinstance(result, FileProblem):
        item.error, item.reader = problem_text(item, result), None
    else:
        _show(item, result, final=final)


def read_logs(fleet: Fleet, request: LogRequest, *, final: bool = True) -> TailReport:
    """The end of the requested logs on every selected host (a NAME no host has: UsageError)."""
    def task(client: SupervisorClient) -> HostLogs:
        return read_host(client, request, final=final, session=fleet.sessions[client.host])

    # Without -f, a read-only command: its budget.  With -f, the first read may take a few round trips more.
    results = fleet.read(task) if final else fleet.run(task, deadline=3 * fleet.connector.timeout + 5)
    hosts = [r.value if r.ok and r.value is not None else HostLogs(r.name, error=r.error) for r in results]
    check_names_exist(hosts, request)
    return TailReport(hosts, request)


# -- following -------------------------------------------------------------------------


class Follower:
    """Follows the logs of every host at once; ``events()`` yields what to show.

    Started from a TailReport read with ``final=False`` (its readers stand at
    the end of what was shown); hosts that failed then are retried and, once
    reachable, planned and shown from their last lines.
    """

    def __init__(self, fleet: Fleet, report: TailReport, *, interval: float = POLL_INTERVAL) -> None:
        self.fleet = fleet
        self.report = report
        self.interval = interval
        self._events: queue.Queue[list[LogEvent]] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for host in self.report.hosts:
            state = host if host.error is None else None
            if state is not None and not any(p.reader for p in state.logs):
                continue            # nothing to follow there
            reason = None if host.error is None else getattr(host.error, "reason", str(host.error))
            thread = threading.Thread(target=self._run_host, args=(host.host, state, reason),
                                      name=f"herd-follow-{host.host}", daemon=True)
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def events(self, timeout: float | None = None) -> Iterator[LogEvent]:
        """Events as they come; returns when every host is done (all its logs gone) or stop()."""
        while not self._stop.is_set():
            try:
                batch = self._events.get(timeout=0.2 if timeout is None else timeout)
            except queue.Empty:
                if not any(t.is_alive() for t in self._threads) and self._events.empty():
                    return
                continue
            yield from batch

    def pending(self) -> list[LogEvent]:
        """Events queued but not yet taken (after stop: what to print before leaving)."""
        out: list[LogEvent] = []
        while True:
            try:
                out += self._events.get_nowait()
            except queue.Empty:
                return out

    def partial_lines(self) -> list[LogEvent]:
        """Unterminated last lines still buffered (to show when the command ends)."""
        return [LogEvent(LINE, h.host, p.name, line) for h in self.report.hosts if h.error is None
                for p in h.logs for line in p.buffer.flush()]

    def stop(self) -> None:
        self._stop.set()
        for session in self.fleet.sessions.values():
            session.abort()     # a poll blocked on a dead link fails now
        deadline = time.monotonic() + 2.0     # a thread stuck in a handshake is left to its timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- per host ----------------------------------------------------------------

    def _emit(self, events: list[LogEvent]) -> None:
        if events:
            self._events.put(events)

    def _run_host(self, host: str, state: HostLogs | None, reason: str | None) -> None:
        session = self.fleet.sessions[host]
        delay = BACKOFF_FIRST
        down = reason is not None
        if down:
            self._emit([LogEvent(DOWN, host, text=f"unreachable ({reason}); retrying")])
        while not self._stop.is_set():
            try:
                client = session.client()
                if down:
                    self._emit([LogEvent(UP, host, text="reconnected")])
                    down, delay = False, BACKOFF_FIRST
                if state is None:
                    state = self._first_contact(client, host)
                more = self._poll(client, state)
                if not any(p.reader for p in state.logs):
                    return
                self._stop.wait(0.0 if more else self.interval)
            except HostError as exc:
                session.reset()
                if self._stop.is_set():
                    return
                if not down:
                    self._emit([LogEvent(DOWN, host, text=f"connection lost ({exc.reason}); retrying")])
                    down = True
                self._stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            except Exception as exc:  # a bug must not stop the other hosts; say it once and retry slowly
                if self._stop.is_set():
                    return
                log.debug("%s: follow failed", host, exc_info=True)
                self._emit([LogEvent(NOTE, host, text=f"cannot follow: {exc}; retrying")])
                self._stop.wait(BACKOFF_MAX)

    def _first_contact(self, client: SupervisorClient, host: str) -> HostLogs:
        state = read_host(client, self.report.request, final=False, session=self.fleet.sessions[host])
        events: list[LogEvent] = []
        for item in state.logs:
            events += [LogEvent(LINE, host, item.name, line) for line in item.lines]
            events += [LogEvent(NOTE, host, item.name, text) for text in item.notes]
            if item.error:
                events.append(LogEvent(NOTE, host, item.name, item.error))
        self._emit(events)
        for index, known in enumerate(self.report.hosts):
            if known.host == host:
                self.report.hosts[index] = state
        return state

    def _poll(self, client: SupervisorClient, state: HostLogs) -> bool:
        """One round trip for every followed log of the host (a multicall for supervisord's logs,
        an agent request for files); True when some log has more waiting."""
        more = self._poll_files(state)
        active = [p for p in state.logs if isinstance(p.reader, LogReader)]
        if not active:
            return more
        calls: list[Any] = []
        spans = []
        for item in active:
            assert item.reader is not None
            mine = item.reader.poll_calls()
            spans.append((item, len(calls), len(mine)))
            calls += mine
        answers = client.multicall(calls)
        events: list[LogEvent] = []
        for item, first, count in spans:
            assert item.reader is not None
            try:
                pieces, again = item.reader.absorb(client, answers[first:first + count])
            except (LogGone, SupervisorFault) as exc:
                events += [LogEvent(LINE, state.host, item.name, line) for line in item.buffer.flush()]
                events.append(LogEvent(NOTE, state.host, item.name, f"{exc}; no longer followed"))
                item.reader = None
                continue
            more = more or again
            events += [LogEvent(kind, state.host, item.name, text) for kind, text in _absorb(item, pieces)]
        self._emit(events)
        return more

    def _poll_files(self, state: HostLogs) -> bool:
        """Every followed file of the host in one agent round trip, bounded by --timeout."""
        files = {i: p.reader.poll() for i, p in enumerate(state.logs) if isinstance(p.reader, FileReader)}
        if not files:
            return False
        if state.files is None:
            state.files = FileAccess(self.fleet.sessions[state.host])
        events: list[LogEvent] = []
        more = False
        for index, result in state.files.run(files).items():
            item = state.logs[index]
            if isinstance(result, FileProblem):
                events += [LogEvent(LINE, state.host, item.name, line) for line in item.buffer.flush()]
                events.append(LogEvent(NOTE, state.host, item.name,
                                       f"{problem_text(item, result)}; no longer followed"))
                item.reader = None
                continue
            pieces, again = result
            more = more or again
            events += [LogEvent(kind, state.host, item.name, text) for kind, text in _absorb(item, pieces)]
        self._emit(events)
        return more


# -- fg --------------------------------------------------------------------------------


class Attachment:
    """``herd fg``: one process on one host, its output shown, lines sent to its stdin.

    The caller's thread polls (it owns the host's connection): input lines
    queued with ``send()`` go out in the same multicall as the poll of the
    process's stdout and stderr logs and of its state.
    """

    def __init__(self, fleet: Fleet, host: str, process: str, *, interval: float = POLL_INTERVAL) -> None:
        self.session = fleet.sessions[host]
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
                reader = LogReader(LogRef(info.fullname, channel, logfile))
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
        while True:
            lines, eof = self._take_input(eof)
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
            if eof and quiet_polls >= 2:
                return LogEvent(EXIT, self.host, self.process, "input ended", "detached")
            self._wait_input()

    def _take_input(self, eof: bool) -> tuple[list[str], bool]:
        lines = []
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


class NotRunning(HerdError):
    """fg: the process is not RUNNING."""

    exit_code = EXIT_NOT_RUNNING


def select_one(fleet: Fleet, name: str) -> tuple[str, str]:
    """The one host and the one process ``fg`` attaches to, or a UsageError saying why not."""
    if len(fleet.hosts) != 1:
        listed = ", ".join(h.name for h in fleet.hosts[:5]) + (" ..." if len(fleet.hosts) > 5 else "")
        raise UsageError(f"fg attaches to one process on one host: select exactly one host with -H "
                         f"({len(fleet.hosts)} selected: {listed})")
    host = fleet.hosts[0].name
    chosen, _ = namespec.select([name], fleet.sessions[host].client().all_process_info())
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
