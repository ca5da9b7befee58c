"""``herd web``: the fleet as a live page, served from the controller over herd's own SSH sessions.

Optional: needs ``pip install herd[web]`` (Starlette + uvicorn).  Layers:

    security   the access token, browser sessions, CSRF tokens, Host header check
    audit      the audit trail (herd/audit.py, shared with the CLI), under its old name
    hub        the shared poller's changes and roll progress, fanned out to every page
    actions    what the page may do: control, config, logs, health (no HTTP here)
    health     the health graded from the state the table shows, sent with its rows
    rolls      the page's rolling restart: one at a time, in a thread, with the CLI's options builder
    errors     Refused: what the page will not do (400), or must confirm first (409)
    app        the Starlette application: routes, the JSON API, server-sent events
    static/    the page itself (HTML, JS, CSS; no build step, nothing fetched at run time)

docs/web.md documents the API and the choices.
"""
