"""A supervisord XML-RPC client for one host, with typed results.

All errors leave as herd errors naming the host: a fault on a call becomes
``SupervisorFault`` (the host is fine, the request was not), while anything
that means supervisord cannot be used at all becomes ``SupervisorUnavailable``
(401, no rpcinterface, not an XML-RPC server, not HTTP at all, an answer
larger than the transport's limit), ``HostTimeout`` (a call not over within
the timeout, however slowly its answer came) or ``ConnectError``.  Messages
never quote the bytes a host sent (no repr of them); passwords are never
part of any message.
"""

from __future__ import annotations

import http.client
import socket
import xml.parsers.expat
import xmlrpc.client
from typing import Any, Protocol, Sequence

from herd.errors import (
    ConnectError,
    Faults,
    HerdError,
    HostTimeout,
    SupervisorFault,
    SupervisorUnavailable,
)
from herd.supervisor import xmlsafe
from herd.supervisor.models import ProcessInfo
from herd.supervisor.repeat import AnswerMemo
from herd.supervisor.transport import AnswerTooLarge, HTTPStatusError


class Pipe(Protocol):
    """What the client needs of its transport: one XML-RPC body in, the answer out.

    herd.supervisor.transport.RPCPipe over an SSH channel; herd.testing.fake.FakePipe in process.
    """

    @property
    def max_answer(self) -> int:
        """Bytes; a longer answer fails with AnswerTooLarge."""

    def post(self, body: bytes) -> bytes: ...

    def close(self) -> None: ...

Call = tuple[str, Sequence[Any]]


class SupervisorClient:
    """Calls supervisord's XML-RPC methods on one host over one kept-alive pipe."""

    def __init__(self, host: str, pipe: Pipe, *, endpoint: str, timeout: float,
                 has_credentials: bool = False) -> None:
        self.host = host
        self.endpoint = endpoint
        self.timeout = timeout
        self._pipe = pipe
        self._has_credentials = has_credentials
        # status asks every host the same on every command of a shell or keeper: the last answer's
        # parse is reused when only supervisord's clock moved (herd/supervisor/repeat.py)
        self._process_info_memo = AnswerMemo()

    def call(self, method: str, *params: Any, memo: AnswerMemo | None = None) -> Any:
        """One XML-RPC call; a fault raises SupervisorFault.

        ``memo`` (one per repeated call, herd/supervisor/repeat.py) lets an
        answer that moved only with the clock reuse the last one's parse.
        """
        body = xmlrpc.client.dumps(tuple(params), method).encode()
        data = self._post(method, body)
        try:
            (result,), _ = (memo.loads if memo is not None else xmlsafe.loads)(data)
        except xmlrpc.client.Fault as fault:
            raise self._fault(method, fault.faultCode, fault.faultString) from None
        except xmlsafe.Refused as exc:
            raise SupervisorUnavailable(self.host, f"{self.endpoint} answered {method} with {exc}; "
                                                   f"refused (supervisord never sends one)") from None
        except (xml.parsers.expat.ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError) as exc:
            raise SupervisorUnavailable(self.host, f"{self.endpoint} did not answer with XML-RPC "
                                                   f"(is it supervisord?)") from exc
        return result

    def multicall(self, calls: Sequence[Call], *, memo: AnswerMemo | None = None) -> list[Any]:
        """Several calls in one round trip (system.multicall).

        Returns one entry per call: the value, or a SupervisorFault instance
        (not raised) for a call that faulted.  supervisord returns bare values,
        not the one-element lists of the spec, so stdlib MultiCall is not used.
        """
        if not calls:
            return []
        payload = [{"methodName": m, "params": list(p)} for m, p in calls]
        results = self.call("system.multicall", payload, memo=memo)
        if not isinstance(results, list) or len(results) != len(calls):
            raise SupervisorUnavailable(self.host, f"{self.endpoint} answered system.multicall with something that "
                                                   f"is not one result per call (is it supervisord?)")
        return [self._multicall_result(call[0], r) for call, r in zip(calls, results)]

    def _multicall_result(self, method: str, result: Any) -> Any:
        if isinstance(result, dict) and "faultCode" in result:
            code = result["faultCode"]
            error = self._fault(method, code if isinstance(code, int) else -1, str(result.get("faultString", "")))
            if not isinstance(error, SupervisorFault):
                raise error  # the host cannot serve at all: not a per-call answer
            return error
        return result

    # -- typed calls -----------------------------------------------------

    def all_process_info(self) -> list[ProcessInfo]:
        answer = self.call("supervisor.getAllProcessInfo", memo=self._process_info_memo)
        try:
            return [ProcessInfo.from_rpc(i) for i in answer]
        except (TypeError, ValueError, AttributeError):
            raise SupervisorUnavailable(self.host, f"{self.endpoint} answered getAllProcessInfo with something "
                                                   f"that is not a list of processes (is it supervisord?)") from None

    def close(self) -> None:
        self._pipe.close()

    # -- error translation -------------------------------------------------

    def _post(self, method: str, body: bytes) -> bytes:
        try:
            return self._pipe.post(body)
        except HerdError:
            raise
        except HTTPStatusError as exc:
            raise self._http_error(exc) from None
        except AnswerTooLarge:
            limit = self._pipe.max_answer / (1024 * 1024)
            raise SupervisorUnavailable(self.host, f"supervisord's answer to {method} is larger than {limit:g} MB "
                                                   f"(herd's limit for one answer); its channel was closed") from None
        except (socket.timeout, TimeoutError):
            raise HostTimeout(self.host, f"supervisord did not answer {method} within {self.timeout:g} s") from None
        except http.client.IncompleteRead:
            raise ConnectError(self.host, f"supervisord closed the connection in the middle of its answer "
                                          f"to {method}") from None
        except (http.client.RemoteDisconnected, EOFError):
            raise ConnectError(self.host, f"supervisord closed the connection during {method} "
                                          f"(is it restarting or shutting down?)") from None
        except http.client.HTTPException:  # BadStatusLine, LineTooLong, too many headers...: never quoted
            raise SupervisorUnavailable(self.host, f"{self.endpoint} answered {method} with something that is "
                                                   f"not supervisord's HTTP (is it supervisord?)") from None
        except OSError as exc:
            raise ConnectError(self.host, f"connection to supervisord lost during {method}: "
                                          f"{exc.strerror or exc.__class__.__name__}") from None

    def _http_error(self, exc: HTTPStatusError) -> SupervisorUnavailable:
        if exc.status == 401:
            if self._has_credentials:
                why = "supervisord refused the username/password (HTTP 401): check supervisor.username " \
                      "and password_env/password_file"
            else:
                why = "supervisord requires a username and password (HTTP 401): set supervisor.username " \
                      "and password_env or password_file"
            return SupervisorUnavailable(self.host, why)
        return SupervisorUnavailable(self.host, f"{self.endpoint} answered HTTP {exc.status} {exc.reason} "
                                                f"(is it supervisord's XML-RPC interface?)")

    def _fault(self, method: str, code: int, text: str) -> HerdError:
        if code == Faults.UNKNOWN_METHOD and method.startswith("supervisor."):
            return SupervisorUnavailable(self.host, "supervisord has no [rpcinterface:supervisor] section "
                                                    f"(it does not know {method})")
        if code == Faults.SHUTDOWN_STATE:
            return SupervisorUnavailable(self.host, "supervisord is shutting down")
        return SupervisorFault(code, text)
