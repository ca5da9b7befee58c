"""The keeper: a background herd process that keeps SSH sessions open between commands.

What ControlMaster/ControlPersist is to ``ssh``, the keeper is to herd: the
first command that wants one (``keep:`` in the inventory's defaults,
``--keep DURATION`` or ``$HERD_KEEP``) starts it, detached, and later
commands hand it their command line over a unix socket; it runs the very
same click command in its own process, on its kept sessions, and sends
back the command's output and exit code.  After the idle time it exits.

Modules, one concern each:

* ``paths``: where the socket and the log live (a 0700 directory), and a
  keeper's name (a hash of the user, the inventory path and herd's build);
* ``keys``: durations, whether this command line wants a keeper, and the
  key of a pool of sessions (what a session was made under);
* ``protocol``: length-prefixed JSON frames over the socket, the peer's uid;
* ``route``: which command lines may go through a keeper (pure);
* ``scope``: what the keeper lends a command (its pools), found by the CLI;
* ``server``: the keeper process;
* ``client``: the command line's side, with every fallback to a direct run.

docs/keeper.md is the user-facing description.
"""
