"""The direct-streamlocal@openssh.com channel: its wire format here, the real sshd in the fleet tests."""

from paramiko.common import cMSG_CHANNEL_OPEN
from paramiko.message import Message

from herd.ssh.relay import RELAY_SCRIPT, relay_command
from herd.ssh.streamlocal import KIND, build_open_message


def test_open_message_matches_openssh_protocol():
    """OpenSSH PROTOCOL 2.4: kind, sender channel, window, max packet, path, reserved string, reserved uint32."""
    m = Message(build_open_message(7, 2097152, 32768, "/var/run/supervisor.sock").asbytes())
    assert m.get_byte() == cMSG_CHANNEL_OPEN
    assert m.get_text() == KIND == "direct-streamlocal@openssh.com"
    assert (m.get_int(), m.get_int(), m.get_int()) == (7, 2097152, 32768)
    assert m.get_text() == "/var/run/supervisor.sock"
    assert m.get_text() == ""
    assert m.get_int() == 0
    assert m.get_remainder() == b""


def test_relay_command_tries_python3_then_python_and_quotes_the_target():
    cmd = relay_command("/tmp/my sock", None)
    assert cmd.index("r python3;") < cmd.index("r python;") < cmd.index("r /usr/bin/python3;")
    assert "'/tmp/my sock'" in cmd
    only = relay_command("/s", "/opt/py/bin/python")
    assert "r /opt/py/bin/python;" in only and "r python3;" not in only and "supervisord" not in only


def test_relay_script_is_valid_python():
    compile(RELAY_SCRIPT, "<relay>", "exec")
