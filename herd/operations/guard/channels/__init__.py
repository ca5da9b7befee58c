"""Where notifications go: channels, each behind its own sender thread so none can hold up guard.

A Channel takes a Notification with ``send()``, which never blocks: the
message is queued (bounded) and a thread of the channel delivers it, with a
timeout per attempt and a bounded retry with backoff.  A hanging or failing
endpoint delays only its own queue; detection and the other channels go on.
When the queue is full the message is dropped and counted (``dropped``), a
warning is logged, and the next delivered message carries the count.

The webhook lives here; the others each in their own module, all on
QueuedChannel: slack.py (a Slack-compatible incoming webhook: WebhookChannel
with Slack's payload), smtp.py (email), command.py (a command on the
controller); render.py is the plain text that email and Slack show.

The webhook URL may carry a secret token (Slack's and most others' do): it is
never logged or shown; ``redact()`` gives what may be shown (scheme and host).
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import IO, Any, Protocol

from herd import __version__, text
from herd.operations.guard.incidents import Notification

log = logging.getLogger("herd.guard")

QUEUE_SIZE = 100
TIMEOUT = 10.0                 # seconds per attempt
ATTEMPTS = 4                   # one try and three retries
BACKOFF = (1.0, 2.0, 4.0)      # seconds before each retry


class Channel(Protocol):
    name: str                  # what logs and the start line call it (never a secret)

    def send(self, note: Notification) -> None:
        """Take the message for delivery; must return at once."""

    def close(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout`` seconds, then stop (what is left is counted)."""


class DeliveryError(Exception):
    """An attempt failed; ``retry`` False when trying again cannot help (a 4xx answer)."""

    def __init__(self, reason: str, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason, self.retry = reason, retry


def redact(url: str) -> str:
    """What may be shown of a URL: ``https://hooks.example.com/...`` (path, query and credentials hidden)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a URL that does not parse)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}/..."


def check_webhook_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (one line, the URL redacted), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port                                  # noqa: B018 - raises on a bad port
    except ValueError:
        return "the webhook URL does not parse"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        scheme = text.shorten(parts.scheme or "", 10)
        return f"the webhook URL must be http:// or https:// with a host (got {scheme}://...)"
    return None


class QueuedChannel:
    """A bounded queue and one sender thread; subclasses implement ``deliver`` (one attempt)."""

    name = "channel"

    def __init__(self, *, queue_size: int = QUEUE_SIZE, attempts: int = ATTEMPTS,
                 backoff: tuple[float, ...] = BACKOFF) -> None:
        self.attempts, self.backoff = max(1, attempts), backoff
        self.queue: queue.Queue[Notification | None] = queue.Queue(maxsize=queue_size)
        self.sent = 0
        self.failed = 0            # messages given up after every attempt
        self.dropped = 0           # messages dropped because the queue was full
        self._unsaid = 0           # drops the next delivered message has not told yet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"herd-guard-{self.name}", daemon=True)
        self._thread.start()

    def deliver(self, note: Notification, dropped: int) -> None:
        raise NotImplementedError

    def send(self, note: Notification) -> None:
        try:
            self.queue.put_nowait(note)
        except queue.Full:
            self.dropped += 1
            self._unsaid += 1
            log.warning("%s: queue full (%d waiting): message dropped (%d so far): %s", self.name,
                        self.queue.qsize(), self.dropped, text.field(note.summary()))

    def close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            self.queue.put(None, timeout=max(0.0, timeout))
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()           # cut a retry's wait short; an attempt in flight ends with its timeout
        left = self.queue.qsize()
        if self._thread.is_alive() or left:
            log.warning("%s: stopped with %d message(s) undelivered", self.name, max(left - 1, 0) or 1)

    def _run(self) -> None:
        while True:
            note = self.queue.get()
            if note is None or self._stop.is_set():
                return
            self._attempt(note)

    def _attempt(self, note: Notification) -> None:
        told = self._unsaid        # drops after this point are told by a later message
        for attempt in range(self.attempts):
            try:
                self.deliver(note, told)
            except DeliveryError as exc:
                last = exc
                if not exc.retry or attempt + 1 == self.attempts:
                    break
                wait = self.backoff[min(attempt, len(self.backoff) - 1)] if self.backoff else 0.0
                log.info("%s: attempt %d failed (%s); again in %gs", self.name, attempt + 1,
                         text.field(exc.reason), wait)
                if self._stop.wait(wait):
                    break
            else:
                self.sent += 1
                self._unsaid -= told
                return
        self.failed += 1
        log.warning("%s: not delivered after %d attempt(s): %s: %s", self.name, attempt + 1,
                    text.field(last.reason), text.field(note.summary()))


class WebhookChannel(QueuedChannel):
    """A JSON POST of ``Notification.body()`` (plus ``dropped``) to a URL; 2xx is delivered.

    A 5xx, 408, 429, a timeout or a connection failure is retried; another
    4xx is not (the endpoint refuses the message: sending it again cannot help).
    """

    kind = "webhook"               # the name's first word (slack.py's subclass says "slack")

    def __init__(self, url: str, *, timeout: float = TIMEOUT, **kwargs: Any) -> None:
        self.url, self.timeout = url, timeout
        self.name = f"{self.kind} {redact(url)}"
        super().__init__(**kwargs)

    def payload(self, note: Notification, dropped: int) -> dict[str, Any]:
        """The JSON document POSTed: herd's own schema (docs/guard.md)."""
        return dict(note.body(), dropped=dropped)

    def deliver(self, note: Notification, dropped: int) -> None:
        data = json.dumps(self.payload(note, dropped), ensure_ascii=True).encode()
        request = urllib.request.Request(self.url, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": f"herd-guard/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:   # noqa: S310 - http(s) checked
                answer.read(65536)
        except urllib.error.HTTPError as exc:
            retry = exc.code >= 500 or exc.code in (408, 429)
            raise DeliveryError(f"HTTP {exc.code}", retry) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            # never str(exc) of the request alone: some errors quote the URL, and the URL may hold a token
            raise DeliveryError(f"{type(exc).__name__}: {text.shorten(str(reason).replace(self.url, '...'), 120)}") \
                from exc


class PrintChannel:
    """--dry-run: each message printed (one JSON line on ``out``) instead of sent."""

    name = "dry-run (printed, not sent)"

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.sent = 0

    def send(self, note: Notification) -> None:
        self.out.write("would send: " + json.dumps(note.body(), ensure_ascii=True) + "\n")
        self.out.flush()
        self.sent += 1

    def close(self, timeout: float) -> None:
        pass
