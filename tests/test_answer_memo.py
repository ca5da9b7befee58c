"""AnswerMemo (herd/supervisor/repeat.py): a repeated answer parsed again cheaply, always as xmlsafe parses it.

Answers are marshalled as supervisord marshals them (xmlrpc.client.dumps) from
the fake's process model, whose clock the tests move.
"""

from __future__ import annotations

import xmlrpc.client

import pytest

from herd.supervisor import xmlsafe
from herd.supervisor.repeat import AnswerMemo
from herd.testing.fake import FakeSupervisor, ProgramSpec


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def poll_answer(supervisor: FakeSupervisor) -> bytes:
    """The poller's multicall answer (getAllProcessInfo + getState), as bytes from the host."""
    result = supervisor.dispatch("system.multicall", ([{"methodName": "supervisor.getAllProcessInfo", "params": []},
                                                      {"methodName": "supervisor.getState", "params": []}],))
    return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True).encode()


@pytest.fixture
def host() -> tuple[FakeSupervisor, Clock]:
    clock = Clock()
    return FakeSupervisor([ProgramSpec("tornado", numprocs=3, numprocs_start=8080), ProgramSpec("worker"),
                           ProgramSpec("cron", autostart=False)], clock=clock), clock


def test_answers_that_moved_only_with_the_clock_reuse_the_parse_and_give_the_new_values(host) -> None:
    supervisor, clock = host
    memo = AnswerMemo()
    uptimes = []
    for second in range(4):
        clock.t += 1 if second < 3 else 3600 * 49      # the last poll: two days later
        data = poll_answer(supervisor)
        parsed = memo.loads(data)
        assert parsed == xmlsafe.loads(data)
        tornado = next(i for i in parsed[0][0][0] if i["name"] == "tornado-8080")
        uptimes.append(tornado["now"] - tornado["start"])
        assert tornado["description"].endswith(f"uptime {uptimes[-1] // 3600}:{uptimes[-1] // 60 % 60:02d}:"
                                                f"{uptimes[-1] % 60:02d}")
    assert uptimes == [61, 62, 63, 63 + 3600 * 49]
    assert memo.reused == 3


def test_a_real_change_is_parsed_in_full(host) -> None:
    supervisor, clock = host
    memo = AnswerMemo()
    memo.loads(poll_answer(supervisor))
    supervisor.dispatch("supervisor.stopProcess", ("worker", False))
    clock.t += 1
    data = poll_answer(supervisor)
    parsed = memo.loads(data)
    assert memo.reused == 0 and parsed == xmlsafe.loads(data)
    assert {i["name"]: i["statename"] for i in parsed[0][0][0]}["worker"] == "STOPPED"
    clock.t += 1
    assert memo.loads(poll_answer(supervisor)) == xmlsafe.loads(poll_answer(supervisor))
    assert memo.reused == 1     # the new state is what is reused from then on


def test_what_a_caller_does_to_a_result_does_not_reach_the_next_one(host) -> None:
    supervisor, clock = host
    memo = AnswerMemo()
    first = memo.loads(poll_answer(supervisor))
    first[0][0][0][0]["statename"] = "MANGLED"
    first[0][0][0].clear()
    clock.t += 1
    data = poll_answer(supervisor)
    assert memo.loads(data) == xmlsafe.loads(data) and memo.reused == 1


def test_control_characters_in_a_description_come_back_as_sent(host) -> None:
    supervisor, clock = host
    supervisor.dispatch("supervisor.stopProcess", ("worker", False))
    supervisor.processes["worker"].spawnerr = "bad\x1b[31m\rexit\x00"
    supervisor.processes["worker"].state = supervisor.processes["worker"].state.FATAL
    memo = AnswerMemo()
    for _ in range(2):
        clock.t += 1
        data = poll_answer(supervisor)
        parsed = memo.loads(data)
        assert parsed == xmlsafe.loads(data)
        assert {i["name"]: i["description"] for i in parsed[0][0][0]}["worker"] == "bad\x1b[31m\rexit\x00"
    assert memo.reused == 1


NOW = b"<member>\n<name>now</name>\n<value><int>%d</int></value>\n</member>\n"


def struct_answer(*members: bytes) -> bytes:
    return (b"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value><struct>\n"
            + b"".join(members) + b"</struct></value>\n</data></array></value>\n</param>\n</params>\n"
            b"</methodResponse>\n")


@pytest.mark.parametrize("trick", [
    b"<member><name>now</name><value><int>%d</int></value></member>",                      # a duplicate key
    b"<member><name>x</name><value><string><![CDATA[<name>now</name><value><int>%d</int>]]></string>"
    b"</value></member>",                                                                    # a member imitated
    b"<member><name>now2</name><value><i4>%d</i4></value></member>",                        # another spelling
])
def test_answers_whose_clock_fields_do_not_line_up_are_never_reused_and_still_parsed_right(trick) -> None:
    memo = AnswerMemo()
    for second in (1, 2, 3):
        data = struct_answer(NOW % (100 + second), trick % (200 + second))
        assert memo.loads(data) == xmlsafe.loads(data)
    assert memo.reused == 0


def test_a_fault_raises_as_xmlsafe_raises_it_and_keeps_nothing(host) -> None:
    supervisor, _ = host
    memo = AnswerMemo()
    fault = xmlrpc.client.dumps(xmlrpc.client.Fault(10, "BAD_NAME: x"), methodresponse=True).encode()
    for _ in range(2):
        with pytest.raises(xmlrpc.client.Fault):
            memo.loads(fault)
    data = poll_answer(supervisor)
    assert memo.loads(data) == xmlsafe.loads(data) and memo.reused == 0
    with pytest.raises(xmlsafe.Refused):
        memo.loads(b"<!DOCTYPE x [<!ENTITY a 'b'>]>" + data)


def test_a_kept_client_reuses_its_last_process_info_parse_and_reports_the_new_uptime(host) -> None:
    """SupervisorClient.all_process_info (status in a shell or a keeper) keeps its own memo."""
    from herd.testing.fake import FakeHost

    supervisor, clock = host
    client = FakeHost("web01", supervisor).client()
    client.capabilities()       # the release known: all_process_info is the plain call, not the learning one
    first = {p.name: p for p in client.all_process_info()}
    clock.t += 5
    second = {p.name: p for p in client.all_process_info()}
    assert client._process_info_memo.reused == 1
    assert second["tornado-8080"].now - first["tornado-8080"].now == 5
    assert second["tornado-8080"].description != first["tornado-8080"].description
    supervisor.dispatch("supervisor.stopProcess", ("worker", False))    # a real change: parsed in full
    third = {p.name: p for p in client.all_process_info()}
    assert third["worker"].statename in ("STOPPING", "STOPPED") and client._process_info_memo.reused == 1
