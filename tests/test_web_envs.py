"""Environments in one server: ``herd web --env staging=A --env production=B`` over two real fleets
(sshd + supervisord), switched in Chromium; an action in one does not touch the other."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from helpers import edit_inventory
from webtools import chrome, start_web, wait_for


def renamed(source: Path, target: Path, prefix: str) -> Path:
    """The fleet's inventory with its hosts named PREFIX01... (both fleets' hosts are web01... otherwise)."""
    def change(data: dict[str, Any]) -> None:
        names = {old: f"{prefix}{old[3:]}" for old in data["hosts"]}
        data["hosts"] = {names[old]: spec for old, spec in data["hosts"].items()}
        data["groups"] = {group: [names.get(m, m) for m in members] for group, members in data["groups"].items()}
    return edit_inventory(source, target, change)


def shown(driver: Any) -> set[str]:
    return {r.get_attribute("data-host") for r in driver.find_elements(By.CSS_SELECTOR, "#rows tr[data-process]")}


def worker_state(driver: Any, host: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-host="{host}"][data-process="worker"] td.state').text


def test_switching_environments_shows_each_one_s_hosts_and_acts_on_its_own(make_fleet, tmp_path) -> None:
    staging, production = make_fleet(hosts=1, light=True), make_fleet(hosts=2, light=True)
    a = renamed(staging.inventory_path, tmp_path / "staging.yaml", "stg")
    b = renamed(production.inventory_path, tmp_path / "production.yaml", "prod")
    web = start_web(None, tmp_path, "--env", f"staging={a}", "--env", f"production={b}", "--accept-new",
                    "--interval", "0.5")
    driver = chrome()
    try:
        driver.get(web.url)
        wait_for(lambda: shown(driver) == {"stg01"}, 20, "staging's host (the first environment)")
        switcher = Select(driver.find_element(By.ID, "env"))
        assert [o.text for o in switcher.options] == ["staging", "production"]
        assert switcher.first_selected_option.text == "staging"

        switcher.select_by_value("production")
        wait_for(lambda: driver.current_url.endswith("?env=production"), 10, "the URL names production")
        wait_for(lambda: shown(driver) == {"prod01", "prod02"}, 20, "production's hosts")
        assert driver.title == "herd: production"
        if os.environ.get("HERD_SCREENSHOTS"):
            driver.save_screenshot(str(Path(os.environ["HERD_SCREENSHOTS"]) / "web-environments.png"))
        assert [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#filter-host option")] == [
            "", "prod01", "prod02"]

        driver.find_element(By.CSS_SELECTOR, 'tr[data-host="prod01"][data-process="worker"] button[data-act="stop"]').click()
        wait_for(lambda: "prod01  worker  stopped" in driver.find_element(By.ID, "result").text, 20, "the result")
        assert production.process_states("web01")["worker:worker"] == "STOPPED"
        assert staging.process_states("web01")["worker:worker"] == "RUNNING"     # the same name, the other fleet
        wait_for(lambda: worker_state(driver, "prod01") == "STOPPED", 10, "prod01's worker STOPPED on the page")

        driver.refresh()                        # a reload stays in production
        wait_for(lambda: shown(driver) == {"prod01", "prod02"}, 20, "production after a reload")
        Select(driver.find_element(By.ID, "env")).select_by_value("staging")
        wait_for(lambda: shown(driver) == {"stg01"}, 20, "staging again")
        wait_for(lambda: worker_state(driver, "stg01") == "RUNNING", 10, "staging's worker untouched")
    finally:
        driver.quit()
        web.stop()
