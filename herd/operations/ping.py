"""Dead man's switch for ``herd check``: healthchecks.io-style pings.

``--ping URL``: GET URL/start before the check, POST URL/<exit code> with the
report after.  A ping never changes the check's result: its failure is a
sentence for stderr.  Messages name only scheme://host:port, since the
URL's path is the check's secret (whoever knows it can ping).
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

PING_BODY_MAX = 10_000      # bytes of the report sent with the exit-status ping


class Pinger:
    """healthchecks.io-style pings; failures go to stderr and change nothing else.

    Messages name only scheme://host:port: the URL's path is the check's
    secret (whoever knows it can ping).  Each ping runs in a daemon thread
    joined for at most ``timeout`` seconds, so even a hung DNS lookup cannot
    stretch the check.
    """

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        self.where = f"{parts.scheme}://{parts.hostname}{port}"

    def send(self, suffix: str, body: str | None = None) -> str | None:
        """Ping URL/suffix; None when it worked, else why not (one sentence, no secret)."""
        errors: list[str] = []
        thread = threading.Thread(target=self._request, args=(suffix, body, errors),
                                  name="herd-ping", daemon=True)
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            errors.append(f"no answer within {self.timeout:g} s")
        if errors:
            return f"ping {suffix} to {self.where} failed: {errors[0]}"
        return None

    def _request(self, suffix: str, body: str | None, errors: list[str]) -> None:
        import urllib.error
        import urllib.request

        data = None if body is None else body.encode("utf-8", "replace")[:PING_BODY_MAX]
        request = urllib.request.Request(f"{self.url}/{suffix}", data=data,
                                         method="GET" if data is None else "POST",
                                         headers={"User-Agent": "herd-check"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(1024)
        except urllib.error.HTTPError as exc:
            errors.append(f"HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            reason = exc.reason
            errors.append(getattr(reason, "strerror", None) or str(reason))
        except (OSError, ValueError) as exc:
            errors.append(getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__)
