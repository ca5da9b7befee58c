"""When this process started, as near as Linux tells: below the CLI and the keeper, which both need it.

``herd check`` counts its --timeout from the start of the process (the
caller, Nagios or cron, measures from there), and a command run by a
keeper counts it from the start of the user's ``herd`` process, which the
keeper's client sends along.  Imports nothing of herd.
"""

from __future__ import annotations

import os
import time


def process_start() -> float:
    """time.monotonic() when this process started, as near as Linux tells (the keeper client sends it)."""
    return time.monotonic() - process_age()


def process_age() -> float:
    """Seconds since this process started (Linux /proc); 0 when unknown or implausible."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0
    # a container may show its own uptime against the host's start times: distrust odd values
    return age if 0.0 <= age < 5.0 else 0.0
