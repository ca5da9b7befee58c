"""herd guard's Slack, email and command channels, against real receivers started here: an SMTP server
(aiosmtpd, with STARTTLS on a self-signed certificate made by the test, and AUTH), an HTTP server for
Slack, and real commands; the fleet is fake (herd/testing/fake.py) under the shared poller.

The webhook channel and the engine: tests/test_guard_fake.py; a real FATAL mailed: test_guard_channels_fleet.py.
"""

from __future__ import annotations

import contextlib
import datetime
import email
import email.policy
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from herd.cli import run_command
from herd.errors import UsageError
from herd.inventory.guard import EmailSettings, SecretRef
from herd.operations.guard.channels.command import CommandChannel
from herd.operations.guard.channels.slack import SlackChannel
from herd.operations.guard.channels.smtp import EmailChannel, check_email
from herd.testing.fake import ProgramSpec
from helpers import Running, wait_until
from test_guard_fake import Receiver, fix, fleet_hosts, make_guard, running, to_fatal

PASSWORD = "pw-SECRET-4711"
# a process name that tries everything: a header break and Bcc, Slack pings and links, HTML, ANSI, NUL
# (the program is what comes before the first colon: the subject shows it; the process name is all of it)
HOSTILE = ("evil <!channel> <@U024BE7LH> <script>alert(1)</script> \x1b[31mred\x1b[0m &amp;\x00\r\n"
           "X-Injected: yes <https://evil.example/|click>\r\nBcc: victim@example.org")


# -- a real SMTP server ------------------------------------------------------------------------------------

def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost), made with cryptography: (cert, key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "herd test SMTP")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Mailbox:
    """What the SMTP server received: each message with its envelope, whether it came over TLS and
    authenticated; and every AUTH attempt."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.auth_attempts: list[tuple[str, bool]] = []     # (login, over TLS)
        self.refuse: set[str] = set()                       # recipients answered 550

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's
        self.messages.append({
            "mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos), "raw": envelope.content,
            "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
            "tls": session.ssl is not None, "authenticated": bool(session.authenticated)})
        return "250 OK"

    def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"herd" \
            and auth_data.password == PASSWORD.encode()
        self.auth_attempts.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?",
                                   session.ssl is not None))
        return AuthResult(success=ok, handled=False)      # not handled: the server answers 535 itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def smtp_server(tmp_path: Path, *, starttls: bool = True, implicit: bool = False,
                auth_in_clear: bool = False) -> Iterator[tuple[Mailbox, int, ssl.SSLContext]]:
    """An aiosmtpd server on 127.0.0.1 with AUTH: STARTTLS offered (and required) when ``starttls``, TLS from
    the start when ``implicit``, AUTH accepted in clear when ``auth_in_clear`` (a server guard must not trust).
    Yields the mailbox, the port and a client context trusting the test's certificate."""
    cert, key = make_cert(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    mailbox = Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {"authenticator": mailbox.authenticator, "auth_require_tls": not auth_in_clear}
    if starttls and not implicit:
        kwargs.update(tls_context=server_ctx, require_starttls=True)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ssl_context=server_ctx if implicit else None,
                            server_hostname="127.0.0.1", **kwargs)
    controller.start()
    try:
        yield mailbox, port, client_ctx
    finally:
        controller.stop()


def settings(port: int, **changes: Any) -> EmailSettings:
    base: dict[str, Any] = dict(host="127.0.0.1", port=port, starttls=True, sender="herd@example.com",
                                to=("oncall@example.com",), user="herd", password=SecretRef(env="TEST_SMTP_PW"),
                                timeout=5.0)
    base.update(changes)
    return EmailSettings(**base)


@pytest.fixture(autouse=True)
def smtp_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PW", PASSWORD)


def one_fatal(channels: list[Any], until: Callable[[], object], what: str) -> None:
    """Guard over one fake host with ``channels``; the worker goes FATAL; wait until ``until()``."""
    hosts = fleet_hosts(1)
    guard = make_guard(hosts, channels, group_wait=0.0)
    with running(guard, hosts):
        wait_until(lambda: guard._last, 10)
        to_fatal(hosts[0])
        wait_until(until, 10, what)


# -- email -------------------------------------------------------------------------------------------------

def test_email_over_starttls_with_auth_one_message_per_incident_event(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(tmp_path) as (mailbox, port, ctx):
        channel = EmailChannel(settings(port), context=ctx, backoff=(0.05,))
        hosts = fleet_hosts(3)
        guard = make_guard(hosts, [channel])
        with running(guard, hosts):
            wait_until(lambda: len(guard._last) == 3, 10, "first polls")
            to_fatal(hosts[0])
            to_fatal(hosts[1])
            wait_until(lambda: mailbox.messages, 10, "the opening mailed")
            time.sleep(0.5)                                   # nothing more while nothing changes
            assert len(mailbox.messages) == 1
            fix(hosts[0])
            fix(hosts[1])
            wait_until(lambda: len(mailbox.messages) == 2, 10, "the recovery mailed")
            time.sleep(0.3)
        assert len(mailbox.messages) == 2 and channel.sent == 2 and channel.failed == 0
    opened, resolved = (m["message"] for m in mailbox.messages)
    assert all(m["tls"] and m["authenticated"] for m in mailbox.messages)
    assert mailbox.auth_attempts == [("herd", True), ("herd", True)]
    assert [m["mail_from"] for m in mailbox.messages] == ["herd@example.com"] * 2
    assert [m["rcpt_tos"] for m in mailbox.messages] == [["oncall@example.com"]] * 2
    assert opened["Subject"] == "[herd guard] worker FATAL on 2 of 3 hosts: web01, web02"
    assert resolved["Subject"] == "[herd guard] recovered: worker FATAL (was on 2 of 3 hosts, at most 2 at once)"
    assert opened["To"] == "oncall@example.com" and opened["From"] == "herd@example.com"
    assert opened.get_content_type() == "text/plain"
    incident = opened["X-Herd-Incident"]
    assert incident and resolved["X-Herd-Incident"] == incident
    assert opened["References"] == resolved["References"] == f"<{incident}@herd-guard>"
    assert opened["Message-ID"] != resolved["Message-ID"]
    body = opened.get_content().replace("\r\n", "\n")
    assert body.startswith("opened: worker FATAL on 2 of 3 hosts: web01, web02\n")
    assert f"incident: {incident} (rule fatal: FATAL)" in body and "program: worker" in body
    assert "hosts affected: 2 of 3 (at most 2 at once)" in body
    assert any(line.startswith("web01 since ") and line.endswith(": worker -- Exited too quickly (process log "
                                                                 "may have details)") or
               line.startswith("web01 since ") and ": worker" in line for line in body.splitlines())
    assert "\r\nrecovered: web01, web02\r\n" in resolved.get_content()
    assert PASSWORD not in caplog.text


def test_implicit_tls_on_its_own_port(tmp_path: Path) -> None:
    # aiosmtpd counts only STARTTLS as TLS for AUTH: on an implicit-TLS port it must be told AUTH is fine
    with smtp_server(tmp_path, implicit=True, auth_in_clear=True) as (mailbox, port, ctx):
        channel = EmailChannel(settings(port, starttls=False, ssl=True), context=ctx)
        one_fatal([channel], lambda: mailbox.messages, "the opening mailed over TLS")
    assert [login for login, _ in mailbox.auth_attempts] == ["herd"] and mailbox.messages[0]["authenticated"]


def test_no_credentials_without_tls(tmp_path: Path, caplog) -> None:
    """A server that offers no STARTTLS (and would take AUTH in clear) gets neither AUTH nor the message;
    settings that would send credentials in clear are refused before anything starts."""
    with smtp_server(tmp_path, starttls=False, auth_in_clear=True) as (mailbox, port, ctx):
        channel = EmailChannel(settings(port), context=ctx, attempts=3, backoff=(0.05,))
        one_fatal([channel], lambda: channel.failed == 1, "the message given up")
        assert mailbox.auth_attempts == [] and mailbox.messages == []
    assert "the server does not offer STARTTLS: nothing sent (credentials go only over TLS)" in caplog.text
    assert "attempt 1 failed" not in caplog.text           # not retried: it cannot get better
    with pytest.raises(UsageError, match="credentials are sent only over TLS"):
        check_email(settings(25, starttls=False))
    with pytest.raises(UsageError, match="give both a user and a password"):
        check_email(settings(25, password=None))


def test_a_wrong_password_is_refused_not_retried_and_never_shown(tmp_path: Path, caplog,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_SMTP_PW", "wrong-SECRET-0815")
    with smtp_server(tmp_path) as (mailbox, port, ctx):
        channel = EmailChannel(settings(port), context=ctx, attempts=3, backoff=(0.05,))
        one_fatal([channel], lambda: channel.failed == 1, "given up")
    assert mailbox.auth_attempts == [("herd", True)] and mailbox.messages == []
    assert "login refused: SMTP 535" in caplog.text and "wrong-SECRET" not in caplog.text


def test_a_refused_recipient_is_said_and_all_refused_is_not_retried(tmp_path: Path, caplog) -> None:
    with smtp_server(tmp_path) as (mailbox, port, ctx):
        mailbox.refuse = {"gone@example.com", "left@example.com"}
        some = EmailChannel(settings(port, to=("oncall@example.com", "gone@example.com")), context=ctx)
        none = EmailChannel(settings(port, to=("gone@example.com", "left@example.com")), context=ctx,
                            attempts=3, backoff=(0.05,))
        one_fatal([some, none], lambda: some.sent == 1 and none.failed == 1, "one delivered, one given up")
    assert [m["rcpt_tos"] for m in mailbox.messages] == [["oncall@example.com"]]
    assert "refused by the server for gone@example.com (the others have it)" in caplog.text
    assert "not delivered after 1 attempt(s): every recipient refused (SMTP 550)" in caplog.text


def test_an_untrusted_certificate_sends_nothing(tmp_path: Path, caplog) -> None:
    with smtp_server(tmp_path) as (mailbox, port, _):
        channel = EmailChannel(settings(port), context=ssl.create_default_context(), attempts=2, backoff=(0.05,))
        one_fatal([channel], lambda: channel.failed == 1, "given up")
    assert mailbox.auth_attempts == [] and mailbox.messages == []
    assert "TLS: the server's certificate is not trusted" in caplog.text


def test_a_hanging_smtp_server_is_bounded_and_blocks_neither_detection_nor_another_channel(tmp_path: Path) -> None:
    """A server that accepts and never greets: each attempt ends at the timeout; the other channel delivers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(silent.accept()[0])
    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    good = Receiver()
    try:
        hanging = EmailChannel(settings(silent.getsockname()[1], timeout=0.4), attempts=2, backoff=(0.05,))
        other = SlackChannel(good.url)
        hosts = fleet_hosts(2)
        guard = make_guard(hosts, [hanging, other], group_wait=0.0)
        with running(guard, hosts):
            wait_until(lambda: len(guard._last) == 2, 10)
            started = time.monotonic()
            to_fatal(hosts[0])
            wait_until(lambda: good.posts, 10, "the other channel's message")
            to_fatal(hosts[0], "api")
            wait_until(lambda: len(good.posts) == 2, 10, "detection went on")
            # unbounded, an attempt would wait for the greeting forever; each is cut at 0.4 s (the bound here
            # is loose: the machine's cores are shared)
            wait_until(lambda: hanging.failed == 2, 30, "both messages given up")
            took = time.monotonic() - started
        wait_until(lambda: len(accepted) == 4, 10, "2 messages x 2 attempts, one connection each")
        assert took < 20.0 and hanging.sent == 0 and other.sent == 2
    finally:
        stop.set()
        acceptor.join(5)
        silent.close()
        for conn in accepted:
            conn.close()
        good.close()


# -- Slack ------------------------------------------------------------------------------------------------

def test_slack_gets_text_and_blocks_per_incident_event(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = Receiver()
    try:
        channel = SlackChannel(receiver.url)
        hosts = fleet_hosts(3)
        guard = make_guard(hosts, [channel])
        with running(guard, hosts):
            wait_until(lambda: len(guard._last) == 3, 10)
            to_fatal(hosts[0])
            to_fatal(hosts[2])
            wait_until(lambda: receiver.posts, 10, "the opening")
            fix(hosts[0])
            fix(hosts[2])
            wait_until(lambda: len(receiver.posts) == 2, 10, "the recovery")
            time.sleep(0.3)
    finally:
        receiver.close()
    opened, resolved = receiver.posts
    assert len(receiver.posts) == 2 and channel.name == f"slack http://127.0.0.1:{receiver.server.server_port}/..."
    assert opened["text"] == "opened: worker FATAL on 2 of 3 hosts: web01, web03"
    assert resolved["text"] == "resolved: recovered: worker FATAL (was on 2 of 3 hosts, at most 2 at once)"
    assert opened["blocks"][0] == {"type": "section",
                                   "text": {"type": "mrkdwn", "text": f"*{opened['text']}*"}}
    assert "program: worker" in opened["blocks"][1]["text"]["text"]
    assert opened["blocks"][2]["text"]["text"].splitlines()[0].startswith("web01 since ")
    assert opened["blocks"][-1]["type"] == "context" and opened["unfurl_links"] is False
    assert "recovered: web01, web03" in resolved["blocks"][2]["text"]["text"]
    assert "SECRET-TOKEN" not in caplog.text


# -- a hostile process name, every channel -----------------------------------------------------------------

def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from ([item] if key == "text" and isinstance(item, str) else _texts(item))
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def test_a_hostile_process_name_is_harmless_in_every_channel(tmp_path: Path) -> None:
    out = tmp_path / "command.out"
    script = tmp_path / "record.py"
    script.write_text("import json, os, sys\n"
                      f"open({str(out)!r}, 'a').write(json.dumps({{'stdin': sys.stdin.read(), 'env': "
                      "{k: v for k, v in os.environ.items() if k.startswith('HERD_GUARD_')}}) + '\\n')\n")
    receiver = Receiver()
    try:
        with smtp_server(tmp_path) as (mailbox, port, ctx):
            mail = EmailChannel(settings(port), context=ctx)
            slack = SlackChannel(receiver.url)
            command = CommandChannel([sys.executable, str(script)])
            hosts = fleet_hosts(1, ProgramSpec(HOSTILE))
            guard = make_guard(hosts, [mail, slack, command], group_wait=0.0)
            with running(guard, hosts):
                wait_until(lambda: guard._last, 10)
                to_fatal(hosts[0], HOSTILE)
                wait_until(lambda: mailbox.messages and receiver.posts and command.sent, 10, "all three")
    finally:
        receiver.close()
    # email: one recipient, the subject one line, no header of the name's making, a text body with no controls
    [got] = mailbox.messages
    assert got["rcpt_tos"] == ["oncall@example.com"]
    message = got["message"]
    assert "Bcc" not in message and "X-Injected" not in message and len(message.get_all("Subject")) == 1
    subject = str(message["Subject"])
    assert "\r" not in subject and "\n" not in subject and "\x1b" not in subject
    assert subject == ("[herd guard] evil <!channel> <@U024BE7LH> <script>alert(1)</script> \\x1b[31mred\\x1b[0m "
                       "&amp;\\x00\\r\\nX-Injected FATAL on 1 of 1 hosts: web01")
    body = message.get_content().replace("\r\n", "\n")        # CRLF: the wire's line ends
    assert "\x1b" not in body and "\x00" not in body and "\r" not in body
    assert "\\x1b[31mred\\x1b[0m" in body and "<script>" in body      # text/plain: markup is text
    assert "\\r\\nX-Injected: yes <https://evil.example/|click>\\r\\nBcc: victim@example.org" in body
    assert not any(line.startswith(("Bcc", "X-Injected")) for line in body.splitlines())
    # Slack: no '<' reaches Slack (no ping, no mention, no link), no control character, the name still readable
    texts = list(_texts(receiver.posts[0]))
    assert texts and all("<" not in t and ">" not in t and "\x1b" not in t and "\r" not in t for t in texts)
    assert "evil &lt;!channel&gt; &lt;@U024BE7LH&gt; &lt;script&gt;" in receiver.posts[0]["text"]
    assert "&amp;amp;" in receiver.posts[0]["text"]              # a written entity stays text, not '&'
    hosts_block = receiver.posts[0]["blocks"][2]["text"]["text"]
    assert "\\r\\nX-Injected: yes &lt;https://evil.example/|click&gt;\\r\\nBcc" in hosts_block
    assert len(hosts_block.splitlines()) == 1                   # the name broke no line of its own
    # command: the name is data in the JSON; the environment holds it escaped
    record = json.loads(out.read_text().splitlines()[0])
    sent = json.loads(record["stdin"])["incident"]
    assert sent["program"] == HOSTILE.split(":")[0] and sent["hosts"][0]["processes"] == [HOSTILE]
    env = record["env"]
    assert env["HERD_GUARD_PROGRAM"].endswith("\\x1b[31mred\\x1b[0m &amp;\\x00\\r\\nX-Injected")
    assert not any(c in value for value in env.values() for c in "\x1b\r\n")
    assert env["HERD_GUARD_EVENT"] == "opened" and env["HERD_GUARD_RULE"] == "fatal"


# -- a command on the controller --------------------------------------------------------------------------

def test_a_command_gets_the_json_on_stdin_and_herd_guard_variables_and_no_secrets(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    monkeypatch.setenv("HERD_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("MY_HOOK", "https://hooks.example.com/SECRET")
    out = tmp_path / "out"
    command = CommandChannel(["sh", "-c", f'cat > "{out}.$HERD_GUARD_EVENT"; env > "{out}.env.$HERD_GUARD_EVENT"'],
                             hide_env=("MY_HOOK",))
    hosts = fleet_hosts(2)
    guard = make_guard(hosts, [command], group_wait=0.0)
    with running(guard, hosts):
        wait_until(lambda: guard._last, 10)
        to_fatal(hosts[1])
        wait_until(lambda: command.sent == 1, 10, "the opening run")
        fix(hosts[1])
        wait_until(lambda: command.sent == 2, 10, "the recovery run")
    opened = json.loads(Path(f"{out}.opened").read_text())
    assert opened["event"] == "opened" and opened["summary"] == "worker FATAL on 1 of 2 hosts: web02"
    assert opened["schema"] == 1 and opened["dropped"] == 0
    assert json.loads(Path(f"{out}.resolved").read_text())["incident"]["id"] == opened["incident"]["id"]
    env = dict(line.split("=", 1) for line in Path(f"{out}.env.opened").read_text().splitlines() if "=" in line)
    assert env["HERD_GUARD_RULE"] == "fatal" and env["HERD_GUARD_PROGRAM"] == "worker"
    assert env["HERD_GUARD_INCIDENT"] == opened["incident"]["id"]
    assert env["HERD_GUARD_SUMMARY"] == "worker FATAL on 1 of 2 hosts: web02"
    assert "HERD_SMTP_PASSWORD" not in env and "MY_HOOK" not in env and "PATH" in env


def test_a_command_that_hangs_is_killed_with_what_it_started(tmp_path: Path, caplog) -> None:
    pids = tmp_path / "pids"
    command = CommandChannel(["sh", "-c", f'echo $$ > "{pids}"; sleep 60 & echo $! >> "{pids}"; wait'],
                             timeout=0.5, attempts=1)
    hosts = fleet_hosts(1)
    guard = make_guard(hosts, [command], group_wait=0.0)
    with running(guard, hosts):
        wait_until(lambda: guard._last, 10)
        started = time.monotonic()
        to_fatal(hosts[0])
        wait_until(lambda: command.failed == 1, 10, "the run given up")
        took = time.monotonic() - started
    assert took < 4.0
    shell, sleeper = (int(p) for p in pids.read_text().split())
    for pid in (shell, sleeper):
        wait_until(lambda: not _alive(pid), 5, f"pid {pid} gone")
    assert "command sh: not delivered after 1 attempt(s): still running after 0.5s: killed" in caplog.text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(") ")[-1][0] != "Z"


def test_a_command_that_fails_is_logged_escaped_and_retried(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="herd.guard")
    runs = tmp_path / "runs"
    script = tmp_path / "flaky.sh"
    script.write_text(f'#!/bin/sh\necho run >> "{runs}"\n'
                      f'[ "$(wc -l < "{runs}")" -ge 3 ] && exit 0\n'
                      "printf '\\n  paging failed \\033[31m(503)\\n  second line\\n' >&2\nexit 3\n")
    script.chmod(0o755)
    command = CommandChannel([str(script)], attempts=4, backoff=(0.05,))
    missing = CommandChannel([str(tmp_path / "gone")], attempts=4, backoff=(0.05,))
    one_fatal([command, missing], lambda: command.sent == 1 and missing.failed == 1, "delivered on the third run")
    assert len(runs.read_text().splitlines()) == 3
    said = [r.getMessage() for r in caplog.records if r.name == "herd.guard"]
    assert said.count("command flaky.sh: attempt 1 failed (exit status 3: paging failed \\x1b[31m(503)); "
                      "again in 0.05s") == 1
    assert not any("\x1b" in line or "second line" in line for line in said)
    assert "command gone: not delivered after 1 attempt(s): cannot run it: No such file or directory" in said[-1] \
        or any("command gone: not delivered after 1 attempt(s): cannot run it" in line for line in said)


# -- the command line and the inventory -------------------------------------------------------------------

def write_inventory(tmp_path: Path, notify: str) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text("hosts:\n  web01: {address: 127.0.0.1, port: 9}\nguard:\n  notify:\n" + notify)
    return path


@pytest.mark.parametrize("notify, said", [
    ("    slack: https://hooks.slack.com/services/T0/B0/SECRET\n",
     "inv.yaml:5:12: guard.notify.slack: must be {env: VARIABLE} or {file: PATH}, got string: a URL is never "
     "written in the inventory"),
    ("    email: {host: smtp.example.com, from: a@example.com, to: [b@example.com], user: herd,\n"
     "            password: {env: P}, starttls: false}\n",
     "inv.yaml:6:43: guard.notify.email.starttls: credentials are sent only over TLS: set starttls: true "
     "(or ssl: true)"),
    ("    email: {host: smtp.example.com, from: a@example.com, to: [b@example.com], port: 99999}\n",
     "inv.yaml:5:85: guard.notify.email.port: must be between 1 and 65535, got 99999"),
    ("    email: {host: smtp.example.com, from: a@example.com, to: ['x@y\\r\\nBcc: z@w']}\n",
     "inv.yaml:5:63: guard.notify.email.to[0]: must be an email address such as oncall@example.com, "
     "got 'x@y\\r\\nBcc: z@w'"),
    ("    email: {host: smtp.example.com, from: a@example.com, to: [b@example.com], user: herd}\n",
     "inv.yaml:5:85: guard.notify.email.user: give both user and password, or neither (user alone)"),
    ("    email: {host: smtp.example.com, to: [b@example.com]}\n",
     "inv.yaml:5:12: guard.notify.email: needs from (the sender's address)"),
    ("    command: 'page-oncall --team web'\n",
     "inv.yaml:5:14: guard.notify.command: must be a list of commands, each a list of arguments (no shell), "
     "e.g. [[\"/usr/local/bin/page-oncall\", \"--team\", \"web\"]]; got string 'page-oncall --team web'"),
    ("    webhook: [{env: 'NOT A NAME'}]\n",
     "inv.yaml:5:21: guard.notify.webhook[0].env: must not contain whitespace, got 'NOT A NAME'"),
    ("    webhook: [{env: 9LIVES}]\n",
     "inv.yaml:5:21: guard.notify.webhook[0].env: must be an environment variable's name (letters, digits, _), "
     "got '9LIVES'"),
    ("    webhook: [{env: A, file: b}]\n",
     "inv.yaml:5:15: guard.notify.webhook[0]: must be {env: VARIABLE} or {file: PATH}: exactly one of them"),
    ("    emial: {}\n", "inv.yaml:5:5: guard.notify.emial: unknown key (did you mean 'email'?)"),
])
def test_a_bad_notify_section_is_one_line_naming_file_line_and_key(tmp_path: Path, capsys, notify: str,
                                                                   said: str) -> None:
    inventory = write_inventory(tmp_path, notify)
    assert run_command(["guard", "-i", str(inventory), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err == f"herd: {tmp_path}/{said}\n"
    assert "SECRET" not in err


@pytest.mark.parametrize("args, env, said", [
    (["--email-to", "oncall@example.com"], {}, "--email-to and --smtp go together"),
    (["--email-to", "oncall@example.com", "--smtp", "mail:99999"], {},
     "--smtp: the port must be a number from 1 to 65535, got 'mail:99999'"),
    (["--email-to", "x@y\nBcc: z@w", "--smtp", "mail"], {},
     "--email-to: want an address such as oncall@example.com, got 'x@y... (+1 line)'"),
    (["--email-to", "oncall@example.com", "--smtp", "mail", "--smtp-user", "herd"], {},
     "--smtp-user: environment variable HERD_SMTP_PASSWORD is not set"),
    (["--email-to", "oncall@example.com", "--smtp", "mail", "--smtp-tls", "none", "--smtp-user", "herd"],
     {"HERD_SMTP_PASSWORD": PASSWORD}, "--smtp: email: credentials are sent only over TLS: set starttls or ssl"),
    (["--notify-command", "/nonexistent/page-oncall --team web"], {},
     "--notify-command: /nonexistent/page-oncall: no such program (or not executable)"),
    (["--notify-command", "page 'unbalanced"], {}, "--notify-command: cannot split it: No closing quotation"),
    ([], {}, "nothing to notify: give --webhook URL (or $HERD_GUARD_WEBHOOK, --webhook-file), another channel, "
             "a guard.notify section, or --dry-run"),
    ([], {"HERD_GUARD_SLACK": "ftp://hooks.slack.com/SECRET"},
     "--slack-webhook-file/$HERD_GUARD_SLACK: the Slack URL must be http:// or https:// with a host"),
])
def test_bad_channel_flags_are_one_line_usage_errors(tmp_path: Path, capsys, monkeypatch, args, env, said) -> None:
    for name in ("HERD_GUARD_WEBHOOK", "HERD_GUARD_SLACK", "HERD_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("hosts:\n  web01: {}\n")
    assert run_command(["guard", "-i", str(inventory), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"herd: {said}") and err.count("\n") == 1
    assert "SECRET" not in err and PASSWORD not in err


def test_a_secret_the_inventory_names_is_read_when_guard_starts(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("HERD_TEST_UNSET", raising=False)
    inventory = write_inventory(tmp_path, "    slack: [{env: HERD_TEST_UNSET}]\n")
    assert run_command(["guard", "-i", str(inventory)]) == 2
    assert capsys.readouterr().err == \
        f"herd: {inventory}:5: guard.notify.slack[0]: environment variable HERD_TEST_UNSET is not set\n"
    monkeypatch.setenv("HERD_TEST_UNSET", "https://hooks.slack.com:99999/SECRET")
    assert run_command(["guard", "-i", str(inventory)]) == 2
    err = capsys.readouterr().err
    assert err == f"herd: {inventory}:5: guard.notify.slack[0]: the Slack URL does not parse\n"


def test_guard_starts_with_every_channel_and_shows_no_secret(tmp_path: Path, home: Path) -> None:
    """The real command: channels from the inventory and the flags, named on the start line without a secret;
    SIGTERM ends it (130). The host is unreachable: nothing is sent, the start line is what is checked."""
    slack_file = tmp_path / "slack.url"
    slack_file.write_text("https://hooks.slack.com/services/T0/B0/SECRET-SLACK\n")
    password_file = tmp_path / "smtp.pw"
    password_file.write_text(PASSWORD + "\n")
    inventory = write_inventory(tmp_path, f"    slack: [{{file: {slack_file}}}]\n"
                                          "    command: [['true', --SECRET-ARG]]\n")
    guard = Running("guard", "-i", str(inventory), "--state-file", str(tmp_path / "state.json"),
                    "--email-to", "oncall@example.com", "--smtp", "127.0.0.1:2525", "--smtp-user", "herd",
                    "--smtp-password-file", str(password_file), "--notify-command", "true --SECRET-ARG",
                    home=home)
    try:
        assert guard.wait_for(lambda: any("watching 1 host(s)" in line for line in guard.out)), guard.err
        guard.proc.send_signal(signal.SIGTERM)
        assert guard.finish() == 130
    finally:
        guard.kill()
    start = next(line for line in guard.out if "watching 1 host(s)" in line)
    assert ("sending to email via 127.0.0.1:2525 (STARTTLS) to oncall@example.com, command true, "
            "slack https://hooks.slack.com/..., command true;") in start
    assert not any("SECRET" in line or PASSWORD in line for line in guard.out + guard.err), guard.out + guard.err
