"""A command's stdout and stderr inside the keeper: bytes in the order written, for the client.

Each stream looks like the client's (its encoding, and ``isatty()`` as the
client's own stream), so click, herd's colour choice and the renderers
write exactly what they would have written in the client's process.
"""

from __future__ import annotations

import base64
import io
import threading


class _Sink(io.RawIOBase):
    def __init__(self, name: str, chunks: list[tuple[str, bytes]], lock: threading.Lock) -> None:
        self._name, self._chunks, self._lock = name, chunks, lock
        self.name = f"<herd keeper {name}>"     # what TextIOWrapper.name shows

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        with self._lock:
            self._chunks.append((self._name, bytes(data)))
        return len(data)


class _Stream(io.TextIOWrapper):
    def __init__(self, sink: _Sink, encoding: str, errors: str, tty: bool) -> None:
        super().__init__(sink, encoding=encoding, errors=errors, write_through=True)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


class Capture:
    """stdout and stderr of one request; ``frames()`` is the output as the protocol sends it."""

    def __init__(self, encoding: str, errors: str, stdout_tty: bool, stderr_tty: bool) -> None:
        self._chunks: list[tuple[str, bytes]] = []
        lock = threading.Lock()
        self.stdout = _Stream(_Sink("stdout", self._chunks, lock), encoding, errors, stdout_tty)
        self.stderr = _Stream(_Sink("stderr", self._chunks, lock), encoding, "backslashreplace", stderr_tty)

    def text(self) -> str:
        """stdout and stderr as written, as text (for the keeper's log when no client is there to get it)."""
        self._flush()
        return b"".join(data for _, data in list(self._chunks)).decode(self.stdout.encoding, "replace")

    def _flush(self) -> None:
        for stream in (self.stdout, self.stderr):
            try:
                stream.flush()
            except ValueError:
                pass

    def frames(self) -> list[list[str]]:
        self._flush()
        merged: list[tuple[str, bytearray]] = []
        for name, data in self._chunks:
            if merged and merged[-1][0] == name:
                merged[-1][1].extend(data)
            else:
                merged.append((name, bytearray(data)))
        return [[name, base64.b64encode(bytes(data)).decode()] for name, data in merged]
