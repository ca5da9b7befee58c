"""Roles in a real browser (Debian's chromium, driven by Selenium), and the per-host actions over a real fleet.

Two users with different roles on the same fleet (fake supervisords under the real app and uvicorn,
in process), each given their session cookie (tests/test_web_identity*.py test the login itself):
the viewer's host buttons are disabled and a request forced from the page's own JS shows the
server's sentence; the operator restarts; the audit file names both.  Then ``herd web`` itself over
a real fleet (sshd + supervisord): restart all on one host, reload waiting until supervisord answers
again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from selenium.webdriver.common.by import By

from herd.testing.pytest_plugin import module_fleet
from herd.web.security import COOKIE, User
from herd.web.team import load_team
from test_web_roles import dashboard, fakes, serve_team, team_file
from webtools import WebServer, browsing, shot, start_web, wait_for

TEAM = """\
roles:
  bob: viewer
  olga: {role: operator, groups: [odd]}
  ops: admin
"""


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def browser() -> Iterator[Any]:
    with browsing() as driver:
        yield driver


def open_as(driver: Any, server: WebServer, web: Any, name: str) -> None:
    """The page, with a session of ``name`` (as a login would make it) in the browser's cookie jar."""
    session = web.guard.sessions.create(User(name, "password"))
    driver.get(server.base + "/api/session")          # on the site, so that the cookie can be set
    driver.delete_all_cookies()
    driver.add_cookie({"name": COOKIE, "value": session.sid, "path": "/", "httpOnly": True, "sameSite": "Strict"})
    driver.get(server.base + "/")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "tr.host-row"), 15, f"{name}'s page")


def buttons(driver: Any, host: str) -> dict[str, bool]:
    """The host row's own buttons: text -> enabled."""
    row = driver.find_element(By.CSS_SELECTOR, f'tr.host-row[data-hostrow="{host}"]')
    return {b.text: b.is_enabled() for b in row.find_elements(By.CSS_SELECTOR, "button[data-needs]")}


def result(driver: Any) -> str:
    return driver.find_element(By.ID, "result").text


def test_the_viewer_cannot_act_the_operator_can_and_the_audit_names_both(tmp_path: Path, browser: Any) -> None:
    hosts = fakes()
    web01, web02, web03 = hosts
    server, web = serve_team({"default": dashboard(hosts)}, tmp_path, load_team(team_file(tmp_path, TEAM)))
    try:
        open_as(browser, server, web, "bob")
        wait_for(lambda: buttons(browser, "web01") == {"reread": False, "update": False, "restart all": False,
                                                       "avail": True, "reload": False,
                                                       "shutdown": False}, 10, "bob's buttons disabled")
        pid = web01.supervisor.info("worker")["pid"]
        browser.execute_script("control('restart', [{host: 'web01', name: 'worker'}])")   # forced from the page
        wait_for(lambda: result(browser) == "bob may not restart on web01: that needs the operator role there "
                                            "(bob is a viewer of web01)", 10, "the refusal's sentence")
        shot(browser, "web-roles-viewer.png")
        assert "state-FATAL" in browser.find_element(By.ID, "result").get_attribute("class")
        browser.execute_script("supervisord('shutdown', 'web02')")
        wait_for(lambda: result(browser).startswith("bob may not shut down on web02: that needs the admin role"),
                 10, "the shutdown's refusal")
        assert web01.supervisor.info("worker")["pid"] == pid and web02.broken is None
        browser.find_element(By.CSS_SELECTOR, 'tr.host-row[data-hostrow="web02"] button[data-act="avail"]').click()
        shown = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#confirm-detail pre.avail").text, 10,
                         "avail's dialog")
        assert browser.find_element(By.ID, "confirm-text").text == "avail on web02"
        assert [line.split()[:2] for line in shown.splitlines()[:-1]] == [
            ["web02", "tornado:tornado-8080"], ["web02", "tornado:tornado-8081"], ["web02", "worker"]]
        assert not browser.find_element(By.ID, "confirm-yes").is_displayed()
        browser.find_element(By.ID, "confirm-no").click()

        open_as(browser, server, web, "olga")
        assert [r.get_attribute("data-hostrow") for r in browser.find_elements(By.CSS_SELECTOR, "tr.host-row")] == [
            "web01", "web03"]                                   # web02 is in no group of hers
        wait_for(lambda: buttons(browser, "web01") == {"reread": False, "update": False, "restart all": True,
                                                       "avail": True, "reload": False,
                                                       "shutdown": False}, 10, "olga's buttons")
        browser.find_element(By.CSS_SELECTOR, 'tr.host-row[data-hostrow="web01"] button[data-act="restart-all"]'
                             ).click()
        wait_for(lambda: browser.find_element(By.ID, "confirm").is_displayed(), 10, "the confirmation")
        assert browser.find_element(By.ID, "confirm-text").text == (
            "restart every process on web01? This is not a rolling restart.")
        browser.find_element(By.ID, "confirm-yes").click()
        wait_for(lambda: result(browser).endswith("1 host: 3 restarted"), 15, "the restart")
        assert web01.supervisor.info("worker")["pid"] != pid
        web03.break_connection("the host went away")
        wait_for(lambda: buttons(browser, "web03") == {"reread": False, "update": False, "restart all": False,
                                                       "avail": False, "reload": False,
                                                       "shutdown": False}, 15, "web03 unreachable: disabled")
    finally:
        server.stop()
    trail = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(e["user"], e["action"], e["result"].split(":")[0]) for e in trail] == [
        ("bob", "restart", "refused"), ("bob", "shutdown", "refused"),
        ("olga", "restart", "needs confirmation"), ("olga", "restart", "done")]


def test_a_user_without_a_role_is_told_so_on_the_page(tmp_path: Path, browser: Any) -> None:
    server, web = serve_team({"default": dashboard(fakes(1))}, tmp_path, load_team(team_file(tmp_path, TEAM)))
    try:
        session = web.guard.sessions.create(User("mallory", "password"))
        browser.get(server.base + "/api/session")
        browser.add_cookie({"name": COOKIE, "value": session.sid, "path": "/"})
        browser.get(server.base + "/")
        wait_for(lambda: browser.find_element(By.TAG_NAME, "body").text ==
                 "mallory has no role here: an admin gives them one under roles: in the team file", 10,
                 "the sentence")
    finally:
        server.stop()


def test_a_roll_on_hosts_olga_does_not_all_see_is_shown_without_them(tmp_path: Path, browser: Any) -> None:
    hosts = fakes()
    server, web = serve_team({"default": dashboard(hosts)}, tmp_path, load_team(team_file(tmp_path, TEAM)))
    try:
        session = web.guard.sessions.create(User("ops", "password"))
        body = {"name": "tornado", "min_healthy": 0.1, "timeout_healthy": 10, "confirm": True}
        assert server.post("/api/roll", body, f"{COOKIE}={session.sid}", session.csrf).status == 200
        web.dashboard.rolls.thread.join(30)
        open_as(browser, server, web, "olga")                  # odd: web01 and web03, not web02
        browser.find_element(By.CSS_SELECTOR, '#nav button[data-view="rolls"]').click()
        wait_for(lambda: browser.find_element(By.ID, "roll-state").text.endswith("on hosts you do not all see"),
                 10, "the roll, without its hosts")
        assert browser.find_element(By.ID, "roll-state").text.startswith("rolling restart of tornado: ")
        assert browser.find_element(By.ID, "roll-log").text == ""
        assert browser.find_elements(By.CSS_SELECTOR, "#roll-hosts tr") == []
    finally:
        server.stop()


def test_under_read_only_even_an_admin_s_host_changes_are_disabled(tmp_path: Path, browser: Any) -> None:
    hosts = fakes(2)
    server, web = serve_team({"default": dashboard(hosts)}, tmp_path, load_team(team_file(tmp_path, TEAM)),
                             read_only=True)
    try:
        open_as(browser, server, web, "ops")
        wait_for(lambda: buttons(browser, "web02") == {"reread": False, "update": False, "restart all": False,
                                                       "avail": True, "reload": False,
                                                       "shutdown": False}, 10, "changes disabled, avail not")
    finally:
        server.stop()


# -- over a real fleet ---------------------------------------------------------------------------------

roles_fleet = module_fleet("webroles", hosts=2, light=True)


def running_pids(fleet: Any, host: str) -> dict[str, int]:
    """The RUNNING processes of ``host`` and their pids, read straight from its supervisord."""
    return {f"{p['group']}:{p['name']}": p["pid"] for p in fleet.rpc(host).supervisor.getAllProcessInfo()
            if p["statename"] == "RUNNING"}


def test_restart_all_and_reload_of_one_real_host(roles_fleet, tmp_path: Path) -> None:
    server = start_web(roles_fleet.inventory_path, tmp_path, "--accept-new", "--interval", "0.5")
    try:
        cookie, csrf = server.login()
        before = {h: running_pids(roles_fleet, h) for h in ("web01", "web02")}
        assert before["web01"] and before["web02"]
        restart_all = {"action": "restart", "targets": [{"host": "web01", "name": "all"}]}
        asked = server.post("/api/control", restart_all, cookie, csrf)
        assert asked.status == 409 and asked.json()["error"] == (
            "restart every process on web01? This is not a rolling restart.")
        assert running_pids(roles_fleet, "web01") == before["web01"]
        done = server.post("/api/control", {**restart_all, "confirm": True}, cookie, csrf)
        assert done.status == 200, done
        assert re.fullmatch(r"1 host: \d+ restarted.*", done.json()["lines"][-1]), done.json()["lines"]
        after = running_pids(roles_fleet, "web01")
        assert after.keys() >= before["web01"].keys()
        assert all(after[n] != pid for n, pid in before["web01"].items())
        assert running_pids(roles_fleet, "web02") == before["web02"]

        reload = {"action": "reload", "hosts": ["web02"]}
        asked = server.post("/api/supervisord", reload, cookie, csrf)
        assert asked.status == 409 and asked.json()["confirm"] is True
        supervisord = roles_fleet.rpc("web02").supervisor.getPID()
        done = server.post("/api/supervisord", {**reload, "confirm": True}, cookie, csrf)
        assert done.status == 200, done
        assert done.json()["lines"] == ["web02  supervisord  reloaded", "1 host: 1 reloaded"]
        # answered again (herd waited for RUNNING), in place: the same supervisord, every process new
        assert roles_fleet.rpc("web02").supervisor.getState()["statename"] == "RUNNING"
        assert roles_fleet.rpc("web02").supervisor.getPID() == supervisord
        reloaded = {p["name"]: p["pid"] for p in roles_fleet.rpc("web02").supervisor.getAllProcessInfo()}
        assert all(reloaded.get(n.split(":")[1]) != pid for n, pid in before["web02"].items())
        audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
        assert [(e["action"], e["result"]) for e in audit] == [
            ("restart", "needs confirmation"), ("restart", "done"), ("reload", "needs confirmation"),
            ("reload", "done")]
    finally:
        server.stop()
