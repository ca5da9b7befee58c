"""Test support that ships with herd: pytest fixtures over a real local fleet, and a fake supervisord.

    pytest_plugin  the fixtures: fleet, make_fleet, module_fleet (each a herd.localfleet.LocalFleet)
    fake           a fake supervisord under herd's real XML-RPC client

The real fleet itself (hosts on 127.0.0.1, each a real OpenSSH sshd and a
real supervisord) is herd.localfleet, which ``herd demo`` uses too: this
package builds on it, never the other way round.  ``python -m herd.testing``
is herd.localfleet's command line under the name scripts/lib.sh uses.

``herd.testing.fake`` puts a fake supervisord under herd's real XML-RPC
client and behind the HostAccess boundary (herd/fleet/access.py), so logic
above the wire (rolling restarts, control waits, log reading and following)
is tested in process, fast; tests/test_fake_contract.py holds it to a real
supervisord's behaviour.

Nothing here is imported by herd's commands.
"""
