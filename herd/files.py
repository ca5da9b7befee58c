"""Writing files so that a reader never sees half of one.

Used for ``herd check --output`` (node_exporter's textfile collector reads it
at any moment) and for herd's own state files (a roll's progress must
survive a crash mid-write).
"""

from __future__ import annotations

import os
import tempfile


def write_atomically(path: str | os.PathLike[str], text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place.

    A reader sees the old file or the new one, never a part.  The temporary
    name starts with a dot and ends in .tmp (a textfile collector ignores
    it); it is removed if anything fails.  ``mode`` defaults to what a new
    file gets (0666 less the umask); herd's state files pass 0600.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
