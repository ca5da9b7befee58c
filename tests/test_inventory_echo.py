"""Inventory errors that quote a value stay on one line: shortened and escaped (issue 11).

Found by mutation-fuzzing the loader: block scalars were echoed over several
lines.  Each case here is such a mutation; a small fuzz run checks the rule
over many more.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from herd.errors import InventoryError
from herd.inventory import load_inventory

BLOCK = "|\n    first line\n    second line\n    third line\n"
CASES = {
    "user": f"hosts:\n  web01:\n    user: {BLOCK}",
    "socket": f"hosts:\n  web01:\n    supervisor:\n      socket: {BLOCK}",
    "proxy_jump": "hosts:\n  web01:\n    proxy_jump: \"a,,b\\n\\x1b[2J" + "x" * 300 + "\"\n",
    "host name": "hosts:\n  \"web\\n01\\x1b]0;t\\x07\": {}\n",
    "group member": f"hosts:\n  web01: {{}}\ngroups:\n  web:\n    - {BLOCK}",
    "expect key": f"hosts:\n  web01: {{}}\nexpect:\n  ? {BLOCK}  : [worker]\n",
    "severity": f"hosts:\n  web01: {{}}\ncheck:\n  severity:\n    stopped: {BLOCK}",
}


def load_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "inv.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_inventory(str(path))
    return str(info.value)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_an_echoed_value_stays_on_one_short_line(tmp_path, case):
    message = load_error(tmp_path, CASES[case])
    assert "\n" not in message and "\r" not in message and "\x1b" not in message, message
    assert len(message) < 300, message


def test_a_block_scalar_is_shown_by_its_first_line():
    from herd.text import shorten
    assert shorten("first line\nsecond line\nthird line\n") == "first line... (+2 lines)"


def test_mutated_inventories_never_give_a_multi_line_error(tmp_path):
    base = textwrap.dedent("""\
        defaults:
          user: deploy
          supervisor: {socket: /var/run/supervisor.sock}
        hosts:
          web01: {address: 10.0.0.11, proxy_jump: "bastion"}
          web02: {}
        groups:
          web: [web01, "@edge"]
          edge: [web02]
        expect:
          web: [worker]
        check:
          severity: {stopped: warning}
        """)
    inserts = [BLOCK, "\"a\\nb\\x1b[2J\"", "'" + "y" * 500 + "'", "|-\n  a b\n  c\n", ">\n  folded\n  text\n"]
    rng = random.Random(11)
    lines = base.splitlines()
    checked = 0
    for _ in range(300):
        mutated = list(lines)
        index = rng.randrange(len(mutated))
        head, sep, _ = mutated[index].partition(": ")
        if not sep:
            continue
        mutated[index] = f"{head}: {rng.choice(inserts)}"
        path = tmp_path / "m.yaml"
        path.write_text("\n".join(mutated) + "\n", encoding="utf-8")
        try:
            load_inventory(str(path))
        except InventoryError as exc:
            checked += 1
            assert "\n" not in str(exc) and "\x1b" not in str(exc), str(exc)
    assert checked > 50
