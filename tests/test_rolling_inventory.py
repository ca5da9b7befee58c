"""The inventory's ``rolling:`` key (herd/inventory/rolling.py): each bad value one line, FILE:LINE:COL: KEY."""

from __future__ import annotations

from pathlib import Path

import pytest

from herd.errors import InventoryError
from herd.inventory.loader import load_inventory
from herd.inventory.rolling import MINIMUMS, settings_for
from herd.operations.rolling.options import NUMBERS


def load(tmp_path: Path, rolling: str):
    path = tmp_path / "inv.yaml"
    path.write_text("hosts:\n  web01: {}\nrolling:\n" + rolling)
    return load_inventory(str(path))


def error(tmp_path: Path, rolling: str) -> str:
    with pytest.raises(InventoryError) as info:
        load(tmp_path, rolling)
    message = str(info.value)
    assert "\n" not in message
    return message.replace(str(tmp_path / "inv.yaml"), "inv.yaml")


def test_settings_load_with_their_lines_and_group_names_find_their_program(tmp_path: Path) -> None:
    inventory = load(tmp_path, "  tornado:\n    http: 'http://127.0.0.1:{port}/'\n    per_host: 2\n"
                               "    batch: 1,25%\n    pause: ask\n    tcp: null\n  worker:\n")
    entry = settings_for(inventory.rolling, "tornado:tornado-8080")
    assert entry is not None and entry.name == "tornado"
    assert dict(entry.values) == {"http": "http://127.0.0.1:{port}/", "per_host": 2, "batch": "1,25%",
                                  "pause": "ask"}
    assert dict(entry.lines) == {"http": 5, "per_host": 6, "batch": 7, "pause": 8}
    assert dict(settings_for(inventory.rolling, "worker").values) == {}     # type: ignore[union-attr]
    assert settings_for(inventory.rolling, "nosuch") is None


@pytest.mark.parametrize("rolling, message", [
    ("  - tornado\n", "inv.yaml:4:3: rolling: must be a mapping of program names to roll settings, e.g. "
                      "{tornado: {http: 'http://127.0.0.1:{port}/', min_healthy: 5}}, got a list"),
    ("  tornado: fast\n", "inv.yaml:4:12: rolling.tornado: must be a mapping of roll settings (batch, per_host, "
                          "min_healthy, timeout_healthy, http, tcp, cmd, max_fail, pause, pre_hook, post_hook), "
                          "got string 'fast'"),
    ("  tornado:\n    min_healty: 5\n", "inv.yaml:5:5: rolling.tornado.min_healty: unknown key "
                                        "(did you mean 'min_healthy'?)"),
    ("  tornado:\n    per_host: 0\n", "inv.yaml:5:15: rolling.tornado.per_host: must be at least 1, got 0"),
    ("  tornado:\n    per_host: '2'\n", "inv.yaml:5:15: rolling.tornado.per_host: must be an integer, got string '2'"),
    ("  tornado:\n    max_fail: -1\n", "inv.yaml:5:15: rolling.tornado.max_fail: must be at least 0, got -1"),
    ("  tornado:\n    min_healthy: soon\n", "inv.yaml:5:18: rolling.tornado.min_healthy: must be a number of "
                                            "seconds, got string 'soon'"),
    ("  tornado:\n    timeout_healthy: 0\n", "inv.yaml:5:22: rolling.tornado.timeout_healthy: must be at least "
                                             "0.1, got 0"),
    ("  tornado:\n    batch: 'x'\n", "inv.yaml:5:12: rolling.tornado.batch: must be a count, a percentage or a "
                                     "ramp list (e.g. 1, 25%, '1,5,25%'), got 'x'"),
    ("  tornado:\n    batch: 0\n", "inv.yaml:5:12: rolling.tornado.batch: must be at least 1, got 0"),
    ("  tornado:\n    pause: later\n", "inv.yaml:5:12: rolling.tornado.pause: must be a number of seconds "
                                       "(at least 0) or 'ask', got string 'later'"),
    ("  tornado:\n    http: 'http://x/'\n    tcp: 8080\n", "inv.yaml:6:5: rolling.tornado.tcp: give one probe: "
                                                           "http is already set (line 5)"),
    ("  tornado:\n    pre_hook: ''\n", "inv.yaml:5:15: rolling.tornado.pre_hook: must not be empty"),
    ("  tornado:\n    cmd: [a]\n", "inv.yaml:5:10: rolling.tornado.cmd: must be a string, got a list"),
])
def test_each_bad_setting_is_one_line_with_file_line_and_key(tmp_path: Path, rolling: str, message: str) -> None:
    assert error(tmp_path, rolling) == message


def test_the_inventory_s_bounds_are_the_engine_s() -> None:
    """The inventory layer cannot import the engine's table (layering): the two must not drift apart."""
    assert MINIMUMS == {key: option.minimum for key, option in NUMBERS.items()}
