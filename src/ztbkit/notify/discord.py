"""Discord webhook payloads, packed to Discord's documented limits before sending.

Limits: content 2000; per embed title 256, description 4096, at most 25 fields (name 256, value
1024), footer 2048; at most 10 embeds; 6000 characters over all embeds' title, description, field
names and values, footer and author name. Text over a limit is cut with a visible ``…``; fields past
the 25th become one "+N more" field; embeds past the 10th are dropped with a note in the content. So
an over-long gate reason never earns a 400.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ztbkit.notify.alert import Alert

CONTENT, TITLE, DESCRIPTION, FIELDS, FIELD_NAME, FIELD_VALUE, FOOTER, AUTHOR = (
    2000,
    256,
    4096,
    25,
    256,
    1024,
    2048,
    256,
)
TOTAL, EMBEDS, USERNAME = 6000, 10, 80
COLORS = {"INFO": 0x3498DB, "WARN": 0xF1C40F, "ERROR": 0xE74C3C, "CRITICAL": 0x992D22}
ICONS = {"INFO": "ℹ️", "WARN": "⚠️", "ERROR": "❌", "CRITICAL": "🚨"}


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, ending in ``…`` when it had to be cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def embed_of(alert: Alert) -> dict[str, Any]:
    embed: dict[str, Any] = {"title": alert.title, "color": COLORS[alert.level]}
    if alert.description:
        embed["description"] = alert.description
    if alert.url:
        embed["url"] = alert.url
    if alert.fields:
        embed["fields"] = [{"name": f.name, "value": f.value, "inline": f.inline} for f in alert.fields]
    if alert.footer:
        embed["footer"] = {"text": alert.footer}
    if alert.timestamp:
        embed["timestamp"] = alert.timestamp.isoformat()
    return embed


def _embed_chars(embed: Mapping[str, Any]) -> int:
    n = len(embed.get("title", "")) + len(embed.get("description", ""))
    n += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    n += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    return n


def pack_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """One embed within its own limits (fields past 25 become '+N more')."""
    e = dict(embed)
    e["title"] = cut(str(e.get("title") or "—"), TITLE)
    if "description" in e:
        e["description"] = cut(str(e["description"]), DESCRIPTION)
    fields = [
        {"name": cut(str(f.get("name") or "—"), FIELD_NAME), "value": cut(str(f.get("value") or "—"), FIELD_VALUE),
         "inline": bool(f.get("inline", False))}
        for f in e.get("fields", [])
    ]  # fmt: skip
    if len(fields) > FIELDS:
        extra = len(fields) - (FIELDS - 1)
        names = ", ".join(str(f["name"]) for f in fields[FIELDS - 1 :])
        fields = [
            *fields[: FIELDS - 1],
            {"name": f"+{extra} more", "value": cut(names, FIELD_VALUE), "inline": False},
        ]
    if fields:
        e["fields"] = fields
    if "footer" in e:
        e["footer"] = {**e["footer"], "text": cut(str(e["footer"].get("text", "")), FOOTER)}
    if "author" in e:
        e["author"] = {**e["author"], "name": cut(str(e["author"].get("name", "")), AUTHOR)}
    return e


def _texts(embeds: list[dict[str, Any]], stage: int) -> list[tuple[dict[str, Any], str]]:
    """The (holder, key) texts cut at ``stage``: bodies first, then footers, then names and titles."""
    out: list[tuple[dict[str, Any], str]] = []
    for e in embeds:
        if stage == 0:
            out += [(e, "description")] if "description" in e else []
            out += [(f, "value") for f in e.get("fields", [])]
        elif stage == 1:
            out += [(e["footer"], "text")] if "footer" in e else []
            out += [(e["author"], "name")] if "author" in e else []
        else:
            out += [(f, "name") for f in e.get("fields", [])] + [(e, "title")]
    return out


def _shrink(embeds: list[dict[str, Any]], budget: int) -> None:
    """Fit all embeds together into ``budget`` characters: cut the longest texts, stage by stage;
    if even one-character texts are too many, drop trailing embeds, then trailing fields."""
    for stage in range(3):
        while (over := sum(_embed_chars(e) for e in embeds) - budget) > 0:
            texts = [(h, k) for h, k in _texts(embeds, stage) if len(h[k]) > 1]
            if not texts:
                break
            holder, key = max(texts, key=lambda hk: len(hk[0][hk[1]]))
            holder[key] = cut(holder[key], max(1, len(holder[key]) - over))
    while sum(_embed_chars(e) for e in embeds) > budget and len(embeds) > 1:
        embeds.pop()
    while sum(_embed_chars(e) for e in embeds) > budget and embeds[0].get("fields"):
        embeds[0]["fields"].pop()


def build_payload(
    embeds: Sequence[dict[str, Any]] | Alert,
    *,
    content: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A webhook body within every Discord limit; username/avatar from ZTB_DISCORD_USERNAME/AVATAR_URL."""
    environ = os.environ if env is None else env
    raw = [embed_of(embeds)] if isinstance(embeds, Alert) else [dict(e) for e in embeds]
    notes = []
    if len(raw) > EMBEDS:
        notes.append(f"(+{len(raw) - EMBEDS} more embeds not shown)")
        raw = raw[:EMBEDS]
    packed = [pack_embed(e) for e in raw]
    _shrink(packed, TOTAL)
    payload: dict[str, Any] = {"embeds": packed}
    text = " ".join(t for t in (content, *notes) if t)
    if text:
        payload["content"] = cut(text, CONTENT)
    if environ.get("ZTB_DISCORD_USERNAME"):
        payload["username"] = cut(environ["ZTB_DISCORD_USERNAME"], USERNAME)
    if environ.get("ZTB_DISCORD_AVATAR_URL"):
        payload["avatar_url"] = environ["ZTB_DISCORD_AVATAR_URL"]
    payload["allowed_mentions"] = {"parse": []}  # artifact text must never ping @everyone
    return payload


def check_limits(payload: Mapping[str, Any]) -> list[str]:
    """What in ``payload`` breaks a Discord limit (empty when it would be accepted)."""
    errors = []
    if len(payload.get("content", "")) > CONTENT:
        errors.append("content over 2000")
    embeds = payload.get("embeds", [])
    if len(embeds) > EMBEDS:
        errors.append("more than 10 embeds")
    for i, e in enumerate(embeds):
        for key, limit in (("title", TITLE), ("description", DESCRIPTION)):
            if len(e.get(key, "")) > limit:
                errors.append(f"embeds[{i}].{key} over {limit}")
        if len(e.get("fields", [])) > FIELDS:
            errors.append(f"embeds[{i}] has more than 25 fields")
        for j, f in enumerate(e.get("fields", [])):
            if len(f.get("name", "")) > FIELD_NAME or len(f.get("value", "")) > FIELD_VALUE:
                errors.append(f"embeds[{i}].fields[{j}] over its limit")
        if len(e.get("footer", {}).get("text", "")) > FOOTER:
            errors.append(f"embeds[{i}].footer over 2048")
    if sum(_embed_chars(e) for e in embeds) > TOTAL:
        errors.append("embeds over 6000 characters in total")
    return errors
