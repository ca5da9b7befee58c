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
    SupervisorAuthRefused,
    SupervisorFault,
    SupervisorUnavailable,
    Unsupported,
)
from herd.supervisor import xmlsafe
from herd.supervisor.capabilities import Capabilities, Feature, learnt
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

    @property
    def connections(self) -> int:
        """How many times the pipe was (re)opened: a new one may lead to another supervisord."""

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
        # what this supervisord can do, and the pipe connection it was learnt on (a reopened pipe
        # may lead to another supervisord: one upgraded and started again under a kept session)
        self._capabilities: tuple[int, Capabilities] | None = None

    def call(self, method: str, *params: Any, memo: AnswerMemo | None = None, what: str | None = None) -> Any:
        """One XML-RPC call; a fault raises SupervisorFault.

        ``memo`` (one per repeated call, herd/supervisor/repeat.py) lets an
        answer that moved only with the clock reuse the last one's parse.
        ``what`` names the call in errors when it is not ``method`` (a
        multicall made for one call the user knows).
        """
        what = what or method
        body = xmlrpc.client.dumps(tuple(params), method).encode()
        data = self._post(what, body)
        try:
            (result,), _ = (memo.loads if memo is not None else xmlsafe.loads)(data)
        except xmlrpc.client.Fault as fault:
            raise self._fault(method, fault.faultCode, fault.faultString) from fault
        except xmlsafe.Refused as exc:
            raise SupervisorUnavailable(self.host, f"{self.endpoint} answered {what} with {exc}; "
                                                   f"refused (supervisord never sends one)") from exc
        except (xml.parsers.expat.ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError) as exc:
            raise SupervisorUnavailable(self.host, f"{self.endpoint} did not answer with XML-RPC "
                                                   f"(is it supervisord?)") from exc
        return result

    def multicall(self, calls: Sequence[Call], *, memo: AnswerMemo | None = None) -> list[Any]:
        """Several calls, in one round trip (system.multicall) where the release allows it.

        Returns one entry per call: the value, or a SupervisorFault instance
        (not raised) for a call that faulted.  supervisord returns bare values,
        not the one-element lists of the spec, so stdlib MultiCall is not used.
        Before 3.2.0 supervisord's multicall runs every call up front and
        answers the calls past the second one per turn of its event loop (up
        to a second each on a quiet host; before 3.0 it runs only the first):
        there the calls go one after the other on the kept-alive pipe, with
        the same answers (herd/supervisor/capabilities.py).
        """
        if not calls:
            return []
        if not self.capabilities().batches:
            return [self._one_by_one(method, params) for method, params in calls]
        payload = [{"methodName": m, "params": list(p)} if p else {"methodName": m} for m, p in calls]
        results = self.call("system.multicall", payload, memo=memo)
        if not isinstance(results, list) or len(results) != len(calls):
            raise SupervisorUnavailable(self.host, f"{self.endpoint} answered system.multicall with something that "
                                                   f"is not one result per call (is it supervisord?)")
        return [self._multicall_result(call[0], r) for call, r in zip(calls, results)]

    def _one_by_one(self, method: str, params: Sequence[Any]) -> Any:
        try:
            return self.call(method, *params)
        except SupervisorFault as fault:
            return fault

    # -- what this supervisord can do -------------------------------------------

    def capabilities(self) -> Capabilities:
        """The release at the other end, learnt once per connection (herd/supervisor/capabilities.py).

        Usually learnt for free: the first all_process_info of a connection
        asks getSupervisorVersion in the same round trip.
        """
        known = self._known()
        if known is None:
            known = self._remember(self.call("supervisor.getSupervisorVersion"))
        return known

    def require(self, feature: Feature) -> Capabilities:
        """The capabilities, or Unsupported naming the release and the one that added ``feature``.

        A feature that is a method is looked for in system.listMethods (asked
        once per connection, the first time a feature needs it).
        """
        capabilities = self.capabilities()
        if feature.method is not None and capabilities.methods is None:
            capabilities = self._remember(capabilities.version, self.call("system.listMethods"))
        if not capabilities.has(feature):
            raise Unsupported(self.host, capabilities.lacks_sentence(feature))
        return capabilities

    def _known(self) -> Capabilities | None:
        known = self._capabilities
        if known is not None and known[0] == self._pipe.connections:
            return known[1]
        return None

    def _remember(self, version: object, methods: object = None) -> Capabilities:
        capabilities = learnt(version, methods if isinstance(methods, list) else None)
        self._capabilities = (self._pipe.connections, capabilities)
        return capabilities

    def _learning_call(self, method: str, memo: AnswerMemo | None = None) -> Any:
        """``call(method)``, with the release learnt in the same round trip when it is not known yet.

        A multicall of two calls without parameters answers right and at once
        on every release from 3.0; before 3.0 it runs only the first
        (getSupervisorVersion), and ``method`` is then called on its own.
        """
        if self._known() is not None:
            return self.call(method, memo=memo)
        answers = self.call("system.multicall", [{"methodName": "supervisor.getSupervisorVersion"},
                                                 {"methodName": method}], what=method)
        if not isinstance(answers, list) or len(answers) not in (1, 2):
            raise SupervisorUnavailable(self.host, f"{self.endpoint} answered {method} with something that "
                                                   f"is not one result per call (is it supervisord?)")
        version = self._multicall_result(method, answers[0])     # no rpcinterface: named after ``method``
        if isinstance(version, SupervisorFault):
            raise SupervisorUnavailable(self.host, f"{self.endpoint} did not say which supervisord it is "
                                                   f"({version.text})")
        self._remember(version)
        if len(answers) == 1:
            return self.call(method, memo=memo)
        result = self._multicall_result(method, answers[1])
        if isinstance(result, SupervisorFault):
            raise result
        return result

    def _multicall_result(self, method: str, result: Any) -> Any:
        if isinstance(result, dict) and "faultCode" in result:
            code = result["faultCode"]
            error = self._fault(method, code if isinstance(code, int) else -1, str(result.get("faultString", "")))
            if not isinstance(error, SupervisorFault):
                raise error  # the host cannot serve at all: not a per-call answer
            return error
        return result

    def _knows_supervisor(self) -> bool:
        """Whether the supervisor. namespace answered (getSupervisorVersion is in it): a method it lacks
        is then the release's doing, not a missing [rpcinterface:supervisor]."""
        return self._known() is not None

    # -- typed calls -----------------------------------------------------

    def all_process_info(self) -> list[ProcessInfo]:
        answer = self._learning_call("supervisor.getAllProcessInfo", memo=self._process_info_memo)
        try:
            return [ProcessInfo.from_rpc(i) for i in answer]
        except (TypeError, ValueError, AttributeError) as exc:
            raise SupervisorUnavailable(self.host, f"{self.endpoint} answered getAllProcessInfo with something "
                                                   f"that is not a list of processes (is it supervisord?)") from exc

    def close(self) -> None:
        self._pipe.close()

    # -- error translation -------------------------------------------------

    def _post(self, method: str, body: bytes) -> bytes:
        try:
            return self._pipe.post(body)
        except HerdError:
            raise
        except HTTPStatusError as exc:
            raise self._http_error(exc) from exc
        except AnswerTooLarge as exc:
            limit = self._pipe.max_answer / (1024 * 1024)
            raise SupervisorUnavailable(self.host, f"supervisord's answer to {method} is larger than {limit:g} MB "
                                                   f"(herd's limit for one answer); its channel was closed") from exc
        except (socket.timeout, TimeoutError) as exc:
            raise HostTimeout(self.host, f"supervisord did not answer {method} within {self.timeout:g} s") from exc
        except http.client.IncompleteRead as exc:
            raise ConnectError(self.host, f"supervisord closed the connection in the middle of its answer "
                                          f"to {method}") from exc
        except (http.client.RemoteDisconnected, EOFError) as exc:
            raise ConnectError(self.host, f"supervisord closed the connection during {method} "
                                          f"(is it restarting or shutting down?)") from exc
        except http.client.HTTPException as exc:  # BadStatusLine, LineTooLong, too many headers...: never quoted
            raise SupervisorUnavailable(self.host, f"{self.endpoint} answered {method} with something that is "
                                                   f"not supervisord's HTTP (is it supervisord?)") from exc
        except OSError as exc:
            raise ConnectError(self.host, f"connection to supervisord lost during {method}: "
                                          f"{exc.strerror or exc.__class__.__name__}") from exc

    def _http_error(self, exc: HTTPStatusError) -> SupervisorUnavailable:
        if exc.status == 401:
            if self._has_credentials:
                why = "supervisord refused the username/password (HTTP 401): check supervisor.username " \
                      "and password_env/password_file"
            else:
                why = "supervisord requires a username and password (HTTP 401): set supervisor.username " \
                      "and password_env or password_file"
            return SupervisorAuthRefused(self.host, why)
        return SupervisorUnavailable(self.host, f"{self.endpoint} answered HTTP {exc.status} {exc.reason} "
                                                f"(is it supervisord's XML-RPC interface?)")

    def _fault(self, method: str, code: int, text: str) -> HerdError:
        if code == Faults.UNKNOWN_METHOD and method.startswith("supervisor.") and not self._knows_supervisor():
            return SupervisorUnavailable(self.host, "supervisord has no [rpcinterface:supervisor] section "
                                                    f"(it does not know {method})")
        if code == Faults.SHUTDOWN_STATE:
            return SupervisorUnavailable(self.host, "supervisord is restarting or shutting down "
                                                    "(a reload or shutdown is under way: SHUTDOWN_STATE)")
        return SupervisorFault(code, text)
