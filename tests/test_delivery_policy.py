"""The delivery policy of ``ztbkit.notify.delivery`` (its module docstring), number by number.

Each test pins one promise with values written here from the docstring (30 s, 120 s, 86400 s, 0.5 s,
1/2/4 s backoff, 3 retries, 3xx and 4xx permanent, 240-character lines), against the real local
server of tests/fakehook.py; time is a FakeClock, so the budget arithmetic is exact.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakehook import TOKEN, FakeHook, Reply

from ztbkit import UsageError
from ztbkit.core.clock import FakeClock
from ztbkit.notify.delivery import Budget, DeliveryResult, Policy, deliver, result_line, retry_after
from ztbkit.notify.webhook import Webhook

NOW = datetime(2025, 9, 29, 12, 0, 0, tzinfo=UTC)
PAYLOAD = {"content": "disk almost full"}


def hook_of(server: FakeHook) -> Webhook:
    return Webhook(server.url("discord"), "discord", "--discord-webhook")


def shown(server: FakeHook) -> str:
    """The webhook as a terminal may show it: host, port and id, the token replaced."""
    return f"http://127.0.0.1:{server.server.server_address[1]}/api/webhooks/123456/****"


# ---------------------------------------------------------------- the two environment variables


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("86400", 86400.0), (" 7 ", 7.0), ("0.001", 0.001), ("", 30.0), ("   ", 30.0)],
)
def test_timeout_variable_accepts_up_to_a_day(raw: str, expected: float) -> None:
    assert Policy.from_env({"ZTB_WEBHOOK_TIMEOUT_SEC": raw}).attempt_timeout == expected


@pytest.mark.parametrize("raw", ["86400.5", "86401", "1e308", "nan", "-0.5", "0"])
def test_timeout_variable_beyond_a_day_or_not_positive_is_a_usage_error(raw: str) -> None:
    for name in ("ZTB_WEBHOOK_TIMEOUT_SEC", "ZTB_DELIVERY_BUDGET_SEC"):
        with pytest.raises(UsageError) as err:
            Policy.from_env({name: raw})
        assert str(err.value) == (
            f"{name}: expected a positive number of seconds, at most 86400 (a day), got {raw!r}"
        )


def test_a_long_bad_value_is_quoted_cut_to_40_characters() -> None:
    with pytest.raises(UsageError) as err:
        Policy.from_env({"ZTB_DELIVERY_BUDGET_SEC": "9" * 39 + "x" + "y" * 60})
    assert str(err.value).endswith("got '" + "9" * 39 + "x'")


def test_policy_defaults_and_the_connect_timeout_never_exceeds_the_attempt() -> None:
    p = Policy.from_env({})
    assert (p.connect_timeout, p.attempt_timeout, p.max_retries, p.backoff, p.max_wait, p.budget) == (
        5.0, 30.0, 3, 1.0, 30.0, 120.0)  # fmt: skip
    longer = Policy.from_env({"ZTB_WEBHOOK_TIMEOUT_SEC": "10", "ZTB_DELIVERY_BUDGET_SEC": "600"})
    assert (longer.connect_timeout, longer.attempt_timeout, longer.budget) == (5.0, 10.0, 600.0)


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZTB_WEBHOOK_TIMEOUT_SEC", "12")
    monkeypatch.setenv("ZTB_DELIVERY_BUDGET_SEC", "34")
    p = Policy.from_env()
    assert (p.attempt_timeout, p.budget) == (12.0, 34.0)


# ---------------------------------------------------------------- the command's time budget


def test_budget_counts_down_on_the_clock() -> None:
    clock = FakeClock(NOW)
    budget = Budget(10, clock)
    clock.sleep(3.5)
    assert budget.left() == 6.5


def test_no_attempt_starts_with_less_than_half_a_second_left(hook_server: FakeHook) -> None:
    clock = FakeClock(NOW)
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock, budget=Budget(0.49, clock))
    assert (result.status, result.attempts, result.http_status) == ("failed-will-retry", 0, None)
    assert result.detail == "this run's delivery time budget is used up" and hook_server.seen == []


def test_an_attempt_starts_with_exactly_half_a_second_left(hook_server: FakeHook) -> None:
    clock = FakeClock(NOW)
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock, budget=Budget(0.5, clock))
    assert (result.status, result.attempts) == ("delivered", 1) and len(hook_server.seen) == 1


def test_a_wait_that_overslept_the_budget_starts_no_attempt(hook_server: FakeHook) -> None:
    clock = FakeClock(NOW)
    hook_server.script = [Reply(503, {"message": "busy"})] * 4
    # The 1 s backoff fits in the 3 s budget, but the machine was suspended during it for 5 s.
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock, budget=Budget(3, clock),
                     sleep=lambda s: clock.advance(s + 5))  # fmt: skip
    assert (result.status, result.attempts, len(hook_server.seen)) == ("failed-will-retry", 1, 1)
    assert result.detail == "HTTP 503: busy; this run's delivery time budget is used up"


def test_no_wait_starts_that_would_leave_no_time_for_the_attempt_after_it(hook_server: FakeHook) -> None:
    clock = FakeClock(NOW)
    hook_server.script = [Reply(503, {"message": "busy"})] * 2
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock, budget=Budget(1.49, clock))
    assert (result.status, result.attempts, clock.sleeps) == ("failed-will-retry", 1, [])
    assert result.detail == "HTTP 503: busy; no time left in this run's delivery budget to retry"
    # 1 s of backoff + 0.5 s for the attempt fit exactly in 1.5 s: the retry happens.
    clock = FakeClock(NOW)
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock, budget=Budget(1.5, clock))
    assert (result.status, result.attempts, clock.sleeps) == ("delivered", 2, [1.0])


def test_without_a_budget_given_the_policys_budget_runs_on_the_callers_clock(hook_server: FakeHook) -> None:
    """ZTB_DELIVERY_BUDGET_SEC (here 6 s) counts the backoff waits on the clock deliver() was given:
    attempt, 1 s, attempt (5 s left), 2 s, attempt (3 s left); a 4 s wait no longer fits."""
    clock = FakeClock(NOW)
    hook_server.script = [Reply(503, {"message": "busy"})] * 4
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock, policy=Policy(budget=6.0))
    assert (result.status, result.attempts, clock.sleeps) == ("failed-will-retry", 3, [1.0, 2.0])
    assert result.detail == "HTTP 503: busy; no time left in this run's delivery budget to retry"


def test_a_suffix_and_query_reach_the_webhook_and_no_suffix_means_the_url_as_given(
    hook_server: FakeHook,
) -> None:
    """Editing a Discord message: PATCH <webhook>/messages/<id>?wait=true (one slash, even when the
    configured URL ends with one). Without a suffix the configured URL is used exactly."""
    hook_server.messages["42"] = {}
    url = hook_server.url("discord")
    edit = deliver(Webhook(url + "/", "discord", "--discord-webhook"), PAYLOAD, method="PATCH",
                   suffix="/messages/42", params={"wait": "true"}, clock=FakeClock(NOW))  # fmt: skip
    plain = deliver(Webhook(url + "/", "discord", "--discord-webhook"), PAYLOAD, clock=FakeClock(NOW))
    assert (edit.status, plain.status) == ("delivered", "delivered")
    base = f"/api/webhooks/123456/{TOKEN}"
    assert [(s.method, s.path, s.query) for s in hook_server.seen] == [
        ("PATCH", f"{base}/messages/42", {"wait": ["true"]}),
        ("POST", f"{base}/", {}),
    ]


def test_an_attempt_is_cut_at_the_time_left_in_the_budget(hook_server: FakeHook) -> None:
    clock = FakeClock(NOW)
    hook_server.script = [Reply(204, delay=3)]
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock, budget=Budget(0.8, clock))
    assert result.attempts == 1 and result.status == "failed-will-retry"
    assert (
        result.detail
        == "no complete answer within 0.8 s; no time left in this run's delivery budget to retry"
    )


# ---------------------------------------------------------------- retries and waits


def test_backoff_is_1_2_4_and_never_beyond_max_wait(hook_server: FakeHook) -> None:
    hook_server.script = [Reply(500, {"message": "oops"})] * 4
    clock = FakeClock(NOW)
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock)
    assert (result.attempts, clock.sleeps, result.http_status) == (4, [1.0, 2.0, 4.0], 500)
    hook_server.script = [Reply(500, {"message": "oops"})] * 4
    clock = FakeClock(NOW)
    deliver(hook_of(hook_server), PAYLOAD, clock=clock, policy=Policy(max_wait=3))
    assert clock.sleeps == [1.0, 2.0, 3.0]


def test_a_retry_after_hint_longer_than_the_backoff_wins_each_time(hook_server: FakeHook) -> None:
    hook_server.script = [Reply(429, {"retry_after": 3}), Reply(429, {"retry_after": 0.5}), Reply(204)]
    clock = FakeClock(NOW)
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock)
    assert result.delivered and clock.sleeps == [3.0, 2.0]


@pytest.mark.parametrize("status", [499, 404, 400])
def test_4xx_other_than_429_is_permanent(hook_server: FakeHook, status: int) -> None:
    hook_server.script = [Reply(status, {"message": "no"})]
    clock = FakeClock(NOW)
    result = deliver(hook_of(hook_server), PAYLOAD, clock=clock)
    assert (result.status, result.attempts, result.http_status, clock.sleeps) == (
        "failed-permanently", 1, status, [])  # fmt: skip
    assert result.detail == f"HTTP {status}: no"  # a 4xx is not described as a redirect


@pytest.mark.parametrize("status", [500, 599])
def test_5xx_is_retried(hook_server: FakeHook, status: int) -> None:
    hook_server.script = [Reply(status, {"message": "down"})]
    result = deliver(hook_of(hook_server), PAYLOAD, clock=FakeClock(NOW))
    assert result.delivered and result.attempts == 2


@pytest.mark.parametrize(("status", "body"), [(200, {"id": "42"}), (204, None), (299, b"")])
def test_every_2xx_is_delivered_with_its_json_answer(
    hook_server: FakeHook, status: int, body: object
) -> None:
    hook_server.script = [Reply(status, body)]
    result = deliver(hook_of(hook_server), PAYLOAD, clock=FakeClock(NOW))
    assert (result.status, result.attempts, result.http_status, result.detail) == ("delivered", 1, status, "")
    assert result.response == (body if isinstance(body, dict) else None)


# ---------------------------------------------------------------- redirects and messages


@pytest.mark.parametrize("status", [300, 307, 308, 399])
def test_a_redirect_is_permanent_and_names_its_target_redacted(hook_server: FakeHook, status: int) -> None:
    target = f"https://evil.example/api/webhooks/77/{TOKEN}?x=1"
    hook_server.script = [Reply(status, None, {"Location": target})]
    result = deliver(hook_of(hook_server), PAYLOAD, clock=FakeClock(NOW))
    assert (result.status, result.attempts, len(hook_server.seen)) == ("failed-permanently", 1, 1)
    assert result.detail == (f"HTTP {status}: redirect to https://evil.example/api/webhooks/77/****?**** "
                             "not followed (a webhook must answer directly)")  # fmt: skip


def test_a_redirect_to_a_host_named_after_the_token_does_not_show_the_token(hook_server: FakeHook) -> None:
    hook_server.script = [Reply(308, None, {"Location": f"https://{TOKEN}.example/a/b"})]
    result = deliver(hook_of(hook_server), PAYLOAD, clock=FakeClock(NOW))
    assert TOKEN not in result.detail
    assert result.detail == "HTTP 308: redirect to **** not followed (a webhook must answer directly)"


def test_an_error_with_no_body_and_no_reason_phrase_says_only_the_status(hook_server: FakeHook) -> None:
    hook_server.script = [Reply(499, None)]  # an unregistered code: the server sends no reason phrase
    assert deliver(hook_of(hook_server), PAYLOAD, clock=FakeClock(NOW)).detail == "HTTP 499: "


def test_a_redirect_without_location_says_so(hook_server: FakeHook) -> None:
    hook_server.script = [Reply(302, None)]
    result = deliver(hook_of(hook_server), PAYLOAD, clock=FakeClock(NOW))
    assert result.detail == "HTTP 302: redirect to ? not followed (a webhook must answer directly)"


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (Reply(403, {"message": "Missing Access", "code": 50001}), "HTTP 403: Missing Access"),
        (Reply(403, b"  invalid_token \n"), "HTTP 403: invalid_token"),  # Slack answers plain text
        (Reply(403, None), "HTTP 403: Forbidden"),  # no body: the reason phrase
        (Reply(403, {"message": ""}), 'HTTP 403: {"message": ""}'),  # an empty message: the body
        (Reply(403, [1, 2]), "HTTP 403: [1, 2]"),  # JSON that is not an object: its text
    ],
)
def test_the_detail_quotes_the_servers_message(hook_server: FakeHook, reply: Reply, detail: str) -> None:
    hook_server.script = [reply]
    assert deliver(hook_of(hook_server), PAYLOAD, clock=FakeClock(NOW)).detail == detail


def test_a_long_error_is_one_line_of_240_characters_without_the_token(hook_server: FakeHook) -> None:
    words = "x" * 200 + f" {hook_server.url('discord')} " + "y" * 300
    hook_server.script = [Reply(400, {"message": words})]
    detail = deliver(hook_of(hook_server), PAYLOAD, clock=FakeClock(NOW)).detail
    assert len(detail) == 240 and detail.endswith("…") and TOKEN not in detail
    assert detail.startswith("HTTP 400: " + "x" * 200 + " **** yyy")  # the webhook itself: all hidden
    hook_server.script = [Reply(400, {"message": "z" * 230})]  # exactly 240: kept whole
    assert deliver(hook_of(hook_server), PAYLOAD, clock=FakeClock(NOW)).detail == "HTTP 400: " + "z" * 230


def test_a_refused_connection_names_the_error_without_the_url() -> None:
    hook = Webhook(f"http://127.0.0.1:9/api/webhooks/1/{TOKEN}", "discord", "x")
    result = deliver(hook, PAYLOAD, clock=FakeClock(NOW), policy=Policy(max_retries=0))
    assert (result.status, result.attempts, result.http_status) == ("failed-will-retry", 1, None)
    assert result.detail.startswith("connection failed: ConnectionError: ") and TOKEN not in result.detail
    assert "/api/webhooks/1/" not in result.detail or "/api/webhooks/1/****" in result.detail


# ---------------------------------------------------------------- Retry-After forms


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "0"}, {"retry_after": 7}, 0.0),  # zero is a readable answer: no wait asked
        ({"Retry-After": "2"}, {"retry_after": 5}, 2.0),  # the header first
        ({"Retry-After": "  "}, {"retry_after": 5}, 5.0),
        ({}, {"retry_after": 4}, 4.0),  # an int in JSON
        ({}, {"retry_after": 0}, 0.0),
        ({}, {"retry_after": "6.5"}, 6.5),  # a number as text in JSON
        ({"Retry-After": "inf"}, {}, None),
        ({}, {"retry_after": False}, None),
        ({}, {"retry_after": [3]}, None),
        ({"Retry-After": "Mon, 29 Sep 2025 12:00:10 GMT"}, {}, 10.0),
        ({"Retry-After": "Mon, 29 Sep 2025 11:59:00 GMT"}, {"retry_after": 9}, 0.0),  # past: no wait
        ({"Retry-After": "Mon, 29 Sep 2025 12:00:10"}, {"retry_after": 9}, 9.0),  # no zone: unreadable
        ({"Retry-After": "Mon, 99 Foo 2025 12:00:10 GMT"}, {"retry_after": 9}, 9.0),
        ({}, {}, None),
    ],
)
def test_retry_after_reading(headers: dict, body: dict, expected: float | None) -> None:
    assert retry_after(headers, body, NOW) == expected


# ---------------------------------------------------------------- the terminal line


@pytest.mark.parametrize(
    ("result", "line"),
    [
        (DeliveryResult("delivered", 1, 204), "delivered to discord {w} after 1 attempt(s)"),
        (DeliveryResult("failed-permanently", 1, 404, "HTTP 404: Unknown Webhook"),
         "failed permanently to discord {w} after 1 attempt(s) (HTTP 404: Unknown Webhook)"),
        (DeliveryResult("failed-will-retry", 4, 503, f"HTTP 503: {TOKEN} busy"),
         "failed, kept in the outbox to retry to discord {w} after 4 attempt(s) (HTTP 503: **** busy)"),
    ],
)  # fmt: skip
def test_result_line(hook_server: FakeHook, result: DeliveryResult, line: str) -> None:
    assert result_line(result, hook_of(hook_server)) == line.format(w=shown(hook_server))
    assert DeliveryResult("delivered", 1).delivered and not DeliveryResult("failed-will-retry", 1).delivered
