"""Sent messages: Discord and Slack webhooks with retries, an outbox, and redacted URLs; the alerts
ztbkit sends (``gate_alert``, ``trend_alert``, ``live`` status).

May import: ``ztbkit.core``, ``ztbkit.data``, ``ztbkit.money``, ``ztbkit.analysis``. Never ``reports``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ztbkit.core.errors import N_

if TYPE_CHECKING:
    from ztbkit.notify.alert import Alert, Field
    from ztbkit.notify.delivery import DeliveryResult, Policy, deliver
    from ztbkit.notify.dispatch import SendReport, flush, send_with_outbox
    from ztbkit.notify.outbox import Outbox, OutboxError
    from ztbkit.notify.webhook import Webhook, redact, resolve_webhook

# Imported on first use (PEP 562), not with the package: delivery pulls in requests (≈70 modules),
# and what runs every few minutes (the scheduler's idle tick, the watch) asks only "is a webhook
# configured?" (``ztbkit.notify.webhook``, standard library only) before it has anything to send.
_LAZY = {
    "Alert": "alert", "Field": "alert", "DeliveryResult": "delivery", "Policy": "delivery",
    "deliver": "delivery", "SendReport": "dispatch", "flush": "dispatch", "send_with_outbox": "dispatch",
    "Outbox": "outbox", "OutboxError": "outbox", "Webhook": "webhook", "redact": "webhook",
    "resolve_webhook": "webhook",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def payload_for(service: str, alert: Alert) -> dict[str, Any]:
    """The webhook body for ``service`` ("discord" or "slack"), within that service's limits."""
    from ztbkit.notify import discord, slack

    return discord.build_payload(alert) if service == "discord" else slack.build_payload(alert)


#: Why :func:`check_configuration` is not ok when nothing is configured (a WARN for ``ztb doctor``,
#: whatever the language the reason is said in).
NO_WEBHOOK = N_("no webhook configured (ZTB_DISCORD_WEBHOOK or SLACK_WEBHOOK_URL)")


def check_configuration(env: Any = None) -> tuple[bool, str]:
    """Validate the webhook configuration without posting: (ok, one-line reason, URL redacted)."""
    from ztbkit.core.errors import UsageError
    from ztbkit.locale import _
    from ztbkit.notify import discord
    from ztbkit.notify.alert import Alert
    from ztbkit.notify.webhook import resolve_webhook

    try:
        hook = resolve_webhook(env=env)
    except UsageError as exc:
        return False, str(exc)
    if hook is None:
        return False, _(NO_WEBHOOK)
    payload = payload_for(
        hook.service, Alert(_("ztbkit configuration check"), "INFO", _("dry run: nothing is posted"))
    )
    problems = discord.check_limits(payload) if hook.service == "discord" else []
    if problems:
        return False, _("{service} payload invalid: {problems}").format(
            service=hook.service, problems="; ".join(problems)
        )
    return True, _("{service} webhook from {source}: {url}").format(
        service=hook.service, source=hook.source, url=hook.redacted
    )


__all__ = [
    "Alert",
    "DeliveryResult",
    "Field",
    "Outbox",
    "OutboxError",
    "Policy",
    "SendReport",
    "Webhook",
    "check_configuration",
    "deliver",
    "flush",
    "payload_for",
    "redact",
    "resolve_webhook",
    "send_with_outbox",
]
