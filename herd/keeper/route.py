"""Which command lines a keeper runs, and which run directly (pure; tests/test_keeper_logic.py).

The keeper runs commands that read or act once and then print: their whole
output comes back at the end, with the exit code.  Commands that stream or
talk with the terminal run directly, in the user's process, where Ctrl-C,
the terminal and stdin are theirs: ``shell``, ``fg``, ``tail -f``,
``maintail -f``, ``status --watch``, ``rolling-restart`` (live progress,
its own Ctrl-C handling) and ``web``.  So do commands that open no
connection (``inventory``, ``keeper``), help, shell completion, and
``reload``/``shutdown`` when they would ask for confirmation on a terminal.
"""

from __future__ import annotations

from typing import Sequence

KEPT = frozenset({"status", "check", "start", "stop", "restart", "signal", "clear", "pid", "avail", "reread",
                  "add", "remove", "update", "reload", "shutdown", "version", "maintail", "tail"})
# command -> (long option, short letter) that makes it stream
_STREAMING = {"status": ("--watch", "w"), "tail": ("--follow", "f"), "maintail": ("--follow", "f")}
_ASKING = frozenset({"reload", "shutdown"})


def direct_reason(args: Sequence[str], stdin_tty: bool) -> str | None:
    """Why this command line runs directly, or None when a keeper may run it."""
    if not args:
        return "no command"
    command, rest = args[0], list(args[1:])
    if command not in KEPT:
        return f"`herd {command}` runs directly" if not command.startswith("-") else "no command"
    if "-h" in rest or "--help" in rest:
        return "help"
    streaming = _STREAMING.get(command)
    if streaming and _has_flag(rest, *streaming):
        return f"`herd {command} {streaming[0]}` streams: it runs directly"
    if command in _ASKING and stdin_tty and not {"-y", "--yes", "--dry-run"} & set(rest):
        return f"`herd {command}` may ask for confirmation: it runs directly"
    return None


def _has_flag(args: Sequence[str], long: str, short: str) -> bool:
    """``long``, ``-short`` or a bundle of short flags holding it (``-af``); conservative on purpose."""
    for arg in args:
        if arg == "--":
            return False
        if arg == long or arg.startswith(long + "="):
            return True
        if arg.startswith("-") and not arg.startswith("--") and short in arg[1:]:
            return True
    return False


def inventory_arg(args: Sequence[str]) -> str | None:
    """The value of -i/--inventory on a command line (the last one), or None."""
    found = None
    items = list(args)
    for index, arg in enumerate(items):
        if arg == "--":
            break
        if arg in ("-i", "--inventory") and index + 1 < len(items):
            found = items[index + 1]
        elif arg.startswith("--inventory="):
            found = arg.partition("=")[2]
        elif arg.startswith("-i") and len(arg) > 2 and not arg.startswith("--"):
            found = arg[2:]
    return found


def verbosity(args: Sequence[str]) -> int:
    """How many -v the command line has (for the client's own messages)."""
    count = 0
    for arg in args:
        if arg == "--":
            break
        if arg == "--verbose":
            count += 1
        elif arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) == {"v"}:
            count += len(arg) - 1
    return count
