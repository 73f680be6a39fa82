"""``ztb trend-alert``: one compact alert per regressed session, sent once.

What counts as a regression is :mod:`ztbkit.analysis.regression`. Policy (users rely on it):

* One compact alert per regressed session goes through the notify package (the same outbox,
  redaction and size limits as ``ztb gates-alert``). The session id is written to
  ``<state-dir>/.ztb/trend-alert-state.json`` (atomically, under a file lock) *before* the alert
  is sent (write-ahead), so a kill at any point gives at most one extra copy (the outbox's own
  retry), never a fresh alert on every later run. A permanently refused alert, or one that could
  neither be delivered nor queued (said as LOST), is taken out of the record again: the next run
  tries again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ztbkit.analysis.regression import DEFAULT_METRICS, TrendCheck, check_trend
from ztbkit.core.errors import N_, UsageError, ZtbError
from ztbkit.core.fsio import atomic_write_json, make_folders
from ztbkit.core.jsonread import read_json_if_exists
from ztbkit.core.statedir import ztb_dir
from ztbkit.data.session import Session
from ztbkit.locale import _
from ztbkit.notify.alert import Alert, Field

STATE_FILE = "trend-alert-state.json"
KEEP_ALERTED = 1000  # ids remembered; older ones are dropped from the state file


class UndeliveredAlertError(ZtbError):
    """The alert could not be handed to the webhook or the outbox (exit 1)."""

    exit_code = 1


def regression_alert(
    check: TrendCheck, link: str, *, mad_k: float, now: datetime | None = None
) -> Alert | None:
    """One compact WARN alert naming each regressed metric; None when nothing regressed."""
    bad = check.regressions
    if not bad:
        return None
    below = _("{value} < median {median} − {k}×MAD {mad} (= {threshold}; last {n} finished sessions)")
    lines = [
        f"• **{c.metric}** {c.detail}"
        if c.detail
        else f"• **{c.metric}** "
        + below.format(
            value=f"{c.value:.4g}",
            median=f"{c.median:.4g}",
            k=f"{mad_k:g}",
            mad=f"{c.mad:.4g}",
            threshold=f"{c.threshold:.4g}",
            n=len(c.baseline),
        )
        for c in bad
    ]
    return Alert(
        title=_("Trend regression: {id}").format(id=check.session_id),
        level="WARN",
        description="\n".join(lines),
        fields=(
            Field(_("Session"), check.session_id, True),
            Field(_("Metrics"), ", ".join(c.metric for c in bad), True),
            Field(_("Dashboard"), link, False),
        ),
        url=link if link.startswith(("http://", "https://")) else None,
        footer="ztbkit trend-alert",
        timestamp=now,
    )


class AlertLedger:
    """Which sessions were already alerted: ``<state_dir>/.ztb/trend-alert-state.json``, locked."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        from filelock import FileLock

        self.path = ztb_dir(state_dir) / STATE_FILE
        make_folders(self.path.parent)
        self.lock = FileLock(str(self.path) + ".lock", timeout=120)

    def _read(self) -> dict[str, Any]:
        read = read_json_if_exists(self.path)
        if read is None:
            return {}
        if read.problem is not None or not isinstance(read.value, dict):
            raise UsageError("{path}: unreadable trend-alert state ({problem}); move it aside", path=self.path,
                             problem=read.problem or N_("not an object"))  # fmt: skip
        alerted = read.value.get("alerted")
        return alerted if isinstance(alerted, dict) else {}

    def alerted(self, session_id: str) -> bool:
        return session_id in self._read()

    def forget(self, session_id: str) -> None:
        alerted = self._read()
        if alerted.pop(session_id, None) is not None:
            atomic_write_json(self.path, {"alerted": alerted})

    def record(self, session_id: str, metrics: Sequence[str], now: datetime) -> None:
        alerted = self._read()
        alerted[session_id] = {"at": now.isoformat(timespec="seconds"), "metrics": list(metrics)}
        kept = dict(sorted(alerted.items(), key=lambda kv: str(kv[1].get("at", "")))[-KEEP_ALERTED:])
        atomic_write_json(self.path, {"alerted": kept})


@dataclass(slots=True)
class Sent:
    delivered: bool
    queued: bool
    lines: list[str]


def send_alert(
    alert: Alert,
    state_dir: str | os.PathLike[str],
    *,
    discord_webhook: str | None = None,
    webhook: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Sent | None:
    """Send through the notify package exactly as gates-alert does (outbox first, then this alert).

    The one place trend alerts touch notify. None when no webhook is configured.
    """
    from ztbkit.notify import Outbox, OutboxError, payload_for, resolve_webhook, send_with_outbox
    from ztbkit.notify.delivery import result_line

    hook = resolve_webhook(discord_webhook=discord_webhook, webhook=webhook, env=env)
    if hook is None:
        return None
    lines: list[str] = []
    try:
        outbox: Outbox | None = Outbox(ztb_dir(state_dir), warn=lambda m: lines.append(f"warning: {m}"))
    except OutboxError as exc:  # a read-only or full state folder: the alert still goes out
        lines.append("warning: " + _("{problem}; sending the alert without the outbox").format(problem=exc))
        outbox = None
    report = send_with_outbox(hook, payload_for(hook.service, alert), outbox)
    lines += [f"outbox {e.get('id', '?')[:8]}: {result_line(r, hook)}" for e, r in report.flushed]
    lines.append(result_line(report.result, hook, kept=report.queued))
    return Sent(report.result.delivered, report.queued, lines)


@dataclass(slots=True)
class TrendOutcome:
    status: str  # nothing | ok | already-alerted | dry-run | sent | queued | no-webhook | failed
    lines: list[str]
    payload: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.status in ("no-webhook", "failed", "queued") else 0


def run_trend_alert(
    sessions: Iterable[Session],
    artifacts_dir: str | os.PathLike[str],
    state_dir: str | os.PathLike[str],
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    window: int = 10,
    mad_k: float = 3.0,
    dsr_below: float | None = None,
    dry_run: bool = False,
    discord_webhook: str | None = None,
    webhook: str | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> TrendOutcome:
    """Check, alert once, remember: the whole ``ztb trend-alert`` (and the nightly step).

    The check, the send and the record happen under the state file's lock, so two runs racing
    never alert the same session twice.
    """
    from ztbkit.notify import payload_for, resolve_webhook
    from ztbkit.notify.gate_alert import dashboard_link

    environ = os.environ if env is None else env
    check = check_trend(sessions, metrics, window=window, mad_k=mad_k, dsr_below=dsr_below, now=now)
    if check is None:
        return TrendOutcome("nothing", ["SKIP: " + _("no finished session to check")])
    lines = [_("skipped {what}").format(what=s) for s in check.skipped]
    # The REGRESSED/ok column stays English in every language, like the OK:/SKIP: prefixes (log readers).
    lines += [
        f"{'REGRESSED' if c.regressed else 'ok':<9} {c.metric}: "
        + (
            _("{value} vs threshold {threshold} (N={n})").format(
                value=f"{c.value:.4g}", threshold=f"{c.threshold:g}", n=len(c.baseline))
            if c.detail
            else _("{value} vs median {median}, MAD {mad}, threshold {threshold} (n={n})").format(
                value=f"{c.value:.4g}", median=f"{c.median:.4g}", mad=f"{c.mad:.4g}",
                threshold=f"{c.threshold:.4g}", n=len(c.baseline))
        )
        for c in check.checks
    ]  # fmt: skip
    alert = regression_alert(
        check, dashboard_link(artifacts_dir, check.session_id, environ), mad_k=mad_k, now=now
    )
    if alert is None:
        return TrendOutcome(
            "ok",
            [*lines, "OK: " + _("{id} is within the recent range; nothing sent").format(id=check.session_id)],
        )
    if dry_run:
        hook = resolve_webhook(discord_webhook=discord_webhook, webhook=webhook, env=environ)
        payload = payload_for(hook.service if hook else "discord", alert)
        return TrendOutcome(
            "dry-run", [*lines, "DRY RUN: " + _("would alert {id}").format(id=check.session_id)], payload
        )
    ledger = AlertLedger(state_dir)
    with ledger.lock:
        if ledger.alerted(check.session_id):
            return TrendOutcome(
                "already-alerted",
                [*lines, "SKIP: " + _("{id} was already alerted").format(id=check.session_id)],
            )
        if resolve_webhook(discord_webhook=discord_webhook, webhook=webhook, env=environ) is not None:
            # write-ahead: recorded before the post, so a kill after the server accepted it cannot
            # make every later run alert this session again
            ledger.record(check.session_id, [c.metric for c in check.regressions], now or datetime.now(UTC))
        try:
            sent = send_alert(alert, state_dir, discord_webhook=discord_webhook, webhook=webhook, env=environ)
        except Exception:  # an error, not a kill: nothing went out, so the next run tries again
            ledger.forget(check.session_id)
            raise
        if sent is None:
            return TrendOutcome(
                "no-webhook",
                [
                    *lines,
                    "REGRESSION "
                    + _(
                        "in {id} but no webhook is configured (--discord-webhook, ZTB_DISCORD_WEBHOOK, "
                        "--webhook or SLACK_WEBHOOK_URL)"
                    ).format(id=check.session_id),
                ],
            )
        if not (sent.delivered or sent.queued):
            ledger.forget(check.session_id)  # refused or lost: the next run tries again
        status = "sent" if sent.delivered else ("queued" if sent.queued else "failed")
        return TrendOutcome(status, [*lines, *sent.lines])


def nightly_trend_alert(
    sessions: Iterable[Session],
    artifacts_dir: str | os.PathLike[str],
    state_dir: str | os.PathLike[str],
    *,
    now: datetime | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Path, str] | None:
    """The nightly step: default options; None (step not run) when no webhook is configured.

    Raises :class:`UndeliveredAlertError` when the alert could not be delivered now.
    """
    from ztbkit.notify import resolve_webhook

    if resolve_webhook(env=os.environ if env is None else env) is None:
        return None
    out = run_trend_alert(sessions, artifacts_dir, state_dir, env=env, now=now)
    if out.exit_code:
        raise UndeliveredAlertError(out.lines[-1])
    return ztb_dir(state_dir) / STATE_FILE, out.lines[-1]
