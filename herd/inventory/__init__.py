"""The inventory: which hosts exist, how to reach them, and how to pick some.

``find_inventory`` locates the file, ``load_inventory`` validates it into
frozen dataclasses, ``select_hosts`` applies the command line's selectors.
``read_inventory`` takes herd's YAML or an Ansible inventory (ansible.py).
docs/inventory.md is the user-facing reference for the file format.

The names are imported on first use (PEP 562): finding the file
(``herd.inventory.locate``) must not cost the YAML stack, which a command
handed to a keeper (herd/keeper/client.py) never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from herd.inventory.loader import load_inventory as load_inventory
    from herd.inventory.locate import find_inventory as find_inventory
    from herd.inventory.model import DEFAULT_SOCKET as DEFAULT_SOCKET
    from herd.inventory.model import Host as Host
    from herd.inventory.model import Inventory as Inventory
    from herd.inventory.model import SupervisorTarget as SupervisorTarget
    from herd.inventory.read import read_inventory as read_inventory
    from herd.inventory.select import select_hosts as select_hosts

_WHERE = {
    "DEFAULT_SOCKET": "model", "Host": "model", "Inventory": "model", "SupervisorTarget": "model",
    "find_inventory": "locate", "load_inventory": "loader", "read_inventory": "read", "select_hosts": "select",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'herd.inventory' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"herd.inventory.{module}"), name)
    globals()[name] = value
    return value
