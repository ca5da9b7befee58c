"""The inventory's ``guard.notify:`` key: guard's channels (webhook, Slack, email, command).

A placeholder until the channels land: an empty mapping is no channel,
anything else is refused in one line, so an inventory written for the
channels is never half-read.  The channels' parsing replaces the body of
:func:`check_notify`; its signature stays.
"""

from __future__ import annotations

from yaml.nodes import MappingNode, Node

from herd.inventory.guard import NotifySettings
from herd.inventory.yamlnodes import Ctx, is_null


def check_notify(ctx: Ctx, node: Node, key: str = "guard.notify") -> NotifySettings:
    """``guard.notify``: the channels guard sends to (none yet from the inventory)."""
    if is_null(node) or (isinstance(node, MappingNode) and not node.value):
        return NotifySettings()
    ctx.fail("not supported yet (give the channel on the command line: herd guard --webhook URL)", node, key)
