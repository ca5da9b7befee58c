"""herd guard in process: fake supervisords under the shared poller, a real HTTP receiver started here.

Real-fleet proof (sshd + supervisord, a program broken to FATAL): tests/test_guard_fleet.py.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from herd.cli import run_command
from herd.operations.guard.channels import WebhookChannel, redact
from herd.operations.guard.engine import Guard
from herd.operations.guard.incidents import IncidentBook
from herd.operations.guard.rules import quick_start_rules
from herd.operations.guard.state import GuardStateFile
from herd.operations.poller import Poller
from herd.testing.guard import guard_running
from herd.testing.fake import FakeHost, FakeSupervisor, ProgramSpec, fake_fleet
from helpers import wait_until


class Receiver:
    """A webhook endpoint on 127.0.0.1: records every POST; answers ``statuses`` in turn (then 200),
    or hangs while ``hang`` is set."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.raw: list[bytes] = []
        self.paths: list[str] = []
        self.statuses: list[int] = []
        self.hang = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.raw.append(body)
                receiver.paths.append(self.path)
                receiver.posts.append(json.loads(body))
                if receiver.hang.is_set():
                    receiver.release.wait(30)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/SECRET-TOKEN-123"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[tuple[str, str | None, int]]:
        """(event, program, hosts affected) of every POST, in order."""
        return [(p["event"], p["incident"]["program"], p["incident"]["hosts_affected"]) for p in self.posts]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def fleet_hosts(count: int = 3, extra: ProgramSpec | None = None) -> list[FakeHost]:
    specs = [ProgramSpec("tornado", numprocs=2, numprocs_start=8080), ProgramSpec("worker"), ProgramSpec("api")]
    return [FakeHost(f"web{i:02d}", FakeSupervisor(specs + ([extra] if extra else [])))
            for i in range(1, count + 1)]


def make_guard(hosts: list[FakeHost], channels, state: Path | None = None, *, unreachable_for: float = 0.0,
               update_every: float = 60.0, group_wait: float = 0.3, max_per_minute: int = 30,
               lines: list[str] | None = None) -> Guard:
    rules = quick_start_rules(unreachable_for)
    saved = GuardStateFile(state) if state else None
    book = IncidentBook({r.name: r.title for r in rules}, len(hosts), update_every=update_every,
                        group_wait=group_wait, max_per_minute=max_per_minute,
                        incidents=saved.load() if saved else None)
    return Guard([h.name for h in hosts], rules, channels, book=book, state=saved,
                 report=(lines.append if lines is not None else None))


@contextlib.contextmanager
def running(guard: Guard, hosts: list[FakeHost], interval: float = 0.05) -> Iterator[Poller]:
    """The poller and guard's loop in threads, as `herd guard` runs them; stopped and closed after."""
    with guard_running(guard, Poller(fake_fleet(hosts), interval)) as poller:
        yield poller


def to_fatal(host: FakeHost, program: str = "worker") -> None:
    """A bad build: the program exits at once whenever started; a crash makes supervisord give up (FATAL)."""
    host.supervisor.break_program(program)
    host.supervisor.crash(program)


def fix(host: FakeHost, program: str = "worker") -> None:
    host.supervisor.break_program(program, fails=False)
    host.client().call("supervisor.startProcess", program, False)


def test_a_crash_on_3_hosts_is_one_alert_naming_them_then_one_recovery(receiver: Receiver) -> None:
    hosts = fleet_hosts(4)
    channel = WebhookChannel(receiver.url, backoff=(0.05,))
    lines: list[str] = []
    guard = make_guard(hosts, [channel], lines=lines)
    with running(guard, hosts):
        wait_until(lambda: all(h.polls for h in guard._last.values()) and len(guard._last) == 4, 10, "first polls")
        for host in hosts[:3]:
            to_fatal(host)
        wait_until(lambda: receiver.posts, 10, "the opening")
        time.sleep(0.5)                            # more polls: nothing more is sent while nothing changes
        assert receiver.events() == [("opened", "worker", 3)]
        opened = receiver.posts[0]
        assert opened["summary"] == "worker FATAL on 3 of 4 hosts: web01, web02, web03"
        assert [h["host"] for h in opened["incident"]["hosts"]] == ["web01", "web02", "web03"]
        assert opened["incident"]["hosts"][0]["processes"] == ["worker"]
        assert opened["incident"]["rule"] == "fatal" and opened["incident"]["hosts_total"] == 4
        for host in hosts[:2]:
            fix(host)
        time.sleep(0.5)
        assert len(receiver.posts) == 1            # two of three recovered: not over yet (update_every 60 s)
        fix(hosts[2])
        wait_until(lambda: len(receiver.posts) == 2, 10, "the recovery")
        time.sleep(0.3)
    assert receiver.events() == [("opened", "worker", 3), ("resolved", "worker", 0)]
    resolved = receiver.posts[1]
    assert resolved["incident"]["id"] == opened["incident"]["id"]
    assert resolved["incident"]["recovered"] == ["web01", "web02", "web03"]
    assert resolved["incident"]["peak"] == 3 and resolved["incident"]["resolved_at"]
    assert channel.sent == 2 and channel.failed == 0
    assert not any("SECRET" in line for line in lines) and channel.name == "webhook http://127.0.0.1:" \
        f"{receiver.server.server_port}/..."
    assert [line.split(":")[0] for line in lines] == ["opened", "resolved"]


def test_an_incident_that_grows_is_updated_at_most_once_per_update_every(receiver: Receiver) -> None:
    hosts = fleet_hosts(3)
    guard = make_guard(hosts, [WebhookChannel(receiver.url)], update_every=1.5, group_wait=0.0)
    with running(guard, hosts):
        wait_until(lambda: len(guard._last) == 3, 10)
        to_fatal(hosts[0])
        wait_until(lambda: receiver.posts, 10, "the opening")
        to_fatal(hosts[1])
        time.sleep(0.2)
        to_fatal(hosts[2])
        wait_until(lambda: len(receiver.posts) == 2, 10, "the update")
        time.sleep(1.0)
        assert receiver.events() == [("opened", "worker", 1), ("updated", "worker", 3)]   # both joins in one
        assert guard.sent[1].time - guard.sent[0].time >= 1.5


def test_an_unexpected_exit_and_a_host_unreachable_then_back(receiver: Receiver) -> None:
    hosts = fleet_hosts(2, ProgramSpec("job", autorestart=False, exitcodes=(0,)))
    guard = make_guard(hosts, [WebhookChannel(receiver.url)], unreachable_for=0.3, group_wait=0.0)
    with running(guard, hosts):
        wait_until(lambda: len(guard._last) == 2, 10)
        hosts[0].supervisor.crash("job", exitstatus=0)     # expected: nothing to say
        hosts[1].supervisor.crash("job", exitstatus=3)     # not in exitcodes
        wait_until(lambda: receiver.posts, 10, "the exit alert")
        assert receiver.events() == [("opened", "job", 1)]
        assert receiver.posts[0]["incident"]["title"] == "EXITED unexpectedly"
        assert receiver.posts[0]["incident"]["hosts"][0]["host"] == "web02"
        hosts[0].break_connection("connection reset by peer")
        wait_until(lambda: len(receiver.posts) == 2, 10, "the unreachable alert")
        down = receiver.posts[1]
        assert (down["event"], down["incident"]["rule"], down["incident"]["program"]) == \
            ("opened", "unreachable", None)
        assert down["incident"]["hosts"][0]["detail"].startswith("SSH connection lost")
        hosts[0].repair()
        hosts[1].client().call("supervisor.startProcess", "job", False)
        wait_until(lambda: len(receiver.posts) == 4, 10, "both recoveries")
    assert sorted(receiver.events()[2:], key=str) == [("resolved", "job", 0), ("resolved", None, 0)]


def test_a_hanging_endpoint_is_bounded_and_retried_and_blocks_neither_detection_nor_other_channels(
        receiver: Receiver) -> None:
    good = Receiver()
    try:
        receiver.hang.set()
        hanging = WebhookChannel(receiver.url, timeout=0.3, attempts=2, backoff=(0.05,))
        other = WebhookChannel(good.url)
        hosts = fleet_hosts(2)
        guard = make_guard(hosts, [hanging, other], group_wait=0.0)
        with running(guard, hosts):
            wait_until(lambda: len(guard._last) == 2, 10)
            to_fatal(hosts[0])
            wait_until(lambda: good.posts, 10, "the other channel's opening")
            to_fatal(hosts[0], "api")              # detection goes on while the hanging endpoint holds a message
            wait_until(lambda: len(good.posts) == 2, 10, "the second incident, elsewhere")
            assert [n.kind for n in guard.sent] == ["opened", "opened"]
            wait_until(lambda: hanging.failed == 2, 10, "both messages given up")
        # each message: 2 attempts of 0.3 s, not one more
        assert len(receiver.posts) == 4
        assert [p["incident"]["program"] for p in receiver.posts] == ["worker", "worker", "api", "api"]
        assert hanging.sent == 0 and other.sent == 2
    finally:
        good.close()


def test_an_endpoint_answering_500_is_retried_with_backoff_and_a_400_is_not(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    channel = WebhookChannel(receiver.url, attempts=4, backoff=(0.1, 0.2))
    hosts = fleet_hosts(1)
    guard = make_guard(hosts, [channel], group_wait=0.0)
    with running(guard, hosts):
        wait_until(lambda: guard._last, 10)
        started = time.monotonic()
        to_fatal(hosts[0])
        wait_until(lambda: channel.sent == 1, 10, "delivered on the third attempt")
        assert time.monotonic() - started >= 0.3        # waited 0.1 then 0.2 between attempts
        assert len(receiver.posts) == 3 and receiver.raw[0] == receiver.raw[2]
        receiver.statuses = [400]
        fix(hosts[0])
        wait_until(lambda: channel.failed == 1, 10, "a 400 given up at once")
    assert len(receiver.posts) == 4 and receiver.posts[3]["event"] == "resolved"


def test_a_full_queue_drops_counts_and_says_so(receiver: Receiver) -> None:
    receiver.hang.set()
    channel = WebhookChannel(receiver.url, timeout=10, attempts=1, queue_size=1)
    hosts = fleet_hosts(1, ProgramSpec("extra"))
    guard = make_guard(hosts, [channel], group_wait=0.0)
    with running(guard, hosts):
        wait_until(lambda: guard._last, 10)
        to_fatal(hosts[0], "worker")
        wait_until(lambda: receiver.posts, 10, "the first message in flight (hanging)")
        to_fatal(hosts[0], "api")                       # queued
        wait_until(lambda: len(guard.sent) == 2, 10)
        to_fatal(hosts[0], "extra")                     # no room: dropped
        wait_until(lambda: channel.dropped == 1, 10, "a message dropped")
        receiver.hang.clear()
        receiver.release.set()
        wait_until(lambda: channel.sent == 2, 10, "the in-flight and the queued delivered")
    assert [(p["incident"]["program"], p["dropped"]) for p in receiver.posts] == [("worker", 0), ("api", 1)]
    assert channel.dropped == 1 and channel.failed == 0


def test_guard_restarted_mid_incident_sends_no_duplicate_and_sends_the_recovery(receiver: Receiver,
                                                                                 tmp_path: Path) -> None:
    hosts = fleet_hosts(3)
    state = tmp_path / "guard.json"
    first = make_guard(hosts, [WebhookChannel(receiver.url)], state, group_wait=0.2)
    with running(first, hosts):
        wait_until(lambda: len(first._last) == 3, 10)
        to_fatal(hosts[0])
        to_fatal(hosts[1])
        wait_until(lambda: receiver.posts, 10, "the opening")
    saved = json.loads(state.read_text())
    assert [i["announced"] for i in saved["incidents"]] == [True]
    assert state.stat().st_mode & 0o777 == 0o600
    second = make_guard(hosts, [WebhookChannel(receiver.url)], state, group_wait=0.2)
    with running(second, hosts) as poller:
        wait_until(lambda: len(second._last) == 3 and all(h.polls > 3 for h in poller.snapshot().hosts), 10)
        time.sleep(0.4)
        assert receiver.events() == [("opened", "worker", 2)]   # still FATAL on both: nothing again
        fix(hosts[0])
        fix(hosts[1])
        wait_until(lambda: len(receiver.posts) == 2, 10, "the recovery")
    assert receiver.events() == [("opened", "worker", 2), ("resolved", "worker", 0)]
    assert receiver.posts[1]["incident"]["id"] == receiver.posts[0]["incident"]["id"]
    assert json.loads(state.read_text())["incidents"] == []


def test_recovered_while_guard_was_down_is_sent_at_the_restart(receiver: Receiver, tmp_path: Path) -> None:
    hosts = fleet_hosts(2)
    state = tmp_path / "guard.json"
    first = make_guard(hosts, [WebhookChannel(receiver.url)], state, group_wait=0.0)
    with running(first, hosts):
        wait_until(lambda: len(first._last) == 2, 10)
        to_fatal(hosts[1])
        wait_until(lambda: receiver.posts, 10)
    fix(hosts[1])
    second = make_guard(hosts, [WebhookChannel(receiver.url)], state, group_wait=0.0)
    with running(second, hosts):
        wait_until(lambda: len(receiver.posts) == 2, 10, "the recovery")
    assert receiver.events() == [("opened", "worker", 1), ("resolved", "worker", 0)]


HOSTILE = 'evil"\n\x1b[31m</script>{"x",1}\\\u2028\u00e9\x00'


def test_a_hostile_process_name_reaches_the_json_as_data(receiver: Receiver) -> None:
    hosts = fleet_hosts(1, ProgramSpec(HOSTILE))
    lines: list[str] = []
    guard = make_guard(hosts, [WebhookChannel(receiver.url)], group_wait=0.0, lines=lines)
    with running(guard, hosts):
        wait_until(lambda: guard._last, 10)
        to_fatal(hosts[0], HOSTILE)
        wait_until(lambda: receiver.posts, 10, "the opening")
    body = receiver.raw[0]
    assert body.isascii() and b"\n" not in body and b"\x1b" not in body and b"</script>" in body
    incident = receiver.posts[0]["incident"]
    assert incident["program"] == HOSTILE and incident["hosts"][0]["processes"] == [HOSTILE]
    assert receiver.posts[0]["summary"].startswith(HOSTILE + " FATAL on 1 of 1 hosts")
    assert lines and all("\n" not in line and "\x1b" not in line and "\x00" not in line for line in lines)
    assert "\\x1b[31m" in lines[0]


def test_a_process_already_fatal_when_guard_starts_is_reported_and_dry_run_prints_it() -> None:
    import io

    from herd.operations.guard.channels import PrintChannel

    hosts = fleet_hosts(2)
    to_fatal(hosts[1])
    wait_until(lambda: hosts[1].supervisor.states()["worker"] == "FATAL", 10)
    out = io.StringIO()
    guard = make_guard(hosts, [PrintChannel(out)], group_wait=0.0)
    with running(guard, hosts):
        wait_until(lambda: out.getvalue(), 10, "the opening printed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("would send: {")
    body = json.loads(lines[0][len("would send: "):])
    assert body["event"] == "opened" and body["summary"] == "worker FATAL on 1 of 2 hosts: web02"


def test_the_rate_limit_holds_messages_back_and_says_how_many() -> None:
    from herd.operations.guard.rules import Signal

    book = IncidentBook({"fatal": "FATAL"}, 10, max_per_minute=2)
    for i, program in enumerate(["a", "b", "c"]):
        book.apply(Signal("fatal", "web01", program, program, True, 1000.0 + i))
    first = book.due(1010.0)
    assert [n.incident.subject for n in first] == ["a", "b"] and book.held == 1
    assert book.due(1011.0) == [] and book.held == 2          # still over budget: held again, not lost
    book.limit.stamp -= 30                                    # half a minute later: one token back
    later = book.due(1040.0)
    assert [(n.kind, n.incident.subject, n.held) for n in later] == [("opened", "c", 2)]


def test_a_message_is_what_the_incident_was_when_it_was_due() -> None:
    from herd.operations.guard.rules import Signal

    book = IncidentBook({"fatal": "FATAL"}, 3)
    book.apply(Signal("fatal", "web01", "a", "a", True, 100.0))
    [note] = book.due(100.0)
    book.apply(Signal("fatal", "web02", "a", "a", True, 101.0))     # the channel thread may read it later
    assert note.body()["incident"]["hosts_affected"] == 1 and note.summary() == "a FATAL on 1 of 3 hosts: web01"


def test_opened_and_recovered_before_it_could_be_sent_sends_nothing() -> None:
    from herd.operations.guard.rules import Signal

    book = IncidentBook({"fatal": "FATAL"}, 2, group_wait=5.0)
    book.apply(Signal("fatal", "web01", "a", "a", True, 100.0))
    assert book.due(101.0) == []
    book.apply(Signal("fatal", "web01", "a", "a", False, 102.0, how="RUNNING"))
    assert book.due(106.0) == [] and book.quiet == 1 and not book.incidents


def test_redact_keeps_only_scheme_and_host() -> None:
    assert redact("https://user:pw@hooks.example.com:8443/services/T0/B0/XYZ?token=1") == \
        "https://hooks.example.com:8443/..."


@pytest.mark.parametrize("args, said", [
    (["guard"], "nothing to notify: give --webhook URL"),
    (["guard", "--webhook", "ftp://h/SECRET-TOKEN"], "--webhook: the webhook URL must be http:// or https://"),
    (["guard", "--webhook", "http://h:99999/SECRET-TOKEN"], "--webhook: the webhook URL does not parse"),
    (["guard", "--webhook-file", "/nonexistent/SECRET"], "--webhook-file /nonexistent/SECRET: cannot read it"),
])
def test_bad_webhooks_are_one_line_usage_errors_that_never_show_the_url(args, said, capsys,
                                                                          monkeypatch) -> None:
    monkeypatch.delenv("HERD_GUARD_WEBHOOK", raising=False)
    assert run_command(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"herd: {said}") and err.count("\n") == 1
    assert "SECRET-TOKEN" not in err


def test_a_state_file_herd_did_not_write_is_a_usage_error(tmp_path: Path, capsys) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("hosts:\n  web01: {}\n")
    state = tmp_path / "state.json"
    state.write_text('{"schema": 1, "incidents": [{"nope": 1}]}')
    code = run_command(["guard", "-i", str(inventory), "--dry-run", "--state-file", str(state)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"herd: cannot read guard state {state}: not a guard state herd wrote")
