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

* Who is asking (herd/web/identity.py): the token's holder, a user named by a
  trusted reverse proxy's header (``--user-header`` from a ``--trusted-proxy``
  address only), or a local user of the team file who signed in with a
  password at ``/login``.  A session is bound to its user; it ends after
  ``--session-idle`` without a request or ``--session-max`` after it began,
  whichever comes first.

All comparisons of secrets are constant-time.  Nothing here logs a secret.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable
from urllib.parse import urlsplit

from herd.audit import local_account  # the CLI's user in the audit trail, and the token's holder

if TYPE_CHECKING:
    from herd.web.identity import Passwords, ProxyTrust

COOKIE = "herd_session"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 256
SESSION_SECONDS = 7 * 24 * 3600        # --session-max: a session ends this long after it began
IDLE_SECONDS = 8 * 3600                # --session-idle: ... or this long after its last request
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


@dataclass
class BrowserSession:
    """One browser's sign-in: its cookie's id, its CSRF token, who it is, when it began and was last used."""
    sid: str
    csrf: str
    user: User
    created: float = field(default_factory=time.time)
    seen: float = 0.0

    def __post_init__(self) -> None:
        self.seen = self.seen or self.created


class Sessions:
    """Browser sessions, bounded (the oldest goes first) and expiring: idle, and absolute.

    ``clock`` is injectable so that expiry can be tested without waiting.
    """

    def __init__(self, limit: int = MAX_SESSIONS, lifetime: float = SESSION_SECONDS, idle: float = IDLE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions: OrderedDict[str, BrowserSession] = OrderedDict()
        self._lock = threading.Lock()
        self.limit = limit
        self.lifetime = lifetime
        self.idle = idle
        self.clock = clock

    def create(self, user: User) -> BrowserSession:
        """A fresh session (a new random id every time: a session id is never chosen by the client)."""
        now = self.clock()
        session = BrowserSession(new_token(), new_token(), user, created=now, seen=now)
        with self._lock:
            self._sessions[session.sid] = session
            while len(self._sessions) > self.limit:
                self._sessions.popitem(last=False)
        return session

    def get(self, sid: str | None, *, touch: bool = True) -> BrowserSession | None:
        """The live session of ``sid`` (None: unknown or expired, then forgotten); ``touch`` counts as use."""
        if not sid:
            return None
        now = self.clock()
        with self._lock:
            for known, session in self._sessions.items():
                if same(known, sid):
                    if now - session.created > self.lifetime or now - session.seen > self.idle:
                        del self._sessions[known]
                        return None
                    if touch:
                        session.seen = now
                    return session
        return None

    def drop(self, sid: str | None) -> None:
        """End a session (sign out, or a new sign-in from the same browser)."""
        if not sid:
            return
        with self._lock:
            for known in list(self._sessions):
                if same(known, sid):
                    del self._sessions[known]


class Guard:
    """The access token, the sessions, and the hosts this server answers to."""

    def __init__(self, token: str, port: int, listen_host: str, allowed_hosts: Iterable[str] = (),
                 owner: User | None = None, *, sessions: Sessions | None = None, tls: bool = False,
                 proxy: "ProxyTrust | None" = None, passwords: "Passwords | None" = None) -> None:
        self.token = token
        self.owner = owner or User(local_account(), "token")
        self.sessions = sessions or Sessions()
        self.tls = tls                  # served with --certfile: every cookie is Secure
        self.proxy = proxy              # --user-header from --trusted-proxy addresses (herd/web/identity.py)
        self.passwords = passwords      # the team file's local users: /login signs them in
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
