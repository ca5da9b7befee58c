"""The inventory's ``guard:`` key (herd/inventory/guard.py): the settings it gives, and every bad value as one
line ``FILE:LINE:COLUMN: guard.KEY...: what is wrong``, exit 2 through the CLI, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from herd.cli import run_command
from herd.errors import InventoryError, UsageError
from herd.inventory.guard import (GuardSettings, RemediationSettings, RuleSettings, SecretRef, parse_size)
from herd.inventory.loader import load_inventory

MIB = 1 << 20
GOOD = """hosts:
  web01: {}
rolling:
  tornado: {http: 'http://127.0.0.1:{port}/health'}
guard:
  rules:
    tornado:
      fatal: true
      exited: {remediate: restart}
      flapping: {restarts: 3, within: 5m}
      rss: {above: 800M, for: 5m, remediate: restart}
      probe: {failing: 3, remediate: restart}
      pending: {for: 1h}
    worker: {fatal: false, rss: {above: 1.5G}}
    "*": {fatal: true, rss: {above: 512K, for: 90}}
    unreachable: {for: 2m}
  remediation: {max_processes: 2, max_percent: 25, cooldown: 10m}
  notify: {}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    return path


def test_the_whole_section_loads_into_its_settings_with_where_each_rule_was_written(tmp_path: Path) -> None:
    inventory = load_inventory(str(write(tmp_path, GOOD)))
    guard = inventory.guard
    assert isinstance(guard, GuardSettings)
    where = f"{tmp_path / 'inv.yaml'}:"
    assert guard.rules == (
        RuleSettings("fatal", "tornado", where=where + "8: guard.rules.tornado.fatal"),
        RuleSettings("exited", "tornado", remediate=True, where=where + "9: guard.rules.tornado.exited"),
        RuleSettings("flapping", "tornado", restarts=3, within=300.0, where=where + "10: guard.rules.tornado.flapping"),
        RuleSettings("rss", "tornado", remediate=True, above_bytes=800 * MIB, for_seconds=300.0,
                     where=where + "11: guard.rules.tornado.rss"),
        RuleSettings("probe", "tornado", remediate=True, failing=3, where=where + "12: guard.rules.tornado.probe"),
        RuleSettings("pending", "tornado", for_seconds=3600.0, where=where + "13: guard.rules.tornado.pending"),
        RuleSettings("rss", "worker", above_bytes=1536 * MIB, where=where + "14: guard.rules.worker.rss"),
        RuleSettings("fatal", "*", where=where + "15: guard.rules.*.fatal"),
        RuleSettings("rss", "*", above_bytes=512 * 1024, for_seconds=90.0, where=where + "15: guard.rules.*.rss"),
        RuleSettings("unreachable", "", for_seconds=120.0, where=where + "16: guard.rules.unreachable"))
    assert guard.off == (("worker", "fatal"),)
    assert guard.remediation == RemediationSettings(max_processes=2, max_percent=25.0, cooldown=600.0)
    assert guard.notify.webhooks == () and guard.notify.email is None


def test_no_guard_key_is_none_and_an_empty_one_is_the_defaults(tmp_path: Path) -> None:
    assert load_inventory(str(write(tmp_path, "hosts:\n  web01: {}\n"))).guard is None
    assert load_inventory(str(write(tmp_path, "hosts:\n  web01: {}\nguard:\n"))).guard == GuardSettings()


@pytest.mark.parametrize("text, size", [("800M", 800 * MIB), ("1G", 1 << 30), ("512K", 512 << 10), ("1.5g", 1536 * MIB),
                                        ("2MiB", 2 * MIB), ("100", 100), ("4 MB", 4 * MIB)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text, message", [
    ('guard: [a]\n',
     'inv.yaml:3:8: guard: must be a mapping (rules, remediation, notify), got a list'),
    ('guard:\n  rulez: {}\n',
     "inv.yaml:4:3: guard.rulez: unknown key (did you mean 'rules'?)"),
    ('guard:\n  rules: [tornado]\n',
     "inv.yaml:4:10: guard.rules: must be a mapping of program names (or '*') to rules, e.g. {tornado: {fatal: true}, unreachable: {for: 2m}}, got a list"),
    ('guard:\n  rules:\n    tornado: yes\n',
     'inv.yaml:5:14: guard.rules.tornado: must be a mapping of rules (fatal, exited, flapping, rss, probe, pending), e.g. {fatal: true, rss: {above: 800M, for: 5m}}, got boolean yes'),
    ('guard:\n  rules:\n    tornado:\n      rss_above: 1\n',
     'inv.yaml:6:7: guard.rules.tornado.rss_above: unknown key; expected one of: fatal, exited, flapping, rss, probe, pending'),
    ('guard:\n  rules:\n    tornado:\n      flaping: {restarts: 3, within: 5m}\n',
     "inv.yaml:6:7: guard.rules.tornado.flaping: unknown key (did you mean 'flapping'?)"),
    ("guard:\n  rules:\n    tornado:\n      fatal: 'yes'\n",
     "inv.yaml:6:14: guard.rules.tornado.fatal: must be true, false or a mapping, e.g. fatal: true, got string 'yes'"),
    ('guard:\n  rules:\n    tornado:\n      fatal: {remediate: reboot}\n',
     "inv.yaml:6:26: guard.rules.tornado.fatal.remediate: must be 'restart' (through the rolling-restart gate) or false, got string 'reboot'"),
    ('guard:\n  rules:\n    tornado:\n      flapping: true\n',
     'inv.yaml:6:17: guard.rules.tornado.flapping: needs its numbers, e.g. flapping: {restarts: 3, within: 5m}'),
    ('guard:\n  rules:\n    tornado:\n      flapping: {restarts: 3}\n',
     "inv.yaml:6:17: guard.rules.tornado.flapping: missing key 'within', e.g. flapping: {restarts: 3, within: 5m}"),
    ('guard:\n  rules:\n    tornado:\n      flapping: {restarts: 0, within: 5m}\n',
     'inv.yaml:6:28: guard.rules.tornado.flapping.restarts: must be at least 1, got 0'),
    ('guard:\n  rules:\n    tornado:\n      flapping: {restarts: 3, within: 0}\n',
     'inv.yaml:6:39: guard.rules.tornado.flapping.within: must be more than 0 seconds, got integer 0'),
    ('guard:\n  rules:\n    tornado:\n      flapping: {restarts: 3, within: soon}\n',
     "inv.yaml:6:39: guard.rules.tornado.flapping.within: must be a duration (e.g. 90s, 5m, 1h), got string 'soon'"),
    ('guard:\n  rules:\n    tornado:\n      flapping: {restarts: 3, withn: 5m}\n',
     "inv.yaml:6:31: guard.rules.tornado.flapping.withn: unknown key (did you mean 'within'?)"),
    ('guard:\n  rules:\n    tornado:\n      rss: {above: 800X, for: 5m}\n',
     "inv.yaml:6:20: guard.rules.tornado.rss.above: must be a size (e.g. 800M, 1G, 512K), got string '800X'"),
    ('guard:\n  rules:\n    tornado:\n      rss: {above: 0}\n',
     'inv.yaml:6:20: guard.rules.tornado.rss.above: must be more than 0 bytes, got integer 0'),
    ('guard:\n  rules:\n    tornado:\n      rss: {above: [800M]}\n',
     'inv.yaml:6:20: guard.rules.tornado.rss.above: must be a size (e.g. 800M, 1G, 512K), got a list'),
    ('guard:\n  rules:\n    tornado:\n      rss: {above: 800M, for: -5m}\n',
     "inv.yaml:6:31: guard.rules.tornado.rss.for: must be a duration (e.g. 90s, 5m, 1h), got string '-5m'"),
    ('guard:\n  rules:\n    tornado:\n      rss: {for: 5m}\n',
     "inv.yaml:6:12: guard.rules.tornado.rss: missing key 'above', e.g. rss: {above: 800M, for: 5m}"),
    ('guard:\n  rules:\n    tornado:\n      probe: {failing: 3}\n',
     'inv.yaml:6:7: guard.rules.tornado.probe: tornado has no probe: give it one in rolling: (rolling.tornado.http, tcp or cmd)'),
    ('guard:\n  rules:\n    tornado:\n      probe: {failing: 0}\n',
     'inv.yaml:6:24: guard.rules.tornado.probe.failing: must be at least 1, got 0'),
    ('guard:\n  rules:\n    tornado:\n      pending: {for: 1y}\n',
     "inv.yaml:6:22: guard.rules.tornado.pending.for: must be a duration (e.g. 90s, 5m, 1h), got string '1y'"),
    ('guard:\n  rules:\n    tornado:\n      pending: {for: 1h, remediate: restart}\n',
     'inv.yaml:6:26: guard.rules.tornado.pending.remediate: unknown key; expected one of: for'),
    ('guard:\n  rules:\n    unreachable: {for: 2 min}\n',
     "inv.yaml:5:24: guard.rules.unreachable.for: must be a duration (e.g. 90s, 5m, 1h), got string '2 min'"),
    ('guard:\n  rules:\n    unreachable: {after: 2m}\n',
     'inv.yaml:5:19: guard.rules.unreachable.after: unknown key; expected one of: for'),
    ('guard:\n  rules:\n    unreachble: {for: 2m}\n',
     "inv.yaml:5:5: guard.rules.unreachble: neither a program's rules (fatal, exited, flapping, rss, probe, pending) nor the hosts' rule (did you mean 'unreachable'?)"),
    ('guard:\n  rules:\n    unreachble: 2m\n',
     "inv.yaml:5:5: guard.rules.unreachble: neither a program's rules (fatal, exited, flapping, rss, probe, pending) nor the hosts' rule (did you mean 'unreachable'?)"),
    ("guard:\n  rules:\n    'tornado:tornado-8080': {fatal: true}\n",
     "inv.yaml:5:5: guard.rules.tornado:tornado-8080: must be a program (group) name or '*', without spaces or ':'"),
    ('guard:\n  rules:\n    tornado: {fatal: true}\n    tornado: {exited: true}\n',
     'inv.yaml:6:5: guard.rules.tornado: duplicate program name (first defined on line 5)'),
    ('guard:\n  rules:\n    tornado:\n      exited:\n',
     'inv.yaml:6:14: guard.rules.tornado.exited: must be true, false or a mapping, e.g. exited: true, got null'),
    ('guard:\n  rules:\n    unreachable:\n',
     'inv.yaml:5:17: guard.rules.unreachable: must be true, false or a mapping, e.g. unreachable: {for: 2m}, got null'),
    ('guard:\n  remediation: {max_processes: 0}\n',
     'inv.yaml:4:32: guard.remediation.max_processes: must be at least 1, got 0'),
    ('guard:\n  remediation: {max_percent: 150}\n',
     'inv.yaml:4:30: guard.remediation.max_percent: must be more than 0 and at most 100, got 150'),
    ('guard:\n  remediation: {cooldown: later}\n',
     "inv.yaml:4:27: guard.remediation.cooldown: must be a duration (e.g. 90s, 5m, 1h), got string 'later'"),
    ('guard:\n  remediation: {max_proceses: 2}\n',
     "inv.yaml:4:17: guard.remediation.max_proceses: unknown key (did you mean 'max_processes'?)"),
    ('guard:\n  remediation: 3\n',
     'inv.yaml:4:16: guard.remediation: must be a mapping (max_processes, max_percent, cooldown), e.g. {max_processes: 2, max_percent: 25, cooldown: 10m}, got integer 3'),
    ('guard:\n  notify:\n    webhook: [https://x.example/SECRET]\n',
     'inv.yaml:5:15: guard.notify.webhook[0]: must be {env: VARIABLE} or {file: PATH}, got string: a URL is never '
     'written in the inventory'),
])
def test_each_bad_value_is_one_line_naming_its_place(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "hosts:\n  web01: {}\n" + text)
    with pytest.raises(InventoryError) as info:
        load_inventory(str(path))
    said = str(info.value).replace(str(path), "inv.yaml")
    assert said == message and "\n" not in said


@pytest.mark.parametrize("text, message", [
    ("guard:\n  rules:\n    tornado:\n      rss: {above: 800X, for: 5m}\n",
     "guard.rules.tornado.rss.above: must be a size (e.g. 800M, 1G, 512K), got string '800X'"),
    ("guard:\n  rules:\n    tornado:\n      probe: {failing: 3}\n",
     "guard.rules.tornado.probe: tornado has no probe: give it one in rolling: (rolling.tornado.http, tcp or cmd)"),
])
def test_through_the_cli_exit_2_one_line_no_traceback(tmp_path: Path, capsys, text: str, message: str) -> None:
    path = write(tmp_path, "hosts:\n  web01: {}\n" + text)
    assert run_command(["guard", "--inventory", str(path), "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err + captured.out
    assert captured.err.startswith(f"herd: {path}:6:") and captured.err.rstrip("\n").endswith(message)


def test_a_probe_template_that_rolling_would_refuse_is_refused_by_guard_with_its_place(tmp_path: Path,
                                                                                       capsys) -> None:
    text = GOOD.replace("http: 'http://127.0.0.1:{port}/health'", "tcp: '{prot}'")
    path = write(tmp_path, text)
    assert run_command(["guard", "--inventory", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err == f"herd: {path}:4: rolling.tornado: cannot fill '{{prot}}': 'prot' (known fields: {{host}}, " \
                  "{address}, {port}, {process})\n"


def test_a_secret_is_read_from_env_or_the_first_line_of_a_file_and_a_problem_names_where_never_the_value(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HERD_TEST_SECRET", "s3cret")
    assert SecretRef(env="HERD_TEST_SECRET").read() == "s3cret"
    secret = tmp_path / "secret"
    secret.write_text("https://hooks.example/T0K3N\nsecond line\n")
    assert SecretRef(file=str(secret)).read() == "https://hooks.example/T0K3N"
    monkeypatch.delenv("HERD_TEST_SECRET")
    where = "inv.yaml:9: guard.notify.webhook"
    with pytest.raises(UsageError, match=r"^inv.yaml:9: guard.notify.webhook: environment variable "
                                         r"HERD_TEST_SECRET is not set$"):
        SecretRef(env="HERD_TEST_SECRET", where=where).read()
    with pytest.raises(UsageError, match=r"^inv.yaml:9: guard.notify.webhook: cannot read .*/nope: "):
        SecretRef(file=str(tmp_path / "nope"), where=where).read()
    secret.write_text("\nT0K3N\n")
    with pytest.raises(UsageError) as info:
        SecretRef(file=str(secret), where=where).read()
    assert "the first line is empty" in str(info.value) and "T0K3N" not in str(info.value)
