"""`herd rolling-restart NAME --signal HUP`: a graceful-reload roll, gated on the same pid, RUNNING, probe.

In process first (the CLI as it runs, over fake supervisords, herd.testing.fake):
the signal instead of stop/start, the gate's wording when a program dies on
the signal, the probe, the pre-flight refusal on a supervisord before 3.2.0,
a bad signal name, the signal kept for --resume.  Then on the real test fleet
(sshd + supervisord): a program that reloads on HUP keeps its pid; the app,
which dies on HUP, fails the gate and halts the roll.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from herd.cli import run_command
from herd.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, EXIT_UNSUPPORTED, EXIT_USAGE, \
    RollRefused, UsageError
from herd.operations.rolling.options import layered, recorded, roll_options
from herd.operations.rolling.runner import RollRunner, preflight
from herd.operations.rolling.state import RollState, StateFile
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet
from herd.testing.pytest_plugin import start_fleet_for
from helpers import herd, herd_env

TORNADO = [f"tornado:tornado-{p}" for p in range(8080, 8084)]
HTTP = "http://127.0.0.1:{port}/health"
ACTING = ("supervisor.stopProcess", "supervisor.startProcess", "supervisor.signalProcess")


def make_hosts(count: int = 3, version: dict[str, str] | None = None) -> list[FakeHost]:
    hosts = []
    for i in range(1, count + 1):
        name = f"web{i:02d}"
        supervisor = FakeSupervisor([ProgramSpec("tornado", numprocs=4, numprocs_start=8080), ProgramSpec("worker")],
                                    version=(version or {}).get(name, "4.2.5"))
        host = FakeHost(name, supervisor)
        host.listening = set(range(8080, 8084))
        hosts.append(host)
    return hosts


def dies_on_signal(host: FakeHost, *, restarted: bool = True) -> None:
    """The host's tornado dies on any signal, as the test fleet's app dies on SIGHUP (no handler):
    supervisord starts it again (``restarted``) or leaves it EXITED."""
    supervisor = host.supervisor
    dispatch = supervisor.dispatch

    def dying(method: str, params: Any) -> Any:
        answer = dispatch(method, params)
        if method == "supervisor.signalProcess":
            name = str(params[0])
            supervisor.write_log(name, b"app: received SIGHUP, no handler: exiting\n", "stderr")
            supervisor.processes[name].spec.autorestart = restarted
            supervisor.crash(name, exitstatus=-1)
        return answer

    supervisor.dispatch = dying  # type: ignore[method-assign]


def acting(host: FakeHost) -> list[str]:
    """The calls that act on processes, in order."""
    return [c for c in host.supervisor.calls if c in ACTING]


def pids(host: FakeHost) -> dict[str, int]:
    return {name: host.supervisor.info(name)["pid"] for name in [*TORNADO, "worker"]}


class Cli:
    """``herd rolling-restart tornado`` with the fleet swapped for fake hosts (as tests/test_rolling_resume.py)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hosts: list[FakeHost]) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.inventory = tmp_path / "inv.yaml"
        self.inventory.write_text("hosts:\n" + "".join(f"  {h.name}: {{}}\n" for h in hosts))
        self.state = tmp_path / "roll.json"
        monkeypatch.setattr("herd.cli.rolling.open_fleet", self._fleet)

    def _fleet(self, opts: Any, *, default_all: bool, selected: Any) -> Any:
        return fake_fleet([self.hosts[h.name] for h in selected[1]])

    def __call__(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        code = run_command(["rolling-restart", "tornado", "-i", str(self.inventory), "--state-file", str(self.state),
                            "--min-healthy", "0.1", "--timeout-healthy", "2", *args])
        out, err = capsys.readouterr()
        return code, out, err


# -- in process, over fake supervisords -----------------------------------------------------


def test_a_hup_roll_signals_each_process_keeps_every_pid_and_says_reload(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts(2)
    before = {h.name: pids(h) for h in hosts}
    code, out, err = Cli(tmp_path, monkeypatch, hosts)(capsys, "--signal", "hup", "--http", HTTP)
    assert code == EXIT_OK, out + err
    for host in hosts:
        assert pids(host) == before[host.name]                 # reloaded, not restarted: the same pids
        assert acting(host) == ["supervisor.signalProcess"] * 4   # no stop, no start; the worker untouched
    lines = out.splitlines()
    assert lines[0] == ("rolling reload (SIGHUP) of tornado: 8 process(es) on 2 host(s) in 2 batch(es) "
                        "(--batch 1), 1 process(es) at a time per host")
    assert lines[1] == (f"gate: same pid, still RUNNING for 0.1s after SIGHUP, probe --http {HTTP}; within 2s; "
                        f"stop at the first failed host")
    pid = before["web01"][TORNADO[0]]
    assert f"         {TORNADO[0]}: SIGHUP, pid {pid} kept (GET http://127.0.0.1:8080/health -> 200)" in lines
    assert lines[-1].startswith("roll done: 8 of 8 process(es) reloaded (SIGHUP) in ")
    assert f"  web01 {TORNADO[0]}: ok (SIGHUP, pid {pid} kept, " in err


def test_a_program_that_dies_on_the_signal_fails_the_gate_named_with_its_log_and_halts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts(3)
    dies_on_signal(hosts[1])
    untouched = pids(hosts[2])
    code, out, err = Cli(tmp_path, monkeypatch, hosts)(capsys, "--signal", "SIGHUP")
    assert code == EXIT_FAILED, out + err
    lines = out.splitlines()
    failed = next(line for line in lines if "FAILED" in line)
    new_pid = hosts[1].supervisor.info(TORNADO[0])["pid"]
    assert failed.startswith(f"         {TORNADO[0]}: FAILED in min-healthy: died on SIGHUP: supervisord started "
                             f"it again (pid ")
    assert f" -> {new_pid}, " in failed
    assert lines[lines.index(failed) + 1] == "           stderr: app: received SIGHUP, no handler: exiting"
    assert acting(hosts[1]) == ["supervisor.signalProcess"]      # the first process of the host, then the halt
    assert acting(hosts[2]) == [] and pids(hosts[2]) == untouched
    assert lines[-1].startswith("roll HALTED: 4 of 12 process(es) reloaded (SIGHUP) in ")
    assert "; 1 host(s) failed; untouched: web03; continue with --resume" in lines[-1]


def test_a_program_left_exited_by_the_signal_is_named_by_its_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts(1)
    dies_on_signal(hosts[0], restarted=False)
    code, out, err = Cli(tmp_path, monkeypatch, hosts)(capsys, "--signal", "1", "-o", "json")
    assert code == EXIT_FAILED, out + err
    data = json.loads(out)
    assert data["signal"] == "HUP"
    process = data["hosts"][0]["processes"][0]
    assert (process["name"], process["ok"], process["phase"], process["signal"]) == (
        TORNADO[0], False, "min-healthy", "HUP")
    assert process["detail"].startswith("died on SIGHUP: EXITED (")
    assert hosts[0].supervisor.info(TORNADO[0])["statename"] == "EXITED"   # left as supervisord has it


def test_the_probe_gates_a_reload_and_a_failing_probe_is_not_a_death(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts(2)
    hosts[0].http_status = 503
    code, out, _ = Cli(tmp_path, monkeypatch, hosts)(capsys, "--signal", "USR2", "--http", HTTP,
                                                     "--timeout-healthy", "1.5")
    assert code == EXIT_FAILED
    assert f"         {TORNADO[0]}: FAILED in probe: probe failing after 1.5 s: GET " \
           f"http://127.0.0.1:8080/health -> 503" in out.splitlines()
    assert acting(hosts[1]) == []


def test_a_supervisord_before_3_2_is_refused_at_preflight_in_one_line_and_nothing_is_touched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts(3, version={"web02": "3.1.4"})
    code, out, err = Cli(tmp_path, monkeypatch, hosts)(capsys, "--signal", "HUP")
    assert code == EXIT_UNSUPPORTED
    assert out == ""
    assert err.splitlines() == [
        "herd: refusing to roll tornado: web02: supervisord 3.1.4 cannot signal processes (added in 3.2.0)",
        "herd: roll those hosts without --signal, or select the others"]
    assert all(acting(h) == [] for h in hosts)
    code, out, err = Cli(tmp_path, monkeypatch, hosts)(capsys, "--signal", "HUP", "--dry-run")
    assert code == EXIT_UNSUPPORTED and "web02: supervisord 3.1.4 cannot signal processes" in err
    # without --signal the same fleet rolls (stop/start works on every release)
    code, out, _ = Cli(tmp_path, monkeypatch, hosts)(capsys, "--dry-run")
    assert code == EXIT_OK and out.splitlines()[1].startswith("rolling restart of tornado: 12 process(es)")


def test_an_old_supervisord_without_the_program_and_an_unreachable_host_come_first(tmp_path: Path) -> None:
    hosts = make_hosts(3, version={"web02": "3.1.4"})
    hosts[1].supervisor.processes.clear()                 # web02 runs no tornado: its release does not matter
    options = roll_options("tornado", signal="HUP", min_healthy=0.05)
    plan = preflight(fake_fleet(hosts), options, None)
    assert plan.without_name == ["web02"] and [t.host for t in plan.targets] == ["web01", "web03"]
    hosts = make_hosts(3, version={"web02": "3.1.4"})
    hosts[2].break_connection()
    with pytest.raises(RollRefused) as refused:
        preflight(fake_fleet(hosts), options, None)
    assert refused.value.exit_code == EXIT_UNREACHABLE            # as `herd signal`: unreachable wins over 5


@pytest.mark.parametrize("value, sentence", [
    ("nope", "--signal: unknown signal: nope (e.g. HUP, TERM, USR1, or a number)"),
    ("99", "--signal: unknown signal number: 99"),
    ("KILL", "--signal KILL: SIGKILL cannot be caught, so it cannot reload a program (herd signal sends it)"),
    ("sigstop", "--signal sigstop: SIGSTOP cannot be caught, so it cannot reload a program (herd signal sends it)"),
])
def test_a_bad_signal_is_a_usage_error_before_the_inventory_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, sentence: str) -> None:
    code = run_command(["rolling-restart", "tornado", "-i", str(tmp_path / "missing.yaml"), "--signal", value])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE and out == ""
    assert err.splitlines() == [f"herd: {sentence}"]      # not the missing inventory: nothing was read
    with pytest.raises(UsageError):
        roll_options("tornado", signal=value)


def test_signal_names_as_supervisord_takes_them_and_kept_for_resume() -> None:
    assert [roll_options("t", signal=v).signal for v in ("hup", "SIGHUP", "1", " usr2 ", None, "")] == \
        ["HUP", "HUP", "HUP", "USR2", None, None]
    options = roll_options("t", signal="hup", http=HTTP)
    saved = recorded(options)
    assert saved["signal"] == "HUP" and "signal" not in recorded(roll_options("t"))
    assert roll_options("t", **layered(saved, {})).signal == "HUP"        # a bare --resume sends HUP again
    assert roll_options("t", **layered(saved, {"signal": "USR1"})).signal == "USR1"


def test_resume_sends_the_recorded_signal_and_a_process_the_signal_killed_is_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = make_hosts(2)
    web01, web02 = hosts
    dies_on_signal(web01, restarted=False)
    roll = Cli(tmp_path, monkeypatch, hosts)
    code, out, _ = roll(capsys, "--signal", "HUP")
    assert code == EXIT_FAILED
    saved = StateFile(roll.state).load()
    assert saved is not None and saved.options["signal"] == "HUP" and saved.hosts["web01"].failed == [TORNADO[0]]

    del web01.supervisor.dispatch          # the fixed build: it reloads on the signal again
    before = pids(web01)
    code, out, err = roll(capsys, "--resume")
    assert code == EXIT_OK, out + err
    lines = out.splitlines()
    assert lines[0].startswith("rolling reload (SIGHUP) of tornado: 8 process(es)")
    # the process the signal left EXITED has nothing to reload: started, behind the gate, first
    assert lines.index(f"  batch 1/2  web01: {', '.join(TORNADO)}") > 0
    started = pids(web01)[TORNADO[0]]
    assert started != 0 and started != before[TORNADO[0]]
    assert f"         {TORNADO[0]}: pid 0 -> {started} (was EXITED: started instead of sent SIGHUP)" in lines
    assert all(pids(web01)[n] == before[n] for n in TORNADO[1:])    # the others reloaded: same pids
    assert acting(web02).count("supervisor.signalProcess") == 4 and "supervisor.stopProcess" not in acting(web02)


def test_ctrl_c_during_the_hold_ends_the_roll_without_stopping_anything(tmp_path: Path) -> None:
    hosts = make_hosts(2)
    before = {h.name: pids(h) for h in hosts}
    options = roll_options("tornado", signal="HUP", min_healthy=30)
    state = RollState("tornado", "inv.yaml")
    plan = preflight(fake_fleet(hosts), options, None)
    runner: RollRunner

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "phase" and data["phase"].startswith("min-healthy"):
            runner.interrupt()

    runner = RollRunner(fake_fleet(hosts), plan, options, state, StateFile(tmp_path / "r.json"), on_event)
    started = time.monotonic()
    report = runner.run()
    assert time.monotonic() - started < 5                   # not the 30 s hold
    assert report.outcome == "interrupted" and report.exit_code == EXIT_INTERRUPTED
    first = report.hosts[0].processes
    assert [(p.name, p.ok, p.phase, p.detail) for p in first] == [
        (TORNADO[0], True, "interrupted", "sent SIGHUP (gate skipped: interrupted)")]
    assert {h.name: pids(h) for h in hosts} == before and acting(hosts[1]) == []


# -- on the real test fleet ---------------------------------------------------------------

RELOADER = '''\
"""Reloads on SIGHUP (logs it, keeps its pid); any other signal ends it."""
import os, signal, sys, time

def reload(signum, frame):
    sys.stdout.write("reloaded in pid %d\\n" % os.getpid())
    sys.stdout.flush()
    open(sys.argv[1], "a").write("reloaded\\n")

signal.signal(signal.SIGHUP, reload)
signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
while True:
    time.sleep(1)
'''


@pytest.fixture(scope="module")
def sfleet(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two hosts running the test fleet's app (tornado, dies on SIGHUP: no handler) and ``reloader``
    (numprocs 2, reloads on SIGHUP, appending to {dir}/reloaded-N)."""
    script = tmp_path_factory.mktemp("reloader") / "reloader.py"
    script.write_text(RELOADER)
    extra = textwrap.dedent(f"""
        [program:reloader]
        command={{python}} {script} {{dir}}/reloaded-%(process_num)s
        process_name=%(program_name)s-%(process_num)s
        numprocs=2
        startsecs=1
        stdout_logfile={{logs}}/%(program_name)s-%(process_num)s.out.log
        """)
    yield from start_fleet_for(tmp_path_factory, "signal", 2, light=True, extra_config=extra)


def real_pids(fleet: Any) -> dict[tuple[str, str], int]:
    return {(h.name, f"{p['group']}:{p['name']}"): p["pid"]
            for h in fleet.hosts for p in fleet.rpc(h.name).supervisor.getAllProcessInfo()}


def real_roll(fleet: Any, home: Path, name: str, *args: str) -> Any:
    env = herd_env(home, XDG_STATE_HOME=str(home / "state"))
    return herd("rolling-restart", name, "-i", str(fleet.inventory_path), "--min-healthy", "1", *args,
                home=home, env=env, timeout=180)


def test_real_a_hup_roll_of_a_program_that_reloads_keeps_every_pid(sfleet: Any, home: Path) -> None:
    before = real_pids(sfleet)
    run = real_roll(sfleet, home, "reloader", "--signal", "HUP",
                    "--cmd", "grep -q reloaded " + str(sfleet.directory) + "/{host}/reloaded-{port}")
    assert run.code == 0, run.out + run.err
    assert real_pids(sfleet) == before                # nothing restarted: tornado, and the reloader itself
    assert run.out.splitlines()[0].startswith("rolling reload (SIGHUP) of reloader: 4 process(es) on 2 host(s)")
    assert run.out.splitlines()[-1].startswith("roll done: 4 of 4 process(es) reloaded (SIGHUP) in ")
    for host in sfleet.hosts:
        for n in (0, 1):
            assert Path(host.dir, f"reloaded-{n}").read_text() == "reloaded\n"   # each got exactly one HUP
            pid = before[(host.name, f"reloader:reloader-{n}")]
            assert any(line.startswith(f"         reloader:reloader-{n}: SIGHUP, pid {pid} kept (")
                       for line in run.out.splitlines()), run.out     # (the --cmd probe's answer)


def test_real_a_program_that_dies_on_hup_fails_the_gate_and_halts(sfleet: Any, home: Path) -> None:
    before = real_pids(sfleet)
    run = real_roll(sfleet, home, "tornado", "--signal", "HUP")
    try:
        assert run.code == 1, run.out + run.err
        lines = run.out.splitlines()
        failed = [line for line in lines if "FAILED" in line]
        assert len(failed) == 1, run.out
        first = sorted(n for h, n in before if h == "web01" and n.startswith("tornado:"))[0]
        assert failed[0].startswith(f"         {first}: FAILED in min-healthy: died on SIGHUP: ")
        assert lines[-1].startswith("roll HALTED: 0 of 8 process(es) reloaded (SIGHUP) in ")
        assert "untouched: web02" in lines[-1]
        after = real_pids(sfleet)
        assert after[("web01", first)] != before[("web01", first)]     # it died; supervisord started it again
        assert all(after[k] == pid for k, pid in before.items() if k != ("web01", first))   # the rest untouched
    finally:
        sfleet.wait_running("web01", timeout=30)


@pytest.fixture(scope="module")
def ofleet(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """web01 on the fleet's supervisord, web02 on a real supervisord 3.1.4 (no signalProcess)."""
    yield from start_fleet_for(tmp_path_factory, "signal-old", 2, light=True, releases={"web02": "3.1.4"})


def test_real_a_supervisord_before_3_2_refuses_the_reload_roll_and_nothing_is_touched(ofleet: Any,
                                                                                       home: Path) -> None:
    before = real_pids(ofleet)
    run = real_roll(ofleet, home, "tornado", "--signal", "HUP")
    assert run.code == EXIT_UNSUPPORTED, run.out + run.err
    assert run.out == ""
    assert run.err.splitlines() == [
        "herd: refusing to roll tornado: web02: supervisord 3.1.4 cannot signal processes (added in 3.2.0)",
        "herd: roll those hosts without --signal, or select the others"]
    assert real_pids(ofleet) == before
    others = real_roll(ofleet, home, "tornado", "--signal", "HUP", "-H", "web01", "--dry-run")
    assert others.code == 0, others.out + others.err
    assert others.out.splitlines()[1].startswith("rolling reload (SIGHUP) of tornado: 4 process(es) on 1 host(s)")
