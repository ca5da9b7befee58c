"""A Slack-compatible incoming webhook: the message as ``text`` plus Block Kit ``blocks``.

Slack (and the chat servers that accept its incoming-webhook format:
Mattermost, Rocket.Chat, Discord's ``/slack`` endpoint) parse ``&``, ``<``
and ``>`` as control characters: ``<!channel>`` pings a whole channel,
``<@U123>`` a person, ``<https://x|text>`` makes a link.  Every text here
is escaped (``&amp;`` ``&lt;`` ``&gt;``, as Slack asks) after herd.text.field()
has made control characters visible, so a hostile process name is shown as
written and can neither ping, link nor break a line.  Link previews are off
(a bare URL in a host's text is not unfurled).

Delivery is the webhook's (channels/__init__.py: one sender thread, bounded
queue, retries); only the JSON differs.  The URL holds Slack's token: it is
shown as ``https://hooks.slack.com/...`` only.
"""

from __future__ import annotations

from typing import Any

from herd.operations.guard.channels import WebhookChannel, render
from herd.operations.guard.incidents import Notification

SECTION_LIMIT = 2900           # characters of one section's text (Slack refuses more than 3000)


def escape(value: str) -> str:
    """Text for Slack's mrkdwn: ``& < >`` as Slack's entities (render.py made control characters visible)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel(WebhookChannel):
    """POSTs ``{"text": ..., "blocks": [...]}`` to a Slack-compatible incoming webhook URL."""

    kind = "slack"

    def payload(self, note: Notification, dropped: int) -> dict[str, Any]:
        """The Slack message: ``text`` (the notification's one line, for alerts and old clients) and blocks."""
        blocks = [_section(f"*{escape(render.headline(note))}*")]
        facts = render.facts(note)
        if facts:
            blocks.append(_section("\n".join(escape(line) for line in facts)))
        hosts = render.host_lines(note)
        if hosts:
            blocks.append(_section("\n".join(escape(line) for line in hosts)))
        footer = [*render.counters(note, dropped), "herd guard"]
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": escape(" · ".join(footer))}]})
        return {"text": escape(render.headline(note)), "blocks": blocks,
                "unfurl_links": False, "unfurl_media": False}


def _section(mrkdwn: str) -> dict[str, Any]:
    if len(mrkdwn) > SECTION_LIMIT:
        # cut at a line's end where there is one, never inside an entity (``&lt;`` is whole or gone)
        cut = mrkdwn[:SECTION_LIMIT]
        if "\n" in cut:
            cut = cut[:cut.rfind("\n")]
        elif cut.rfind("&", len(cut) - 5) != -1:
            cut = cut[:cut.rfind("&", len(cut) - 5)]
        mrkdwn = cut + "\n..."
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}
