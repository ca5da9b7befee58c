"""``herd guard``: watch the selected hosts until stopped; one message per incident to a webhook (docs/guard.md)."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import click

from herd.cli.fleets import load_selected, open_fleet
from herd.cli.options import fleet_options
from herd.errors import EXIT_INTERRUPTED, UsageError
from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.inventory.model import Inventory
    from herd.operations.guard.remedy import Remediator
    from herd.operations.guard.rules import Rule
    from herd.operations.guard.state import GuardStateFile

EPILOG = """
\b
Rules (the quick start, no inventory section needed): a process that goes
FATAL, a process that EXITED with a status not in its exitcodes, a host
unreachable for --unreachable-for seconds; each recovers when the process is
RUNNING again (or stopped, or removed) and when the host answers again.
With rules in the inventory's guard: section (docs/inventory.md), those
instead, per program: fatal, exited, flapping, rss, probe, pending, and
unreachable for the hosts (--unreachable-for is then not used).
\b
The webhook URL may hold a secret: rather than on the command line (where
ps shows it), give it in $HERD_GUARD_WEBHOOK or a file (--webhook-file).
It is never logged. Open incidents are kept in the state directory
($XDG_STATE_HOME/herd/guard/), so a restarted guard sends no duplicate.
\b
Exit codes: 130 stopped with Ctrl-C/SIGTERM (the normal end: a systemd unit
sets SuccessExitStatus=130); 2 usage or inventory error, or a state file
herd did not write.
"""


@click.command(epilog=EPILOG)
@fleet_options
@click.option("--webhook", "webhooks", multiple=True, metavar="URL", envvar="HERD_GUARD_WEBHOOK",
              help="POST each message as JSON to URL (repeatable; default $HERD_GUARD_WEBHOOK).")
@click.option("--webhook-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Read webhook URLs from FILE, one a line (keeps a secret URL out of ps and shell history).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True, metavar="SECONDS",
              help="Seconds between polls of a host.")
@click.option("--unreachable-for", type=click.FloatRange(min=0), default=30.0, show_default=True,
              metavar="SECONDS", help="A host is an incident once it cannot be read for this long (0: at once).")
@click.option("--update-every", type=click.FloatRange(min=0), default=60.0, show_default=True, metavar="SECONDS",
              help="At most one update per incident in this time, as it grows or shrinks.")
@click.option("--group-wait", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Wait this long after an incident's first host before sending its opening, so that hosts "
                   "failing together are named together (default: one --interval).")
@click.option("--max-per-minute", type=click.IntRange(min=1), default=30, show_default=True, metavar="N",
              help="Messages sent in a minute, over all incidents (more wait their turn).")
@click.option("--state-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Where open incidents are kept (default $XDG_STATE_HOME/herd/guard/guard-<hash>.json).")
@click.option("--dry-run", is_flag=True, help="Print each message (JSON, one a line) instead of sending it; "
              "remediation says what it would restart and restarts nothing.")
def guard(fleet_opts: FleetOptions, webhooks: tuple[str, ...], webhook_file: str | None, interval: float,
          unreachable_for: float, update_every: float, group_wait: float | None, max_per_minute: int,
          state_file: str | None, dry_run: bool) -> int:
    """Watch the selected hosts (all when none is selected) until stopped; notify once per incident.

    One incident per rule and program across the hosts ("tornado FATAL on 3
    of 20 hosts"): one message when it opens, updates as it grows (rate-limited),
    one when every host has recovered.
    """
    from herd.operations.guard.channels import Channel, PrintChannel, WebhookChannel, check_webhook_url, redact
    from herd.operations.guard.engine import Guard
    from herd.operations.guard.incidents import IncidentBook
    from herd.operations.guard.rules import describe_rules, quick_start_rules
    from herd.operations.guard.state import GuardStateFile, default_state_path
    from herd.operations.poller import Poller

    urls = list(webhooks) + (_read_urls(webhook_file) if webhook_file else [])
    for url in urls:
        why = check_webhook_url(url)
        if why is not None:
            raise UsageError(f"--webhook: {why}")
    if not urls and not dry_run:
        raise UsageError("nothing to notify: give --webhook URL (or $HERD_GUARD_WEBHOOK, --webhook-file), "
                         "or --dry-run to print what would be sent")
    inventory, hosts = load_selected(fleet_opts, default_all=True)
    names = [h.name for h in hosts]
    saved = GuardStateFile(Path(state_file) if state_file else default_state_path(inventory.path, names))
    try:
        incidents = saved.load()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    rules = _inventory_rules(inventory) or quick_start_rules(unreachable_for)
    book = IncidentBook({r.name: r.title for r in rules}, len(hosts), update_every=update_every,
                        max_per_minute=max_per_minute,
                        group_wait=interval if group_wait is None else group_wait, incidents=incidents)
    channels: list[Channel] = [PrintChannel()] if dry_run else [WebhookChannel(url) for url in urls]
    remediator = _remediator(inventory, rules, saved, dry_run)
    watcher = Guard(names, rules, channels, book=book, state=saved, report=_say, remediator=remediator)
    _say(f"watching {len(hosts)} host(s) every {interval:g}s; "
         + ("dry run: messages printed, not sent" if dry_run else
            "sending to " + ", ".join(redact(u) for u in urls))
         + f"; {len(incidents)} open incident(s) from {saved.path}; "
         + ("rules (inventory): " if inventory.guard is not None and inventory.guard.rules
            else "rules (quick start): ") + describe_rules(rules)
         + (f"; {remediator.describe()}" if remediator is not None else ""))
    with open_fleet(fleet_opts, default_all=True, selected=(inventory, hosts)) as fleet:
        poller = Poller(fleet, interval, resources="resources" in watcher.needs)
        watcher.attach(poller)
        try:
            with poller:
                while True:
                    watcher.step(1.0)
        except KeyboardInterrupt:
            _say("stopping (Ctrl-C/SIGTERM): open incidents saved")
        finally:
            watcher.close()
    return EXIT_INTERRUPTED


def _inventory_rules(inventory: Inventory) -> list[Rule]:
    """The rules of the inventory's ``guard.rules`` (none: the quick start's), each probe rule with the
    probes of the programs' ``rolling:`` entries (checked as rolling-restart checks them)."""
    from herd.inventory.rolling import settings_for
    from herd.operations.guard.rules import inventory_rules
    from herd.operations.rolling.options import inventory_layer
    from herd.operations.rolling.probes import Probe, probe_from

    settings = inventory.guard
    if settings is None or not settings.rules:
        return []
    probes: dict[str, Probe] = {}
    if any(rule.kind == "probe" for rule in settings.rules):
        for program in inventory.rolling:
            values = inventory_layer(inventory.path, settings_for(inventory.rolling, program))
            probe = probe_from(*(None if values.get(k) is None else str(values[k]) for k in ("http", "tcp", "cmd")))
            if probe is not None:
                probes[program] = probe
    return inventory_rules(settings.rules, probes, settings.off)


def _remediator(inventory: Inventory, rules: Sequence[Rule], saved: GuardStateFile, dry_run: bool
                ) -> Remediator | None:
    """Remediation, when a rule says ``remediate: restart``: the bounds of the inventory's
    ``guard.remediation``, each program's gate from its ``rolling:`` entry (checked now: a bad one is
    exit 2 before anything is watched), and the cooldowns the state file kept."""
    if not any(rule.remediate for rule in rules):
        return None
    from herd.inventory.guard import RemediationSettings
    from herd.operations.guard.remedy import Remediator, gates_from

    bounds = inventory.guard.remediation if inventory.guard is not None else RemediationSettings()
    return Remediator(gates_from(inventory), max_processes=bounds.max_processes, max_percent=bounds.max_percent,
                      cooldown=bounds.cooldown, dry_run=dry_run, cooldowns=saved.cooldowns)


def _say(line: str) -> None:
    """One line on stdout, timestamped (a terminal has no journal to add the time)."""
    stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    click.echo(f"{stamp} herd guard: {line}")
    sys.stdout.flush()


def _read_urls(path: str) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--webhook-file {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from exc
    urls = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not urls:
        raise UsageError(f"--webhook-file {path}: no URL in it")
    return urls
