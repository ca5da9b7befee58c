"""Start-up speed for the ``herd`` command: defer an optional import paramiko makes.

paramiko.config imports invoke at import time, only to run ``Match exec``
lines of ~/.ssh/config; invoke brings unittest.mock and asyncio with it:
~40% of ``import paramiko`` (scripts/bench measured it).  The command line
puts a stand-in for invoke in sys.modules that imports the real module on
first use.  Only the ``herd`` entry point does this: importing herd as a
library changes nothing in sys.modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _Deferred(types.ModuleType):
    """Stands in sys.modules for a module that is imported on first use."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, name)


def defer_optional_imports() -> None:
    """Install the stand-in for invoke, unless paramiko (or invoke) is already imported."""
    name = "invoke"
    if "paramiko" in sys.modules or name in sys.modules:
        return
    if importlib.util.find_spec(name) is not None:
        sys.modules[name] = _Deferred(name)
