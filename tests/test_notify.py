"""Delivery against a real local HTTP server that behaves like Discord and Slack."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from fakehook import TOKEN, FakeHook, Reply

from ztbkit import UsageError
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
from ztbkit.notify.discord import build_payload, check_limits
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
    outbox.add(discord(hook_server), build_payload(ALERT), result)
    hook_server.script = [Reply(401, {"message": "Invalid Webhook Token"})]
    [(_, flushed)] = outbox.flush(sleep=sleeps)
    assert flushed.status == "failed-permanently" and outbox.entries() == []
    dead = [json.loads(line) for line in outbox.dead_path.read_text(encoding="utf-8").splitlines()]
    assert dead[0]["last_error"] == "HTTP 401: Invalid Webhook Token" and "dead_at" in dead[0]


def test_slow_response_times_out_and_is_retried(hook_server: FakeHook) -> None:
    hook_server.script = [Reply(204, delay=1.5)]
    sleeps = Sleeps()
    result = deliver(
        discord(hook_server), build_payload(ALERT), sleep=sleeps, policy=Policy(read_timeout=0.3)
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
    assert "embeds" in payload_for("discord", ALERT) and "blocks" in payload_for("slack", ALERT)


def test_outbox_keeps_unreadable_lines(tmp_path: Path, hook_server: FakeHook) -> None:
    outbox = Outbox(tmp_path)
    outbox.path.write_text('{"broken json\n', encoding="utf-8")
    outbox.add(discord(hook_server), build_payload(ALERT), deliver(Webhook("http://127.0.0.1:9/x/y", "discord", "t"),
                                                                   {}, sleep=Sleeps(), policy=Policy(max_retries=0,
                                                                   connect_timeout=0.2)))  # fmt: skip
    assert len(outbox.entries()) == 1
    outbox.flush()
    assert outbox.path.read_text(encoding="utf-8") == '{"broken json\n'  # never silently dropped
    os.chmod(outbox.path, 0o600)
