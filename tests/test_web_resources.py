"""``herd web --resources`` in process: the real process agent on real processes, the real app and page.

The hosts are fake supervisords whose ``hog`` has a real pid of this machine
(tests/test_resources_agent.py); the agent runs for real on each poll.  The
page is checked in a headless chromium as tests/test_web_browser.py does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from selenium.webdriver.common.by import By

from herd.inventory.model import Inventory
from herd.testing.fake import FakeHost, FakeSource
from herd.web.actions import Dashboard
from test_resources_agent import MIB, hog, real_pid_host      # noqa: F401  (hog: the fixture)
from webtools import Events, WebServer, chrome, serve_dashboard, wait_for


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def serve(fakes: list[FakeHost], tmp_path: Path, resources: bool) -> WebServer:
    dashboard = Dashboard(Inventory("fake.yaml", tuple(h.host for h in fakes)), [h.host for h in fakes],
                          FakeSource(fakes), interval=0.3, resources=resources)
    return serve_dashboard(dashboard, tmp_path)


@pytest.fixture
def served(hog, tmp_path: Path) -> Iterator[tuple[WebServer, list[FakeHost]]]:
    fakes = [real_pid_host("web01", hog.pid), real_pid_host("web02", hog.pid)]
    web = serve(fakes, tmp_path, True)
    try:
        yield web, fakes
    finally:
        web.stop()


def test_status_json_has_the_resources_and_the_session_says_so(served, hog) -> None:
    web, fakes = served
    cookie, _ = web.login()
    assert web.get("/api/session", cookie).json()["resources"] is True

    def measured() -> dict | None:
        hosts = web.get("/api/status", cookie).json()["hosts"]
        ready = all(h["processes"] and h["processes"][0]["cpu_percent"] is not None for h in hosts)
        return hosts if ready else None

    hosts = wait_for(measured, 10, "CPU % on both hosts (from their second poll)")
    for host in hosts:
        process = host["processes"][0]
        assert process["name"] == "hog" and process["pid"] == hog.pid
        assert 48 * MIB <= process["rss_bytes"] <= 200 * MIB and 10 <= process["cpu_percent"] <= 110
        assert process["process_group"] is False and process["children"] == 1
        assert host["resources_error"] is None
    assert all(len(h.agents) == 1 for h in fakes)          # one agent per host, kept between polls


def test_each_poll_is_pushed_with_resources_although_nothing_changed(served) -> None:
    web, _ = served
    cookie, _ = web.login()
    events = Events(web, cookie)
    try:
        assert events.next()[0] == "snapshot" and events.next()[0] == "roll-status"
        pushed: list[dict[str, Any]] = []
        while len(pushed) < 6:
            kind, data = events.next()
            if kind == "host" and data["host"] == "web01":
                pushed.append(data["processes"][0])
    finally:
        events.close()
    assert all(p["state"] == "RUNNING" and p["rss_bytes"] >= 48 * MIB for p in pushed)
    assert sum(1 for p in pushed if p["cpu_percent"] is not None) >= 5


def test_without_the_flag_nothing_is_sampled_nor_shown(hog, tmp_path: Path) -> None:
    fakes = [real_pid_host("web01", hog.pid)]
    web = serve(fakes, tmp_path, False)
    try:
        cookie, _ = web.login()
        assert web.get("/api/session", cookie).json()["resources"] is False
        host = wait_for(lambda: (h := web.get("/api/status", cookie).json()["hosts"][0])["polled"] and h, 5, "a poll")
        assert "rss_bytes" not in host["processes"][0] and "resources_error" not in host
        assert fakes[0].agents == []
    finally:
        web.stop()


def _headers(driver: Any) -> list[str]:
    """The table's visible column titles (a stale element raises: wait_for reads again)."""
    return [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#fleet thead th") if th.is_displayed()]


def test_the_page_shows_rss_and_cpu_columns_only_with_resources(hog, tmp_path: Path) -> None:
    fakes = [real_pid_host("web01", hog.pid)]
    web, plain = serve(fakes, tmp_path / "a", True), serve([real_pid_host("web02", hog.pid)], tmp_path / "b", False)
    driver = chrome()
    try:
        driver.get(web.url)
        row = 'tr[data-host="web01"][data-process="hog"]'
        cpu = wait_for(lambda: (t := driver.find_element(By.CSS_SELECTOR, f"{row} td.cpu").text) != "-" and t,
                       15, "the CPU % cell")
        assert 10 <= float(cpu) <= 110
        # the table is drawn again at every poll (resources move): an element read between two draws is stale
        rss = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, f"{row} td.rss").text, 10, "the RSS cell")
        assert rss.endswith("M") and 48 <= float(rss[:-1]) <= 200
        headers = wait_for(lambda: _headers(driver), 10, "the headers")
        assert headers[4:8] == ["PID", "UPTIME", "RSS", "CPU%"]
        driver.get(plain.url)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, 'tr[data-host="web02"][data-process="hog"]'), 15,
                 "the plain page's row")
        headers = wait_for(lambda: _headers(driver), 10, "the headers")
        assert "RSS" not in headers and "CPU%" not in headers
        assert driver.find_elements(By.CSS_SELECTOR, "#rows td.rss") == []
    finally:
        driver.quit()
        web.stop()
        plain.stop()
