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
* ``route``: the command line read as click reads it (a replay of click's
  parser over ``optable``, the kept commands' options generated from the
  click commands), and which lines may go through a keeper (pure);
* ``keep``: whether a command wants a keeper, and for how long
  (``--keep``, ``$HERD_KEEP``; durations are herd/duration.py's);
* ``keys``: the key of a pool of sessions (what a session was made under);
* ``seal``: secrets sealed, comparable and never kept;
* ``protocol``: length-prefixed JSON frames over the socket, the peer's uid;
* ``pools``: what the keeper keeps between commands: pools of sessions by
  pool key, and inventories parsed once per content;
* ``scope``: what the keeper lends a command: a session source on the pool
  for its options (herd/fleet/source.py), found by the CLI (herd/cli/fleets.py);
* ``server``: the keeper process, which hosts the CLI (it runs the click
  command);
* ``client``: the command line's side: a direct run for anything the
  keeper did not accept, and never a second run of what it accepted.

Apart from ``server`` (which hosts the CLI, as herd/launch.py does),
nothing here imports click or herd.cli: the command line's warm path loads
neither.

docs/keeper.md is the user-facing description.
"""
