"""Fair packing, as a property over many random gate sets: every failing gate among the first three is
named in both the Discord and the Slack payload with a useful part of its reason, and the payloads
pass the limits Discord and Slack publish (written out here, not taken from ztbkit)."""

from __future__ import annotations

import random
import string
from typing import Any

import pytest

from ztbkit.data.gates import parse_gates
from ztbkit.notify import payload_for
from ztbkit.notify.gate_alert import GatesCheck, gates_alert

# Discord (discord.com/developers/docs/resources/message#embed-object-embed-limits, webhook execute)
D_CONTENT, D_EMBEDS, D_TITLE, D_DESCRIPTION, D_FIELDS = 2000, 10, 256, 4096, 25
D_FIELD_NAME, D_FIELD_VALUE, D_FOOTER, D_AUTHOR, D_TOTAL, D_USERNAME = 256, 1024, 2048, 256, 6000, 80
# Slack (api.slack.com/reference/block-kit/blocks, chat.postMessage "text" recommendation)
S_TEXT_RECOMMENDED, S_TEXT_HARD, S_SECTION, S_SECTION_FIELDS, S_FIELD = 4000, 40000, 3000, 10, 2000
S_BLOCKS, S_HEADER = 50, 150


def discord_violations(p: dict[str, Any]) -> list[str]:
    out = []
    if len(p.get("content", "")) > D_CONTENT:
        out.append("content")
    if len(p.get("username", "")) > D_USERNAME:
        out.append("username")
    embeds = p.get("embeds", [])
    if len(embeds) > D_EMBEDS:
        out.append("embeds")
    total = 0
    for e in embeds:
        title, desc = e.get("title", ""), e.get("description", "")
        footer, author = e.get("footer", {}).get("text", ""), e.get("author", {}).get("name", "")
        fields = e.get("fields", [])
        out += ["title"] * (len(title) > D_TITLE) + ["description"] * (len(desc) > D_DESCRIPTION)
        out += ["fields"] * (len(fields) > D_FIELDS) + ["footer"] * (len(footer) > D_FOOTER)
        out += ["author"] * (len(author) > D_AUTHOR)
        for f in fields:
            out += ["field"] * (len(f["name"]) > D_FIELD_NAME or len(f["value"]) > D_FIELD_VALUE)
        total += len(title) + len(desc) + len(footer) + len(author)
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
    if total > D_TOTAL:
        out.append(f"total {total}")
    return out


def slack_violations(p: dict[str, Any]) -> list[str]:
    out = []
    if len(p["text"]) > S_TEXT_RECOMMENDED or len(p["text"]) > S_TEXT_HARD:
        out.append("text")
    blocks = p.get("blocks", [])
    if len(blocks) > S_BLOCKS:
        out.append("blocks")
    for b in blocks:
        if b["type"] == "header" and len(b["text"]["text"]) > S_HEADER:
            out.append("header")
        if b["type"] == "section":
            if "text" in b and len(b["text"]["text"]) > S_SECTION:
                out.append("section text")
            fields = b.get("fields", [])
            out += ["section fields"] * (len(fields) > S_SECTION_FIELDS)
            out += ["field"] * any(len(f["text"]) > S_FIELD for f in fields)
        if b["type"] == "context":
            out += ["context"] * any(len(el["text"]) > S_SECTION for el in b["elements"])
    return out


def slack_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_prefix(text: str, room: int) -> int:
    """How many leading characters of ``text`` fit in ``room`` once Slack-escaped (&→&amp;: 5)."""
    used = 0
    for i, c in enumerate(text):
        used += {"&": 5, "<": 4, ">": 4}.get(c, 1)
        if used > room:
            return i
    return len(text)


ALPHABET = string.ascii_letters + string.digits + "_-. &<>*`|:\n" + "日本語ゲート✓🚨é"


def random_text(rng: random.Random, longest: int) -> str:
    size = rng.choice([0, 1, 5, 40, 300, 1200, longest])
    if rng.random() < 0.2:  # one character repeated: the worst case for escapes and cutting
        return rng.choice("&<x日") * size
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def random_gates(rng: random.Random) -> list[dict[str, Any]]:
    gates = []
    for i in range(rng.choice([1, 2, 3, 4, 7, 30])):
        name = f"g{i}_" + random_text(rng, 600).replace("\n", " ").strip()
        gates.append({"name": name, "status": rng.choice(["fail", "fail", "pass"]),
                      "error": random_text(rng, 6000) or None})  # fmt: skip
    if all(g["status"] != "fail" for g in gates):
        gates[rng.randrange(len(gates))]["status"] = "fail"
    return gates


@pytest.mark.parametrize("seed", range(400))
def test_every_failing_gate_of_the_first_three_is_named_within_limits(seed: int) -> None:
    rng = random.Random(seed)
    gates = random_gates(rng)
    cid = "".join(rng.choice(string.ascii_letters) for _ in range(rng.choice([8, 200])))
    link = "https://ops.example/" + "d" * rng.choice([10, 900])
    report = parse_gates({"gates": gates}, "gates.json", [])
    alert = gates_alert(cid, GatesCheck(None, report), link)  # type: ignore[arg-type]
    assert alert is not None
    discord, slack = payload_for("discord", alert), payload_for("slack", alert)
    assert discord_violations(discord) == [] and slack_violations(slack) == []
    failing = [g for g in gates if g["status"] == "fail"]
    description = discord["embeds"][0]["description"]
    slack_section = next(b["text"]["text"] for b in slack["blocks"] if b["type"] == "section" and "text" in b)
    for g in failing[:3]:
        name = g["name"][: min(90, slack_prefix(g["name"], 99))]  # names get 100, counted as Slack sees them
        reason = (g["error"] or "no reason given")[:60]  # a useful part: ≥ 60 characters even of "&&&…"
        assert f"**{name}" in description and reason in description, (seed, name)
        assert slack_escaped(name) in slack_section and slack_escaped(reason) in slack_section, (seed, name)
        assert slack_escaped(name) in slack["text"]  # the notification text names it too
    if len(failing) > 3:
        assert f"+{len(failing) - 3} more: " in description
        assert f"+{len(failing) - 3} more: " in slack_section
