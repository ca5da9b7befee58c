"""``herd status --watch`` in a small terminal: problems first, the summary always in sight, a filter key.

The issue's trial: 20 hosts in a 24-line terminal showed the first RUNNING
rows and "... 9 more lines" -- the STOPPED process and the unreachable host
were among the hidden ones.
"""

from __future__ import annotations

from herd.cli.watch import frame
from herd.operations.poller import Poller
from herd.testing.fake import fake_fleet, tornado_hosts


def _screen(poller: Poller, height: int, problems_only: bool = False) -> list[str]:
    text = frame(poller, (), False, 200, height, problems_only)
    return text.replace("\x1b[H", "").replace("\x1b[K", "").replace("\x1b[J", "").split("\r\n")


def _fleet() -> Poller:
    hosts = tornado_hosts(6)
    hosts[5].client().call("supervisor.stopProcess", "worker", False)
    hosts[2].break_connection("connection refused")
    poller = Poller(fake_fleet(hosts), interval=60)
    for host in hosts:
        poller.poll_once(host.name)
    return poller


def test_a_small_terminal_shows_the_problems_and_the_summary_and_counts_what_is_cut() -> None:
    poller = _fleet()
    lines = _screen(poller, 8)
    assert len(lines) == 8
    assert "(p: problems only)" in lines[0] and "(q to quit)" in lines[0]
    assert lines[1] == "6 hosts, 25 processes: 24 RUNNING, 1 STOPPED; 1 host unreachable"
    assert lines[2].split()[:3] == ["HOST", "PROCESS", "STATE"]
    assert lines[3].split()[:3] == ["web03", "-", "UNREACHABLE"]
    assert lines[4].split()[:3] == ["web06", "worker", "STOPPED"]
    assert lines[5].split()[:3] == ["web01", "tornado:tornado-8080", "RUNNING"]
    assert lines[7] == "... 22 more rows, all RUNNING (enlarge the terminal, or p)"
    poller.stop()


def test_the_p_view_shows_the_problems_alone_and_a_tall_terminal_everything() -> None:
    poller = _fleet()
    only = _screen(poller, 40, problems_only=True)
    assert "problems only (p: all)" in only[0]
    assert [line.split()[:3] for line in only[3:]] == [["web03", "-", "UNREACHABLE"], ["web06", "worker", "STOPPED"]]
    tiny = _screen(poller, 4, problems_only=True)
    assert tiny[1].startswith("6 hosts, 25 processes") and tiny[3] == \
        "... 2 more rows, 2 not RUNNING (enlarge the terminal, or p)"
    every = _screen(poller, 60)
    assert len(every) == 3 + 26 and every[-1].startswith("web06")     # title, summary, header; 25 processes + web03
    poller.stop()
