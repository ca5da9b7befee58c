"""Find the inventory file: the first of a fixed search order that exists.

The order goes from most to least specific, so a command line or an
environment always beats a project file, which beats per-user and
system-wide files::

    -i/--inventory FILE, $HERD_INVENTORY, ./inventory.yaml,
    ./inventory/herd.yaml, ~/.config/herd/inventory.yaml, /etc/herd/inventory.yaml

A file the user named (``-i`` or ``$HERD_INVENTORY``) that does not exist is
an error rather than a reason to keep searching: silently managing the hosts
of some other inventory would be worse than stopping.
"""

from __future__ import annotations

import os

from herd.errors import InventoryError

ENV_VAR = "HERD_INVENTORY"

# (path to try, how it is shown to the user), in search order.
SEARCH_PATHS: tuple[str, ...] = (
    "./inventory.yaml",
    "./inventory/herd.yaml",
    "~/.config/herd/inventory.yaml",
    "/etc/herd/inventory.yaml",
)


def find_inventory(explicit: str | None) -> tuple[str, str]:
    """Return ``(path, how it was found)``, e.g. ``("inventory.yaml", "./inventory.yaml")``.

    ``how`` is one of ``"from -i"``, ``"from $HERD_INVENTORY"`` or the search
    entry as written above, for ``herd inventory``-style reports.  Raises
    InventoryError when a named file is missing or nothing is found.
    """
    if explicit:
        return _named(explicit, "given with -i/--inventory"), "from -i"
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        how = f"from ${ENV_VAR}"
        return _named(from_env, f"set in ${ENV_VAR}"), how
    for entry in SEARCH_PATHS:
        path = _display(entry)
        if os.path.isfile(path):
            return path, entry
    looked = ", ".join(("-i", f"${ENV_VAR}") + SEARCH_PATHS)
    raise InventoryError(f"no inventory found; looked for {looked}")


def _named(path: str, given: str) -> str:
    """A path the user chose: it must exist (a directory is an Ansible inventory directory)."""
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise InventoryError(f"inventory {path} ({given}) does not exist")
    return path


def _display(entry: str) -> str:
    """The search entry as a usable path: ``~`` expanded, ``./`` dropped.

    ``inventory.yaml:3:5: ...`` reads better in messages than
    ``./inventory.yaml:3:5: ...`` and means the same.
    """
    path = os.path.expanduser(entry)
    return path[2:] if path.startswith("./") else path
