"""herd's paramiko Transport: one change, so that no call waits on delayed ACKs.

After authentication OpenSSH's sshd sends a ``hostkeys-00@openssh.com``
global request (want_reply false).  paramiko, as a client, ignores it
silently, so the kernel delays its ACK by ~40 ms; meanwhile sshd's Nagle
holds back the answer to herd's first channel open behind that unacked
packet.  Measured here: the first channel took 43 ms instead of 1 ms.
Answering every global request with an SSH_MSG_IGNORE makes the ACK ride
on a packet right away.

This overrides a private method (``_parse_global_request``, bound into the
handler table at construction); pyproject.toml pins paramiko below its next
major version for this and for streamlocal.py.
"""

from __future__ import annotations

import paramiko
from paramiko.common import cMSG_IGNORE
from paramiko.message import Message


class Transport(paramiko.Transport):
    """paramiko.Transport that answers server global requests without delay."""

    def _parse_global_request(self, m: Message) -> None:
        super()._parse_global_request(m)
        ignore = Message()
        ignore.add_byte(cMSG_IGNORE)
        ignore.add_string(b"")
        self._send_message(ignore)
