"""The inventory: which hosts exist, how to reach them, and how to pick some.

``find_inventory`` locates the file, ``load_inventory`` validates it into
frozen dataclasses, ``select_hosts`` applies the command line's selectors.
``read_inventory`` takes herd's YAML or an Ansible inventory (ansible.py).
docs/inventory.md is the user-facing reference for the file format.
"""

from herd.inventory.loader import load_inventory
from herd.inventory.locate import find_inventory
from herd.inventory.model import DEFAULT_SOCKET, Host, Inventory, SupervisorTarget
from herd.inventory.read import read_inventory
from herd.inventory.select import select_hosts

__all__ = [
    "DEFAULT_SOCKET",
    "Host",
    "Inventory",
    "SupervisorTarget",
    "find_inventory",
    "load_inventory",
    "read_inventory",
    "select_hosts",
]
