"""``herd guard`` with rules from the inventory, on the real test fleet (sshd + supervisord): tornado's probe
(its ``rolling:`` entry, run on the host through SSH) failing on one host -> one incident after 3 failures,
then its recovery; a program that exits at once and is autorestarted -> one flapping incident, then its
recovery once it has run 15 s without a restart; every worker above 4K of RSS -> one incident naming both
hosts (the resources sampled by the poller through the process agent).

In process (every rule, fake clock, fake supervisords): tests/test_guard_rules.py.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from helpers import Running, wait_until
from test_guard_fake import Receiver

# flap: exits almost at once (startsecs 0: RUNNING at once, then EXITED), restarted by supervisord, again and
# again, until its host's flap.ok exists (then it stays up).  It lives 0.3 s so that a loaded supervisord sees
# it RUNNING (one gone before its first look is "exited too quickly": BACKOFF), and may retry a lot.
FLAP = """
[program:flap]
command=/bin/sh -c 'test -e {dir}/flap.ok && exec sleep 600; sleep 0.3; exit 3'
startsecs=0
startretries=1000
autostart=false
autorestart=true
"""


def test_a_probe_failing_on_one_host_and_a_flapping_program_are_one_incident_each(make_fleet, home: Path,
                                                                                  tmp_path: Path) -> None:
    fleet = make_fleet(hosts=2, extra_config=FLAP)
    flags = tmp_path / "flags"
    flags.mkdir()
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(fleet.inventory_path.read_text() + f"""\
rolling:
  tornado: {{cmd: "test ! -e {flags}/{{host}}.fail"}}
guard:
  rules:
    tornado: {{probe: {{failing: 3}}}}
    flap: {{flapping: {{restarts: 3, within: 15s}}}}
    worker: {{rss: {{above: 4K}}}}
""")
    receiver = Receiver()
    hook = tmp_path / "hook.url"
    hook.write_text(receiver.url + "\n")
    # --group-wait 8: each host's process agent starts on its own (seconds apart on loaded cores); the rss
    # incident's opening waits for both hosts' first samples to name them together
    guard = Running("guard", "-i", str(inventory), "--webhook-file", str(hook), "--interval", "1",
                    "--group-wait", "8", "--state-file", str(tmp_path / "guard.json"), home=home)
    try:
        assert guard.wait_for(lambda: any("watching 2 host(s)" in line for line in guard.out)), guard.err
        assert guard.out[0].endswith("rules (inventory): flap: flapping (3 starts in 15s); "
                                     "tornado: probe failing 3x; worker: rss > 4K"), guard.out[0]
        # every worker is above 4K: the poller samples the resources (the process agent on each host)
        wait_until(lambda: receiver.posts, 60, "the rss incident")
        rss = receiver.posts[0]
        assert (rss["event"], rss["incident"]["rule"], rss["summary"]) == \
            ("opened", "rss", "worker RSS above its limit on 2 of 2 hosts: web01, web02")
        assert re.fullmatch(r"RSS [\d.]+M above 4K for 0s", rss["incident"]["hosts"][0]["detail"])

        (flags / "web02.fail").touch()
        wait_until(lambda: len(receiver.posts) == 2, 60, "the probe incident")
        opened = receiver.posts[1]
        assert (opened["event"], opened["incident"]["rule"], opened["incident"]["program"]) == \
            ("opened", "probe", "tornado")
        assert opened["summary"].startswith("tornado probe failing on 1 of 2 hosts: web02")
        web02 = opened["incident"]["hosts"][0]
        tornado = sorted(n for n in fleet.process_states("web02") if n.startswith("tornado:"))
        # every tornado of web02 fails; those that reached 3 failures by the opening are named (a poll's probes
        # run one after another: the flag may fall between two of them), the others join the same incident
        assert web02["host"] == "web02" and web02["processes"] and set(web02["processes"]) <= set(tornado)
        assert opened["incident"]["hosts_affected"] == 1
        assert web02["detail"] == f"3 failed probes in a row: 'test ! -e {flags}/web02.fail' exited 1"

        fleet.supervisorctl("web01", "start", "flap")      # its exit may beat the answer: "spawn error" then
        wait_until(lambda: len(receiver.posts) == 3, 60, "the flapping incident")
        flapping = receiver.posts[2]
        assert (flapping["event"], flapping["incident"]["rule"], flapping["incident"]["program"]) == \
            ("opened", "flapping", "flap")
        assert [(h["host"], h["processes"]) for h in flapping["incident"]["hosts"]] == [("web01", ["flap"])]
        assert flapping["incident"]["hosts"][0]["detail"].startswith("3 starts within 15s")

        (flags / "web02.fail").unlink()
        wait_until(lambda: len(receiver.posts) == 4, 60, "the probe's recovery")
        (Path(fleet.host("web01").dir) / "flap.ok").touch()       # it stays up from its next start on
        wait_until(lambda: len(receiver.posts) == 5, 60, "the flapping's recovery, 15 s after its last start")
        guard.proc.send_signal(signal.SIGTERM)
        assert guard.finish() == 130
    finally:
        guard.kill()
        receiver.close()
        fleet.supervisorctl("web01", "stop", "flap")
    assert [(p["event"], p["incident"]["rule"]) for p in receiver.posts] == \
        [("opened", "rss"), ("opened", "probe"), ("opened", "flapping"), ("resolved", "probe"),
         ("resolved", "flapping")]
    assert receiver.posts[3]["incident"]["id"] == opened["incident"]["id"]
    assert receiver.posts[4]["incident"]["recovered"] == ["web01"]
