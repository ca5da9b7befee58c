"""QuickAckSocket re-arms TCP_QUICKACK after every read and otherwise behaves as the socket."""

import socket

from herd.ssh.quickack import QuickAckSocket


def test_rearms_after_each_recv_and_delegates():
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    try:
        wrapped = QuickAckSocket(client)
        assert wrapped.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
        peer.sendall(b"hello")
        assert wrapped.recv(5) == b"hello"
        assert wrapped.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
        wrapped.sendall(b"back")
        assert peer.recv(4) == b"back"
    finally:
        for s in (client, peer, server):
            s.close()
