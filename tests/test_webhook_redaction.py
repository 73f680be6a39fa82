"""``ztbkit.notify.webhook``: which service a URL is, and what of it may be printed (module docstring).

Expected strings are written out here by hand from the docstring's rule: scheme, host[:port] and the
non-secret start of the path are kept; the token, everything after it, the query, the fragment and any
``user:password@`` become ``****``.
"""

from __future__ import annotations

import pytest
from fakehook import TOKEN

from ztbkit import UsageError
from ztbkit.notify.webhook import Webhook, redact, resolve_webhook, scrub, secrets_of, service_of


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://discord.com/api/webhooks/{TOKEN}", "https://discord.com/api/webhooks/****"),  # no id
        ("https://discord.com/api/webhooks/123456", "https://discord.com/api/webhooks/****"),  # id alone
        (
            f"https://discord.com/api/webhooks/abc/{TOKEN}",
            "https://discord.com/api/webhooks/****",
        ),  # not an id
        (f"https://discord.com/Api/WebHooks/99/{TOKEN}", "https://discord.com/Api/WebHooks/99/****"),
        (f"https://hooks.slack.com/services/T000/{TOKEN}", "https://hooks.slack.com/services/T000/****"),
        (f"https://hooks.slack.com/services/T0/B0/{TOKEN}/x", "https://hooks.slack.com/services/T0/B0/****"),
        (f"https://hooks.slack.com/SERVICES/T0/B0/{TOKEN}", "https://hooks.slack.com/SERVICES/T0/B0/****"),
        (
            f"http://127.0.0.1:8080/hook/{TOKEN}",
            "http://127.0.0.1:8080/****",
        ),  # not Discord/Slack: no path kept
        (f"https://api.telegram.org/bot{TOKEN}/sendMessage", "https://api.telegram.org/****"),  # token first
        (f"http://127.0.0.1:8080/{TOKEN}", "http://127.0.0.1:8080/****"),
        ("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/****"),  # one segment: it may be the token
        ("https://example.com", "https://example.com/"),
        ("https://discord.com/api/webhooks", "https://discord.com/api/webhooks"),  # nothing secret in it
        ("https://example.com/?k=v", "https://example.com/?****"),
        (f"https://example.com/a/hook#{TOKEN}", "https://example.com/****?****"),
        (f"  https://{TOKEN}:{TOKEN}@example.com:444/a/hook  ", "https://example.com:444/****"),
        (f"http://[::1]:8080/api/webhooks/1/{TOKEN}", "http://[::1]:8080/api/webhooks/1/****"),
        (f"http://[::1]/api/webhooks/1/{TOKEN}", "http://[::1]/api/webhooks/1/****"),
        (f"http://bad\\host/{TOKEN}", "****"),  # a host that is not a host: may hold the token
        (f"http://h:99999/{TOKEN}", "****"),  # a port out of range
        (f"//discord.com/api/webhooks/1/{TOKEN}", "****"),  # no scheme
        (f"https:///api/webhooks/1/{TOKEN}", "****"),  # no host
        ("", "****"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_webhook_prints_only_redacted() -> None:
    hook = Webhook(f"https://discord.com/api/webhooks/1/{TOKEN}", "discord", "ZTB_DISCORD_WEBHOOK")
    expected = (
        "Webhook('https://discord.com/api/webhooks/1/****', service='discord', source='ZTB_DISCORD_WEBHOOK')"
    )
    assert repr(hook) == expected and str(hook) == expected and f"{hook}" == expected
    assert hook.redacted == "https://discord.com/api/webhooks/1/****"


def test_secrets_are_every_hidden_part_but_not_short_words() -> None:
    url = f"https://user:pa55word-long@hooks.example/services/T0/B0/{TOKEN}/slack?sig=abcdefgh12#frag"
    secrets = secrets_of(f"  {url} ")
    for part in (url, TOKEN, f"{TOKEN}/slack", "pa55word-long", "user:pa55word-long", "sig=abcdefgh12"):
        assert part in secrets, part
    assert "slack" not in secrets and "frag" not in secrets  # too short to be secrets on their own
    assert [len(s) for s in secrets] == sorted((len(s) for s in secrets), reverse=True)  # longest first
    assert "https%3A%2F%2Fuser%3Apa55word-long%40hooks.example%2Fservices" in secrets[0] + secrets[1]


def test_an_unparsable_url_is_still_scrubbed_whole() -> None:
    url = f"http://[::1/api/webhooks/1/{TOKEN}"  # urlsplit raises on the broken IPv6 literal
    assert scrub(f"error: {url} (again: {url})", url) == "error: **** (again: ****)"
    assert url in secrets_of(url)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"bad token {TOKEN}!", "bad token ****!"),
        ("pw hunter2-is-long in user:hunter2-is-long", "pw **** in ****"),
        ("see https%3A%2F%2Fuser%3Ahunter2-is-long%40h.example%2Fservices%2FT0%2FB0%2F" + TOKEN, "see ****"),
        (f"url /services/T0/B0/{TOKEN} failed", "url /services/T0/B0/**** failed"),
        ("at https://user:hunter2-is-long%40h.example/services/T0/B0/" + TOKEN, "at ****"),  # quoted, safe="/:"
        ("other http://x.example/a/b?c=1 and 'https://y.example/p'", "other http://x.example/****?**** and 'https://y.example/****'"),
    ],
)  # fmt: skip
def test_scrub(text: str, expected: str) -> None:
    url = f"https://user:hunter2-is-long@h.example/services/T0/B0/{TOKEN}"
    assert scrub(text, url) == expected


def test_scrub_hides_a_token_with_its_suffix_and_a_password_holding_an_at_sign() -> None:
    hook = f"https://discord.com/api/webhooks/5/{TOKEN}/github"
    assert scrub(f"no route {TOKEN}/github here", hook) == "no route **** here"
    with_at = f"https://user:hunter2@is-long@h.example/services/T0/B0/{TOKEN}"
    assert scrub("login user:hunter2@is-long failed", with_at) == "login **** failed"


def test_scrub_with_no_webhook_still_redacts_every_url_in_the_text() -> None:
    assert scrub(f"at HTTPS://Discord.com/api/webhooks/5/{TOKEN}/github\tand") == (
        "at https://discord.com/api/webhooks/5/****\tand"
    )


@pytest.mark.parametrize(
    ("url", "source", "service"),
    [
        ("https://discord.com/x/y", "--webhook", "discord"),  # by host
        ("https://discordapp.com/x/y", "SLACK_WEBHOOK_URL", "discord"),
        ("https://ptb.discord.com/x/y", "--webhook", "discord"),
        ("https://canary.discord.com/x/y", "--webhook", "discord"),
        ("https://DISCORD.COM/x/y", "--webhook", "discord"),
        ("https://hooks.slack.com/workflows/T/A/1/t", "--discord-webhook", "slack"),
        ("http://proxy.example/api/webhooks/1/t", "SLACK_WEBHOOK_URL", "discord"),  # by path shape
        ("http://proxy.example/x/services/T/B/t", "ZTB_DISCORD_WEBHOOK", "slack"),
        ("http://proxy.example/hook/t", "ZTB_DISCORD_WEBHOOK", "discord"),  # by the source
        ("http://proxy.example/hook/t", "--discord-webhook", "discord"),
        ("http://proxy.example/hook/t", "--webhook", "slack"),
        ("http://proxy.example/hook/t", "SLACK_WEBHOOK_URL", "slack"),
        ("http://notdiscord.com/hook/t", "--webhook", "slack"),
    ],
)
def test_service_of(url: str, source: str, service: str) -> None:
    assert service_of(url, source) == service


@pytest.mark.parametrize(
    "bad",
    [f"discord.com/api/webhooks/1/{TOKEN}",
     f"http://h:0x50/{TOKEN}", f"https://[::1/{TOKEN}"],
)  # fmt: skip
def test_a_bad_url_is_a_usage_error_naming_its_source(bad: str) -> None:
    with pytest.raises(UsageError) as err:
        resolve_webhook(webhook=bad, env={})
    assert str(err.value) == "--webhook: not an http(s) webhook URL with a valid host and port (****)"


def test_a_bad_url_message_shows_the_redacted_url() -> None:
    with pytest.raises(UsageError) as err:
        resolve_webhook(env={"SLACK_WEBHOOK_URL": f"gopher://h.example/services/T0/B0/{TOKEN}"})
    assert str(err.value) == (
        "SLACK_WEBHOOK_URL: not an http(s) webhook URL with a valid host and port "
        "(gopher://h.example/services/T0/B0/****)"
    )


def test_resolve_strips_the_url_and_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"  https://hooks.slack.com/services/T/B/{TOKEN}\n")
    monkeypatch.delenv("ZTB_DISCORD_WEBHOOK", raising=False)
    hook = resolve_webhook()
    assert hook == Webhook(f"https://hooks.slack.com/services/T/B/{TOKEN}", "slack", "SLACK_WEBHOOK_URL")
    assert resolve_webhook(env={}) is None
    assert resolve_webhook(discord_webhook=" ", webhook="", env={"ZTB_DISCORD_WEBHOOK": "\t"}) is None


def test_a_secret_of_eight_characters_is_scrubbed_but_seven_are_not() -> None:
    # "very short pieces are not secrets on their own": the limit is 8 characters
    assert (
        scrub("login hunter22 refused", "https://u:hunter22@h.example/services/T0/B0/x")
        == "login **** refused"
    )
    assert (
        scrub("login hunter2 refused", "https://u:hunter2@h.example/services/T0/B0/x")
        == "login hunter2 refused"
    )
