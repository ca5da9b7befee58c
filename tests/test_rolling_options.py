"""herd/operations/rolling/options.py: the one builder of a roll's options (the CLI, herd web, --resume), in process.

Each bad value is refused with one sentence naming the option as the CLI
spells it; the CLI's click types parse through the same table, so the CLI
and the page cannot drift apart (tests/test_web_fake.py shows the page's side).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from herd.cli import run_command
from herd.cli.rolling import rolling_restart
from herd.errors import EXIT_USAGE, UsageError
from herd.operations.rolling.options import NUMBERS, OptionError, roll_options
from herd.operations.rolling.plan import BatchStep
from herd.operations.rolling.state import HostProgress, RollState, StateFile, open_roll_state

BAD: list[tuple[dict[str, Any], str]] = [
    ({"timeout_healthy": 0}, "Invalid value for '--timeout-healthy': 0.0 is not in the range x>=0.1."),
    ({"timeout_healthy": "0.05"}, "Invalid value for '--timeout-healthy': 0.05 is not in the range x>=0.1."),
    ({"timeout_healthy": "soon"}, "Invalid value for '--timeout-healthy': 'soon' is not a valid float."),
    ({"timeout_healthy": [1]}, "Invalid value for '--timeout-healthy': [1] is not a valid float."),
    ({"min_healthy": -1}, "Invalid value for '--min-healthy': -1.0 is not in the range x>=0."),
    ({"min_healthy": "nan"}, "Invalid value for '--min-healthy': nan is not in the range x>=0."),
    ({"per_host": 0}, "Invalid value for '--per-host': 0 is not in the range x>=1."),
    ({"per_host": "two"}, "Invalid value for '--per-host': 'two' is not a valid integer."),
    ({"per_host": 1.5}, "Invalid value for '--per-host': 1.5 is not a valid integer."),
    ({"per_host": True}, "Invalid value for '--per-host': True is not a valid integer."),
    ({"max_fail": -1}, "Invalid value for '--max-fail': -1 is not in the range x>=0."),
    ({"pause": "-1"}, "--pause -1: must not be negative"),
    ({"pause": -0.5}, "--pause -0.5: must not be negative"),
    ({"pause": "later"}, "--pause later: give SECONDS or 'ask'"),
    ({"pause": "ask", "can_ask": False}, "--pause ask needs a terminal to ask on"),
    ({"batch": "0"}, "--batch 0: '0' must be at least 1"),
    ({"batch": "1,x"}, "--batch 1,x: 'x' is not a count or a percentage (e.g. 1, 25%, 1,5,25%)"),
    ({"http": "https://h/"}, "--http https://h/: must be an http:// URL (https is not supported)"),
    ({"http": "http://h/", "tcp": "1"}, "choose one probe: --http, --tcp or --cmd"),
    ({"tcp": "{nope}"}, "cannot fill '{nope}': 'nope' (known fields: {host}, {address}, {port}, {process})"),
    ({"name": " "}, "which program? give a name (a program/group like tornado, or group:name)"),
]


@pytest.mark.parametrize("raw,message", BAD, ids=[m for _, m in BAD])
def test_each_bad_value_is_refused_with_one_sentence_naming_its_option(raw: dict[str, Any], message: str) -> None:
    raw = dict(raw)
    with pytest.raises(UsageError) as refused:
        roll_options(raw.pop("name", "tornado"), **raw)
    assert str(refused.value) == message
    assert refused.value.exit_code == EXIT_USAGE


def test_what_is_not_given_is_the_one_set_of_defaults() -> None:
    options = roll_options("tornado")
    assert (options.gate.min_healthy, options.gate.timeout_healthy, options.gate.probe) == (10.0, 120.0, None)
    assert (options.per_host, options.max_fail, options.pause, options.pause_ask) == (1, 0, 0.0, False)
    assert list(options.batch) == [BatchStep(1, False)]
    # the CLI declares its options from the same table (and the page sends null for an empty field)
    declared = {p.name: p.default for p in rolling_restart.params}
    assert {key: declared[key] for key in NUMBERS} == {key: option.default for key, option in NUMBERS.items()}
    assert roll_options("tornado", min_healthy=None, timeout_healthy=None, per_host=None) == options


def test_good_values_arrive_as_given_from_text_or_json() -> None:
    from_cli = roll_options("tornado", batch="1,25%", per_host="2", min_healthy="0.5", timeout_healthy="30",
                            max_fail="1", pause="2", tcp="{port}", skip_unhealthy=True, pre_hook="drain {host}")
    from_page = roll_options(" tornado ", batch="1,25%", per_host=2.0, min_healthy=0.5, timeout_healthy=30,
                             max_fail=1, pause=2, tcp="{port}", skip_unhealthy=True, pre_hook="drain {host}")
    assert from_cli == from_page
    assert (from_cli.name, from_cli.per_host, from_cli.gate.min_healthy, from_cli.gate.timeout_healthy) == \
        ("tornado", 2, 0.5, 30.0)
    assert from_cli.gate.probe is not None and from_cli.gate.probe.describe() == "--tcp {port}"
    assert roll_options("tornado", pause="ask").pause_ask


@pytest.mark.parametrize("key,text", [("timeout_healthy", "0"), ("timeout_healthy", "x"), ("min_healthy", "-1"),
                                      ("per_host", "0"), ("per_host", "two"), ("max_fail", "-1")])
def test_the_cli_refuses_a_number_with_the_builder_s_sentence(key: str, text: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(OptionError) as refused:
        roll_options("tornado", **{key: text})
    flag = NUMBERS[key].flag
    with pytest.raises(click.BadParameter) as clicked:
        rolling_restart.make_context("rolling-restart", ["tornado", flag, text])
    assert clicked.value.format_message() == str(refused.value)
    assert run_command(["rolling-restart", "tornado", flag, text]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines()[-1] == f"Error: {refused.value}"


@pytest.mark.parametrize("args,message", [(["--pause", "-1"], "--pause -1: must not be negative"),
                                          (["--pause", "ask"], "--pause ask needs a terminal to ask on"),
                                          (["--batch", "0"], "--batch 0: '0' must be at least 1")])
def test_the_cli_s_other_refusals_are_unchanged(args: list[str], message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(["rolling-restart", "tornado", *args]) == EXIT_USAGE
    assert capsys.readouterr().err == f"herd: {message}\n"


def test_resume_reads_progress_and_options_and_a_state_herd_did_not_write_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "roll.json"
    saved = RollState("tornado", "inv.yaml", hosts={"web01": HostProgress("in-progress", ["tornado:tornado-8080"])})
    StateFile(path).save(saved)
    _, state = open_roll_state("inv.yaml", "tornado", str(path), resume=True, fresh=False, dry_run=False)
    assert state == saved and set(json.loads(path.read_text())) == {"name", "inventory", "started", "finished",
                                                                    "outcome", "hosts", "options"}
    for text in ('{"name": "tornado", "inventory": "inv.yaml", "batch": "2"}', '["tornado"]',
                 '{"name": "tornado", "inventory": "i", "hosts": {"web01": {"state": "done"}}}',
                 '{"name": "tornado", "inventory": "i", "options": ["--http"]}'):
        path.write_text(text)
        with pytest.raises(UsageError) as refused:
            open_roll_state("inv.yaml", "tornado", str(path), resume=True, fresh=False, dry_run=False)
        assert str(refused.value).startswith(f"cannot read roll state {path}: not a roll state herd wrote (")
        assert "\n" not in str(refused.value)


@pytest.mark.parametrize(("typed", "goes_on"), [("\n", False), ("y\n", True), ("n\n", False), ("yes\n", True)])
def test_pause_ask_stops_on_a_bare_enter(typed: str, goes_on: bool) -> None:
    """`--pause ask` defaulted to yes: a stray Enter rolled the next batch."""
    from click.testing import CliRunner

    from herd.cli.rolling import ask_to_continue

    answers: list[bool] = []
    command = click.Command("ask", callback=lambda: answers.append(ask_to_continue("Continue with batch 2?")))
    result = CliRunner().invoke(command, [], input=typed)
    assert result.exit_code == 0 and answers == [goes_on]
    assert "Continue with batch 2? [y/N]" in result.output
