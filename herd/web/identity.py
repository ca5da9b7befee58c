"""Who is asking ``herd web``: a trusted proxy's header, a local user's password, or the token.

Three ways to a name, for three kinds of team (docs/web.md, *Identity*):

* **A login proxy** (oauth2-proxy, Authelia, nginx ``auth_request``) signs people in and names them in a
  header: ``herd web --user-header X-Forwarded-User --trusted-proxy 127.0.0.1``.  The header is believed
  only from a listed address (the TCP peer, never X-Forwarded-For, which anyone can write); from any
  other address it is refused with 403 and audited, since a client that sends it is trying to be
  someone.  A request from the proxy without the header is refused too: the proxy did not
  authenticate it.  A session made for a proxy user is bound to that name: a request whose header
  names someone else is not served from it.
* **Local users** of the team file (``herd web --team FILE``): argon2 hashes made by ``herd web-passwd``,
  a sign-in form at ``/login`` with a CSRF token of its own (double submit: a pre-session cookie and a
  field), throttled (5 failed tries per user or per address: 30 s wait), the same work for an unknown
  user as for a wrong password (a dummy hash is verified), then a fresh session id (no fixation).
* **The token** of the printed URL: the person who started ``herd web`` (``Guard.owner``).

Names are checked before use: printable, at most :data:`NAME_MAX` characters, no control characters.
Nothing here logs or answers a password, a token or a cookie.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import secrets
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from herd.errors import UsageError
from herd.web.security import COOKIE, CSRF_HEADER, BrowserSession, Guard, User, new_token, same

if TYPE_CHECKING:
    from herd.web.app import Web

STATIC = Path(__file__).resolve().parent / "static"
LOGIN_COOKIE = "herd_login"
NAME_MAX = 128
HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
MAX_LOGIN_BODY = 4096
FAILED_TRIES = 5
WAIT_SECONDS = 30.0
EXPIRED = "your session expired: sign in again"
WRONG = "wrong user name or password"


def bad_name(name: str) -> str | None:
    """Why ``name`` cannot name a user (None: it can): it goes into the audit trail and the page."""
    if not name:
        return "an empty user name"
    if len(name) > NAME_MAX:
        return f"a user name longer than {NAME_MAX} characters"
    if not name.isprintable() or name != name.strip():
        return "a user name with control characters or surrounding spaces"
    return None


# -- the trusted proxy's header ------------------------------------------------------------------

@dataclass(frozen=True)
class Proxied:
    """What the proxy check found on one request: the user it names, or why it is refused."""
    user: User | None = None
    refusal: str | None = None
    https: bool = False


class ProxyTrust:
    """``--user-header NAME --trusted-proxy ADDR...``: the header names the user from these addresses only."""

    def __init__(self, header: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self.header = header
        self.networks = list(networks)

    @classmethod
    def parse(cls, header: str | None, proxies: Sequence[str]) -> "ProxyTrust | None":
        """The options as given (both or neither; a bad header name or address is a one-line usage error)."""
        if header is None and not proxies:
            return None
        if header is None:
            raise UsageError("--trusted-proxy needs --user-header NAME (the header the proxy names the user in)")
        if not proxies:
            raise UsageError(f"--user-header {header} needs --trusted-proxy ADDRESS: the header is believed only "
                             "from the proxy's address (for example --trusted-proxy 127.0.0.1)")
        if not HEADER_NAME.fullmatch(header):
            raise UsageError(f"--user-header {header!r}: not a header name (letters, digits and '-', "
                             "for example X-Forwarded-User)")
        networks = []
        for value in proxies:
            try:
                networks.append(ipaddress.ip_network(value.strip(), strict=False))
            except ValueError as exc:
                raise UsageError(f"--trusted-proxy {value}: not an IP address or CIDR "
                                 "(for example 127.0.0.1 or 10.0.0.0/8)") from exc
        return cls(header, networks)

    def trusted(self, peer: str | None) -> bool:
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def identify(self, peer: str | None, headers: Headers) -> Proxied:
        """The request's user when its peer is a trusted proxy; a refusal when the header cannot be believed."""
        value = headers.get(self.header)
        if not self.trusted(peer):
            if value is None:
                return Proxied()
            return Proxied(refusal=f"{self.header} from {peer or 'an unknown address'} refused: "
                                   "not a --trusted-proxy address")
        if value is None:
            return Proxied(refusal=f"{self.header} missing in a request from the trusted proxy {peer}: "
                                   "the proxy did not authenticate it")
        try:
            value = value.encode("latin-1").decode("utf-8")   # HTTP hands bytes over as latin-1; proxies send UTF-8
        except UnicodeError:
            return Proxied(refusal=f"{self.header} from {peer} refused: a user name that is not UTF-8")
        why = bad_name(value)
        if why is not None:
            return Proxied(refusal=f"{self.header} from {peer} refused: {why}")
        https = headers.get("x-forwarded-proto", "").strip().lower() == "https"
        return Proxied(User(value, "proxy"), https=https)


def peer(scope: Scope) -> str | None:
    """The TCP peer's address (uvicorn runs with proxy_headers off: nobody rewrites it from a header)."""
    client = scope.get("client")
    return str(client[0]) if client else None


def client_text(scope: Scope) -> str:
    """``ADDRESS:PORT`` of the TCP peer, as the audit trail's ``from`` says it."""
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else ""


def session_fits(session: BrowserSession, proxied: User | None) -> bool:
    """A session serves a request only as its own user: a proxy user's session needs that same name in
    the header; behind the proxy, a session of anyone else is not used."""
    if proxied is not None or session.user.via == "proxy":
        return session.user == proxied
    return True


def secure(guard: Guard, scope: Scope) -> bool:
    """Cookies are Secure when served over TLS: ours (--certfile) or the trusted proxy's (X-Forwarded-Proto)."""
    return guard.tls or bool(scope.get("state", {}).get("herd_https"))


def set_session_cookie(response: Response, session: BrowserSession, is_secure: bool) -> None:
    response.set_cookie(COOKIE, session.sid, httponly=True, samesite="strict", path="/", secure=is_secure)


# -- local users ---------------------------------------------------------------------------------

class Throttle:
    """Failed sign-ins per key (a user name, an address): after ``limit`` in a row, ``wait`` seconds of refusal."""

    def __init__(self, limit: int = FAILED_TRIES, wait: float = WAIT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.wait = wait
        self.clock = clock
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def left(self, keys: Iterable[str]) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = self.clock()
        with self._lock:
            return max([self._until.get(k, 0.0) - now for k in keys] + [0.0])

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                count = self._failures.get(key, 0) + 1
                if count >= self.limit:
                    self._until[key] = now + self.wait
                    count = 0
                self._failures[key] = count
            if len(self._failures) > 10000:       # a flood of made-up names: forget the oldest
                for key in list(self._failures)[:5000]:
                    self._failures.pop(key, None)

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
                self._until.pop(key, None)


def _hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ImportError as exc:
        raise UsageError("herd web's local users need argon2-cffi: pip install 'herd[web]'") from exc
    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash (argon2-cffi's defaults: RFC 9106's low-memory profile), with its own salt."""
    return str(_hasher().hash(password))


class Passwords:
    """The team file's users and their hashes; verifying costs the same for a name that does not exist."""

    def __init__(self, users: Mapping[str, str], throttle: Throttle | None = None) -> None:
        self.users = dict(users)
        self.throttle = throttle or Throttle()
        self._hasher = _hasher()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16)) if self.users else ""

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    def verify(self, name: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        stored = self.users.get(name)
        try:
            matched = bool(self._hasher.verify(stored or self._dummy, password))
        except (VerificationError, InvalidHashError):
            return False
        return matched and stored is not None


# -- TLS -----------------------------------------------------------------------------------------

def check_tls(certfile: str | None, keyfile: str | None) -> bool:
    """Both files or neither; each readable, the key the certificate's, unencrypted: else one line (exit 2)."""
    if certfile is None and keyfile is None:
        return False
    if certfile is None or keyfile is None:
        raise UsageError("--certfile and --keyfile go together: give both (PEM files) or neither")
    for option, name in (("--certfile", certfile), ("--keyfile", keyfile)):
        try:
            Path(name).read_bytes()
        except OSError as exc:
            raise UsageError(f"{option} {name}: cannot read it ({exc.strerror or exc})") from exc

    def no_passphrase() -> bytes:
        raise UsageError(f"--keyfile {keyfile}: the key is encrypted; give an unencrypted key (mode 0600)")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password=no_passphrase)
    except ssl.SSLError as exc:
        raise UsageError(f"--certfile {certfile} --keyfile {keyfile}: not a PEM certificate and its key "
                         f"({exc.reason or exc})") from exc
    return True


# -- the page's gate, /login and /logout ---------------------------------------------------------

def page_gate(guard: Guard, request: Request, login_help: str) -> Response | BrowserSession | None:
    """GET /: None serves the page; a session: serve it with this new session's cookie; else the answer."""
    proxied: User | None = request.scope.get("state", {}).get("herd_proxy_user")
    cookie = request.cookies.get(COOKIE)
    if proxied is not None:
        session = guard.sessions.get(cookie)
        if session is not None and session.user == proxied:
            return None
        guard.sessions.drop(cookie)
        return guard.sessions.create(proxied)
    token = request.query_params.get("token")
    if token is not None:
        if not same(token, guard.token):
            return PlainTextResponse("herd web: wrong token\n", 403)
        guard.sessions.drop(cookie)
        session = guard.sessions.create(guard.owner)
        response = RedirectResponse("/", 303)
        set_session_cookie(response, session, secure(guard, request.scope))
        return response
    session = guard.sessions.get(cookie)
    if session is not None and session_fits(session, None):
        return None
    if guard.passwords is not None and guard.passwords.enabled:
        return RedirectResponse("/login?expired=1" if cookie else "/login", 303)
    return PlainTextResponse(login_help, 403)


def no_session_text(guard: Guard, cookie: str | None, login_help: str) -> str:
    """The API's 403 without a session: a stale cookie with local users means the session expired."""
    if cookie and guard.passwords is not None and guard.passwords.enabled:
        return EXPIRED
    return login_help


class Login:
    """The routes of signing in and out (none needs a session; each checks what it needs itself)."""

    def __init__(self, web: "Web") -> None:
        self.web = web

    @property
    def guard(self) -> Guard:
        return self.web.guard

    def routes(self) -> list[Route]:
        return [Route("/login", self.page, methods=["GET"]), Route("/login/state", self.state, methods=["GET"]),
                Route("/login/session", self.alive, methods=["GET"]), Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"])]

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "login.html", media_type="text/html")

    async def state(self, request: Request) -> Response:
        """The form's CSRF token (also set as a cookie: the POST must carry both), and what the page says."""
        token = new_token()
        passwords = self.guard.passwords
        session = self.guard.sessions.get(request.cookies.get(COOKIE), touch=False)
        response = JSONResponse({"csrf": token, "passwords": bool(passwords and passwords.enabled),
                                 "user": session.user.name if session is not None else None})
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login",
                            secure=secure(self.guard, request.scope))
        return response

    async def alive(self, request: Request) -> Response:
        """Whether this browser's session still lives, asked by the page every few seconds: a use of the
        session only with ``?active=1`` (someone typed or clicked in the page since the last time)."""
        active = request.query_params.get("active") == "1"
        session = self.guard.sessions.get(request.cookies.get(COOKIE), touch=active)
        return JSONResponse({"alive": session is not None})

    async def login(self, request: Request) -> Response:
        guard, client = self.guard, peer(request.scope) or ""
        if not guard.origin_allowed(request.headers.get("origin"), request.headers.get("host")):
            return self._refuse(request, "", 403, "cross-origin request refused")
        body = await _json_body(request)
        name = str(body.get("user") or "").strip() if body is not None else ""
        if body is None or not same(request.cookies.get(LOGIN_COOKIE), str(body.get("csrf") or "")):
            return self._refuse(request, name, 403, "missing or wrong sign-in token: reload the page")
        passwords = guard.passwords
        if passwords is None or not passwords.enabled:
            return self._refuse(request, name, 403, "no local users here (herd web --team FILE with users:); "
                                                    "open the URL herd web printed")
        why = bad_name(name)
        if why is not None:
            return self._refuse(request, "", 400, f"{why}: type the user name of the team file")
        keys = [f"user:{name}", f"address:{client}"]
        left = passwords.throttle.left(keys)
        if left > 0:
            return self._refuse(request, name, 429, f"too many failed sign-ins: wait {math.ceil(left)} s "
                                                    "and try again")
        if not await run_in_threadpool(passwords.verify, name, str(body.get("password") or "")):
            passwords.throttle.failed(keys)
            left = passwords.throttle.left(keys)
            more = f"; too many failed sign-ins: wait {math.ceil(left)} s and try again" if left > 0 else ""
            return self._refuse(request, name, 401, WRONG + more)
        passwords.throttle.succeeded(keys)
        guard.sessions.drop(request.cookies.get(COOKIE))
        session = guard.sessions.create(User(name, "password"))
        response = JSONResponse({"next": "/", "user": name})
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        set_session_cookie(response, session, secure(guard, request.scope))
        self.web.audit.record("login", None, "done", client=client_text(request.scope), user=name, via="password")
        return response

    async def logout(self, request: Request) -> Response:
        guard = self.guard
        if not guard.origin_allowed(request.headers.get("origin"), request.headers.get("host")):
            return self._refuse(request, "", 403, "cross-origin request refused", action="logout")
        sid = request.cookies.get(COOKIE)
        session = guard.sessions.get(sid, touch=False)
        if session is None:
            return self._refuse(request, "", 403, "no session to sign out of", action="logout")
        if not same(request.headers.get(CSRF_HEADER), session.csrf):
            return self._refuse(request, session.user.name, 403,
                                "missing or wrong CSRF token (X-CSRF-Token): reload the page", action="logout",
                                via=session.user.via)
        guard.sessions.drop(sid)
        passwords = guard.passwords
        response = JSONResponse({"next": "/login" if passwords is not None and passwords.enabled else "/"})
        response.delete_cookie(COOKIE, path="/")
        self.web.audit.record("logout", None, "done", client=client_text(request.scope), user=session.user.name,
                              via=session.user.via)
        return response

    def _refuse(self, request: Request, name: str, status: int, why: str, *, action: str = "login",
                via: str = "password") -> Response:
        self.web.audit.record(action, None, f"refused: {why}", client=client_text(request.scope), user=name,
                              via=via if name else "")
        return JSONResponse({"error": why}, status)


async def _json_body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if len(raw) > MAX_LOGIN_BODY:
        return None
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None

