"""The rolling restart: pre-flight, batches of hosts, one process at a time, health gates.

Guarantees, in the order an operator cares about them:

* capacity: at most ``per_host`` processes of a host are down at once, and
  only the hosts of one batch are touched at once;
* a bad build stops the roll: after the first failed host (or more than
  ``max_fail`` over the whole run) no new process or host is started; hosts
  in flight finish the process they are on; the failed process is left as
  supervisord has it;
* nothing herd stopped is left stopped, even on Ctrl-C / SIGTERM: the
  process in flight is started again before herd stops;
* post-hooks (load-balancer undrain) of hosts in flight still run on abort;
  a host whose post-hook never ran is re-done by ``--resume``.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from functools import partial
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from herd.errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NOT_RUNNING, EXIT_OK, EXIT_UNREACHABLE, EXIT_UNSUPPORTED,
                         EXIT_USAGE, HostError, RollRefused, UnexpectedError, Unsupported, UsageError)
from herd.fleet import Fleet, HostAccess, in_parallel
from herd.operations.config import HostConfig, cant_reread, read_host_config
from herd.operations.rolling.apply import apply_change, recover
from herd.operations.rolling.gate import ProcessResult, recover_lost, restart_process, signal_process
from herd.operations.rolling.options import RollOptions as RollOptions  # built by options.roll_options
from herd.operations.rolling.options import recorded
from herd.operations.rolling.plan import GroupChange, HostTarget, RollPlan, chunks, expand, split_batches
from herd.operations.rolling.state import RollState, StateFile
from herd.supervisor import names as namespec
from herd.supervisor.capabilities import SIGNAL
from herd.supervisor.models import ProcessInfo, ProcessState

HOOK_TIMEOUT = 300.0

log = logging.getLogger("herd.rolling")

Events = Callable[[str, dict[str, Any]], None]

# A host at the end of a roll: done; failed; stopped (halted or interrupted before its end);
# untouched (never reached); skipped (has no NAME, or held back by --per-host).
HostStatus = Literal["done", "failed", "stopped", "untouched", "skipped"]
RollOutcome = Literal["done", "halted", "interrupted"]


@dataclass
class HostReport:
    host: str
    status: HostStatus = "untouched"
    processes: list[ProcessResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class RollReport:
    name: str
    outcome: RollOutcome
    plan: RollPlan
    hosts: list[HostReport]
    seconds: float = 0.0

    @property
    def failed_hosts(self) -> list[HostReport]:
        return [h for h in self.hosts if h.status == "failed"]

    @property
    def skipped_hosts(self) -> list[str]:
        """Hosts with targets left alone (--skip-unhealthy): held back whole, or some of their processes."""
        return [t.host for t in [*self.plan.targets, *self.plan.held_back] if t.skipped]

    @property
    def exit_code(self) -> int:
        """130 interrupted; 1 a host failed or the roll halted; 3 targets left alone; 0 all done."""
        if self.outcome == "interrupted":
            return EXIT_INTERRUPTED
        if self.failed_hosts or self.outcome == "halted":
            return EXIT_FAILED
        return EXIT_NOT_RUNNING if self.skipped_hosts else EXIT_OK


# -- pre-flight ---------------------------------------------------------------------------


def preflight(fleet: Fleet, options: RollOptions, state: RollState | None) -> RollPlan:
    """Read every host; refuse on unreachable hosts, a --signal roll on a supervisord that cannot
    signal (exit 5), or unhealthy targets; cut the batches.

    A restart roll reads each host's pending config too (one reloadConfig,
    which stages what it read: docs/commands.md): restarting a program whose
    config changed would run the old config, so that is refused unless
    ``ignore_pending``, and points at the rolling update.
    """
    if options.update:
        from herd.operations.rolling.changes import preflight_update

        return preflight_update(fleet, options, state)
    results = fleet.run(lambda access: _read_host(access, options), deadline=2 * fleet.timeout + 1)
    lacking = [f"{r.name}: {r.error.reason}" for r in results if isinstance(r.error, Unsupported)]
    unreachable = [f"{r.name}: {r.error.reason}" for r in results
                   if r.error is not None and not isinstance(r.error, Unsupported)]
    if unreachable:
        raise RollRefused(EXIT_UNREACHABLE, unreachable)
    if lacking:    # --signal on a supervisord before 3.2.0: nothing touched, exit 5
        raise RollRefused(EXIT_UNSUPPORTED, lacking, "roll those hosts without --signal, or select the others")
    targets, without, unhealthy, pending, warnings = [], [], [], [], []
    changed_groups: set[str] = set()
    for result in results:
        config = result.value
        assert config is not None
        chosen, _ = namespec.select([options.name], config.processes)
        if not chosen:
            without.append(result.name)
            continue
        changed = sorted({p.group for p in chosen} & set(config.diff.changed if config.diff else ()))
        changed_groups.update(changed)
        pending += [f"{result.name}: {group}'s config changed (a restart would run the old one)" for group in changed]
        if config.diff is None:
            warnings.append(f"{result.name}: " + (f"the config could not be reread ({config.refused}): a changed "
                                                  f"config would go unnoticed" if config.refused else
                                                  cant_reread(config.broken)))
        target = _target(result.host.address or result.name, result.name, chosen, options, state)
        if target is None:
            continue
        unhealthy += [f"{result.name} {p.fullname} is {p.statename}" for p in chosen if p.fullname in target.down]
        targets.append(target)
    if not targets and not without:
        raise UsageError("no hosts selected")
    if not any(t.processes or t.skipped for t in targets) and state is None:
        raise UsageError(f"no such process or group on any selected host: {options.name}")
    if pending and not options.ignore_pending:
        raise RollRefused(EXIT_USAGE, pending, f"roll the new config with herd rolling-update "
                                               f"{' '.join(sorted(changed_groups))} "
                                               f"(same options and gate), or pass --ignore-pending to restart the "
                                               f"old one")
    if unhealthy and not options.skip_unhealthy:
        raise RollRefused(EXIT_NOT_RUNNING, unhealthy,
                          "pass --skip-unhealthy to roll the other processes and leave these alone")
    todo = [t for t in targets if t.processes or t.post_hook_pending]
    held = [t for t in targets if not (t.processes or t.post_hook_pending)]
    batches = split_batches([t.host for t in todo], options.batch)
    by_name = {t.host: t for t in todo}
    return RollPlan(options.name, [[by_name[h] for h in batch] for batch in batches], without, options.per_host,
                    held, [r.name for r in results], warnings=warnings + (pending if options.ignore_pending else []))


def _read_host(access: HostAccess, options: RollOptions) -> HostConfig:
    """A host at pre-flight: its processes and pending config; for a reload roll of a host that has NAME,
    Unsupported when its supervisord cannot signal (before 3.2.0): refused before anything is touched."""
    client = access.client()
    config = read_host_config(client, sizes=True, tolerant=True)
    if options.signal and namespec.select([options.name], config.processes)[0]:
        client.require(SIGNAL)
    return config


def _target(address: str, host: str, chosen: list[ProcessInfo], options: RollOptions,
            state: RollState | None) -> HostTarget | None:
    """A host's processes to restart (minus those a resumed roll already did).

    A process that failed the gate in the roll being resumed is retried
    first, down as it is (FATAL after a bad build): its host is healthy
    when nothing else of NAME is down, and restarting it takes no capacity
    that is not already gone.
    """
    progress = state.hosts.get(host) if state else None
    if progress is not None and progress.status == "done" and (progress.post_hook or not options.post_hook):
        return None
    done = set(progress.done) if progress else set()
    failed = set(progress.failed) if progress else set()
    not_running = [p.fullname for p in chosen if p.state is not ProcessState.RUNNING]
    retry = [name for name in not_running if name in failed]
    down = [name for name in not_running if name not in failed]
    todo = retry + [p.fullname for p in chosen if p.fullname not in done and p.fullname not in not_running]
    drained = bool(progress and progress.pre_hook and not progress.post_hook and options.post_hook)
    if down and options.skip_unhealthy and len(down) >= options.per_host:
        # already-down capacity counts against the host's allowance: restarting more would exceed it
        return HostTarget(host, address, [], skipped=down + todo, post_hook_pending=drained, down=down)
    return HostTarget(host, address, todo, skipped=down, post_hook_pending=drained, down=down)


# -- the roll -----------------------------------------------------------------------------


class RollRunner:
    """Executes a RollPlan; ``interrupt()`` may be called from a signal handler."""

    def __init__(self, fleet: Fleet, plan: RollPlan, options: RollOptions, state: RollState,
                 state_file: StateFile | None, on_event: Events, ask: Callable[[str], bool] | None = None) -> None:
        self.fleet = fleet
        self.plan = plan
        self.options = options
        self.state = state
        self.state_file = state_file
        self.emit = on_event
        self.ask = ask
        self.interrupted = threading.Event()
        self.halted = threading.Event()
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._failed = 0
        self.reports = {t.host: HostReport(t.host, skipped=list(t.skipped)) for t in plan.targets}

    def interrupt(self) -> None:
        self.interrupted.set()

    def run(self) -> RollReport:
        started = time.monotonic()
        self.state.options = recorded(self.options)
        self._save()
        total = len(self.plan.batches)
        for index, batch in enumerate(self.plan.batches, 1):
            if self.halted.is_set() or self.interrupted.is_set():
                break
            if index > 1 and not self._pause(index, total):
                break
            self.emit("batch", {"index": index, "total": total, "hosts": [t.host for t in batch]})
            self._roll_batch(batch)
        outcome: RollOutcome = ("interrupted" if self.interrupted.is_set() else
                                "halted" if self.halted.is_set() else "done")
        # a roll that left hosts alone is not finished: --resume rolls them once they are healthy
        held = [t.host for t in self.plan.held_back]
        self.state.finished = outcome == "done" and not held
        self.state.outcome = f"done, skipped {', '.join(held)}" if outcome == "done" and held else outcome
        self._save()
        return RollReport(self.options.name, outcome, self.plan, self._host_reports(), time.monotonic() - started)

    def _host_reports(self) -> list[HostReport]:
        reports = [self.reports[t.host] for t in self.plan.targets]
        for target in self.plan.held_back:
            why = ("its group is re-added as a whole" if self.plan.update else
                   f"restarting another would exceed --per-host {self.options.per_host}")
            reports.append(HostReport(target.host, "skipped", skipped=list(target.skipped), notes=[
                f"skipped: {', '.join(target.down)} not RUNNING at pre-flight; {why}"]))
        for report in reports:
            if report.skipped and report.status != "skipped":
                report.notes.append(f"left alone (not RUNNING at pre-flight): {', '.join(report.skipped)}")
        absent = "no pending config change" if self.plan.update else f"has no {self.options.name}"
        reports += [HostReport(h, "skipped", notes=[absent]) for h in self.plan.without_name]
        order = {name: i for i, name in enumerate(self.plan.order)}
        return sorted(reports, key=lambda r: order.get(r.host, len(order)))

    def _pause(self, index: int, total: int) -> bool:
        if self.options.pause_ask and self.ask is not None:
            self.emit("pause", {"ask": True, "next": index, "total": total})
            if not self.ask(f"batch {index - 1}/{total} done. Continue with batch {index}?"):
                self.interrupted.set()
                return False
        elif self.options.pause > 0:
            self.emit("pause", {"seconds": self.options.pause, "next": index, "total": total})
            if self.interrupted.wait(self.options.pause):
                return False
        return True

    def _roll_batch(self, batch: list[HostTarget]) -> None:
        """The batch's hosts at once, each under the fleet's error policy (a host's bug fails that host only)."""
        targets = {t.host: t for t in batch}
        results = self.fleet.run(lambda access: self._roll_host(targets[access.name], access),
                                 hosts=[self.fleet.host(t.host) for t in batch])
        for result in results:
            if result.error is not None:
                self._host_failed(result.name, result.error.reason)

    def _roll_host(self, target: HostTarget, session: HostAccess) -> None:
        report = self.reports[target.host]
        progress = self.state.host(target.host)
        progress.status = "in-progress"
        report.status = "stopped"
        self._save()
        self.emit("host", {"host": target.host, "processes": target.processes})
        if not self._hook("pre", target, progress):
            return
        failed = False
        for step in self._steps(target):
            if self.halted.is_set() or self.interrupted.is_set():
                break
            results = step(session)
            for result in results:
                self.emit("process", {"host": target.host, "result": result, "update": self.plan.update})
            report.processes.extend(results)
            progress.done.extend(r.name for r in results if r.ok)
            progress.failed = [n for n in progress.failed if n not in progress.done] + \
                [r.name for r in results if not r.ok and r.name not in progress.failed]
            self._save()
            if not all(r.ok for r in results):
                failed = True
                break
        if failed:
            self._host_failed(target.host, None)
            return
        if not self._hook("post", target, progress):
            return
        if set(target.processes) <= set(progress.done):
            report.status = progress.status = "done"
        self._save()
        self.emit("host-done", {"host": target.host, "status": report.status})

    def _steps(self, target: HostTarget) -> list[Callable[[HostAccess], list[ProcessResult]]]:
        """A host's work in the order done, each step a unit the roll finishes even when interrupted:
        a chunk of --per-host processes restarted, or (a rolling update) one group's change applied."""
        if target.changes:
            return [partial(self._apply, target=target, change=change) for change in target.changes]
        # processes already down (left alone with --skip-unhealthy) use up part of the host's allowance
        allowance = max(1, self.options.per_host - len(target.down))
        return [partial(self._restart_chunk, target=target, chunk=chunk)
                for chunk in chunks(target.processes, allowance)]

    def _apply(self, session: HostAccess, target: HostTarget, change: GroupChange) -> list[ProcessResult]:
        values = {"host": target.host, "address": target.address}
        self.emit("group", {"host": target.host, "group": change.group, "kind": change.kind})
        try:
            return apply_change(session, change, self.options.gate, values, self.interrupted,
                                self._phase(target.host))
        except HostError as exc:
            return recover(session, change, exc)

    def _restart_chunk(self, session: HostAccess, target: HostTarget, chunk: list[str]) -> list[ProcessResult]:
        values = {"host": target.host, "address": target.address}

        def one(name: str) -> ProcessResult:
            try:
                if self.options.signal:    # a reload roll: the signal instead of stop/start, same gate
                    return signal_process(session, name, self.options.gate, self.options.signal, values,
                                          self.interrupted, self._phase(target.host))
                return restart_process(session, name, self.options.gate, values,
                                       self.interrupted, self._phase(target.host))
            except HostError as exc:
                return recover_lost(session, name, exc)

        if len(chunk) == 1:
            return [one(chunk[0])]
        results = in_parallel(chunk, one, name=lambda name: f"herd-roll-{target.host}-{name}")
        if any(r is None for r in results):     # in_parallel logged it: the host fails, the roll goes on
            raise UnexpectedError(target.host, "unexpected error while restarting a process (-vv shows where)")
        return [r for r in results if r is not None]

    def _phase(self, host: str) -> Callable[[str, str], None]:
        return lambda process, phase: self.emit("phase", {"host": host, "process": process, "phase": phase})

    def _hook(self, which: str, target: HostTarget, progress: Any) -> bool:
        command = self.options.pre_hook if which == "pre" else self.options.post_hook
        if not command or (which == "pre" and progress.pre_hook):
            return True
        line = expand(command, host=target.host, address=target.address)
        self.emit("hook", {"host": target.host, "which": which, "command": line})
        ok, detail = run_hook(line)
        self.reports[target.host].notes.append(f"{which}-hook: {detail}")
        if which == "pre":
            progress.pre_hook = ok
        else:
            progress.post_hook = ok
        self._save()
        if not ok:
            self._host_failed(target.host, f"{which}-hook failed: {detail}")
        return ok

    def _host_failed(self, host: str, error: str | None) -> None:
        report = self.reports[host]
        report.status = "failed"
        if error:
            report.error = error
        self.state.host(host).status = "failed"
        self._save()
        with self._lock:
            self._failed += 1
            if self._failed > self.options.max_fail:
                self.halted.set()
        self.emit("host-done", {"host": host, "status": "failed", "error": report.error})

    def _save(self) -> None:
        if self.state_file is not None:
            with self._save_lock:
                self.state_file.save(self.state)


def run_hook(command: str) -> tuple[bool, str]:
    """Run a hook on the controller through the shell; (ok, what happened)."""
    try:
        proc = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=HOOK_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, f"'{command}' did not finish within {HOOK_TIMEOUT:g} s"
    last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
    if proc.returncode == 0:
        return True, f"'{command}' ok"
    return False, f"'{command}' exited {proc.returncode}" + (f": {last[0]}" if last[0] else "")
