"""The page an operator works in (herd/web/static): views, filters in the URL, health from the table's own poll,
the Logs view, selections, the programs offered, buttons disabled where they cannot work.

Real Chromium over the real app (serve_dashboard, in this process) over herd.testing.fake fleets: fast, and
everything above the wire is the real thing.  The real-fleet proofs are tests/test_web_browser.py and
tests/test_web_envs.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from herd.inventory.model import Expectation, Inventory
from herd.testing.fake import FakeHost, FakeSource, FakeSupervisor, ProgramSpec
from herd.web.access import Ability
from herd.web.actions import Dashboard
from herd.web.security import User, local_account
from webtools import Events, WebServer, browsing, serve_dashboard, shot, wait_for

pytestmark = pytest.mark.xdist_group("chromium-page")
ME = local_account()


def fakes(*names: str) -> list[FakeHost]:
    return [FakeHost(name, FakeSupervisor([ProgramSpec("tornado", numprocs=2, numprocs_start=8080),
                                           ProgramSpec("worker")])) for name in names]


def dashboard(hosts: Sequence[FakeHost], interval: float = 0.2, **inventory: Any) -> Dashboard:
    inv = Inventory("fake.yaml", tuple(h.host for h in hosts), groups={"web": tuple(h.name for h in hosts)},
                    **inventory)
    return Dashboard(inv, [h.host for h in hosts], FakeSource(list(hosts)), interval=interval)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with browsing() as browser:
        yield browser


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[WebServer, list[FakeHost]]]:
    """The app over two fake hosts (not named ``fleet``: that is a real fleet's fixture, tests/conftest.py)."""
    hosts = fakes("web01", "web02")
    web = serve_dashboard(dashboard(hosts), tmp_path)
    try:
        yield web, hosts
    finally:
        web.stop()


def open_page(driver: Any, web: WebServer, query: str = "") -> None:
    driver.get(web.url)                         # the token for a session cookie, then /
    if query:
        driver.get(f"{web.base}/?{query}")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#rows tr[data-process]"), 15, "the table")


def rows(driver: Any) -> list[tuple[str, str, str]]:
    """(host, process, state) of every process row shown."""
    return [(r.get_attribute("data-host"), r.get_attribute("data-process"), r.find_element(By.CSS_SELECTOR,
                                                                                         "td.state").text)
            for r in driver.find_elements(By.CSS_SELECTOR, "#rows tr[data-process]")]


def query(driver: Any) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit
    return dict(parse_qsl(urlsplit(driver.current_url).query))


def state_of(driver: Any, host: str, process: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-host="{host}"][data-process="{process}"] td.state').text


def nav(driver: Any, view: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#nav button[data-view="{view}"]').click()
    wait_for(lambda: driver.find_element(By.ID, f"view-{view}").is_displayed(), 5, f"the {view} view")


# -- views and the URL ----------------------------------------------------------------------


def test_filters_and_the_view_are_in_the_url_and_survive_a_reload(driver, served) -> None:
    web, hosts = served
    hosts[1].client().call("supervisor.stopProcess", "worker", False)
    open_page(driver, web)
    assert [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#nav button") if b.is_displayed()] == [
        "Processes", "Logs", "Rolls", "Health", "Audit"]
    assert not driver.find_element(By.ID, "env-box").is_displayed()          # one environment: no switcher
    Select(driver.find_element(By.ID, "filter-state")).select_by_value("!RUNNING")
    wait_for(lambda: rows(driver) == [("web02", "worker", "STOPPED")], 10, "only web02's worker")
    driver.find_element(By.CSS_SELECTOR, '#fleet th[data-sort="uptime"]').click()
    driver.find_element(By.CSS_SELECTOR, '#fleet th[data-sort="uptime"]').click()
    Select(driver.find_element(By.ID, "filter-state")).select_by_value("")
    driver.find_element(By.ID, "filter-text").send_keys("tornado")
    Select(driver.find_element(By.ID, "filter-host")).select_by_value("web01")
    wait_for(lambda: query(driver) == {"host": "web01", "q": "tornado", "sort": "-uptime"}, 5, "the URL")
    shown = wait_for(lambda: (r := rows(driver)) and len(r) == 2 and r, 5, "web01's tornados")

    driver.refresh()
    wait_for(lambda: rows(driver) == shown, 15, "the same rows after a reload")
    assert driver.find_element(By.ID, "filter-text").get_attribute("value") == "tornado"
    assert Select(driver.find_element(By.ID, "filter-host")).first_selected_option.text == "web01"
    assert "sorted" in driver.find_element(By.CSS_SELECTOR, '#fleet th[data-sort="uptime"]').get_attribute("class")

    nav(driver, "health")
    assert query(driver)["view"] == "health" and "q" not in query(driver)
    driver.back()                               # back: the Processes view, its filters as they were
    wait_for(lambda: driver.find_element(By.ID, "view-processes").is_displayed(), 5, "back to the table")
    assert not driver.find_element(By.ID, "view-health").is_displayed()
    wait_for(lambda: rows(driver) == shown, 5, "the filtered rows")

    driver.get(f"{web.base}/?view=logs&host=web02&program=worker")      # a bookmark of one process's log
    wait_for(lambda: driver.find_element(By.ID, "view-logs").is_displayed(), 10, "the Logs view")
    form = driver.find_element(By.ID, "logs-form")
    assert form.find_element(By.NAME, "name").get_attribute("value") == "worker"
    assert form.find_element(By.NAME, "hosts").get_attribute("value") == "web02"
    assert not driver.find_element(By.ID, "view-processes").is_displayed()


def test_an_environment_not_served_is_said_so_in_one_sentence(driver, served) -> None:
    web, _ = served
    cookie, _ = web.login()
    answer = web.get("/api/session?env=nope", cookie)
    assert answer.status == 400 and answer.json() == {"error": "no environment 'nope' here (environments: default)"}
    driver.get(web.url)
    driver.get(f"{web.base}/?env=nope&view=logs")
    text = wait_for(lambda: (t := driver.find_element(By.TAG_NAME, "body").text) and "nope" in t and t, 10, "the page")
    assert text.splitlines() == ["herd web: no environment 'nope' here (environments: default)",
                                 "open the first environment"]
    driver.find_element(By.LINK_TEXT, "open the first environment").click()
    wait_for(lambda: driver.find_element(By.ID, "view-logs").is_displayed(), 10, "the Logs view, first environment")


# -- health from the same poll as the table ---------------------------------------------------


def test_the_row_and_its_health_come_in_one_batch_of_events(served) -> None:
    web, hosts = served
    cookie, _ = web.login()
    wait_for(lambda: all(h["polled"] for h in web.get("/api/status", cookie).json()["hosts"]), 5, "first polls")
    events = Events(web, cookie)
    try:
        kind, snapshot = events.next()
        assert kind == "snapshot" and snapshot["health"]["status"] == "OK"
        assert snapshot["health"]["summary"] == "2 hosts, 6 processes RUNNING"
        assert events.next()[0] == "roll-status"
        hosts[0].client().call("supervisor.stopProcess", "worker", False)
        first, second = events.next(), events.next()
    finally:
        events.close()
    assert first[0] == "host" and [p["state"] for p in first[1]["processes"] if p["name"] == "worker"] == ["STOPPED"]
    assert second[0] == "health" and second[1]["status"] == "CRITICAL"
    assert second[1]["summary"] == "1 problem: web01 worker STOPPED"
    assert second[1]["counts"]["processes_running"] == 5


def test_a_quiet_poll_is_graded_at_most_once_an_interval_and_a_change_at_once() -> None:
    """(With a min_uptime rule: the grade moves with time alone.)"""
    from herd.web.health import HealthFeed

    hosts = fakes("web01", "web02")
    rules = {"web": Expectation("web", ("web01", "web02"), running=("worker",), min_uptime=1)}
    dash = dashboard(hosts, interval=1.0, expect=rules)
    assert not HealthFeed(dashboard(hosts)).timed          # without min_uptime, a quiet poll is never graded
    feed = HealthFeed(dash)
    told: list[tuple[str | None, bool]] = []

    def poll(name: str) -> None:
        feed.poll(dash.poller.poll_once(name), lambda row, graded: told.append(
            (row["host"] if row else None, graded is not None)))

    poll("web01"), poll("web02")
    assert told == [("web01", True), ("web02", True)]      # first polls: changes, each graded with its row
    poll("web01"), poll("web02")
    assert told[2:] == []                                   # nothing changed, graded a moment ago
    time.sleep(dash.poller.interval)
    poll("web01"), poll("web02")
    assert told[2:] == [(None, True)]                       # an interval on: graded again once (rules over time)
    hosts[1].client().call("supervisor.stopProcess", "worker", False)
    poll("web02")
    assert told[3:] == [("web02", True)]
    graded = feed.snapshot()
    assert dash.health(graded)["summary"] == "1 problem: web02 worker STOPPED"


def test_rows_and_gradings_that_reach_the_loop_together_are_sent_together_graded_once() -> None:
    import asyncio

    from herd.web.health import Outbox

    sent: list[tuple[str, Any]] = []
    loop = asyncio.new_event_loop()
    try:
        outbox = Outbox(loop, lambda kind, data: sent.append((kind, data)),
                        lambda graded: sent.append(("health", graded)))
        first, second = object(), object()
        outbox.send({"host": "web01"}, first)    # type: ignore[arg-type]
        outbox.send({"host": "web02"}, second)   # type: ignore[arg-type]
        outbox.send({"host": "web01"}, None)
        assert sent == []
        loop.run_until_complete(asyncio.sleep(0))
        assert sent == [("host", {"host": "web01"}), ("host", {"host": "web02"}), ("host", {"host": "web01"}),
                        ("health", second)]
    finally:
        loop.close()


def test_the_badge_never_disagrees_with_the_table(driver, served) -> None:
    web, hosts = served
    open_page(driver, web)
    wait_for(lambda: driver.find_element(By.ID, "health-badge").text == "OK", 10, "OK")
    # every frame, what the page shows: web01 worker's state and the badge (a lagging badge is caught)
    driver.execute_script("""
        window.shown = [];
        const look = () => {
          const cell = document.querySelector('tr[data-host="web01"][data-process="worker"] td.state');
          const now = (cell ? cell.textContent : "-") + " " + document.getElementById("health-badge").textContent;
          if (window.shown[window.shown.length - 1] !== now) window.shown.push(now);
          requestAnimationFrame(look);
        };
        look();""")
    hosts[0].client().call("supervisor.stopProcess", "worker", False)
    wait_for(lambda: state_of(driver, "web01", "worker") == "STOPPED", 10, "STOPPED")
    hosts[0].client().call("supervisor.startProcess", "worker", False)
    wait_for(lambda: state_of(driver, "web01", "worker") == "RUNNING", 10, "RUNNING again")
    time.sleep(0.5)
    seen = driver.execute_script("return window.shown")
    assert seen[:2] == ["RUNNING OK", "STOPPED CRITICAL"] and seen[-1] == "RUNNING OK", seen
    assert set(seen) <= {"RUNNING OK", "STOPPED CRITICAL", "STARTING WARNING"}, seen    # never one without the other
    nav(driver, "health")
    assert driver.find_element(By.ID, "health-summary").text == "OK: 2 hosts, 6 processes RUNNING"


def test_the_health_view_lists_problems_and_expect_rules(driver, tmp_path) -> None:
    hosts = fakes("web01", "web02")
    rules = {"web": Expectation("web", ("web01", "web02"), running=("worker",), min_uptime=0)}
    web = serve_dashboard(dashboard(hosts, expect=rules), tmp_path)
    try:
        hosts[1].client().call("supervisor.stopProcess", "worker", False)
        open_page(driver, web, "view=health")
        summary = wait_for(lambda: (t := driver.find_element(By.ID, "health-summary").text) and "problem" in t and t,
                           10, "the problem")
        assert summary.startswith("CRITICAL: 1 problem: web02 worker STOPPED")
        problems = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#health-problems li")]
        assert len(problems) == 1 and problems[0].startswith("CRITICAL web02 worker: ")
        assert problems[0].endswith("(required by expect.web)")
        assert [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#health-expect li")] == [
            "expect.web (web01, web02): running worker"]
        assert driver.find_element(By.ID, "health-badge").text == "CRITICAL"
        shot(driver, "web-health.png")
    finally:
        web.stop()


# -- actions -------------------------------------------------------------------------------------


def tick(driver: Any, host: str, process: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'tr[data-host="{host}"][data-process="{process}"] td.check input').click()


def test_the_selection_is_cleared_once_its_action_is_done(driver, served) -> None:
    web, hosts = served
    open_page(driver, web)
    tick(driver, "web01", "worker")
    tick(driver, "web01", "tornado:tornado-8080")
    assert driver.find_element(By.ID, "selected-count").text == "2 selected"
    driver.find_element(By.CSS_SELECTOR, 'button.sel[data-action="stop"]').click()
    wait_for(lambda: "2 stopped" in driver.find_element(By.ID, "result").text, 10, "the result")
    assert hosts[0].supervisor.states()["worker"] == "STOPPED"
    wait_for(lambda: driver.find_element(By.ID, "selected-count").text == "0 selected", 5, "nothing selected")
    wait_for(lambda: driver.find_element(By.ID, "health-badge").text == "CRITICAL", 5, "the badge")
    shot(driver, "web-processes.png")
    assert not [b for b in driver.find_elements(By.CSS_SELECTOR, "#rows td.check input") if b.is_selected()]
    assert all(not b.is_enabled() for b in driver.find_elements(By.CSS_SELECTOR, "button.sel"))


def test_the_roll_form_offers_the_programs_that_exist_and_refuses_others(driver, served) -> None:
    web, hosts = served
    hosts[1].supervisor.add_program(ProgramSpec("cron"))
    open_page(driver, web)
    nav(driver, "rolls")
    options = wait_for(lambda: (o := [e.get_attribute("value") for e in driver.find_elements(
        By.CSS_SELECTOR, "#roll-programs option")]) and "cron" in o and o, 10, "the programs")
    assert options == ["cron", "tornado", "worker"]
    name = driver.find_element(By.ID, "roll-name")
    name.send_keys("tornadoo")
    driver.find_element(By.ID, "roll-start").click()
    assert driver.execute_script("return document.getElementById('roll-name').validationMessage") == (
        "no program tornadoo on these hosts: choose one of cron, tornado, worker")
    assert not driver.find_element(By.ID, "confirm").is_displayed()         # nothing asked of the server
    name.clear()
    name.send_keys("tornado")
    driver.find_element(By.ID, "roll-start").click()
    plan = wait_for(lambda: driver.find_element(By.ID, "confirm").is_displayed()
                    and driver.find_element(By.ID, "confirm-text").text, 10, "the plan")
    assert "rolling restart of tornado" in plan
    driver.find_element(By.ID, "confirm-no").click()
    assert query(driver)["program"] == "tornado"


def test_an_unreachable_host_s_buttons_are_disabled_saying_why(driver, served) -> None:
    web, hosts = served
    open_page(driver, web)
    hosts[1].break_connection("connection reset by peer")
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, 'tr.error-row[data-host="web02"]'), 10, "web02 down")
    for act in ("reread", "update"):
        button = driver.find_element(By.CSS_SELECTOR, f'tr[data-hostrow="web02"] button[data-act="{act}"]')
        assert not button.is_enabled()
        assert button.get_attribute("title").startswith("web02 is unreachable: ")
        assert driver.find_element(By.CSS_SELECTOR, f'tr[data-hostrow="web01"] button[data-act="{act}"]').is_enabled()
    assert driver.find_elements(By.CSS_SELECTOR, 'tr[data-host="web02"] td.check input') == []
    hosts[1].repair()
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, 'tr[data-hostrow="web02"] button[data-act="update"]')
             .is_enabled(), 15, "web02 back, its buttons too")


class OnlyWeb01:
    """An Access stub: everything on web01, only seeing on web02."""

    def refusal(self, user: User, ability: Ability, env: str, hosts: Sequence[str],
                action: str | None = None) -> str | None:
        others = [h for h in hosts if h != "web01"]
        return None if ability is Ability.SEE or not others else f"{user.name} may only see {others[0]}"

    def visible(self, user: User, env: str, hosts: Sequence[str]) -> list[str]:
        return list(hosts)

    def abilities(self, user: User, env: str, hosts: Sequence[str]) -> dict[str, list[str]]:
        return {h: [a.value for a in Ability] if h == "web01" else ["see"] for h in hosts}

    def denied(self, user: User, env: str) -> str | None:
        return None

    def environments(self, user: User, envs: Sequence[str]) -> list[str]:
        return list(envs)


def test_abilities_disable_what_the_role_does_not_allow(driver, tmp_path) -> None:
    hosts = fakes("web01", "web02")
    web = serve_dashboard(dashboard(hosts), tmp_path, access=OnlyWeb01())
    try:
        open_page(driver, web)
        wait_for(lambda: driver.find_element(By.CSS_SELECTOR, 'tr[data-host="web01"] button[data-act="stop"]')
                 .is_enabled(), 10, "web01's buttons")
        stop = driver.find_element(By.CSS_SELECTOR, 'tr[data-host="web02"][data-process="worker"] button[data-act="stop"]')
        assert not stop.is_enabled()
        assert stop.get_attribute("title") == (
            f"not allowed: {ME} may not start, stop, restart, signal or clear processes on web02")
        assert not driver.find_element(By.CSS_SELECTOR, 'tr[data-host="web02"][data-process="worker"] td.check input') \
            .is_enabled()
        assert driver.find_element(By.CSS_SELECTOR, 'tr[data-host="web01"][data-process="worker"] td.check input') \
            .is_enabled()
        update = driver.find_element(By.CSS_SELECTOR, 'tr[data-hostrow="web02"] button[data-act="update"]')
        assert not update.is_enabled() and update.get_attribute("title").startswith(f"not allowed: {ME} may not reread")
        shown = driver.find_element(By.ID, "update-shown")
        assert not shown.is_enabled() and "web02" in shown.get_attribute("title")
        Select(driver.find_element(By.ID, "filter-host")).select_by_value("web01")
        wait_for(lambda: driver.find_element(By.ID, "update-shown").is_enabled(), 5, "update on web01 alone")
        nav(driver, "rolls")
        assert driver.find_element(By.ID, "roll-start").is_enabled()
        # a page that is not up to date is still answered by the server: 403 and its sentence
        driver.execute_script("document.querySelector('#nav button[data-view=\"processes\"]').click();"
                              "document.getElementById('filter-host').value = '';"
                              "document.getElementById('filter-host').dispatchEvent(new Event('input'));")
        driver.execute_script("control('stop', [{host: 'web02', name: 'worker'}])")
        wait_for(lambda: driver.find_element(By.ID, "result").text == f"{ME} may only see web02", 10, "403")
        assert hosts[1].supervisor.states()["worker"] == "RUNNING"
    finally:
        web.stop()


# -- the Logs view -----------------------------------------------------------------------------


def log_lines(driver: Any) -> list[str]:
    return [line.text for line in driver.find_elements(By.CSS_SELECTOR, "#logs > div")]


def follow_worker(driver: Any, web: WebServer) -> None:
    open_page(driver, web, "view=logs&program=worker")
    wait_for(lambda: driver.find_element(By.ID, "logs").get_attribute("data-following") == "1", 10, "following")


def test_the_logs_view_colours_each_host_and_searches_without_html(driver, tmp_path) -> None:
    hosts = fakes("web01", "web02", "web03")
    web = serve_dashboard(dashboard(hosts), tmp_path)
    try:
        follow_worker(driver, web)
        for i, host in enumerate(hosts):
            host.supervisor.write_log("worker", f"job {i}1 GET /health 200\njob {i}2 <b>POST</b> /orders 201\n"
                                                f"job {i}3 GET /orders/{i} 200\n".encode())
        wait_for(lambda: len(log_lines(driver)) == 9, 10, "every host's lines")
        colours: dict[str, set[str]] = {}
        for line in driver.find_elements(By.CSS_SELECTOR, "#logs > div.line"):
            prefix = line.find_element(By.CSS_SELECTOR, ".prefix")
            colours.setdefault(line.get_attribute("data-host"), set()).add(prefix.value_of_css_property("color"))
        assert set(colours) == {"web01", "web02", "web03"} and all(len(c) == 1 for c in colours.values())
        assert len(set.union(*colours.values())) == 3          # one colour per host, each its own
        assert driver.find_elements(By.CSS_SELECTOR, "#logs b") == []

        driver.find_element(By.ID, "logs-search").send_keys("<B>post")
        # (each host's lines in order; the hosts' in the order they arrived)
        wait_for(lambda: sorted(log_lines(driver)) == [f"web0{i + 1} worker | job {i}2 <b>POST</b> /orders 201"
                                                       for i in range(3)], 5, "the matching lines")
        assert [m.text for m in driver.find_elements(By.CSS_SELECTOR, "#logs mark")] == ["<b>POST"] * 3
        assert driver.find_element(By.ID, "logs-count").text == "3 of 9 lines match"
        assert query(driver)["q"] == "<B>post"
        driver.find_element(By.ID, "logs-search").send_keys(Keys.BACKSPACE * 7 + "orders")
        wait_for(lambda: len(log_lines(driver)) == 6, 5, "the lines with 'orders'")
        shot(driver, "web-logs.png")
        hosts[0].supervisor.write_log("worker", b"job 04 GET /health 200\njob 05 PUT /orders/7 204\n")
        wait_for(lambda: log_lines(driver)[-1] == "web01 worker | job 05 PUT /orders/7 204", 10, "a new match, shown")
        assert len(log_lines(driver)) == 7
        driver.find_element(By.ID, "logs-search").clear()
        driver.execute_script("document.getElementById('logs-search').dispatchEvent(new Event('input'))")
        wait_for(lambda: len(log_lines(driver)) == 11, 5, "every line again")
        assert driver.find_elements(By.CSS_SELECTOR, "#logs mark") == []
    finally:
        web.stop()


def test_pause_keeps_lines_coming_and_resume_shows_them(driver, served) -> None:
    web, hosts = served
    follow_worker(driver, web)
    hosts[0].supervisor.write_log("worker", b"before\n")
    wait_for(lambda: log_lines(driver) == ["web01 worker | before"], 10, "the first line")
    driver.find_element(By.ID, "logs-pause").click()
    assert driver.find_element(By.ID, "logs-pause").text == "resume"
    hosts[0].supervisor.write_log("worker", b"one\ntwo\n")
    hosts[1].supervisor.write_log("worker", b"three\n")
    wait_for(lambda: driver.find_element(By.ID, "logs-pending").text == "3 new lines", 10, "3 new lines")
    assert log_lines(driver) == ["web01 worker | before"]
    driver.find_element(By.ID, "logs-pause").click()
    assert sorted(log_lines(driver)) == sorted(["web01 worker | before", "web01 worker | one", "web01 worker | two",
                                                "web02 worker | three"])
    assert not driver.find_element(By.ID, "logs-pending").is_displayed()
    assert driver.find_element(By.ID, "logs-count").text == "4 lines"


def test_download_saves_the_shown_lines(driver, served, tmp_path) -> None:
    web, hosts = served
    folder = tmp_path / "downloads"
    folder.mkdir()
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
    follow_worker(driver, web)
    hosts[0].supervisor.write_log("worker", "alpha\nbeta é\ngamma\n".encode())
    wait_for(lambda: len(log_lines(driver)) == 3, 10, "the lines")
    driver.find_element(By.ID, "logs-search").send_keys("a")
    wait_for(lambda: len(log_lines(driver)) == 3, 5, "all match 'a'")
    driver.find_element(By.ID, "logs-search").send_keys("m")
    wait_for(lambda: log_lines(driver) == ["web01 worker | gamma"], 5, "gamma")
    driver.find_element(By.ID, "logs-download").click()
    saved = wait_for(lambda: [p for p in folder.iterdir() if p.suffix == ".txt"], 10, "the file")
    assert len(saved) == 1 and saved[0].name.startswith("herd-default-worker-")
    assert saved[0].read_text() == "web01 worker | gamma\n"
    driver.find_element(By.ID, "logs-search").clear()
    driver.execute_script("document.getElementById('logs-search').dispatchEvent(new Event('input'))")
    wait_for(lambda: len(log_lines(driver)) == 3, 5, "every line")
    saved[0].unlink()
    driver.find_element(By.ID, "logs-download").click()
    saved = wait_for(lambda: [p for p in folder.iterdir() if p.suffix == ".txt"], 10, "the second file")
    assert saved[0].read_text(encoding="utf-8") == "web01 worker | alpha\nweb01 worker | beta é\nweb01 worker | gamma\n"


def test_a_row_s_logs_opens_that_process_s_own_log_view(driver, served) -> None:
    web, hosts = served
    for host in hosts:
        host.supervisor.write_log("worker", f"{host.name} here\n".encode())
    open_page(driver, web)
    driver.find_element(By.CSS_SELECTOR, 'tr[data-host="web02"][data-process="worker"] button[data-act="logs"]').click()
    wait_for(lambda: log_lines(driver) == ["web02 worker | web02 here"], 10, "web02's line only")
    assert query(driver) == {"view": "logs", "host": "web02", "program": "worker"}
    driver.back()
    wait_for(lambda: driver.find_element(By.ID, "view-processes").is_displayed(), 5, "back to the table")
