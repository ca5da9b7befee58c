"""herd.text and the renderers that use it: text from hosts never drives the terminal.

Pure: hand-made reports carrying what a hostile host could send.  The same
renderers are run end to end against a misbehaving server on a real host's
socket in test_hostile_fleet.py.
"""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from herd import text
from herd.errors import ConnectError, SupervisorFault
from herd.inventory.model import DEFAULT_SEVERITY, CheckSettings, Host, Inventory
from herd.operations.check import CheckReport, evaluate
from herd.operations.outcomes import ActionReport, HostOutcomes, Outcome
from herd.operations.status import HostStatus, StatusReport
from herd.render.actions import action_lines
from herd.render.check import nagios, prometheus
from herd.render.status import status_json, status_table
from herd.supervisor.models import ProcessInfo, ProcessState

# What a hostile host puts in names and descriptions (issue 11).
EVIL_NAME = "evil\x1b]0;title\x07"
EVIL_DESC = "\x1b[2J\r\n\x1b[1Aweb09  worker  RUNNING  1  0:00:01"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")   # what must never be printed (TAB, LF are herd's)


def evil_proc(state: ProcessState = ProcessState.STOPPED) -> ProcessInfo:
    return ProcessInfo(name=EVIL_NAME, group=EVIL_NAME, state=state, pid=0, start=0, stop=0, now=0,
                       description=EVIL_DESC, spawnerr="")


@pytest.mark.parametrize("raw,shown", [
    ("plain", "plain"),
    ("evil\x1b]0;title\x07", "evil\\x1b]0;title\\x07"),
    ("a\r\nb", "a\\r\\nb"),
    ("tab\there", "tab\\there"),
    ("c1 \x9b del \x7f", "c1 \\x9b del \\x7f"),
    ("bad \udcff byte", "bad \\xff byte"),
    ("bidi \u202egnp.exe", "bidi \\u202egnp.exe"),
    ("ls\u2028sep", "ls\\u2028sep"),
    ("caf\u00e9 \U0001F600", "caf\u00e9 \U0001F600"),
])
def test_field_escapes_every_control_character(raw, shown):
    assert text.field(raw) == shown
    assert text.is_safe(raw) == (raw == shown)


def test_line_keeps_tabs_and_block_keeps_newlines():
    assert text.line("a\tb\x1b") == "a\tb\\x1b"
    assert text.block("one\x1b[2J\ntwo\r\n") == "one\\x1b[2J\ntwo\\r\n"


def test_error_uses_the_reason_of_a_host_error():
    assert text.error(ConnectError("web01", "lost: \x1b[2J")) == "lost: \\x1b[2J"
    assert text.error(ValueError("x\ny")) == "x\\ny"


def test_shorten_keeps_a_value_on_one_line():
    assert text.shorten("short") == "short"
    assert text.shorten("x" * 500, 20) == "x" * 20 + "..."
    assert text.shorten("first\nsecond\nthird") == "first... (+2 lines)"
    assert "\n" not in text.shorten("a\x1b\nb") and text.shorten("a\x1b\nb").startswith("a\\x1b")


def test_status_table_cannot_start_rows_or_escape_sequences():
    report = StatusReport([HostStatus("web01", [evil_proc()]),
                           HostStatus("web02", error=ConnectError("web02", "lost:\r\n\x1b[31mfake"))], [])
    table = status_table(report, color=False)
    assert not RAW_CONTROL.search(table)
    lines = table.splitlines()
    assert len(lines) == 4  # header, one row per host, summary: no painted row
    assert lines[1].startswith("web01  evil\\x1b]0;title\\x07")
    assert "\\x1b[2J\\r\\n\\x1b[1Aweb09" in lines[1]
    assert lines[2].endswith("lost:\\r\\n\\x1b[31mfake")


def test_status_json_keeps_the_exact_strings():
    data = status_json(StatusReport([HostStatus("web01", [evil_proc()])], []))
    process = data["hosts"][0]["processes"][0]
    assert process["name"] == EVIL_NAME and process["description"] == EVIL_DESC
    assert "\x1b" not in json.dumps(data)  # JSON escapes it itself


def test_action_lines_escape_names_results_and_errors():
    report = ActionReport("stop", [
        HostOutcomes("web01", [Outcome(EVIL_NAME, "stopped"), Outcome(EVIL_NAME, "stop", error=EVIL_DESC)]),
        HostOutcomes("web02", error=ConnectError("web02", "x\x1b[2J")),
        HostOutcomes("web03", [Outcome("supervisord", "4.2\x1b[5m", changed=False, detail="\r\n")]),
    ])
    lines = action_lines(report, color=False)
    assert not any(RAW_CONTROL.search(line) or "\n" in line for line in lines)
    assert len(lines) == 5


def test_fault_text_is_escaped_where_it_is_shown():
    fault = SupervisorFault(10, "BAD_NAME: \x1b]0;pwned\x07")
    outcome = Outcome("x", "stop", error=str(fault))
    lines = action_lines(ActionReport("stop", [HostOutcomes("web01", [outcome])]), color=False)
    assert "\\x1b]0;pwned\\x07" in lines[0] and not RAW_CONTROL.search(lines[0])


def check_report(hosts: list[HostStatus]) -> CheckReport:
    inventory = Inventory(path="inv.yaml", hosts=tuple(Host(h.host) for h in hosts), expect={},
                          check=CheckSettings(dict(DEFAULT_SEVERITY)))
    status = StatusReport(hosts, [])
    return CheckReport(status=status, problems=evaluate(status, inventory))


def test_nagios_first_line_stays_one_line():
    report = check_report([HostStatus("web01", [evil_proc()]),
                           HostStatus("web02", error=ConnectError("web02", "a\nb\r\x1b[2J"))])
    out = nagios(report)
    assert not RAW_CONTROL.search(out)
    lines = out.splitlines()
    assert lines[0].startswith("HERD CRITICAL - 2 problems: ")
    assert len(lines) == 3  # first line + one line per problem


def test_prometheus_labels_escaped_per_the_text_format():
    name = 'we"ird\\\n\x1b[2Jname'
    proc = ProcessInfo(name=name, group=name, state=ProcessState.RUNNING, pid=1, start=1, stop=0, now=5)
    out = prometheus(check_report([HostStatus("web01", [proc])]))
    assert not RAW_CONTROL.search(out)
    families = {f.name: f for f in text_string_to_metric_families(out)}
    [sample] = families["herd_process_up"].samples
    # quote, backslash and newline survive exactly; ESC arrives as the visible text \x1b
    assert sample.labels["process"] == 'we"ird\\\n\\x1b[2Jname'
