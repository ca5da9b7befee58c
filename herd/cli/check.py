"""``herd check``: a Nagios/Icinga plugin, a cron job and a Prometheus textfile writer.

Exit codes are the plugin's (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), not
herd's usual ones: a command line or an inventory herd cannot use is UNKNOWN,
with a ``HERD UNKNOWN - ...`` first line, never click's exit 2.

Time: ``--timeout`` bounds the whole run, counted from the start of the
process (Nagios kills a plugin at about 10 s).  The hosts get what is left
after start-up and the ``/start`` ping, minus a reserve for the final ping
and for writing the result; each SSH connection and each call gets a little
less than the hosts' deadline, so a hung host is reported by the connection's
own timeout rather than abandoned.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import click

from herd.cli.fleets import command_start, load_selected, new_fleet
from herd.cli.options import fleet_options
from herd.files import write_atomically
from herd.operations.ping import Pinger
from herd.procstart import process_age
from herd.settings import FleetOptions

log = logging.getLogger("herd")

DEFAULT_TIMEOUT = 8.0       # seconds, the whole check: under Nagios's 10 s plugin timeout
FINISH_RESERVE = 0.5        # seconds at least, and a tenth of --timeout: rendering, --output, exit
PING_TIMEOUT_MAX = 2.0      # each ping gets at most this, and at most an eighth of --timeout
MIN_HOST_TIME = 0.5        # below this, herd itself is too slow: UNKNOWN rather than blaming the hosts
EXIT_UNKNOWN = 3
RESOURCE_SAMPLE = 0.5       # seconds: --resources' CPU pause (herd/operations/resources.py SAMPLE_SECONDS)


class NagiosCommand(click.Command):
    """A click command whose command-line errors are UNKNOWN (exit 3), as a plugin's must be."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            click.echo(f"HERD UNKNOWN - {_one_line(exc.format_message())}")
            raise click.exceptions.Exit(EXIT_UNKNOWN) from exc


def _check_ping_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    try:
        parts.port
    except ValueError as exc:
        raise click.BadParameter("the port must be a number between 1 and 65535") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise click.BadParameter("must be an http:// or https:// URL, e.g. https://hc-ping.com/<uuid>")
    return value.rstrip("/")


@click.command(cls=NagiosCommand, context_settings={"default_map": {"timeout": DEFAULT_TIMEOUT}})
@fleet_options
@click.option("--format", "fmt", type=click.Choice(["nagios", "json", "prometheus"]), default="nagios",
              show_default=True, help="Nagios/Icinga plugin text, JSON, or a Prometheus textfile.")
@click.option("--output", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the report to FILE atomically (temporary file, then rename); "
                   "stdout then gets the Nagios text.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing when everything is OK (for cron).")
@click.option("--ping", metavar="URL", callback=_check_ping_url,
              help="Dead man's switch: GET URL/start before, POST URL/<exit code> after "
                   "(healthchecks.io style); a failed ping never changes the result.")
@click.option("--resources", is_flag=True,
              help="Also read each process's RSS, CPU, open fds and threads from /proc on the host "
                   "(Linux; one more round trip per host, CPU over a pause of up to 0.5 s) and add "
                   "them to the Prometheus and JSON output.")
def check(fmt: str, output: str | None, quiet: bool, ping: str | None, resources: bool,
          fleet_opts: FleetOptions) -> int:
    """Check the selected hosts (all hosts when none is selected) and grade what is wrong.

    Every host reachable, every process RUNNING, and the inventory's `expect`
    entries (programs that must run, minimum uptime) met; the inventory's
    `check.severity` says which problems are WARNING and which CRITICAL.
    --timeout (default 8 s here) bounds the whole check.

    \b
    Exit codes (Nagios plugin): 0 OK; 1 WARNING; 2 CRITICAL;
    3 UNKNOWN: the check could not run (command line, inventory, herd itself).
    """
    try:
        return _check(fmt, output, quiet, ping, fleet_opts, resources)
    except Exception as exc:  # herd itself is broken: still a plugin answer, never a traceback
        log.debug("internal error", exc_info=True)
        click.echo(f"HERD UNKNOWN - internal error: {_one_line(repr(exc))}")
        return EXIT_UNKNOWN


def _check(fmt: str, output: str | None, quiet: bool, ping: str | None, fleet_opts: FleetOptions,
           resources: bool = False) -> int:
    clock = _Clock(fleet_opts.timeout, command_start())
    ping_timeout = min(PING_TIMEOUT_MAX, fleet_opts.timeout / 8)
    pinger = Pinger(ping, ping_timeout) if ping else None
    if pinger:
        _report_ping(pinger.send("start"))
    finish = max(FINISH_RESERVE, fleet_opts.timeout / 10)
    report = _run(fleet_opts, clock, reserve=finish + (ping_timeout if pinger else 0.0), resources=resources)
    report.duration = clock.elapsed()
    report.finished = time.time()

    from herd.render.check import nagios, render

    plugin_text = nagios(report, fleet_opts.timeout)
    code = report.exit_code
    if output:
        try:
            write_atomically(output, render(fmt, report, fleet_opts.timeout))
        except OSError as exc:
            code = EXIT_UNKNOWN
            plugin_text = f"HERD UNKNOWN - cannot write {output}: {exc.strerror or exc}\n" + plugin_text
        text = plugin_text
    else:
        text = render(fmt, report, fleet_opts.timeout)
    if not (quiet and code == 0):
        click.echo(text, nl=False)
    if pinger:
        sys.stdout.flush()
        _report_ping(pinger.send(str(code), body=plugin_text))
    return code


def _report_ping(failure: str | None) -> None:
    if failure:
        click.echo(f"herd: {failure}", err=True)


def _run(opts: FleetOptions, clock: "_Clock", reserve: float, resources: bool = False) -> Any:
    """The check's report; anything that stops it from running is an UNKNOWN report."""
    from herd.errors import HerdError
    from herd.operations.check import CheckReport

    try:
        return _check_fleet(opts, clock, reserve, resources)
    except HerdError as exc:
        return CheckReport.unknown(_one_line(str(exc)))
    except Exception as exc:  # herd itself is broken: still a plugin answer, not a traceback
        log.debug("internal error", exc_info=True)
        return CheckReport.unknown(_one_line(f"internal error: {exc!r}"))


def _check_fleet(opts: FleetOptions, clock: "_Clock", reserve: float, resources: bool = False) -> Any:
    from herd.errors import HerdError
    from herd.operations.check import run_check

    inventory, hosts = load_selected(opts, default_all=True)
    deadline = math.floor((clock.remaining() - reserve) * 10) / 10
    if deadline < MIN_HOST_TIME:
        raise HerdError(f"only {max(0.0, deadline):.1f} s of --timeout {opts.timeout:g} s left for the "
                        f"hosts after {clock.elapsed():.1f} s of start-up; raise --timeout")
    # a little under the deadline: the connection reports its own timeout, then the fan-out ends
    per_step = max(0.1, math.floor(deadline * 0.9 * 10) / 10)
    log.info("check: %.1f s for the hosts after %.1f s of start-up, %.1f s per connection or call",
             deadline, clock.elapsed(), per_step)
    # --resources: the CPU pause comes out of the hosts' time (at most a quarter of it)
    wait = min(RESOURCE_SAMPLE, deadline / 4) if resources else 0.0
    with new_fleet(opts, inventory.path, hosts, timeout=max(0.1, per_step - wait)) as fleet:
        return run_check(fleet, inventory, deadline=deadline, resources=resources, wait=wait)


def _one_line(text: str) -> str:
    from herd import text as safe

    return safe.field(" ".join(text.split()))


# --------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------

class _Clock:
    """--timeout counted from the start of the process, as the caller (Nagios, cron) sees it."""

    def __init__(self, timeout: float, start: float | None = None) -> None:
        """``start``: when the user's process started (a keeper runs the command for it); default: this one."""
        self.timeout = timeout
        self.start = time.monotonic() - process_age() if start is None else start

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.timeout - self.elapsed()
