"""``herd tail``, ``herd maintail``, ``herd fg``: logs across the fleet, in one stream."""

from __future__ import annotations

import json
import os
import select
import sys
import threading
from typing import TYPE_CHECKING, Iterable

import click

from herd.cli.completion import complete_processes, complete_tail_words
from herd.cli.fleets import open_fleet
from herd.cli.options import fleet_options
from herd.cli.output import use_color
from herd.errors import EXIT_INTERRUPTED, EXIT_NOT_RUNNING, EXIT_OK, UsageError
from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.fleet import Fleet
    from herd.operations.logs import LogEvent, LogRequest, TailReport


CHANNELS = ("stdout", "stderr")

TAIL_EXIT_CODES = """
\b
Exit codes: 0 every log read; 1 a selected process has no such log (logging
disabled or redirected) or it could not be read (a file missing, permission
denied); 4 a host unreachable (wins); 2 usage (a NAME on no selected host,
-n with -c, a bad --file template); 130 Ctrl-C (how -f ends).
"""

FG_EXIT_CODES = """
\b
Exit codes: 0 detached at the end of input (Ctrl-D); 130 detached with Ctrl-C;
3 the process is not running, or stopped while attached; 4 the host was lost;
2 usage (not exactly one host, a NAME matching no or several processes).
"""


def window_options(func):
    for option in reversed([
        click.option("-f", "--follow", is_flag=True,
                     help="Keep showing new lines from every host, merged, until Ctrl-C."),
        click.option("-n", "--lines", type=click.IntRange(min=0), metavar="LINES",
                     help="Show the last LINES lines of each log (default 20; 0 with -f: only new lines)."),
        click.option("-c", "--bytes", "nbytes", type=click.IntRange(min=0), metavar="BYTES",
                     help="Show the last BYTES bytes of each log instead (as supervisorctl tail -BYTES)."),
        click.option("--no-prefix", is_flag=True, help="Lines without the 'host process |' prefix."),
        click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
                     help="Text for people, JSON for scripts (not with -f)."),
        click.option("--interval", type=click.FloatRange(min=0.05), default=0.5, show_default=True,
                     metavar="SECONDS", help="With -f: how often each host is polled."),
    ]):
        func = option(func)
    return func


@click.command(epilog=TAIL_EXIT_CODES)
@click.argument("args", nargs=-1, metavar="[NAME]... [stdout] [stderr]", shell_complete=complete_tail_words)
@click.option("--file", "files", multiple=True, metavar="PATH",
              help="Read this file on each host instead: with NAMEs, the file of each process "
                   "({program} {process} {num} {host} filled in); without, PATH itself ({host}; may be repeated).")
@fleet_options
@window_options
def tail(args: tuple[str, ...], files: tuple[str, ...], fleet_opts: FleetOptions, follow: bool,
         lines: int | None, nbytes: int | None, no_prefix: bool, output: str, interval: float) -> int:
    """Show the end of a process's log from every selected host that has it (all hosts
    when none is selected), each line prefixed with host and process.

    NAME as supervisorctl takes it: name, group:name, group:*, all (several may be
    given); then the channel, stdout (default) or stderr, or both: stdout stderr
    (each line tagged with its channel).  A program the inventory's logs: names
    is read from its own log file unless a channel is given.  With -f, new lines
    from every host appear in one stream within a second; a host that drops is
    retried while the others go on.
    """
    names, channels = split_channels(args)
    given = bool(channels)
    _check_files(names, files, given)
    request = _request(names, channels[0] if channels else "stdout", lines, nbytes, follow, output, files=files,
                       channel_given=given, both=len(channels) == 2)
    return _run(request, fleet_opts, follow=follow, prefix=not no_prefix, output=output, interval=interval)


def split_channels(args: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``worker stdout stderr`` -> (("worker",), ("stdout", "stderr")): the NAMEs, then the channels at the end.

    ``herd tail worker stdout stderr`` follows both of worker's logs, each line
    tagged with its channel; one channel word is as supervisorctl takes it.
    """
    names = list(args)
    channels: list[str] = []
    while len(names) > 1 and names[-1] in CHANNELS:
        word = names.pop()
        if word in channels:
            raise UsageError(f"tail: {word} given twice")
        channels.insert(0, word)
    return tuple(names), tuple(channels)


def _check_files(names: tuple[str, ...], files: tuple[str, ...], channel_given: bool) -> None:
    """NAME or --file is needed; --file templates must be usable (checked before any host is reached)."""
    from herd.inventory import logpaths

    if not names and not files:
        raise UsageError("tail needs a NAME (process or group) or --file PATH")
    if files and channel_given:
        raise UsageError("--file reads the given file: stdout/stderr do not apply to it")
    if files and names and len(files) > 1:
        raise UsageError("with NAMEs, give one --file template (the file of each process)")
    for template in files:
        try:
            used = logpaths.parse(template)
        except logpaths.TemplateError as exc:
            raise UsageError(f"--file {template}: {exc}") from exc
        per_process = [p for p in used if p in logpaths.PROCESS_PLACEHOLDERS]
        if per_process and not names:
            raise UsageError(f"--file {template}: {{{per_process[0]}}} needs a NAME to fill it "
                             f"(herd tail NAME --file TEMPLATE)")


@click.command(epilog=TAIL_EXIT_CODES)
@fleet_options
@window_options
def maintail(fleet_opts: FleetOptions, follow: bool, lines: int | None, nbytes: int | None, no_prefix: bool,
             output: str, interval: float) -> int:
    """Show the end of supervisord's own log from every selected host (all when none is selected)."""
    request = _request((), "main", lines, nbytes, follow, output)
    return _run(request, fleet_opts, follow=follow, prefix=not no_prefix, output=output, interval=interval)


def _request(names: Iterable[str], channel: str, lines: int | None, nbytes: int | None, follow: bool,
             output: str, files: tuple[str, ...] = (), channel_given: bool = False,
             both: bool = False) -> "LogRequest":
    from herd.operations.logs import LogRequest

    if lines is not None and nbytes is not None:
        raise UsageError("-n LINES and -c BYTES exclude each other")
    if follow and output == "json":
        raise UsageError("-o json is for reading logs once: drop -f")
    return LogRequest(tuple(names), channel, lines=20 if lines is None and nbytes is None else lines,
                      nbytes=nbytes, files=files, channel_given=channel_given, both=both)


def _run(request: "LogRequest", opts: FleetOptions, *, follow: bool, prefix: bool, output: str,
         interval: float) -> int:
    from herd.operations.logs import read_logs
    from herd.render.logs import Prefixer, sources, tail_json, tail_text

    fleet = open_fleet(opts, default_all=True)
    aborted = False
    report = None
    try:
        report = read_logs(fleet, request, final=not follow)
        if output == "json":
            _write([json.dumps(tail_json(report), indent=2)])
            return report.exit_code
        prefixer = Prefixer([h.name for h in fleet.hosts], sources(report), color=use_color(), enabled=prefix)
        out, err = tail_text(report, prefixer, host_errors=not follow)
        _write(out)
        _write(err, sys.stderr)
        if not follow:
            return report.exit_code
        return _follow(fleet, report, prefixer, interval)
    except KeyboardInterrupt:
        aborted = _abort(fleet)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        aborted = _abort(fleet)
        _silence_stdout()
        return EXIT_OK
    finally:
        if not aborted:     # after an abort, threads may still hold sessions: leave them to exit
            if report is not None:
                report.close()
            fleet.close()


def _follow(fleet: "Fleet", report: "TailReport", prefixer, interval: float) -> int:
    from herd.operations.logs import Follower

    follower = Follower(fleet, report, interval=interval)
    follower.start()
    try:
        for event in follower.events():
            _show(event, prefixer)
    except KeyboardInterrupt:
        follower.stop()
        for event in follower.pending() + follower.partial_lines():
            _show(event, prefixer)
        return EXIT_INTERRUPTED
    return report.exit_code or 1    # every followed log went away


def _show(event: "LogEvent", prefixer) -> None:
    from herd.operations.logs import LINE
    from herd.render.logs import note_line

    if event.kind == LINE:
        _write([prefixer.line(event.host, event.source, event.text)])
    else:
        _write([note_line(event.host, event.source, event.text)], sys.stderr)


def _write(lines: list[str], stream=None) -> None:
    if not lines:
        return
    stream = stream or sys.stdout
    stream.write("\n".join(lines) + "\n")
    stream.flush()


def _abort(fleet: "Fleet") -> bool:
    """Drop every connection now (threads may still be using them); the command is leaving."""
    fleet.abort()
    return True


def _silence_stdout() -> None:
    """stdout's reader went away (``| head``): no error when Python flushes it at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# -- fg --------------------------------------------------------------------------------


@click.command(epilog=FG_EXIT_CODES)
@click.argument("name", shell_complete=complete_processes)
@fleet_options
def fg(name: str, fleet_opts: FleetOptions) -> int:
    """Attach to one process on one host (-H HOST): its stdout and stderr are shown as
    they come, each line you type is sent to its stdin.

    Ctrl-D (end of input) or Ctrl-C detaches; the process keeps running.  As with
    supervisorctl fg, the process must read its stdin and log its output.
    """
    from herd import text as safe
    from herd.operations.logs import Attachment, select_one

    fleet = open_fleet(fleet_opts, default_all=True)
    stop_input = threading.Event()
    try:
        host, process = select_one(fleet, name)
        attachment = Attachment(fleet, host, process)
        info = attachment.attach()
        click.echo(f"herd: attached to {host} {safe.field(info.fullname)} (pid {info.pid}): lines you type go to its "
                   f"stdin; Ctrl-D or Ctrl-C detaches (the process keeps running)", err=True)
        threading.Thread(target=_read_input, args=(attachment, stop_input), name="herd-fg-input",
                         daemon=True).start()
        try:
            end = attachment.run(_show_output)
        except KeyboardInterrupt:
            click.echo(f"herd: detached from {host} {safe.field(process)} (it keeps running)", err=True)
            return EXIT_INTERRUPTED
        if end.channel == "detached":
            click.echo(f"herd: detached from {host} {safe.field(process)} at the end of input (it keeps running)",
                       err=True)
            return EXIT_OK
        click.echo(f"herd: {host}: {safe.field(end.text)}; detached", err=True)
        return EXIT_NOT_RUNNING
    finally:
        stop_input.set()
        fleet.close()


def _read_input(attachment, stop: threading.Event) -> None:
    """Lines of stdin to the attachment (None at its end); stops reading when fg ends."""
    from herd.operations.logs import clean_input

    fd = sys.stdin.fileno()
    pending = b""
    while not stop.is_set():
        if not select.select([fd], [], [], 0.2)[0]:
            continue
        chunk = os.read(fd, 65536)
        pending += chunk
        *complete, pending = pending.split(b"\n")
        lines = [raw + b"\n" for raw in complete] + ([pending] if not chunk and pending else [])
        for raw in lines:
            line, changed = clean_input(raw.decode("utf-8", "replace"))
            if changed:
                click.echo("herd: control characters removed from the input (XML-RPC cannot carry them)",
                           err=True)
            attachment.send(line)
        if not chunk:
            attachment.send(None)
            return


def _show_output(event: "LogEvent") -> None:
    from herd import text

    stream = sys.stderr if event.channel == "stderr" else sys.stdout
    stream.write(text.block(event.text))
    stream.flush()
