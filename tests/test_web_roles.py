"""Roles per group of hosts (herd web --team FILE), in process: the team file's loader, TeamAccess's
decisions, and the app over fake supervisords with several users; reload, shutdown, avail and
restart all over fakes.

The browser proof is tests/test_web_roles_browser.py; reload and restart all over a real supervisord
are at the end of that file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from herd.errors import UsageError
from herd.inventory.model import Host, Inventory
from herd.testing.fake import FakeHost, FakeSource, FakeSupervisor, ProgramSpec
from herd.web.access import Ability, OpenAccess, TeamAccess, team_access
from herd.web.actions import Dashboard
from herd.web.errors import Refused
from herd.web.security import COOKIE, User
from herd.web.team import Grant, TeamConfig, check_team, load_team
from helpers import herd, wait_until
from webtools import Events, WebServer, http, serve_dashboard

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo"


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def team_file(tmp_path: Path, text: str, name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- the loader ------------------------------------------------------------------------------------

GOOD = f"""\
users:
  alice: {{password: "{HASH}"}}
roles:
  alice: admin
  bob:
    - {{role: operator, groups: [odd]}}
    - viewer
  carol:
    - {{role: operator, env: staging}}
    - {{role: viewer, env: production, groups: web}}
  "*": viewer
"""


def test_a_good_team_file_is_read_into_grants(tmp_path: Path) -> None:
    team = load_team(team_file(tmp_path, GOOD))
    assert team.users == {"alice": HASH}
    assert team.roles == {
        "alice": (Grant("admin"),),
        "bob": (Grant("operator", ("odd",)), Grant("viewer")),
        "carol": (Grant("operator", None, "staging"), Grant("viewer", ("web",), "production")),
        "*": (Grant("viewer"),)}
    assert team.grants_of("bob") == (Grant("operator", ("odd",)), Grant("viewer"), Grant("viewer"))
    assert team.grants_of("nobody") == (Grant("viewer"),)
    assert team.roles["carol"][1].groups_at == (f"{tmp_path}/team.yaml:10: roles.carol[1].groups",)


BAD = [
    ("roles:\n  bob:\n    - {role: oprator, groups: [odd]}\n",
     "3: roles.bob[0].role: must be one of viewer, operator, admin, got 'oprator' (did you mean 'operator'?)"),
    ("roles:\n  bob: viewr\n",
     "2: roles.bob: must be one of viewer, operator, admin, got 'viewr' (did you mean 'viewer'?)"),
    ("roles:\n  bob:\n    - role: operator\n      grops: [odd]\n",
     "4: roles.bob[0].grops: unknown key (did you mean 'groups'?)"),
    ("rolse:\n  bob: viewer\n", "1: rolse: unknown key (did you mean 'roles'?)"),
    ("users:\n  alice: {password: hunter2}\nroles:\n  alice: admin\n",
     "2: users.alice.password: not a password hash: make one with `herd web-passwd alice`"),
    ("users:\n  alice: {}\nroles:\n  alice: admin\n",
     "2: users.alice: missing key 'password': make one with `herd web-passwd alice`"),
    ("users:\n  alice: {passwd: x}\nroles:\n  alice: admin\n",
     "2: users.alice.passwd: unknown key (did you mean 'password'?)"),
    ("users:\n  alice: {password: 12345}\nroles:\n  alice: admin\n",
     "2: users.alice.password: must be a string, got integer"),
    ("roles:\n  bob: [operator\n", "3: invalid YAML: while parsing a flow sequence: expected ',' or ']', "
                                  "but got '<stream end>' (see line 2)"),
    ("roles:\n  bob: viewer\n  bob: admin\n", "3: roles.bob: duplicate user name (first defined on line 2)"),
    ("- roles\n", "1: must be a mapping with users: and roles:, got a list"),
    ("users: {}\n", "1: no roles: give each user a role, e.g. roles: {alice: admin, \"*\": viewer}"),
    ("roles: {}\n", "1: roles: no roles: give each user a role, e.g. roles: {alice: admin, \"*\": viewer}"),
    ("roles:\n  bob: []\n", "2: roles.bob: must give at least one role (viewer, operator or admin)"),
    ("roles:\n  bob: {groups: [odd]}\n", "2: roles.bob: missing key 'role' (viewer, operator, admin)"),
    ("roles:\n  bob: {role: viewer, groups: []}\n",
     "2: roles.bob.groups: must name at least one group (leave groups out for every host)"),
    ("roles:\n  bob: {role: viewer, groups: {odd: 1}}\n",
     "2: roles.bob.groups: must be a list of group names, e.g. [web, db], got a mapping"),
    ("roles:\n  bob: {role: viewer, env: [a]}\n", "2: roles.bob.env: must be an environment name, got a list"),
    ("roles:\n  bob smith: viewer\n", "2: roles.bob smith: must be a user name (or '*') without spaces or ':', "
                                      "got 'bob smith'"),
    ("roles:\n  bob: 7\n", "2: roles.bob: must be a string, got integer 7 (quote it if you meant the text)"),
]


@pytest.mark.parametrize("text, expected", BAD, ids=[b[1].split(":")[1].strip() + str(i) for i, b in enumerate(BAD)])
def test_every_bad_value_is_one_line_naming_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = team_file(tmp_path, text)
    with pytest.raises(UsageError) as refused:
        load_team(path)
    assert str(refused.value) == f"{path}:{expected}"


def test_a_plain_password_is_never_echoed(tmp_path: Path) -> None:
    path = team_file(tmp_path, "users:\n  alice: {password: correct-horse-battery}\nroles:\n  alice: admin\n")
    with pytest.raises(UsageError) as refused:
        load_team(path)
    assert "correct-horse" not in str(refused.value)
    truncated = team_file(tmp_path, "users:\n  alice: {password: \"$argon2id$...\"}\nroles:\n  alice: admin\n")
    with pytest.raises(UsageError, match="not a password hash"):
        load_team(truncated)


def test_unreadable_empty_and_non_utf8_files_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nosuch.yaml: cannot read the team file \(No such file or directory\)$"):
        load_team(tmp_path / "nosuch.yaml")
    empty = team_file(tmp_path, "")
    with pytest.raises(UsageError) as refused:
        load_team(empty)
    assert str(refused.value) == f"{empty}: the team file is empty: give it roles: (docs/web.md, Roles)"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"roles:\n  b\xe9b: viewer\n")
    with pytest.raises(UsageError) as refused:
        load_team(latin)
    assert str(refused.value) == f"{latin}:2: not UTF-8 text; save the team file as UTF-8"


def inventory(path: str, groups: dict[str, tuple[str, ...]]) -> Inventory:
    names = sorted({h for members in groups.values() for h in members})
    return Inventory(path, tuple(Host(name=n) for n in names), groups=groups)


STAGING = inventory("staging.yaml", {"odd": ("s1",), "even": ("s2",), "web": ("s1", "s2")})
PRODUCTION = inventory("production.yaml", {"odd": ("p1", "p3"), "even": ("p2",), "web": ("p1", "p2"),
                                           "db": ("p3",)})


@pytest.mark.parametrize("text, envs, expected", [
    ("roles:\n  bob: {role: operator, groups: [od]}\n", {"default": STAGING},
     "2: roles.bob.groups[0]: no group 'od' in inventory staging.yaml (did you mean 'odd'?)"),
    ("roles:\n  bob:\n    - viewer\n    - role: operator\n      groups: [web, nosuch]\n",
     {"staging": STAGING, "production": PRODUCTION},
     "5: roles.bob[1].groups[1]: no group 'nosuch' in any served inventory (groups: db, even, odd, web)"),
    ("roles:\n  bob: {role: operator, env: staging, groups: [db]}\n", {"staging": STAGING, "production": PRODUCTION},
     "2: roles.bob.groups[0]: no group 'db' in inventory staging.yaml (groups: even, odd, web)"),
    ("roles:\n  carol: {role: operator, env: prodution}\n", {"staging": STAGING, "production": PRODUCTION},
     "2: roles.carol.env: no environment 'prodution' is served (did you mean 'production'?)"),
    ("roles:\n  carol: {role: operator, env: qa}\n", {"staging": STAGING, "production": PRODUCTION},
     "2: roles.carol.env: no environment 'qa' is served (environments: staging, production)"),
    ("roles:\n  carol: {role: operator, env: staging}\n", {"default": STAGING},
     "2: roles.carol.env: no environment 'staging' is served (one inventory is served: name environments "
     "with herd web --env NAME=INVENTORY)"),
])
def test_groups_and_environments_are_checked_against_what_is_served(tmp_path: Path, text: str, envs: Any,
                                                                     expected: str) -> None:
    path = team_file(tmp_path, text)
    with pytest.raises(UsageError) as refused:
        check_team(load_team(path), envs)
    assert str(refused.value) == f"{path}:{expected}"


def test_a_group_in_one_environment_only_is_accepted(tmp_path: Path) -> None:
    check_team(load_team(team_file(tmp_path, "roles:\n  bob: {role: operator, groups: [db]}\n")),
               {"staging": STAGING, "production": PRODUCTION})


def test_herd_web_refuses_a_bad_team_file_with_exit_2_and_one_line(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("hosts:\n  web01: {address: 127.0.0.1}\n  web02: {address: 127.0.0.1}\n"
                   "groups:\n  odd: [web01]\n  even: [web02]\n")
    for text, expected in (
            ("roles:\n  bob:\n    - {role: oprator}\n",
             "3: roles.bob[0].role: must be one of viewer, operator, admin, got 'oprator' (did you mean 'operator'?)"),
            ("roles:\n  bob: {role: operator, groups: [od]}\n",
             f"2: roles.bob.groups[0]: no group 'od' in inventory {inv} (did you mean 'odd'?)")):
        path = team_file(tmp_path, text)
        run = herd("web", "-i", str(inv), "--team", str(path), "--listen", "127.0.0.1:0", home=tmp_path)
        assert run.code == 2, run
        assert run.err == f"herd: {path}:{expected}\n"
        assert run.out == ""


# -- decisions ---------------------------------------------------------------------------------------

def access(text: str, tmp_path: Path) -> TeamAccess:
    envs = {"staging": STAGING, "production": PRODUCTION}
    team = load_team(team_file(tmp_path, text))
    check_team(team, envs)
    return TeamAccess(team, {n: i.groups for n, i in envs.items()}, {n: i.host_names for n, i in envs.items()})


def test_each_role_has_its_abilities_on_its_groups_in_its_environments(tmp_path: Path) -> None:
    team = access(GOOD, tmp_path)
    alice, bob, carol = User("alice", "password"), User("bob", "proxy"), User("carol", "proxy")
    assert team.abilities(alice, "production", ["p1"]) == {"p1": ["see", "act", "roll", "config"]}
    assert team.abilities(bob, "production", ["p1", "p2", "p3"]) == {
        "p1": ["see", "act", "roll"], "p2": ["see"], "p3": ["see", "act", "roll"]}
    assert team.abilities(bob, "staging", ["s1", "s2"]) == {"s1": ["see", "act", "roll"], "s2": ["see"]}
    assert team.abilities(carol, "staging", ["s1", "s2"]) == {"s1": ["see", "act", "roll"],
                                                              "s2": ["see", "act", "roll"]}
    assert team.abilities(carol, "production", ["p1", "p2", "p3"]) == {"p1": ["see"], "p2": ["see"],
                                                                       "p3": ["see"]}  # "*": viewer
    for user, env, hosts, ability in ((alice, "staging", ["s1", "s2"], Ability.CONFIG),
                                      (bob, "production", ["p1", "p3"], Ability.ROLL),
                                      (carol, "staging", ["s1", "s2"], Ability.ACT)):
        assert team.refusal(user, ability, env, hosts, "restart") is None


def test_refusals_are_one_sentence_naming_user_action_hosts_and_the_role_needed(tmp_path: Path) -> None:
    team = access(GOOD, tmp_path)
    bob, carol = User("bob", "proxy"), User("carol", "proxy")
    assert team.refusal(bob, Ability.ACT, "production", ["p1", "p2"], "restart") == (
        "bob may not restart on p2: that needs the operator role there (bob is a viewer of p2)")
    assert team.refusal(bob, Ability.CONFIG, "production", ["p1"], "reload") == (
        "bob may not reload on p1: that needs the admin role there (bob is an operator of p1)")
    assert team.refusal(carol, Ability.ROLL, "production", ["p1", "p2", "p3"], "rolling-restart") == (
        "carol may not start a rolling restart on p1, p2, p3: that needs the operator role there "
        "(carol is a viewer of p1, p2, p3)")
    assert team.refusal(carol, Ability.CONFIG, "staging", ["s1"], None) == (
        "carol may not change the config on s1: that needs the admin role there (carol is an operator of s1)")


def test_without_a_star_grant_hosts_outside_the_groups_are_not_seen(tmp_path: Path) -> None:
    team = access("roles:\n  dave: {role: operator, groups: [db]}\n  erin: {role: viewer, env: staging}\n",
                  tmp_path)
    dave, erin, frank = User("dave", "proxy"), User("erin", "proxy"), User("frank", "password")
    assert team.visible(dave, "production", ["p1", "p2", "p3"]) == ["p3"]
    assert team.environments(dave, ["staging", "production"]) == ["production"]
    assert team.environments(erin, ["staging", "production"]) == ["staging"]
    assert team.refusal(dave, Ability.ACT, "production", ["p1", "p2", "p3", "p4", "p5"], "stop") == (
        "dave may not stop on p1, p2, p4 and 1 more: that needs the operator role there "
        "(dave has no role on p1, p2, p4 and 1 more)")
    assert team.refusal(erin, Ability.ACT, "staging", ["s1"], "start") == (
        "erin may not start on s1: that needs the operator role there (erin is a viewer of s1)")
    assert team.denied(dave, "staging") == "dave sees no host of staging"
    assert team.denied(dave, "production") is None
    no_role = "frank has no role here: an admin gives them one under roles: in the team file"
    assert team.denied(frank, "production") == no_role
    assert team.refusal(frank, Ability.SEE, "production", ["p1"], "logs") == no_role
    assert team.visible(frank, "production", ["p1"]) == [] and team.environments(frank, ["production"]) == []


def test_mixed_holdings_are_said_in_one_sentence(tmp_path: Path) -> None:
    team = access("roles:\n  gus:\n    - {role: viewer, groups: [web]}\n", tmp_path)
    assert team.refusal(User("gus", "proxy"), Ability.ACT, "production", ["p1", "p3"], "restart") == (
        "gus may not restart on p1, p3: that needs the operator role there "
        "(gus is a viewer of p1 and has no role on p3)")


def test_without_a_team_file_everything_is_allowed() -> None:
    open_access, user = OpenAccess(), User("me", "token")
    assert open_access.refusal(user, Ability.CONFIG, "default", ["a"], "shutdown") is None
    assert open_access.denied(user, "default") is None
    assert open_access.abilities(user, "default", ["a"]) == {"a": ["see", "act", "roll", "config"]}


# -- reload, shutdown, avail, restart all over fakes --------------------------------------------------

class Supervisord(FakeSupervisor):
    """A fake that also restarts itself (reload) and exits (shutdown: its host stops answering)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reloads = 0
        self.owner: FakeHost | None = None

    def dispatch(self, method: str, params: Any) -> Any:
        if method == "supervisor.restart":
            self.reloads += 1
            return True
        if method == "supervisor.shutdown":
            assert self.owner is not None
            self.owner.break_connection("supervisord is gone")   # from the next call on
            return True
        return super().dispatch(method, params)


def fakes(count: int = 3) -> list[FakeHost]:
    made = []
    for i in range(1, count + 1):
        sup = Supervisord([ProgramSpec("tornado", numprocs=2, numprocs_start=8080), ProgramSpec("worker")])
        made.append(FakeHost(f"web{i:02d}", sup))
        sup.owner = made[-1]
    return made


def dashboard(hosts: list[FakeHost], interval: float = 0.1) -> Dashboard:
    names = [h.name for h in hosts]
    inv = Inventory("fake.yaml", tuple(h.host for h in hosts), groups={
        "odd": tuple(names[0::2]), "even": tuple(names[1::2]), "web": tuple(names)})
    return Dashboard(inv, [h.host for h in hosts], FakeSource(hosts), interval=interval)


def test_reload_and_shutdown_are_asked_first_naming_the_hosts_then_done_as_herd_does() -> None:
    web01, web02, web03 = hosts = fakes()
    dash = dashboard(hosts)
    with pytest.raises(Refused) as question:
        dash.supervisord("reload", ["web01"])
    assert question.value.confirm and str(question.value) == (
        "reload supervisord on web01? It restarts every process it runs; herd waits until it answers again.")
    with pytest.raises(Refused) as question:
        dash.supervisord("shutdown", ["web02", "web03"])
    assert question.value.confirm and str(question.value) == (
        "shut down supervisord on web02, web03? Every process it runs stops, and nothing restarts it but you.")
    assert web01.supervisor.reloads == 0 and web02.broken is None
    done = dash.supervisord("reload", ["web01"], confirm=True)
    assert done["lines"] == ["web01  supervisord  reloaded", "1 host: 1 reloaded"] and done["exit_code"] == 0
    assert web01.supervisor.reloads == 1
    gone = dash.supervisord("shutdown", ["web02"], confirm=True)
    assert gone["lines"] == ["web02  supervisord  shut down", "1 host: 1 shut down"]
    assert web02.broken == "supervisord is gone" and web03.broken is None
    with pytest.raises(Refused, match=r"^unknown action: stop \(one of reload, shutdown\)$"):
        dash.supervisord("stop", ["web01"], confirm=True)
    with pytest.raises(Refused, match="not a host of this dashboard: web09"):
        dash.supervisord("reload", ["web09"], confirm=True)
    with pytest.raises(Refused, match=r"^reload: name the hosts"):
        dash.supervisord("reload", [], confirm=True)


def test_avail_is_herd_avail_s_lines_and_json() -> None:
    dash = dashboard(fakes(2))
    result = dash.avail(["web02"])
    assert [line.split()[:3] for line in result["lines"][:-1]] == [
        ["web02", "tornado:tornado-8080", "in"], ["web02", "tornado:tornado-8081", "in"], ["web02", "worker", "in"]]
    assert result["report"]["action"] == "avail"
    assert [h["host"] for h in result["report"]["hosts"]] == ["web02"]


def test_restart_all_on_one_host_is_asked_first_and_restarts_only_that_host() -> None:
    web01, web02, _ = hosts = fakes()
    dash = dashboard(hosts)
    before = {h.name: h.supervisor.info("worker")["pid"] for h in (web01, web02)}
    with pytest.raises(Refused) as question:
        dash.control("restart", [{"host": "web01", "name": "all"}])
    assert question.value.confirm and str(question.value) == (
        "restart every process on web01? This is not a rolling restart.")
    result = dash.control("restart", [{"host": "web01", "name": "all"}], confirm=True)
    assert result["lines"][-1] == "1 host: 3 restarted"
    assert web01.supervisor.info("worker")["pid"] != before["web01"]
    assert web02.supervisor.info("worker")["pid"] == before["web02"]


# -- the app, two users and more --------------------------------------------------------------------

TEAM = """\
roles:
  ops: admin
  bob: {role: viewer}
  olga: {role: operator, groups: [odd]}
  vera: {role: viewer, groups: [even]}
"""


class Served:
    def __init__(self, server: WebServer, web: Any, hosts: list[FakeHost]) -> None:
        self.server, self.web, self.hosts = server, web, hosts

    def login(self, name: str, via: str = "password") -> tuple[str, str]:
        session = self.web.guard.sessions.create(User(name, via))
        return f"{COOKIE}={session.sid}", session.csrf

    def audit(self) -> list[dict[str, Any]]:
        assert self.server.audit is not None
        return [json.loads(line) for line in self.server.audit.read_text().splitlines()]


def serve_team(envs: dict[str, Dashboard], tmp: Path, team: TeamConfig, *,
               read_only: bool = False) -> tuple[WebServer, Any]:
    """The real app and uvicorn over ``envs`` with the team file's access, in this process: (server, its Web)."""
    server = serve_dashboard(envs, tmp, read_only=read_only, access=team_access(team, envs))
    return server, server.app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    hosts = fakes()
    server, web = serve_team({"default": dashboard(hosts)}, tmp_path, load_team(team_file(tmp_path, TEAM)))
    try:
        yield Served(server, web, hosts)
    finally:
        server.stop()


RESTART_WORKER = {"action": "restart", "targets": [{"host": "web01", "name": "worker"}]}


def test_the_viewer_is_refused_with_a_sentence_the_operator_acts_and_both_are_audited(served: Served) -> None:
    bob, olga = served.login("bob"), served.login("olga", "password")
    pid = served.hosts[0].supervisor.info("worker")["pid"]
    refused = served.server.post("/api/control", RESTART_WORKER, *bob)
    assert refused.status == 403
    assert refused.json()["error"] == (
        "bob may not restart on web01: that needs the operator role there (bob is a viewer of web01)")
    assert served.hosts[0].supervisor.info("worker")["pid"] == pid
    done = served.server.post("/api/control", RESTART_WORKER, *olga)
    assert done.status == 200, done
    assert done.json()["lines"][-1] == "1 host: 1 restarted"
    assert served.hosts[0].supervisor.info("worker")["pid"] != pid
    trail = served.audit()
    assert [(e["user"], e["via"], e["action"], e["result"].split(":")[0]) for e in trail] == [
        ("bob", "password", "restart", "refused"), ("olga", "password", "restart", "done")]
    assert trail[0]["result"] == "refused: " + refused.json()["error"]


def test_each_post_is_checked_against_its_own_ability(served: Served) -> None:
    olga, ops = served.login("olga"), served.login("ops")
    reload = {"action": "reload", "hosts": ["web01"]}
    answer = served.server.post("/api/supervisord", reload, *olga)
    assert answer.status == 403 and answer.json()["error"] == (
        "olga may not reload on web01: that needs the admin role there (olga is an operator of web01)")
    answer = served.server.post("/api/control", {"action": "stop", "targets": [{"host": "web02", "name": "worker"}]},
                                *olga)
    assert answer.status == 403 and answer.json()["error"] == (
        "olga may not stop on web02: that needs the operator role there (olga has no role on web02)")
    answer = served.server.post("/api/config", {"action": "reread", "hosts": ["web01"]}, *olga)
    assert answer.status == 403 and "olga may not reread on web01: that needs the admin role" in answer.json()["error"]
    asked = served.server.post("/api/supervisord", reload, *ops)
    assert asked.status == 409 and asked.json() == {
        "error": "reload supervisord on web01? It restarts every process it runs; herd waits until it answers "
                 "again.", "confirm": True}
    assert served.hosts[0].supervisor.reloads == 0
    for wait, why in (("soon", "wait_timeout must be a number of seconds"),
                      (-1, "wait_timeout must be more than 0 seconds")):
        bad = served.server.post("/api/supervisord", {**reload, "confirm": True, "wait_timeout": wait}, *ops)
        assert bad.status == 400 and bad.json() == {"error": why, "confirm": False}
    done = served.server.post("/api/supervisord", {**reload, "confirm": True}, *ops)
    assert done.status == 200 and done.json()["lines"] == ["web01  supervisord  reloaded", "1 host: 1 reloaded"]
    assert served.hosts[0].supervisor.reloads == 1
    restart_all = {"action": "restart", "targets": [{"host": "web03", "name": "all"}], "confirm": True}
    assert served.server.post("/api/control", restart_all, *olga).json()["lines"][-1] == "1 host: 3 restarted"
    assert [(e["user"], e["action"], e["result"].split(":")[0]) for e in served.audit()] == [
        ("olga", "reload", "refused"), ("olga", "stop", "refused"), ("olga", "reread", "refused"),
        ("ops", "reload", "needs confirmation"), ("ops", "reload", "done"), ("olga", "restart", "done")]


def test_reads_show_only_the_hosts_a_user_sees(served: Served) -> None:
    vera, olga = served.login("vera"), served.login("olga")
    session = served.server.get("/api/session", vera[0]).json()
    assert session["hosts"] == ["web02"] and session["abilities"] == {"web02": ["see"]}
    assert session["groups"] == {"even": ["web02"], "web": ["web02"]}
    assert served.server.get("/api/session", olga[0]).json()["abilities"] == {
        "web01": ["see", "act", "roll"], "web03": ["see", "act", "roll"]}
    wait_for_polled(served, vera[0])
    status = served.server.get("/api/status", vera[0]).json()
    assert [h["host"] for h in status["hosts"]] == ["web02"]
    assert status["summary"]["hosts"] == 1
    served.hosts[0].supervisor.dispatch("supervisor.stopProcess", ["worker", False])     # a problem on web01
    ops = served.login("ops")[0]
    wait_until(lambda: [p["host"] for p in served.server.get("/api/check", ops).json()["problems"]] == ["web01"],
               10, "web01's stopped worker in the health of a user who sees it")
    assert served.server.get("/api/check", vera[0]).json()["problems"] == []
    events = Events(served.server, vera[0])
    try:
        kind, snapshot = events.next()
        assert kind == "snapshot" and [h["host"] for h in snapshot["hosts"]] == ["web02"]
        served.hosts[0].supervisor.crash("worker")        # web01 changes: vera is not told
        served.hosts[1].supervisor.crash("worker")        # web02 changes: she is
        seen = set()
        while "web02" not in seen:
            kind, data = events.next()
            if kind == "host":
                seen.add(data["host"])
        assert seen == {"web02"}
    finally:
        events.close()
    logs = served.server.get("/api/logs?name=worker", vera[0])
    assert logs.status == 200
    refused = served.server.get("/api/logs?name=worker&hosts=web01", vera[0])
    assert refused.status == 403 and refused.json()["error"] == (
        "vera may not read the logs on web01: that needs the viewer role there (vera has no role on web01)")
    avail = served.server.get("/api/avail", vera[0]).json()
    assert {h["host"] for h in avail["report"]["hosts"]} == {"web02"}
    refused = served.server.get("/api/avail?hosts=web03", vera[0])
    assert refused.status == 403 and refused.json()["error"].startswith("vera may not read the config (avail) on web03")


def wait_for_polled(served: Served, cookie: str) -> None:
    wait_until(lambda: all(h["polled"] for h in served.server.get("/api/status", cookie).json()["hosts"]), 10,
               "the first polls")


def test_a_user_without_any_role_is_refused_every_request_with_one_sentence(served: Served) -> None:
    cookie, csrf = served.login("mallory")
    sentence = "mallory has no role here: an admin gives them one under roles: in the team file"
    for path in ("/api/session", "/api/status", "/api/events", "/api/check", "/api/logs?name=worker", "/api/avail"):
        answer = served.server.get(path, cookie)
        assert answer.status == 403 and answer.json() == {"error": sentence}, path
    answer = served.server.post("/api/control", RESTART_WORKER, cookie, csrf)
    assert answer.status == 403 and answer.json() == {"error": sentence}
    assert [(e["user"], e["result"]) for e in served.audit()] == [("mallory", f"refused: {sentence}")]


def test_environments_a_user_sees_nothing_of_are_refused_and_not_listed(tmp_path: Path) -> None:
    staging, production = fakes(2), fakes(3)
    envs = {"production": dashboard(production), "staging": dashboard(staging)}
    team = load_team(team_file(tmp_path, "roles:\n  carol: {role: operator, env: staging}\n  ops: admin\n"))
    server, web = serve_team(envs, tmp_path, team)
    try:
        run = Served(server, web, staging)
        carol, ops = run.login("carol"), run.login("ops")
        session = server.get("/api/session", carol[0]).json()
        assert session["env"] == "staging" and session["envs"] == ["staging"]    # her first, by default
        assert server.get("/api/session", ops[0]).json()["envs"] == ["production", "staging"]
        refused = server.get("/api/status?env=production", carol[0])
        assert refused.status == 403 and refused.json() == {"error": "carol sees no host of production"}
        answer = server.post("/api/control?env=production", RESTART_WORKER, *carol)
        assert answer.status == 403 and answer.json() == {"error": "carol sees no host of production"}
        answer = server.post("/api/control?env=staging", {**RESTART_WORKER, "confirm": True}, *carol)
        assert answer.status == 200 and answer.json()["lines"][-1] == "1 host: 1 restarted"
        assert server.get("/api/status?env=nosuch", carol[0]).status == 400
    finally:
        server.stop()


def test_the_cookie_of_the_token_owner_is_checked_by_name_like_anyone(served: Served) -> None:
    cookie, csrf = served.login("ops", "token")
    answer = served.server.post("/api/config", {"action": "reread", "hosts": ["web01"]}, cookie, csrf)
    assert answer.status == 200, answer
    assert http("GET", served.server.base, "/api/session", headers={"Cookie": cookie}).json()["user"] == {
        "name": "ops", "via": "token"}


def test_a_roll_is_shown_whole_only_to_those_who_see_every_host_it_touches(served: Served) -> None:
    ops, bob, vera = served.login("ops"), served.login("bob"), served.login("vera")
    watching = Events(served.server, vera[0])
    try:
        assert watching.next()[0] == "snapshot"
        kind, before = watching.next()
        assert kind == "roll-status" and before["roll"] is None
        body = {"name": "tornado", "min_healthy": 0.1, "timeout_healthy": 10, "confirm": True}
        assert served.server.post("/api/roll", body, *ops).status == 200
        kind, moved = watching.next()
        while kind != "roll":
            kind, moved = watching.next()
        assert moved == {"hidden": True}                   # that it moved; no host, no text
    finally:
        watching.close()
    served.web.dashboard.rolls.thread.join(30)
    whole = served.server.get("/api/roll", bob[0]).json()           # bob sees every host
    assert whole["roll"]["report"]["outcome"] == "done" and sorted(whole["roll"]["hosts"]) == [
        "web01", "web02", "web03"]
    hidden = served.server.get("/api/roll", vera[0]).json()          # vera sees web02 alone
    assert hidden == {"roll": {"name": "tornado", "update": False, "state": whole["roll"]["state"],
                               "started": whole["roll"]["started"], "hidden": True}, "events": []}
    assert "web01" not in json.dumps(hidden) and "web03" not in json.dumps(hidden)
