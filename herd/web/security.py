"""Who may use the page, and how a change proves it came from the page.

* A random access token is printed once, in the URL, when ``herd web``
  starts (as Jupyter does).  ``GET /?token=T`` trades it for a browser
  session: an HttpOnly, SameSite=Strict cookie holding a random session id.
  Scripts may instead send ``Authorization: Bearer T`` (no cookie, so no
  CSRF exposure).
* Every change is a POST; with a cookie it must carry the session's CSRF
  token in ``X-CSRF-Token`` (the page reads it from ``GET /api/session``,
  which another origin cannot read), and an ``Origin`` header, when sent,
  must be this server's own.
* The ``Host`` header must name this server (a loopback name and the
  listening port, or a name given with ``--allow-host``): a DNS-rebinding
  page served from elsewhere gets 403.

All comparisons of secrets are constant-time.  Nothing here logs a secret.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import urlsplit

from herd.audit import local_account  # the CLI's user in the audit trail, and the token's holder

COOKIE = "herd_session"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 256
SESSION_SECONDS = 7 * 24 * 3600
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two secrets (None never matches)."""
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class User:
    """Who is asking: the name audited and checked against the roles (herd/web/access.py).

    ``via`` says how the name was established: ``token`` (the one-off URL or the bearer token: the
    person who started ``herd web``, named by the local account), ``proxy`` (a trusted reverse proxy's
    header) or ``password`` (a local user of the team file).
    """
    name: str
    via: str


@dataclass(frozen=True)
class BrowserSession:
    sid: str
    csrf: str
    user: User
    created: float = field(default_factory=time.time)


class Sessions:
    """Browser sessions, bounded (the oldest goes first) and expiring."""

    def __init__(self, limit: int = MAX_SESSIONS, lifetime: float = SESSION_SECONDS) -> None:
        self._sessions: OrderedDict[str, BrowserSession] = OrderedDict()
        self._lock = threading.Lock()
        self.limit = limit
        self.lifetime = lifetime

    def create(self, user: User) -> BrowserSession:
        session = BrowserSession(new_token(), new_token(), user)
        with self._lock:
            self._sessions[session.sid] = session
            while len(self._sessions) > self.limit:
                self._sessions.popitem(last=False)
        return session

    def get(self, sid: str | None) -> BrowserSession | None:
        if not sid:
            return None
        with self._lock:
            for known, session in self._sessions.items():
                if same(known, sid):
                    if time.time() - session.created > self.lifetime:
                        del self._sessions[known]
                        return None
                    return session
        return None


class Guard:
    """The access token, the sessions, and the hosts this server answers to."""

    def __init__(self, token: str, port: int, listen_host: str, allowed_hosts: Iterable[str] = (),
                 owner: User | None = None) -> None:
        self.token = token
        self.owner = owner or User(local_account(), "token")
        self.sessions = Sessions()
        names = {*LOOPBACK_NAMES, listen_host if ":" not in listen_host else f"[{listen_host}]", *allowed_hosts}
        self.hosts = {n.lower() for n in names} | {f"{n.lower()}:{port}" for n in names}
        self.port = port

    def host_allowed(self, host_header: str | None) -> bool:
        """Host names this server (DNS rebinding: a page of evil.example resolved to 127.0.0.1 is refused)."""
        return host_header is not None and host_header.lower() in self.hosts

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        """No Origin (curl, scripts) is fine; a browser's Origin must be this very server."""
        if origin is None:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and bool(host_header) and parts.netloc.lower() == (
            host_header or "").lower()

    def bearer_ok(self, authorization: str | None) -> bool:
        if not authorization or not authorization.lower().startswith("bearer "):
            return False
        return same(authorization[7:].strip(), self.token)
