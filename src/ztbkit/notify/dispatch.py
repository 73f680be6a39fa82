"""Sending through the outbox: queue first, then deliver oldest first within one time budget.

Policy (users depend on it):

* A new alert is written to the outbox (fsync'd) before its first attempt; it leaves the outbox only
  when it was delivered or permanently refused (then it goes to the dead-letter file).
* Waiting alerts go out oldest first, the new one in its place at the end, all within the command's
  delivery budget (``ZTB_DELIVERY_BUDGET_SEC``, default 120 s). What does not fit waits for the next run.
* When an alert to a webhook fails in a way that may pass (5xx, 429, timeout, no connection), the
  later alerts to the same webhook wait for the next run instead of each burning the budget.
* An alert another process is sending right now is skipped (its claim is held), never sent twice at once.
* Each waiting alert is tried at most once per flush. A claim or an outcome that cannot be written
  (read-only folder, full disk) never stops a send or the flush: it is one warning line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from ztbkit.core.clock import SYSTEM_CLOCK, Clock
from ztbkit.core.errors import ZtbError
from ztbkit.locale import _
from ztbkit.notify.delivery import (
    MIN_ATTEMPT,
    WILL_RETRY,
    Budget,
    DeliveryResult,
    Policy,
    Sleep,
    deliver,
)
from ztbkit.notify.outbox import Outbox
from ztbkit.notify.webhook import Webhook

Flushed = list[tuple[dict[str, Any], DeliveryResult]]
OnDelivered = Callable[[dict[str, Any], DeliveryResult], None]


@dataclass(slots=True)
class SendReport:
    result: DeliveryResult
    flushed: Flushed
    queued: bool


def flush(
    outbox: Outbox,
    *,
    send: Callable[..., DeliveryResult] = deliver,
    sleep: Sleep | None = None,
    policy: Policy | None = None,
    clock: Clock = SYSTEM_CLOCK,
    budget: Budget | None = None,
    held: Collection[str] = (),
    on_delivered: OnDelivered | None = None,
    send_unrecordable: bool = False,
) -> Flushed:
    """Send waiting alerts oldest first; ``held`` are ids whose claim the caller already holds;
    ``on_delivered(entry, result)`` runs after each delivery (e.g. to keep the id of a status message
    that a queued post created, whichever command sent it).

    Returns (entry, result) for every alert attempted; the others are still waiting. From a
    read-only outbox, waiting alerts are not sent (their outcome could not be recorded, so every
    later run would send them again) unless ``send_unrecordable`` (an explicit ``ztb notify
    --flush-outbox``); one warning says so.
    """
    policy = policy or Policy.from_env()
    budget = budget or Budget(policy.budget, clock)
    outbox.merge()
    frozen = not send_unrecordable and outbox.read_only()
    if frozen and (waiting := [e for e in outbox.pending() if e["id"] not in held]):
        outbox.warn(_("{n} alert(s) waiting in {folder} are not sent: the folder is read-only, so they could "
                      "not be marked sent and would go out on every run (make it writable, or run "
                      "`ztb notify --flush-outbox`)").format(n=len(waiting), folder=outbox.dir))  # fmt: skip
    results: Flushed = []
    tried: set[str] = set()  # one attempt sequence per alert id per run
    stalled: set[str] = set()  # webhooks that failed for now: their later alerts wait
    for entry in outbox.pending():
        if entry["id"] in tried or entry["url"] in stalled or (frozen and entry["id"] not in held):
            continue
        if budget.left() < MIN_ATTEMPT:
            break
        mine = entry["id"] in held
        with contextlib.nullcontext(True) if mine else outbox.claim(entry["id"]) as claimed:
            if not claimed:
                continue  # another process is sending it right now
            fresh = next((e for e in outbox.pending() if e["id"] == entry["id"]), None)
            if fresh is None:
                continue  # delivered by another process since we listed it
            tried.add(entry["id"])
            hook = Webhook(fresh["url"], fresh["service"], str(fresh.get("source", "outbox")))
            result = send(hook, fresh["payload"], method=fresh["method"], suffix=fresh["suffix"],
                          params=fresh.get("params") or None, sleep=sleep, policy=policy, clock=clock,
                          budget=budget)  # fmt: skip
            try:
                outbox.record(fresh, result.status, result.attempts, result.detail, result.http_status)
            except OSError as exc:  # a full or read-only disk: the send stands, the next flush may repeat it
                outbox.warn(_("{folder}: cannot record the outcome of alert {id} ({reason}); a later flush may "
                              "send it again").format(folder=outbox.spool, id=fresh["id"][:8],
                                                      reason=exc.strerror or exc))  # fmt: skip
            if result.status == WILL_RETRY:
                stalled.add(fresh["url"])
            else:
                outbox.drop_claim_file(fresh["id"])
            if result.delivered and on_delivered is not None:
                on_delivered(fresh, result)
            results.append((fresh, result))
    outbox.merge()
    return results


def send_with_outbox(
    webhook: Webhook,
    payload: dict[str, Any],
    outbox: Outbox | None,
    *,
    method: str = "POST",
    suffix: str = "",
    params: dict[str, str] | None = None,
    key: str | None = None,
    sleep: Sleep | None = None,
    policy: Policy | None = None,
    clock: Clock = SYSTEM_CLOCK,
    on_delivered: OnDelivered | None = None,
) -> SendReport:
    """Queue the alert durably, then flush the outbox (older alerts first, this one in its place).

    With no usable outbox (``None``) the alert is still sent, without a safety net. A bad
    ``ZTB_WEBHOOK_TIMEOUT_SEC``/``ZTB_DELIVERY_BUDGET_SEC`` falls back to the defaults with a warning
    (the CLI checks them first and stops with exit 2).
    """
    if policy is None:
        try:
            policy = Policy.from_env()
        except ZtbError as exc:
            if outbox is not None:
                outbox.warn(_("{problem}; using the defaults").format(problem=exc))
            policy = Policy()
    budget = Budget(policy.budget, clock)
    if outbox is None:
        result = deliver(webhook, payload, method=method, suffix=suffix, params=params, sleep=sleep,
                         policy=policy, clock=clock, budget=budget)  # fmt: skip
        return SendReport(result, [], False)
    import uuid

    entry_id = uuid.uuid4().hex
    with outbox.claim(entry_id):
        try:
            outbox.enqueue(webhook, payload, method=method, suffix=suffix, params=params, key=key,
                           entry_id=entry_id)  # fmt: skip
        except (OSError, ZtbError) as exc:
            outbox.warn(
                _("cannot queue the alert in {folder} ({reason}); sending it without a safety net").format(
                    folder=outbox.spool, reason=exc
                )
            )
            return send_with_outbox(webhook, payload, None, method=method, suffix=suffix, params=params,
                                    sleep=sleep, policy=policy, clock=clock)  # fmt: skip
        results = flush(outbox, sleep=sleep, policy=policy, clock=clock, budget=budget, held={entry_id},
                        on_delivered=on_delivered)  # fmt: skip
    own = next((r for e, r in results if e["id"] == entry_id), None)
    if own is None:
        why = (_("waits behind an older alert to the same webhook that could not be delivered")
               if budget.left() >= MIN_ATTEMPT else _("no time left in this run's delivery budget"))  # fmt: skip
        own = DeliveryResult(WILL_RETRY, 0, None, why)
    others = [(e, r) for e, r in results if e["id"] != entry_id]
    return SendReport(own, others, own.status == WILL_RETRY)
