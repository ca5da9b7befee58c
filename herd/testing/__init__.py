"""Test support that ships with herd: a real local fleet (herd.testing.fleet) and a fake supervisord (fake).

The fleet is what herd's tests, ``herd demo``, ``scripts/demo`` and the
benchmarks run herd against: hosts on 127.0.0.1, each a real OpenSSH sshd
and a real supervisord.  Its parts, one concern each:

    fleet          Fleet: start, change (stop an sshd, break the app, impersonate), stop
    hosts          FleetHost and the constants (ports per host, paths)
    ports          port blocks reserved across processes (parallel pytest workers)
    processes      spawning, recognising and reaping processes (/proc)
    probes         sshd banners, supervisord's XML-RPC over a unix socket
    templates      sshd_config, supervisord.conf, the inventory; programs/ (app, worker)
    keys           SSH keys, known_hosts, 0600 files
    distro         Debian/Fedora-style hosts in mount namespaces (root only), CentOS 7's own Python 2.7
    releases       real supervisord 3.0a12..4.3.0 on their own Pythons: interpreters, a shared install cache
    hostile        a misbehaving supervisord (escapes, floods, hangs) for Fleet.impersonate
    cli            ``python -m herd.testing start|status|stop DIR``, ``releases install|list``
    pytest_plugin  the fixtures: fleet, make_fleet, module_fleet

``herd.testing.fake`` puts a fake supervisord under herd's real XML-RPC
client and behind the HostAccess boundary (herd/fleet/access.py), so logic
above the wire (rolling restarts, control waits, log reading and following)
is tested in process, fast; tests/test_fake_contract.py holds it to a real
supervisord's behaviour.

Nothing here is imported by herd's commands except ``herd demo``, when it runs.
"""
