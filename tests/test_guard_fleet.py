"""``herd guard`` on the real test fleet (sshd + supervisord): tornado broken to FATAL on 2 of 3 hosts ->
one webhook POST naming both, then one recovery once fixed; SIGTERM ends it (130) with its state saved."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from helpers import Running, wait_until
from test_guard_fake import Receiver


def strict_start(fleet, name: str) -> None:
    """As tests/test_check_fleet.py's FATAL test: a start counts only if the app stays up 10 s (a slow
    start-up on a loaded machine is not RUNNING-then-EXITED forever), and one retry is enough to give up."""
    conf = Path(fleet.host(name).conf_path)
    text, count = re.subn(r"(\[program:tornado\][^\[]*?)startsecs=1\n", r"\1startsecs=10\nstartretries=1\n",
                          conf.read_text())
    assert count == 1
    conf.write_text(text)


def test_fatal_on_two_hosts_is_one_post_naming_both_then_one_recovery(make_fleet, home: Path,
                                                                       tmp_path: Path) -> None:
    fleet = make_fleet(hosts=3)
    receiver = Receiver()
    hook = tmp_path / "hook.url"
    hook.write_text(f"# the URL holds a token\n{receiver.url}\n")
    state = tmp_path / "guard.json"
    guard = Running("guard", "-i", str(fleet.inventory_path), "--webhook-file", str(hook), "--interval", "0.5",
                    "--group-wait", "4", "--state-file", str(state), home=home)
    try:
        assert guard.wait_for(lambda: any("watching 3 host(s)" in line for line in guard.out)), guard.err
        assert "sending to http://127.0.0.1:" in guard.out[0] and "SECRET" not in guard.out[0]
        for name in ("web01", "web02"):
            strict_start(fleet, name)
            fleet.break_app(name)
        for name in ("web01", "web02"):           # update restarts the changed program, with the broken app
            assert fleet.supervisorctl(name, "update").returncode == 0
        tornado = {name: sorted(n for n in fleet.process_states(name) if n.startswith("tornado:"))
                   for name in ("web01", "web02")}
        wait_until(lambda: receiver.posts, 60, "the opening")
        for name in ("web01", "web02"):
            wait_until(lambda: all(fleet.process_states(name).get(n) == "FATAL" for n in tornado[name]), 60,
                       f"tornado FATAL on {name}")
        opened = receiver.posts[0]
        assert (opened["event"], opened["incident"]["rule"], opened["incident"]["program"]) == \
            ("opened", "fatal", "tornado")
        assert opened["summary"] == "tornado FATAL on 2 of 3 hosts: web01, web02"
        assert [(h["host"], sorted(h["processes"])) for h in opened["incident"]["hosts"]] == \
            [("web01", tornado["web01"]), ("web02", tornado["web02"])]
        assert receiver.paths[0] == "/hook/SECRET-TOKEN-123"
        for name in ("web01", "web02"):
            fleet.fix_app(name)
            fleet.supervisorctl(name, "start", "tornado:*")
        wait_until(lambda: len(receiver.posts) == 2, 60, "the recovery")
        resolved = receiver.posts[1]
        assert (resolved["event"], resolved["incident"]["id"]) == ("resolved", opened["incident"]["id"])
        assert resolved["incident"]["recovered"] == ["web01", "web02"]
        assert [p["event"] for p in receiver.posts] == ["opened", "resolved"]
        guard.proc.send_signal(signal.SIGTERM)
        assert guard.finish() == 130
    finally:
        guard.kill()
        receiver.close()
        for name in ("web01", "web02"):
            fleet.fix_app(name)
    assert [line.split(" herd guard: ")[1].split(":")[0] for line in guard.out][1:] == \
        ["opened", "resolved", "stopping (Ctrl-C/SIGTERM)"]
    assert not any("SECRET" in line for line in guard.out + guard.err), guard.err
    assert json.loads(state.read_text()) == {"schema": 1, "incidents": []}
