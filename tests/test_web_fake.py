"""herd web's logic (herd/web/actions.py) and its app (herd/web/app.py) in process, over fake supervisords.

The real-fleet proofs are tests/test_web_http.py and tests/test_web_browser.py.
"""

from __future__ import annotations

import http.client as httpclient
import time
from pathlib import Path
from typing import Iterator

import pytest

from herd.errors import HerdError
from herd.inventory.model import Expectation, Inventory
from herd.testing.fake import FakeHost, FakeSource, FakeSupervisor, ProgramSpec
from herd.web.actions import Dashboard, Refused
from webtools import Events, http, serve_dashboard, wait_for

XSS = "<img src=x onerror=alert(1)>"


class CountingSupervisor(FakeSupervisor):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.multicalls = 0

    def dispatch(self, method, params):
        if method == "system.multicall":
            self.multicalls += 1
        return super().dispatch(method, params)


def hosts(count: int = 2, **worker) -> list[FakeHost]:
    return [FakeHost(f"web{i:02d}", CountingSupervisor([ProgramSpec("tornado", numprocs=2, numprocs_start=8080),
                                                        ProgramSpec("worker", **worker)]))
            for i in range(1, count + 1)]


def dashboard(fakes: list[FakeHost], interval: float = 0.1, **inventory) -> Dashboard:
    inv = Inventory("fake.yaml", tuple(h.host for h in fakes), groups={"web": tuple(h.name for h in fakes)},
                    **inventory)
    return Dashboard(inv, [h.host for h in fakes], FakeSource(fakes), interval=interval)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def test_control_acts_on_each_host_s_own_targets_and_answers_as_the_cli() -> None:
    web01, web02 = fakes = hosts()
    dash = dashboard(fakes)
    result = dash.control("stop", [{"host": "web01", "name": "worker"}, {"host": "web02", "name": "tornado:*"}],
                          confirm=True)
    assert result["lines"] == ["web01  worker                stopped",
                               "web02  tornado:tornado-8080  stopped",
                               "web02  tornado:tornado-8081  stopped",
                               "2 hosts: 3 stopped"]
    assert web01.supervisor.info("worker")["statename"] == "STOPPED"
    assert web01.supervisor.info("tornado:tornado-8080")["statename"] == "RUNNING"
    assert web02.supervisor.info("worker")["statename"] == "RUNNING"


def test_dangerous_requests_need_confirming_and_change_nothing_until_then() -> None:
    web01, web02 = fakes = hosts()
    dash = dashboard(fakes)
    both = [{"host": "web01", "name": "worker"}, {"host": "web02", "name": "worker"}]
    for action, targets in (("stop", both), ("restart", both), ("stop", [{"host": "web01", "name": "all"}])):
        with pytest.raises(Refused) as refused:
            dash.control(action, targets)
        assert refused.value.confirm
    with pytest.raises(Refused) as update:
        dash.config("update", ["web01"])
    assert update.value.confirm and "changed groups are restarted" in str(update.value)
    assert {h.supervisor.info("worker")["statename"] for h in fakes} == {"RUNNING"}
    single = dash.control("stop", [{"host": "web01", "name": "worker"}])   # one process on one host: no question
    assert single["lines"][0] == "web01  worker  stopped"


def test_bad_requests_are_refused_with_a_sentence() -> None:
    dash = dashboard(hosts())
    with pytest.raises(Refused, match="unknown action: kill"):
        dash.control("kill", [{"host": "web01", "name": "worker"}])
    with pytest.raises(Refused, match="not a host of this dashboard: web09"):
        dash.control("start", [{"host": "web09", "name": "worker"}])
    with pytest.raises(Refused, match="no such process or group on any selected host: nosuch"):
        dash.control("start", [{"host": "web01", "name": "nosuch"}])
    with pytest.raises(Refused, match="no targets"):
        dash.control("start", [])
    with pytest.raises(Exception, match="unknown signal: NOPE"):
        dash.control("signal", [{"host": "web01", "name": "worker"}], signal="NOPE")


def test_app_log_files_are_listed_per_process_from_the_last_snapshot_and_log_text_is_escaped() -> None:
    from herd.inventory.model import Host
    from herd.web.actions import log_item

    logs = {"tornado": "/srv/{host}/tornado-{num}.log", "worker": "/srv/{host}/worker-{num}.log"}
    fakes = [FakeHost(Host(name="web01", logs=logs), CountingSupervisor([
        ProgramSpec("tornado", numprocs=2, numprocs_start=8080), ProgramSpec("worker")]))]
    dash = dashboard(fakes)
    assert [h["polled"] for h in dash.log_files("", None)["hosts"]] == [False]
    dash.poller.poll_once("web01")
    files = dash.log_files("", None)["hosts"][0]
    assert files["templates"] == logs and files["error"] is None
    assert files["files"][:2] == [
        {"process": "tornado:tornado-8080", "program": "tornado", "path": "/srv/web01/tornado-8080.log"},
        {"process": "tornado:tornado-8081", "program": "tornado", "path": "/srv/web01/tornado-8081.log"}]
    worker = files["files"][2]      # "worker" ends in no number: {num} cannot be filled, and it says so
    assert worker["process"] == "worker" and worker["path"] is None and "{num}" in worker["error"]
    assert [f["process"] for f in dash.log_files("tornado:tornado-8081", ["web01"])["hosts"][0]["files"]] == [
        "tornado:tornado-8081"]
    with pytest.raises(Refused, match="not a host of this dashboard: web09"):
        dash.log_files("", ["web09"])
    with pytest.raises(Refused, match="channel must be stdout, stderr or file"):
        dash.tail("worker", "syslog", None, 5)
    assert log_item("line", "web\x1b01", "a\tb", "x\x1b[2J\udcff\u202e<b>") == {
        "kind": "line", "host": "web\\x1b01", "source": "a\\tb", "text": "x\\x1b[2J\\xff\\u202e<b>"}


def test_health_is_graded_from_the_poller_s_snapshot_as_herd_check_grades() -> None:
    web01, web02 = fakes = hosts()
    expect = {"web": Expectation("web", ("web01", "web02"), running=("worker",), min_uptime=None)}
    dash = dashboard(fakes, expect=expect)
    web02.client().call("supervisor.stopProcess", "worker", False)
    dash.poller.poll_once("web01")
    dash.poller.poll_once("web02")
    data = dash.check()
    from herd.operations.check import run_check
    from herd.testing.fake import fake_fleet

    cli = run_check(fake_fleet(fakes), dash.inventory, deadline=5)
    from herd.render.check import summary

    assert data["status"] == cli.severity.name and data["summary"] == summary(cli)
    assert data["status"] in ("WARNING", "CRITICAL")
    assert [(p["host"], p["process"], p["state"]) for p in data["problems"]] == [("web02", "worker", "STOPPED")]
    assert data["expect"] == [{"target": "web", "hosts": ["web01", "web02"], "running": ["worker"],
                               "min_uptime": None}]


def test_a_rolling_restart_runs_to_the_end_with_progress_events() -> None:
    fakes = hosts()
    dash = dashboard(fakes)
    body = {"name": "tornado", "min_healthy": 0.1, "timeout_healthy": 10}
    with pytest.raises(Refused) as plan:
        dash.rolls.start(body, confirm=False)
    assert plan.value.confirm and "rolling restart of tornado: 4 process(es) on 2 host(s)" in str(plan.value)
    before = {h.name: h.supervisor.info("tornado:tornado-8080")["pid"] for h in fakes}
    dash.rolls.start(body, confirm=True)
    dash.rolls.thread.join(30)
    status = dash.rolls.status()
    assert status["roll"]["report"]["outcome"] == "done"
    kinds = [e["kind"] for e in status["events"]]
    assert kinds.count("batch") == 2 and "phase" in kinds and kinds[-1] == "finished"
    assert "[batch 1/2] web01" in [e["text"] for e in status["events"]]
    assert status["roll"]["hosts"]["web02"]["status"] == "done"
    assert all(h.supervisor.info("tornado:tornado-8080")["pid"] != before[h.name] for h in fakes)


def test_an_interrupted_roll_leaves_nothing_stopped_and_can_be_resumed() -> None:
    fakes = hosts(3)
    dash = dashboard(fakes)
    dash.rolls.start({"name": "tornado", "min_healthy": 0.6, "per_host": 1}, confirm=True)
    wait_for(lambda: any(e["kind"] == "phase" for e in dash.rolls.status()["events"]), 10, "a phase")
    dash.rolls.interrupt()
    dash.rolls.thread.join(30)
    assert dash.rolls.status()["roll"]["report"]["outcome"] == "interrupted"
    assert {h.supervisor.info(n)["statename"] for h in fakes for n in ("tornado:tornado-8080", "tornado:tornado-8081")} \
        == {"RUNNING"}
    with pytest.raises(Refused, match="no rolling restart is running"):
        dash.rolls.interrupt()
    with pytest.raises(Exception, match="an unfinished roll of tornado exists"):
        dash.rolls.start({"name": "tornado"}, confirm=True)
    dash.rolls.start({"name": "tornado", "min_healthy": 0, "resume": True}, confirm=True)
    dash.rolls.thread.join(30)
    assert dash.rolls.status()["roll"]["report"]["outcome"] == "done"


def test_rolls_from_the_page_refuse_commands() -> None:
    dash = dashboard(hosts())
    for body in ({"name": "tornado", "cmd": "true"}, {"name": "tornado", "pre_hook": "x"}):
        with pytest.raises(Refused, match="run commands"):
            dash.rolls.start(body, confirm=True)


TIMEOUT_0 = "Invalid value for '--timeout-healthy': 0.0 is not in the range x>=0.1."


@pytest.mark.parametrize("bad,message", [
    ({"timeout_healthy": 0}, TIMEOUT_0),
    ({"min_healthy": -1}, "Invalid value for '--min-healthy': -1.0 is not in the range x>=0."),
    ({"per_host": 0}, "Invalid value for '--per-host': 0 is not in the range x>=1."),   # was taken as 1
    ({"max_fail": -2}, "Invalid value for '--max-fail': -2 is not in the range x>=0."),  # was taken as 0
    ({"pause": -3}, "--pause -3: must not be negative"),                                 # was taken as 0
    ({"pause": "ask"}, "--pause ask needs a terminal to ask on"),
    ({"batch": "1,x"}, "--batch 1,x: 'x' is not a count or a percentage (e.g. 1, 25%, 1,5,25%)"),
])
def test_the_page_refuses_a_bad_option_as_the_cli_does(bad: dict[str, object], message: str) -> None:
    fakes = hosts()
    dash = dashboard(fakes)
    before = {h.name: h.supervisor.info("tornado:tornado-8080")["pid"] for h in fakes}
    with pytest.raises(Refused) as refused:
        dash.rolls.start({"name": "tornado", **bad}, confirm=True)
    assert str(refused.value) == message and not refused.value.confirm
    assert dash.rolls.thread is None
    assert {h.name: h.supervisor.info("tornado:tornado-8080")["pid"] for h in fakes} == before


def test_an_empty_field_of_the_page_is_the_cli_s_default() -> None:
    dash = dashboard(hosts())
    body = {"name": "tornado", "batch": "", "per_host": None, "min_healthy": None, "timeout_healthy": None,
            "http": "", "tcp": "", "max_fail": None, "pause": None}
    with pytest.raises(Refused) as plan:
        dash.rolls.start(body, confirm=False)
    assert plan.value.confirm
    assert "gate: RUNNING, same pid for 10s; within 120s; stop at the first failed host" in str(plan.value)


def test_a_resume_from_the_page_is_checked_as_a_new_roll_is() -> None:
    fakes = hosts(3)
    dash = dashboard(fakes)
    dash.rolls.start({"name": "tornado", "min_healthy": 0.6}, confirm=True)
    wait_for(lambda: any(e["kind"] == "process" for e in dash.rolls.status()["events"]), 10, "a process done")
    dash.rolls.interrupt()
    dash.rolls.thread.join(30)
    with pytest.raises(Refused) as refused:
        dash.rolls.start({"name": "tornado", "timeout_healthy": 0, "resume": True}, confirm=True)
    assert str(refused.value) == TIMEOUT_0
    assert dash.rolls.status()["roll"]["report"]["outcome"] == "interrupted"   # nothing started
    dash.rolls.start({"name": "tornado", "min_healthy": 0, "resume": True}, confirm=True)
    dash.rolls.thread.join(30)
    assert dash.rolls.status()["roll"]["report"]["outcome"] == "done"


def test_the_api_answers_400_with_the_cli_s_sentence(served, capsys: pytest.CaptureFixture[str]) -> None:
    from herd.cli import run_command

    web, _ = served
    cookie, csrf = web.login()
    answer = web.post("/api/roll", {"name": "tornado", "timeout_healthy": 0, "confirm": True}, cookie, csrf)
    assert answer.status == 400 and answer.json() == {"error": TIMEOUT_0, "confirm": False}
    assert run_command(["rolling-restart", "tornado", "--timeout-healthy", "0"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"Error: {TIMEOUT_0}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[object, list[FakeHost]]]:
    fakes = hosts()
    fakes.append(FakeHost("web03", CountingSupervisor([ProgramSpec(XSS)])))
    web = serve_dashboard(dashboard(fakes, interval=0.2), tmp_path)
    try:
        yield web, fakes
    finally:
        web.stop()


def test_pages_get_a_snapshot_then_each_change_pushed(served) -> None:
    web, fakes = served
    cookie, _ = web.login()
    wait_for(lambda: all(h["polled"] for h in web.get("/api/status", cookie).json()["hosts"]), 5, "first polls")
    events = Events(web, cookie)
    try:
        kind, snapshot = events.next()
        assert kind == "snapshot" and [h["host"] for h in snapshot["hosts"]] == ["web01", "web02", "web03"]
        assert events.next()[0] == "roll-status"
        fakes[0].client().call("supervisor.stopProcess", "worker", False)
        kind, host = events.next()
    finally:
        events.close()
    assert kind == "host" and host["host"] == "web01"
    assert [p["state"] for p in host["processes"] if p["name"] == "worker"] == ["STOPPED"]


def test_open_pages_share_one_poller(served) -> None:
    web, fakes = served
    cookie, _ = web.login()
    wait_for(lambda: all(h["polled"] for h in web.get("/api/status", cookie).json()["hosts"]), 5, "first polls")
    conns = []
    for _ in range(8):
        conn = httpclient.HTTPConnection("127.0.0.1", web.port, timeout=10)
        conn.request("GET", "/api/events", headers={"Cookie": cookie})
        assert conn.getresponse().status == 200
        conns.append(conn)
    start = fakes[1].supervisor.multicalls
    time.sleep(2.0)
    polls = fakes[1].supervisor.multicalls - start
    for conn in conns:
        conn.close()
    assert 7 <= polls <= 12          # 2 s at 0.2 s: one poller, not one per page


def test_host_text_reaches_the_page_only_as_json_data(served) -> None:
    web, _ = served
    cookie, _ = web.login()
    page = http("GET", web.base, "/", headers={"Cookie": cookie})
    assert b"img src" not in page.body and page.headers["content-type"].startswith("text/html")
    status = wait_for(lambda: (s := web.get("/api/status", cookie)) and s.json()["hosts"][2]["processes"] and s,
                      5, "web03 read")
    assert status.headers["content-type"] == "application/json"
    assert status.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in status.headers["content-security-policy"]
    assert status.json()["hosts"][2]["processes"][0]["name"] == XSS
    script = http("GET", web.base, "/static/app.js").body.decode()
    assert "innerHTML" not in script.replace("never innerHTML", "")


def test_a_host_with_two_supervisords_shows_and_acts_on_each_as_its_own_target() -> None:
    app = FakeHost("web01/app", CountingSupervisor([ProgramSpec("tornado", numprocs=2, numprocs_start=8080)]))
    infra = FakeHost("web01/infra", CountingSupervisor([ProgramSpec("tornado", numprocs=1, numprocs_start=9090),
                                                        ProgramSpec("worker")]))
    dash = dashboard([app, infra])
    pids = {n: app.supervisor.info(n)["pid"] for n in ("tornado:tornado-8080", "tornado:tornado-8081")}
    before = infra.supervisor.info("tornado")["pid"]
    result = dash.control("restart", [{"host": "web01/infra", "name": "tornado"}])
    assert result["lines"] == ["web01/infra  tornado  restarted", "1 host: 1 restarted"]
    assert infra.supervisor.info("tornado")["pid"] != before
    assert {n: app.supervisor.info(n)["pid"] for n in pids} == pids
    with pytest.raises(Refused) as plan:
        dash.rolls.start({"name": "tornado", "min_healthy": 0.1}, confirm=False)
    assert "rolling restart of tornado: 3 process(es) on 2 host(s)" in str(plan.value)


# -- update's plan, shown in its confirmation --------------------------------------------------------------

class PendingSupervisor(CountingSupervisor):
    """A fake supervisord whose reloadConfig answers ``diff`` (added, changed, removed), or CANT_REREAD ``broken``.

    Only the reread is faked here: applying a change is proved on real supervisords (tests/test_web_browser.py).
    """

    def __init__(self, *args, diff=((), (), ()), broken: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.diff = diff
        self.broken = broken

    def dispatch(self, method, params):
        from herd.errors import Faults
        from herd.testing.fake import _Fault

        if method != "supervisor.reloadConfig":
            return super().dispatch(method, params)
        self.calls.append(method)
        if self.broken is not None:
            raise _Fault(Faults.CANT_REREAD, self.broken)
        return [[list(part) for part in self.diff]]


def pending_hosts(**diffs) -> list[FakeHost]:
    """web01..: tornado (2 processes) and worker, each host's reloadConfig answering diffs[name] (or nothing)."""
    return [FakeHost(name, PendingSupervisor([ProgramSpec("tornado", numprocs=2, numprocs_start=8080),
                                              ProgramSpec("worker")], **diffs.get(name, {})))
            for name in ("web01", "web02", "web03", "web04")]


ACTING = ("supervisor.stopProcess", "supervisor.startProcess", "supervisor.removeProcessGroup",
          "supervisor.addProcessGroup", "supervisor.stopProcessGroup")


def test_the_update_plan_lists_per_host_what_would_change_and_changes_nothing() -> None:
    fakes = pending_hosts(web01={"diff": (["extra"], ["tornado"], ["worker"])},
                          web03={"broken": "section [program:half] does not specify a command"})
    fakes[3].break_connection()
    dash = dashboard(fakes)
    pids = [f.supervisor.info("worker")["pid"] for f in fakes[:3]]
    plan = dash.update_plan(None)
    hosts = {h["host"]: h for h in plan["hosts"]}
    assert [h["state"] for h in plan["hosts"]] == ["change", "unchanged", "broken", "unreachable"]
    assert hosts["web01"]["lines"] == ["worker  would stop and remove",
                                       "tornado  would stop, remove and re-add (changed)", "extra  would add"]
    assert (hosts["web01"]["added"], hosts["web01"]["changed"], hosts["web01"]["removed"]) == (
        ["extra"], ["tornado"], ["worker"])
    warning = ("web01: tornado changed: all 2 processes are stopped and started at once "
               "(supervisord bounces a changed group as a whole)")
    assert hosts["web01"]["bounces"] == [{"group": "tornado", "processes": 2, "warning": warning}]
    assert plan["warnings"] == [warning]
    assert hosts["web02"]["lines"] == ["config  no config updates to processes"]
    assert hosts["web03"]["lines"] == [
        "config: config does not parse, so supervisord would fail at its next start (it runs on the last config "
        "it read): section [program:half] does not specify a command"]
    assert hosts["web04"]["lines"] == ["unreachable: SSH connection lost: connection reset by peer"]
    assert plan["changes"] == 1
    assert plan["summary"] == "changes on 1 of 4 hosts; 1 host's config does not parse; 1 host unreachable"
    # the CLI's `herd update --dry-run` lines, as they are
    assert plan["lines"][0] == "dry run: nothing was changed"
    assert "web01  tornado  would stop, remove and re-add (changed)" in plan["lines"]
    assert plan["groups"] == [] and len(plan["plan_id"]) == 16
    assert not [c for f in fakes for c in f.supervisor.calls if c in ACTING]
    assert [f.supervisor.info("worker")["pid"] for f in fakes[:3]] == pids


def test_the_update_plan_with_groups_and_with_nothing_to_change() -> None:
    dash = dashboard(pending_hosts(web02={"diff": ([], ["tornado"], ["worker"])})[:2])
    plan = dash.update_plan(None, ["worker"])
    assert plan["groups"] == ["worker"]
    assert [h["lines"] for h in plan["hosts"]] == [["worker  unchanged"], ["worker  would stop and remove"]]
    assert plan["warnings"] == []           # tornado bounces only when update is not limited to worker
    nothing = dashboard(pending_hosts()[:2]).update_plan(["web02"])
    assert (nothing["changes"], nothing["summary"]) == (0, "nothing to change on 1 host")
    with pytest.raises(HerdError, match=r"^no such group in supervisord's config on any selected host: tornadoo "
                                        r"\(did you mean 'tornado'\?\)$"):
        dash.update_plan(None, ["tornadoo"])
    with pytest.raises(Refused, match="groups must be a list of group names"):
        dash.update_plan(None, "tornado")            # type: ignore[arg-type]


def test_group_names_and_errors_from_hosts_are_escaped_in_the_plan() -> None:
    evil = "\x1b[31m<b>x\u202e"
    fakes = pending_hosts(web01={"diff": ([evil], [], [])}, web02={"broken": "line 3: \x1b]0;owned\x07"})
    plan = dashboard(fakes[:2]).update_plan(None)
    web01, web02 = plan["hosts"]
    assert web01["added"] == ["\\x1b[31m<b>x\\u202e"]
    assert web01["lines"] == ["\\x1b[31m<b>x\\u202e  would add"]
    assert web02["error"].endswith("line 3: \\x1b]0;owned\\x07")
    assert "\x1b" not in repr(plan).replace("\\x1b", "")


def test_going_on_applies_what_update_reads_then_and_says_when_that_is_not_the_plan_shown() -> None:
    fakes = pending_hosts()[:2]
    dash = dashboard(fakes)
    plan = dash.update_plan(None)
    same = dash.config("update", None, confirm=True, plan=plan["plan_id"])
    assert same["notes"] == []
    assert same["lines"] == ["web01  config  no config updates to processes",
                             "web02  config  no config updates to processes",
                             "2 hosts: 2 no config updates to processes"]
    fakes[0].supervisor.broken = "edited meanwhile"       # after the plan was shown: update reads it again
    changed = dash.config("update", None, confirm=True, plan=plan["plan_id"])
    assert changed["notes"] == ["the config changed after the plan was shown: update applied what it read just "
                                "now (the lines below), not the plan you confirmed"]
    assert changed["lines"][0].startswith("web01  config: config does not parse")
    assert changed["exit_code"] == 1


def test_the_plan_is_a_post_under_update_s_rules(tmp_path: Path) -> None:
    web = serve_dashboard(dashboard(pending_hosts(web01={"diff": (["extra"], [], [])})[:2]), tmp_path)
    try:
        cookie, csrf = web.login()
        assert web.get("/api/config/plan", cookie).status == 405
        assert web.post("/api/config/plan", {}, cookie, None).status == 403
        answer = web.post("/api/config/plan", {"hosts": ["web01"]}, cookie, csrf)
        assert answer.status == 200
        assert [h["lines"] for h in answer.json()["hosts"]] == [["extra  would add"]]
        typo = web.post("/api/config/plan", {"groups": ["extr"]}, cookie, csrf)
        assert typo.status == 400 and typo.json() == {
            "error": "no such group in supervisord's config on any selected host: extr (did you mean 'extra'?)",
            "confirm": False}
        unknown = web.post("/api/config/plan", {"hosts": ["web09"]}, cookie, csrf)
        assert unknown.json() == {"error": "not a host of this dashboard: web09", "confirm": False}
        audit = (tmp_path / "audit.jsonl").read_text()
        assert '"action": "update-plan"' in audit
    finally:
        web.stop()
    (tmp_path / "ro").mkdir()
    read_only = serve_dashboard(dashboard(pending_hosts()[:1]), tmp_path / "ro", read_only=True)
    try:
        cookie, csrf = read_only.login()
        refused = read_only.post("/api/config/plan", {}, cookie, csrf)
        assert refused.status == 403 and "read-only" in refused.json()["error"]
    finally:
        read_only.stop()
