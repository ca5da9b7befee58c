"""The terminal's rough edges of issue 25, each as a user met it: one line, what is wrong, where."""

from __future__ import annotations

import pytest

from herd.cli.web import parse_listen
from herd.errors import UsageError


@pytest.mark.parametrize(("value", "message"), [
    ("foo", "--listen foo: bad HOST:PORT ('foo' is not an IP address or localhost;"),
    ("foo:8080", "--listen foo:8080: bad HOST:PORT ('foo' is not an IP address or localhost;"),
    ("127.0.0.1:http", "--listen 127.0.0.1:http: bad HOST:PORT (a port from 0 to 65535)"),
    ("127.0.0.1:70000", "--listen 127.0.0.1:70000: bad HOST:PORT (a port from 0 to 65535)"),
])
def test_web_listen_says_bad_host_port_rather_than_not_loopback(value: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_listen(value)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(("value", "parsed"), [
    ("8765", ("127.0.0.1", 8765)), (":0", ("127.0.0.1", 0)), ("localhost:9", ("localhost", 9)),
    ("[::1]:8765", ("::1", 8765)), ("0.0.0.0:0", ("0.0.0.0", 0)), ("10.1.2.3", ("10.1.2.3", 8765)),
])
def test_web_listen_takes_what_it_always_took(value: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(value) == parsed


def test_herd_help_shows_the_help_and_a_command_s_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`herd help` was "No such command 'help'"."""
    from herd.cli import run_command

    assert run_command(["help"]) == 0
    assert "Usage: herd [OPTIONS] COMMAND" in capsys.readouterr().out
    assert run_command(["help", "status"]) == 0
    assert capsys.readouterr().out.startswith("Usage: herd status [OPTIONS] [NAME]...")
    assert run_command(["help", "stauts"]) == 2
    assert capsys.readouterr().err == "herd: herd help stauts: no such command (did you mean status?); " \
                                      "herd help lists them\n"


def test_the_changed_host_key_hint_names_the_inventory_s_known_hosts_file(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path) -> None:
    """`ssh-keygen -R host` edits ~/.ssh/known_hosts only: the inventory's file kept the old key."""
    from herd.ssh.hostkeys import removal

    monkeypatch.setenv("HOME", str(tmp_path))
    assert removal("[127.0.0.1]:2201", "/etc/herd/known hosts") == \
        "ssh-keygen -f '/etc/herd/known hosts' -R '[127.0.0.1]:2201'"
    assert removal("web01", str(tmp_path / ".ssh" / "known_hosts")) == "ssh-keygen -R web01"


def test_a_host_that_refused_the_credentials_is_unauthorized_not_unreachable() -> None:
    """A supervisord 401 was shown as UNREACHABLE: operators looked for a network problem."""
    from herd.errors import AuthError, ConnectError, SupervisorAuthRefused, SupervisorUnavailable
    from herd.operations.check import evaluate
    from herd.operations.status import HostStatus, StatusReport
    from herd.inventory.model import DEFAULT_SEVERITY, CheckSettings, Host, Inventory
    from herd.render.status import status_table

    refused = SupervisorAuthRefused("web03", "supervisord refused the username/password (HTTP 401): check ...")
    report = StatusReport([HostStatus("web01", error=ConnectError("web01", "connection refused")),
                           HostStatus("web02", error=AuthError("web02", "SSH refused every key")),
                           HostStatus("web03", error=refused),
                           HostStatus("web04", error=SupervisorUnavailable("web04", "no rpcinterface"))], [])
    states = [line.split()[2] for line in status_table(report, color=False).splitlines()[1:5]]
    assert states == ["UNREACHABLE", "UNAUTHORIZED", "UNAUTHORIZED", "UNREACHABLE"]
    inventory = Inventory(path="inv.yaml", hosts=tuple(Host(h.host) for h in report.hosts),
                          check=CheckSettings(dict(DEFAULT_SEVERITY)))
    problems = evaluate(report, inventory)
    assert [p.short for p in problems] == ["web01 unreachable", "web02 unauthorized", "web03 unauthorized",
                                           "web04 unreachable"]


# -- completion of process, group and signal names (from what herd last saw) ------------------------


def _complete(words: str, cword: int, cwd, home) -> list[str]:
    import os
    import subprocess
    import sys

    from helpers import herd_env

    env = {**herd_env(home), "COMP_WORDS": words, "COMP_CWORD": str(cword), "_HERD_COMPLETE": "bash_complete"}
    result = subprocess.run([sys.executable, "-m", "herd"], capture_output=True, text=True, cwd=cwd, env=env)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def _info(group: str, name: str) -> "ProcessInfo":
    from herd.supervisor.models import ProcessInfo

    return ProcessInfo.from_rpc({"name": name, "group": group, "statename": "RUNNING", "state": 20, "pid": 1,
                                 "description": "", "spawnerr": "", "exitstatus": 0, "start": 0, "stop": 0,
                                 "now": 0, "logfile": "", "stdout_logfile": "", "stderr_logfile": ""})


def test_tab_offers_the_names_herd_last_saw_never_a_hostile_one(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from herd.cli.completion import cache_path, remember

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "inventory.yaml").write_text("hosts:\n  web01: {}\n  web02: {}\n")
    inventory = str(tmp_path / "inventory.yaml")
    remember(inventory, {"web01": [_info("tornado", "tornado-8080"), _info("tornado", "tornado-8081"),
                                   _info("worker", "worker"), _info("evil\x1b[2J", "x")]}, whole=True)
    remember(inventory, {"web02": [_info("cron", "cron")]}, whole=True)
    assert cache_path(inventory).stat().st_mode & 0o777 == 0o600
    assert _complete("herd start wo", 2, tmp_path, home) == ["worker"]
    assert _complete("herd restart tornado:", 2, tmp_path, home) == ["tornado:*", "tornado:tornado-8080",
                                                                     "tornado:tornado-8081"]
    assert _complete("herd status c", 2, tmp_path, home) == ["cron"]              # every host's names
    assert _complete("herd stop e", 2, tmp_path, home) == []                       # a control character: never
    assert _complete("herd rolling-restart t", 2, tmp_path, home) == ["tornado"]  # programs only
    assert _complete("herd signal ", 2, tmp_path, home) == ["HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM",
                                                            "STOP", "CONT"]
    assert _complete("herd signal sigu", 2, tmp_path, home) == ["USR1", "USR2"]
    assert _complete("herd signal HUP w", 3, tmp_path, home) == ["worker"]
    assert _complete("herd tail worker s", 3, tmp_path, home) == ["stderr", "stdout"]
    assert _complete("herd update w", 2, tmp_path, home) == ["worker"]
    # a status with NAMEs adds what it read; one without replaces the host's names
    remember(inventory, {"web01": [_info("api", "api")]}, whole=False)
    assert _complete("herd start ", 2, tmp_path, home)[:3] == ["all", "api", "cron"]
    remember(inventory, {"web01": [_info("api", "api")]}, whole=True)
    assert _complete("herd start ", 2, tmp_path, home) == ["all", "api", "cron"]
    cache_path(inventory).write_text("{broken")
    assert _complete("herd start ", 2, tmp_path, home) == []                       # a broken cache: nothing
