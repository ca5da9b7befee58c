"""SSH: resolve targets, verify host keys, authenticate, open tunnels to supervisord."""

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


def _defer(name: str) -> None:
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _Deferred(name)


# paramiko.config imports invoke at import time, only to run `Match exec`
# lines of ~/.ssh/config; invoke brings unittest.mock and asyncio with it:
# ~40% of `import paramiko` (scripts/bench measured it).  Defer it until used.
if "paramiko" not in sys.modules:
    _defer("invoke")
