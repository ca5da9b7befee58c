"""Hostile and broken hosts, end to end: a misbehaving server on a real host's supervisord socket.

The module's fleet: web01 and web03 (inet_http_server with a password) are
healthy; web02's supervisord is replaced by herd/localfleet/hostile.py
(Fleet.impersonate), reached through web02's real sshd.  Each
test shows what one behaviour can and cannot do to herd: no raw control
byte reaches stdout or stderr, the healthy hosts are shown completely, the
bad host gets its one line, the exit code is the documented one, and the
time and memory bounds hold (generously, relative to a healthy run).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from herd.testing.pytest_plugin import start_fleet_for
from helpers import herd_env

RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")   # TAB and LF are herd's own
BUDGET = 3.0


@pytest.fixture(scope="module")
def hhome(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile-home")


@pytest.fixture(scope="module")
def hfleet(tmp_path_factory, hhome):
    """The module's fleet, with a status of it measured while every host is still healthy."""
    for fleet in start_fleet_for(tmp_path_factory, "hostile", 3, light=True, inet=["web03"]):
        run(fleet, hhome, "status")   # warm-up (imports, caches)
        reference = run(fleet, hhome, "status", "--timeout", str(BUDGET))
        assert reference.code == 0, reference.out + reference.err
        _reference["healthy"] = reference
        yield fleet


_reference: dict[str, "Measured"] = {}


@dataclass
class Measured:
    code: int
    out: str
    err: str
    seconds: float
    max_rss_kib: int

    def rows(self, host: str) -> list[list[str]]:
        return [line.split(None, 5) for line in self.out.splitlines() if line.startswith(host + " ")]


def run(fleet, home, *args: str, stdin: str | None = None, timeout: float = 60) -> Measured:
    """herd ARGS, with its exit code, outputs, wall time and peak RSS (ru_maxrss from wait4)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "herd", *args, "-i", str(fleet.inventory_path)],
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=herd_env(home))
    outputs: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda n=n, s=s: outputs.__setitem__(n, s.read()), daemon=True)
               for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for thread in readers:
        thread.start()
    if stdin is not None:
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    for thread in readers:
        thread.join(10)
    return Measured(proc.returncode, outputs.get("out", b"").decode("utf-8", "replace"),
                    outputs.get("err", b"").decode("utf-8", "replace"), seconds, usage.ru_maxrss)


def healthy_rows_complete(fleet, result: Measured) -> None:
    for name in ("web01", "web03"):
        rows = result.rows(name)
        assert len(rows) == 5 and all(r[2] == "RUNNING" for r in rows), (name, result.out)


def no_raw_control(result: Measured) -> None:
    for stream, text in (("stdout", result.out), ("stderr", result.err)):
        found = RAW_CONTROL.search(text)
        assert found is None, f"{stream} carries {found.group()!r}: {text[max(0, found.start() - 80):found.end() + 80]!r}"


@pytest.fixture
def healthy(hfleet) -> Measured:
    """A status of the whole fleet while every host was still healthy: the reference for bounds."""
    return _reference["healthy"]


_serving: dict[str, tuple[str, ...]] = {}


def impersonate(fleet, behaviour: str, *options: str) -> None:
    """web02 served by ``behaviour`` (left as it is when it already is)."""
    if _serving.get("web02") != (behaviour, *options):
        fleet.impersonate("web02", behaviour, *options)
        _serving["web02"] = (behaviour, *options)


# -- escape sequences: every renderer -------------------------------------------------------------

RENDERERS = [
    (["status"], 3),
    (["status", "fine", "-H", "web02"], 0),
    (["version"], 0),
    (["pid"], 0),
    (["pid", "fine", "-H", "web02"], 0),
    (["avail"], 0),
    (["stop", "all", "-H", "web02"], 1),
    (["tail", "fine", "-H", "web02"], 0),
    (["tail", "fine", "stderr", "-H", "web02"], 0),
    (["check"], 2),
    (["check", "--format", "prometheus"], 2),
    (["rolling-restart", "fine", "-H", "web02", "--min-healthy", "0"], 1),
    (["fg", "fine", "-H", "web02"], 3),          # the stand-in says it stopped: detached
]


def test_escapes_status_table_shows_everything_escaped(hfleet, hhome, healthy):
    impersonate(hfleet, "escapes")
    result = run(hfleet, hhome, "status")
    no_raw_control(result)
    healthy_rows_complete(hfleet, result)
    web02 = result.rows("web02")
    assert len(web02) == 3, result.out                       # no fake row painted for another host
    assert not result.rows("web99")
    assert web02[0][1] == "evil\\x1b]0;title\\x07"
    assert "\\x1b[2J\\r\\n\\x1b[1Aweb99" in web02[0][5]
    assert result.code == 3                                  # a STOPPED and a FATAL process
    assert result.out.splitlines()[-1] == "3 hosts, 13 processes: 11 RUNNING, 1 FATAL, 1 STOPPED"


@pytest.mark.parametrize("args,code", RENDERERS, ids=[" ".join(a) for a, _ in RENDERERS])
def test_escapes_never_reach_the_terminal(hfleet, hhome, args, code):
    impersonate(hfleet, "escapes")
    result = run(hfleet, hhome, *args)
    no_raw_control(result)
    assert result.code == code, result.out + result.err
    assert "Traceback" not in result.err


def test_escapes_in_the_shell_and_its_completion(hfleet, hhome):
    impersonate(hfleet, "escapes")
    result = run(hfleet, hhome, "shell", "-a", stdin="status\nversion\npid\nhosts\n")
    no_raw_control(result)
    assert result.code == 0, result.err
    status_part = result.out.split("\n3 hosts, 13 processes")[0]
    healthy_rows_complete(hfleet, Measured(result.code, status_part, "", 0, 0))
    assert "web02  supervisord  4.2.5\\x1b]0;version\\x07 (API 3.0\\r\\nfake)" in result.out

    from herd.cli.shell import process_names
    from herd.supervisor.models import ProcessInfo
    from herd.localfleet.hostile import evil_processes
    offered = process_names(ProcessInfo.from_rpc(p) for p in evil_processes())
    assert offered == {"all", "fine"}                         # names with control characters are not offered


def test_escapes_in_a_followed_log(hfleet, hhome):
    impersonate(hfleet, "escapes")
    proc = subprocess.Popen([sys.executable, "-m", "herd", "tail", "-f", "fine", "-H", "web02", "-n", "5",
                             "--interval", "0.2", "-i", str(hfleet.inventory_path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=herd_env(hhome))
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    result = Measured(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), 0, 0)
    no_raw_control(result)
    assert "web02 fine | \\x1b]0;owned\\x07" in result.out, result.out + result.err
    assert result.code == 130


def test_json_keeps_the_exact_strings(hfleet, hhome):
    impersonate(hfleet, "escapes")
    result = run(hfleet, hhome, "status", "-o", "json", "-H", "web02")
    assert "\x1b" not in result.out                           # JSON escapes it itself
    import json
    names = [p["name"] for p in json.loads(result.out)["hosts"][0]["processes"]]
    assert names[0] == "evil\x1b]0;title\x07"


# -- broken answers: one line for the bad host, bounded time and memory ---------------------------

BROKEN = [
    ("garbage", "answered supervisor.getAllProcessInfo with something that is not supervisord's HTTP"),
    ("hang", f"supervisord did not answer supervisor.getAllProcessInfo within {BUDGET:g} s"),
    ("drip", f"supervisord did not answer supervisor.getAllProcessInfo within {BUDGET:g} s"),
    ("huge", "answer to supervisor.getAllProcessInfo is larger than 64 MB"),
    ("flood", "answer to supervisor.getAllProcessInfo is larger than 64 MB"),
    ("bomb", "answered supervisor.getAllProcessInfo with an XML document type declaration"),
]


@pytest.mark.parametrize("behaviour,sentence", BROKEN, ids=[b for b, _ in BROKEN])
def test_a_broken_answer_is_one_line_within_the_bounds(hfleet, hhome, healthy, behaviour, sentence):
    impersonate(hfleet, behaviour)
    result = run(hfleet, hhome, "status", "--timeout", str(BUDGET))
    no_raw_control(result)
    healthy_rows_complete(hfleet, result)
    [web02] = result.rows("web02")
    assert web02[2] == "UNREACHABLE" and sentence in web02[5], result.out
    assert result.code == 4
    assert result.err == ""
    # the budget plus a little over a healthy run (start-up included), however the answer comes
    assert result.seconds < healthy.seconds + BUDGET + 1.5, (healthy.seconds, result.seconds)
    # at most one answer's limit (64 MiB) and its pieces more than a healthy run
    assert result.max_rss_kib < healthy.max_rss_kib + 100 * 1024, (healthy.max_rss_kib, result.max_rss_kib)
    print(f"{behaviour}: {result.seconds:.2f} s (healthy {healthy.seconds:.2f} s), peak RSS "
          f"{result.max_rss_kib / 1024:.0f} MiB (healthy {healthy.max_rss_kib / 1024:.0f} MiB)")


READ_ONLY = [["version"], ["pid"], ["pid", "worker"], ["avail"], ["tail", "worker", "-H", "web0[12]"]]


@pytest.mark.parametrize("args", READ_ONLY, ids=[" ".join(a) for a in READ_ONLY])
def test_read_only_commands_keep_the_budget_against_a_drip(hfleet, hhome, healthy, args):
    impersonate(hfleet, "drip")
    result = run(hfleet, hhome, *args, "--timeout", str(BUDGET))
    no_raw_control(result)
    assert result.code == 4, result.out + result.err
    assert result.seconds < healthy.seconds + BUDGET + 1.5, (healthy.seconds, result.seconds)
    assert "web02" in result.out + result.err


def test_thousands_of_processes_are_shown_completely(hfleet, hhome, healthy):
    impersonate(hfleet, "many", "--processes", "5000")
    result = run(hfleet, hhome, "status", "--timeout", "10")
    assert result.code == 0, result.err
    assert len(result.rows("web02")) == 5000
    healthy_rows_complete(hfleet, result)
    assert result.out.splitlines()[-1] == "3 hosts, 5010 processes: 5010 RUNNING"
    print(f"many: {result.seconds:.2f} s, peak RSS {result.max_rss_kib / 1024:.0f} MiB")


def test_an_inet_host_can_be_impersonated_and_restored(hfleet, hhome):
    hfleet.impersonate("web03", "garbage")
    try:
        result = run(hfleet, hhome, "status", "-H", "web03")
        [row] = result.rows("web03")
        assert "not supervisord's HTTP" in row[5] and result.code == 4
    finally:
        hfleet.restore("web03")
    hfleet.restore("web02")
    _serving.pop("web02", None)
    result = run(hfleet, hhome, "status")
    assert result.code == 0, result.out + result.err
