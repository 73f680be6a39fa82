"""Slack incoming-webhook payloads: ``text`` always (notifications, fallbacks), plus Block Kit.

Limits kept: ``text`` 4000 (Slack's recommendation; it truncates at 40,000), header 150, section text
3000, at most 10 section fields of 2000, context 3000, at most 50 blocks; text over a limit is cut
with ``…``. The title in ``text`` is cut to the header's 150 so the description (the failing gates)
keeps its room.
"""

from __future__ import annotations

from typing import Any

from ztbkit.locale import _
from ztbkit.notify.alert import Alert
from ztbkit.notify.discord import ICONS, cut

HEADER, SECTION, FIELD, FIELDS, BLOCKS, TEXT = 150, 3000, 2000, 10, 50, 4000


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (&, <, >) so artifact text cannot form links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_payload(alert: Alert) -> dict[str, Any]:
    title = f"{ICONS[alert.level]} {alert.title}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(title, HEADER)}}
    ]
    if alert.description:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(_escape(alert.description), SECTION)}}
        )
    fields = [
        {"type": "mrkdwn", "text": cut(f"*{_escape(f.name)}*\n{_escape(f.value)}", FIELD)}
        for f in alert.fields
    ]
    for i in range(0, len(fields), FIELDS):
        blocks.append({"type": "section", "fields": fields[i : i + FIELDS]})
    label = _("open")  # the link's label in Slack: open the page
    link = f"<{alert.url}|{label}>" if alert.url else None
    context = " · ".join(x for x in (alert.footer, alert.timestamp.isoformat() if alert.timestamp else None, link)
                         if x)  # fmt: skip
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(context, SECTION)}]})
    text = f"[{alert.level}] {cut(alert.title, HEADER)}" + (
        f": {alert.description}" if alert.description else ""
    )
    return {"text": cut(_escape(text), TEXT), "blocks": blocks[:BLOCKS]}
