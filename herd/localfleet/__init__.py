"""A local fleet of real hosts on 127.0.0.1: each an OpenSSH sshd and a supervisord.

``herd demo`` runs on it, and so do herd's tests (herd.testing's fixtures),
``scripts/demo`` and the benchmarks: it is a package of its own so that a
shipped command does not stand on the test harness (herd.testing builds on
this package, never the other way round).  Its parts, one concern each:

    fleet          LocalFleet: start, change (stop an sshd, break the app, impersonate), stop
    hosts          FleetHost, FleetError and the constants (ports per host, paths)
    ports          port blocks reserved across processes (parallel pytest workers)
    processes      spawning, recognising and reaping processes (/proc)
    probes         sshd banners, supervisord's XML-RPC over a unix socket
    templates      sshd_config, supervisord.conf, the inventory; programs/ (app, worker)
    keys           SSH keys, known_hosts, 0600 files
    apps           the app's own supervisord (a distro host's app, beside the distribution's)
    distro         Debian/Fedora-style hosts in mount namespaces (root only), CentOS 7's own Python 2.7
    releases       real supervisord 3.0a12..4.3.0 on their own Pythons: interpreters, a shared install cache
    hostile        a misbehaving supervisord (escapes, floods, hangs) for LocalFleet.impersonate
    cli            ``python -m herd.localfleet start|status|stop DIR``, ``releases install|list``

``LocalFleet`` is not ``herd.fleet.Fleet`` (herd's view of an inventory's
hosts): it is the hosts themselves, the processes that a Fleet reaches.

Nothing here is imported by herd's commands except ``herd demo``, when it runs.
"""
