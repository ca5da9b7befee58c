"""Who is asking herd web (herd/web/identity.py), in process: the proxy's header, passwords, sessions, TLS options.

Requests go straight into the real Starlette app with the TCP peer each test chooses (ASGI's
``client``), over fake supervisords; the clock of sessions and of the sign-in throttle is a fake
one.  The same things through a real ``herd web``, a real proxy and Chromium:
tests/test_web_identity_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from herd.inventory.model import Inventory
from herd.testing.fake import FakeHost, FakeSource, FakeSupervisor, ProgramSpec
from herd.web.actions import Dashboard
from herd.web.app import Web, create_app
from herd.audit import AuditTrail
from herd.web.identity import EXPIRED, Passwords, ProxyTrust, Throttle, bad_name, hash_password
from herd.web.security import Guard, Sessions, User
from herd.web.team import load_team
from herd.errors import UsageError

HEADER = "X-Forwarded-User"
PROXY = "127.0.0.2"
HOST = "127.0.0.1:8765"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)

    def cookies(self) -> list[str]:
        return [v for k, v in self.headers if k == "set-cookie"]

    def cookie(self, name: str) -> str | None:
        """The value set for cookie ``name`` ("" when it is deleted), None when not set."""
        for line in self.cookies():
            key, _, rest = line.partition("=")
            if key == name:
                return rest.split(";", 1)[0].strip('"')
        return None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Site:
    """The real app over fake hosts; ``request`` sends one request from the address given."""
    web: Web
    audit_path: Path
    clock: Clock
    fakes: list[FakeHost]
    jar: dict[str, str] = field(default_factory=dict)

    def worker_state(self) -> str:
        return str(self.fakes[0].supervisor.info("worker")["statename"])

    def request(self, method: str, path: str, *, client: str = "127.0.0.1", headers: dict[str, str] | None = None,
                body: Any = None, cookies: dict[str, str] | None = None) -> Answer:
        sent = {"host": HOST, **{k.lower(): v for k, v in (headers or {}).items()}}
        jar = self.jar if cookies is None else cookies
        if jar:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        raw = json.dumps(body).encode() if body is not None else b""
        if body is not None:
            sent["content-type"] = "application/json"
        path_only, _, query = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path_only, "raw_path": path_only.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": [(k.encode(), v.encode("latin-1")) for k, v in sent.items()],
                 "client": (client, 50123), "server": ("127.0.0.1", 8765)}
        messages: list[dict[str, Any]] = []

        bodies = [{"type": "http.request", "body": raw, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if bodies:
                return bodies.pop()
            await asyncio.Event().wait()        # the client stays: a response watching for a disconnect waits
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        asyncio.run(create_app_once(self.web)(scope, receive, send))
        start = next(m for m in messages if m["type"] == "http.response.start")
        answer = Answer(start["status"], [(k.decode().lower(), v.decode()) for k, v in start["headers"]],
                        b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"))
        if cookies is None:
            for name in ("herd_session", "herd_login"):
                value = answer.cookie(name)
                if value:
                    self.jar[name] = value
                elif value == "":
                    self.jar.pop(name, None)
        return answer

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]

    def sign_in(self, user: str, password: str, *, client: str = "127.0.0.1") -> Answer:
        csrf = self.request("GET", "/login/state", client=client).json()["csrf"]
        return self.request("POST", "/login", client=client, body={"user": user, "password": password,
                                                                   "csrf": csrf})


_APPS: dict[int, Any] = {}


def create_app_once(web: Web) -> Any:
    if id(web) not in _APPS:
        _APPS[id(web)] = create_app(web)
    return _APPS[id(web)]


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {"alice": hash_password("alice's long password"), "bob": hash_password("bob-pw")}


def make_site(tmp_path: Path, *, proxy: ProxyTrust | None = None, users: dict[str, str] | None = None,
              tls: bool = False, idle: float = 3600, lifetime: float = 7 * 86400) -> Site:
    clock = Clock()
    fakes = [FakeHost(f"web{i:02d}", FakeSupervisor([ProgramSpec("worker")])) for i in (1, 2)]
    inv = Inventory("fake.yaml", tuple(h.host for h in fakes), groups={"web": ("web01", "web02")})
    dash = Dashboard(inv, [h.host for h in fakes], FakeSource(fakes), interval=0.1)
    passwords = Passwords(users, Throttle(clock=clock)) if users else None
    guard = Guard("the-token", 8765, "127.0.0.1", owner=User("owner", "token"), tls=tls, proxy=proxy,
                  passwords=passwords, sessions=Sessions(idle=idle, lifetime=lifetime, clock=clock))
    audit = tmp_path / "audit.jsonl"
    return Site(Web(dash, guard, AuditTrail(audit), read_only=False), audit, clock, fakes)


def proxy_site(tmp_path: Path, **kwargs: Any) -> Site:
    return make_site(tmp_path, proxy=ProxyTrust.parse(HEADER, [PROXY, "10.1.0.0/16"]), **kwargs)


STOP = {"action": "stop", "targets": [{"host": "web01", "name": "worker"}], "confirm": True}


# -- the proxy's header --------------------------------------------------------------------------

def test_the_header_from_an_unlisted_address_is_refused_in_one_sentence_and_audited(tmp_path: Path) -> None:
    site = proxy_site(tmp_path)
    for method, path in (("GET", "/"), ("GET", "/api/session"), ("POST", "/api/control"), ("GET", "/login")):
        answer = site.request(method, path, client="127.0.0.1", headers={HEADER: "alice"},
                              body=STOP if method == "POST" else None)
        assert answer.status == 403, (path, answer)
        said = answer.json()["error"] if path.startswith("/api/") else answer.body.decode().strip()
        assert said == "X-Forwarded-User from 127.0.0.1 refused: not a --trusted-proxy address"
        assert answer.cookie("herd_session") is None
    refused = [e for e in site.audit() if "not a --trusted-proxy address" in e["result"]]
    assert [e["action"] for e in refused] == ["/", "/api/session", "/api/control", "/login"]
    assert all(e["from"].startswith("127.0.0.1:") and e["result"].startswith("refused: ") for e in refused)
    assert site.worker_state() == "RUNNING"


def test_the_header_from_a_listed_address_names_the_user_and_a_session_bound_to_them(tmp_path: Path) -> None:
    site = proxy_site(tmp_path)
    page = site.request("GET", "/", client=PROXY, headers={HEADER: "alice"})
    assert page.status == 200 and b"<title>herd</title>" in page.body
    cookie = page.cookies()[0]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Secure" not in cookie
    session = site.request("GET", "/api/session", client=PROXY, headers={HEADER: "alice"}).json()
    assert session["user"] == {"name": "alice", "via": "proxy"}
    control = site.request("POST", "/api/control", client="10.1.2.3", headers={HEADER: "alice",
                                                                              "X-CSRF-Token": session["csrf"]},
                           body=STOP)
    assert control.status == 200, control.json()
    done = [e for e in site.audit() if e["action"] == "stop"]
    assert [(e["user"], e["via"], e["result"]) for e in done] == [("alice", "proxy", "done")]
    assert site.worker_state() == "STOPPED"


def test_a_proxied_request_without_the_header_is_refused(tmp_path: Path) -> None:
    site = proxy_site(tmp_path)
    answer = site.request("GET", "/", client=PROXY)
    assert answer.status == 403
    assert answer.body.decode().strip() == ("X-Forwarded-User missing in a request from the trusted proxy "
                                            "127.0.0.2: the proxy did not authenticate it")
    assert site.request("GET", "/api/status", client=PROXY, headers={"Authorization": "Bearer the-token"}
                        ).status == 403


def test_a_proxy_user_s_session_is_not_served_as_them_to_anyone_else(tmp_path: Path) -> None:
    site = proxy_site(tmp_path)
    site.request("GET", "/", client=PROXY, headers={HEADER: "alice"})
    alice = dict(site.jar)
    csrf = site.request("GET", "/api/session", client=PROXY, headers={HEADER: "alice"}).json()["csrf"]
    # the same cookie with the header naming bob: not alice's session
    as_bob = site.request("GET", "/api/session", client=PROXY, headers={HEADER: "bob"}, cookies=alice)
    assert as_bob.status == 403
    post = site.request("POST", "/api/control", client=PROXY, headers={HEADER: "bob", "X-CSRF-Token": csrf},
                        cookies=alice, body=STOP)
    assert post.status == 403
    # nor directly, without the proxy (a cookie carried elsewhere)
    assert site.request("GET", "/api/session", client="127.0.0.1", cookies=alice).status == 403
    # bob's page gets bob's own session; alice's is gone
    page = site.request("GET", "/", client=PROXY, headers={HEADER: "bob"}, cookies=alice)
    assert page.status == 200 and page.cookie("herd_session") not in (None, alice["herd_session"])
    bob = {"herd_session": page.cookie("herd_session") or ""}
    assert site.request("GET", "/api/session", client=PROXY, headers={HEADER: "bob"}, cookies=bob
                        ).json()["user"] == {"name": "bob", "via": "proxy"}
    assert site.request("GET", "/api/session", client=PROXY, headers={HEADER: "alice"}, cookies=alice
                        ).status == 403
    assert not [e for e in site.audit() if e["action"] == "stop" and e["result"] == "done"]
    assert site.worker_state() == "RUNNING"


@pytest.mark.parametrize("name", ["ali\x1bce", "bob\n", " carol", "x" * 129, "", "\xff\xfe"])
def test_a_bad_name_in_the_header_is_refused(tmp_path: Path, name: str) -> None:
    site = proxy_site(tmp_path)
    answer = site.request("GET", "/api/session", client=PROXY, headers={HEADER: name})
    assert answer.status == 403
    assert answer.json()["error"].startswith("X-Forwarded-User from 127.0.0.2 refused: a")
    assert "\x1b" not in answer.body.decode()


def test_a_utf8_name_from_the_proxy_is_read_as_utf8(tmp_path: Path) -> None:
    site = proxy_site(tmp_path)
    raw = "Zoë Ångström".encode().decode("latin-1")     # the header's bytes, as HTTP hands them over
    site.request("GET", "/", client=PROXY, headers={HEADER: raw})
    assert site.request("GET", "/api/session", client=PROXY, headers={HEADER: raw}).json()["user"] == {
        "name": "Zoë Ångström", "via": "proxy"}


def test_names_are_printable_and_bounded() -> None:
    assert bad_name("alice") is None and bad_name("Zoë Ångström") is None and bad_name("a" * 128) is None
    assert bad_name("a" * 129) == "a user name longer than 128 characters"
    for name in ("a\tb", "a\x00", "a\u202eb", " a", "a "):
        assert bad_name(name) == "a user name with control characters or surrounding spaces", name


def test_cookies_are_secure_when_the_trusted_proxy_says_https_and_when_served_with_tls(tmp_path: Path) -> None:
    site = proxy_site(tmp_path)
    page = site.request("GET", "/", client=PROXY, headers={HEADER: "alice", "X-Forwarded-Proto": "https"})
    assert "Secure" in page.cookies()[0]
    # from an address that is not the proxy, X-Forwarded-Proto is nobody's word: the token's cookie is not Secure
    token = site.request("GET", "/?token=the-token", client="127.0.0.1", headers={"X-Forwarded-Proto": "https"})
    assert token.status == 303 and "Secure" not in token.cookies()[0]
    tls = make_site(tmp_path / "tls", tls=True)
    assert "Secure" in tls.request("GET", "/?token=the-token").cookies()[0]


def test_proxy_options_are_both_or_neither_and_checked() -> None:
    assert ProxyTrust.parse(None, []) is None
    with pytest.raises(UsageError, match=r"^--user-header X-Forwarded-User needs --trusted-proxy ADDRESS"):
        ProxyTrust.parse(HEADER, [])
    with pytest.raises(UsageError, match=r"^--trusted-proxy needs --user-header NAME"):
        ProxyTrust.parse(None, ["127.0.0.1"])
    with pytest.raises(UsageError, match=r"^--trusted-proxy proxy.example: not an IP address or CIDR"):
        ProxyTrust.parse(HEADER, ["proxy.example"])
    with pytest.raises(UsageError, match=r"^--user-header 'X User': not a header name"):
        ProxyTrust.parse("X User", ["127.0.0.1"])
    trust = ProxyTrust.parse(HEADER, ["10.0.0.0/8", "::1"])
    assert trust is not None
    assert trust.trusted("10.9.9.9") and trust.trusted("::ffff:10.1.1.1") and trust.trusted("::1")
    assert not trust.trusted("11.0.0.1") and not trust.trusted(None) and not trust.trusted("not an ip")


# -- local users ---------------------------------------------------------------------------------

def test_without_a_session_the_page_sends_to_login_when_there_are_users_else_the_token_help(
        tmp_path: Path, hashes: dict[str, str]) -> None:
    site = make_site(tmp_path, users=hashes)
    answer = site.request("GET", "/")
    assert answer.status == 303 and answer.header("location") == "/login"
    login = site.request("GET", "/login")
    assert login.status == 200 and b'id="login-form"' in login.body
    alone = make_site(tmp_path / "alone")
    assert alone.request("GET", "/").status == 403
    assert b"Open the URL that `herd web` printed" in alone.request("GET", "/").body
    assert alone.request("GET", "/login/state").json()["passwords"] is False
    assert alone.sign_in("alice", "x").status == 403


def test_password_sign_in_makes_a_fresh_httponly_strict_session_and_the_token_still_works(
        tmp_path: Path, hashes: dict[str, str]) -> None:
    site = make_site(tmp_path, users=hashes)
    site.request("GET", "/?token=the-token")
    before = site.jar["herd_session"]
    answer = site.sign_in("alice", "alice's long password")
    assert answer.status == 200 and answer.json() == {"next": "/", "user": "alice"}
    cookie = next(c for c in answer.cookies() if c.startswith("herd_session="))
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Secure" not in cookie
    after = site.jar["herd_session"]
    assert after != before
    assert site.request("GET", "/api/session", cookies={"herd_session": before}).status == 403   # no fixation
    session = site.request("GET", "/api/session").json()
    assert session["user"] == {"name": "alice", "via": "password"}
    assert site.request("POST", "/api/control", headers={"X-CSRF-Token": session["csrf"]}, body=STOP).status == 200
    entries = site.audit()
    assert [(e["action"], e["user"], e["result"]) for e in entries] == [("login", "alice", "done"),
                                                                       ("stop", "alice", "done")]
    assert "alice's long password" not in site.audit_path.read_text()
    token = make_site(tmp_path / "t", users=hashes)
    assert token.request("GET", "/?token=the-token").status == 303
    assert token.request("GET", "/api/session").json()["user"] == {"name": "owner", "via": "token"}


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(tmp_path: Path, hashes: dict[str, str]) -> None:
    site = make_site(tmp_path, users=hashes)
    wrong = site.sign_in("alice", "guess")
    unknown = site.sign_in("mallory", "guess")
    assert (wrong.status, wrong.json()) == (unknown.status, unknown.json()) == (
        401, {"error": "wrong user name or password"})
    assert "herd_session" not in site.jar
    assert [e["result"] for e in site.audit()] == ["refused: wrong user name or password"] * 2


def test_an_unknown_user_costs_a_hash_verification_too(hashes: dict[str, str], monkeypatch) -> None:
    passwords = Passwords(hashes)
    verified: list[str] = []
    real = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, stored, pw: verified.append(stored) or real(
        self, stored, pw))
    assert passwords.verify("alice", "alice's long password") is True
    assert passwords.verify("alice", "nope") is False
    assert passwords.verify("nobody", "alice's long password") is False
    assert passwords.verify("nobody", "") is False
    assert len(verified) == 4 and verified[2].startswith("$argon2id$") and verified[2] not in hashes.values()


def test_sign_in_needs_its_csrf_token_in_both_cookie_and_field(tmp_path: Path, hashes: dict[str, str]) -> None:
    site = make_site(tmp_path, users=hashes)
    good = {"user": "alice", "password": "alice's long password"}
    assert site.request("POST", "/login", body=good).status == 403                   # neither
    csrf = site.request("GET", "/login/state").json()["csrf"]
    assert site.request("POST", "/login", body={**good, "csrf": "forged"}).status == 403   # field wrong
    answer = site.request("POST", "/login", body={**good, "csrf": csrf}, cookies={})  # cookie missing
    assert answer.status == 403 and answer.json()["error"] == "missing or wrong sign-in token: reload the page"
    other = site.request("POST", "/login", body={**good, "csrf": csrf},
                         headers={"Origin": "http://evil.example"})
    assert other.status == 403 and other.json()["error"] == "cross-origin request refused"
    assert "herd_session" not in site.jar
    assert site.request("POST", "/login", body={**good, "csrf": csrf}).status == 200


def test_sign_out_needs_the_csrf_token_and_ends_the_session(tmp_path: Path, hashes: dict[str, str]) -> None:
    site = make_site(tmp_path, users=hashes)
    site.sign_in("bob", "bob-pw")
    csrf = site.request("GET", "/api/session").json()["csrf"]
    assert site.request("POST", "/logout").status == 403
    assert site.request("POST", "/logout", headers={"X-CSRF-Token": "forged"}).status == 403
    assert site.request("GET", "/api/session").status == 200                   # still signed in
    out = site.request("POST", "/logout", headers={"X-CSRF-Token": csrf})
    assert out.status == 200 and out.json() == {"next": "/login"} and out.cookie("herd_session") == ""
    assert site.request("GET", "/api/session", cookies={"herd_session": csrf}).status == 403
    assert [(e["action"], e["result"].split(":")[0]) for e in site.audit()] == [
        ("login", "done"), ("logout", "refused"), ("logout", "refused"), ("logout", "done")]


def test_five_failures_per_user_or_address_mean_a_thirty_second_wait(tmp_path: Path, hashes: dict[str, str]) -> None:
    site = make_site(tmp_path, users=hashes)
    answers = [site.sign_in("alice", f"guess {i}", client="10.0.0.1").json()["error"] for i in range(5)]
    assert answers[:4] == ["wrong user name or password"] * 4
    assert answers[4] == "wrong user name or password; too many failed sign-ins: wait 30 s and try again"
    # the right password from another address: alice waits too
    held = site.sign_in("alice", "alice's long password", client="10.0.0.2")
    assert held.status == 429 and held.json()["error"] == "too many failed sign-ins: wait 30 s and try again"
    site.clock.now += 12
    assert site.sign_in("alice", "alice's long password").json()["error"] == (
        "too many failed sign-ins: wait 18 s and try again")
    assert site.sign_in("bob", "bob-pw", client="10.0.0.3").status == 200      # bob is not alice
    site.clock.now += 18.5
    assert site.sign_in("alice", "alice's long password", client="10.0.0.2").status == 200
    # per address: five users guessed from one address
    for name in ("u1", "u2", "u3", "u4", "u5"):
        site.sign_in(name, "guess", client="10.6.6.6")
    assert site.sign_in("bob", "bob-pw", client="10.6.6.6").status == 429
    assert site.sign_in("bob", "bob-pw", client="10.0.0.4").status == 200


def test_sessions_expire_when_idle_and_when_too_old(tmp_path: Path, hashes: dict[str, str]) -> None:
    site = make_site(tmp_path, users=hashes, idle=600, lifetime=3600)
    site.sign_in("alice", "alice's long password")
    for _ in range(5):                  # used every 9 minutes: alive, until an hour after it began
        site.clock.now += 540
        assert site.request("GET", "/api/session").status == 200
    site.clock.now += 540 + 1           # 46 min: still within the hour, used 9 min ago... until the hour
    assert site.request("GET", "/api/session").status == 200
    site.clock.now += 600               # past the hour: absolute expiry
    expired = site.request("GET", "/api/session")
    assert expired.status == 403 and expired.json()["error"] == EXPIRED == "your session expired: sign in again"
    page = site.request("GET", "/")
    assert page.status == 303 and page.header("location") == "/login?expired=1"
    site.sign_in("alice", "alice's long password")
    assert site.request("GET", "/login/session").json() == {"alive": True}
    site.clock.now += 500               # someone at the page: its report is a use
    assert site.request("GET", "/login/session?active=1").json() == {"alive": True}
    site.clock.now += 500
    assert site.request("GET", "/login/session").json() == {"alive": True}
    site.clock.now += 101               # idle expiry; /login/session without ?active=1 is not a use
    assert site.request("GET", "/login/session").json() == {"alive": False}
    assert site.request("GET", "/api/status").json()["error"] == EXPIRED


def test_idle_time_counts_from_the_last_request_not_from_sign_in() -> None:
    clock = Clock()
    sessions = Sessions(idle=100, lifetime=1000, clock=clock)
    session = sessions.create(User("a", "password"))
    clock.now += 90
    assert sessions.get(session.sid) is session
    clock.now += 90
    assert sessions.get(session.sid, touch=False) is session
    clock.now += 11
    assert sessions.get(session.sid) is None
    assert sessions.get(session.sid) is None        # and forgotten


# -- the team file's passwords, herd web-passwd, the options ---------------------------------------

def test_a_plain_password_in_the_team_file_is_refused_with_file_and_line(tmp_path: Path,
                                                                          hashes: dict[str, str]) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(f'users:\n  alice: {{password: "{hashes["alice"]}"}}\n  bob:\n    password: hunter2\n'
                    "roles:\n  alice: admin\n")
    with pytest.raises(UsageError) as refused:
        load_team(team)
    assert str(refused.value) == (f"{team}:4: users.bob.password: not a password hash: make one with "
                                  "`herd web-passwd bob`")
    assert "hunter2" not in str(refused.value)
    team.write_text('users:\n  carol: {}\n')
    with pytest.raises(UsageError, match=r":2: users.carol: missing key 'password'"):
        load_team(team)
    team.write_text('users:\n  alice: {password: "$argon2id$my password"}\n')     # looks like one, is not
    with pytest.raises(UsageError, match=r":2: users.alice.password: not a password hash"):
        load_team(team)
    team.write_text(f'users:\n  alice: {{password: "{hashes["alice"]}"}}\nroles:\n  alice: admin\n')
    assert load_team(team).users == {"alice": hashes["alice"]}


def herd(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "herd", *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_web_passwd_reads_stdin_and_prints_the_line_to_paste(tmp_path: Path) -> None:
    result = herd("web-passwd", "alice", stdin="correct horse battery\n")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith('  alice: {password: "$argon2id$')
    import yaml

    entry = yaml.safe_load("users:\n" + result.stdout)["users"]["alice"]
    assert PasswordHasher().verify(entry["password"], "correct horse battery")
    assert "correct horse" not in result.stdout
    team = tmp_path / "team.yaml"
    team.write_text("users:\n" + result.stdout + herd("web-passwd", "o'brien", stdin="pw").stdout +
                    "roles:\n  alice: admin\n")
    assert sorted(load_team(team).users) == ["alice", "o'brien"]
    users = yaml.safe_load(team.read_text())["users"]
    assert sorted(users) == ["alice", "o'brien"]
    assert PasswordHasher().verify(users["o'brien"]["password"], "pw")      # no newline: the line as it is


@pytest.mark.parametrize("args, stdin, said", [
    (["web-passwd", "alice"], "\n", "herd: web-passwd: an empty password\n"),
    (["web-passwd", "al\x07ice"], "pw\n", "herd: web-passwd: a user name with control characters or "
                                          "surrounding spaces\n"),
    (["web-passwd", "o'brien: x"], "pw\n", "herd: web-passwd: \"o'brien: x\": a user of the team file has no "
                                            "spaces or ':' in its name\n"),
    (["web", "--user-header", "X-Forwarded-User"], "",
     "herd: --user-header X-Forwarded-User needs --trusted-proxy ADDRESS: the header is believed only from the "
     "proxy's address (for example --trusted-proxy 127.0.0.1)\n"),
    (["web", "--trusted-proxy", "127.0.0.1"], "",
     "herd: --trusted-proxy needs --user-header NAME (the header the proxy names the user in)\n"),
    (["web", "--user-header", "X-User", "--trusted-proxy", "10.0.0.0/33"], "",
     "herd: --trusted-proxy 10.0.0.0/33: not an IP address or CIDR (for example 127.0.0.1 or 10.0.0.0/8)\n"),
    (["web", "--certfile", "c.pem"], "", "herd: --certfile and --keyfile go together: give both (PEM files) or "
                                         "neither\n"),
    (["web", "--session-idle", "soon"], "",
     "herd: --session-idle soon: not a duration (for example 90s, 30m, 8h, 7d)\n"),
])
def test_bad_options_are_one_line_and_exit_2(args: list[str], stdin: str, said: str) -> None:
    result = herd(*args, stdin=stdin)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", said)


def test_a_team_file_with_a_plain_password_stops_herd_web_with_file_and_line(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text("users:\n  alice: {password: secret}\n")
    result = herd("web", "--team", str(team), "-i", str(tmp_path / "none.yaml"))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"herd: {team}:2: users.alice.password: not a password hash: make one with "
                             "`herd web-passwd alice`\n")


def make_certificate(folder: Path, name: str = "herd") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes as crypto_hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, crypto_hashes.SHA256()))
    certfile, keyfile = folder / f"{name}.pem", folder / f"{name}.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile


def test_unreadable_or_mismatched_certificates_are_one_line_and_exit_2(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, "one")
    _, other_key = make_certificate(tmp_path, "two")
    missing = herd("web", "--certfile", str(cert), "--keyfile", str(tmp_path / "nokey.pem"))
    assert (missing.returncode, missing.stderr) == (
        2, f"herd: --keyfile {tmp_path / 'nokey.pem'}: cannot read it (No such file or directory)\n")
    mismatched = herd("web", "--certfile", str(cert), "--keyfile", str(other_key))
    assert mismatched.returncode == 2 and mismatched.stderr.count("\n") == 1
    assert mismatched.stderr.startswith(f"herd: --certfile {cert} --keyfile {other_key}: not a PEM certificate "
                                        "and its key (")
    swapped = herd("web", "--certfile", str(key), "--keyfile", str(cert))
    assert swapped.returncode == 2 and swapped.stderr.count("\n") == 1 and "Traceback" not in swapped.stderr
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(key.read_bytes(), None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.BestAvailableEncryption(b"pass")))
    encrypted = herd("web", "--certfile", str(cert), "--keyfile", str(locked))
    assert encrypted.returncode == 2 and encrypted.stderr.count("\n") == 1, encrypted.stderr
    assert "Traceback" not in encrypted.stderr
