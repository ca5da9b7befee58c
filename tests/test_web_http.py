"""``herd web``'s server-side security, with a plain HTTP client, over a real fleet (sshd + supervisord).

Every refused request must also change nothing: each check reads the
process states with supervisorctl afterwards.  The browser tests are in
tests/test_web_browser.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from herd.testing.pytest_plugin import module_fleet
from helpers import edit_inventory, herd
from webtools import Events, WebServer, http, start_web, wait_for


web_fleet = module_fleet("webhttp", hosts=2, inet=["web02"], light=True)


@pytest.fixture(scope="module")
def server(web_fleet, tmp_path_factory) -> Iterator[WebServer]:
    home = tmp_path_factory.mktemp("webhome")
    web = start_web(web_fleet.inventory_path, home, "--accept-new")
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture(scope="module")
def app_logs(tmp_path_factory) -> Path:
    """Where the read-only server's inventory says worker writes a log file of its own ({host}-worker.log)."""
    folder = tmp_path_factory.mktemp("applogs")
    for host in ("web01", "web02"):
        (folder / f"{host}-worker.log").write_bytes(b"".join(b"%s app line %d\n" % (host.encode(), i)
                                                             for i in range(1, 31)))
    return folder


@pytest.fixture(scope="module")
def read_only(web_fleet, server, app_logs, tmp_path_factory) -> Iterator[WebServer]:
    """A --read-only server whose inventory names worker's own log file (logs:): reading stays allowed."""
    home = tmp_path_factory.mktemp("webro")
    inventory = edit_inventory(web_fleet.inventory_path, home / "inventory.yaml",
                               lambda data: data.update(logs={"worker": f"{app_logs}/{{host}}-worker.log"}))
    web = start_web(inventory, home, "--accept-new", "--read-only")
    try:
        yield web
    finally:
        web.stop()


STOP_WORKER = {"action": "stop", "targets": [{"host": "web01", "name": "worker"}]}


def worker_state(web_fleet) -> str:
    return web_fleet.process_states("web01")["worker:worker"]


def test_without_a_session_everything_but_the_login_is_refused(server: WebServer) -> None:
    for path in ("/", "/api/status", "/api/session", "/api/events", "/api/check", "/api/logs?name=worker"):
        answer = http("GET", server.base, path)
        assert answer.status == 403, (path, answer)
    assert http("GET", server.base, "/?token=wrong" + server.token[:5]).status == 403
    answer = http("POST", server.base, "/api/control", headers={"Content-Type": "application/json"},
                  body=json.dumps(STOP_WORKER).encode())
    assert answer.status == 403 and "no session" in answer.json()["error"]


def test_the_token_buys_an_httponly_samesite_strict_cookie_and_the_page(server: WebServer) -> None:
    answer = http("GET", server.base, f"/?token={server.token}")
    assert answer.status == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    page = http("GET", server.base, "/", headers={"Cookie": cookie.split(";")[0]})
    assert page.status == 200 and b"<title>herd</title>" in page.body
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"


def test_posts_without_or_with_a_wrong_csrf_token_are_refused_and_change_nothing(server, web_fleet) -> None:
    cookie, csrf = server.login()
    assert worker_state(web_fleet) == "RUNNING"
    assert server.post("/api/control", STOP_WORKER, cookie, None).status == 403
    assert server.post("/api/control", STOP_WORKER, cookie, csrf[:-2] + "xx").status == 403
    other_cookie, other_csrf = server.login()
    assert server.post("/api/control", STOP_WORKER, cookie, other_csrf).status == 403   # another session's
    assert server.post("/api/control", STOP_WORKER, cookie, csrf, Origin="http://evil.example").status == 403
    assert worker_state(web_fleet) == "RUNNING"


def test_a_foreign_host_header_is_refused_even_with_a_good_session(server, web_fleet) -> None:
    cookie, csrf = server.login()
    for host in ("evil.example", f"evil.example:{server.port}", f"127.0.0.1.nip.io:{server.port}"):
        answer = server.post("/api/control", STOP_WORKER, cookie, csrf, Host=host)
        assert answer.status == 403 and "Host" in answer.json()["error"]
        assert http("GET", server.base, "/api/status", headers={"Cookie": cookie, "Host": host}).status == 403
    assert worker_state(web_fleet) == "RUNNING"
    ok = http("GET", server.base, "/api/status", headers={"Cookie": cookie, "Host": f"localhost:{server.port}"})
    assert ok.status == 200


def test_get_never_changes_anything(server, web_fleet) -> None:
    cookie, _ = server.login()
    for path in ("/api/control", "/api/config", "/api/config/plan", "/api/roll/interrupt"):
        assert server.get(path, cookie).status == 405
    assert worker_state(web_fleet) == "RUNNING"


def test_a_good_post_acts_and_answers_as_the_cli_does(server, web_fleet) -> None:
    cookie, csrf = server.login()
    assert server.post("/api/control", STOP_WORKER, cookie, None).status == 403     # audited as refused
    try:
        answer = server.post("/api/control", STOP_WORKER, cookie, csrf)
        assert answer.status == 200, answer
        assert answer.json()["lines"] == ["web01  worker  stopped", "1 host: 1 stopped"]
        assert worker_state(web_fleet) == "STOPPED"
    finally:
        answer = server.post("/api/control", {"action": "start", "targets": [{"host": "web01", "name": "worker"}]},
                             cookie, csrf)
    assert answer.json()["lines"] == ["web01  worker  started", "1 host: 1 started"]
    entries = [json.loads(line) for line in server.audit.read_text().splitlines()]
    done = [e for e in entries if e["result"] == "done"]
    assert done[-2]["action"] == "stop" and done[-2]["targets"]["targets"] == STOP_WORKER["targets"]
    assert done[-2]["hosts"]["web01"] == ["web01 worker stopped"]
    assert any(e["result"].startswith("refused: missing or wrong CSRF") for e in entries)


def test_a_fleet_wide_stop_needs_confirming(server, web_fleet) -> None:
    cookie, csrf = server.login()
    both = {"action": "stop", "targets": [{"host": "web01", "name": "worker"}, {"host": "web02", "name": "worker"}]}
    answer = server.post("/api/control", both, cookie, csrf)
    assert answer.status == 409 and answer.json()["confirm"] is True
    assert "stop 2 target(s) on 2 hosts?" in answer.json()["error"]
    assert worker_state(web_fleet) == "RUNNING" and web_fleet.process_states("web02")["worker:worker"] == "RUNNING"


def test_read_only_refuses_every_change_on_the_server(read_only, web_fleet) -> None:
    cookie, csrf = read_only.login()
    assert read_only.get("/api/session", cookie).json()["read_only"] is True
    changes = [("/api/control", STOP_WORKER), ("/api/config", {"action": "reread"}), ("/api/config/plan", {}),
               ("/api/roll", {"name": "tornado", "confirm": True, "min_healthy": 0}), ("/api/roll/interrupt", {})]
    for path, body in changes:
        answer = read_only.post(path, body, cookie, csrf)
        assert answer.status == 403 and "read-only" in answer.json()["error"], (path, answer)
    bearer = http("POST", read_only.base, "/api/control", body=json.dumps(STOP_WORKER).encode(),
                  headers={"Authorization": f"Bearer {read_only.token}", "Content-Type": "application/json"})
    assert bearer.status == 403
    assert worker_state(web_fleet) == "RUNNING"
    assert read_only.get("/api/status", cookie).status == 200


def test_scripts_use_the_bearer_token_without_cookie_or_csrf(server, web_fleet) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    status = http("GET", server.base, "/api/status", headers=auth).json()
    assert [h["host"] for h in status["hosts"]] == ["web01", "web02"]
    wrong = http("GET", server.base, "/api/status", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 403


def test_no_password_or_token_reaches_an_answer_or_the_log(web_fleet, tmp_path: Path) -> None:
    password = web_fleet.host("web02").password
    assert password
    web = start_web(web_fleet.inventory_path, tmp_path, "--accept-new")
    try:
        cookie, csrf = web.login()
        status = wait_for(lambda: (s := web.get("/api/status", cookie).json()) and all(
            h["processes"] for h in s["hosts"]) and s, what="both hosts read")
        assert status["hosts"][1]["processes"], "web02 (inet, password) was read"
        bodies = [web.get(p, cookie).body for p in ("/api/status", "/api/session", "/api/check", "/api/roll")]
        bodies.append(web.post("/api/control", {"action": "nosuch", "targets": [{"host": "web02", "name": "x"}]},
                               cookie, csrf).body)
    finally:
        printed = web.stop()
    for body in bodies:
        assert password.encode() not in body
    audit = web.audit.read_text()
    for secret in (password, web.token, csrf, cookie.split("=", 1)[1]):
        assert secret not in audit
    assert password not in printed
    assert printed.count(web.token) == 1         # printed once, in the URL, and never logged


def test_listening_beyond_loopback_needs_a_flag_and_warns(web_fleet, tmp_path: Path) -> None:
    refused = herd("web", "-i", str(web_fleet.inventory_path), "--listen", "0.0.0.0:0", home=tmp_path)
    assert refused.code == 2 and "not a loopback address; add --allow-remote" in refused.err
    web = start_web(web_fleet.inventory_path, tmp_path, "--listen", "0.0.0.0:0", "--allow-remote")
    printed = web.stop()
    assert "WARNING: serving on 0.0.0.0, reachable from the network" in printed


# -- the app's own log files (logs:) ---------------------------------------------------------


def test_the_api_lists_each_hosts_app_log_files_as_the_inventory_names_them(read_only, app_logs) -> None:
    cookie, _ = read_only.login()
    assert read_only.get("/api/session", cookie).json()["logs"] == {
        h: {"worker": f"{app_logs}/{{host}}-worker.log"} for h in ("web01", "web02")}
    listed = wait_for(lambda: (d := read_only.get("/api/logs/files?name=worker", cookie).json())
                      and all(h["polled"] for h in d["hosts"]) and d, 20, "both hosts read")
    assert [(h["host"], h["files"]) for h in listed["hosts"]] == [
        (h, [{"process": "worker", "program": "worker", "path": f"{app_logs}/{h}-worker.log"}])
        for h in ("web01", "web02")]
    tornado = read_only.get("/api/logs/files?name=tornado&hosts=web02", cookie).json()
    assert [(h["host"], h["files"]) for h in tornado["hosts"]] == [("web02", [])]
    assert read_only.get("/api/logs/files?hosts=web09", cookie).status == 400


def test_an_app_log_file_is_read_on_every_host_escaped_and_bounded_in_read_only_mode(read_only, app_logs) -> None:
    cookie, _ = read_only.login()
    (app_logs / "web02-worker.log").open("ab").write(b"\x1b]0;owned\x07 bad \xff byte <b>x</b>\n")
    answer = read_only.get("/api/logs?name=worker&channel=file&lines=3", cookie)
    assert answer.status == 200, answer
    data = answer.json()
    assert [(x["host"], x["source"], x["text"]) for x in data["lines"]] == [
        ("web01", "worker", "web01 app line 28"), ("web01", "worker", "web01 app line 29"),
        ("web01", "worker", "web01 app line 30"), ("web02", "worker", "web02 app line 29"),
        ("web02", "worker", "web02 app line 30"),
        ("web02", "worker", "\\x1b]0;owned\\x07 bad \\xff byte <b>x</b>")]
    assert data["exit_code"] == 0
    # supervisord's stdout is still what "stdout" means, though logs: names a file
    stdout = read_only.get("/api/logs?name=worker&channel=stdout&lines=2&hosts=web01", cookie).json()
    assert all(" worker web01 tick " in x["text"] for x in stdout["lines"]) and len(stdout["lines"]) == 2
    # a program with no file of its own says so, and the answer is bounded whatever is asked
    none = read_only.get("/api/logs?name=tornado&channel=file&hosts=web01", cookie).json()
    assert none["lines"] == [] and none["exit_code"] == 1
    assert "no log file of its own: logs: in the inventory names none for tornado" in none["notes"][0]["text"]
    big = read_only.get("/api/logs?name=worker&channel=file&lines=999999&hosts=web01", cookie).json()
    assert len(big["lines"]) == 30


def test_a_followed_app_log_file_streams_new_lines_of_every_host_merged(read_only, app_logs) -> None:
    cookie, _ = read_only.login()
    stream = Events(read_only, cookie, "/api/logs/follow?name=worker&channel=file&lines=1", timeout=20)
    try:
        kind, first = stream.next()
        assert kind == "lines"
        assert {(x["host"], x["text"]) for x in first if x["kind"] == "line"} >= {("web01", "web01 app line 30")}
        for n in (1, 2):
            for host in ("web01", "web02"):
                with (app_logs / f"{host}-worker.log").open("ab") as log:
                    log.write(b"%s new %d\n" % (host.encode(), n))
        wanted = {(h, f"{h} new {n}") for h in ("web01", "web02") for n in (1, 2)}
        seen: list[tuple[str, str]] = []
        while not wanted <= set(seen):
            kind, items = stream.next()
            assert kind == "lines"
            seen += [(x["host"], x["text"]) for x in items if x["kind"] == "line" and x["source"] == "worker"]
    finally:
        stream.close()
    for host in ("web01", "web02"):
        mine = [text for h, text in seen if h == host]
        assert mine == [f"{host} new 1", f"{host} new 2"]      # once each, in order


def test_update_s_plan_then_go_with_groups_as_a_script_does(make_fleet, tmp_path: Path) -> None:
    """The plan of ``update extra`` is only extra; going on adds extra and bounces nothing else; a config edited
    between plan and go is applied as read at the go, and the answer says so."""
    from test_config_fleet import groups

    from herd.web.updates import PLAN_CHANGED

    fleet = make_fleet(hosts=2, light=True)
    conf = Path(fleet.host("web02").conf_path)
    conf.write_text(conf.read_text().replace("stopwaitsecs=5", "stopwaitsecs=7", 1)
                    + "\n[program:extra]\ncommand=sleep 600\nstartsecs=0\n")
    before = groups(fleet, "web02")
    web = start_web(fleet.inventory_path, tmp_path, "--accept-new")
    try:
        cookie, csrf = web.login()
        everything = web.post("/api/config/plan", {}, cookie, csrf).json()
        assert [h["lines"] for h in everything["hosts"]] == [
            ["config  no config updates to processes"],
            ["tornado  would stop, remove and re-add (changed)", "extra  would add"]]
        assert len(everything["warnings"]) == 1 and everything["warnings"][0].startswith("web02: tornado changed: ")
        plan = web.post("/api/config/plan", {"groups": ["extra"]}, cookie, csrf).json()
        assert [h["lines"] for h in plan["hosts"]] == [["extra  not in this host's config"], ["extra  would add"]]
        assert (plan["warnings"], plan["changes"], plan["groups"]) == ([], 1, ["extra"])
        assert groups(fleet, "web02") == before                  # a plan changes nothing

        go = web.post("/api/config", {"action": "update", "groups": ["extra"], "plan": plan["plan_id"],
                                      "confirm": True}, cookie, csrf)
        assert go.status == 200, go
        assert go.json()["notes"] == []
        assert go.json()["lines"][:2] == ["web01  extra  not in this host's config",
                                          "web02  extra  added process group"]
        after = groups(fleet, "web02")
        assert fleet.process_states("web02")["extra:extra"] == "RUNNING"
        assert {n: after[n] for n in before} == before             # tornado (changed too) not bounced

        # web01 edited after its plan said "nothing to change": the go applies what it reads then, and says so
        shown = web.post("/api/config/plan", {"hosts": ["web01"]}, cookie, csrf).json()
        assert shown["changes"] == 0
        with open(fleet.host("web01").conf_path, "a") as late:
            late.write("\n[program:late]\ncommand=sleep 600\nstartsecs=0\n")
        late_go = web.post("/api/config", {"action": "update", "hosts": ["web01"], "plan": shown["plan_id"],
                                           "confirm": True}, cookie, csrf).json()
        assert late_go["notes"] == [PLAN_CHANGED]
        assert late_go["lines"] == ["web01  late  added process group", "1 host: 1 added process group"]
        assert fleet.process_states("web01")["late:late"] == "RUNNING"
    finally:
        web.stop()
