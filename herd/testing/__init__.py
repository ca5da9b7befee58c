"""Test support that ships with herd: a fake supervisord in process (herd.testing.fake).

``herd.testing.fake`` puts a fake supervisord under herd's real XML-RPC
client and behind the HostAccess boundary (herd/fleet/access.py), so logic
above the wire (rolling restarts, control waits, log reading and following)
is tested in process, fast; tests/test_fake_contract.py holds it to a real
supervisord's behaviour.
"""
