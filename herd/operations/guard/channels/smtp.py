"""Email through an SMTP server: one plain-text message per notification, one connection per message.

Credentials go only over TLS: with ``starttls`` the connection is upgraded
before anything else is said, and a server that does not offer STARTTLS
gets nothing (no AUTH, no message: the attempt fails, not retried); with
``ssl`` the connection is TLS from the start (port 465); a user and
password without either are refused when guard starts.  The server's
certificate is verified against the system's CAs (``SSL_CERT_FILE`` names
another bundle, for a private CA).  The password is read once, from the
environment or a file (a SecretRef), and never appears in a log line or an
error: what the server says is cut, escaped, and cleared of it.

The subject is one line (render.subject: whatever a host sent, CR and LF
are shown as ``\\r`` ``\\n``, never a header break); the body is text/plain.
Each message carries ``X-Herd-Incident`` and ``References`` to the incident,
so a mail client threads an incident's opening, updates and recovery.

Every socket operation has ``timeout`` seconds: a server that accepts and
then hangs costs one timeout per attempt.  A 4xx answer, a timeout or a lost
connection is retried (channels/__init__.py's policy); a 5xx, a refused
login, refused recipients or an untrusted certificate are not.
"""

from __future__ import annotations

import email.message
import email.policy
import email.utils
import logging
import re
import smtplib
import ssl
from typing import Any

from herd import text
from herd.errors import UsageError
from herd.inventory.guard import EmailSettings
from herd.operations.guard.channels import DeliveryError, QueuedChannel, render
from herd.operations.guard.incidents import Notification

log = logging.getLogger("herd.guard")
_ID_SAFE = re.compile(r"[^A-Za-z0-9._-]")
# CRLF on the wire; headers folded only past SMTP's 998 (a 78-column fold moved a long subject whole onto a
# continuation line, which some readers show with a leading space)
POLICY = email.policy.SMTP.clone(max_line_length=998)


class EmailChannel(QueuedChannel):
    """Sends each notification as one email to ``settings.to``."""

    def __init__(self, settings: EmailSettings, *, context: ssl.SSLContext | None = None, **kwargs: Any) -> None:
        check_email(settings)
        self.settings = settings
        self.password = settings.password.read() if settings.password is not None else None
        self.context = context or ssl.create_default_context()
        tls = " (SSL)" if settings.ssl else " (STARTTLS)" if settings.starttls else " (no TLS)"
        self.name = f"email via {settings.host}:{settings.port}{tls} to {', '.join(settings.to)}"
        super().__init__(**kwargs)

    def deliver(self, note: Notification, dropped: int) -> None:
        message = self.message(note, dropped)
        try:
            self._send(message)
        except smtplib.SMTPAuthenticationError as exc:     # 535 is final; a 454 (try later) is not
            raise DeliveryError(f"login refused: {self._said(exc)}", retry=400 <= exc.smtp_code < 500) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({str(code) for code, _ in exc.recipients.values()})
            raise DeliveryError(f"every recipient refused (SMTP {', '.join(codes)})", retry=False) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(self._said(exc), retry=400 <= exc.smtp_code < 500) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"not supported by the server: {self._clean(str(exc))}", retry=False) from exc
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"TLS: the server's certificate is not trusted ({self._clean(exc.verify_message)})",
                                retry=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            said = self._clean(str(exc)) or "no reason given"
            raise DeliveryError(f"{type(exc).__name__}: {said}") from exc

    def message(self, note: Notification, dropped: int) -> email.message.EmailMessage:
        """The email: one-line subject, text/plain body, headers that thread one incident's messages."""
        s = self.settings
        body = note.body()
        incident = _ID_SAFE.sub("_", str((body.get("incident") or {}).get("id") or "none"))[:120]
        msg = email.message.EmailMessage(policy=POLICY)
        msg["Subject"] = render.subject(note)
        msg["From"] = s.sender
        msg["To"] = ", ".join(s.to)
        msg["Date"] = email.utils.formatdate(note.time)
        msg["Message-ID"] = f"<{incident}.{_ID_SAFE.sub('_', note.kind)}.{note.time:.3f}@herd-guard>"
        msg["References"] = f"<{incident}@herd-guard>"
        msg["X-Herd-Incident"] = incident
        msg["X-Herd-Event"] = _ID_SAFE.sub("_", note.kind)
        msg.set_content(render.plain(note, dropped))
        return msg

    def _send(self, message: email.message.EmailMessage) -> None:
        s = self.settings
        conn: smtplib.SMTP
        if s.ssl:
            conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self.context)
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            conn.ehlo()
            if s.starttls and not s.ssl:
                if not conn.has_extn("starttls"):
                    raise DeliveryError("the server does not offer STARTTLS: nothing sent"
                                        + (" (credentials go only over TLS)" if s.user else ""), retry=False)
                conn.starttls(context=self.context)
                conn.ehlo()
            if s.user is not None and self.password is not None:
                self._login(conn, s.user, self.password)
            refused = conn.send_message(message)
            if refused:
                log.warning("%s: refused by the server for %s (the others have it)", self.name,
                            ", ".join(text.field(address) for address in sorted(refused)))
        finally:
            _quit(conn)

    @staticmethod
    def _login(conn: smtplib.SMTP, user: str, password: str) -> None:
        """AUTH with one mechanism, PLAIN where offered (else LOGIN, else smtplib's choice): a refusal is
        final, not a reason to try the password again another way."""
        offered = (conn.esmtp_features.get("auth") or "").upper().split()
        conn.user, conn.password = user, password
        if "PLAIN" in offered:
            conn.auth("PLAIN", conn.auth_plain)
        elif "LOGIN" in offered:
            conn.auth("LOGIN", conn.auth_login, initial_response_ok=False)
        else:
            conn.login(user, password)

    def _said(self, exc: smtplib.SMTPResponseException) -> str:
        """``SMTP 535: what the server said`` (one line, cut, escaped, never the password)."""
        said = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code}: {self._clean(said)}"

    def _clean(self, said: str) -> str:
        if self.password:
            said = said.replace(self.password, "...")
        return text.shorten(said, 120)


def _quit(conn: smtplib.SMTP) -> None:
    """Say QUIT and close; a server that fails here has had the message (or refused it already)."""
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def check_email(settings: EmailSettings) -> None:
    """Refuse settings that would send credentials in clear, or nothing at all (a one-line UsageError)."""
    where = f"{settings.where}: " if settings.where else ""
    if settings.ssl and settings.starttls:
        raise UsageError(f"{where}email: give ssl (TLS from the start) or starttls, not both")
    if (settings.user is None) != (settings.password is None):
        raise UsageError(f"{where}email: give both a user and a password, or neither")
    if settings.user is not None and not (settings.ssl or settings.starttls):
        raise UsageError(f"{where}email: credentials are sent only over TLS: set starttls or ssl")
    if not settings.to:
        raise UsageError(f"{where}email: no recipient")
    if not settings.sender:
        raise UsageError(f"{where}email: no sender (from)")
