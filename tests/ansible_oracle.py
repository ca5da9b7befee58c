"""Real Ansible as the oracle for herd's Ansible inventory reader.

``ansible_list(path)`` runs ``ansible-inventory -i PATH --list`` from the
test venv (ansible-core is a test dependency), isolated: an empty config
file, HOME and ANSIBLE_HOME in a temporary directory, run from an empty
directory so no playbook-adjacent group_vars/ is picked up.
``herd_list(path)`` puts herd's reading of the same inventory in the same
shape, so a test compares the two as they are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

def _oracle() -> Path:
    """ansible-inventory of this venv, else of the default test venv (.venv, built by scripts/test).

    ansible-core >= 2.18 needs Python >= 3.11: a venv of Python 3.10
    (scripts/test --python 3.10) asks the default venv's, so that every
    Python's herd is compared with the same Ansible.
    """
    here = Path(sys.executable).parent / "ansible-inventory"
    if here.exists():
        return here
    return Path(__file__).resolve().parent.parent / ".venv" / "bin" / "ansible-inventory"


ANSIBLE_INVENTORY = _oracle()


def _ansible_env(scratch: Path) -> dict[str, str]:
    config = scratch / "ansible.cfg"
    config.write_text("[defaults]\n")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch),
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_HOME": str(scratch / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(scratch / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",
        "LANG": "C.UTF-8",
    }


def ansible_run(*args: str) -> subprocess.CompletedProcess[str]:
    """``ansible-inventory ARGS`` in isolation."""
    assert ANSIBLE_INVENTORY.exists(), (f"the Ansible oracle {ANSIBLE_INVENTORY} is missing: ansible-core >= 2.18 "
                                        f"needs Python >= 3.11 (./scripts/test builds .venv with it)")
    with tempfile.TemporaryDirectory(prefix="herd-ansible-") as scratch:
        cwd = Path(scratch) / "cwd"
        cwd.mkdir()
        return subprocess.run([str(ANSIBLE_INVENTORY), *args], capture_output=True, text=True,
                              env=_ansible_env(Path(scratch)), cwd=cwd, timeout=120,
                              stdin=subprocess.DEVNULL)


def ansible_list(path: Path) -> dict[str, Any]:
    proc = ansible_run("-i", str(path.resolve()), "--list")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    data["_meta"].pop("profile", None)
    return data


def ansible_graph(path: Path) -> str:
    proc = ansible_run("-i", str(path.resolve()), "--graph")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.rstrip("\n")


def herd_list(path: Path) -> dict[str, Any]:
    """herd's reading in ``ansible-inventory --list``'s JSON shape."""
    from herd.inventory.ansible import read_ansible_source

    source = read_ansible_source(str(path.resolve()))
    tree = source.tree
    result: dict[str, Any] = {}
    for name, group in tree.groups.items():
        entry: dict[str, Any] = {}
        if name != "all" and group.hosts:
            entry["hosts"] = list(group.hosts)
        if group.children:
            entry["children"] = list(group.children)
        if entry:
            result[name] = entry
    hostvars = {}
    for name in tree.hosts:
        # ansible-inventory's JSON marks !unsafe text this way
        values = {key: {"__ansible_unsafe": var.value} if var.unsafe else var.value
                  for key, var in source.host_vars(name).items()}
        if values:
            hostvars[name] = json.loads(json.dumps(values))
    result["_meta"] = {"hostvars": hostvars}
    return result
