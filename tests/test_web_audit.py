"""The audit trail in the page: GET /api/audit (in process, over fakes) and the audit view (real Chromium, real fleet).

The page's actions and the CLI's land in one trail (herd/audit.py); the API reads it newest first
with filters, and, with a team file, shows a user only the entries of the hosts they may see.
``HERD_SCREENSHOTS=DIR`` also saves the audit view as web-audit.png there (docs/ has it).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver.common.by import By

from herd.audit import AuditTrail
from herd.inventory.model import Inventory
from herd.testing.fake import FakeHost, FakeSource, FakeSupervisor, ProgramSpec
from herd.testing.pytest_plugin import module_fleet
from herd.web.access import Ability
from herd.web.actions import Dashboard
from herd.web.app import Web
from herd.web.security import Guard, User
from helpers import herd, herd_env
from webtools import WebServer, chrome, serve_dashboard, start_web, wait_for


def fakes(count: int = 3) -> list[FakeHost]:
    return [FakeHost(f"web{i:02d}", FakeSupervisor([ProgramSpec("worker")])) for i in range(1, count + 1)]


def dashboard(hosts: list[FakeHost]) -> Dashboard:
    inventory = Inventory("fake.yaml", tuple(h.host for h in hosts), groups={"web": tuple(h.name for h in hosts)})
    return Dashboard(inventory, [h.host for h in hosts], FakeSource(hosts), interval=0.2)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def cli_entry(trail: AuditTrail, action: str, host: str, user: str = "carol") -> None:
    """An entry as a herd command writes it (tests/test_audit_cli.py proves the real one)."""
    trail.record(action, {"names": ["worker"]}, "done", user=user, via="cli", client="ops1",
                 hosts={host: [f"{host} worker {action}ed"], "summary": ["1 host"]}, exit_code=0)


def test_the_api_lists_page_and_cli_entries_newest_first_with_filters(tmp_path: Path) -> None:
    web = serve_dashboard(dashboard(fakes()), tmp_path)
    trail = AuditTrail(tmp_path / "audit.jsonl")
    try:
        cookie, csrf = web.login()
        cli_entry(trail, "restart", "web03")
        answer = web.post("/api/control", {"action": "stop", "targets": [{"host": "web01", "name": "worker"}]},
                          cookie, csrf)
        assert answer.status == 200
        assert web.post("/api/control", {"action": "start", "targets": [{"host": "web02", "name": "nosuch"}]},
                        cookie, csrf).status in (200, 400)
        every = web.get("/api/audit", cookie).json()["entries"]
        assert [(e["action"], e["via"]) for e in every] == [("start", "token"), ("stop", "token"),
                                                            ("restart", "cli")]
        stop = every[1]
        assert stop["hosts"] == {"web01": ["web01 worker stopped"], "summary": ["1 host: 1 stopped"]}
        assert stop["result"] == "done" and stop["exit_code"] == 0 and stop["from"].startswith("127.0.0.1:")

        def listed(query: str) -> list[str]:
            return [e["action"] for e in web.get(f"/api/audit?{query}", cookie).json()["entries"]]

        assert listed("user=carol") == ["restart"]
        assert listed("action=stop") == ["stop"]
        assert listed("host=web02") == ["start"]
        assert listed("result=done") == ["stop", "restart"]
        assert listed("q=ops1") == ["restart"]
        assert listed("limit=1") == ["start"]
        assert listed("user=nobody") == []
        assert web.get("/api/audit?limit=x", cookie).json() == {"error": "limit must be a number"}
        assert web.get("/api/audit?env=nosuch", cookie).status == 400
        assert web.get("/api/audit", "herd_session=nope").status == 403      # no session: nothing
    finally:
        web.stop()


def test_no_token_cookie_or_csrf_reaches_the_trail(tmp_path: Path) -> None:
    web = serve_dashboard(dashboard(fakes(1)), tmp_path)
    try:
        cookie, csrf = web.login()
        web.post("/api/control", {"action": "restart", "targets": [{"host": "web01", "name": "worker"}],
                                  "token": web.token, "csrf": csrf}, cookie, csrf)
        web.post("/api/control", {"action": "stop", "targets": []}, cookie, "wrong-" + csrf)
    finally:
        web.stop()
    text = (tmp_path / "audit.jsonl").read_text()
    assert len(text.splitlines()) == 2
    for secret in (web.token, csrf, cookie.split("=", 1)[1]):
        assert secret not in text


class OnlyTheirHosts:
    """An Access that lets each user see the hosts listed for them (the team file's, in small)."""

    def __init__(self, hosts: dict[str, list[str]]) -> None:
        self.hosts = hosts

    def refusal(self, user: User, ability: Ability, env: str, hosts: Sequence[str],
                action: str | None = None) -> str | None:
        mine = self.hosts.get(user.name, [])
        return None if all(h in mine for h in hosts) else f"{user.name} may not {ability.value} there"

    def visible(self, user: User, env: str, hosts: Sequence[str]) -> list[str]:
        return [h for h in hosts if h in self.hosts.get(user.name, [])]

    def abilities(self, user: User, env: str, hosts: Sequence[str]) -> dict[str, list[str]]:
        return {h: ["see"] for h in self.visible(user, env, hosts)}

    def environments(self, user: User, envs: Sequence[str]) -> list[str]:
        return list(envs)

    def denied(self, user: User, env: str) -> str | None:
        return None if self.hosts.get(user.name) else f"{user.name} has no role here"


def ask(web: Web, user: User, query: str = "") -> tuple[int, Any]:
    from starlette.requests import Request

    scope = {"type": "http", "method": "GET", "path": "/api/audit", "query_string": query.encode(), "headers": [],
             "state": {"herd_user": user}}
    response = asyncio.run(web.audit_entries(Request(scope)))
    return response.status_code, json.loads(response.body)


def test_with_roles_a_user_sees_only_the_entries_of_the_hosts_they_see(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl")
    cli_entry(trail, "restart", "web01")
    cli_entry(trail, "stop", "web02")
    trail.record("update", {"hosts": ["web01", "web02"]}, "done", user="admin", via="proxy",
                 hosts={"web01": [], "web02": []})
    trail.record("/api/control", None, "refused: missing CSRF", user="mallory", via="proxy")   # names no host
    access = OnlyTheirHosts({"bob": ["web01"], "admin": ["web01", "web02", "web03"]})
    web = Web(dashboard(fakes()), Guard("t", 1, "127.0.0.1"), trail, read_only=False, access=access)
    status, bob = ask(web, User("bob", "proxy"))
    assert status == 200 and [e["action"] for e in bob["entries"]] == ["restart"]
    _, admin = ask(web, User("admin", "proxy"))
    assert [e["action"] for e in admin["entries"]] == ["/api/control", "update", "stop", "restart"]
    status, nobody = ask(web, User("eve", "proxy"))
    assert status == 403 and nobody["error"] == "eve may not see there"
    assert [e["action"] for e in ask(web, User("bob", "proxy"), "host=web02")[1]["entries"]] == []


# -- the audit view in a real browser --------------------------------------------------------------

afleet = module_fleet("webaudit", hosts=2, light=True)


@pytest.fixture(scope="module")
def server(afleet, tmp_path_factory) -> Iterator[WebServer]:
    home = tmp_path_factory.mktemp("webaudithome")
    web = start_web(afleet.inventory_path, home, "--accept-new", "--interval", "0.5")
    try:
        yield web
    finally:
        web.stop()


def rows(driver: Any) -> list[tuple[str, str, str, str]]:
    """(user, via, action, hosts) of each row of the audit view."""
    return [tuple(r.find_element(By.CSS_SELECTOR, f"td.audit-{c}").text for c in ("user", "via", "action", "hosts"))
            for r in driver.find_elements(By.CSS_SELECTOR, "#audit-rows tr")]


def test_the_audit_view_lists_page_and_cli_actions_and_keeps_its_filter_in_the_url(server, afleet, home) -> None:
    from herd.audit import local_account

    me = local_account()
    cookie, csrf = server.login()
    page = server.post("/api/control", {"action": "restart", "targets": [{"host": "web01", "name": "worker"}]},
                       cookie, csrf)
    assert page.status == 200, page.body
    cli = herd("stop", "worker", "-H", "web02", "-i", str(afleet.inventory_path), home=home,
               env=herd_env(home, HERD_AUDIT_LOG=str(server.audit)))
    assert cli.code == 0, cli.err
    try:
        driver = chrome()
        try:
            driver.get(server.url)
            driver.get(f"{server.base}/?view=audit")
            listed = wait_for(lambda: len(rows(driver)) >= 2 and rows(driver), what="two audit rows")
            assert listed[:2] == [(me, "cli", "stop worker", "web02"), (me, "token", "restart worker", "web01")]
            assert driver.find_element(By.CSS_SELECTOR, "#audit-rows tr td.audit-result").text == "done"
            if os.environ.get("HERD_SCREENSHOTS"):          # docs/web-audit.png
                driver.find_element(By.ID, "view-audit").screenshot(
                    str(Path(os.environ["HERD_SCREENSHOTS"]) / "web-audit.png"))
            box = driver.find_element(By.ID, "audit-action")
            box.send_keys("restart")
            wait_for(lambda: [r[2] for r in rows(driver)] == ["restart worker"], what="the filter narrowing")
            assert parse_qs(urlsplit(driver.current_url).query)["audit_action"] == ["restart"]
            driver.refresh()
            wait_for(lambda: driver.find_element(By.ID, "audit-action").get_attribute("value") == "restart",
                     what="the filter back from the URL")
            wait_for(lambda: [r[2] for r in rows(driver)] == ["restart worker"], what="the filtered rows on reload")
            driver.find_element(By.ID, "audit-host").send_keys("web02")
            wait_for(lambda: rows(driver) == [] and driver.find_element(By.ID, "audit-empty").is_displayed(),
                     what="no entry matches")
            driver.find_element(By.ID, "audit-clear").click()
            wait_for(lambda: len(rows(driver)) >= 2, what="every entry again")
            assert "audit_" not in urlsplit(driver.current_url).query
            again = herd("start", "worker", "-H", "web02", "-i", str(afleet.inventory_path), home=home,
                         env=herd_env(home, HERD_AUDIT_LOG=str(server.audit)))
            assert again.code == 0
            wait_for(lambda: rows(driver)[0][2] == "start worker", timeout=15, what="a new entry within a poll")
        finally:
            driver.quit()
    finally:
        afleet.supervisorctl("web02", "start", "worker")
