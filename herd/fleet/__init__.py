"""Parallel fan-out over hosts: where sessions come from, one guarded call per host, per-host results.

The layer between the wire (herd.ssh, herd.supervisor) and the operations:

- :mod:`herd.fleet.access`: ``HostAccess``, what an operation sees of one host
  (a supervisord client, reset, probes on the host);
- :mod:`herd.fleet.session`: ``HostSession`` (an SSH connection kept alive,
  shared by a host's supervisords) and ``SessionPool`` (sessions kept across
  commands); :mod:`herd.fleet.reach`: how a session reaches supervisord;
- :mod:`herd.fleet.source`: ``SessionSource``, where a Fleet gets its sessions
  (new connections, a pool someone keeps open, the fake), chosen once at the
  CLI root;
- :mod:`herd.fleet.fanout`: ``Fleet``: ``attempt`` (one host, herd's error
  policy), ``run``/``read`` (every host, results in order, a deadline) and
  ``spawn`` (a long-lived loop per host).

A new fleet view is a task and a loop; for example, the supervisord pid of
every host every 5 s until stopped::

    def pids(fleet: Fleet, stop: threading.Event) -> None:
        def loop(access: HostAccess) -> None:
            while not stop.is_set():
                result = fleet.attempt(access.host, lambda a: a.client().call("supervisor.getPID"))
                print(access.name, result.value if result.ok else result.error)
                stop.wait(5)
        for thread in fleet.spawn(loop, name="herd-pids"):
            thread.join()

    with Fleet(hosts, direct(Connector(timeout=10))) as fleet:   # or borrowed(pool), or a FakeSource
        pids(fleet, threading.Event())

Errors never escape ``attempt``: a host error resets that host's session and
is its result; anything else unexpected becomes that host's UnexpectedError.
"""

from herd.fleet.access import HostAccess
from herd.fleet.fanout import Fleet, HostResult, Interrupted, in_parallel
from herd.fleet.session import HostSession, SessionPool
from herd.fleet.source import SessionSource, borrowed, direct

__all__ = ["Fleet", "HostAccess", "HostResult", "HostSession", "Interrupted", "SessionPool", "SessionSource",
           "borrowed", "direct", "in_parallel"]
