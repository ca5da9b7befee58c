"""herd's host settings, one check per key: shared by herd's own inventory and the Ansible loaders.

Secrets: values under ``password_env`` and ``password_file`` (and the
``become_`` ones) are never put into a message, except a valid variable
name and a file path, which are not secret; a ``url`` is never echoed, since
it might carry ``user:password@``.
"""

from __future__ import annotations

import re
from typing import Any, Callable
from urllib.parse import urlsplit

from yaml.nodes import MappingNode, Node

from herd.inventory import logpaths
from herd.inventory.yamlnodes import (Ctx, as_str, check_bool, check_port, describe, is_null, join_key,
                                      local_path, nonblank, pairs)
from herd.text import shorten as _echo   # a value quoted in a message: one line, escaped, cut

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_proxy_jump(ctx: Ctx, node: Node, key: str) -> str:
    """OpenSSH ProxyJump syntax: ``[user@]host[:port]``, comma separated.

    Only the shape is checked here; the SSH layer interprets the hops.
    """
    value = nonblank(ctx, node, key)
    for hop in value.split(","):
        if not hop:
            ctx.fail(f"empty hop in '{_echo(value)}'; write [user@]host[:port][,...]", node, key)
    return value


def check_socket(ctx: Ctx, node: Node, key: str) -> str:
    """A unix socket path on the remote host: must be absolute there."""
    value = nonblank(ctx, node, key)
    if not value.startswith("/"):
        ctx.fail(f"must be an absolute path on the host (e.g. /var/run/supervisor.sock), "
                 f"got '{_echo(value)}'", node, key)
    return value


def check_url(ctx: Ctx, node: Node, key: str) -> str:
    """``http://HOST[:PORT][/PATH]`` of an inet_http_server; never echoed."""
    value = as_str(ctx, node, key, echo=False)
    shape = "must be http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:9001"
    if "@" in value:
        ctx.fail("must not contain credentials; set username, and password_env or "
                 "password_file", node, key)
    if not value.lower().startswith("http://"):
        ctx.fail("must start with http:// (supervisord's inet_http_server does not "
                 "speak https), e.g. http://127.0.0.1:9001", node, key)
    if any(ch.isspace() for ch in value):
        ctx.fail(f"{shape}; whitespace is not allowed", node, key)
    parts = urlsplit(value)
    if not parts.hostname:
        ctx.fail(f"{shape}; the host is missing", node, key)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        ctx.fail(f"{shape}; the port must be a number between 1 and 65535", node, key)
    if parts.query or parts.fragment:
        ctx.fail(f"{shape}; no query or fragment", node, key)
    return value


def check_username(ctx: Ctx, node: Node, key: str) -> str:
    """A supervisor user name; HTTP basic auth cannot carry a ':' in it."""
    value = nonblank(ctx, node, key, spaces=True)
    if ":" in value:
        ctx.fail("must not contain ':'", node, key)
    return value


def check_password_env(ctx: Ctx, node: Node, key: str) -> str:
    """An environment variable NAME; anything else may be a pasted password."""
    value = as_str(ctx, node, key, echo=False)
    if not _ENV_NAME.match(value):
        ctx.fail("must be the name of an environment variable (letters, digits and _, "
                 "not starting with a digit)", node, key)
    return value


def check_password_file(ctx: Ctx, node: Node, key: str) -> str:
    """A local file holding the password; read at connect time, not now."""
    return local_path(ctx, node, key, echo=False)


def check_logs(ctx: Ctx, node: Node, key: str) -> dict[str, str | None]:
    """``logs``: program name -> path template of its own log file (None: no file, at a host)."""
    result: dict[str, str | None] = {}
    if is_null(node):
        return result
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping of program names to log file paths, e.g. "
                 f"{{tornado: /srv/app/log/{{process}}.log}}, got {describe(node)}", node, key)
    for knode, vnode in pairs(ctx, node, key, what="program name"):
        program = nonblank(ctx, knode, key)
        path = join_key(key, program)
        if ":" in program:
            ctx.fail(f"'{program}' is not a program name: write the program (or group) alone, "
                     f"without ':'", knode, path)
        if is_null(vnode):
            result[program] = None
            continue
        template = as_str(ctx, vnode, path)
        try:
            logpaths.parse(template)
        except logpaths.TemplateError as exc:
            ctx.fail(str(exc), vnode, path)
        result[program] = template
    return result


Check = Callable[[Ctx, Node, str], Any]

CHECKS: dict[str, Check] = {
    "address": nonblank,
    "user": nonblank,
    "port": check_port,
    "identity_file": local_path,
    "known_hosts": local_path,
    "proxy_jump": check_proxy_jump,
    "python": lambda ctx, node, key: nonblank(ctx, node, key, spaces=True),
    "socket": check_socket,
    "url": check_url,
    "username": check_username,
    "password_env": check_password_env,
    "password_file": check_password_file,
    "logs": check_logs,
    "become": check_bool,
    "become_user": nonblank,
    "become_password_env": check_password_env,
    "become_password_file": check_password_file,
}
