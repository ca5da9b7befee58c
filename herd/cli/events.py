"""``herd events``: what changes on the fleet, one line per event, from the shared poller (as --watch and web).

Each host's poller thread hands every new snapshot (the poller replaces a
snapshot only on a change) to :class:`EventStream`, which turns it into
events (herd/operations/events.py) and prints them at once, as text or as
JSON lines, flushed.  Nothing is kept but each host's last snapshots, the
exit codes of its programs and its last pending config: a host that floods
changes costs output, not memory (a reader that stops reading holds the
poller threads at the write, so nothing queues up either).

``--pending-every S``: the main thread rereads every host's config every S
seconds (``reloadConfig``: it stages what it read, as ``herd reread``
does; hence off by default) and reports a pending change that appears or
clears.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, IO, Sequence

import click

from herd.cli.fleets import open_fleet
from herd.cli.options import fleet_options
from herd.settings import FleetOptions

if TYPE_CHECKING:  # the heavy modules load when the command runs
    from herd.fleet import Fleet
    from herd.operations.config import HostConfig
    from herd.operations.events import FleetEvent
    from herd.operations.poller import HostSnapshot
    from herd.operations.status import ExpectedExits

EXIT_CODES_FRESH = 60.0   # seconds a host's exitcodes are trusted (an update may change a program's)


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@fleet_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="One line per event for people, or one JSON object per line for scripts.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, metavar="SECONDS",
              help="Seconds between polls of a host.")
@click.option("--pending-every", type=click.FloatRange(min=1.0), default=None, metavar="SECONDS",
              help="Also reread each host's config every SECONDS and report pending changes as they appear "
                   "and clear. Off by default: a reread stages the config (as `herd reread`).")
def events(names: tuple[str, ...], output: str, interval: float, pending_every: float | None,
           fleet_opts: FleetOptions) -> int:
    """Stream what changes on the selected hosts (all when none is selected), one line per event, until Ctrl-C.

    Process state changes (from -> to, with the exit status and whether the
    program expects it), processes added or gone, hosts unreachable and back,
    and with --pending-every pending config. NAME narrows the processes as
    for `herd status`. What runs when it starts is not an event; a host
    unreachable at once is.

    \b
    Exit codes: 130 Ctrl-C/SIGTERM (the normal end); 0 the reader of its output
    went away (a closed pipe); 2 usage or inventory error.
    """
    with open_fleet(fleet_opts, default_all=True) as fleet:
        return run_events(fleet, names, interval, output, pending_every)


def run_events(fleet: Fleet, names: tuple[str, ...], interval: float, output: str,
               pending_every: float | None) -> int:
    """Poll until Ctrl-C (130) or until stdout is closed (0), printing each event as it is seen."""
    import os
    import sys
    import time

    from herd.errors import EXIT_INTERRUPTED, EXIT_OK
    from herd.operations.poller import Poller

    poller = Poller(fleet, interval, names)
    stream = EventStream(fleet, sys.stdout, output)
    poller.listen(stream.on_snapshot)
    try:
        with poller:
            poller.wait_first(fleet.timeout + 1)     # the starting point: what runs now is no event
            click.echo(f"herd events: watching {len(fleet.hosts)} host(s), polled every {interval:g} s"
                       + (f", config reread every {pending_every:g} s" if pending_every else "")
                       + "; Ctrl-C stops", err=True)
            due = time.monotonic()
            while not stream.closed.is_set():
                if pending_every is not None and time.monotonic() >= due:
                    stream.check_pending()
                    due = time.monotonic() + pending_every
                wait = 1.0 if pending_every is None else max(0.0, min(1.0, due - time.monotonic()))
                stream.closed.wait(wait)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    devnull = os.open(os.devnull, os.O_WRONLY)   # the reader is gone: nothing more to say, no error at exit
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


class EventStream:
    """Snapshots in, printed events out; called from every host's poller thread (and the main thread)."""

    def __init__(self, fleet: Fleet, out: IO[str], output: str) -> None:
        import threading

        from herd.operations.events import EventTracker

        self.fleet = fleet
        self.out = out
        self.output = output
        self.closed = threading.Event()          # stdout went away
        self._tracker = EventTracker()
        self._lock = threading.Lock()            # the tracker and the caches
        self._write = threading.Lock()           # one line at a time, whole
        self._exits: dict[str, tuple[float, dict[str, ExpectedExits]]] = {}
        self._pending: dict[str, HostConfig] = {}

    def on_snapshot(self, snapshot: HostSnapshot) -> None:
        """The poller's listener: this host's events since its last snapshot, printed."""
        import time

        with self._lock:
            exited = self._tracker.exited(snapshot)
        exits = self._exit_codes(snapshot) if exited else None
        with self._lock:
            events = self._tracker.feed(snapshot, snapshot.polled_at or time.time(), exits=exits)
            if any(e.kind in ("added", "gone", "host-up") for e in events):
                self._exits.pop(snapshot.host, None)     # the config may have changed with them
        self.emit(events)

    def _exit_codes(self, snapshot: HostSnapshot) -> dict[str, ExpectedExits]:
        """The host's programs' exitcodes (one getAllConfigInfo, kept a minute); {} when it cannot tell."""
        import time

        from herd.operations.status import expected_exits

        with self._lock:
            cached = self._exits.get(snapshot.host)
        if cached is not None and time.monotonic() - cached[0] < EXIT_CODES_FRESH \
                and all(p.fullname in cached[1] for p in snapshot.processes):
            return cached[1]
        result = self.fleet.attempt(self.fleet.host(snapshot.host),
                                    lambda access: expected_exits(access.client(), snapshot.processes))
        if result.error is not None or result.value is None:
            return cached[1] if cached is not None else {}
        with self._lock:
            self._exits[snapshot.host] = (time.monotonic(), result.value)
        return result.value

    def check_pending(self) -> None:
        """Reread every host's config; a pending change new or cleared since the last reread is an event.

        A host that does not answer says nothing here (the poller reports it
        unreachable) and keeps its last reread.
        """
        import time

        from herd.operations.config import read_host_config
        from herd.operations.events import pending_event

        results = self.fleet.read(lambda access: read_host_config(access.client(), sizes=False, tolerant=True))
        now = time.time()
        for result in results:
            if result.error is not None or result.value is None:
                continue
            event = pending_event(result.name, self._pending.get(result.name), result.value, now)
            self._pending[result.name] = result.value
            if event is not None:
                self.emit([event])

    def emit(self, events: Sequence[FleetEvent]) -> None:
        """Print each event as one line, flushed; a closed stdout ends the stream (``closed``)."""
        if not events or self.closed.is_set():
            return
        render = event_json_line if self.output == "json" else event_text
        lines = "".join(render(e) + "\n" for e in events)
        with self._write:
            try:
                self.out.write(lines)
                self.out.flush()
            except (BrokenPipeError, ValueError):   # ValueError: stdout closed under us
                self.closed.set()


def event_json(event: FleetEvent) -> dict[str, object]:
    """An event for scripts: the FleetEvent's fields as they are (exact strings), plus ``at`` (ISO 8601)."""
    import dataclasses
    import datetime

    data: dict[str, object] = {"at": datetime.datetime.fromtimestamp(event.time).astimezone()
                               .isoformat(timespec="milliseconds")}
    data.update(dataclasses.asdict(event))
    data["groups"] = list(event.groups)
    return data


def event_json_line(event: FleetEvent) -> str:
    import json

    return json.dumps(event_json(event))


def event_text(event: FleetEvent) -> str:
    """``TIME  HOST  PROCESS  FROM -> TO  DETAIL`` on one line, everything a host sent escaped."""
    import datetime

    from herd import text

    stamp = datetime.datetime.fromtimestamp(event.time).astimezone().isoformat(timespec="seconds")
    host = text.field(event.host)
    detail = text.field(event.detail)
    if event.kind == "host-down":
        return f"{stamp}  {host}  -  unreachable: {detail}"
    if event.kind == "host-up":
        return f"{stamp}  {host}  -  answers again"
    if event.kind == "pending":
        return f"{stamp}  {host}  -  config pending: {detail}"
    process = text.field(event.process or "-")
    if event.kind == "added":
        change = f"added ({event.to_state})"
    elif event.kind == "gone":
        change = f"gone (was {event.from_state})"
    else:
        change = f"{event.from_state} -> {event.to_state}"
    facts = []
    if event.exitstatus is not None:
        word = {True: ", expected", False: ", unexpected", None: ""}[event.expected]
        facts.append(f"exit status {event.exitstatus}{word}")
    if event.pid:
        facts.append(f"pid {event.pid}")
    if detail:
        facts.append(detail)
    return f"{stamp}  {host}  {process}  {change}" + (f"  {'; '.join(facts)}" if facts else "")

