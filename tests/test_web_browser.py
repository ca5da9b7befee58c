"""``herd web`` in a real browser (Debian's chromium, driven by Selenium) over a real fleet.

The server is the real command (``python -m herd web``) reaching real
supervisords through real sshd; changes are made or checked with
supervisorctl on the hosts.  ``HERD_SCREENSHOTS=DIR`` also saves the fleet
view, a rolling restart in progress and update's confirmation with its plan
as PNG files there (docs/ has them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from helpers import edit_inventory
from herd.testing.fake import FakeHost, FakeSource, FakeSupervisor, ProgramSpec
from herd.testing.pytest_plugin import module_fleet
from webtools import WebServer, chrome, serve_dashboard, shot, start_web, wait_for

XSS = "<img src=x onerror=alert(1)>"


web_fleet = module_fleet("webui", hosts=3, light=True)


HOSTS = ("web01", "web02", "web03")


@pytest.fixture(scope="module")
def app_logs(tmp_path_factory) -> Path:
    """The log file worker writes of its own on each host, as the inventory's logs: names it."""
    folder = tmp_path_factory.mktemp("webuilogs")
    for host in HOSTS:
        (folder / f"{host}-worker.log").write_text(f"{host} started\n")
    return folder


@pytest.fixture(scope="module")
def server(web_fleet, app_logs, tmp_path_factory) -> Iterator[WebServer]:
    home = tmp_path_factory.mktemp("webuihome")
    inventory = edit_inventory(web_fleet.inventory_path, home / "inventory.yaml",
                               lambda data: data.update(logs={"worker": f"{app_logs}/{{host}}-worker.log"}))
    web = start_web(inventory, home, "--accept-new", "--interval", "0.5")
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture(scope="module")
def browser(server) -> Iterator[Any]:
    driver = chrome()
    try:
        driver.get(server.url)
        yield driver
    finally:
        driver.quit()


def cell(driver: Any, host: str, process: str, column: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-host="{host}"][data-process="{process}"] td.{column}').text


def test_the_page_shows_every_process_of_every_host(browser, web_fleet) -> None:
    expected = {(h, p): s for h in ("web01", "web02", "web03") for p, s in web_fleet.process_states(h).items()}
    assert len(expected) == 3 * 5

    def shown() -> dict[tuple[str, str], str]:
        rows = browser.find_elements(By.CSS_SELECTOR, "#rows tr[data-process]")
        return {(r.get_attribute("data-host"), r.get_attribute("data-process")):
                r.find_element(By.CSS_SELECTOR, "td.state").text for r in rows}

    expected = {(h, p.split(":", 1)[1] if p.startswith("worker:") else p): s for (h, p), s in expected.items()}
    wait_for(lambda: shown() == expected, 20, "every process of every host")
    assert browser.find_element(By.ID, "live").text == "live"
    assert "3 hosts, 15 processes: 15 RUNNING" in browser.find_element(By.ID, "summary").text
    assert re.fullmatch(r"\d+:\d\d:\d\d", cell(browser, "web01", "worker", "uptime"))
    shot(browser, "web-fleet.png")


def test_a_stop_made_with_supervisorctl_shows_without_a_reload(browser, web_fleet) -> None:
    browser.execute_script("window.notReloaded = 42;")
    try:
        web_fleet.supervisorctl("web02", "stop", "worker")
        wait_for(lambda: cell(browser, "web02", "worker", "state") == "STOPPED", 10, "web02 worker STOPPED")
        assert browser.execute_script("return window.notReloaded") == 42
        assert cell(browser, "web02", "worker", "pid") == "-"
    finally:
        web_fleet.supervisorctl("web02", "start", "worker")
    wait_for(lambda: cell(browser, "web02", "worker", "state") == "RUNNING", 10, "web02 worker RUNNING again")


def _view(browser, name: str) -> None:
    """Show one of the page's views (its nav)."""
    browser.find_element(By.CSS_SELECTOR, f'#nav button[data-view="{name}"]').click()
    wait_for(lambda: browser.find_element(By.ID, f"view-{name}").is_displayed(), 5, f"the {name} view")


def _row_button(browser, host: str, process: str, action: str) -> None:
    _view(browser, "processes")

    def click() -> bool:
        browser.find_element(By.CSS_SELECTOR,
                             f'tr[data-host="{host}"][data-process="{process}"] button[data-act="{action}"]').click()
        return True
    wait_for(click, 5, f"{action} button of {host} {process}")


def test_stop_and_start_from_the_page_reach_supervisord(browser, web_fleet) -> None:
    _row_button(browser, "web01", "worker", "stop")
    wait_for(lambda: web_fleet.process_states("web01")["worker:worker"] == "STOPPED", 15, "supervisord: STOPPED")
    wait_for(lambda: "web01  worker  stopped" in browser.find_element(By.ID, "result").text, 10, "result lines")
    wait_for(lambda: cell(browser, "web01", "worker", "state") == "STOPPED", 10, "page: STOPPED")
    _row_button(browser, "web01", "worker", "start")
    wait_for(lambda: web_fleet.process_states("web01")["worker:worker"] == "RUNNING", 15, "supervisord: RUNNING")
    wait_for(lambda: "web01  worker  started" in browser.find_element(By.ID, "result").text, 10, "result lines")


def test_a_rolling_restart_from_the_page_completes_with_progress_shown(browser, web_fleet) -> None:
    before = {h: web_fleet.rpc(h).supervisor.getProcessInfo("tornado:" + _first_tornado(web_fleet, h))["pid"]
              for h in ("web01", "web02", "web03")}
    dialog = _start_roll(browser, name="tornado", per_host="2", min_healthy="1", batch="1")
    assert "rolling restart of tornado: 12 process(es) on 3 host(s) in 3 batch(es)" in dialog
    browser.find_element(By.ID, "confirm-yes").click()
    wait_for(lambda: "batch 2/3" in browser.find_element(By.ID, "roll-state").text, 60, "batch 2 in progress")
    shot(browser, "web-rolling.png")
    assert "[batch 1/3] web01" in browser.find_element(By.ID, "roll-log").text
    wait_for(lambda: "done (exit 0)" in browser.find_element(By.ID, "roll-state").text, 120, "the roll done")
    log = browser.find_element(By.ID, "roll-log").text
    assert "[batch 3/3] web03" in log and "web03: done" in log
    # the page may rebuild the cells while they are read: read them inside wait_for
    wait_for(lambda: [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#roll-hosts td.roll-status")]
             == ["done", "done", "done"], 10, "every host done")
    after = {h: web_fleet.rpc(h).supervisor.getProcessInfo("tornado:" + _first_tornado(web_fleet, h))["pid"]
             for h in ("web01", "web02", "web03")}
    assert all(after[h] != before[h] for h in before)
    assert set(web_fleet.process_states("web01").values()) == {"RUNNING"}


def test_a_rolling_update_from_the_page_applies_pending_config_host_by_host(browser, web_fleet) -> None:
    hosts = ("web01", "web02", "web03")
    for host in hosts:          # a deploy: tornado's config changed on every host (not applied yet)
        conf = Path(web_fleet.host(host).conf_path)
        conf.write_text(conf.read_text().replace("[program:tornado]\n", "[program:tornado]\nenvironment=BUILD=\"7\"\n", 1))
    before = {h: web_fleet.rpc(h).supervisor.getProcessInfo("tornado:" + _first_tornado(web_fleet, h))["pid"]
              for h in hosts}
    _view(browser, "rolls")
    Select(browser.find_element(By.ID, "roll-kind")).select_by_value("update")
    assert browser.find_element(By.ID, "roll-start").text == "start rolling update"
    dialog = _start_roll(browser, name="tornado", min_healthy="1", batch="1", per_host="1")
    assert "rolling update of tornado: 3 host(s) with pending config in 3 batch(es) (--batch 1)" in dialog
    assert "batch 1/3  web01: tornado: re-add on the new config" in dialog
    assert "cannot hold there" in dialog      # what supervisord cannot keep is said before it starts
    shot(browser, "web-rolling-update.png")
    assert all(web_fleet.rpc(h).supervisor.getProcessInfo("tornado:" + _first_tornado(web_fleet, h))["pid"]
               == before[h] for h in hosts)      # the plan touched nothing
    browser.find_element(By.ID, "confirm-yes").click()
    # (the state line said "rolling restart of tornado: done (exit 0)" before: the earlier roll)
    wait_for(lambda: browser.find_element(By.ID, "roll-state").text.startswith(
        "rolling update of tornado: done (exit 0)"), 120, "the rolling update done")
    log = browser.find_element(By.ID, "roll-log").text
    assert "web01 tornado: re-add on the new config" in log and "roll done: " in log and " updated in " in log
    for host in hosts:
        pid = web_fleet.rpc(host).supervisor.getProcessInfo("tornado:" + _first_tornado(web_fleet, host))["pid"]
        assert pid != before[host]
        assert b"BUILD=7" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    Select(browser.find_element(By.ID, "roll-kind")).select_by_value("restart")


def _start_roll(browser, **fields: str) -> str:
    """Fill the roll form's fields, press its start button: the plan the confirmation shows."""
    _view(browser, "rolls")
    form = browser.find_element(By.ID, "roll-form")
    for name, value in fields.items():
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    browser.find_element(By.ID, "roll-start").click()
    return wait_for(lambda: browser.find_element(By.ID, "confirm").is_displayed()
                    and browser.find_element(By.ID, "confirm-text").text, 15, "the plan to confirm")


def _first_tornado(web_fleet, host: str) -> str:
    return sorted(n for n in web_fleet.process_states(host) if n.startswith("tornado:"))[0].split(":", 1)[1]


def test_a_log_follow_shows_new_lines(browser) -> None:
    _row_button(browser, "web03", "worker", "logs")

    def ticks() -> list[int]:
        text = browser.find_element(By.ID, "logs").text
        return [int(n) for n in re.findall(r"^web03 worker \| \S+ worker web03 tick (\d+)$", text, re.M)]

    first = wait_for(ticks, 15, "the first lines")
    wait_for(lambda: max(ticks()) >= max(first) + 2, 15, "new lines followed")
    assert browser.find_element(By.ID, "logs").get_attribute("data-following") == "1"
    browser.find_element(By.ID, "logs-stop").click()


def _log_lines(browser) -> list[str]:
    return browser.find_element(By.ID, "logs").text.splitlines()


def _append(app_logs: Path, host: str, text: str) -> None:
    with (app_logs / f"{host}-worker.log").open("a") as log:
        log.write(text + "\n")


def test_a_followed_app_log_file_shows_new_lines_and_merges_hosts(browser, app_logs) -> None:
    _row_button(browser, "web02", "worker", "logfile")
    wait_for(lambda: "web02 worker | web02 started" in _log_lines(browser), 15, "the file's last line")
    files = browser.find_element(By.ID, "logs-files").text
    assert f"web02 worker: {app_logs}/web02-worker.log" in files
    _append(app_logs, "web02", "web02 <b>one</b> \x1b[31mred")
    wait_for(lambda: "web02 worker | web02 <b>one</b> \\x1b[31mred" in _log_lines(browser), 15, "a new line")
    assert browser.find_elements(By.CSS_SELECTOR, "#logs b") == []

    # one program across every shown host, merged, each line prefixed with its host
    form = browser.find_element(By.ID, "logs-form")
    form.find_element(By.NAME, "hosts").clear()
    browser.find_element(By.ID, "logs-follow").click()
    wait_for(lambda: all(f"{h} worker: {app_logs}/{h}-worker.log" in browser.find_element(By.ID, "logs-files").text
                         for h in HOSTS), 10, "every host's file listed")
    wait_for(lambda: "web01 worker | web01 started" in _log_lines(browser), 15, "web01's last line")
    for host in HOSTS:
        _append(app_logs, host, f"{host} merged")
    wait_for(lambda: all(f"{h} worker | {h} merged" in _log_lines(browser) for h in HOSTS), 15, "every host's line")
    browser.find_element(By.ID, "logs-stop").click()


def test_an_unreachable_host_shows_its_error_row_while_the_others_update(browser, web_fleet) -> None:
    _view(browser, "processes")
    web_fleet.stop_supervisord("web03")
    try:
        row = wait_for(lambda: (r := browser.find_element(By.CSS_SELECTOR, 'tr.error-row[data-host="web03"]'))
                       and "supervisord" in r.text and r.text, 20, "web03's error row, with herd's sentence")
        assert "UNREACHABLE" in row
        web_fleet.supervisorctl("web01", "stop", "worker")
        wait_for(lambda: cell(browser, "web01", "worker", "state") == "STOPPED", 10, "web01 still live")
        assert "1 UNREACHABLE" in browser.find_element(By.ID, "counts").text
    finally:
        web_fleet.supervisorctl("web01", "start", "worker")
        web_fleet.start_supervisord("web03")
    wait_for(lambda: cell(browser, "web03", "worker", "state") == "RUNNING", 60, "web03 back")
    assert not browser.find_elements(By.CSS_SELECTOR, "tr.error-row")


def test_host_text_is_shown_as_text_never_as_html(tmp_path: Path) -> None:
    from herd.inventory.model import Inventory
    from herd.web.actions import Dashboard

    evil = FakeHost("web01", FakeSupervisor([ProgramSpec(XSS), ProgramSpec("worker")]))
    dashboard = Dashboard(Inventory("fake.yaml", (evil.host,)), [evil.host], FakeSource([evil]), interval=0.2)
    web = serve_dashboard(dashboard, tmp_path)
    driver = chrome()
    try:
        driver.get(web.url)
        name = wait_for(lambda: cell(driver, "web01", XSS, "name"), 15, "the evil row")
        assert name == XSS
        assert driver.find_elements(By.CSS_SELECTOR, "#rows img") == []
        assert driver.execute_script("return document.querySelectorAll('img').length") == 0
        driver.find_element(By.ID, "filter-text").send_keys("onerror")
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#rows tr[data-process]")) == 1, 5, "filtered")
    finally:
        driver.quit()
        web.stop()



def _edit_web01(conf: Path) -> None:
    """[program:tornado]'s command changed (``python -B``: the same app) and a new [program:extra]."""
    head, _, tail = conf.read_text().partition("[program:tornado]\ncommand=")
    assert tail, "no [program:tornado] command in the config"
    conf.write_text(f"{head}[program:tornado]\ncommand={tail.replace(' ', ' -B ', 1)}"
                    f"\n[program:extra]\ncommand=sleep 600\nstartsecs=0\n")


def _plan_shown(driver: Any) -> dict[str, list[str]]:
    """The confirmation's plan: host -> its lines."""
    assert driver.find_element(By.ID, "confirm").is_displayed()
    return {block.get_attribute("data-host"): [li.text for li in block.find_elements(By.CSS_SELECTOR,
                                                                                      "ul.plan-lines li")]
            for block in driver.find_elements(By.CSS_SELECTOR, "#confirm-detail .plan-host")}


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_update_shows_its_plan_per_host_cancel_changes_nothing_and_go_applies_it(make_fleet, tmp_path) -> None:
    from test_config_fleet import groups

    fleet = make_fleet(hosts=3, light=True)
    _edit_web01(Path(fleet.host("web01").conf_path))
    with open(fleet.host("web03").conf_path, "a") as conf:         # no longer parses: CANT_REREAD
        conf.write("\n[program:half]\nstartsecs=0\n")
    before = {h: groups(fleet, h) for h in HOSTS}
    size = len(fleet.host("web01").tornado_ports)
    web = start_web(fleet.inventory_path, tmp_path, "--accept-new", "--interval", "0.5")
    driver = chrome()
    try:
        driver.get(web.url)
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#rows tr[data-process]")) == 3 * (size + 1),
                 20, "every process shown")
        driver.find_element(By.ID, "update-shown").click()
        plan = wait_for(lambda: _plan_shown(driver), 20, "the plan in the confirmation")
        assert plan["web01"] == ["tornado  would stop, remove and re-add (changed)", "extra  would add"]
        assert plan["web02"] == ["config  no config updates to processes"]
        assert len(plan["web03"]) == 1 and plan["web03"][0].startswith(
            "config: config does not parse, so supervisord would fail at its next start"), plan["web03"]
        assert "program:half" in plan["web03"][0]
        question = driver.find_element(By.ID, "confirm-text").text
        assert question == "update on 3 hosts: changes on 1 of 3 hosts; 1 host's config does not parse. Go on?"
        assert driver.find_element(By.CSS_SELECTOR, '.plan-host[data-host="web01"] .plan-warnings').text == (
            f"web01: tornado changed: all {size} processes are stopped and started at once "
            f"(supervisord bounces a changed group as a whole)")
        shot(driver, "web-update.png")

        driver.find_element(By.ID, "confirm-no").click()
        wait_for(lambda: driver.find_element(By.ID, "result").text == "cancelled: nothing was changed", 10, "cancel")
        assert {h: groups(fleet, h) for h in HOSTS} == before

        driver.find_element(By.ID, "update-shown").click()
        assert wait_for(lambda: _plan_shown(driver), 20, "the plan again")["web01"] == plan["web01"]
        driver.find_element(By.ID, "confirm-yes").click()
        result = wait_for(lambda: (t := driver.find_element(By.ID, "result").text) and "working" not in t and t,
                          120, "the update's result").splitlines()
        assert result[:2] == ["web01  tornado  updated process group", "web01  extra    added process group"]
        assert result[2] == "web02  config   no config updates to processes"
        assert result[3].startswith("web03  config: config does not parse"), result
        after = groups(fleet, "web01")
        assert "extra:extra" in after and fleet.process_states("web01")["extra:extra"] == "RUNNING"
        tornado = [n for n in after if n.startswith("tornado:")]
        assert len(tornado) == size and all(after[n] != before["web01"][n] for n in tornado)
        assert all("-B" in _cmdline(after[n]) for n in tornado)      # running the new command
        assert set(fleet.process_states("web01").values()) == {"RUNNING"}
        assert groups(fleet, "web02") == before["web02"] and groups(fleet, "web03") == before["web03"]

        # a host with nothing to change: said so, and no way to go on
        wait_for(lambda: driver.find_element(
            By.CSS_SELECTOR, 'tr.host-row[data-hostrow="web02"] button[data-act="update"]').click() or True,
            10, "web02's update button")
        assert wait_for(lambda: _plan_shown(driver), 20, "web02's plan") == {
            "web02": ["config  no config updates to processes"]}
        assert driver.find_element(By.ID, "confirm-text").text == "update on web02: nothing to change on 1 host"
        assert not driver.find_element(By.ID, "confirm-yes").is_displayed()
        assert driver.find_element(By.ID, "confirm-no").text == "close"
        driver.find_element(By.ID, "confirm-no").click()
        wait_for(lambda: driver.find_element(By.ID, "result").text
                 == "update on web02: nothing to change on 1 host; nothing was changed", 10, "closed")
        assert groups(fleet, "web02") == before["web02"]

        # a host that does not answer is listed as such (its own update button is disabled: through the filter)
        fleet.stop_supervisord("web03")
        wait_for(lambda: driver.find_element(By.CSS_SELECTOR, 'tr.error-row[data-host="web03"]'), 20, "web03 down")
        wait_for(lambda: not driver.find_element(
            By.CSS_SELECTOR, 'tr.host-row[data-hostrow="web03"] button[data-act="update"]').is_enabled(), 10,
            "web03's update button disabled")
        Select(driver.find_element(By.ID, "filter-host")).select_by_value("web03")
        driver.find_element(By.ID, "update-shown").click()
        down = wait_for(lambda: _plan_shown(driver), 20, "web03's plan")["web03"]
        # its reason: supervisord gone (or, on loaded cores, the session that was reading it lost meanwhile)
        assert len(down) == 1 and down[0].startswith("unreachable: ") and \
            ("supervisord" in down[0] or "SSH connection lost" in down[0]), down
        assert driver.find_element(By.CSS_SELECTOR, '.plan-host[data-host="web03"]').get_attribute(
            "data-state") == "unreachable"
        assert driver.find_element(By.ID, "confirm-text").text == (
            "update on web03: nothing to change: no host's config could be read; 1 host unreachable")
        assert not driver.find_element(By.ID, "confirm-yes").is_displayed()
        driver.find_element(By.ID, "confirm-no").click()
    finally:
        driver.quit()
        web.stop()
