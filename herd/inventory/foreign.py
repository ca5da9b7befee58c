"""Files herd recognises but does not read: ansible-vault files and inventory plugin configurations.

Both are made for tools herd does not run.  Taken for an inventory they
would be misread (a vault file's ciphertext lines look like INI host
names; a plugin configuration like herd's own YAML with an unknown key),
so each reader asks here first and refuses them in one line that says
what the file is and what to do instead.

* **ansible-vault**: a file encrypted whole starts with
  ``$ANSIBLE_VAULT;1.1;AES256`` (or ``$ANSIBLE_VAULT;1.2;AES256;LABEL``),
  then lines of hex.  herd holds no vault password and decrypts nothing.
  An inventory file (or a file of an inventory directory) is always
  refused: the hosts in it would be lost.  A ``group_vars``/``host_vars``
  file is refused too (Ansible stops there, and without it herd would
  resolve other settings than Ansible), unless the user chooses to go on
  without it (``--skip-vaulted`` or ``HERD_SKIP_VAULTED=1``), and then a
  warning names it on every run.  Inline ``!vault`` values are not here:
  the readers keep them unread, and refuse one only where herd needs its
  value (herd/inventory/ansible_hosts.py).
* **Inventory plugins**: a YAML mapping whose top-level ``plugin`` key is
  a name (``plugin: constructed``, ``plugin: amazon.aws.aws_ec2``) is a
  plugin's configuration, whatever its other keys (``groups``, ``compose``,
  ``keyed_groups``...) are.
"""

from __future__ import annotations

import logging

from yaml.nodes import MappingNode, Node, ScalarNode

from herd.errors import InventoryError
from herd.text import shorten

__all__ = ["SKIP_VAULTED_ENV", "is_vault_text", "plugin_key", "plugin_refusal", "skip_vaulted_warning",
           "vault_file_refusal", "vault_vars_refusal"]

log = logging.getLogger("herd")

SKIP_VAULTED_ENV = "HERD_SKIP_VAULTED"
_HEADER = "$ANSIBLE_VAULT;"


def is_vault_text(text: str) -> bool:
    """A whole file encrypted with ansible-vault (its first non-blank line is the vault header)."""
    return text.lstrip().startswith(_HEADER)


def vault_file_refusal(path: str) -> InventoryError:
    """An inventory file (or a file of an inventory directory) that is a vault."""
    return InventoryError(f"encrypted with ansible-vault; herd does not decrypt vaults: write the hosts in "
                          f"plain text (ansible-vault view {path} shows them), or use herd's own YAML",
                          file=path)


def vault_vars_refusal(path: str) -> InventoryError:
    """A group_vars/host_vars file that is a vault, when the user did not say to go on without it."""
    return InventoryError("encrypted with ansible-vault; herd does not decrypt vaults: keep the settings herd "
                          "needs in a plain file beside it, or go on without this file: --skip-vaulted "
                          f"(or {SKIP_VAULTED_ENV}=1)", file=path)


def skip_vaulted_warning(path: str) -> None:
    """The line that says a vault-encrypted vars file is left out, on every run (not only with -v)."""
    log.warning("%s: encrypted with ansible-vault; going on without it (--skip-vaulted): its variables "
                "are not applied", path)


def plugin_key(root: Node | None) -> tuple[ScalarNode, str | None] | None:
    """The top-level ``plugin`` key of a YAML document and the plugin's name, if it has one.

    Ansible takes any top-level ``plugin`` key that is not a group (a
    mapping) for a plugin's; its value names the plugin.
    """
    if not isinstance(root, MappingNode):
        return None
    for knode, vnode in root.value:
        if isinstance(knode, ScalarNode) and knode.value == "plugin" and not isinstance(vnode, MappingNode):
            named = isinstance(vnode, ScalarNode) and vnode.value
            return knode, str(vnode.value) if named else None
    return None


def plugin_refusal(path: str, knode: ScalarNode, name: str | None) -> InventoryError:
    """A plugin configuration given as an inventory."""
    which = f" ({shorten(name, 60)})" if name else ""
    return InventoryError(f"this is the configuration of an Ansible inventory plugin{which}, which herd cannot "
                          "run; herd reads only INI and YAML inventories (ansible-inventory -i FILE --list "
                          "--yaml writes one)",
                          file=path, line=knode.start_mark.line + 1, column=knode.start_mark.column + 1,
                          key="plugin")
