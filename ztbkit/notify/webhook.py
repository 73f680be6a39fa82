"""Which webhook to use, which service it is, and how to print it without leaking its token.

Precedence (first set wins): ``--discord-webhook`` > ``ZTB_DISCORD_WEBHOOK`` > ``--webhook`` >
``SLACK_WEBHOOK_URL``. The service is known from the URL's host (discord.com, hooks.slack.com) or
path shape, else from the source that won (the Discord flag and variable mean Discord; the others
Slack).

A webhook URL is a credential: :func:`redact` keeps scheme, host and the path up to the secret, and
replaces the secret (last path segment) and any query with ``****``. Nothing in ztbkit prints a
webhook URL except through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ztbkit.errors import UsageError

DISCORD_HOSTS = ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com")
SLACK_HOSTS = ("hooks.slack.com",)


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    service: str  # "discord" | "slack"
    source: str  # the flag or variable it came from

    @property
    def redacted(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:  # never show the token, even in a traceback or a debugger
        return f"Webhook({self.redacted!r}, service={self.service!r}, source={self.source!r})"

    __str__ = __repr__


def redact(url: str) -> str:
    """``https://discord.com/api/webhooks/123/abcdef`` → ``https://discord.com/api/webhooks/123/****``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    if not parts.scheme or not parts.netloc:
        return "****"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    segments = [s for s in parts.path.split("/") if s]
    if segments:
        segments[-1] = "****"
    query = "?****" if parts.query else ""
    return f"{parts.scheme}://{host}/{'/'.join(segments)}{query}"


_URL = re.compile(r"https?://[^\s\"'<>]+")


def scrub(text: str) -> str:
    """Redact every URL inside ``text`` (for messages from libraries that quote the URL)."""
    return _URL.sub(lambda m: redact(m.group(0)), text)


def service_of(url: str, source: str) -> str:
    """By host, else by path shape (``/api/webhooks/<id>/<token>`` or ``/services/T…/B…/…``, as behind
    a proxy), else by the source that won."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path
    if host in DISCORD_HOSTS or "/api/webhooks/" in path:
        return "discord"
    if host in SLACK_HOSTS or "/services/" in path:
        return "slack"
    return "discord" if "discord" in source.lower() else "slack"


def _check(url: str, source: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{source}: not an http(s) webhook URL ({redact(url)})")
    return url


def resolve_webhook(
    *,
    discord_webhook: str | None = None,
    webhook: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Webhook | None:
    """The webhook to use, by precedence; None when nothing is configured."""
    environ = os.environ if env is None else env
    for value, source in (
        (discord_webhook, "--discord-webhook"),
        (environ.get("ZTB_DISCORD_WEBHOOK"), "ZTB_DISCORD_WEBHOOK"),
        (webhook, "--webhook"),
        (environ.get("SLACK_WEBHOOK_URL"), "SLACK_WEBHOOK_URL"),
    ):
        if value and value.strip():
            url = _check(value, source)
            return Webhook(url, service_of(url, source), source)
    return None
