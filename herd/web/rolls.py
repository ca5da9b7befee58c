"""The dashboard's rolls: at most one at a time, run in a thread, its progress kept for the page.

A roll is a rolling restart of a program, or (``"update": true`` in the
body, with ``groups``) a rolling update of pending config, as ``herd
rolling-update``.  The options come from
:func:`herd.operations.rolling.options.roll_options`, the CLI's own builder,
so the page refuses what the CLI refuses with the same sentence; the
runner, pre-flight, plan, gate and state file are the CLI's too
(herd/web/actions.py says why the page goes through herd's operations).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Collection

from herd.errors import RollRefused, UsageError
from herd.web.errors import Refused

if TYPE_CHECKING:
    from herd.operations.rolling.options import RollOptions
    from herd.operations.rolling.runner import RollRunner
    from herd.web.actions import Dashboard

MAX_ROLL_EVENTS = 5000
# the body's keys that roll_options takes as they are ("" from an empty field of the page is "not given")
OPTION_KEYS = ("batch", "per_host", "min_healthy", "timeout_healthy", "http", "tcp", "max_fail", "skip_unhealthy",
               "pause")


def _jsonable(value: Any) -> Any:
    """An event's data as JSON can carry it (results are dataclasses; anything else becomes its text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class RollManager:
    """At most one rolling restart at a time, its progress kept for every page to see.

    The runner is the CLI's: same pre-flight, batches, gate and state file;
    ``interrupt()`` is what Ctrl-C does (the process in flight is finished
    and started again, post-hooks of hosts in flight run).  Hooks and
    ``--cmd`` probes are not offered: they would let the page run commands.
    """

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self._lock = threading.Lock()
        self.runner: RollRunner | None = None
        self.thread: threading.Thread | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_ROLL_EVENTS)
        self.seq = 0
        self.current: dict[str, Any] | None = None
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def status(self, visible: Collection[str] | None = None) -> dict[str, Any]:
        """The roll and its events; for a user who does not see every host it touches (``visible``, from
        herd/web/access.py), only that a roll of NAME runs: its plan, hosts and events name hosts."""
        with self._lock:
            if self.current is not None and visible is not None and not self.covers(visible):
                shown = {k: self.current[k] for k in ("name", "update", "state", "started")}
                return {"roll": {**shown, "hidden": True}, "events": []}
            return {"roll": dict(self.current) if self.current else None, "events": list(self.events)}

    def covers(self, visible: Collection[str]) -> bool:
        """Whether ``visible`` includes every host of the current roll (none running: yes)."""
        return self.current is None or set(self.current["targets"]) <= set(visible)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        from herd.render.rolling import progress_line

        with self._lock:
            self.seq += 1
            event = {"seq": self.seq, "time": time.time(), "kind": kind, "text": progress_line(kind, data, False),
                     "data": _jsonable(data)}
            self.events.append(event)
            if self.current is not None:
                _track(self.current, kind, data)
            listeners = list(self.listeners)
        for listener in listeners:
            listener(event)

    def start(self, body: dict[str, Any], *, confirm: bool) -> dict[str, Any]:
        """Check the options, run pre-flight, and start the roll in a thread; returns the plan."""
        from herd.operations.rolling.runner import RollRunner, preflight
        from herd.operations.rolling.state import open_roll_state
        from herd.render.rolling import plan_json, plan_lines

        options = page_options(body)    # a bad field is refused before anything is read
        name = options.name
        with self._lock:
            if self.thread is not None and self.thread.is_alive():
                raise Refused(f"a roll of {self.current['name'] if self.current else '?'} is running")
        hosts = self.dashboard.select(body.get("hosts") or None)
        resume, fresh = bool(body.get("resume")), bool(body.get("fresh"))
        key = f"update {name}" if options.update else name       # the CLI's state file for the same roll
        saved, state = open_roll_state(self.dashboard.inventory.path, key, None, resume=resume, fresh=fresh,
                                       dry_run=False)
        options = page_options(body, self.dashboard.inventory, state.options if resume else None)
        fleet = self.dashboard.fleet_of(hosts)
        try:
            plan = preflight(fleet, options, state if resume else None)
        except RollRefused as refused:
            raise Refused("; ".join([*refused.problems, *([refused.hint] if refused.hint else [])])) from refused
        lines = plan_lines(plan, options)
        if not confirm:
            what = "rolling update" if options.update else "rolling restart"
            raise Refused("\n".join(lines + [f"Start this {what}?"]), confirm=True)
        runner = RollRunner(fleet, plan, options, state, saved, self._emit, None)
        with self._lock:
            if self.thread is not None and self.thread.is_alive():
                raise Refused("a roll is already running")
            self.events.clear()
            self.runner = runner
            self.current = {"name": name, "update": options.update, "state": "running", "plan": lines,
                            "targets": [h.name for h in hosts],
                            "plan_json": plan_json(plan, signal=options.signal), "started": time.time(), "hosts": {},
                            "batch": None, "report": None}
            self.thread = threading.Thread(target=self._run, args=(runner,), name="herd-web-roll", daemon=True)
            self.thread.start()
        return {"plan": lines, "started": True}

    def _run(self, runner: RollRunner) -> None:
        from herd.render.rolling import report_json, report_lines

        try:
            report = runner.run()
            signal = runner.options.signal
            result = {"lines": report_lines(report, False, signal=signal), "json": report_json(report, signal=signal),
                      "outcome": report.outcome, "exit_code": report.exit_code}
        except Exception as exc:  # the page must hear of it rather than wait forever
            result = {"lines": [f"roll failed: {exc}"], "json": None, "outcome": "failed",
                      "exit_code": 1}
        with self._lock:
            if self.current is not None:
                self.current.update(state="finished", report=result, finished=time.time())
        self._emit("finished", {"outcome": result["outcome"], "exit_code": result["exit_code"],
                                "lines": result["lines"]})
        self.dashboard.poller.refresh()

    def interrupt(self) -> dict[str, Any]:
        with self._lock:
            runner, alive = self.runner, self.thread is not None and self.thread.is_alive()
        if runner is None or not alive:
            raise Refused("no rolling restart is running")
        first = not runner.interrupted.is_set()
        runner.interrupt()
        with self._lock:
            if self.current is not None:
                self.current["state"] = "interrupting"
        self._emit("interrupt", {"first": first})
        return {"interrupted": True, "message": "interrupted: finishing the process in flight so that nothing "
                                                "is left stopped"}

    def shutdown(self, timeout: float | None = None) -> None:
        """On server exit: interrupt a running roll and wait until it has put everything back."""
        with self._lock:
            runner, thread = self.runner, self.thread
        if runner is not None and thread is not None and thread.is_alive():
            runner.interrupt()
            thread.join(timeout)


def _track(current: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
    """Keep a roll's summary (batch, each host's process and phase) up to date from its events."""
    hosts = current["hosts"]
    if kind == "batch":
        current["batch"] = {"index": data["index"], "total": data["total"], "hosts": list(data["hosts"])}
        for host in data["hosts"]:
            hosts.setdefault(host, {})["status"] = "in progress"
    elif kind == "phase":
        hosts.setdefault(data["host"], {}).update(process=data["process"], phase=data["phase"])
    elif kind == "process":
        result = data["result"]
        entry = hosts.setdefault(data["host"], {})
        entry.setdefault("done", []).append({"name": result.name, "ok": result.ok})
    elif kind == "host-done":
        hosts.setdefault(data["host"], {}).update(status=data["status"], error=data.get("error"), phase=None)


def page_options(body: dict[str, Any], inventory: Any = None,
                 recorded: dict[str, Any] | None = None) -> RollOptions:
    """The roll the page asks for, checked by the CLI's builder (its sentence, HTTP 400, on a bad option).

    Layered as the CLI layers its options: the inventory's ``rolling:``
    entry of the program, then a resumed roll's recorded options, then the
    page's fields (an empty field, or an unticked --skip-unhealthy, is "not
    given").  Commands are the page's own refusal: ``--cmd`` probes and hooks
    would let whoever holds the page run commands on the hosts and the
    controller; those the inventory or the resumed roll hold were written by
    whoever ran herd, and run as they would from the CLI.
    """
    from herd.inventory.rolling import settings_for
    from herd.operations.rolling.options import inventory_layer, layered, roll_options

    if body.get("cmd") or body.get("pre_hook") or body.get("post_hook"):
        raise Refused("--cmd probes and hooks run commands: use `herd rolling-restart` for those")
    raw = {key: None if body.get(key) == "" else body.get(key) for key in OPTION_KEYS}
    if raw.get("skip_unhealthy") is False:
        raw["skip_unhealthy"] = None
    kind, name, settings = _kind(body)
    try:
        if inventory is None and recorded is None:
            return roll_options(name, can_ask=False, **raw, **kind)
        entry = settings_for(getattr(inventory, "rolling", {}), settings) if inventory is not None and settings \
            else None
        below = inventory_layer(inventory.path, entry) if inventory is not None else {}
        return roll_options(name, can_ask=False, **layered(below, recorded or {}, raw), **kind)
    except UsageError as exc:
        raise Refused(str(exc)) from exc


def _kind(body: dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
    """(roll_options' update/groups, the roll's name, the program whose ``rolling:`` settings apply), as the CLI:
    a rolling update names its groups (a list, or words in ``name``; none: every changed group)."""
    if not body.get("update"):
        name = str(body.get("name") or "").strip()
        return {}, name, name
    given = body.get("groups")
    if given is not None and not (isinstance(given, list) and all(isinstance(g, str) for g in given)):
        raise Refused("groups must be a list of group names")
    groups = [g.strip() for g in (given if given is not None else str(body.get("name") or "").split()) if g.strip()]
    return {"update": True, "groups": groups}, " ".join(groups) or "all", groups[0] if len(groups) == 1 else None
