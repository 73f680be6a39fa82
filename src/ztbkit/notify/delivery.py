"""Delivery to a webhook, shared by Discord and Slack: bounded attempts, retries, backoff.

Policy (users depend on it):

* **One attempt** (connect + response headers + body) never takes longer than
  ``ZTB_WEBHOOK_TIMEOUT_SEC`` (default 30 s) of wall-clock time, however slowly the server drips.
* **One command** spends at most ``ZTB_DELIVERY_BUDGET_SEC`` (default 120 s) on delivery in total,
  attempts and waits together, for its own alert and the queued ones; no attempt or wait starts past it.
* A 429 waits for ``Retry-After`` (seconds or an HTTP date) or the JSON ``retry_after`` — whichever is
  given and readable — but at least the exponential backoff (1 s, 2 s, 4 s) and at most ``max_wait``
  (30 s); 5xx answers, timeouts and connection errors are retried the same way. **At most 3 retries.**
* Redirects are never followed (a 307 would re-post the alert elsewhere): a 3xx is permanent.
  So is every 4xx other than 429.
* Every result is ``delivered``, ``failed-permanently`` or ``failed-will-retry``.
* Nothing outside this module sees a ``requests`` exception, and no message carries a whole URL or
  the webhook's token (response bodies and exception text are scrubbed).

The outbox (``ztbkit.notify.outbox``) makes sure an alert is on disk before the first attempt.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ztbkit.core.clock import SYSTEM_CLOCK, Clock
from ztbkit.core.errors import UsageError
from ztbkit.locale import _
from ztbkit.notify.transport import Answer, attempt
from ztbkit.notify.webhook import Webhook, redact, scrub

DELIVERED, PERMANENT, WILL_RETRY = "delivered", "failed-permanently", "failed-will-retry"
Sleep = Callable[[float], None]
MIN_ATTEMPT = 0.5  # an attempt with less time than this left in the budget is not started
MAX_SECONDS = 86400  # a longer limit is a typo (1e308 overflowed the socket and timer: a traceback)


@dataclass(slots=True)
class DeliveryResult:
    status: str
    attempts: int
    http_status: int | None = None
    detail: str = ""
    response: Any = None

    @property
    def delivered(self) -> bool:
        return self.status == DELIVERED


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0 or value > MAX_SECONDS:
        raise UsageError("{name}: expected a positive number of seconds, at most {most} (a day), got {value}",
                         name=name, most=MAX_SECONDS, value=repr(raw[:40]))  # fmt: skip
    return value


@dataclass(frozen=True, slots=True)
class Policy:
    connect_timeout: float = 5.0
    attempt_timeout: float = 30.0  # total wall-clock deadline of one attempt
    max_retries: int = 3
    backoff: float = 1.0
    max_wait: float = 30.0
    budget: float = 120.0  # total delivery time of one command

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Policy:
        """ZTB_WEBHOOK_TIMEOUT_SEC and ZTB_DELIVERY_BUDGET_SEC, each in (0, 86400] seconds (anything else,
        nan or inf included, is a UsageError naming the variable)."""
        environ = os.environ if env is None else env
        base = cls()
        timeout = _seconds(environ, "ZTB_WEBHOOK_TIMEOUT_SEC", base.attempt_timeout)
        return cls(connect_timeout=min(base.connect_timeout, timeout), attempt_timeout=timeout,
                   budget=_seconds(environ, "ZTB_DELIVERY_BUDGET_SEC", base.budget))  # fmt: skip


class Budget:
    """The time a command may still spend on delivery (a monotonic deadline)."""

    def __init__(self, seconds: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock, self.end = clock, clock.monotonic() + seconds

    def left(self) -> float:
        return self.end - self.clock.monotonic()


def retry_after(headers: Mapping[str, str], body: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or an HTTP date), else the JSON
    ``retry_after``; None when neither is present and readable (garbage is ignored, not fatal)."""
    for raw in (headers.get("Retry-After"), body.get("retry_after")):
        value: float | None = None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            value = float(raw)
        elif isinstance(raw, str) and raw.strip():
            try:
                value = float(raw)
            except ValueError:
                try:
                    when = parsedate_to_datetime(raw)
                    value = max(0.0, (when - now).total_seconds()) if when.tzinfo else None
                except (TypeError, ValueError, IndexError, OverflowError):
                    value = None
        if value is not None and math.isfinite(value) and value >= 0:
            return value
    return None


def _json(answer: Answer) -> dict[str, Any]:
    try:
        body = json.loads(answer.response.content) if answer.response is not None else None
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _describe(answer: Answer, url: str) -> str:
    response = answer.response
    assert response is not None
    status = response.status_code
    if 300 <= status < 400:
        where = redact(response.headers.get("Location", "")) if response.headers.get("Location") else "?"
        return scrub(f"HTTP {status}: redirect to {where} not followed (a webhook must answer directly)", url)
    message = _json(answer).get("message") or response.text.strip() or response.reason or ""
    return _cut(scrub(f"HTTP {status}: {message}", url))


def _cut(text: str, limit: int = 240) -> str:
    """``text`` shortened for one line, *after* scrubbing: cutting first could leave the start of a
    token that the scrubber no longer recognises."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def deliver(
    webhook: Webhook,
    payload: dict[str, Any],
    *,
    method: str = "POST",
    suffix: str = "",
    params: dict[str, str] | None = None,
    policy: Policy | None = None,
    sleep: Sleep | None = None,
    clock: Clock = SYSTEM_CLOCK,
    budget: Budget | None = None,
) -> DeliveryResult:
    """Send ``payload`` to ``webhook.url + suffix`` under :class:`Policy`; never raises for HTTP trouble.

    Stops early (``failed-will-retry``) when the command's ``budget`` has no time for another attempt.
    """
    policy = policy or Policy.from_env()
    wait_for = sleep or clock.sleep
    budget = budget or Budget(policy.budget, clock)
    url = webhook.url.rstrip("/") + suffix if suffix else webhook.url
    detail, status, tries = "", None, 0
    for n in range(policy.max_retries + 1):
        left = budget.left()
        if left < MIN_ATTEMPT:
            detail = (detail + "; " if detail else "") + "this run's delivery time budget is used up"
            break
        deadline = min(policy.attempt_timeout, left)
        tries += 1
        answer = attempt(method, url, json=payload, params=params, deadline=deadline,
                         connect_timeout=policy.connect_timeout)  # fmt: skip
        wait_hint: float | None = None
        if answer.response is None:
            status = None
            if answer.deadline_hit:
                detail = f"no complete answer within {deadline:.3g} s"
            else:
                exc = answer.error
                detail = _cut(scrub(f"connection failed: {type(exc).__name__}: {exc}", webhook.url))
        else:
            status = answer.response.status_code
            if 200 <= status < 300:
                return DeliveryResult(DELIVERED, tries, status, "", _json(answer) or None)
            detail = _describe(answer, webhook.url)
            if status == 429:
                wait_hint = retry_after(answer.response.headers, _json(answer), clock.now())
            elif status < 500:
                return DeliveryResult(PERMANENT, tries, status, detail)
        if n < policy.max_retries:
            wait = min(policy.max_wait, max(wait_hint or 0.0, policy.backoff * 2**n))
            if wait + MIN_ATTEMPT > budget.left():
                detail += _("; no time left in this run's delivery budget to retry")
                break
            wait_for(wait)
    return DeliveryResult(WILL_RETRY, tries, status, detail)


def result_line(result: DeliveryResult, webhook: Webhook, *, kept: bool = True) -> str:
    """One line for the terminal: the outcome and a redacted URL. ``kept=False``: the alert is in no
    outbox (it could not be written there), so a failure that would be retried is said as LOST."""
    if result.status == WILL_RETRY and not kept:
        tail = f" ({scrub(result.detail, webhook.url)})" if result.detail else ""
        return (
            _(
                "LOST: not delivered to {service} {url} after {n} attempt(s) and not kept (the outbox "
                "could not be written)"
            ).format(service=webhook.service, url=webhook.redacted, n=result.attempts)
            + tail
        )
    what = {
        DELIVERED: _("delivered to {service} {url} after {n} attempt(s)"),
        PERMANENT: _("failed permanently to {service} {url} after {n} attempt(s)"),
        WILL_RETRY: _("failed, kept in the outbox to retry to {service} {url} after {n} attempt(s)"),
    }
    tail = f" ({scrub(result.detail, webhook.url)})" if result.detail else ""
    line = what[result.status].format(service=webhook.service, url=webhook.redacted, n=result.attempts)
    return line + tail
