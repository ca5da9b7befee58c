"""The ``herd`` command's first step: a command line for a running keeper goes there before click loads.

A warm command through the keeper (herd/keeper/client.py) needs the socket,
the frames and the command line, not click, yaml or paramiko: starting here
instead of in herd.cli saves the ~20 ms click costs to import.  Everything
else is herd.cli.main, unchanged.
"""

from __future__ import annotations

import sys
from typing import Sequence

from herd.errors import EXIT_INTERRUPTED   # errors.py imports nothing heavy


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``herd`` command: through a keeper when one serves it, else herd.cli.main."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = None if _never_kept(args) else _run_kept(args)
    except KeyboardInterrupt:
        sys.stderr.write("herd: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    if code is not None:
        sys.exit(code)
    from herd.cli import main as cli_main

    cli_main(args, keeper=False)


def _never_kept(args: list[str]) -> bool:
    """Help, completion, a bare ``herd``, a line click refuses: no keeper runs them, nor is its client imported."""
    import os

    from herd.keeper.route import SILENT, direct_reason

    return bool(os.environ.get("_HERD_COMPLETE")) or direct_reason(args, False) in SILENT


def _run_kept(args: list[str]) -> int | None:
    from herd.keeper.client import run_kept

    return run_kept(args)

