"""Reading the end of every selected log once: a fan-out like status.

Every host resolves the names (getAllProcessInfo + getAllConfigInfo, one
round trip) and reads the end of each log; files (``logs:``, ``--file``) are
read by the host's file agent in one more round trip.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from herd.errors import SupervisorFault, UsageError, LogGone
from herd.fleet import Fleet, HostAccess
from herd.inventory.logpaths import TemplateError
from herd.inventory.model import Host
from herd.operations.filelogs import FileAccess, FileProblem, FileReader, file_ref
from herd.operations.logs.model import LINE, NOTE, HostLogs, LogRequest, ProcessLog, TailReport
from herd.supervisor import names as namespec
from herd.supervisor.client import SupervisorClient
from herd.supervisor.logs import LogReader, LogRef, reader_for
from herd.supervisor.logtext import FILE, MAIN, STDERR, STDOUT, Note, Piece
from herd.supervisor.models import ProcessInfo


# -- which logs a host has --------------------------------------------------------------


def _config_key(item: dict[str, Any]) -> tuple[str, str]:
    return str(item.get("group", "")), str(item.get("name", ""))


def plan_host(client: SupervisorClient, request: LogRequest, host: Host | None = None) -> HostLogs:
    """The logs ``request`` names on this host, and the NAMEs it lacks (one round trip).

    ``host`` (the inventory's) gives the ``logs:`` templates and their
    ``{host}`` (the host's name: web01 for its supervisord web01/app); files
    named with ``--file`` and no NAME need no round trip at all.
    """
    host_name = host.host_name if host is not None else client.host
    if request.files and not request.names:
        plan = HostLogs(client.host)
        for template in request.files:
            plan.logs.append(_file_log(template, host_name, None))
        return plan
    if request.channel == MAIN:
        plan = HostLogs(client.host)
        plan.logs.append(ProcessLog(LogRef(None, MAIN), reader=reader_for(LogRef(None, MAIN))))
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
        own_file = request.files[0] if request.files else \
            (None if request.channel_given else log_template(templates, info))
        if own_file is not None:
            plan.logs.append(_file_log(own_file, host_name, info))
        elif request.channel == FILE:
            plan.logs.append(ProcessLog(LogRef(info.fullname, FILE), error=(
                f"no log file of its own: logs: in the inventory names none for {info.group} on this host")))
        else:
            config = configs.get((info.group, info.name), {})
            for channel in request.channels:
                if request.both and channel == STDERR and config.get("redirect_stderr"):
                    continue        # its stderr is in its stdout, read already
                plan.logs.append(_process_log(info, config, channel, log_template(templates, info),
                                              client.capabilities().version, tagged=request.both))
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
                 template: str | None = None, release: str = "", tagged: bool = False) -> ProcessLog:
    logfile = info.stdout_logfile if channel == STDOUT else info.stderr_logfile
    maxbytes = int(config.get(f"{channel}_logfile_maxbytes", 0) or 0)
    ref = LogRef(info.fullname, channel, logfile, maxbytes, tagged)
    if logfile:
        return ProcessLog(ref, reader=reader_for(ref))
    if channel == STDERR and config.get("redirect_stderr"):
        why = "stderr is redirected to stdout (redirect_stderr=true): tail stdout instead"
    elif channel == STDERR and "redirect_stderr" not in config:   # getAllConfigInfo before 4.0 does not say
        why = (f"stderr is not logged (stderr_logfile=NONE, or redirect_stderr=true: supervisord {release} "
               f"does not say which; it tells from 4.0.0): try herd tail {info.group} stdout")
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
    assert isinstance(item.reader, LogReader)
    if request.nbytes is not None:
        return item.reader.last_bytes(client, request.nbytes, final=final)
    return item.reader.last_lines(client, request.lines or 0, final=final)


def absorb(item: ProcessLog, pieces: Sequence[Piece]) -> list[tuple[str, str]]:
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


def read_host(access: HostAccess, request: LogRequest, *, final: bool) -> HostLogs:
    """Plan a host and read the end of each of its logs into ``lines``/``notes``.

    Files are read by an agent on the host's SSH connection (``access``).
    When every log of the host is a file, the RPC channel is closed after
    planning: a follow then holds one channel.
    """
    client = access.client()
    plan = plan_host(client, request, access.host)
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
        plan.files = FileAccess(access)
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
    for kind, text in absorb(item, pieces):
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
    def task(access: HostAccess) -> HostLogs:
        return read_host(access, request, final=final)

    # Without -f, a read-only command: its budget.  With -f, the first read may take a few round trips more.
    results = fleet.read(task) if final else fleet.run(task, deadline=3 * fleet.timeout + 5)
    hosts = [r.value if r.ok and r.value is not None else HostLogs(r.name, error=r.error) for r in results]
    check_names_exist(hosts, request)
    return TailReport(hosts, request)


