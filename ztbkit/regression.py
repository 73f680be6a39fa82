"""Trend alerts: is the newest finished session clearly worse than the recent ones?

Policy (users rely on it):

* A session is *finished* when its folder exists and index.json does not mark it ``running``.
  Sessions are ordered by start time (then id); the newest finished one is compared, per metric,
  with the previous ``window`` finished sessions that have a finite value for that metric. A start
  time after now (a typo'd year) is ordered as unknown, and said: otherwise that one session would
  be "the newest" every night and no later run would ever be judged.
* Each metric's baseline is the median and the MAD (median absolute deviation, unscaled) of those
  values; the session regressed on a metric when its value is below ``median − k·MAD``. With fewer
  than 3 baseline values a metric is not judged (reported as skipped), nor when ``median − k·MAD``
  is not a finite number (values as far apart as ±1e308): no verdict rather than a false "ok". All
  metrics are "higher is better" (rl_sharpe, dsr, global_step). Optionally (``--dsr-below P``) the
  session also regressed when its trials-adjusted DSR (:mod:`ztbkit.leaderboard`, all finished
  sessions as trials) is below P.
* One compact alert per regressed session goes through the notify package (the same outbox,
  redaction and size limits as ``ztb gates-alert``). The session id is then written to
  ``<state-dir>/.ztb/trend-alert-state.json`` (atomically, under a file lock) once the alert was
  delivered or queued in the outbox, so the same session is never alerted twice. A permanently
  refused alert is not recorded: the next run tries again.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ztbkit.artifacts import Session
from ztbkit.errors import UsageError, ZtbError
from ztbkit.fsio import atomic_write_json, read_json_if_exists
from ztbkit.notify.alert import Alert, Field

METRIC_CHOICES = ("rl_sharpe", "dsr", "global_step")
DEFAULT_METRICS = ("rl_sharpe",)
MIN_BASELINE = 3
STATE_FILE = "trend-alert-state.json"
KEEP_ALERTED = 1000  # ids remembered; older ones are dropped from the state file


class UndeliveredAlertError(ZtbError):
    """The alert could not be handed to the webhook or the outbox (exit 1)."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class MetricCheck:
    metric: str
    value: float
    median: float
    mad: float
    threshold: float
    baseline: tuple[str, ...]
    detail: str = ""  # replaces the median/MAD wording (the trials-adjusted DSR check)

    @property
    def regressed(self) -> bool:
        return self.value < self.threshold


@dataclass(slots=True)
class TrendCheck:
    session_id: str
    checks: list[MetricCheck] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "metric: why"

    @property
    def regressions(self) -> list[MetricCheck]:
        return [c for c in self.checks if c.regressed]


def _value(s: Session, metric: str) -> float | None:
    v = getattr(s, metric, None)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def finished_sessions(sessions: Iterable[Session], now: datetime | None = None) -> list[Session]:
    """Finished sessions (on disk, not marked running), oldest first by start time then id; a start
    time after ``now`` is ordered as unknown (first)."""
    done = [s for s in sessions if s.on_disk and s.status != "running"]
    floor = datetime.min.replace(tzinfo=UTC)

    def start(s: Session) -> datetime:
        return s.start_time if s.start_time is not None and (now is None or s.start_time <= now) else floor

    return sorted(done, key=lambda s: (start(s), s.session_id))


def median_mad(values: Sequence[float]) -> tuple[float, float]:
    """Median and unscaled median absolute deviation."""
    med = statistics.median(values)
    return med, statistics.median([abs(v - med) for v in values])


def check_trend(
    sessions: Iterable[Session],
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    window: int = 10,
    mad_k: float = 3.0,
    dsr_below: float | None = None,
    now: datetime | None = None,
) -> TrendCheck | None:
    """Compare the newest finished session with the previous ``window``; None when nothing is finished.

    With ``dsr_below``, the newest session also regressed when its trials-adjusted DSR (all finished
    sessions as the trials, default leaderboard assumptions) is below that value.
    """
    check_options(metrics, window, mad_k)
    if dsr_below is not None and not 0 <= dsr_below <= 1:
        raise UsageError(f"--dsr-below: need a probability between 0 and 1, got {dsr_below}")
    done = finished_sessions(sessions, now)
    if not done:
        return None
    newest, earlier = done[-1], done[:-1]
    result = TrendCheck(newest.session_id)
    if now is not None:
        result.skipped += [f"{s.session_id}: start time {s.start_time.isoformat()} is in the future; ordered as "
                           "unknown" for s in done if s.start_time is not None and s.start_time > now]  # fmt: skip
    for metric in dict.fromkeys(metrics):
        value = _value(newest, metric)
        if value is None:
            result.skipped.append(f"{metric}: the newest session has no value")
            continue
        base = [(s.session_id, v) for s in earlier if (v := _value(s, metric)) is not None][-window:]
        if len(base) < MIN_BASELINE:
            result.skipped.append(f"{metric}: {len(base)} earlier value(s), need {MIN_BASELINE}")
            continue
        med, mad = median_mad([v for _, v in base])
        threshold = med - mad_k * mad
        if not math.isfinite(threshold):  # finite values as far apart as ±1e308: no verdict, not "ok"
            result.skipped.append(f"{metric}: the baseline's spread is not a finite number (MAD {mad:g}); "
                                  "not judged")  # fmt: skip
            continue
        result.checks.append(MetricCheck(metric, value, med, mad, threshold, tuple(i for i, _ in base)))
    if dsr_below is not None:
        _check_dsr(done, result, dsr_below)
    return result


def _check_dsr(done: Sequence[Session], result: TrendCheck, dsr_below: float) -> None:
    from ztbkit.leaderboard import trials_adjusted

    board = trials_adjusted(done)
    row = next((r for r in board.rows if r.session_id == result.session_id), None)
    if row is None or row.dsr is None or board.sr0 is None:
        why = "; ".join(board.notes) if row is None or row.dsr is None else "no SR0"
        result.skipped.append(f"trials-adjusted DSR: not available ({why})")
        return
    detail = (
        f"{row.dsr:.3f} < {dsr_below:g} (N={board.trials} trials, SR0 {board.sr0:.3f}, "
        f"Sharpe {row.sharpe:.3f} from {row.source})"
    )
    ids = tuple(r.session_id for r in board.rows)
    result.checks.append(
        MetricCheck("trials-adjusted DSR", row.dsr, math.nan, math.nan, dsr_below, ids, detail)
    )


def check_options(metrics: Sequence[str], window: int, mad_k: float) -> None:
    unknown = [m for m in metrics if m not in METRIC_CHOICES]
    if unknown:
        raise UsageError(f"--metric: unknown {', '.join(unknown)} (choose from {', '.join(METRIC_CHOICES)})")
    if window < 1:
        raise UsageError(f"--window: need at least 1 earlier session, got {window}")
    if not math.isfinite(mad_k) or mad_k < 0:
        raise UsageError(f"--mad-k: need a finite k >= 0, got {mad_k}")


def regression_alert(
    check: TrendCheck, link: str, *, mad_k: float, now: datetime | None = None
) -> Alert | None:
    """One compact WARN alert naming each regressed metric; None when nothing regressed."""
    bad = check.regressions
    if not bad:
        return None
    lines = [
        f"• **{c.metric}** {c.detail}"
        if c.detail
        else f"• **{c.metric}** {c.value:.4g} < median {c.median:.4g} − {mad_k:g}×MAD {c.mad:.4g} "
        f"(= {c.threshold:.4g}; last {len(c.baseline)} finished sessions)"
        for c in bad
    ]
    return Alert(
        title=f"Trend regression: {check.session_id}",
        level="WARN",
        description="\n".join(lines),
        fields=(
            Field("Session", check.session_id, True),
            Field("Metrics", ", ".join(c.metric for c in bad), True),
            Field("Dashboard", link, False),
        ),
        url=link if link.startswith(("http://", "https://")) else None,
        footer="ztbkit trend-alert",
        timestamp=now,
    )


class AlertLedger:
    """Which sessions were already alerted: ``<state_dir>/.ztb/trend-alert-state.json``, locked."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        from filelock import FileLock

        self.path = Path(state_dir) / ".ztb" / STATE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(self.path) + ".lock", timeout=120)

    def _read(self) -> dict[str, Any]:
        read = read_json_if_exists(self.path)
        if read is None:
            return {}
        if read.problem is not None or not isinstance(read.value, dict):
            raise UsageError(f"{self.path}: unreadable trend-alert state ({read.problem}); move it aside")
        alerted = read.value.get("alerted")
        return alerted if isinstance(alerted, dict) else {}

    def alerted(self, session_id: str) -> bool:
        return session_id in self._read()

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
    from ztbkit.notify import Outbox, payload_for, resolve_webhook, send_with_outbox
    from ztbkit.notify.delivery import result_line

    hook = resolve_webhook(discord_webhook=discord_webhook, webhook=webhook, env=env)
    if hook is None:
        return None
    report = send_with_outbox(hook, payload_for(hook.service, alert), Outbox(Path(state_dir) / ".ztb"))
    lines = [f"outbox {e.get('id', '?')[:8]}: {result_line(r, hook)}" for e, r in report.flushed]
    lines.append(result_line(report.result, hook))
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
    from ztbkit.alerts import dashboard_link
    from ztbkit.notify import payload_for, resolve_webhook

    environ = os.environ if env is None else env
    check = check_trend(sessions, metrics, window=window, mad_k=mad_k, dsr_below=dsr_below, now=now)
    if check is None:
        return TrendOutcome("nothing", ["SKIP: no finished session to check"])
    lines = [f"skipped {s}" for s in check.skipped]
    lines += [
        f"{'REGRESSED' if c.regressed else 'ok':<9} {c.metric}: "
        + (
            f"{c.value:.4g} vs threshold {c.threshold:g} (N={len(c.baseline)})"
            if c.detail
            else f"{c.value:.4g} vs median {c.median:.4g}, MAD {c.mad:.4g}, "
            f"threshold {c.threshold:.4g} (n={len(c.baseline)})"
        )
        for c in check.checks
    ]
    alert = regression_alert(
        check, dashboard_link(artifacts_dir, check.session_id, environ), mad_k=mad_k, now=now
    )
    if alert is None:
        return TrendOutcome(
            "ok", [*lines, f"OK: {check.session_id} is within the recent range; nothing sent"]
        )
    if dry_run:
        hook = resolve_webhook(discord_webhook=discord_webhook, webhook=webhook, env=environ)
        payload = payload_for(hook.service if hook else "discord", alert)
        return TrendOutcome("dry-run", [*lines, f"DRY RUN: would alert {check.session_id}"], payload)
    ledger = AlertLedger(state_dir)
    with ledger.lock:
        if ledger.alerted(check.session_id):
            return TrendOutcome("already-alerted", [*lines, f"SKIP: {check.session_id} was already alerted"])
        sent = send_alert(alert, state_dir, discord_webhook=discord_webhook, webhook=webhook, env=environ)
        if sent is None:
            return TrendOutcome(
                "no-webhook",
                [
                    *lines,
                    f"REGRESSION in {check.session_id} but no webhook is "
                    "configured (--discord-webhook, ZTB_DISCORD_WEBHOOK, --webhook or SLACK_WEBHOOK_URL)",
                ],
            )
        if sent.delivered or sent.queued:
            ledger.record(check.session_id, [c.metric for c in check.regressions], now or datetime.now(UTC))
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
    return Path(state_dir) / ".ztb" / STATE_FILE, out.lines[-1]
