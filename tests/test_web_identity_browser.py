"""Who is asking, through a real ``herd web`` over a real fleet: passwords in Chromium, a real proxy, TLS.

* Password sign-in in Chromium (a wrong password said on the page, the session's cookie, sign out), a
  session ending after a short ``--session-idle`` (the page goes back to /login, which says why), and
  the CSRF refusals of /login, /logout and /api/control, with a plain HTTP client.
* A real reverse proxy (a small one in this file, bound to 127.0.0.2, adding X-Forwarded-User as
  oauth2-proxy does) is believed; the same header sent straight from 127.0.0.1 is refused and audited.
* TLS with a certificate this test makes: Chromium (``--ignore-certificate-errors``) reaches the
  https URL herd web prints, and the session cookie is Secure.

``HERD_SCREENSHOTS=DIR`` also saves the sign-in page (a wrong password said) and the page signed in
as PNG files there (docs/ has them).

In-process checks of the same rules (fake clock, throttling, bad names): tests/test_web_identity.py.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from selenium.webdriver.common.by import By

import webtools
from herd.audit import local_account
from herd.testing.pytest_plugin import module_fleet
from herd.web.identity import hash_password
from test_web_identity import make_certificate
from webtools import WebServer, browsing, http, shot, wait_for

id_fleet = module_fleet("webid", hosts=1, light=True)

PROXY_ADDRESS = "127.0.0.2"
ALICE_PASSWORD = "alice's password, long enough"
STOP = {"action": "stop", "targets": [{"host": "web01", "name": "worker"}], "confirm": True}


def launch(inventory: Path, home: Path, *args: str, timeout: float = 60) -> WebServer:
    """``herd web`` (http or https) until it prints its URL."""
    return webtools.start_web(inventory, home, "--accept-new", "--interval", "0.5", *args, timeout=timeout)


def audit(web: WebServer) -> list[dict[str, Any]]:
    assert web.audit is not None
    return [json.loads(line) for line in web.audit.read_text().splitlines()]


class Proxy:
    """A reverse proxy as a login proxy is one: it forwards each request to herd web from 127.0.0.2, with
    ``X-Forwarded-User: USER`` (a client's own copy of that header removed), one request per connection."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind((PROXY_ADDRESS, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.upstream = 0
        self.user: str | None = "carol"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://{PROXY_ADDRESS}:{self.port}"

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        with client:
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            first, *lines = head.split(b"\r\n")
            dropped = (b"x-forwarded-user", b"x-forwarded-proto", b"connection", b"keep-alive")
            kept = [line for line in lines if line.split(b":", 1)[0].strip().lower() not in dropped]
            if self.user is not None:
                kept.append(b"X-Forwarded-User: " + self.user.encode())
            kept.append(b"Connection: close")
            upstream = socket.create_connection(("127.0.0.1", self.upstream), source_address=(PROXY_ADDRESS, 0))
            with upstream:
                upstream.sendall(b"\r\n".join([first, *kept]) + b"\r\n\r\n" + rest)
                threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
                self._pipe(upstream, client)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self.closed = True
        self.listener.close()


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("webidteam")
    path = folder / "team.yaml"
    path.write_text(f'users:\n  alice: {{password: "{hash_password(ALICE_PASSWORD)}"}}\n'
                    f"roles:\n  alice: admin\n  carol: admin\n  {json.dumps(local_account())}: admin\n")  # the token's
    return path


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    running = Proxy()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def server(id_fleet, team, proxy, tmp_path_factory) -> Iterator[WebServer]:
    """Local users from the team file, and users named by the proxy at 127.0.0.2."""
    web = launch(id_fleet.inventory_path, tmp_path_factory.mktemp("webidhome"), "--team", str(team),
                 "--user-header", "X-Forwarded-User", "--trusted-proxy", PROXY_ADDRESS,
                 "--allow-host", f"{PROXY_ADDRESS}:{proxy.port}")
    proxy.upstream = web.port
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    with browsing() as driver:
        yield driver


def sign_in(driver: Any, base: str, user: str, password: str) -> None:
    driver.get(base + "/")
    wait_for(lambda: driver.current_url.startswith(base + "/login"), 30, "the sign-in page")
    wait_for(lambda: driver.find_element(By.ID, "login-submit").is_enabled(), 30, "the form ready")
    for field, value in (("login-user", user), ("login-password", password)):
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "login-submit").click()


def whoami(driver: Any) -> str:
    return str(driver.find_element(By.ID, "whoami").text)


def test_password_sign_in_a_wrong_password_said_and_sign_out(server: WebServer, browser: Any, id_fleet) -> None:
    sign_in(browser, server.base, "alice", "not her password")
    wait_for(lambda: browser.find_element(By.ID, "login-message").text == "wrong user name or password", 30,
             "the wrong password said")
    assert browser.current_url == server.base + "/login"
    shot(browser, "web-login.png")
    sign_in(browser, server.base, "alice", ALICE_PASSWORD)
    wait_for(lambda: browser.current_url == server.base + "/", 30, "the page after sign-in")
    wait_for(lambda: whoami(browser) == "alice (password)", 30, "who is signed in")
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, 'tr[data-host="web01"]'), 30, "the fleet table")
    cookie = next(c for c in browser.get_cookies() if c["name"] == "herd_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["secure"] is False
    logout = browser.find_element(By.ID, "logout")
    assert logout.is_displayed()
    shot(browser, "web-signed-in.png")
    logout.click()
    wait_for(lambda: browser.current_url == server.base + "/login", 30, "back at the sign-in page")
    assert not [c for c in browser.get_cookies() if c["name"] == "herd_session"]
    browser.get(server.base + "/")
    wait_for(lambda: browser.current_url == server.base + "/login", 30, "no session after sign out")
    assert http("GET", server.base, "/api/session", headers={"Cookie": f"herd_session={cookie['value']}"}
                ).status == 403
    entries = [(e["action"], e.get("user"), e["result"]) for e in audit(server)
               if e["action"] in ("login", "logout")]
    assert entries == [("login", "alice", "refused: wrong user name or password"), ("login", "alice", "done"),
                       ("logout", "alice", "done")]
    assert ALICE_PASSWORD not in server.audit.read_text() and "not her password" not in server.audit.read_text()


def test_csrf_refuses_posts_to_login_logout_and_control_without_the_token(server: WebServer, id_fleet) -> None:
    good = {"user": "alice", "password": ALICE_PASSWORD}
    state = http("GET", server.base, "/login/state")
    login_cookie = state.headers["set-cookie"].split(";", 1)[0]
    csrf = state.json()["csrf"]
    for headers, body in (({}, good), ({"Cookie": login_cookie}, good), ({}, {**good, "csrf": csrf}),
                          ({"Cookie": login_cookie}, {**good, "csrf": "forged"})):
        answer = http("POST", server.base, "/login", headers={**headers, "Content-Type": "application/json"},
                      body=json.dumps(body).encode())
        assert answer.status == 403 and answer.json() == {"error": "missing or wrong sign-in token: reload the page"}
        assert "herd_session" not in answer.headers.get("set-cookie", "")
    signed = http("POST", server.base, "/login", headers={"Cookie": login_cookie, "Content-Type": "application/json"},
                  body=json.dumps({**good, "csrf": csrf}).encode())
    assert signed.status == 200
    session = signed.headers["set-cookie"].split(";", 1)[0]
    assert session.startswith("herd_session=")
    token = http("GET", server.base, "/api/session", headers={"Cookie": session}).json()["csrf"]
    for path, body in (("/logout", None), ("/api/control", STOP)):
        for sent in ({}, {"X-CSRF-Token": "forged"}):
            answer = server.post(path, body, session, None, **sent)
            assert answer.status == 403 and "CSRF" in answer.json()["error"], (path, answer)
    assert id_fleet.process_states("web01")["worker:worker"] == "RUNNING"
    assert http("GET", server.base, "/api/session", headers={"Cookie": session}).status == 200   # not signed out
    assert server.post("/logout", None, session, token).status == 200
    assert http("GET", server.base, "/api/session", headers={"Cookie": session}).status == 403


def test_the_proxy_s_user_is_believed_and_the_same_header_from_elsewhere_refused(
        server: WebServer, proxy: Proxy, browser: Any, id_fleet) -> None:
    browser.get(proxy.base + "/")
    wait_for(lambda: whoami(browser) == "carol (proxy)", 30, "carol named by the proxy")
    assert not browser.find_element(By.ID, "logout").is_displayed()     # she signs out at the login proxy
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, 'tr[data-host="web01"]'), 30, "the fleet table")
    script = """
        const done = arguments[arguments.length - 1];
        (async () => {
          const session = await (await fetch("/api/session")).json();
          const answer = await fetch("/api/control", {method: "POST", headers: {"Content-Type": "application/json",
            "X-CSRF-Token": session.csrf}, body: JSON.stringify(arguments[0])});
          done([answer.status, await answer.text()]);
        })().catch((error) => done([0, String(error)]));
    """
    status, text = browser.execute_async_script(script, STOP)
    assert status == 200, text
    wait_for(lambda: id_fleet.process_states("web01")["worker:worker"] == "STOPPED", 30, "worker stopped")
    status, text = browser.execute_async_script(script, {**STOP, "action": "start"})
    assert status == 200, text
    id_fleet.wait_running("web01")
    acted = [(e["action"], e.get("user"), e.get("via"), e["result"]) for e in audit(server)
             if e["action"] in ("stop", "start")]
    assert acted == [("stop", "carol", "proxy", "done"), ("start", "carol", "proxy", "done")]
    # the same header, straight from 127.0.0.1: refused, with or without the token, and audited
    direct = http("GET", server.base, "/", headers={"X-Forwarded-User": "carol"})
    assert direct.status == 403
    assert direct.body.decode().strip() == "X-Forwarded-User from 127.0.0.1 refused: not a --trusted-proxy address"
    cookie, csrf = server.login()
    spoofed = server.post("/api/control", STOP, cookie, csrf, **{"X-Forwarded-User": "carol"})
    assert spoofed.status == 403 and "not a --trusted-proxy address" in spoofed.json()["error"]
    assert id_fleet.process_states("web01")["worker:worker"] == "RUNNING"
    refused = [e for e in audit(server) if "not a --trusted-proxy address" in e["result"]]
    assert [(e["action"], e["from"].split(":")[0]) for e in refused] == [("/", "127.0.0.1"),
                                                                          ("/api/control", "127.0.0.1")]
    # the proxy letting a request through without naming anyone: refused too
    proxy.user = None
    try:
        unnamed = http("GET", proxy.base, "/api/status", headers={"Host": f"{PROXY_ADDRESS}:{proxy.port}"})
    finally:
        proxy.user = "carol"
    assert unnamed.status == 403 and "the proxy did not authenticate it" in unnamed.json()["error"]


def test_a_session_idle_too_long_goes_back_to_the_sign_in_page(id_fleet, team, browser, tmp_path) -> None:
    web = launch(id_fleet.inventory_path, tmp_path, "--team", str(team), "--session-idle", "3s")
    try:
        sign_in(browser, web.base, "alice", ALICE_PASSWORD)
        wait_for(lambda: whoami(browser) == "alice (password)", 30, "signed in")
        # the page's own requests (the health badge's, every 5 s) are further apart than 3 s: the session ends
        wait_for(lambda: browser.current_url == web.base + "/login?expired=1", 40, "the page back at /login")
        note = browser.find_element(By.ID, "login-expired")
        wait_for(lambda: note.is_displayed(), 10, "the expiry said")
        assert note.text == "your session expired: sign in again"
        sign_in(browser, web.base, "alice", ALICE_PASSWORD)
        wait_for(lambda: whoami(browser) == "alice (password)", 30, "signed in again")
    finally:
        web.stop()


def test_tls_with_a_certificate_of_our_own_and_a_secure_cookie(id_fleet, tmp_path, monkeypatch) -> None:
    certfile, keyfile = make_certificate(tmp_path)
    web = launch(id_fleet.inventory_path, tmp_path, "--certfile", str(certfile), "--keyfile", str(keyfile))
    monkeypatch.setattr(webtools, "CHROME_FLAGS", webtools.CHROME_FLAGS + ["--ignore-certificate-errors"])
    driver = webtools.chrome()
    try:
        assert web.url.startswith("https://127.0.0.1:")
        driver.get(web.url)
        wait_for(lambda: driver.current_url == web.base + "/", 30, "the page over https")
        wait_for(lambda: whoami(driver).endswith("(token)"), 30, "the token's holder")
        wait_for(lambda: driver.find_element(By.CSS_SELECTOR, 'tr[data-host="web01"]'), 30, "the fleet table")
        cookie = next(c for c in driver.get_cookies() if c["name"] == "herd_session")
        assert cookie["secure"] is True and cookie["httpOnly"] is True
        with pytest.raises(OSError):            # plain HTTP is not served there
            http("GET", web.base.replace("https", "http"), "/", timeout=5)
    finally:
        driver.quit()
        web.stop()
