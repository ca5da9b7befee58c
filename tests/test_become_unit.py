"""become: the inventory keys, --become/--no-become, and the sudo command lines agents run under.

The command lines are also run here by a local /bin/sh (PATH and
interpreters varied), so what they report is checked, not only their text;
the real sudo, sshd and Dropbear are exercised by tests/test_become_fleet.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from herd.cli.fleets import with_become
from herd.errors import InventoryError
from herd.inventory import load_inventory
from herd.inventory.model import Host
from herd.ssh.config import resolve_target
from herd.ssh.remote import SUDO_PROMPT, Sudo, classify_failure, python_command
from paramiko.config import SSHConfig

SCRIPT = "import os, sys; os.write(1, b'+'); print(sys.argv[1:])"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    return str(path)


def error(tmp_path: Path, text: str) -> str:
    """The error message, with the file named as the user typed it (inv.yaml)."""
    write(tmp_path, text)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(InventoryError) as info:
            load_inventory("inv.yaml")
    finally:
        os.chdir(cwd)
    return str(info.value)


# -- inventory -----------------------------------------------------------------

def test_become_keys_in_defaults_are_inherited_and_a_host_overrides_them(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, """\
defaults:
  become: true
  become_password_env: HERD_SUDO_PASS
hosts:
  a: {}
  b: {become_user: supervisor, become_password_file: sudo.pass}
  c: {become: false}
"""))
    a, b, c = inv.hosts
    assert (a.become, a.become_user, a.become_password_env, a.become_password_file) == \
        (True, None, "HERD_SUDO_PASS", None)
    assert (b.become, b.become_user, b.become_password_env, b.become_password_file) == \
        (True, "supervisor", None, str(tmp_path / "sudo.pass"))   # the host's source wins whole
    assert c.become is False


def test_become_is_off_by_default(tmp_path: Path) -> None:
    host = load_inventory(write(tmp_path, "hosts: {a: }\n")).hosts[0]
    assert (host.become, host.become_user) == (False, None)
    assert resolve_target(host, SSHConfig()).become_user is None


@pytest.mark.parametrize("text, message", [
    ("defaults: {become: 'yes'}\nhosts: {a: }\n",
     "inv.yaml:1:20: defaults.become: must be true or false, got string 'yes'"),
    ("hosts:\n  a: {becom: true}\n",
     "inv.yaml:2:7: hosts.a.becom: unknown key (did you mean 'become'?)"),
    ("hosts:\n  a: {become_user: ''}\n", "inv.yaml:2:20: hosts.a.become_user: must not be empty"),
    ("hosts:\n  a: {become_password_env: 's3cret pass'}\n",
     "inv.yaml:2:28: hosts.a.become_password_env: must be the name of an environment variable "
     "(letters, digits and _, not starting with a digit)"),
    ("defaults:\n  become_password_env: P\n  become_password_file: /p\nhosts: {a: }\n",
     "inv.yaml:3:25: defaults: become_password_env and become_password_file are exclusive; set only one"),
])
def test_bad_become_settings_are_one_positioned_line(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, text) == message


def test_a_pasted_password_is_never_echoed(tmp_path: Path) -> None:
    assert "hunter2 x" not in error(tmp_path, "hosts:\n  a: {become_password_env: 'hunter2 x'}\n")


def test_target_carries_become_user_root_by_default_and_the_password_source() -> None:
    target = resolve_target(Host("a", become=True, become_password_env="HERD_SUDO_PASS"), SSHConfig())
    assert target.become_user == "root"
    assert target.become_source == "become_password_env HERD_SUDO_PASS"
    plain = resolve_target(Host("a", become=False, become_user="x", become_password_env="P"), SSHConfig())
    assert (plain.become_user, plain.become_source) == (None, None)


def test_command_line_flag_overrides_the_inventory() -> None:
    hosts = [Host("a", become=True), Host("b")]
    assert [h.become for h in with_become(hosts, False)] == [False, False]
    assert [h.become for h in with_become(hosts, True)] == [True, True]
    assert with_become(hosts, None) == hosts


# -- command lines ---------------------------------------------------------------

def test_without_become_no_sudo_is_involved() -> None:
    assert "sudo" not in python_command(SCRIPT, ["x"], None)


def test_passwordless_become_runs_the_interpreter_search_under_sudo_n() -> None:
    cmd = python_command(SCRIPT, ["/var/run/supervisor.sock"], None, Sudo("supervisor"))
    assert "exec sudo -n -u supervisor -- sh -c " in cmd
    assert "sudo -S" not in cmd


def test_password_become_uses_sudo_S_with_herds_prompt_and_never_the_password() -> None:
    cmd = python_command(SCRIPT, [], None, Sudo("root", password="pw-never-on-the-command-line"))
    assert f"exec sudo -S -p '{SUDO_PROMPT}' -u root -- sh -c " in cmd
    assert "pw-never" not in cmd
    assert "pw-never" not in repr(Sudo("root", "pw-never"))


def run_sh(cmd: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PATH": path})


def test_the_command_runs_the_script_with_its_arguments() -> None:
    done = run_sh(python_command(SCRIPT, ["a b", "'"], None), os.environ["PATH"])
    assert done.stdout == "+['a b', \"'\"]\n"


def test_no_python_is_reported_with_every_interpreter_tried(tmp_path: Path) -> None:
    done = run_sh(python_command(SCRIPT, [], "/nonexistent/python3"), str(tmp_path))
    error = classify_failure(done.stderr.splitlines(), done.returncode)
    assert (error.kind, str(error)) == ("no-python", "no Python interpreter found (tried /nonexistent/python3)")
    default = classify_failure(python_command(SCRIPT, [], None).split("echo ")[-1:], 127)
    assert "python3, python, /usr/bin/python3, the interpreter running supervisord" in str(default)


def test_missing_sudo_is_reported_before_anything_runs(tmp_path: Path) -> None:
    done = run_sh(python_command(SCRIPT, [], None, Sudo()), str(tmp_path))   # no sudo on this PATH
    error = classify_failure(done.stderr.splitlines(), done.returncode)
    assert (done.stdout, error.kind) == ("", "no-sudo")


@pytest.mark.parametrize("stderr, kind", [
    ("sudo: a password is required", "sudo-password-required"),
    ("Sorry, try again.\nsudo: no password was provided\nsudo: 1 incorrect password attempt", "sudo-wrong-password"),
    ("carol is not in the sudoers file.", "sudo-not-allowed"),
    ("Sorry, user carol is not allowed to execute '/bin/sh -c ...' as root on h.", "sudo-not-allowed"),
    ("sudo: unknown user nosuch", "sudo-unknown-user"),
    ("sudo: sorry, you must have a tty to run sudo", "sudo-needs-tty"),
    ("!13 Permission denied", None),
])
def test_sudo_messages_are_classified(stderr: str, kind: str | None) -> None:
    assert classify_failure(stderr.splitlines(), 1).kind == kind


def test_agent_report_keeps_its_errno() -> None:
    error = classify_failure(["!2 No such file or directory"], 3)
    assert (error.errno, error.missing, str(error)) == (2, True, "No such file or directory")


def test_supervisords_own_interpreter_is_used_when_no_python_is_on_the_path(tmp_path: Path, monkeypatch) -> None:
    """Where neither python3 nor python is on PATH, the shebang of supervisord (found on PATH) names one."""
    import sys

    import herd.ssh.remote as remote

    monkeypatch.setattr(remote, "PYTHONS", ("python3", "python"))   # this machine has /usr/bin/python3
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "supervisord").write_text(f"#!{sys.executable} -S\nprint('not run')\n")
    (bindir / "supervisord").chmod(0o755)
    for tool in ("sed", "tr", "readlink"):
        os.symlink(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip(),
                   bindir / tool)
    done = run_sh(remote.python_command("import sys; print('+' + sys.executable)", [], None), str(bindir))
    assert done.stdout.strip() == f"+{sys.executable}", done.stderr


class ScriptedChannel:
    """Stands in for a paramiko channel in the prompt logic only (the real sudo is in test_become_fleet.py)."""

    def __init__(self, stderr: list[bytes], ready_after_answer: bool) -> None:
        self.stderr, self.ready_after_answer = list(stderr), ready_after_answer
        self.sent: list[bytes] = []
        self.write_closed = self.closed = False

    def recv_ready(self) -> bool:
        return self.ready_after_answer and bool(self.sent)

    def recv(self, n: int) -> bytes:
        return b"+"

    def recv_stderr_ready(self) -> bool:
        return bool(self.stderr)

    def recv_stderr(self, n: int) -> bytes:
        return self.stderr.pop(0) if self.stderr else b""

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)

    def shutdown_write(self) -> None:
        self.write_closed = True

    def exit_status_ready(self) -> bool:
        return self.write_closed

    def recv_exit_status(self) -> int:
        return 1

    def close(self) -> None:
        self.closed = True


def test_the_password_is_written_once_at_the_prompt_even_split_across_packets() -> None:
    from herd.ssh.remote import _await_ready_answering_sudo

    chan = ScriptedChannel([b"[herd-sudo", b"-password]"], ready_after_answer=True)
    assert _await_ready_answering_sudo(chan, "pw", 5) is chan  # type: ignore[arg-type]
    assert chan.sent == [b"pw\n"]


def test_a_second_prompt_closes_stdin_instead_of_answering() -> None:
    from herd.ssh.remote import RelayError, _await_ready_answering_sudo

    chan = ScriptedChannel([SUDO_PROMPT.encode(), b"Sorry, try again.\n" + SUDO_PROMPT.encode(),
                            b"sudo: 1 incorrect password attempt\n"], ready_after_answer=False)
    with pytest.raises(RelayError) as info:
        _await_ready_answering_sudo(chan, "pw", 5)  # type: ignore[arg-type]
    assert (chan.sent, chan.write_closed, info.value.kind) == ([b"pw\n"], True, "sudo-wrong-password")


def test_sudo_that_never_answers_is_bounded_by_the_timeout() -> None:
    from herd.ssh.remote import RelayError, _await_ready_answering_sudo

    chan = ScriptedChannel([], ready_after_answer=False)
    with pytest.raises(RelayError) as info:
        _await_ready_answering_sudo(chan, "pw", 0.2)  # type: ignore[arg-type]
    assert (info.value.kind, chan.sent, chan.closed) == ("sudo-timeout", [], True)


# -- requiretty: sudo on a pty ---------------------------------------------------------

class TtyChannel:
    """One merged stream, as a pty gives it: what sudo and the sudo'd shell write, then the agent."""

    def __init__(self, before_answer: bytes, after_answer: bytes) -> None:
        self.out = bytearray(before_answer)
        self.after_answer = after_answer
        self.sent: list[bytes] = []
        self.closed = False

    def recv_ready(self) -> bool:
        return bool(self.out)

    def recv(self, n: int) -> bytes:
        assert n == 1    # a byte at a time: nothing of the agent's protocol is taken
        byte = bytes(self.out[:1])
        del self.out[:1]
        return byte

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)
        self.out += self.after_answer

    def exit_status_ready(self) -> bool:
        return not self.out

    def recv_exit_status(self) -> int:
        return 1

    def close(self) -> None:
        self.closed = True


def test_on_a_pty_the_password_is_answered_once_and_the_agent_protocol_left_unread() -> None:
    from herd.ssh.remote import SUDO_OK, _await_ready_on_tty

    chan = TtyChannel(SUDO_PROMPT.encode(), b"\n" + SUDO_OK.encode() + b"\n+{json}")
    assert _await_ready_on_tty(chan, "pw", 5) is chan  # type: ignore[arg-type]
    assert chan.sent == [b"pw\n"] and bytes(chan.out) == b"{json}"


@pytest.mark.parametrize("stream, password, kind", [
    (SUDO_PROMPT.encode() + b"\nSorry, try again.\n" + SUDO_PROMPT.encode(), "pw", "sudo-wrong-password"),
    (SUDO_PROMPT.encode(), None, "sudo-password-required"),
    (b"[herd-sudo-ok]\n!127 no Python interpreter found (tried python3)\n", None, "no-python"),
])
def test_on_a_pty_failures_are_classified_as_without(stream: bytes, password: str | None, kind: str) -> None:
    from herd.ssh.remote import RelayError, _await_ready_on_tty

    chan = TtyChannel(stream, b"")
    with pytest.raises(RelayError) as info:
        _await_ready_on_tty(chan, password, 5)  # type: ignore[arg-type]
    assert info.value.kind == kind and chan.closed
    assert len(chan.sent) <= 1


def test_on_a_pty_the_shell_sets_raw_mode_before_sudo_and_again_inside() -> None:
    from herd.ssh.remote import RAW_TTY, SUDO_OK

    command = python_command(SCRIPT, [], None, Sudo("root", "S3cr3t-pw", tty=True))
    assert command.count("stty raw -echo") == 2 and "S3cr3t-pw" not in command
    assert f"{RAW_TTY}; exec sudo -S -p" in command and SUDO_OK in command


def test_long_agents_travel_packed_under_dropbears_command_limit_and_run_on_each_python(tmp_path: Path) -> None:
    from discover_host import PYTHON27, FakeHost, report
    from herd.ssh.discover import DISCOVER_SCRIPT, discover_script
    from herd.ssh.remote import DROPBEAR_MAX_COMMAND, packed

    longest = python_command(DISCOVER_SCRIPT, [], None, Sudo("root", "pw", tty=True))
    assert len(longest) < DROPBEAR_MAX_COMMAND - 1000 and len(DISCOVER_SCRIPT) > DROPBEAR_MAX_COMMAND
    assert packed(SCRIPT) == SCRIPT                   # a short one as it is
    host = FakeHost(tmp_path / "h")
    host.file("/home/deploy/supervisord.conf", "[unix_http_server]\nfile=/run/s.sock\n")
    host.listen_unix("/run/s.sock", 1)
    host.write_net()
    import sys
    for python in [sys.executable] + [p for p in (PYTHON27,) if os.path.exists(p)]:
        command = python_command(discover_script([], root=str(host.root)), [], python)
        done = subprocess.run(["sh", "-c", command], cwd=host.cwd, capture_output=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        assert report(done)["target"] == "/run/s.sock", (python, done.stderr)
    host.close()
