"""Delivery to a webhook, shared by Discord and Slack: retries, backoff, and an outbox.

Policy (users depend on it):

* Every request has explicit timeouts (connect 5 s, read 10 s by default).
* A 429 waits for ``Retry-After`` (header) or the JSON ``retry_after`` — whichever is given — but at
  least the exponential backoff (1 s, 2 s, 4 s) and at most ``max_wait`` (30 s); 5xx answers,
  timeouts and connection errors are retried the same way. **At most 3 retries.**
* 400/401/403/404 (any other 4xx) are permanent: reported at once, not retried.
* Every result is ``delivered``, ``failed-permanently`` or ``failed-will-retry``.
* Nothing is lost: a ``failed-will-retry`` alert goes to ``<state-dir>/ztb-outbox.jsonl`` and is sent
  first on the next run (or by ``ztb notify --flush-outbox``); a permanently refused one is kept in
  ``ztb-outbox-dead.jsonl`` for a human to look at. Both are rewritten atomically under a file lock
  and readable by their owner only (they hold webhook URLs).
* Nothing outside this module sees a ``requests`` exception, and no message carries a whole URL.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ztbkit.clock import SYSTEM_CLOCK, Clock
from ztbkit.fsio import atomic_write_text, open_regular
from ztbkit.notify.webhook import Webhook, scrub

DELIVERED, PERMANENT, WILL_RETRY = "delivered", "failed-permanently", "failed-will-retry"
OUTBOX_FILE, DEAD_FILE = "ztb-outbox.jsonl", "ztb-outbox-dead.jsonl"
Sleep = Callable[[float], None]


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


@dataclass(frozen=True, slots=True)
class Policy:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_retries: int = 3
    backoff: float = 1.0
    max_wait: float = 30.0


def _retry_after(response: requests.Response) -> float | None:
    """Seconds to wait from the Retry-After header, else the JSON body's retry_after."""
    for raw in (response.headers.get("Retry-After"), _json(response).get("retry_after")):
        try:
            value = float(raw) if raw is not None else None
        except (TypeError, ValueError):
            value = None
        if value is not None and math.isfinite(value) and value >= 0:
            return value
    return None


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _describe(response: requests.Response) -> str:
    body = _json(response)
    message = body.get("message") or response.text[:200].strip() or response.reason
    return scrub(f"HTTP {response.status_code}: {message}")


def deliver(
    webhook: Webhook,
    payload: dict[str, Any],
    *,
    method: str = "POST",
    suffix: str = "",
    params: dict[str, str] | None = None,
    policy: Policy = Policy(),
    sleep: Sleep | None = None,
    session: requests.Session | None = None,
) -> DeliveryResult:
    """Send ``payload`` to ``webhook.url + suffix`` under :class:`Policy`; never raises for HTTP trouble."""
    wait_for = sleep or SYSTEM_CLOCK.sleep
    http = session or requests.Session()
    url = webhook.url.rstrip("/") + suffix if suffix else webhook.url
    detail, status = "", None
    for attempt in range(policy.max_retries + 1):
        retry_after: float | None = None
        try:
            response = http.request(method, url, json=payload, params=params,
                                    timeout=(policy.connect_timeout, policy.read_timeout))  # fmt: skip
        except requests.Timeout:
            detail, status = f"no answer within {policy.read_timeout:g} s", None
        except requests.RequestException as exc:
            detail, status = scrub(f"connection failed: {type(exc).__name__}"), None
        else:
            status = response.status_code
            if 200 <= status < 300:
                return DeliveryResult(DELIVERED, attempt + 1, status, "", _json(response) or None)
            detail = _describe(response)
            if status == 429:
                retry_after = _retry_after(response)
            elif status < 500:
                return DeliveryResult(PERMANENT, attempt + 1, status, detail)
        if attempt < policy.max_retries:
            wait = max(retry_after or 0.0, policy.backoff * 2**attempt)
            wait_for(min(policy.max_wait, wait))
    return DeliveryResult(WILL_RETRY, policy.max_retries + 1, status, detail)


class Outbox:
    """Undelivered alerts, kept in ``<state_dir>/ztb-outbox.jsonl`` until they are delivered."""

    def __init__(self, state_dir: str | os.PathLike[str], clock: Clock = SYSTEM_CLOCK) -> None:
        from filelock import FileLock

        self.dir = Path(state_dir)
        self.path, self.dead_path = self.dir / OUTBOX_FILE, self.dir / DEAD_FILE
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.dir / f"{OUTBOX_FILE}.lock"), timeout=60)
        self.clock = clock

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            good, _ = self._read(self.path)
        return good

    def _read(self, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
        """Entries, and lines that are not entries (kept, never dropped)."""
        try:
            with open_regular(path) as fh:  # a FIFO here is an error (exit 2), not a hang
                lines = fh.read().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return [], []
        good, bad = [], []
        for line in lines:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                bad.append(line)
                continue
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("url"), str)
                and isinstance(entry.get("payload"), dict)
            ):
                good.append(entry)
            else:
                bad.append(line)
        return good, bad

    def _write(self, path: Path, entries: list[dict[str, Any]], raw: Sequence[str] = ()) -> None:
        lines = [json.dumps(e, ensure_ascii=False) for e in entries] + list(raw)
        if lines or path.exists():
            atomic_write_text(path, "".join(line + "\n" for line in lines), mode=0o600)

    def add(self, webhook: Webhook, payload: dict[str, Any], result: DeliveryResult, *, method: str = "POST",
            suffix: str = "", params: dict[str, str] | None = None) -> None:  # fmt: skip
        entry = {
            "id": uuid.uuid4().hex, "created_at": self.clock.now().isoformat(), "url": webhook.url,
            "service": webhook.service, "source": webhook.source, "method": method, "suffix": suffix,
            "params": params or {}, "payload": payload, "attempts": result.attempts, "last_error": result.detail,
        }  # fmt: skip
        with self._lock:
            good, bad = self._read(self.path)
            self._write(self.path, [*good, entry], bad)

    def flush(
        self,
        *,
        send: Callable[..., DeliveryResult] = deliver,
        sleep: Sleep | None = None,
        policy: Policy = Policy(),
    ) -> list[tuple[dict[str, Any], DeliveryResult]]:
        """Send every outbox entry, oldest first. Delivered ones leave; permanent refusals go to the dead file."""
        results = []
        with self._lock:
            good, bad = self._read(self.path)
            keep, dead = [], []
            for entry in good:
                hook = Webhook(entry["url"], entry.get("service", "slack"), entry.get("source", "outbox"))
                result = send(hook, entry["payload"], method=entry.get("method", "POST"), suffix=entry.get("suffix", ""),
                              params=entry.get("params") or None, sleep=sleep, policy=policy)  # fmt: skip
                results.append((entry, result))
                entry = {
                    **entry,
                    "attempts": entry.get("attempts", 0) + result.attempts,
                    "last_error": result.detail,
                }
                if result.status == WILL_RETRY:
                    keep.append(entry)
                elif result.status == PERMANENT:
                    dead.append({**entry, "dead_at": self.clock.now().isoformat()})
            if dead:
                old_dead, old_raw = self._read(self.dead_path)
                self._write(self.dead_path, [*old_dead, *dead], old_raw)
            self._write(self.path, keep, bad)
        return results


@dataclass(slots=True)
class SendReport:
    result: DeliveryResult
    flushed: list[tuple[dict[str, Any], DeliveryResult]]
    queued: bool


def send_with_outbox(
    webhook: Webhook,
    payload: dict[str, Any],
    outbox: Outbox,
    *,
    method: str = "POST",
    suffix: str = "",
    params: dict[str, str] | None = None,
    sleep: Sleep | None = None,
    policy: Policy = Policy(),
) -> SendReport:
    """Flush the outbox first (older alerts go out first), then send; queue it if it may succeed later."""
    flushed = outbox.flush(sleep=sleep, policy=policy)
    result = deliver(
        webhook, payload, method=method, suffix=suffix, params=params, sleep=sleep, policy=policy
    )
    queued = result.status == WILL_RETRY
    if queued:
        outbox.add(webhook, payload, result, method=method, suffix=suffix, params=params)
    return SendReport(result, flushed, queued)


def result_line(result: DeliveryResult, webhook: Webhook) -> str:
    """One line for the terminal: the outcome and a redacted URL."""
    what = {
        DELIVERED: "delivered",
        PERMANENT: "failed permanently",
        WILL_RETRY: "failed, kept in the outbox to retry",
    }
    tail = f" ({result.detail})" if result.detail else ""
    return f"{what[result.status]} to {webhook.service} {webhook.redacted} after {result.attempts} attempt(s){tail}"
