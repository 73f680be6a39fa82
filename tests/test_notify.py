"""Delivery against a real local HTTP server that behaves like Discord and Slack."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fakehook import TOKEN, FakeHook, Reply

from ztbkit import UsageError
from ztbkit.core.clock import FakeClock
from ztbkit.notify import (
    Alert,
    Field,
    Outbox,
    Policy,
    deliver,
    payload_for,
    redact,
    resolve_webhook,
    send_with_outbox,
)
from ztbkit.notify.delivery import DeliveryResult, result_line
from ztbkit.notify.discord import build_payload, check_limits
from ztbkit.notify.dispatch import flush
from ztbkit.notify.slack import build_payload as slack_payload
from ztbkit.notify.webhook import Webhook, scrub

ALERT = Alert(
    "Acceptance gates failed: s1", "ERROR", "• **memory_rss**: RSS 2.6GB", (Field("Session", "s1", True),)
)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def discord(hook_server: FakeHook) -> Webhook:
    return Webhook(hook_server.url("discord"), "discord", "--discord-webhook")


def test_discord_204_delivered_with_embed_username_and_no_avatar(hook_server: FakeHook) -> None:
    payload = build_payload(ALERT, env={"ZTB_DISCORD_USERNAME": "zaif-bot"})
    result = deliver(discord(hook_server), payload)
    assert (result.status, result.attempts, result.http_status) == ("delivered", 1, 204)
    body = hook_server.seen[0].body
    assert body["username"] == "zaif-bot" and "avatar_url" not in body
    embed = body["embeds"][0]
    assert embed["title"] == "Acceptance gates failed: s1" and embed["color"] == 0xE74C3C
    assert body["allowed_mentions"] == {"parse": []}
    with_avatar = build_payload(ALERT, env={"ZTB_DISCORD_AVATAR_URL": "https://example.invalid/a.png"})
    assert with_avatar["avatar_url"] == "https://example.invalid/a.png"


def test_slack_200_has_text_and_blocks(hook_server: FakeHook) -> None:
    hook = Webhook(hook_server.url("slack"), "slack", "SLACK_WEBHOOK_URL")
    alert = Alert("Gates <!channel> failed", "WARN", "reason & more", (Field("Session", "<s1>"),))
    result = deliver(hook, slack_payload(alert))
    assert result.delivered and result.http_status == 200
    body = hook_server.seen[0].body
    assert body["text"].startswith("[WARN] Gates &lt;!channel&gt; failed")  # no mention can be formed
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "context"]
    assert body["blocks"][2]["fields"][0]["text"] == "*Session*\n&lt;s1&gt;"


@pytest.mark.parametrize(
    ("first", "expected_wait"),
    [
        (Reply(429, {"message": "rate limited"}, {"Retry-After": "2"}), 2.0),
        (Reply(429, {"message": "You are being rate limited.", "retry_after": 3.5, "global": False}), 3.5),
        (Reply(429, {"retry_after": 0.2}), 1.0),  # never less than the backoff
        (Reply(429, None, {"Retry-After": "999"}), 30.0),  # capped
        (Reply(500, {"message": "oops"}), 1.0),
        (Reply(503, b"busy"), 1.0),
    ],
)
def test_transient_then_success(hook_server: FakeHook, first: Reply, expected_wait: float) -> None:
    hook_server.script = [first]
    sleeps = Sleeps()
    result = deliver(discord(hook_server), build_payload(ALERT), sleep=sleeps)
    assert result.delivered and result.attempts == 2 and sleeps.waits == [expected_wait]


def test_three_429s_then_outbox_then_later_flush(hook_server: FakeHook, tmp_path: Path) -> None:
    hook_server.script = [Reply(429, {"retry_after": 1}, {"Retry-After": "1"}) for _ in range(4)]
    sleeps = Sleeps()
    outbox = Outbox(tmp_path)
    report = send_with_outbox(discord(hook_server), build_payload(ALERT), outbox, sleep=sleeps)
    assert report.result.status == "failed-will-retry" and report.result.attempts == 4 and report.queued
    assert sleeps.waits == [1.0, 2.0, 4.0]  # at most 3 retries, exponential
    assert len(hook_server.seen) == 4
    [entry] = outbox.entries()
    assert entry["payload"]["embeds"][0]["title"] == "Acceptance gates failed: s1" and entry["attempts"] == 4
    assert stat.S_IMODE(outbox.path.stat().st_mode) == 0o600  # it holds the webhook URL
    # Next run: the outbox goes first, then the new alert.
    second = Alert("next alert", "INFO")
    report = send_with_outbox(discord(hook_server), build_payload(second), outbox, sleep=sleeps)
    assert [r.status for _, r in report.flushed] == ["delivered"] and report.result.delivered
    titles = [s.body["embeds"][0]["title"] for s in hook_server.seen[4:]]
    assert titles == ["Acceptance gates failed: s1", "next alert"]
    assert outbox.entries() == []


def test_404_is_permanent_and_reported_at_once(hook_server: FakeHook, tmp_path: Path) -> None:
    hook_server.script = [Reply(404, {"message": "Unknown Webhook", "code": 10015})]
    sleeps = Sleeps()
    result = deliver(discord(hook_server), build_payload(ALERT), sleep=sleeps)
    assert (result.status, result.attempts, sleeps.waits) == ("failed-permanently", 1, [])
    assert result.detail == "HTTP 404: Unknown Webhook"
    # From the outbox, a permanent refusal moves to the dead-letter file: kept, not retried forever.
    outbox = Outbox(tmp_path)
    entry = outbox.enqueue(discord(hook_server), build_payload(ALERT))
    hook_server.script = [Reply(401, {"message": "Invalid Webhook Token"})]
    [(flushed_entry, flushed)] = flush(outbox, sleep=sleeps)
    assert flushed_entry["id"] == entry["id"]
    assert flushed.status == "failed-permanently" and outbox.entries() == []
    dead = [json.loads(line) for line in outbox.dead_path.read_text(encoding="utf-8").splitlines()]
    assert dead[0]["last_error"] == "HTTP 401: Invalid Webhook Token" and "dead_at" in dead[0]
    assert dead[0]["http_status"] == 401 and dead[0]["id"] == entry["id"] and dead[0]["attempts"] == 1


def test_slow_response_times_out_and_is_retried(hook_server: FakeHook) -> None:
    hook_server.script = [Reply(204, delay=1.5)]
    sleeps = Sleeps()
    result = deliver(
        discord(hook_server), build_payload(ALERT), sleep=sleeps, policy=Policy(attempt_timeout=0.3)
    )
    assert result.delivered and result.attempts == 2 and sleeps.waits == [1.0]


def test_connection_refused_keeps_the_url_out_of_the_message() -> None:
    hook = Webhook(f"http://127.0.0.1:9/api/webhooks/1/{TOKEN}", "discord", "--discord-webhook")
    sleeps = Sleeps()
    result = deliver(hook, build_payload(ALERT), sleep=sleeps, policy=Policy(connect_timeout=0.5))
    assert result.status == "failed-will-retry" and result.attempts == 4 and len(sleeps.waits) == 3
    assert TOKEN not in result.detail and result.detail.startswith("connection failed")


def test_overlong_alert_is_packed_within_discord_limits(hook_server: FakeHook) -> None:
    fields = tuple(Field(f"gate_{i:02d}" + "n" * 300, "r" * 3000) for i in range(40))
    alert = Alert("T" * 500, "CRITICAL", "D" * 9000, fields, footer="F" * 3000)
    payload = build_payload([pack for pack in [build_payload(alert)["embeds"][0]] * 12], content="C" * 2500)
    assert check_limits(payload) == []
    assert (
        len(payload["embeds"]) <= 10 and len(payload["content"]) == 2000 and payload["content"].endswith("…")
    )
    single = build_payload(alert)
    assert check_limits(single) == []
    e = single["embeds"][0]
    assert len(e["fields"]) == 25 and e["fields"][-1]["name"] == "+16 more"
    assert e["title"].endswith("…") and len(e["title"]) == 256
    assert deliver(discord(hook_server), single).delivered  # the fake rejects oversize with 400, like Discord
    unpacked = {"embeds": [{"title": "x", "description": "D" * 5000}]}
    assert deliver(discord(hook_server), unpacked).status == "failed-permanently"  # the fake really checks


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ({"discord_webhook": "https://discord.com/api/webhooks/1/a"}, {"ZTB_DISCORD_WEBHOOK": "https://discord.com/api/webhooks/2/b",
          "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/c"}, ("discord", "--discord-webhook", "/1/")),
        ({"webhook": "https://hooks.slack.com/services/T/B/c"}, {"ZTB_DISCORD_WEBHOOK": "https://discord.com/api/webhooks/2/b"},
         ("discord", "ZTB_DISCORD_WEBHOOK", "/2/")),
        ({"webhook": "https://hooks.slack.com/services/T/B/c"}, {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/X/d"},
         ("slack", "--webhook", "/B/")),
        ({"webhook": "https://discord.com/api/webhooks/3/e"}, {}, ("discord", "--webhook", "/3/")),  # known by host
        ({}, {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/X/d"}, ("slack", "SLACK_WEBHOOK_URL", "/X/")),
        ({}, {"ZTB_DISCORD_WEBHOOK": "http://127.0.0.1:8/hook/z"}, ("discord", "ZTB_DISCORD_WEBHOOK", "/hook/")),
        ({"webhook": "http://127.0.0.1:8/api/webhooks/9/t"}, {}, ("discord", "--webhook", "/9/")),  # by path
        ({"webhook": "http://127.0.0.1:8/hook/z"}, {}, ("slack", "--webhook", "/hook/")),
        ({}, {"SLACK_WEBHOOK_URL": "  "}, None),
    ],
)  # fmt: skip
def test_webhook_precedence(flags: dict, env: dict, expected: tuple | None) -> None:
    hook = resolve_webhook(env=env, **flags)
    if expected is None:
        assert hook is None
        return
    assert hook is not None and (hook.service, hook.source) == expected[:2] and expected[2] in hook.url


def test_bad_webhook_is_a_usage_error_without_the_secret() -> None:
    with pytest.raises(UsageError, match="ZTB_DISCORD_WEBHOOK: not an http") as err:
        resolve_webhook(env={"ZTB_DISCORD_WEBHOOK": f"ftp://x/{TOKEN}"})
    assert TOKEN not in str(err.value)


def test_redaction() -> None:
    assert (
        redact(f"https://discord.com/api/webhooks/123/{TOKEN}") == "https://discord.com/api/webhooks/123/****"
    )
    assert (
        redact(f"https://hooks.slack.com/services/T0/B0/{TOKEN}?x=1")
        == "https://hooks.slack.com/services/T0/B0/****?****"
    )
    assert redact("not a url") == "****"
    assert TOKEN not in scrub(f"error for url: https://discord.com/api/webhooks/1/{TOKEN} (x)")
    hook = Webhook(f"https://discord.com/api/webhooks/1/{TOKEN}", "discord", "x")
    assert TOKEN not in repr(hook) and TOKEN not in str(hook)


def test_payload_for_each_service() -> None:
    d = payload_for("discord", ALERT)
    assert d["embeds"][0]["title"] == "Acceptance gates failed: s1" and d["embeds"][0]["color"] == 0xE74C3C
    assert d["embeds"][0]["description"] == "• **memory_rss**: RSS 2.6GB"
    assert d["embeds"][0]["fields"] == [{"name": "Session", "value": "s1", "inline": True}]
    s = payload_for("slack", ALERT)
    assert s["text"] == "[ERROR] Acceptance gates failed: s1: • **memory_rss**: RSS 2.6GB"
    assert s["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "❌ Acceptance gates failed: s1"},
    }
    assert s["blocks"][1]["text"]["text"] == "• **memory_rss**: RSS 2.6GB"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://discord.com/api/webhooks/123/{TOKEN}", "https://discord.com/api/webhooks/123/****"),
        (f"https://discord.com/api/webhooks/123/{TOKEN}/slack", "https://discord.com/api/webhooks/123/****"),
        (f"https://discord.com/api/webhooks/123/{TOKEN}/github", "https://discord.com/api/webhooks/123/****"),
        (f"https://discord.com/api/v10/webhooks/123/{TOKEN}?wait=true&thread_id=9",
         "https://discord.com/api/v10/webhooks/123/****?****"),
        (f"https://discordapp.com/api/webhooks/123/{TOKEN}", "https://discordapp.com/api/webhooks/123/****"),
        (f"https://ptb.discord.com/api/webhooks/123/{TOKEN}", "https://ptb.discord.com/api/webhooks/123/****"),
        (f"https://canary.discord.com/api/webhooks/123/{TOKEN}/slack?x=1",
         "https://canary.discord.com/api/webhooks/123/****?****"),
        (f"http://discord.com/api/webhooks/123/{TOKEN}", "http://discord.com/api/webhooks/123/****"),
        (f"https://user:{TOKEN}@discord.com/api/webhooks/123/{TOKEN}", "https://discord.com/api/webhooks/123/****"),
        (f"https://hooks.slack.com/services/T000/B000/{TOKEN}", "https://hooks.slack.com/services/T000/B000/****"),
        (f"http://hooks.slack.com/services/T000/B000/{TOKEN}#frag", "http://hooks.slack.com/services/T000/B000/****?****"),
        (f"https://hooks.slack.com/workflows/T0/A0/123/{TOKEN}", "https://hooks.slack.com/****"),
        (f"http://127.0.0.1:8080/api/webhooks/{TOKEN}", "http://127.0.0.1:8080/api/webhooks/****"),
        (f"HTTPS://DISCORD.COM/API/WEBHOOKS/123/{TOKEN}", "https://discord.com/API/WEBHOOKS/123/****"),
    ],
)  # fmt: skip
def test_redaction_of_every_url_form(url: str, shown: str) -> None:
    assert redact(url) == shown and TOKEN not in redact(url)
    hook = Webhook(url, "discord", "t")
    from urllib.parse import quote

    echoes = [
        f"Invalid webhook {url} (got {TOKEN})",  # a body quoting the URL and the bare token
        f"redirected from {quote(url, safe='')}",  # URL-encoded, as in a query string
        f"HTTPSConnectionPool(host='x', port=443): Max retries exceeded with url: {url.split('/', 3)[-1]}",
    ]
    for text in echoes:
        assert TOKEN not in scrub(text, hook.url), text
    result = DeliveryResult("failed-permanently", 1, 400, f"HTTP 400: {url}")
    assert TOKEN not in result_line(result, hook) and TOKEN not in repr(hook)


def test_outbox_moves_unreadable_lines_to_quarantine(tmp_path: Path, hook_server: FakeHook) -> None:
    warnings: list[str] = []
    outbox = Outbox(tmp_path, warn=warnings.append)
    outbox.path.write_text('{"broken json\n', encoding="utf-8")
    outbox.enqueue(discord(hook_server), build_payload(ALERT))
    assert len(outbox.entries()) == 1
    [(_, result)] = flush(outbox)
    assert result.delivered and hook_server.seen[0].body["embeds"][0]["title"] == ALERT.title
    assert outbox.quarantine_path.read_text(encoding="utf-8") == '{"broken json\n'  # never silently dropped
    assert outbox.path.read_text(encoding="utf-8") == "" and outbox.entries() == []
    assert warnings == [f"1 unreadable outbox line(s) moved to {outbox.quarantine_path}"]
    assert stat.S_IMODE(outbox.quarantine_path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("headers", "body", "expected_wait"),
    [
        ({"Retry-After": "soon"}, None, 1.0),  # not a number, not a date: ignored, the backoff applies
        ({"Retry-After": "nan"}, None, 1.0),
        ({"Retry-After": "-5"}, None, 1.0),
        ({}, {"retry_after": "abc"}, 1.0),
        ({}, {"retry_after": True}, 1.0),
        ({"Retry-After": "Mon, 29 Sep 2025 12:00:10 GMT"}, None, 10.0),  # an HTTP date, 10 s ahead
        ({"Retry-After": "Mon, 29 Sep 2025 11:00:00 GMT"}, None, 1.0),  # a date in the past
        ({"Retry-After": "Mon, 29 Sep 2025 13:00:00 GMT"}, None, 30.0),  # capped
        ({"Retry-After": "garbage"}, {"retry_after": 2.5}, 2.5),  # the body's value when the header is junk
    ],
)
def test_retry_after_forms(hook_server: FakeHook, headers: dict, body: object, expected_wait: float) -> None:
    from datetime import UTC, datetime

    clock = FakeClock(datetime(2025, 9, 29, 12, 0, 0, tzinfo=UTC))
    hook_server.script = [Reply(429, body, headers)]
    result = deliver(discord(hook_server), build_payload(ALERT), clock=clock)
    assert result.delivered and result.attempts == 2 and clock.sleeps == [expected_wait]


def test_entry_failing_again_on_flush_is_kept_with_its_count(hook_server: FakeHook, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    entry = outbox.enqueue(discord(hook_server), build_payload(ALERT))
    hook_server.script = [Reply(503, {"message": "busy"})] * 4
    flushed = flush(outbox, sleep=Sleeps())
    assert [(e["id"], r.status, r.attempts, r.detail) for e, r in flushed] == [
        (entry["id"], "failed-will-retry", 4, "HTTP 503: busy")
    ]
    [kept] = outbox.entries()
    assert (kept["id"], kept["attempts"], kept["last_error"]) == (entry["id"], 4, "HTTP 503: busy")
    assert not outbox.dead_path.exists()
    flushed = flush(outbox, sleep=Sleeps())  # now the server is fine: it goes, once
    assert [(e["id"], r.status) for e, r in flushed] == [
        (entry["id"], "delivered")
    ] and outbox.entries() == []
    assert len(hook_server.seen) == 5


def test_bad_timeout_variables_are_usage_errors() -> None:
    for name in ("ZTB_WEBHOOK_TIMEOUT_SEC", "ZTB_DELIVERY_BUDGET_SEC"):
        for bad in ("abc", "0", "-1", "inf"):
            with pytest.raises(UsageError, match=name):
                Policy.from_env({name: bad})
    policy = Policy.from_env({"ZTB_WEBHOOK_TIMEOUT_SEC": "2.5", "ZTB_DELIVERY_BUDGET_SEC": "40"})
    assert (policy.attempt_timeout, policy.connect_timeout, policy.budget) == (2.5, 2.5, 40.0)
    assert Policy.from_env({}) == Policy(connect_timeout=5.0, attempt_timeout=30.0, budget=120.0)
