"""Load an Ansible inventory (a file or a directory) into herd's :class:`Inventory`.

What is read, as Ansible reads it:

* a file in INI or YAML format (``.yaml``/``.yml``/``.json`` are YAML,
  ``.ini`` and other extensions INI; a file without extension is YAML when
  it is a YAML mapping, else INI);
* a directory: every file in it, in name order, subdirectories too, except
  hidden files, ``group_vars``, ``host_vars``, ``vars_plugins`` and the
  extensions Ansible skips (``.md``, ``.txt``, ``.cfg``, ``.bak``, ``~``...);
* ``group_vars/`` and ``host_vars/`` beside the file (in the directory for
  a directory): ``NAME``, ``NAME.yml``, ``NAME.yaml`` or ``NAME.json``, the
  first that exists; a directory ``NAME/`` is every file in it, in name
  order, the later winning.

Inventory scripts, TOML and plugin configurations are refused (herd runs
nothing to read an inventory), and so are files encrypted whole with
ansible-vault (herd decrypts nothing), except that a vault-encrypted
group_vars/host_vars file is left out, with a warning, when the caller says
to go on without it (``skip_vaulted``: herd/inventory/foreign.py says
why).  Hosts whose ``ansible_connection`` is not SSH
(``local``, ``docker``...) are left out, since herd reaches hosts only
through SSH; ``-v`` names them.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

from herd.errors import InventoryError
from herd.inventory.ansible_hosts import make_host
from herd.inventory.ansible_ini import read_ini
from herd.inventory.ansible_tree import Tree, Var
from herd.inventory.ansible_yaml import read_vars_file, read_yaml, yaml_kind
from herd.inventory.foreign import (is_vault_text, plugin_key, plugin_refusal, skip_vaulted_warning,
                                    vault_file_refusal, vault_vars_refusal)
from herd.inventory.yamlnodes import compose, read_text
from herd.inventory.model import GroupNode, Inventory
from herd.inventory.targets import expand

__all__ = ["AnsibleSource", "is_ansible_inventory", "load_ansible_inventory", "read_ansible_source"]

log = logging.getLogger("herd")

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
_SKIPPED_NAMES = re.compile(r"^\.|^host_vars$|^group_vars$|^vars_plugins$")
_SKIPPED_EXTENSIONS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst",
                       ".orig", ".cfg", ".retry")


def is_ansible_inventory(path: str) -> bool:
    """Whether ``path`` is an Ansible inventory rather than herd's own YAML."""
    if os.path.isdir(path):
        return True
    ext = os.path.splitext(path)[1].lower()
    if ext in YAML_EXTENSIONS or not ext:
        try:
            text = read_text(path)
        except InventoryError:
            return False          # herd's loader reports it
        if is_vault_text(text):
            return True           # refused by the Ansible reader, wherever the file is
        kind = yaml_kind(text, path)
        return kind == "ansible" or (not ext and kind == "other")
    return True


@dataclass
class AnsibleSource:
    """A parsed Ansible inventory: its tree and the vars files beside it."""

    path: str
    tree: Tree
    base_dir: str        # as the user gave it, so messages show paths the same way
    skip_vaulted: bool = False   # a vault-encrypted vars file is left out (with a warning), not refused
    _cache: dict[tuple[str, str], dict[str, Var]] = field(default_factory=dict)

    def vars_files(self, kind: str, name: str) -> dict[str, Var]:
        """The merged variables of ``group_vars/NAME`` or ``host_vars/NAME``."""
        if (kind, name) not in self._cache:
            self._cache[(kind, name)] = self._read_vars(kind, name)
        return self._cache[(kind, name)]

    def _read_vars(self, kind: str, name: str) -> dict[str, Var]:
        folder = os.path.join(self.base_dir, kind)
        if name.startswith(os.sep) or not os.path.isdir(folder):
            return {}
        merged: dict[str, Var] = {}
        for path in _vars_paths(folder, name):
            text = read_text(path)
            if is_vault_text(text):
                if not self.skip_vaulted:
                    raise vault_vars_refusal(path)
                skip_vaulted_warning(path)
                continue
            merged.update(read_vars_file(path, text))
        return merged

    def host_vars(self, name: str) -> dict[str, Var]:
        return self.tree.host_vars(name, self.vars_files, self.vars_files)


def _vars_paths(folder: str, name: str) -> list[str]:
    """The files for one entity: the first of NAME, NAME.yml, NAME.yaml, NAME.json."""
    for ext in ("",) + YAML_EXTENSIONS:
        path = os.path.join(folder, name + ext)
        if os.path.isdir(path):
            return _vars_dir(path)
        if os.path.exists(path):
            return [path]
    return []


def _vars_dir(folder: str) -> list[str]:
    found: list[str] = []
    for entry in sorted(os.listdir(folder)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        path = os.path.join(folder, entry)
        ext = os.path.splitext(entry)[1]
        if os.path.isdir(path) and not ext:
            found.extend(_vars_dir(path))
        elif os.path.isfile(path) and (not ext or ext in YAML_EXTENSIONS):
            found.append(path)
    return found


def read_ansible_source(path: str, *, skip_vaulted: bool = False) -> AnsibleSource:
    """Parse the inventory at ``path`` (file or directory) and reconcile it."""
    tree = Tree()
    if os.path.isdir(path):
        _read_dir(tree, path)
        base_dir = path
    else:
        _read_file(tree, path, in_dir=False)
        base_dir = os.path.dirname(path)
    tree.finish()
    return AnsibleSource(path, tree, base_dir, skip_vaulted)


def _read_dir(tree: Tree, folder: str) -> None:
    try:
        entries = sorted(os.listdir(folder))
    except OSError as exc:
        raise InventoryError(f"cannot read inventory directory {folder}: {exc.strerror}") from exc
    for entry in entries:
        if _SKIPPED_NAMES.search(entry) or entry.endswith(_SKIPPED_EXTENSIONS):
            continue
        path = os.path.join(folder, entry)
        if os.path.isdir(path):
            _read_dir(tree, path)
        else:
            _read_file(tree, path, in_dir=True)


def _read_file(tree: Tree, path: str, *, in_dir: bool) -> None:
    """One inventory file, by the reader its extension and content call for."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".toml":
        raise InventoryError("TOML inventories are not supported; use INI or YAML", file=path)
    if _is_script(path):
        raise InventoryError("this is an inventory script; herd does not run scripts to read an "
                             "inventory (save its output: ansible-inventory -i SCRIPT --list --yaml)",
                             file=path)
    text = read_text(path)
    if is_vault_text(text):
        raise vault_file_refusal(path)
    if ext in YAML_EXTENSIONS or not ext:
        kind = yaml_kind(text, path)
        if kind == "herd" and in_dir:
            plugin = plugin_key(compose(text, path))     # plugin: after a herd-like key (groups:)
            if plugin is not None:
                raise plugin_refusal(path, *plugin)
            raise InventoryError("herd's own inventory format cannot be part of an Ansible "
                                 "inventory directory; give it with -i on its own", file=path)
        if kind != "other" or ext:
            read_yaml(tree, text, path, allow_empty=in_dir)
            return
    read_ini(tree, text, path)


def _is_script(path: str) -> bool:
    if not os.access(path, os.X_OK):
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False


def load_ansible_inventory(path: str, *, skip_vaulted: bool = False) -> Inventory:
    """herd's Inventory for the Ansible inventory at ``path``.

    ``skip_vaulted``: go on without vault-encrypted group_vars/host_vars
    files (a warning names each) instead of refusing the inventory.
    """
    source = read_ansible_source(path, skip_vaulted=skip_vaulted)
    tree = source.tree
    hosts = []
    for name, ahost in tree.hosts.items():
        host = make_host(name, source.host_vars(name), ahost.where.line)
        if host is None:
            log.info("%s: left out, its ansible_connection is not SSH", name)
            continue
        hosts.append(host)
    if not hosts:
        left = f" ({len(tree.hosts)} left out: their ansible_connection is not SSH)" if tree.hosts else ""
        raise InventoryError(f"the Ansible inventory has no host herd can reach{left}", file=path)
    kept = {host.name for host in hosts}
    groups = {name: tuple(members) for name, members in tree.members(kept).items()}
    graph = {name: GroupNode(children=tuple(group.children),
                             hosts=tuple(h for h in group.hosts if h in kept))
             for name, group in tree.groups.items()}
    return expand(Inventory(path=path, hosts=tuple(hosts), groups=groups, tree=graph))   # herd_supervisors: targets
