"""What the page can see and do, without HTTP: the dashboard's logic, testable in process.

Everything goes through herd's operations, so the page and the CLI cannot
disagree: ``run_control`` for start/stop/restart/signal/clear, the config
operations for update/reread (update's plan for its confirmation:
herd/web/updates.py), the rolling ``RollRunner`` (herd/web/rolls.py: the
CLI's options builder, same gate, same state file, ``interrupt()`` as
Ctrl-C), ``read_logs`` and the ``Follower`` for logs, ``evaluate`` for
health.  Results are given as the CLI prints them (``herd.render``),
without colour.

All reads and actions share one session source (herd/fleet/source.py: the
server's SessionPool, one SSH session per host for the whole process) and
one :class:`Poller`.  A log follow is the
exception: it gets a Fleet of its own (its own connection per host),
because stopping a Follower aborts its fleet's sessions, which must not be
the poller's.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Sequence

from herd import text as safe
from herd.errors import HerdError, UsageError
from herd.fleet import Fleet, SessionSource, in_parallel
from herd.inventory.model import Host, Inventory
from herd.operations.control import ACTIONS, ControlRequest, normalize_signal, run_control
from herd.operations.outcomes import ActionReport
from herd.operations.poller import FleetSnapshot, HostSnapshot, Poller
from herd.operations.status import HostStatus, StatusReport
from herd.render.actions import action_json, action_lines
from herd.render.status import status_json
from herd.web.errors import Refused
from herd.web.rolls import RollManager

if TYPE_CHECKING:
    from herd.operations.logs import Follower, LogRequest, TailReport

CONFIG_ACTIONS = ("update", "reread")
SUPERVISORD_ACTIONS = ("reload", "shutdown")
MAX_LOG_LINES = 2000
LOG_CHANNELS = ("", "stdout", "stderr", "file")


def host_json(snap: HostSnapshot, groups: Sequence[str] = (), resources: bool = False) -> dict[str, Any]:
    """One host as the page and the API see it: ``herd status -o json``'s host, plus when it was read;
    with ``resources`` (``herd web --resources``), ``herd status --resources -o json``'s."""
    status = HostStatus(snap.host, list(snap.processes), list(snap.missing),
                        HerdError(snap.error) if snap.error is not None else None)
    found = snap.host_resources() if resources else None
    measured = {snap.host: found} if found is not None else {} if resources else None
    data: dict[str, Any] = status_json(StatusReport([status], []), measured)["hosts"][0]
    data.update(polled=snap.polls > 0, polled_at=snap.polled_at, changed_at=snap.changed_at,
                supervisor_state=snap.supervisor_state, groups=list(groups))
    return data


def snapshot_json(snapshot: FleetSnapshot, groups_of: dict[str, list[str]], resources: bool = False,
                  only: Collection[str] | None = None) -> dict[str, Any]:
    """The table's JSON; ``only``: the hosts a user may see (herd/web/access.py), the summary theirs."""
    if only is not None:
        snapshot = dataclasses.replace(snapshot, hosts=tuple(h for h in snapshot.hosts if h.host in only))
    report = snapshot.status_report()
    summary = status_json(report)["summary"]
    return {"seq": snapshot.seq, "interval": snapshot.interval, "time": time.time(),
            "hosts": [host_json(h, groups_of.get(h.host, ()), resources) for h in snapshot.hosts],
            "summary": summary}


def log_item(kind: str, host: str, source: str, text: str) -> dict[str, str]:
    """One log line or note for the page and the API, escaped as ``herd tail`` prints it.

    Log text is the host's: control characters (ESC, CR...), bidi overrides
    and bytes that were not UTF-8 are shown as escapes (herd/text.py), so
    the JSON is always valid UTF-8 and the page shows what the terminal would;
    HTML is not a concern here (the page sets textContent only).
    """
    item = {"host": safe.field(host), "source": safe.field(source), "text": safe.line(text)}
    if kind:
        item["kind"] = kind
    return item


def report_result(report: ActionReport) -> dict[str, Any]:
    """An action's result: the CLI's lines, and its JSON."""
    return {"lines": action_lines(report, False), "report": action_json(report), "exit_code": report.exit_code}


def _merge(action: str, reports: Iterable[ActionReport], order: Sequence[str]) -> ActionReport:
    hosts = {h.host: h for r in reports for h in r.hosts}
    return ActionReport(action, [hosts[n] for n in order if n in hosts])


class Dashboard:
    """The inventory's selected hosts, their shared sessions and poller, and every action on them."""

    def __init__(self, inventory: Inventory, hosts: Sequence[Host], source: SessionSource, *,
                 interval: float, forks: int = 50,
                 follow_fleet: Callable[[Sequence[Host]], Fleet] | None = None, resources: bool = False) -> None:
        """``source`` lends the page's kept sessions (its owner closes them); ``follow_fleet`` makes the
        fleet of a log follow, on connections of its own (by default: the same source); ``resources``:
        the poller samples every process's resources each poll (``herd web --resources``)."""
        self.inventory = inventory
        self.hosts = list(hosts)
        self.source = source
        self.forks = forks
        self.fleet = Fleet(self.hosts, source, forks=forks)
        self.poller = Poller(self.fleet, interval, resources=resources)
        self.groups_of: dict[str, list[str]] = {h.name: [] for h in self.hosts}
        for group, members in inventory.groups.items():
            for member in members:
                if member in self.groups_of:
                    self.groups_of[member].append(group)
        self._follow_fleet = follow_fleet or (lambda chosen: Fleet(list(chosen), source, forks=forks))
        self.rolls = RollManager(self)

    # -- reading -------------------------------------------------------------------------

    def state(self, only: Collection[str] | None = None) -> dict[str, Any]:
        return snapshot_json(self.poller.snapshot(), self.groups_of, self.poller.resources, only)

    def host_state(self, snap: HostSnapshot) -> dict[str, Any]:
        return host_json(snap, self.groups_of.get(snap.host, ()), self.poller.resources)

    def groups(self) -> dict[str, list[str]]:
        chosen = {h.name for h in self.hosts}
        return {g: [m for m in members if m in chosen] for g, members in self.inventory.groups.items()
                if any(m in chosen for m in members)}

    def select(self, names: Iterable[str] | None) -> list[Host]:
        """Hosts by name, in inventory order; a name not served here is refused."""
        if names is None:
            return list(self.hosts)
        wanted = list(names)
        known = {h.name for h in self.hosts}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise Refused(f"not a host of this dashboard: {', '.join(map(str, unknown))}")
        return [h for h in self.hosts if h.name in wanted]

    def fleet_of(self, hosts: Sequence[Host]) -> Fleet:
        """A Fleet over some hosts, borrowing the shared sessions."""
        return Fleet(list(hosts), self.source, forks=self.forks)

    # -- process actions -----------------------------------------------------------------

    def control(self, action: str, targets: Sequence[dict[str, Any]], *, signal: str | None = None,
                wait_timeout: float = 60.0, confirm: bool = False) -> dict[str, Any]:
        """start/stop/restart/signal/clear ``targets`` ({host, name} pairs; name as supervisorctl takes it)."""
        if action not in ACTIONS:
            raise Refused(f"unknown action: {action} (one of {', '.join(ACTIONS)})")
        if not targets:
            raise Refused("no targets: choose processes first")
        names_by_host: dict[str, list[str]] = {}
        for target in targets:
            host, name = str(target.get("host", "")), str(target.get("name", "")).strip()
            if not name:
                raise Refused(f"{host}: a target needs a process name")
            names_by_host.setdefault(host, [])
            if name not in names_by_host[host]:
                names_by_host[host].append(name)
        hosts = self.select(names_by_host)
        sig = normalize_signal(signal or "") if action == "signal" else None
        question = _control_question(action, names_by_host)
        if question and not confirm:
            raise Refused(question, confirm=True)
        by_names: dict[tuple[str, ...], list[Host]] = {}
        for selected in hosts:
            by_names.setdefault(tuple(names_by_host[selected.name]), []).append(selected)
        reports: list[ActionReport] = []
        errors: list[str] = []

        def run(item: tuple[tuple[str, ...], list[Host]]) -> None:
            names, chosen = item
            try:
                reports.append(run_control(self.fleet_of(chosen), ControlRequest(
                    action, names, wait_timeout=wait_timeout, signal=sig)))
            except UsageError as exc:
                errors.append(str(exc))

        # one run per set of names, at once; each fans out over its hosts (a host's result, never a raise)
        in_parallel(list(by_names.items()), run, name=lambda item: "herd-web-control")
        self.poller.refresh([h.name for h in hosts])
        if errors and not reports:
            raise Refused("; ".join(errors))
        result = report_result(_merge(action, reports, [h.name for h in hosts]))
        result["errors"] = errors
        return result

    def config(self, action: str, hosts: Sequence[str] | None, *, confirm: bool = False,
               groups: Sequence[str] | None = None, plan: str | None = None) -> dict[str, Any]:
        """``update [GROUP...]`` (reread + apply) or ``reread`` on hosts.

        ``plan`` is the ``plan_id`` of the plan the user confirmed: update reads
        every host again and applies what it reads; when that is not the plan
        shown, the answer's ``notes`` say so.
        """
        from herd.operations import config
        from herd.web.updates import PLAN_CHANGED, plan_id

        if action not in CONFIG_ACTIONS:
            raise Refused(f"unknown action: {action} (one of {', '.join(CONFIG_ACTIONS)})")
        chosen = self.select(hosts)
        names = _group_names(groups)
        if action == "update" and not confirm:
            raise Refused(f"update on {_hosts_text([h.name for h in chosen])}: changed groups are restarted, "
                          "removed ones stopped. Go on? (POST /api/config/plan shows what would change)",
                          confirm=True)
        fleet = self.fleet_of(chosen)
        notes: list[str] = []
        if action == "reread":
            report = config.reread(fleet)
        else:
            read = config.plan_update(fleet, names)
            if plan is not None and plan_id(read) != plan:
                notes.append(PLAN_CHANGED)
            report = config.update(fleet, names, dry_run=False, wait_timeout=60.0, plan=read)
        self.poller.refresh([h.name for h in chosen])
        return {**report_result(report), "notes": notes}

    def update_plan(self, hosts: Sequence[str] | None, groups: Sequence[str] | None = None) -> dict[str, Any]:
        """What ``update [GROUP...]`` would do on each host (``herd update --dry-run``), for the confirmation."""
        from herd.operations import config
        from herd.web.updates import plan_json

        fleet = self.fleet_of(self.select(hosts))
        return plan_json(fleet, config.plan_update(fleet, _group_names(groups)))

    def supervisord(self, action: str, hosts: Sequence[str], *, confirm: bool = False,
                    wait_timeout: float = 60.0) -> dict[str, Any]:
        """``herd reload`` or ``herd shutdown`` on ``hosts``: always confirmed first (the question names
        the hosts); reload waits until supervisord answers again, shutdown until it is gone."""
        from herd.operations import config

        if action not in SUPERVISORD_ACTIONS:
            raise Refused(f"unknown action: {action} (one of {', '.join(SUPERVISORD_ACTIONS)})")
        if not hosts:
            raise Refused(f"{action}: name the hosts (hosts: [...])")
        chosen = self.select(hosts)
        where = ", ".join(h.name for h in chosen) if len(chosen) <= 3 else _hosts_text([h.name for h in chosen])
        if not confirm:
            question = (f"reload supervisord on {where}? It restarts every process it runs; herd waits until it "
                        "answers again." if action == "reload" else
                        f"shut down supervisord on {where}? Every process it runs stops, and nothing restarts "
                        "it but you.")
            raise Refused(question, confirm=True)
        operation = config.reload if action == "reload" else config.shutdown
        report = operation(self.fleet_of(chosen), dry_run=False, wait_timeout=wait_timeout)
        self.poller.refresh([h.name for h in chosen])
        return report_result(report)

    def avail(self, hosts: Sequence[str] | None) -> dict[str, Any]:
        """``herd avail`` on ``hosts``: its lines, and its JSON (``report``, as ``herd avail -o json``)."""
        from herd.operations import config

        return report_result(config.avail(self.fleet_of(self.select(hosts))))

    # -- health --------------------------------------------------------------------------

    def health(self, snapshot: FleetSnapshot | None = None, only: Collection[str] | None = None) -> dict[str, Any]:
        """The page's badge and Health view: ``herd check`` graded from ``snapshot`` (the one the table was
        drawn from, herd/web/health.py), for the hosts ``only`` (those a user may see).

        Without the hosts' processes, the time or the duration of ``check()``: two gradings of the same
        state are equal, so an unchanged health is not sent again.
        """
        from herd.operations.check import CheckReport, evaluate
        from herd.render.check import summary

        snapshot = snapshot or self.poller.snapshot()
        if only is not None:
            snapshot = dataclasses.replace(snapshot, hosts=tuple(h for h in snapshot.hosts if h.host in only))
        status = snapshot.status_report()
        report = CheckReport(status, evaluate(status, self.inventory))
        shown = {h.host for h in snapshot.hosts}
        return {"status": report.severity.name, "summary": summary(report),
                "problems": [p.as_dict() for p in report.ordered_problems()], "counts": report.counts(),
                "expect": [{"target": e.target, "hosts": [h for h in e.hosts if h in shown],
                            "running": list(e.running), "min_uptime": e.min_uptime}
                           for e in self.inventory.expect.values() if shown & set(e.hosts)]}

    def check(self, only: Collection[str] | None = None) -> dict[str, Any]:
        """What ``herd check`` would say, graded from the poller's last snapshot (no extra round trip);
        ``only``: the hosts a user may see (herd/web/access.py), graded alone."""
        from herd.operations.check import CheckReport, evaluate
        from herd.render.check import check_json

        snapshot = self.poller.snapshot()
        if only is not None:
            snapshot = dataclasses.replace(snapshot, hosts=tuple(h for h in snapshot.hosts if h.host in only))
        status = snapshot.status_report()
        data = check_json(CheckReport(status, evaluate(status, self.inventory)))
        served = {h.name for h in self.hosts if only is None or h.name in only}
        data["expect"] = [{"target": e.target, "hosts": [h for h in e.hosts if h in served],
                           "running": list(e.running), "min_uptime": e.min_uptime}
                          for e in self.inventory.expect.values() if served & set(e.hosts)]
        data["severity"] = dict(self.inventory.check.severity)
        return data

    # -- logs ----------------------------------------------------------------------------

    def tail(self, name: str, channel: str, hosts: Sequence[str] | None, lines: int) -> dict[str, Any]:
        """The end of NAME's log on each host: lines tagged with host and source."""
        from herd.operations.logs import read_logs

        report = read_logs(self.fleet_of(self.select(hosts)), _log_request(name, channel, lines))
        out, notes = [], []
        for host in report.hosts:
            if host.error is not None:
                notes.append(log_item("", host.host, "", f"unreachable: {host.error.reason}"))
                continue
            for item in host.logs:
                out += [log_item("", host.host, item.name, t) for t in item.lines[-MAX_LOG_LINES:]]
                notes += [log_item("", host.host, item.name, t) for t in item.notes]
                if item.error:
                    notes.append(log_item("", host.host, item.name, item.error))
        return {"lines": out[-MAX_LOG_LINES:], "notes": notes, "exit_code": report.exit_code}

    def log_files(self, name: str, hosts: Sequence[str] | None) -> dict[str, Any]:
        """The app's own log files (``logs:``) of each host: its templates, and the file of each process
        the poller last saw (NAME narrows them), filled as ``herd tail`` fills them; no round trip."""
        from herd.inventory.logpaths import TemplateError
        from herd.operations.filelogs import file_ref
        from herd.operations.logs.read import log_template
        from herd.supervisor import names as namespec

        snapshot = self.poller.snapshot()
        out = []
        for host in self.select(hosts):
            snap = snapshot.host(host.name)
            processes = namespec.select([name], snap.processes)[0] if name else list(snap.processes)
            files = []
            for info in processes:
                template = log_template(host.logs, info)
                if template is None:
                    continue
                entry: dict[str, Any] = {"process": info.fullname, "program": info.group, "path": None}
                try:
                    entry["path"] = file_ref(template, host.host_name, info).logfile
                except TemplateError as exc:
                    entry["error"] = str(exc)
                files.append(entry)
            out.append({"host": host.name, "templates": dict(host.logs), "files": files,
                        "polled": snap.polls > 0, "error": snap.error})
        return {"hosts": out}

    def follow(self, name: str, channel: str, hosts: Sequence[str] | None, lines: int) -> "LogFollow":
        """Start following NAME's log on the hosts (merged, in arrival order); stop() the result."""
        from herd.operations.logs import Follower, read_logs

        fleet = self._follow_fleet(self.select(hosts))
        try:
            report = read_logs(fleet, _log_request(name, channel, lines), final=False)
        except BaseException:
            fleet.close()
            raise
        follower = Follower(fleet, report)
        return LogFollow(fleet, follower, report)

    def close(self) -> None:
        self.rolls.shutdown()
        self.poller.stop()


def _log_request(name: str, channel: str, lines: int) -> LogRequest:
    """What to read: ``stdout``/``stderr`` are supervisord's captures (even where ``logs:`` names a
    file), ``file`` the app's own files only, ``""`` as ``herd tail NAME`` (the file where one is named)."""
    from herd.operations.logs import LogRequest

    if channel not in LOG_CHANNELS:
        raise Refused(f"channel must be stdout, stderr or file, not {channel}")
    if not name:
        raise Refused("which process? give a name")
    return LogRequest((name,), channel or "stdout", lines=max(0, min(int(lines), MAX_LOG_LINES)),
                      channel_given=channel in ("stdout", "stderr"))


def _group_names(groups: Any) -> list[str]:
    """The GROUP names of an update, as the page or a script sends them: a list of non-empty strings."""
    if not groups:
        return []
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, str) and g.strip() for g in groups):
        raise Refused("groups must be a list of group names")
    return list(dict.fromkeys(g.strip() for g in groups))


def _hosts_text(hosts: Sequence[str]) -> str:
    return hosts[0] if len(hosts) == 1 else f"{len(hosts)} hosts"


def _control_question(action: str, names_by_host: dict[str, list[str]]) -> str | None:
    """A confirmation question for dangerous requests: stop/restart on several hosts or of ``all``."""
    if action not in ("stop", "restart"):
        return None
    everything = any(n == "all" for names in names_by_host.values() for n in names)
    if len(names_by_host) < 2 and not everything:
        return None
    count = sum(len(v) for v in names_by_host.values())
    what = "every process" if everything else f"{count} target(s)"
    return f"{action} {what} on {_hosts_text(list(names_by_host))}? This is not a rolling restart."


class LogFollow:
    """One followed log stream: the Follower over a Fleet of its own."""

    def __init__(self, fleet: Fleet, follower: Follower, report: TailReport) -> None:
        self.fleet = fleet
        self.follower = follower
        self.report = report

    def first_lines(self) -> list[dict[str, str]]:
        out = []
        for host in self.report.hosts:
            if host.error is not None:
                out.append(log_item("down", host.host, "", f"unreachable ({host.error.reason}); retrying"))
                continue
            for item in host.logs:
                out += [log_item("line", host.host, item.name, t) for t in item.lines[-MAX_LOG_LINES:]]
                if item.error:
                    out.append(log_item("note", host.host, item.name, item.error))
        return out[-MAX_LOG_LINES:]

    def start(self) -> None:
        self.follower.start()

    def events(self, timeout: float) -> Iterable[dict[str, str]]:
        for event in self.follower.events(timeout):
            yield log_item(event.kind, event.host, event.source, event.text)

    def stop(self) -> None:
        self.follower.stop()
        self.fleet.close()
