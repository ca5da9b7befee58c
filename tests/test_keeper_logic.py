"""The keeper's logic without a fleet: routing, keys, durations, frames, capture, the socket's guards.

The guards are tested for real: a keeper process-in-a-thread on a socket,
and a child process setuid to nobody trying to use it.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from herd.duration import parse_duration
from herd.errors import InventoryError
from herd.fleet import SessionPool
from herd.inventory import load_inventory
from herd.inventory.model import Host, SupervisorTarget
from herd.keeper import client, paths, protocol
from herd.keeper.capture import Capture
from herd.keeper.keep import keep_from_args, keep_from_env
from herd.keeper.keys import digest_files, pool_key
from herd.keeper.route import direct_reason, inventory_arg, verbosity
from herd.keeper.seal import SecretSeal
from herd.keeper.server import Keeper
from herd.ssh.connection import Connector

NOBODY = 65534


# -- durations and the keep setting ---------------------------------------------

@pytest.mark.parametrize("text, seconds", [("10m", 600), ("90s", 90), ("1h", 3600), ("2d", 172800), ("45", 45),
                                           ("0.5s", 0.5), (" 3 m ", 180)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "10x", "-5", "1h30m"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_keep_from_args_and_env():
    assert keep_from_args(["status", "--keep", "2m"]) == 120
    assert keep_from_args(["status", "--keep=30s", "--no-keep"]) == 0
    assert keep_from_args(["status", "--no-keep", "--keep", "5"]) == 5
    assert keep_from_args(["status", "--", "--keep", "5"]) is None
    assert keep_from_args(["status"]) is None
    assert keep_from_env({}) is None and keep_from_env({"HERD_KEEP": ""}) is None
    assert keep_from_env({"HERD_KEEP": "10m"}) == 600
    assert keep_from_env({"HERD_KEEP": "off"}) == 0 and keep_from_env({"HERD_KEEP": "0"}) == 0
    with pytest.raises(ValueError):
        keep_from_env({"HERD_KEEP": "soon"})


def test_inventory_keep_key(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("defaults:\n  keep: 10m\n  user: deploy\nhosts:\n  web01: {address: 127.0.0.1}\n")
    loaded = load_inventory(str(inv))
    assert loaded.keep == 600 and loaded.hosts[0].user == "deploy"
    inv.write_text("defaults:\n  keep: false\nhosts:\n  web01: {}\n")
    assert load_inventory(str(inv)).keep == 0
    inv.write_text("hosts:\n  web01: {}\n")
    assert load_inventory(str(inv)).keep is None
    inv.write_text("defaults:\n  keep: soon\nhosts:\n  web01: {}\n")
    with pytest.raises(InventoryError, match=r"inv.yaml:2:\d+: defaults.keep: must be a duration"):
        load_inventory(str(inv))
    inv.write_text("hosts:\n  web01: {keep: 10m}\n")
    with pytest.raises(InventoryError, match="keep"):
        load_inventory(str(inv))


def test_an_unreadable_keep_duration_is_a_usage_error_naming_it(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  web01: {}\n")
    done = subprocess.run([sys.executable, "-m", "herd", "status", "-i", str(inv), "--keep", "soon"],
                          capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path)}, timeout=60)
    assert done.returncode == 2
    assert "Invalid value for '--keep': 'soon' is not a duration (e.g. 90s, 10m, 1h)" in done.stderr
    assert "Traceback" not in done.stderr


# -- routing -------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["status"], ["status", "-a", "-o", "json"], ["check", "-q"],
                                  ["restart", "worker", "-g", "web"], ["tail", "worker", "-n", "5"],
                                  ["maintail", "-a"], ["version"], ["shutdown", "--yes", "-a"],
                                  ["reload", "-a", "--dry-run"]])
def test_kept_command_lines(args):
    assert direct_reason(args, stdin_tty=True) is None


@pytest.mark.parametrize("args", [[], ["--version"], ["shell"], ["fg", "worker", "-H", "web01"], ["web"],
                                  ["rolling-restart", "tornado"], ["inventory"], ["keeper", "status"],
                                  ["status", "-w"], ["status", "--watch"], ["status", "-aw"],
                                  ["tail", "-f", "worker"], ["tail", "worker", "--follow"], ["maintail", "-fa"],
                                  ["status", "--help"], ["check", "-h"], ["reload", "-a"]])
def test_direct_command_lines(args):
    assert direct_reason(args, stdin_tty=True) is not None


def test_confirmation_only_matters_on_a_terminal():
    assert direct_reason(["shutdown", "-a"], stdin_tty=False) is None
    assert direct_reason(["shutdown", "-a"], stdin_tty=True) is not None


def test_inventory_and_verbosity_from_the_command_line():
    assert inventory_arg(["status", "-i", "a.yaml", "--inventory=b.yaml"]) == "b.yaml"
    assert inventory_arg(["status", "-ic.yaml"]) == "c.yaml"
    assert inventory_arg(["status", "--", "-i", "x"]) is None
    assert verbosity(["status", "-vv", "--verbose", "-a"]) == 3
    assert verbosity(["status", "-av"]) == 1   # a bundle, read as click reads it (tests/test_keeper_route.py)


# -- keys: content, not mtime; options; secrets --------------------------------------

def _key(inv: Path, **options) -> str:
    base = dict(timeout=10.0, accept_new=False, become=None, environ={"HOME": "/h"})
    base.update(options)
    return pool_key(str(inv), [Host("web01")], **base)


def test_pool_key_follows_content_and_options(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts: {web01: {}}\n")
    first = _key(inv)
    assert _key(inv) == first
    mtime = inv.stat().st_mtime_ns
    inv.write_text("hosts: {web01: {}}  \n")
    os.utime(inv, ns=(mtime, mtime))
    edited = _key(inv)
    assert edited != first
    others = {_key(inv, timeout=5.0), _key(inv, accept_new=True), _key(inv, become=True),
              _key(inv, environ={"HOME": "/h", "SSH_AUTH_SOCK": "/agent"})}
    assert edited not in others and len(others) == 4
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text("# new\n")
    assert _key(inv) != edited
    (tmp_path / ".ssh" / "config").write_text("Host *\n  User other\n")
    assert len({_key(inv), edited, first}) == 3


def test_digest_of_a_directory_covers_every_file(tmp_path):
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.ini").write_text("[web]\nweb01\n")
    (tmp_path / "group_vars" / "all.yml").write_text("a: 1\n")
    before = digest_files([tmp_path])
    (tmp_path / "group_vars" / "all.yml").write_text("a: 2\n")
    assert digest_files([tmp_path]) != before


def test_a_session_made_with_other_secrets_is_never_reused(monkeypatch):
    seal = SecretSeal()
    pool = SessionPool(Connector(timeout=1), identity=lambda host: (host, seal.host_secrets(host)))
    host = Host("web01", supervisor=SupervisorTarget(socket="/s", username="u", password_env="SUP_PW"),
                become=True, become_password_env="SUDO_PW")
    monkeypatch.setenv("SUP_PW", "one")
    monkeypatch.setenv("SUDO_PW", "sudo")
    first = pool.session(host)
    assert pool.session(host) is first
    monkeypatch.setenv("SUP_PW", "two")
    second = pool.session(host)
    assert second is not first
    monkeypatch.delenv("SUDO_PW")
    assert pool.session(host) is not second            # no password now: not the session made with one
    monkeypatch.setenv("SUDO_PW", "sudo")
    assert pool.session(host) is not second            # sessions are made again, never resurrected
    assert "one" not in repr(seal.host_secrets(host)) and seal.seal("x") != SecretSeal().seal("x")


# -- frames and capture ----------------------------------------------------------

def test_frames_round_trip_and_reject_garbage():
    a, b = socket.socketpair()
    with a, b:
        protocol.send(a, {"op": "status", "x": "é"})
        assert protocol.receive(b) == {"op": "status", "x": "é"}
        a.sendall(b"\x00\x00\x00\x03abc")
        with pytest.raises(protocol.ProtocolError):
            protocol.receive(b)
        a.sendall(b"\xff\xff\xff\xff")
        with pytest.raises(protocol.ProtocolError):
            protocol.receive(b)
        a.close()
        with pytest.raises(protocol.ProtocolError):
            protocol.receive(b)


def test_capture_keeps_order_encoding_and_tty_flags():
    import base64

    capture = Capture("utf-8", "strict", stdout_tty=True, stderr_tty=False)
    assert capture.stdout.isatty() and not capture.stderr.isatty()
    capture.stdout.write("one é\n")
    capture.stderr.write("two\n")
    capture.stdout.write("three\n")
    capture.stdout.write("four\n")
    frames = [(name, base64.b64decode(data)) for name, data in capture.frames()]
    assert frames == [("stdout", "one é\n".encode()), ("stderr", b"two\n"), ("stdout", b"three\nfour\n")]


# -- the socket's guards ------------------------------------------------------------

@pytest.fixture
def keeper(tmp_path, monkeypatch):
    """A keeper serving in a thread, its socket in a 0700 runtime directory of the test's own."""
    runtime = Path(os.path.realpath("/tmp")) / f"herd-logic-{os.getpid()}-{threading.get_ident() % 10000}"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts: {web01: {address: 127.0.0.1}}\n")
    path = paths.socket_path(str(inv))
    k = Keeper(str(inv), path, idle=60)
    assert k.bind()
    thread = threading.Thread(target=k.serve, daemon=True)
    thread.start()
    yield k
    k.stopping.set()
    thread.join(5)
    shutil.rmtree(runtime)


def test_socket_and_directory_are_the_users_alone(keeper):
    mode = os.stat(keeper.socket_path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(keeper.socket_path.parent).st_mode) == 0o700
    second = Keeper(keeper.inventory, keeper.socket_path, idle=60)
    assert not second.bind()     # one keeper per socket: the lock says so


def test_an_unsafe_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    (tmp_path / "herd" / "keeper").mkdir(parents=True)
    os.chmod(tmp_path / "herd" / "keeper", 0o755)
    with pytest.raises(paths.KeeperPathError, match="mode 0700"):
        paths.keeper_dir()


def _as_nobody(action) -> int:
    """Run ``action()`` in a forked child setuid to nobody; its exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os._exit(action())
        except BaseException:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_another_uid_cannot_use_the_socket(keeper):
    path = str(keeper.socket_path)

    def connect() -> int:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except PermissionError:
            return 0          # the 0700 directory stops it
        return 1

    assert _as_nobody(connect) == 0
    # even with the directory and socket opened to everyone, SO_PEERCRED stops it before any request
    opened = [keeper.socket_path.parent, keeper.socket_path.parent.parent]
    for directory in opened:
        os.chmod(directory, 0o755)
    os.chmod(path, 0o666)

    def request() -> int:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        try:
            protocol.send(s, {"op": "status"})
            protocol.receive(s)
        except (protocol.ProtocolError, OSError):
            return 0          # closed without an answer
        return 1

    assert _as_nobody(request) == 0
    for directory in opened:
        os.chmod(directory, 0o700)
    assert keeper.served == 0


def test_status_and_refusals(keeper):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with s:
        s.connect(str(keeper.socket_path))
        protocol.send(s, {"op": "status"})
        answer = protocol.receive(s)
    assert answer["pid"] == os.getpid() and answer["inventory"] == keeper.inventory
    assert answer["hosts_connected"] == 0 and "password" not in repr(answer)
    for request, reason in (({"version": "0.0-other"}, "runs herd"), ({"inventory": "/elsewhere"}, "another"),
                            ({"keep": None}, "no longer says keep")):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with s:
            s.connect(str(keeper.socket_path))
            from herd import __version__

            protocol.send(s, {"op": "run", "version": __version__, "inventory": keeper.inventory, "argv": [],
                              "env": {}, "keep": 60, **request})
            answer = protocol.receive(s)
        assert answer["kind"] == "refused" and reason in answer["reason"]


def test_busy_keeper_refuses_and_the_client_runs_directly(keeper, monkeypatch):
    assert keeper.busy.acquire()
    try:
        monkeypatch.setenv("HERD_KEEP", "1m")
        assert client.run_kept(["status", "-i", keeper.inventory]) is None
    finally:
        keeper.busy.release()


def _fake_keeper(path: Path, behaviour: str) -> socket.socket:
    """A socket at ``path`` that takes the request and then hangs, or dies before it accepts the command.

    (A keeper that dies after accepting: tests/test_keeper_once.py.)
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)

    def serve() -> None:
        conn, _ = listener.accept()
        protocol.receive(conn)
        if behaviour == "dies":
            conn.close()
        else:
            time.sleep(30)

    threading.Thread(target=serve, daemon=True).start()
    return listener


@pytest.mark.parametrize("behaviour, said", [("hangs", "stopped answering"), ("dies", "stopped answering")])
def test_a_hung_or_dead_keeper_means_a_direct_run(tmp_path, monkeypatch, capsys, behaviour, said):
    runtime = Path(f"/tmp/herd-fake-{os.getpid()}-{behaviour}")
    runtime.mkdir(mode=0o700)
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        monkeypatch.setenv("HERD_KEEP", "1m")
        inv = tmp_path / "inv.yaml"
        inv.write_text("hosts: {web01: {}}\n")
        listener = _fake_keeper(paths.socket_path(str(inv)), behaviour)
        with listener:
            start = time.monotonic()
            assert client.run_kept(["status", "-v", "-i", str(inv)]) is None
            print(f"fallback after {time.monotonic() - start:.2f} s", file=sys.stderr)
        err = capsys.readouterr().err
        assert said in err and "connecting directly" in err
    finally:
        shutil.rmtree(runtime)


def test_no_keep_means_no_keeper_contacted(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HERD_KEEP", "0")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "nonexistent"))
    inv = tmp_path / "inv.yaml"
    inv.write_text("defaults: {keep: 10m}\nhosts: {web01: {}}\n")
    assert client.run_kept(["status", "-v", "-i", str(inv)]) is None
    assert client.run_kept(["status", "-v", "--no-keep", "-i", str(inv)]) is None
    assert capsys.readouterr().err == ""


def test_the_keepers_inventory_memo_parses_once_per_content_and_home(tmp_path, monkeypatch):
    from herd.keeper.pools import InventoryMemo

    path = tmp_path / "inventory.yaml"
    path.write_text("hosts:\n  web01:\n")
    memo = InventoryMemo()
    monkeypatch.setenv("HOME", str(tmp_path))
    first = memo.read(str(path))
    assert memo.read(str(path)) is first                       # same bytes: the same parse
    stat = path.stat()
    path.write_text("hosts:\n  web02:\n")                       # same length, mtime put back: still seen
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = memo.read(str(path))
    assert [h.name for h in second.hosts] == ["web02"]
    monkeypatch.setenv("HOME", str(tmp_path / "other"))         # ~ would expand elsewhere: parsed again
    assert memo.read(str(path)) is not second
    ini = tmp_path / "hosts.ini"
    ini.write_text("[web]\nweb01\n")
    assert memo.read(str(ini)) is not memo.read(str(ini))      # Ansible: other files count, never kept
