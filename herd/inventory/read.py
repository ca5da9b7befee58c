"""Read whichever inventory ``path`` is: herd's own YAML, or an Ansible inventory.

The choice is made from the path and the content (herd's YAML has the
top-level keys ``hosts``, ``defaults``, ``groups``, ``expect``, ``check``;
see :func:`herd.inventory.ansible.is_ansible_inventory`), so ``-i`` takes
either without a flag saying which.
"""

from __future__ import annotations

from herd.inventory.model import Inventory


def read_inventory(path: str, *, skip_vaulted: bool = False) -> Inventory:
    """The validated Inventory at ``path``, herd's format or Ansible's.

    ``skip_vaulted``: go on without an Ansible inventory's vault-encrypted
    group_vars/host_vars files (herd/inventory/foreign.py) instead of
    refusing it.
    """
    from herd.inventory.ansible import is_ansible_inventory, load_ansible_inventory
    from herd.inventory.loader import load_inventory

    if is_ansible_inventory(path):
        return load_ansible_inventory(path, skip_vaulted=skip_vaulted)
    return load_inventory(path)
