"""Open a ``direct-streamlocal@openssh.com`` channel: a tunnel to a unix socket.

This is what ``ssh -L port:/path/to.sock`` asks OpenSSH's sshd for.  paramiko
does not support it (paramiko issue 544): ``Transport.open_channel`` packs
extra fields only for direct-tcpip, forwarded-tcpip and x11, and sending the
streamlocal kind without its fields makes sshd drop the whole connection.

The function below mirrors the body of ``Transport.open_channel`` (paramiko
3.x-5.x) with the streamlocal payload (OpenSSH PROTOCOL, section 2.4)::

    string  "direct-streamlocal@openssh.com"
    uint32  sender channel, initial window size, maximum packet size
    string  socket path
    string  reserved ("")
    uint32  reserved (0)

It touches paramiko internals (``_next_channel``, ``_channels``,
``channel_events``...), which is why it lives alone in this module and why
pyproject.toml pins paramiko below its next major version.
"""

from __future__ import annotations

import threading
import time

from paramiko import Channel, Transport
from paramiko.common import cMSG_CHANNEL_OPEN
from paramiko.message import Message
from paramiko.ssh_exception import SSHException

KIND = "direct-streamlocal@openssh.com"


def build_open_message(chanid: int, window_size: int, max_packet_size: int, socket_path: str) -> Message:
    """The CHANNEL_OPEN message for a streamlocal channel (pure, for tests)."""
    m = Message()
    m.add_byte(cMSG_CHANNEL_OPEN)
    m.add_string(KIND)
    m.add_int(chanid)
    m.add_int(window_size)
    m.add_int(max_packet_size)
    m.add_string(socket_path)
    m.add_string("")
    m.add_int(0)
    return m


def open_streamlocal_channel(transport: Transport, socket_path: str, timeout: float) -> Channel:
    """Open a channel to the unix socket ``socket_path`` on the server.

    Raises paramiko's ChannelException when the server refuses (OpenSSH
    answers ``(2, 'Connect failed')`` both for a missing socket and for
    AllowStreamLocalForwarding no) and SSHException on timeout or when the
    transport dies; the caller translates both.
    """
    if not transport.active:
        raise SSHException("SSH session not active")
    with transport.lock:
        window_size = transport._sanitize_window_size(None)
        max_packet_size = transport._sanitize_packet_size(None)
        chanid = transport._next_channel()
        message = build_open_message(chanid, window_size, max_packet_size, socket_path)
        chan = Channel(chanid)
        transport._channels.put(chanid, chan)
        event = threading.Event()
        transport.channel_events[chanid] = event
        transport.channels_seen[chanid] = True
        chan._set_transport(transport)
        chan._set_window(window_size, max_packet_size)
    transport._send_user_message(message)
    return _await_open(transport, chanid, event, timeout)


def _await_open(transport: Transport, chanid: int, event: threading.Event, timeout: float) -> Channel:
    """Wait for OPEN_CONFIRMATION/OPEN_FAILURE, as open_channel does."""
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if not transport.active:
            raise transport.get_exception() or SSHException("SSH session ended while opening a channel")
        if time.monotonic() > deadline:
            raise SSHException("Timeout opening channel.")
    chan = transport._channels.get(chanid)
    if chan is not None:
        return chan
    raise transport.get_exception() or SSHException("Unable to open channel.")
