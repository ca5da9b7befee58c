"""Readiness probes for the health gate, all run from the host itself through SSH.

``--http URL``: a GET through a direct-tcpip channel opened *on the host*
(so ``http://127.0.0.1:{port}/`` means the host's loopback, and no port has
to be reachable from the controller); 2xx and 3xx pass.
``--tcp PORT``: a direct-tcpip channel to 127.0.0.1:PORT on the host opens.
``--cmd COMMAND``: a shell command on the host exits 0.

Templates: ``{host}`` (inventory name), ``{address}`` (what SSH connects
to), ``{port}`` (the process name's numeric suffix: tornado-8081 -> 8081),
``{process}`` (the full process name).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from herd.errors import HerdError, UsageError
from herd.operations.rolling.plan import expand
from herd.fleet.access import HostAccess
from herd.supervisor.transport import PipeHTTPConnection


@dataclass(frozen=True)
class Probe:
    """One probe as given on the command line (still templated)."""

    kind: str  # "http", "tcp" or "cmd"
    template: str

    def describe(self) -> str:
        return f"--{self.kind} {self.template}"

    def check_template(self) -> None:
        """Refuse bad templates before anything is touched."""
        filled = expand(self.template, host="h", address="a", port="1", process="p")
        if self.kind == "http":
            parts = urlsplit(filled)
            if parts.scheme != "http" or not parts.hostname:
                raise UsageError(f"--http {self.template}: must be an http:// URL (https is not supported)")
        if self.kind == "tcp" and not expand(self.template, host="h", address="a", port="1", process="p").isdigit():
            raise UsageError(f"--tcp {self.template}: must be a port number or {{port}}")

    def run(self, host: HostAccess, values: dict[str, str], timeout: float) -> tuple[bool, str]:
        """(passed, what happened) — never raises for a failed probe."""
        target = expand(self.template, **values)
        try:
            if self.kind == "http":
                return _http(host, target, timeout)
            if self.kind == "tcp":
                return _tcp(host, int(target), timeout)
            return _cmd(host, target, timeout)
        except HerdError as exc:
            return False, f"{self.kind} probe: {exc.reason}"
        except (OSError, ValueError) as exc:
            return False, f"{self.kind} probe: {exc}"


def probe_from(http: str | None, tcp: str | None, cmd: str | None) -> Probe | None:
    """The one probe given (checked), or None; two at once is a usage error (CLI and herd web)."""
    given = [(k, v) for k, v in (("http", http), ("tcp", tcp), ("cmd", cmd)) if v]
    if len(given) > 1:
        raise UsageError("choose one probe: --http, --tcp or --cmd")
    if not given:
        return None
    probe = Probe(*given[0])
    probe.check_template()
    return probe


def _http(host: HostAccess, url: str, timeout: float) -> tuple[bool, str]:
    parts = urlsplit(url)
    address, port = parts.hostname or "127.0.0.1", parts.port or 80
    conn = PipeHTTPConnection(lambda: host.open_tcp(address, port, timeout), host=f"{address}:{port}")
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path, headers={"Connection": "close"})
        status = conn.getresponse().status
    finally:
        conn.close()
    return 200 <= status < 400, f"GET {url} -> {status}"


def _tcp(host: HostAccess, port: int, timeout: float) -> tuple[bool, str]:
    chan = host.open_tcp("127.0.0.1", port, timeout)
    chan.close()
    return True, f"tcp 127.0.0.1:{port} open"


def _cmd(host: HostAccess, command: str, timeout: float) -> tuple[bool, str]:
    result = host.run(command, timeout)
    if result.status is None:
        return False, f"'{command}' did not finish within {timeout:g} s"
    last = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
    detail = f"'{command}' exited {result.status}" + (f": {last[0]}" if result.status and last[0] else "")
    return result.status == 0, detail
