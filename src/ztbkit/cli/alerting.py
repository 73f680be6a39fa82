"""ztb gates-alert, live-status and notify."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ztbkit.cli.base import (
    ARTIFACTS_OPT,
    STATE_DIR_OPT,
    VERBOSE_OPT,
    cli,
    fail,
    warn_issues,
)
from ztbkit.core.ids import safe_repr
from ztbkit.locale import _

WEBHOOK_OPTS = (
    click.option("--webhook", metavar="URL", help="Webhook URL (Slack or Discord). Env SLACK_WEBHOOK_URL."),
    click.option(
        "--discord-webhook",
        metavar="URL",
        help="Discord webhook URL; wins over everything else. Env ZTB_DISCORD_WEBHOOK.",
    ),
)


def _say(message: str, err: bool = False) -> None:
    """``click.echo`` that never stops an alert: when the reader of our output went away (EPIPE, as in
    ``ztb gates-alert ... | logger`` after logger died) the text is lost, not the alert. The stream is
    pointed at the null device so later lines and the exit flush do not fail again."""
    try:
        click.echo(message, err=err)
    except OSError:
        _silence(sys.stderr if err else sys.stdout)


def _silence(stream: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def _warn(message: str) -> None:
    _say("warning: " + message, err=True)  # the prefix stays English in every language (log readers grep it)


def _outbox(state_dir: Path) -> Any:
    """The outbox in ztbkit's folder (ztbkit.core.statedir: ZTB_HOME, systemd's StateDirectory, else
    <state-dir>/.ztb); None (with a warning) when that folder cannot be used."""
    from ztbkit.core.statedir import ztb_dir
    from ztbkit.notify import Outbox, OutboxError

    try:
        return Outbox(ztb_dir(state_dir), warn=_warn)
    except OutboxError as exc:
        _warn(_("{problem}; alerts are sent without a safety net").format(problem=exc))
        return None


def _echo_flushed(flushed: Sequence[tuple[dict[str, Any], Any]]) -> None:
    from ztbkit.notify.delivery import result_line
    from ztbkit.notify.webhook import Webhook

    for entry, result in flushed:
        hook = Webhook(entry["url"], entry.get("service", "slack"), entry.get("source", "outbox"))
        _say(
            _("outbox {id} ({created}): {result}").format(
                id=entry.get("id", "?")[:8],
                created=entry.get("created_at", "?"),
                result=result_line(result, hook),
            )
        )


def _prepare(alert: Any, discord_webhook: str | None, webhook: str | None, dry_run: bool,
             missing: str, missing_code: int) -> tuple[Any, dict[str, Any]] | None:  # fmt: skip
    """Resolve the webhook and build its payload; None after printing it for --dry-run.

    No webhook (and no --dry-run) stops the command with ``missing`` and ``missing_code``.
    """
    import json

    from ztbkit.notify import Policy, payload_for, resolve_webhook

    hook = resolve_webhook(discord_webhook=discord_webhook, webhook=webhook)
    Policy.from_env()  # a bad ZTB_WEBHOOK_TIMEOUT_SEC / ZTB_DELIVERY_BUDGET_SEC stops here (exit 2)
    payload = payload_for(hook.service if hook else "discord", alert)
    if dry_run:
        _say(json.dumps(payload, indent=2, ensure_ascii=False))
        return None
    if hook is None:
        fail(missing, missing_code)
    return hook, payload


def _keep_status_ids(state_dir: Path) -> Any:
    """After any delivery: a queued ``live-status --edit`` post that went out (sent by whichever
    command flushed it) becomes the message later ``--edit`` runs update, instead of an orphan."""

    def keep(entry: dict[str, Any], result: Any) -> None:
        from ztbkit.notify.live import save_message_id, url_hash

        new_id = result.response.get("id") if isinstance(result.response, dict) else None
        is_status_post = entry.get("method") == "POST" and entry.get("params", {}).get("wait") == "true"
        if (
            is_status_post
            and entry.get("key") == f"live-status-{url_hash(entry['url'])}"
            and isinstance(new_id, str | int)
        ):
            save_message_id(state_dir, entry["url"], str(new_id))

    return keep


def _send_and_exit(hook: Any, payload: dict[str, Any], state_dir: Path) -> None:
    """Send (older outbox entries first), print each outcome, exit 0 only when delivered."""
    from ztbkit.notify import send_with_outbox
    from ztbkit.notify.delivery import result_line

    report = send_with_outbox(hook, payload, _outbox(state_dir), on_delivered=_keep_status_ids(state_dir))
    _echo_flushed(report.flushed)
    _say(result_line(report.result, hook, kept=report.queued))
    sys.exit(0 if report.result.delivered else 1)


def _edit_status(hook: Any, payload: dict[str, Any], state_dir: Path) -> None:
    """``live-status --edit``: PATCH the saved message (or post one and save its id), through the outbox
    like every alert; a queued edit is replaced by a newer one (only the latest status matters)."""
    from ztbkit.notify import send_with_outbox
    from ztbkit.notify.delivery import result_line
    from ztbkit.notify.live import save_message_id, saved_message_id, url_hash

    outbox, key = _outbox(state_dir), f"live-status-{url_hash(hook.url)}"
    message_id = saved_message_id(state_dir, hook.url)
    if message_id:
        edit_body = {k: v for k, v in payload.items() if k not in ("username", "avatar_url")}
        report = send_with_outbox(hook, edit_body, outbox, method="PATCH", suffix=f"/messages/{message_id}",
                                  key=key, on_delivered=_keep_status_ids(state_dir))  # fmt: skip
        _echo_flushed(report.flushed)
        if report.result.delivered:
            _say(_("edited status message {id} via {url}").format(id=message_id, url=hook.redacted))
            return
        if report.result.http_status != 404:
            _say(result_line(report.result, hook, kept=report.queued))
            sys.exit(1)
        _say(_("status message {id} is gone; posting a new one").format(id=message_id), err=True)
    report = send_with_outbox(hook, payload, outbox, params={"wait": "true"}, key=key,
                              on_delivered=_keep_status_ids(state_dir))  # fmt: skip
    _echo_flushed(report.flushed)
    result = report.result
    new_id = result.response.get("id") if isinstance(result.response, dict) else None
    if result.delivered and isinstance(new_id, str | int):
        try:
            save_message_id(state_dir, hook.url, str(new_id))
        except OSError as exc:  # read-only/full: the post went out; the next run posts a new one
            _warn(_("cannot keep the status message id in {folder} ({reason}); the next --edit run posts a "
                    "new message").format(folder=state_dir, reason=exc.strerror or exc))  # fmt: skip
            return
        _say(
            _("posted status message {id} via {url}; later runs with --edit update it").format(
                id=new_id, url=hook.redacted
            )
        )
        return
    _say(result_line(result, hook, kept=report.queued))
    sys.exit(0 if result.delivered else 1)


@cli.command("gates-alert")
@click.option("--correlation-id", required=True, help="Session whose reports/gates.json to check.")
@ARTIFACTS_OPT
@WEBHOOK_OPTS[0]
@WEBHOOK_OPTS[1]
@STATE_DIR_OPT
@click.option("--dry-run", is_flag=True, help="Print the alert payload instead of posting it.")
@VERBOSE_OPT
def gates_alert_cmd(correlation_id: str, artifacts_dir: Path, webhook: str | None, discord_webhook: str | None,
                    state_dir: Path, dry_run: bool, verbose: bool) -> None:  # fmt: skip
    """Alert Discord/Slack when a session's acceptance gates failed.

    No gates file (or an empty one): prints SKIP, exit 0; no --artifacts-dir folder at all: exit 2.
    No failures: nothing is sent, exit 0.
    Failures: one alert naming the first 3 failing gates (+N more) with reasons and a dashboard link,
    ERROR when a critical gate failed, else WARN. Failures with no webhook configured: exit 1.
    The alert is queued in <state-dir>/.ztb before the first attempt and leaves the queue only when
    delivered or refused for good (dead letter); older queued alerts go first. One attempt lasts at
    most ZTB_WEBHOOK_TIMEOUT_SEC (30 s), all delivery at most ZTB_DELIVERY_BUDGET_SEC (120 s);
    not delivered in time: exit 1, it waits for the next run.

    \b
    Examples:
      ztb gates-alert --correlation-id 20250929T120000Z
      ztb gates-alert --correlation-id 20250929T120000Z --discord-webhook "$HOOK"
      ztb gates-alert --correlation-id 20250929T120000Z --dry-run
    """
    from ztbkit.core.clock import SYSTEM_CLOCK
    from ztbkit.core.errors import ArtifactsNotFoundError
    from ztbkit.notify.gate_alert import dashboard_link, gates_alert, read_gates

    if not artifacts_dir.is_dir():  # run from the wrong folder: no gates were looked at, so no SKIP
        what = (_("artifacts folder {path} is not a folder (set it with --artifacts-dir)") if artifacts_dir.exists()
                else _("artifacts folder {path} does not exist (set it with --artifacts-dir)"))  # fmt: skip
        raise ArtifactsNotFoundError(what.format(path=repr(str(artifacts_dir))))
    check = read_gates(artifacts_dir, correlation_id)
    try:
        warn_issues(check.issues, verbose)
    except OSError:
        _silence(sys.stderr)
    from ztbkit.notify.waiting import flush_waiting

    if check.report is None:
        _say("SKIP: " + _("no gates to check ({path} is missing or empty)").format(path=check.path))
        if not dry_run:
            flush_waiting(state_dir, _say, lambda m: _say(m, err=True))
        return
    link = dashboard_link(artifacts_dir, correlation_id, os.environ)
    alert = gates_alert(correlation_id, check, link, now=SYSTEM_CLOCK.now())
    if alert is None:
        _say("OK: " + _("{n} gate(s), none failed; nothing sent").format(n=len(check.report.results)))
        if not dry_run:  # an alert queued on an earlier run still goes out
            flush_waiting(state_dir, _say, lambda m: _say(m, err=True))
        return
    failed = check.report.failures
    names = ", ".join(g.name for g in failed) or "pass: false"
    _say(
        "FAIL: "
        + _("{n} gate(s) failed ({level}): {names}").format(
            n=len(failed), level=alert.level, names=safe_repr(names)
        )
    )  # names cannot forge lines
    prepared = _prepare(alert, discord_webhook, webhook, dry_run, _("gates failed but no webhook is configured "
                        "(--discord-webhook, ZTB_DISCORD_WEBHOOK, --webhook or SLACK_WEBHOOK_URL)"), 1)  # fmt: skip
    if prepared is not None:
        _send_and_exit(*prepared, state_dir)


@cli.command("live-status")
@click.argument("webhook_url", required=False)
@STATE_DIR_OPT
@WEBHOOK_OPTS[1]
@click.option("--dry-run", is_flag=True, help="Print the payload instead of posting it (no webhook needed).")
@click.option(
    "--edit", is_flag=True, help="Keep one Discord message up to date instead of posting a new one."
)
def live_status(webhook_url: str | None, state_dir: Path, discord_webhook: str | None, dry_run: bool,
                edit: bool) -> None:  # fmt: skip
    """Post the live bot status snapshot (trade state, configuration, performance per pair).

    Reads trade-state.json, trade-config.json and stats.json from --state-dir; a missing file drops
    its field, never the message. WEBHOOK_URL counts as --webhook in the precedence order.

    \b
    Examples:
      ztb live-status --state-dir /opt/bot --dry-run
      ztb live-status "$SLACK_HOOK" --state-dir /opt/bot
      ZTB_DISCORD_WEBHOOK=... ztb live-status --state-dir /opt/bot --edit
    """
    from ztbkit.core.clock import SYSTEM_CLOCK
    from ztbkit.notify.live import load_live_state, status_alert

    live = load_live_state(state_dir)
    try:
        warn_issues(live.problems)
    except OSError:
        _silence(sys.stderr)
    alert = status_alert(live, state_dir, now=SYSTEM_CLOCK.now())
    prepared = _prepare(alert, discord_webhook, webhook_url, dry_run, _("no webhook: pass WEBHOOK_URL or "
                        "--discord-webhook, or set ZTB_DISCORD_WEBHOOK or SLACK_WEBHOOK_URL"), 2)  # fmt: skip
    if prepared is None:
        return
    hook, payload = prepared
    if not edit:
        _send_and_exit(hook, payload, state_dir)
    if hook.service != "discord":
        fail(_("--edit needs a Discord webhook (Slack incoming webhooks cannot edit a message)"))
    _edit_status(hook, payload, state_dir)


@cli.command()
@click.option("--flush-outbox", is_flag=True, help="Send every alert waiting in the outbox now.")
@click.option("--check", is_flag=True, help="Validate the webhook configuration and a payload; post nothing.")
@STATE_DIR_OPT
def notify(flush_outbox: bool, check: bool, state_dir: Path) -> None:
    """Show or flush the outbox of alerts that could not be delivered yet.

    --flush-outbox sends them oldest first within ZTB_DELIVERY_BUDGET_SEC (120 s); what does not fit,
    and later alerts to a webhook that just failed, wait for the next run. Exit 0 when none is left.

    \b
    Examples:
      ztb notify                      how many alerts are waiting
      ztb notify --flush-outbox --state-dir /opt/bot
      ztb notify --check              is a webhook configured and valid? (posts nothing)
    """
    if check:
        from ztbkit.notify import check_configuration

        ok, why = check_configuration()
        _say(f"{'OK' if ok else 'FAIL'}: {why}")
        sys.exit(0 if ok else 1)
    outbox = _outbox(state_dir)
    if outbox is None:
        from ztbkit.core.statedir import ztb_dir

        fail(_("{folder}: the outbox folder cannot be used").format(folder=ztb_dir(state_dir)))
    if not flush_outbox:
        outbox.merge()
        waiting = outbox.pending()
        _say(_("{n} alert(s) waiting in {path}").format(n=len(waiting), path=outbox.path))
        if outbox.dead_path.is_file():
            with outbox.dead_path.open("rb") as fh:
                dead = sum(1 for line in fh if line.strip())
            _say(_("{n} alert(s) refused for good in {path}").format(n=dead, path=outbox.dead_path))
        return
    from ztbkit.notify.dispatch import flush

    flushed = flush(outbox, on_delivered=_keep_status_ids(state_dir), send_unrecordable=True)
    _echo_flushed(flushed)
    left = len(outbox.pending())
    _say(
        _("{delivered} delivered, {left} still waiting in {path}").format(
            delivered=sum(r.delivered for _e, r in flushed), left=left, path=outbox.path
        )
    )
    sys.exit(0 if left == 0 and all(r.delivered for _e, r in flushed) else 1)
