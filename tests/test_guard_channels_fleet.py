"""``herd guard`` emailing a real FATAL (sshd + supervisord): tornado broken on one of two hosts -> one email
over STARTTLS with AUTH to a real SMTP server started here (the certificate trusted through SSL_CERT_FILE, the
password from $HERD_SMTP_PASSWORD), then one recovery email; the password never in guard's output."""

from __future__ import annotations

import signal
from pathlib import Path

from helpers import Running, wait_until
from test_guard_channels import PASSWORD, smtp_server
from test_guard_fleet import strict_start


def test_a_real_fatal_is_one_email_then_one_recovery(make_fleet, home: Path, tmp_path: Path, monkeypatch) -> None:
    fleet = make_fleet(hosts=2)
    monkeypatch.setenv("HERD_SMTP_PASSWORD", PASSWORD)
    with smtp_server(tmp_path) as (mailbox, port, _):
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "smtp.crt"))    # the test's self-signed certificate
        guard = Running("guard", "-i", str(fleet.inventory_path), "--interval", "0.5", "--group-wait", "2",
                        "--state-file", str(tmp_path / "guard.json"), "--email-to", "oncall@example.com",
                        "--email-from", "herd@example.com", "--smtp", f"127.0.0.1:{port}", "--smtp-user", "herd",
                        home=home)
        try:
            assert guard.wait_for(lambda: any("watching 2 host(s)" in line for line in guard.out)), guard.err
            strict_start(fleet, "web02")
            fleet.break_app("web02")
            assert fleet.supervisorctl("web02", "update").returncode == 0
            wait_until(lambda: mailbox.messages, 60, "the opening mailed")
            fleet.fix_app("web02")
            fleet.supervisorctl("web02", "start", "tornado:*")
            wait_until(lambda: len(mailbox.messages) == 2, 60, "the recovery mailed")
            guard.proc.send_signal(signal.SIGTERM)
            assert guard.finish() == 130
        finally:
            guard.kill()
            fleet.fix_app("web02")
    opened, resolved = (m["message"] for m in mailbox.messages)
    assert all(m["tls"] and m["authenticated"] for m in mailbox.messages)
    assert opened["Subject"] == "[herd guard] tornado FATAL on 1 of 2 hosts: web02"
    assert resolved["Subject"].startswith("[herd guard] recovered: tornado FATAL (was on 1 of 2 hosts")
    assert opened["X-Herd-Incident"] == resolved["X-Herd-Incident"]
    assert "web02 since " in opened.get_content() and "tornado:tornado-" in opened.get_content()
    assert "email via 127.0.0.1:" in guard.out[0] and "(STARTTLS) to oncall@example.com" in guard.out[0]
    assert not any(PASSWORD in line for line in guard.out + guard.err), guard.err
