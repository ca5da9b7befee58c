"""herd web's rolling update (POST /api/roll with "update": true), in process on fake supervisords (a bad name
or an unfinished roll is a UsageError: the API answers it 400, as any).

The page's roll is the CLI's runner, plan, gate and state file; these tests
hold the page to the CLI's rolling update: the same plan lines, the same
refusals, one host at a time, each process started once on the new config,
an interrupt that leaves nothing removed, and a resume under the CLI's state
file name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from herd.errors import UsageError
from herd.testing.fake import TORNADO_V2, FakeHost, tornado_hosts
from herd.web.actions import Refused
from test_web_fake import dashboard
from webtools import wait_for

TORNADO = [f"tornado:tornado-{p}" for p in range(8080, 8084)]


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def started_once(host: FakeHost) -> bool:
    return {n: host.supervisor.starts[n] for n in TORNADO} == dict.fromkeys(TORNADO, 1)


def test_the_page_rolls_pending_config_with_the_cli_s_plan_and_gate() -> None:
    fakes = tornado_hosts(2, changed=["web01", "web02"])
    dash = dashboard(fakes)
    body = {"update": True, "groups": ["tornado"], "min_healthy": 0.1, "timeout_healthy": 10}
    with pytest.raises(Refused) as plan:
        dash.rolls.start(body, confirm=False)
    text = str(plan.value)
    assert plan.value.confirm
    assert text.splitlines()[0] == "rolling update of tornado: 2 host(s) with pending config in 2 batch(es) (--batch 1)"
    assert "  batch 1/2  web01: tornado: re-add on the new config (4 processes)" in text.splitlines()
    assert text.splitlines()[-1] == "Start this rolling update?"
    assert all(h.supervisor.starts == {} for h in fakes)          # the plan touched nothing
    dash.rolls.start(body, confirm=True)
    dash.rolls.thread.join(30)
    status = dash.rolls.status()
    assert status["roll"]["update"] is True
    assert status["roll"]["report"]["outcome"] == "done", status["roll"]["report"]
    assert status["roll"]["report"]["lines"][-1].startswith("roll done: 8 of 8 process(es) updated")
    assert [e["text"] for e in status["events"] if e["kind"] == "group"] == [
        "  web01 tornado: re-add on the new config", "  web02 tornado: re-add on the new config"]
    assert all(h.supervisor.running_config("tornado").command == TORNADO_V2 and started_once(h) for h in fakes)


def test_the_page_refuses_what_the_cli_refuses() -> None:
    fakes = tornado_hosts(2, changed=["web02"])
    dash = dashboard(fakes)
    with pytest.raises(UsageError, match=r"no such group in supervisord's config on any selected host: tornadoo "
                                      r"\(did you mean 'tornado'\?\)"):
        dash.rolls.start({"update": True, "groups": ["tornadoo"]}, confirm=False)
    with pytest.raises(Refused, match="groups must be a list of group names"):
        dash.rolls.start({"update": True, "groups": "tornado"}, confirm=False)
    # a restart of a program whose config changed is refused, pointing at the rollout
    with pytest.raises(Refused, match=r"web02: tornado's config changed \(a restart would run the old one\); roll "
                                      r"the new config with herd rolling-update tornado"):
        dash.rolls.start({"name": "tornado"}, confirm=False)


def test_an_interrupted_update_from_the_page_leaves_nothing_removed_and_resumes() -> None:
    fakes = tornado_hosts(3, changed=["web01", "web02", "web03"])
    dash = dashboard(fakes)
    dash.rolls.start({"update": True, "groups": ["tornado"], "min_healthy": 1}, confirm=True)
    wait_for(lambda: any(e["kind"] == "group" for e in dash.rolls.status()["events"]), 10, "a group change")
    dash.rolls.interrupt()
    dash.rolls.thread.join(30)
    assert dash.rolls.status()["roll"]["report"]["outcome"] == "interrupted"
    assert fakes[0].serving_ports() == {8080, 8081, 8082, 8083}
    assert fakes[2].supervisor.starts == {}
    with pytest.raises(UsageError, match="an unfinished roll of update tornado exists"):
        dash.rolls.start({"update": True, "groups": ["tornado"]}, confirm=True)
    dash.rolls.start({"update": True, "groups": ["tornado"], "resume": True}, confirm=True)
    dash.rolls.thread.join(30)
    assert dash.rolls.status()["roll"]["report"]["outcome"] == "done"
    assert all(started_once(h) for h in fakes)
