"""Which webhook to use, which service it is, and how to print it without leaking its token.

Precedence (first set wins): ``--discord-webhook`` > ``ZTB_DISCORD_WEBHOOK`` > ``--webhook`` >
``SLACK_WEBHOOK_URL``. The service is known from the URL's host (discord.com, hooks.slack.com) or
path shape, else from the source that won (the Discord flag and variable mean Discord; the others
Slack).

A webhook URL is a credential: :func:`redact` keeps scheme, host and the path up to the secret, and
replaces the secret, everything after it (``/slack``, ``/github``), any query and any ``user:password@``
with ``****``; :func:`scrub` also removes the webhook's token from response bodies and exception text.
Nothing in ztbkit prints a webhook URL except through them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from ztbkit.core.errors import UsageError

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


def _kept(segments: list[str]) -> int:
    """How many leading path segments are not secret: ``…/webhooks/<id>`` for Discord (the token and
    any ``/slack`` or ``/github`` suffix after it are secret), ``…/services/T…/B…`` for Slack, else
    none: other services put the secret anywhere, even first (``/bot<token>/sendMessage``)."""
    lowered = [s.lower() for s in segments]
    if "webhooks" in lowered:
        i = lowered.index("webhooks")
        has_id = i + 1 < len(segments) - 1 and segments[i + 1].isdigit()
        return i + 2 if has_id else i + 1
    if "services" in lowered:
        return min(lowered.index("services") + 3, len(segments) - 1)
    return 0


# A host as it may appear in a webhook URL: a name (IDN letters allowed) or an IP literal. Anything
# else (a backslash, a "/" that urlsplit left in the netloc, ...) means the "host" may hold the token.
_HOST = re.compile(r"[\w.-]+|[0-9A-Fa-f:.]+(%[\w.-]+)?")


def _host_port(url: str) -> tuple[str, str] | None:
    """``(scheme, host[:port])`` printable without secrets (IPv6 in brackets); None when malformed."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return None
    if not parts.scheme or not host or not _HOST.fullmatch(host):
        return None
    shown = f"[{host}]" if ":" in host else host
    return parts.scheme, f"{shown}:{port}" if port is not None else shown


def redact(url: str) -> str:
    """``https://discord.com/api/webhooks/123/abcdef/slack?x=1`` → ``https://discord.com/api/webhooks/123/****?****``.

    Kept: scheme, host and port, and the non-secret start of the path; dropped: any ``user:password@``,
    the token and everything after it, the query and the fragment.
    """
    where = _host_port(url)
    if where is None:
        return "****"
    parts = urlsplit(url.strip())
    segments = [s for s in parts.path.split("/") if s]
    kept = segments[: _kept(segments)] if segments else []
    path = "/".join([*kept, "****"]) if len(kept) < len(segments) else "/".join(kept)
    query = "?****" if parts.query or parts.fragment else ""
    return f"{where[0]}://{where[1]}/{path}{query}"


def secrets_of(url: str) -> list[str]:
    """The parts of ``url`` that :func:`redact` hides (the whole URL, its encodings, the token,
    suffixes, query, password), longest first, for scrubbing text that may quote any of them."""
    url = url.strip()
    found = {url, quote(url, safe=""), quote(url, safe="/:")}
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return sorted(found, key=len, reverse=True)
    segments = [s for s in parts.path.split("/") if s]
    hidden = segments[_kept(segments) :] if segments else []
    found.update(hidden)
    found.add("/".join(hidden))
    if "@" in parts.netloc:
        found.add(parts.netloc.rsplit("@", 1)[0])
    found.update(x for x in (parts.query, parts.fragment) if x)
    if password:
        found.add(password)
    # very short pieces ("slack", "x=1") are not secrets on their own and would mangle messages
    return sorted((s for s in found if len(s) >= 8 or s == url), key=len, reverse=True)


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")


def scrub(text: str, *urls: str) -> str:
    """``text`` with every URL in it redacted, and every secret part of ``urls`` (the webhook itself:
    token, suffix, query, password, even URL-encoded) replaced by ``****``: for response bodies and
    exception messages that may echo the webhook."""
    for url in urls:
        for secret in secrets_of(url):
            text = text.replace(secret, "****")
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
    where = _host_port(url)
    if where is None or where[0] not in ("http", "https"):
        raise UsageError("{source}: not an http(s) webhook URL with a valid host and port ({url})", source=source,
                         url=redact(url))  # fmt: skip
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
