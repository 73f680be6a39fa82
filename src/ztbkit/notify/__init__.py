"""Sent messages: Discord and Slack webhooks with retries, an outbox, and redacted URLs; the alerts
ztbkit sends (``gate_alert``, ``trend_alert``, ``live`` status).

May import: ``ztbkit.core``, ``ztbkit.data``, ``ztbkit.money``, ``ztbkit.analysis``. Never ``reports``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ztbkit.notify.alert import Alert, Field
from ztbkit.notify.webhook import Webhook, redact, resolve_webhook

if TYPE_CHECKING:
    from ztbkit.notify.delivery import DeliveryResult, Policy, deliver
    from ztbkit.notify.dispatch import SendReport, flush, send_with_outbox
    from ztbkit.notify.outbox import Outbox, OutboxError

# The sending half (requests, urllib3) loads on first use, so that ``ztbkit.notify.heartbeat`` and
# the message types cost what runs every minute (``ztb watch --once``) nothing until it sends.
_LAZY = {
    "DeliveryResult": "delivery", "Policy": "delivery", "deliver": "delivery", "SendReport": "dispatch",
    "flush": "dispatch", "send_with_outbox": "dispatch", "Outbox": "outbox", "OutboxError": "outbox",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"ztbkit.notify.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'ztbkit.notify' has no attribute {name!r}")


def payload_for(service: str, alert: Alert) -> dict[str, Any]:
    """The webhook body for ``service`` ("discord" or "slack"), within that service's limits."""
    from ztbkit.notify import discord, slack

    return discord.build_payload(alert) if service == "discord" else slack.build_payload(alert)


def check_configuration(env: Any = None) -> tuple[bool, str]:
    """Validate the webhook configuration without posting: (ok, one-line reason, URL redacted)."""
    from ztbkit.core.errors import UsageError
    from ztbkit.notify import discord

    try:
        hook = resolve_webhook(env=env)
    except UsageError as exc:
        return False, str(exc)
    if hook is None:
        return False, "no webhook configured (ZTB_DISCORD_WEBHOOK or SLACK_WEBHOOK_URL)"
    payload = payload_for(
        hook.service, Alert("ztbkit configuration check", "INFO", "dry run: nothing is posted")
    )
    problems = discord.check_limits(payload) if hook.service == "discord" else []
    if problems:
        return False, f"{hook.service} payload invalid: {'; '.join(problems)}"
    return True, f"{hook.service} webhook from {hook.source}: {hook.redacted}"


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
