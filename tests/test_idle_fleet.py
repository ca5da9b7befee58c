"""Idle SSH connections (herd/ssh/idle.py) against a real sshd: the transport thread sleeps, close wakes it."""

from __future__ import annotations

from herd.fleet import HostSession
from herd.inventory import load_inventory
from herd.ssh.connection import Connector
from herd.ssh.idle import IDLE_WAKE, calm


def test_an_idle_transport_sleeps_in_recv_and_close_ends_its_thread_at_once(fleet):
    host = load_inventory(str(fleet.inventory_path)).hosts[0]
    connector = Connector(timeout=10)
    session = HostSession(host, connector)
    try:
        session.client().all_process_info()
        transport = session.ssh.transport
        assert transport.sock.gettimeout() == IDLE_WAKE      # not paramiko's 0.1 s
        assert session.client().all_process_info()           # still serves
        transport.set_keepalive(3)
        calm(transport)
        assert transport.sock.gettimeout() == 3              # a keepalive set is sent on time
        # The connection alone, as abort() does (no channel close whose answer would wake the thread):
        session.ssh.close()
        transport.join(IDLE_WAKE / 2)
        # close() woke the thread blocked in recv: it ended, rather than at its next wake-up 10 s later
        assert not transport.is_alive()
    finally:
        session.close()
        connector.close()
