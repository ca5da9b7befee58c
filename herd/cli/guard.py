"""``herd guard``: watch the selected hosts until stopped; one message per incident to a webhook (docs/guard.md)."""

from __future__ import annotations

import datetime
import shlex
import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import click

from herd.cli.fleets import load_selected, open_fleet
from herd.cli.options import fleet_options
from herd.errors import EXIT_INTERRUPTED, InventoryError, UsageError
from herd.settings import FleetOptions

if TYPE_CHECKING:
    from herd.inventory.guard import EmailSettings, NotifySettings
    from herd.inventory.model import Inventory
    from herd.operations.guard.channels import Channel
    from herd.operations.guard.remedy import Outcome as RemedyOutcome, Remediator
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
It is never logged. Likewise a Slack URL ($HERD_GUARD_SLACK or
--slack-webhook-file) and the SMTP password ($HERD_SMTP_PASSWORD or
--smtp-password-file). The inventory's guard.notify adds its channels to
those given here (docs/guard.md, "Channels"). Open incidents are kept in the state directory
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
@click.option("--slack-webhook-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Send each message to the Slack-compatible incoming webhooks in FILE, one URL a line "
                   "(also $HERD_GUARD_SLACK).")
@click.option("--email-to", "email_to", multiple=True, metavar="ADDR",
              help="Email each message to ADDR (repeatable) through --smtp.")
@click.option("--email-from", metavar="ADDR", help="The sender's address (default herd-guard@THIS-HOST).")
@click.option("--smtp", metavar="HOST[:PORT]",
              help="The SMTP server for --email-to (port default 587; 465 with --smtp-tls ssl; 25 with none).")
@click.option("--smtp-tls", type=click.Choice(["starttls", "ssl", "none"]), default="starttls", show_default=True,
              help="STARTTLS before anything is said, TLS from the start, or none (no credentials then).")
@click.option("--smtp-user", metavar="USER",
              help="Log in as USER (over TLS only); the password from $HERD_SMTP_PASSWORD or --smtp-password-file.")
@click.option("--smtp-password-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Read the SMTP password from FILE's first line.")
@click.option("--notify-command", "notify_commands", multiple=True, metavar="'CMD ARGS'",
              help="Run CMD once per message (split like a shell does, but run without one), the message's JSON "
                   "on stdin; repeatable.")
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
          state_file: str | None, dry_run: bool, slack_webhook_file: str | None, email_to: tuple[str, ...],
          email_from: str | None, smtp: str | None, smtp_tls: str, smtp_user: str | None,
          smtp_password_file: str | None, notify_commands: tuple[str, ...]) -> int:
    """Watch the selected hosts (all when none is selected) until stopped; notify once per incident.

    One incident per rule and program across the hosts ("tornado FATAL on 3
    of 20 hosts"): one message when it opens, updates as it grows (rate-limited),
    one when every host has recovered.
    """
    from herd.operations.guard.channels import PrintChannel, WebhookChannel, check_webhook_url, redact
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
    others = _flag_channels(slack_webhook_file, email_to, email_from, smtp, smtp_tls, smtp_user,
                            smtp_password_file, notify_commands, read_secrets=not dry_run)
    nothing = UsageError("nothing to notify: give --webhook URL (or $HERD_GUARD_WEBHOOK, --webhook-file), "
                         "another channel, a guard.notify section, or --dry-run to print what would be sent")
    try:
        inventory, hosts = load_selected(fleet_opts, default_all=True)
    except InventoryError as exc:
        if not (urls or others or dry_run) and str(exc).startswith("no inventory found"):
            raise nothing from exc       # no inventory, so no guard.notify either: say what is missing first
        raise
    if inventory.guard is not None and not dry_run:      # a dry run sends nothing: no secret is read for it
        others += _inventory_channels(inventory.guard.notify)
    if not urls and not others and not dry_run:
        raise nothing
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
    channels: list[Channel] = [PrintChannel()] if dry_run else \
        [WebhookChannel(url) for url in urls] + [make() for make in others]
    remediator = _remediator(inventory, rules, saved, dry_run)
    watcher = Guard(names, rules, channels, book=book, state=saved, report=_say, remediator=remediator)
    _say(f"watching {len(hosts)} host(s) every {interval:g}s; "
         + ("dry run: messages printed, not sent" if dry_run else
            "sending to " + ", ".join([redact(u) for u in urls] + [c.name for c in channels[len(urls):]]))
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
                      cooldown=bounds.cooldown, dry_run=dry_run, cooldowns=saved.cooldowns, audit=_audited())


def _audited() -> Callable[["RemedyOutcome"], None]:
    """Each remediation restart's end, in the audit trail (herd/audit.py) as user and via ``guard``."""
    from herd.audit import AuditTrail, controller, default_audit_path

    trail = AuditTrail(default_audit_path())

    def record(outcome: "RemedyOutcome") -> None:
        result = "done" if outcome.kind == "restarted" else f"failed: {outcome.line}"
        trail.record("restart", {"names": [outcome.process], "rule": outcome.rule}, result, user="guard",
                     via="guard", client=controller(), hosts={outcome.host: [outcome.line]})
    return record


def _say(line: str) -> None:
    """One line on stdout, timestamped (a terminal has no journal to add the time)."""
    stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    click.echo(f"{stamp} herd guard: {line}")
    sys.stdout.flush()


def _read_urls(path: str, flag: str = "--webhook-file") -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag} {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from exc
    urls = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not urls:
        raise UsageError(f"{flag} {path}: no URL in it")
    return urls


# -- channels besides --webhook: each checked now (one-line errors, secrets read), started once guard runs --

MakeChannel = Callable[[], "Channel"]


def _flag_channels(slack_file: str | None, email_to: tuple[str, ...], email_from: str | None, smtp: str | None,
                   smtp_tls: str, smtp_user: str | None, password_file: str | None,
                   commands: tuple[str, ...], *, read_secrets: bool) -> list[MakeChannel]:
    """The channels of --slack-webhook-file/$HERD_GUARD_SLACK, --email-to/--smtp and --notify-command
    (checked; the SMTP password read only when ``read_secrets``: a dry run sends nothing)."""
    import os

    from herd import text
    from herd.inventory.guard import EmailSettings, SecretRef
    from herd.inventory.guardnotify import is_address

    made: list[MakeChannel] = []
    slack = os.environ.get("HERD_GUARD_SLACK", "").split() + (_read_urls(slack_file, "--slack-webhook-file")
                                                              if slack_file else [])
    made += [_slack(url, "--slack-webhook-file/$HERD_GUARD_SLACK") for url in slack]
    if email_to or smtp:
        if not (email_to and smtp):
            raise UsageError("--email-to and --smtp go together: the recipients and the server that takes the mail")
        for flag, address in [("--email-to", a) for a in email_to] + [("--email-from", email_from or "x@y")]:
            if not is_address(address):
                raise UsageError(f"{flag}: want an address such as oncall@example.com, got '{text.shorten(address)}'")
        host, port = _host_port(smtp, {"starttls": 587, "ssl": 465, "none": 25}[smtp_tls])
        password = None
        if smtp_user is not None:
            password = SecretRef(file=password_file, where="--smtp-password-file") if password_file else \
                SecretRef(env="HERD_SMTP_PASSWORD", where="--smtp-user")
        elif password_file:
            raise UsageError("--smtp-password-file without --smtp-user: give the user too")
        made.append(_email(EmailSettings(
            host=host, port=port, starttls=smtp_tls == "starttls", ssl=smtp_tls == "ssl",
            sender=email_from or f"herd-guard@{socket.gethostname()}", to=email_to, user=smtp_user,
            password=password, where="--smtp"), read_secrets))
    for line in commands:
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"--notify-command: cannot split it: {exc}") from exc
        made.append(_command(tuple(argv), "--notify-command", ()))
    return made


def _inventory_channels(notify: NotifySettings) -> list[MakeChannel]:
    """The channels of the inventory's guard.notify: secrets read now, each problem naming its FILE:LINE."""
    made: list[MakeChannel] = []
    made += [_webhook(ref.read(), ref.where) for ref in notify.webhooks]
    made += [_slack(ref.read(), ref.where) for ref in notify.slack]
    if notify.email is not None:
        made.append(_email(notify.email))
    secrets = tuple(ref.env for ref in (*notify.webhooks, *notify.slack,
                                        *([notify.email.password] if notify.email and notify.email.password else []))
                    if ref.env)
    made += [_command(argv, "guard.notify.command", secrets) for argv in notify.commands]
    return made


def _webhook(url: str, where: str) -> MakeChannel:
    from herd.operations.guard.channels import WebhookChannel, check_webhook_url

    why = check_webhook_url(url)
    if why is not None:
        raise UsageError(f"{where}: {why}")
    return lambda: WebhookChannel(url)


def _slack(url: str, where: str) -> MakeChannel:
    from herd.operations.guard.channels import check_webhook_url
    from herd.operations.guard.channels.slack import SlackChannel

    why = check_webhook_url(url)
    if why is not None:
        raise UsageError(f"{where}: {why.replace('webhook URL', 'Slack URL')}")
    return lambda: SlackChannel(url)


def _email(settings: EmailSettings, read_secret: bool = True) -> MakeChannel:
    from herd.operations.guard.channels.smtp import EmailChannel, check_email

    check_email(settings)
    if settings.password is not None and read_secret:
        settings.password.read()        # a variable unset or a file unreadable fails now, not at the first alert
    return lambda: EmailChannel(settings)


def _command(argv: tuple[str, ...], where: str, hide_env: tuple[str, ...]) -> MakeChannel:
    from herd import text
    from herd.operations.guard.channels.command import CommandChannel

    if not argv:
        raise UsageError(f"{where}: empty command")
    if shutil.which(argv[0]) is None:
        raise UsageError(f"{where}: {text.shorten(argv[0])}: no such program (or not executable)")
    return lambda: CommandChannel(argv, hide_env=hide_env)


def _host_port(value: str, default: int) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[V6]:PORT``."""
    from herd import text

    host, port = value, default
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), value)
    elif value.count(":") == 1:
        host, _, rest = value.partition(":")
        port = _port(rest, value)
    if not host or any(c.isspace() for c in host):
        raise UsageError(f"--smtp: want HOST or HOST:PORT, got '{text.shorten(value)}'")
    return host, port


def _port(digits: str, value: str) -> int:
    from herd import text

    if not digits.isdigit() or not 1 <= int(digits) <= 65535:
        raise UsageError(f"--smtp: the port must be a number from 1 to 65535, got '{text.shorten(value)}'")
    return int(digits)
