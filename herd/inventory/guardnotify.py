"""The inventory's ``guard.notify``: where guard's messages go (webhooks, Slack, email, commands).

    guard:
      notify:
        webhook: [{env: HERD_GUARD_WEBHOOK}]
        slack: [{file: /etc/herd/slack-url}]
        email: {host: smtp.example.com, port: 587, starttls: true, from: herd@example.com,
                to: [oncall@example.com], user: herd, password: {env: HERD_SMTP_PASSWORD}}
        command: [["/usr/local/bin/page-oncall", "--team", "web"]]

A webhook or Slack URL holds a token and an SMTP password is one: the
inventory names where to read them (``{env: NAME}`` or ``{file: PATH}``, a
SecretRef), never the value, and a value written in their place is refused
without being echoed.  A command is an argv list (no shell).  Credentials
without TLS are refused here, where the operator can fix them, not at the
first alert.  Every problem is one line, ``FILE:LINE:COLUMN:
guard.notify.email.port: what is wrong``; nothing is read from the
environment or a file at load time (guard reads the secrets when it starts).
"""

from __future__ import annotations

import re

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from herd.inventory.guard import EmailSettings, NotifySettings, SecretRef
from herd.inventory.yamlnodes import (FLOAT, INT, Ctx, as_str, check_bool, check_port, describe, is_null, join_key,
                                      known_pairs, local_path, nonblank)

KEY = "guard.notify"
CHANNELS = ("webhook", "slack", "email", "command")
EMAIL_KEYS = ("host", "port", "starttls", "ssl", "from", "to", "user", "password", "timeout")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# an address as guard sends to it: no spaces, controls, quotes or list separators (one mailbox, no display name)
_ADDRESS = re.compile(r"^[^\s@<>,;\"'()\\\x00-\x1f\x7f]+@[^\s@<>,;\"'()\\\x00-\x1f\x7f]+$")
SECRET_HINT = "{env: VARIABLE} or {file: PATH}"


def check_notify(ctx: Ctx, node: Node, key: str = KEY) -> NotifySettings:
    """``guard.notify``: the channels; an empty or null mapping is no channel."""
    if is_null(node):
        return NotifySettings()
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping of channels ({', '.join(CHANNELS)}), got {describe(node)}", node, key)
    found = {k.value: (k, v) for k, v in known_pairs(ctx, node, key, CHANNELS, what="channel")}
    webhooks = _secrets(ctx, found["webhook"][1], join_key(key, "webhook"), "URL") if "webhook" in found else ()
    slack = _secrets(ctx, found["slack"][1], join_key(key, "slack"), "URL") if "slack" in found else ()
    email = None
    if "email" in found and not is_null(found["email"][1]):
        email = check_email(ctx, found["email"][1], join_key(key, "email"))
    commands = _commands(ctx, found["command"][1], join_key(key, "command")) if "command" in found else ()
    return NotifySettings(webhooks=webhooks, slack=slack, email=email, commands=commands)


def check_secret(ctx: Ctx, node: Node, key: str, what: str = "secret") -> SecretRef:
    """``{env: NAME}`` or ``{file: PATH}`` (relative to the inventory); the secret itself is refused unechoed."""
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be {SECRET_HINT}, got {describe(node, echo=False)}: a {what} is never written in the "
                 f"inventory", node, key)
    found = known_pairs(ctx, node, key, ("env", "file"))
    if len(found) != 1:
        ctx.fail(f"must be {SECRET_HINT}: exactly one of them", node, key)
    knode, vnode = found[0]
    where = f"{ctx.file}:{knode.start_mark.line + 1}: {key}"
    if knode.value == "env":
        name = nonblank(ctx, vnode, join_key(key, "env"))
        if not _ENV_NAME.match(name):
            ctx.fail(f"must be an environment variable's name (letters, digits, _), got '{name}'", vnode,
                     join_key(key, "env"))
        return SecretRef(env=name, where=where)
    return SecretRef(file=local_path(ctx, vnode, join_key(key, "file")), where=where)


def _secrets(ctx: Ctx, node: Node, key: str, what: str) -> tuple[SecretRef, ...]:
    """A list of SecretRefs (one mapping alone is a list of one)."""
    if is_null(node):
        return ()
    items = node.value if isinstance(node, SequenceNode) else [node]
    return tuple(check_secret(ctx, item, f"{key}[{i}]" if isinstance(node, SequenceNode) else key, what)
                 for i, item in enumerate(items))


def check_email(ctx: Ctx, node: Node, key: str) -> EmailSettings:
    """``email``: server, TLS, sender, recipients, credentials (both or neither, only over TLS), timeout."""
    if not isinstance(node, MappingNode):
        ctx.fail(f"must be a mapping ({', '.join(EMAIL_KEYS)}), got {describe(node)}", node, key)
    found = {k.value: v for k, v in known_pairs(ctx, node, key, EMAIL_KEYS) if not is_null(v)}
    if "host" not in found:
        ctx.fail("needs host (the SMTP server)", node, key)
    host = nonblank(ctx, found["host"], join_key(key, "host"))
    ssl = check_bool(ctx, found["ssl"], join_key(key, "ssl")) if "ssl" in found else False
    starttls = check_bool(ctx, found["starttls"], join_key(key, "starttls")) if "starttls" in found else not ssl
    if ssl and starttls:
        ctx.fail("give ssl (TLS from the start, port 465) or starttls, not both", found["starttls"],
                 join_key(key, "starttls"))
    port = check_port(ctx, found["port"], join_key(key, "port")) if "port" in found else (465 if ssl else 587)
    if "from" not in found:
        ctx.fail("needs from (the sender's address)", node, key)
    sender = _address(ctx, found["from"], join_key(key, "from"))
    if "to" not in found:
        ctx.fail("needs to (a list of addresses)", node, key)
    to = _addresses(ctx, found["to"], join_key(key, "to"))
    user = nonblank(ctx, found["user"], join_key(key, "user")) if "user" in found else None
    password = check_secret(ctx, found["password"], join_key(key, "password"), "password") \
        if "password" in found else None
    if (user is None) != (password is None):
        given = "user" if user is not None else "password"
        ctx.fail(f"give both user and password, or neither ({given} alone)", found[given], join_key(key, given))
    if user is not None and not (ssl or starttls):
        ctx.fail("credentials are sent only over TLS: set starttls: true (or ssl: true)",
                 found.get("starttls", node), join_key(key, "starttls"))
    timeout = _timeout(ctx, found["timeout"], join_key(key, "timeout")) if "timeout" in found else 10.0
    return EmailSettings(host=host, port=port, starttls=starttls, ssl=ssl, sender=sender, to=to, user=user,
                         password=password, timeout=timeout, where=f"{ctx.file}:{node.start_mark.line + 1}: {key}")


def is_address(value: str) -> bool:
    """One mailbox as guard sends to it (``oncall@example.com``: no display name, space or list separator)."""
    return _ADDRESS.match(value) is not None


def _address(ctx: Ctx, node: Node, key: str) -> str:
    value = as_str(ctx, node, key)
    if not is_address(value):
        ctx.fail(f"must be an email address such as oncall@example.com, got '{value}'", node, key)
    return value


def _addresses(ctx: Ctx, node: Node, key: str) -> tuple[str, ...]:
    if isinstance(node, SequenceNode):
        if not node.value:
            ctx.fail("must name at least one address", node, key)
        return tuple(_address(ctx, item, f"{key}[{i}]") for i, item in enumerate(node.value))
    return (_address(ctx, node, key),)


def _timeout(ctx: Ctx, node: Node, key: str) -> float:
    if not (isinstance(node, ScalarNode) and node.tag in (INT, FLOAT)):
        ctx.fail(f"must be a number of seconds, got {describe(node)}", node, key)
    value = float(yaml.constructor.SafeConstructor().construct_object(node))
    if not 0 < value <= 300:
        ctx.fail(f"must be more than 0 and at most 300 seconds, got {value:g}", node, key)
    return value


def _commands(ctx: Ctx, node: Node, key: str) -> tuple[tuple[str, ...], ...]:
    """A list of commands, each an argv list: ``[["/usr/local/bin/page", "--team", "web"]]``."""
    if is_null(node):
        return ()
    example = '[["/usr/local/bin/page-oncall", "--team", "web"]]'
    if not isinstance(node, SequenceNode):
        ctx.fail(f"must be a list of commands, each a list of arguments (no shell), e.g. {example}; "
                 f"got {describe(node)}", node, key)
    commands = []
    for i, item in enumerate(node.value):
        where = f"{key}[{i}]"
        if not isinstance(item, SequenceNode) or not item.value:
            ctx.fail(f"must be a list of arguments (no shell), e.g. {example[1:-1]}; got {describe(item)}",
                     item, where)
        argv = tuple(as_str(ctx, arg, f"{where}[{j}]") for j, arg in enumerate(item.value))
        if not argv[0].strip():
            ctx.fail("the program must not be empty", item.value[0], f"{where}[0]")
        if any("\x00" in arg for arg in argv):
            ctx.fail("an argument must not contain a NUL character", item, where)
        commands.append(argv)
    return tuple(commands)
