"""Turn one Ansible host's merged variables into herd's :class:`~herd.inventory.model.Host`.

Only the variables herd acts on are read; every other variable is ignored,
so one inventory serves Ansible and herd.  Ansible's names (ssh connection
plugin, sudo become plugin):

=============================================  =====================
ansible_host (ansible_ssh_host)                 Host.address
ansible_port (ansible_ssh_port)                 Host.port
ansible_user (ansible_ssh_user)                 Host.user
ansible_private_key_file / _ssh_private_key_file Host.identity_file
ansible_ssh_args, _ssh_common_args, _ssh_extra_args: -J / ProxyJump /
  ProxyCommand="ssh -W %h:%p bastion"         Host.proxy_jump
ansible_become, ansible_become_user             Host.become, become_user
ansible_python_interpreter                      Host.python
=============================================  =====================

Where Ansible accepts two names for one setting, the second of the pair
wins when both are set, as in Ansible's connection plugin.  herd's own
settings are ``herd_``-prefixed variables (``HERD_VARS``); an unknown
``herd_`` name is an error, so a typo is not silently ignored.

A value herd uses must be the value itself: a Jinja template (``{{``,
``{%``, ``{#``) is refused, since herd does not evaluate templates, and so
is an Ansible Vault value, which herd cannot decrypt.  Messages name the
file and line where the value is written and never repeat a password
setting's value.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from dataclasses import replace
from typing import Any, Callable, Mapping

from yaml.error import Mark
from yaml.nodes import ScalarNode

from herd.errors import InventoryError
from herd.inventory.ansible_tree import Var
from herd.inventory.ansible_yaml import VAULTED
from herd.inventory.model import Host, SupervisorTarget
from herd.inventory.settings import (check_password_env, check_password_file, check_proxy_jump, check_socket,
                                     check_url, check_username)
from herd.inventory.yamlnodes import Ctx, local_path, nonblank

__all__ = ["HERD_VARS", "SSH_CONNECTIONS", "make_host"]

_PAIRS = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
    "identity_file": ("ansible_private_key_file", "ansible_ssh_private_key_file"),
}
_SSH_ARGS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")
SSH_CONNECTIONS = ("ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh",
                   "ansible.builtin.paramiko_ssh")
_AUTO_PYTHON = ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")
_TRUE = ("y", "yes", "on", "1", "true", "t")
_FALSE = ("n", "no", "off", "0", "false", "f")

# herd's own variables: name -> what it sets (documented in docs/inventory.md).
HERD_VARS = {
    "herd_supervisor_socket": "socket",
    "herd_supervisor_url": "url",
    "herd_supervisor_username": "username",
    "herd_supervisor_password_env": "password_env",
    "herd_supervisor_password_file": "password_file",
    "herd_become_password_env": "become_password_env",
    "herd_become_password_file": "become_password_file",
    "herd_known_hosts": "known_hosts",
    "herd_logs": "logs",
    "herd_supervisors": "supervisors",
}
_INLINE_PASSWORDS = {"herd_supervisor_password": "herd_supervisor_password_env or "
                                                 "herd_supervisor_password_file",
                     "herd_become_password": "herd_become_password_env or herd_become_password_file"}
_SECRET = ("herd_supervisor_password_env", "herd_supervisor_password_file",
           "herd_become_password_env", "herd_become_password_file")


class _Vars:
    """A host's merged variables with the checks herd applies to the ones it uses."""

    def __init__(self, host: str, variables: Mapping[str, Var]) -> None:
        self.host = host
        self.vars = {k: v for k, v in variables.items() if v.value is not None}

    def fail(self, var: Var, key: str, what: str) -> InventoryError:
        return InventoryError(what, file=var.where.file, line=var.where.line, key=key)

    def get(self, *names: str) -> tuple[str, Var] | None:
        """The last of ``names`` that is set (Ansible's rule for aliases), checked for use."""
        found = None
        for name in names:
            if name in self.vars:
                found = (name, self.vars[name])
        if found is not None:
            self._usable(*found)
        return found

    def _usable(self, key: str, var: Var) -> None:
        if var.vault or _has_vault(var.value):
            raise self.fail(var, key, "is encrypted with Ansible Vault, which herd cannot decrypt; "
                                      "write this setting in plain text")
        if not var.unsafe and _is_template(var.value):
            raise self.fail(var, key, "is a Jinja template ({{ ... }}); herd does not evaluate "
                                      "templates: write the value itself")

    def text(self, *names: str, check: Callable[..., Any] = nonblank,
             **options: Any) -> Any:
        """A string setting validated by one of herd's own loader checks, or None."""
        found = self.get(*names)
        if found is None:
            return None
        key, var = found
        value = var.value
        if isinstance(value, int) and not isinstance(value, bool) and key not in _SECRET:
            value = str(value)
        if not isinstance(value, str):
            what = "a value" if key in _SECRET else repr(value)
            raise self.fail(var, key, f"must be a string, got {what}")
        return _run_check(check, value, var, key, **options)

    def exclusive(self, first: str, second: str) -> str | None:
        """Which of two exclusive settings applies: the more strongly set one."""
        a, b = self.vars.get(first), self.vars.get(second)
        if a is not None and b is not None:
            if a.rank == b.rank:
                raise self.fail(b, second, f"{first} and {second} are exclusive; set only one")
            return first if a.rank > b.rank else second
        return first if a is not None else second if b is not None else None


def _has_vault(value: Any) -> bool:
    """A ``!vault`` value inside a mapping or list (herd_logs: {worker: !vault ...})."""
    if value is VAULTED:
        return True
    if isinstance(value, Mapping):
        return any(_has_vault(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_vault(item) for item in value)
    return False


def _is_template(value: Any) -> bool:
    if isinstance(value, str):
        return any(mark in value for mark in ("{{", "{%", "{#"))
    if isinstance(value, Mapping):
        return any(_is_template(k) or _is_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_is_template(item) for item in value)
    return False


def _run_check(check: Callable[..., Any], value: str, var: Var, key: str, **options: Any) -> Any:
    """Run a loader check (written for YAML nodes) on a plain value, keeping file:line."""
    line = (var.where.line or 1) - 1
    node = ScalarNode("tag:yaml.org,2002:str", value, Mark(var.where.file, 0, line, 0, None, None))  # type: ignore[arg-type]
    try:
        return check(Ctx(file=var.where.file, base_dir=os.getcwd()), node, key, **options)
    except InventoryError as exc:
        what = exc.what
        if key.startswith("herd_supervisor_"):   # the loader's words name herd's YAML keys
            what = _SUPERVISOR_WORDS.sub(lambda m: "herd_supervisor_" + m.group(0), what)
        raise InventoryError(what, file=var.where.file, line=var.where.line, key=key) from exc


_SUPERVISOR_WORDS = re.compile(r"(?<![\w/])(?:username|password_env|password_file)\b")


def make_host(name: str, variables: Mapping[str, Var], line: int | None) -> Host | None:
    """The herd Host for one Ansible host; None when Ansible would not use SSH for it."""
    hv = _Vars(name, variables)
    _refuse_unknown_herd_vars(hv)
    connection = hv.text("ansible_connection")
    if connection is not None and connection not in SSH_CONNECTIONS:
        return None
    supervisor = _supervisor(hv)
    become, become_user = _become(hv)
    become_password = hv.exclusive("herd_become_password_env", "herd_become_password_file")
    return Host(
        name=name,
        address=hv.text(*_PAIRS["address"]),
        user=hv.text(*_PAIRS["user"]),
        port=_port(hv),
        identity_file=hv.text(*_PAIRS["identity_file"], check=local_path),
        known_hosts=hv.text("herd_known_hosts", check=local_path),
        proxy_jump=_proxy_jump(hv),
        python=_python(hv),
        supervisor=supervisor,
        become=become,
        become_user=become_user,
        become_password_env=hv.text("herd_become_password_env", check=check_password_env)
        if become_password == "herd_become_password_env" else None,
        become_password_file=hv.text("herd_become_password_file", check=check_password_file)
        if become_password == "herd_become_password_file" else None,
        logs=_logs(hv),
        line=line,
        supervisors=_supervisors(hv),
    )


def _refuse_unknown_herd_vars(hv: _Vars) -> None:
    for key, var in hv.vars.items():
        if not key.startswith("herd_") or key in HERD_VARS:
            continue
        if key in _INLINE_PASSWORDS:
            raise hv.fail(var, key, f"inline passwords are not allowed; use {_INLINE_PASSWORDS[key]}")
        close = difflib.get_close_matches(key, list(HERD_VARS), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; herd's variables are: {', '.join(HERD_VARS)}"
        raise hv.fail(var, key, f"unknown herd variable{hint}")


def _port(hv: _Vars) -> int | None:
    found = hv.get(*_PAIRS["port"])
    if found is None:
        return None
    key, var = found
    value = var.value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise hv.fail(var, key, f"must be a port number between 1 and 65535, got {var.value!r}")
    return value


def _boolean(hv: _Vars, key: str) -> bool | None:
    found = hv.get(key)
    if found is None:
        return None
    value = found[1].value
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int, float)) else None
    if text in _TRUE or text == "1.0":
        return True
    if text in _FALSE or text == "0.0":
        return False
    raise hv.fail(found[1], key, f"must be a boolean (true/false, yes/no), got {value!r}")


def _become(hv: _Vars) -> tuple[bool, str | None]:
    """ansible_become and, only when it is on, the user and the method (which must be sudo)."""
    if not _boolean(hv, "ansible_become"):
        return False, None
    user = hv.text("ansible_become_user")
    method = hv.text("ansible_become_method")
    if method not in (None, "sudo", "ansible.builtin.sudo"):
        raise hv.fail(hv.vars["ansible_become_method"], "ansible_become_method",
                      f"herd becomes another user only through sudo, not '{method}'")
    return True, user


def _python(hv: _Vars) -> str | None:
    value = hv.text("ansible_python_interpreter", spaces=True)
    return None if value in _AUTO_PYTHON else value


def _proxy_jump(hv: _Vars) -> str | None:
    """ProxyJump from the ssh arguments, the first one given winning, as in ssh itself."""
    for key in _SSH_ARGS:
        found = hv.get(key)
        if found is None:
            continue
        var = found[1]
        if not isinstance(var.value, str):
            raise hv.fail(var, key, f"must be a string of ssh options, got {var.value!r}")
        try:
            words = shlex.split(var.value)
        except ValueError as exc:
            raise hv.fail(var, key, f"cannot split these ssh options: {exc}") from exc
        jump = _jump_in(words, hv, var, key)
        if jump is not None:
            return None if jump.lower() == "none" else _run_check(check_proxy_jump, jump, var, key)
    return None


def _jump_in(words: list[str], hv: _Vars, var: Var, key: str) -> str | None:
    """The jump host(s) of ``-J X``, ``-o ProxyJump=X``, or of a plain ``ssh -W`` ProxyCommand."""
    index = 0
    while index < len(words):
        word = words[index]
        value = None
        if word in ("-J", "-o") and index + 1 < len(words):
            value, index = words[index + 1], index + 1
            if word == "-J":
                return value
        elif word.startswith("-J") and len(word) > 2:
            return word[2:]
        elif word.startswith("-o") and len(word) > 2:
            value = word[2:]
        index += 1
        if value is None:
            continue
        option, _, setting = value.replace("=", " ", 1).partition(" ")
        if option.lower() == "proxyjump":
            return setting.strip()
        if option.lower() == "proxycommand":
            jump = _jump_of_proxy_command(setting.strip())
            if jump is None:
                raise hv.fail(var, key, "this ProxyCommand is not supported by herd (only "
                                        "'ssh -W %h:%p [-q] [-p PORT] [-l USER] [user@]host'); "
                                        "use -J or -o ProxyJump=[user@]host[:port]")
            return jump
    return None


_PLAIN_SSH_FLAGS = ("-q", "-T", "-A", "-a", "-x", "-C", "-4", "-6", "-N")


def _jump_of_proxy_command(command: str) -> str | None:
    """``ssh -W %h:%p [-q] [-p PORT] [-l USER] [user@]bastion`` is ProxyJump ``user@bastion:PORT``.

    That is the usual way Ansible inventories wrote a jump host before
    ProxyJump existed; any other command (other options, nc, a script) is
    not something herd can reproduce, and None says so.
    """
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words or os.path.basename(words[0]) != "ssh":
        return None
    forward, port, user, hosts = None, None, None, []
    rest = iter(words[1:])
    for word in rest:
        if word in ("-W", "-p", "-l"):
            value = next(rest, None)
            if value is None:
                return None
            forward, port, user = ((value, port, user) if word == "-W" else
                                   (forward, value, user) if word == "-p" else (forward, port, value))
        elif word in _PLAIN_SSH_FLAGS:
            continue
        elif word.startswith("-"):
            return None
        else:
            hosts.append(word)
    if forward != "%h:%p" or len(hosts) != 1 or (port is not None and not port.isdigit()):
        return None
    if user is not None and "@" in hosts[0]:
        return None                       # two users for the jump: not guessing which ssh takes
    jump = hosts[0] if user is None else f"{user}@{hosts[0]}"
    return f"{jump}:{port}" if port is not None else jump


def _supervisor(hv: _Vars) -> SupervisorTarget:
    """herd_supervisor_*: where supervisord listens; untouched defaults when none is set."""
    fields: dict[str, Any] = {}
    endpoint = hv.exclusive("herd_supervisor_socket", "herd_supervisor_url")
    if endpoint == "herd_supervisor_socket":
        fields["socket"] = hv.text(endpoint, check=check_socket)
    elif endpoint == "herd_supervisor_url":
        fields.update(socket=None, url=hv.text(endpoint, check=check_url))
    username = hv.text("herd_supervisor_username", check=check_username)
    source = hv.exclusive("herd_supervisor_password_env", "herd_supervisor_password_file")
    if source == "herd_supervisor_password_env":
        fields["password_env"] = hv.text(source, check=check_password_env)
    elif source == "herd_supervisor_password_file":
        fields["password_file"] = hv.text(source, check=check_password_file)
    if username is not None and source is None:
        raise hv.fail(hv.vars["herd_supervisor_username"], "herd_supervisor_username",
                      "is set but neither herd_supervisor_password_env nor "
                      "herd_supervisor_password_file is; supervisor authentication needs both")
    if source is not None and username is None:
        raise hv.fail(hv.vars[source], source, "is set but herd_supervisor_username is not; "
                                               "supervisor authentication needs both")
    if username is not None:
        fields["username"] = username
    return replace(SupervisorTarget(), **fields) if fields else SupervisorTarget()


def _logs(hv: _Vars) -> dict[str, str]:
    """herd_logs: program name -> path template of the app's own log file on the host."""
    found = hv.get("herd_logs")
    if found is None:
        return {}
    key, var = found
    if not isinstance(var.value, Mapping):
        raise hv.fail(var, key, "must be a mapping of program names to log file paths, "
                                "e.g. {worker: /var/log/app/{program}.log}")
    logs: dict[str, str] = {}
    for program, path in var.value.items():
        if not isinstance(program, str) or not program.strip() or any(c.isspace() for c in program):
            raise hv.fail(var, key, f"program names must be non-empty strings without spaces, "
                                    f"got {program!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise hv.fail(var, f"{key}.{program}", f"must be an absolute path on the host, "
                                                   f"got {path!r}")
        logs[program] = path
    return logs


_SUPERVISOR_CHECKS: dict[str, Callable[..., Any]] = {
    "socket": check_socket, "url": check_url, "username": check_username,
    "password_env": check_password_env, "password_file": check_password_file}


def _supervisors(hv: _Vars) -> dict[str, SupervisorTarget]:
    """herd_supervisors: name -> {socket or url, username, password_env or password_file}, as herd's YAML.

    Several supervisords on the host, each its own target ``host/name``
    (herd/inventory/targets.py); exclusive with the herd_supervisor_* variables.
    """
    from herd.inventory.targets import SUPERVISOR_NAME, SUPERVISOR_NAME_RULE

    found = hv.get("herd_supervisors")
    if found is None:
        return {}
    key, var = found
    single = [k for k in ("herd_supervisor_socket", "herd_supervisor_url") if k in hv.vars]
    if single:
        raise hv.fail(var, key, f"{single[0]} and herd_supervisors are exclusive: herd_supervisor_* for a host "
                                f"with one supervisord, herd_supervisors to name each of several")
    if not isinstance(var.value, Mapping) or not var.value:
        raise hv.fail(var, key, "must be a mapping of names to supervisord settings, "
                                "e.g. {app: {socket: /tmp/app.sock}, infra: {url: 'http://127.0.0.1:9001'}}")
    result: dict[str, SupervisorTarget] = {}
    for name, settings in var.value.items():
        path = f"{key}.{name}"
        if not isinstance(name, str) or not SUPERVISOR_NAME.match(name):
            raise hv.fail(var, key, f"invalid supervisord name {name!r}: use {SUPERVISOR_NAME_RULE}")
        if not isinstance(settings, Mapping):
            raise hv.fail(var, path, "must be a mapping with socket or url, e.g. {socket: /tmp/app.sock}")
        unknown = [k for k in settings if k not in _SUPERVISOR_CHECKS]
        if unknown:
            what = "inline passwords are not allowed; use password_env or password_file" \
                if unknown[0] == "password" else f"unknown key {unknown[0]!r}; expected one of: " \
                                                 f"{', '.join(_SUPERVISOR_CHECKS)}"
            raise hv.fail(var, path, what)
        bad = next((k for k, v in settings.items() if v is not None and not isinstance(v, str)), None)
        if bad is not None:
            raise hv.fail(var, f"{path}.{bad}", "must be a string")
        fields = {k: _run_check(_SUPERVISOR_CHECKS[k], v, var, f"{path}.{k}")
                  for k, v in settings.items() if v is not None}
        for first, second in (("socket", "url"), ("password_env", "password_file")):
            if first in fields and second in fields:
                raise hv.fail(var, path, f"{first} and {second} are exclusive; set only one")
        if "socket" not in fields and "url" not in fields:
            raise hv.fail(var, path, "needs socket or url: discovery finds one supervisord per host, "
                                     "so each of several is named by where it listens")
        if ("username" in fields) != ("password_env" in fields or "password_file" in fields):
            raise hv.fail(var, path, "username and password_env (or password_file) go together; "
                                     "supervisor authentication needs both")
        result[name] = SupervisorTarget(socket=fields.get("socket"), url=fields.get("url"),
                                        username=fields.get("username"), password_env=fields.get("password_env"),
                                        password_file=fields.get("password_file"))
    return result
