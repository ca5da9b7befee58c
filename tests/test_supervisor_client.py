"""The XML-RPC client's parsing and error translation, over a fake pipe.

The real wire (SSH channel, supervisord) is covered by the fleet tests; these
pin down how answers and faults become herd's types and messages.
"""

import socket
import xmlrpc.client

import pytest

from herd.errors import ConnectError, HostTimeout, SupervisorFault, SupervisorUnavailable
from herd.supervisor.client import SupervisorClient
from herd.supervisor.models import ProcessState
from herd.supervisor.transport import HTTPStatusError


class FakePipe:
    """Answers each POST with a canned body or raises a canned error.

    The release a client learns (getSupervisorVersion, alone or first in the
    multicall of a connection's first getAllProcessInfo) is 4.2.5, and a
    canned fault answers both calls of that multicall.
    """

    connections = 1

    def __init__(self, answer):
        self.answer = answer
        self.bodies = []

    def post(self, body):
        self.bodies.append(body)
        if isinstance(self.answer, BaseException):
            raise self.answer
        params, method = xmlrpc.client.loads(body)
        if method == "supervisor.getSupervisorVersion":
            return response("4.2.5")
        if method == "system.multicall" and params[0][0]["methodName"] == "supervisor.getSupervisorVersion":
            try:
                (value,), _ = xmlrpc.client.loads(self.answer)
            except xmlrpc.client.Fault as f:
                value = {"faultCode": f.faultCode, "faultString": f.faultString}
                return response([value, value])
            except Exception:
                return self.answer      # not XML-RPC at all: as canned
            return response(["4.2.5", value])
        return self.answer

    def close(self):
        pass


def client(answer, creds=False):
    return SupervisorClient("web01", FakePipe(answer), endpoint="unix:///tmp/s.sock", timeout=2,
                            has_credentials=creds)


def response(value):
    return xmlrpc.client.dumps((value,), methodresponse=True).encode()


def fault(code, text):
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, text), methodresponse=True).encode()


INFO = {"name": "tornado-8080", "group": "tornado", "state": 20, "statename": "RUNNING", "pid": 880,
        "start": 100, "stop": 0, "now": 121, "description": "pid 880, uptime 0:00:21", "spawnerr": "",
        "exitstatus": 0, "stdout_logfile": "/l", "stderr_logfile": "/e"}


def test_all_process_info_is_typed():
    [p] = client(response([INFO])).all_process_info()
    assert p.fullname == "tornado:tornado-8080"
    assert p.state is ProcessState.RUNNING
    assert p.uptime == 21 and p.pid == 880


def test_multicall_returns_values_and_faults_in_order():
    c = client(response([["a"], {"faultCode": 10, "faultString": "BAD_NAME: nosuch"}, 3]))
    a, bad, three = c.multicall([("m.a", []), ("supervisor.getProcessInfo", ["nosuch"]), ("m.c", [1])])
    assert a == ["a"] and three == 3
    assert isinstance(bad, SupervisorFault) and bad.code == 10 and "nosuch" in bad.text
    body = xmlrpc.client.loads(c._pipe.bodies[-1])
    assert body[1] == "system.multicall"
    assert body[0][0][1] == {"methodName": "supervisor.getProcessInfo", "params": ["nosuch"]}


def test_fault_on_a_call_raises_supervisor_fault():
    with pytest.raises(SupervisorFault) as err:
        client(fault(70, "NOT_RUNNING: worker")).call("supervisor.stopProcess", "worker")
    assert err.value.code == 70


def test_missing_rpcinterface_is_named():
    with pytest.raises(SupervisorUnavailable) as err:
        client(fault(1, "UNKNOWN_METHOD")).all_process_info()
    assert str(err.value) == ("web01: supervisord has no [rpcinterface:supervisor] section "
                              "(it does not know supervisor.getAllProcessInfo)")


@pytest.mark.parametrize("creds,expected", [
    (True, "web01: supervisord refused the username/password (HTTP 401): check supervisor.username "
           "and password_env/password_file"),
    (False, "web01: supervisord requires a username and password (HTTP 401): set supervisor.username "
            "and password_env or password_file"),
])
def test_401(creds, expected):
    with pytest.raises(SupervisorUnavailable) as err:
        client(HTTPStatusError(401, "Unauthorized"), creds).all_process_info()
    assert str(err.value) == expected


def test_not_supervisord():
    with pytest.raises(SupervisorUnavailable, match="did not answer with XML-RPC"):
        client(b"<html>hello</html>").all_process_info()


def test_timeout_and_lost_connection():
    with pytest.raises(HostTimeout, match="did not answer supervisor.getAllProcessInfo within 2 s"):
        client(socket.timeout()).all_process_info()
    with pytest.raises(ConnectError, match="connection to supervisord lost"):
        client(BrokenPipeError(32, "Broken pipe")).all_process_info()
