"""The Starlette application of ``herd web``: the page, the JSON API, server-sent events.

Every request first passes :class:`GuardMiddleware` (herd/web/security.py
says why each check exists): the Host header, then (for ``/api``) a
session cookie or the bearer token, then, for a POST, the CSRF token, the
Origin and read-only mode.  Handlers never block the event loop: actions,
reads and log follows run in threads, and the poller's changes reach the
loop through ``call_soon_threadsafe``.

SSE streams: ``/api/events`` (a ``snapshot`` with its ``health`` first, then
``host`` on each change followed by ``health`` when the grading changed,
``roll`` for rolling-restart progress) and ``/api/logs/follow``
(``lines`` batches).  A client too slow to keep up is sent a fresh
snapshot instead of an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, \
    StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from herd import __version__
from herd.audit import AuditFilter, entry_hosts, host_lines
from herd.errors import HerdError
from herd.web.actions import Dashboard, log_item, snapshot_json
from herd.audit import AuditTrail
from herd.web.access import Ability, Access, OpenAccess
from herd.web.errors import Forbidden, Refused
from herd.web.health import HealthFeed, Outbox
from herd.web import identity
from herd.web.security import COOKIE, CSRF_HEADER, Guard, User

log = logging.getLogger("herd.web")

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 64 * 1024
CLIENT_QUEUE = 512
HEARTBEAT = 15.0
MAX_FOLLOWS = 16
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                 b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
LOGIN_HELP = ("herd web: no session. Open the URL that `herd web` printed when it started "
              "(it carries ?token=...), or send Authorization: Bearer TOKEN.\n")


class Hub:
    """Fans one environment's events out to every page connected to it; each has a bounded queue.

    Each page is sent only the hosts its user may see (``visible``, from herd/web/access.py).
    """

    def __init__(self) -> None:
        self.clients: dict[asyncio.Queue[tuple[str, Any] | None], frozenset[str]] = {}
        self.stale: set[asyncio.Queue[tuple[str, Any] | None]] = set()
        self.health_sent: dict[asyncio.Queue[tuple[str, Any] | None], Any] = {}

    def publish(self, kind: str, data: Any) -> None:
        host = data.get("host") if kind == "host" and isinstance(data, dict) else None
        for queue, visible in self.clients.items():
            if host is not None and host not in visible:
                continue
            try:
                queue.put_nowait((kind, data))
            except asyncio.QueueFull:
                self.stale.add(queue)       # it will get a snapshot instead of the backlog

    def publish_roll(self, event: dict[str, Any], covers: Callable[[frozenset[str]], bool]) -> None:
        """A roll's progress to the pages that see every host it touches; the others are told only that it
        moved (their page asks GET /api/roll, which names no host of theirs not to see)."""
        for queue, visible in self.clients.items():
            try:
                queue.put_nowait(("roll", event if covers(visible) else {"hidden": True}))
            except asyncio.QueueFull:
                self.stale.add(queue)

    def publish_health(self, grade: Callable[[frozenset[str]], Any]) -> None:
        """A ``health`` event to each page whose grading (of the hosts it may see) is not the last it got;
        graded once per set of visible hosts (herd/web/health.py)."""
        graded: dict[frozenset[str], Any] = {}
        for queue, visible in self.clients.items():
            if visible not in graded:
                graded[visible] = grade(visible)
            if self.health_sent.get(queue) == graded[visible]:
                continue
            try:
                queue.put_nowait(("health", graded[visible]))
                self.health_sent[queue] = graded[visible]
            except asyncio.QueueFull:
                self.stale.add(queue)

    def close(self) -> None:
        for queue in self.clients:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)


def sse(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def drain(queue: "asyncio.Queue[Any]", limit: int) -> tuple[list[Any], bool]:
    """Wait up to HEARTBEAT for an item, then take what else is queued (up to ``limit``): (items, ended).

    None in the queue ends the stream; ``([], False)`` means nothing came: time for a ping.
    """
    try:
        item = await asyncio.wait_for(queue.get(), HEARTBEAT)
    except asyncio.TimeoutError:
        return [], False
    items: list[Any] = []
    while item is not None:
        items.append(item)
        if queue.empty() or len(items) >= limit:
            return items, False
        item = queue.get_nowait()
    return items, True


class GuardMiddleware:
    """Host check, authentication, CSRF, Origin and read-only, before any route runs."""

    def __init__(self, app: ASGIApp, web: "Web") -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        refusal = self.refusal(scope)
        if refusal is not None:
            status, text = refusal
            if scope["method"] == "POST" or scope.get("state", {}).get("herd_proxy_refused"):
                user = scope.get("state", {}).get("herd_user")
                self.web.audit.record(scope["path"], None, f"refused: {text}", client=identity.client_text(scope),
                                      user=user.name if user else "", via=user.via if user else "")
            response = JSONResponse({"error": text}, status) if scope["path"].startswith("/api/") else \
                PlainTextResponse(text + "\n", status)
            await response(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        guard = self.web.guard
        headers = Headers(scope=scope)
        if not guard.host_allowed(headers.get("host")):
            return 403, "unknown Host header (start herd web with --allow-host NAME to serve under another name)"
        state = scope.setdefault("state", {})
        if guard.proxy is not None:     # who the trusted proxy says it is (herd/web/identity.py)
            proxied = guard.proxy.identify(identity.peer(scope), headers)
            if proxied.refusal is not None:
                state["herd_proxy_refused"] = True
                return 403, proxied.refusal
            state["herd_proxy_user"], state["herd_https"] = proxied.user, proxied.https
        path, method = scope["path"], scope["method"]
        if path in ("/login", "/logout"):
            return None if method in ("GET", "HEAD", "POST") else (405, "method not allowed")
        if not path.startswith("/api/"):
            return None if method in ("GET", "HEAD") else (405, "method not allowed")
        session = guard.sessions.get(_cookie(headers))
        if session is not None and not identity.session_fits(session, state.get("herd_proxy_user")):
            session = None              # another user's session: not served as them
        bearer = guard.bearer_ok(headers.get("authorization"))
        if session is None and not bearer:
            return 403, identity.no_session_text(guard, _cookie(headers), LOGIN_HELP.strip())
        state["herd_session"] = session
        state["herd_user"] = session.user if session is not None else guard.owner
        if method in ("GET", "HEAD"):
            return None
        if not bearer:
            if session is None or not _same(headers.get(CSRF_HEADER), session.csrf):
                return 403, "missing or wrong CSRF token (X-CSRF-Token): reload the page"
        if not guard.origin_allowed(headers.get("origin"), headers.get("host")):
            return 403, "cross-origin request refused"
        if self.web.read_only:
            return 403, "read-only: herd web was started with --read-only"
        return None


class AccessMiddleware:
    """A user the team file gives nothing in the request's environment (no role at all, or no host
    there) is refused every /api request with one sentence (403; a POST is audited), which the page
    shows as it is (herd/web/access.py ``denied``)."""

    def __init__(self, app: ASGIApp, web: "Web") -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("state", {}).get("herd_user") if scope["type"] == "http" else None
        why = self.denied(scope, user) if user is not None and scope["path"].startswith("/api/") else None
        if why is None or user is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST":
            self.web.audit.record(scope["path"], None, f"refused: {why}", client=identity.client_text(scope),
                                  user=user.name, via=user.via)
        await JSONResponse({"error": why}, 403)(scope, receive, send)

    def denied(self, scope: Scope, user: User) -> str | None:
        env = Request(scope).query_params.get("env") or self.web.default_env(user)
        if env not in self.web.envs:
            return None         # the route refuses an unknown environment (400)
        return self.web.access.denied(user, env)


def _same(a: str | None, b: str | None) -> bool:
    from herd.web.security import same

    return same(a, b)


def _cookie(headers: Headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == COOKIE:
            return value
    return None


class Web:
    """The running dashboard: what every route needs.

    ``envs``: one Dashboard per environment (``herd web --env NAME=INVENTORY``, or the one inventory
    as ``default``); a request names its environment with ``?env=NAME`` (default: the first).
    ``access`` says who may do what where (herd/web/access.py; without a team file: everything).
    """

    def __init__(self, envs: Mapping[str, Dashboard] | Dashboard, guard: Guard, audit: AuditTrail, *,
                 read_only: bool, access: Access | None = None) -> None:
        self.envs: dict[str, Dashboard] = {"default": envs} if isinstance(envs, Dashboard) else dict(envs)
        self.guard = guard
        self.audit = audit
        self.read_only = read_only
        self.access: Access = access or OpenAccess()
        self.hubs = {name: Hub() for name in self.envs}
        self.feeds = {name: HealthFeed(dash) for name, dash in self.envs.items()}
        self.follows = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def dashboard(self) -> Dashboard:
        """The first environment's (the only one, without --env)."""
        return next(iter(self.envs.values()))

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start each environment's poller and route its changes (and roll progress) to the event loop."""
        self.loop = loop
        for name, dash in self.envs.items():
            self._attach_env(loop, dash, self.hubs[name], self.feeds[name])

    def _attach_env(self, loop: asyncio.AbstractEventLoop, dash: Dashboard, hub: Hub, feed: HealthFeed) -> None:
        outbox = Outbox(loop, hub.publish,
                        lambda graded: hub.publish_health(lambda visible: dash.health(graded, visible)))

        def host_polled(snap: Any) -> None:
            feed.poll(snap, lambda row, graded: loop.call_soon_threadsafe(outbox.send, row, graded))

        def roll_event(event: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(hub.publish_roll, event, dash.rolls.covers)

        # every poll: a change is pushed with the health graded from it; a quiet poll may grade again (rules
        # over time); with resources the numbers move, so each poll of a host is pushed (herd/web/health.py)
        self._unsubscribe.append(dash.poller.listen(host_polled, every_poll=True))
        dash.rolls.listeners.append(roll_event)
        dash.poller.start()

    def detach(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for hub in self.hubs.values():
            hub.close()

    def close(self) -> None:
        """Every environment's dashboard (a running roll finishes its process in flight first)."""
        for dash in self.envs.values():
            dash.close()

    # -- who, where ----------------------------------------------------------------------

    def env_name(self, request: Request) -> str:
        """The request's environment (``?env=NAME``; by default the first the user may see); an unknown
        one is refused."""
        name = request.query_params.get("env") or self.default_env(self.user(request))
        if name not in self.envs:
            raise Refused(f"no environment {name!r} here (environments: {', '.join(self.envs)})")
        return name

    def default_env(self, user: User) -> str:
        """The first environment ``user`` sees a host of (the first served when they see none)."""
        return next(iter(self.access.environments(user, list(self.envs))), next(iter(self.envs)))

    def dash(self, request: Request) -> Dashboard:
        return self.envs[self.env_name(request)]

    @staticmethod
    def user(request: Request) -> User:
        return request.scope.get("state", {}).get("herd_user") or User("", "")

    def visible(self, request: Request) -> list[str]:
        """The hosts of the request's environment its user may see."""
        return self.access.visible(self.user(request), self.env_name(request),
                                   [h.name for h in self.dash(request).hosts])

    def allowed(self, request: Request, ability: Ability, hosts: Sequence[str] | None,
                action: str | None = None) -> None:
        """Refuse (403, one sentence naming ``action``) unless the user may ``ability`` on ``hosts``
        (None: all served)."""
        dash = self.dash(request)
        names = list(hosts) if hosts is not None else [h.name for h in dash.hosts]
        why = self.access.refusal(self.user(request), ability, self.env_name(request), names, action)
        if why is not None:
            raise Forbidden(why)

    # -- pages and reads ----------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        """The page for a session (the token's, a password's, the proxy's user); else the way to get one."""
        gate = identity.page_gate(self.guard, request, LOGIN_HELP)
        if isinstance(gate, Response):
            return gate
        page = FileResponse(STATIC / "index.html", media_type="text/html")
        if gate is not None:
            identity.set_session_cookie(page, gate, identity.secure(self.guard, request.scope))
        return page

    async def session(self, request: Request) -> Response:
        session = request.scope.get("state", {}).get("herd_session")
        user = self.user(request)
        try:
            env = self.env_name(request)
        except Refused as exc:      # a bookmark of an environment no longer served: the page says so
            return JSONResponse({"error": str(exc)}, 400)
        dash = self.envs[env]
        visible = set(self.visible(request))
        hosts = [h for h in dash.hosts if h.name in visible]
        return JSONResponse({
            "csrf": session.csrf if session is not None else None, "read_only": self.read_only,
            "user": {"name": user.name, "via": user.via},
            "env": env, "envs": self.access.environments(user, list(self.envs)),
            "version": __version__, "interval": dash.poller.interval, "inventory": dash.inventory.path,
            "resources": dash.poller.resources,
            "hosts": [h.name for h in hosts],
            "groups": {g: [m for m in members if m in visible] for g, members in dash.groups().items()
                       if visible & set(members)},
            "abilities": self.access.abilities(user, env, [h.name for h in hosts]),
            "logs": {h.name: dict(h.logs) for h in hosts if h.logs},
        })

    async def status(self, request: Request) -> Response:
        return await self._read(request, lambda: self.dash(request).state(set(self.visible(request))))

    async def check(self, request: Request) -> Response:
        return await self._read(request, lambda: self.dash(request).check(set(self.visible(request))))

    async def roll_status(self, request: Request) -> Response:
        return await self._read(request, lambda: self.dash(request).rolls.status(self.visible(request)))

    async def audit_entries(self, request: Request) -> Response:
        """``GET /api/audit?user=&action=&host=&result=&q=&limit=``: the audit trail, newest first.

        The page's and the CLI's entries alike (one file: herd/audit.py).  With a team file a user
        sees the entries of the request's environment whose hosts they may all see; an entry that
        names no host, only when they see every host of it.
        """
        params = request.query_params
        try:
            limit = int(params.get("limit") or 100)
        except ValueError:
            return JSONResponse({"error": "limit must be a number"}, 400)
        try:
            env = self.env_name(request)
            visible = set(self.visible(request))
            if not visible:
                self.allowed(request, Ability.SEE, None)
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, 403 if isinstance(exc, Forbidden) else 400)
        served = {h.name for h in self.envs[env].hosts}
        chosen = AuditFilter(user=params.get("user", ""), action=params.get("action", ""),
                             host=params.get("host", ""), result=params.get("result", ""), q=params.get("q", ""),
                             env=env if len(self.envs) > 1 else "")
        where = None if isinstance(self.access, OpenAccess) else \
            (lambda entry: (entry_hosts(entry) or served) <= visible)
        try:
            entries = await run_in_threadpool(self.audit.read, chosen, limit, where)
        except OSError as exc:
            return JSONResponse({"error": f"cannot read the audit trail: {exc.strerror or exc}"}, 500)
        return JSONResponse({"entries": entries, "limit": max(1, min(limit, 1000))})

    async def _read(self, request: Request, work: Callable[[], Any]) -> Response:
        try:
            return JSONResponse(work())
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, 403 if isinstance(exc, Forbidden) else 400)

    async def events(self, request: Request) -> Response:
        try:
            env = self.env_name(request)
            visible = frozenset(self.visible(request))
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, 400)
        dash, hub, feed = self.envs[env], self.hubs[env], self.feeds[env]
        queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue(CLIENT_QUEUE)
        hub.clients[queue] = visible

        def snapshot() -> dict[str, Any]:
            """The table as the other pages were told, and its health (herd/web/health.py)."""
            snap = feed.snapshot()
            state = snapshot_json(snap, dash.groups_of, dash.poller.resources, visible)
            state["health"] = hub.health_sent[queue] = dash.health(snap, visible)
            return state

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n" + sse("snapshot", snapshot()) + sse("roll-status", dash.rolls.status(visible))
                while True:
                    if queue in hub.stale:
                        hub.stale.discard(queue)
                        while not queue.empty():
                            queue.get_nowait()
                        yield sse("snapshot", snapshot())
                    items, ended = await drain(queue, 200)
                    if not items and not ended:
                        yield b": ping\n\n"
                        continue
                    if items:
                        yield b"".join(sse(*item) for item in items)
                    if ended:
                        return
            finally:
                hub.clients.pop(queue, None)
                hub.health_sent.pop(queue, None)
                hub.stale.discard(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    def _log_params(self, request: Request) -> tuple[str, str, list[str] | None, int]:
        """NAME, channel, hosts (default: every host the user may see) and lines; SEE checked on the hosts."""
        params = request.query_params
        hosts = [h for h in params.get("hosts", "").split(",") if h] or self.visible(request)
        try:
            lines = int(params.get("lines", "50"))
        except ValueError as exc:
            raise Refused("lines must be a number") from exc
        self.allowed(request, Ability.SEE, hosts, "logs")
        return params.get("name", ""), params.get("channel", ""), hosts, lines

    async def logs(self, request: Request) -> Response:
        return await self._answer(lambda: self.dash(request).tail(*self._log_params(request)))

    async def log_files(self, request: Request) -> Response:
        def work() -> dict[str, Any]:
            name, _, hosts, _ = self._log_params(request)
            return self.dash(request).log_files(name, hosts)
        return await self._answer(work)

    async def follow(self, request: Request) -> Response:
        if self.follows >= MAX_FOLLOWS:
            return JSONResponse({"error": f"too many log follows at once (at most {MAX_FOLLOWS})"}, 429)
        try:
            params = self._log_params(request)
            stream = await run_in_threadpool(self.dash(request).follow, *params)
        except Forbidden as exc:
            return JSONResponse({"error": str(exc)}, 403)
        except HerdError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        self.follows += 1
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, str] | None] = asyncio.Queue(2000)
        dropped = [0]

        def put(item: dict[str, str] | None) -> None:
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                dropped[0] += 1

        def pump() -> None:
            try:
                stream.start()
                for event in stream.events(0.2):
                    loop.call_soon_threadsafe(put, event)
            finally:
                loop.call_soon_threadsafe(put, None)

        threading.Thread(target=pump, name="herd-web-follow", daemon=True).start()

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 5000\n\n" + sse("lines", stream.first_lines())
                while True:
                    items, ended = await drain(queue, 500)
                    if not items and not ended:
                        yield b": ping\n\n"
                        continue
                    if dropped[0]:
                        items.append(log_item("note", "", "", f"{dropped[0]} line(s) dropped: the page could "
                                                              f"not keep up"))
                        dropped[0] = 0
                    if items:
                        yield sse("lines", items)
                    if ended:
                        yield sse("end", {"text": "every followed log went away"})
                        return
            finally:
                self.follows -= 1
                await run_in_threadpool(stream.stop)

        return StreamingResponse(body(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    # -- changes --------------------------------------------------------------------------

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise Refused("request too large")
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise Refused("the body must be JSON") from exc
        if not isinstance(body, dict):
            raise Refused("the body must be a JSON object")
        return body

    async def _answer(self, work: Callable[[], Any], audit: Callable[[Any, str], None] | None = None) -> Response:
        try:
            result = await run_in_threadpool(work)
        except Forbidden as exc:
            if audit:
                audit(None, f"refused: {exc}")
            return JSONResponse({"error": str(exc), "confirm": False}, 403)
        except Refused as exc:
            if audit:
                audit(None, ("needs confirmation" if exc.confirm else f"refused: {exc}"))
            return JSONResponse({"error": str(exc), "confirm": exc.confirm}, 409 if exc.confirm else 400)
        except HerdError as exc:
            if audit:
                audit(None, f"failed: {exc}")
            return JSONResponse({"error": str(exc), "confirm": False}, 400)
        if audit:
            audit(result, "done")
        return JSONResponse(result)

    def _auditor(self, request: Request, action: str, targets: Any,
                 planned: Sequence[str] | None = None) -> Callable[[Any, str], None]:
        """Records one outcome of the request in the audit trail (herd/audit.py): who, where, what, how
        it ended; per host the result lines as the CLI prints them (``planned``: the hosts asked for,
        named even when nothing ran)."""
        user = self.user(request)
        env = self.env_name(request)      # known: _post resolved it first

        def record(result: Any, outcome: str) -> None:
            hosts: dict[str, Any] | None = {h: [] for h in planned} if planned else None
            code = result.get("exit_code") if isinstance(result, dict) else None
            if isinstance(result, dict) and "report" in result and result.get("lines"):
                hosts = host_lines(result["lines"])
                if outcome == "done" and isinstance(code, int) and code != 0:
                    outcome = f"failed: {hosts['summary'][0]}"
            self.audit.record(action, targets, outcome, client=identity.client_text(request.scope), hosts=hosts,
                              user=user.name, via=user.via, env=env if len(self.envs) > 1 else None,
                              exit_code=code if isinstance(code, int) else None)
        return record

    async def _post(self, request: Request, ability: Ability, plan: Plan) -> Response:
        """Parse the JSON body, let ``plan`` turn it into (work, action, targets, hosts), check that the
        user may ``ability`` on those hosts (None: every host served), run and audit it."""
        try:
            dash = self.dash(request)
            work, action, targets, hosts = plan(dash, await self._body(request))
        except Refused as exc:
            return JSONResponse({"error": str(exc), "confirm": False}, 400)
        auditor = self._auditor(request, action, targets, hosts)
        try:
            self.allowed(request, ability, hosts, action)
        except Forbidden as exc:
            auditor(None, f"refused: {exc}")
            return JSONResponse({"error": str(exc), "confirm": False}, 403)
        return await self._answer(work, auditor)

    def _control(self, dash: Dashboard, body: dict[str, Any]) -> PlanResult:
        action = str(body.get("action", ""))
        targets = body.get("targets") or []
        if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
            raise Refused("targets must be a list of {host, name}")
        hosts = sorted({str(t.get("host")) for t in targets})
        return (lambda: dash.control(action, targets, signal=body.get("signal"),
                                     wait_timeout=float(body.get("wait_timeout") or 60),
                                     confirm=bool(body.get("confirm"))),
                action, {"targets": targets, "signal": body.get("signal")}, hosts)

    def _config(self, dash: Dashboard, body: dict[str, Any]) -> PlanResult:
        action, hosts, groups = str(body.get("action", "")), body.get("hosts") or None, body.get("groups") or None
        plan = body.get("plan")
        return (lambda: dash.config(action, hosts, confirm=bool(body.get("confirm")), groups=groups,
                                    plan=str(plan) if plan is not None else None),
                action, {"hosts": hosts, "groups": groups}, _names(hosts))

    def _update_plan(self, dash: Dashboard, body: dict[str, Any]) -> PlanResult:
        hosts, groups = body.get("hosts") or None, body.get("groups") or None
        return (lambda: dash.update_plan(hosts, groups), "update-plan", {"hosts": hosts, "groups": groups},
                _names(hosts))

    def _roll(self, dash: Dashboard, body: dict[str, Any]) -> PlanResult:
        options = {k: v for k, v in body.items() if k != "confirm"}
        action = "rolling-update" if body.get("update") else "rolling-restart"
        return (lambda: dash.rolls.start(body, confirm=bool(body.get("confirm"))), action, options,
                _names(body.get("hosts") or None))

    def _supervisord(self, dash: Dashboard, body: dict[str, Any]) -> PlanResult:
        action, hosts = str(body.get("action", "")), _names(body.get("hosts") or None)
        try:
            wait_timeout = float(body.get("wait_timeout") or 60)
        except (TypeError, ValueError) as exc:
            raise Refused("wait_timeout must be a number of seconds") from exc
        if not wait_timeout > 0:
            raise Refused("wait_timeout must be more than 0 seconds")
        return (lambda: dash.supervisord(action, hosts or [], confirm=bool(body.get("confirm")),
                                         wait_timeout=wait_timeout),
                action, {"hosts": hosts}, hosts or [])

    async def control(self, request: Request) -> Response:
        return await self._post(request, Ability.ACT, self._control)

    async def supervisord(self, request: Request) -> Response:
        """reload or shutdown of supervisord on some hosts (``herd reload``/``herd shutdown``; confirmed)."""
        return await self._post(request, Ability.CONFIG, self._supervisord)

    async def avail(self, request: Request) -> Response:
        """``herd avail`` on ``?hosts=a,b`` (default: every host the user sees)."""
        def work() -> dict[str, Any]:
            hosts = [h for h in request.query_params.get("hosts", "").split(",") if h] or self.visible(request)
            self.allowed(request, Ability.SEE, hosts, "avail")
            return self.dash(request).avail(hosts)
        return await self._answer(work)

    async def config(self, request: Request) -> Response:
        return await self._post(request, Ability.CONFIG, self._config)

    async def update_plan(self, request: Request) -> Response:
        """What update would do per host (a reloadConfig each: it stages, so a POST under update's rules)."""
        return await self._post(request, Ability.CONFIG, self._update_plan)

    async def roll(self, request: Request) -> Response:
        return await self._post(request, Ability.ROLL, self._roll)

    async def roll_interrupt(self, request: Request) -> Response:
        return await self._post(request, Ability.ROLL,
                                lambda dash, body: (dash.rolls.interrupt, "rolling-restart-interrupt", None, None))


PlanResult = tuple[Callable[[], Any], str, Any, "list[str] | None"]
Plan = Callable[[Dashboard, dict[str, Any]], PlanResult]


def _names(hosts: Any) -> list[str] | None:
    """A body's ``hosts`` as names (None: every host served)."""
    if hosts is None:
        return None
    if not isinstance(hosts, list):
        raise Refused("hosts must be a list of host names")
    return [str(h) for h in hosts]


def create_app(web: Web) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        web.attach(asyncio.get_running_loop())
        try:
            yield
        finally:
            web.detach()

    endpoints: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
        ("GET", "/", web.index), ("GET", "/api/session", web.session), ("GET", "/api/status", web.status),
        ("GET", "/api/events", web.events), ("GET", "/api/check", web.check), ("GET", "/api/roll", web.roll_status),
        ("GET", "/api/logs", web.logs), ("GET", "/api/logs/follow", web.follow),
        ("GET", "/api/logs/files", web.log_files), ("GET", "/api/avail", web.avail),
        ("GET", "/api/audit", web.audit_entries),
        ("POST", "/api/control", web.control), ("POST", "/api/config", web.config),
        ("POST", "/api/config/plan", web.update_plan), ("POST", "/api/roll", web.roll),
        ("POST", "/api/roll/interrupt", web.roll_interrupt), ("POST", "/api/supervisord", web.supervisord),
    ]
    routes: list[Any] = [Route(path, endpoint, methods=[method]) for method, path, endpoint in endpoints]
    routes += identity.Login(web).routes()
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(AccessMiddleware, web=web)      # inside the guard: runs once the user is known
    app.add_middleware(GuardMiddleware, web=web)
    return app
