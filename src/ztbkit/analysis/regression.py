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
  session also regressed when its trials-adjusted DSR (:mod:`ztbkit.analysis.leaderboard`, all finished
  sessions as trials) is below P.

Sending the alert (once per session) is :mod:`ztbkit.notify.trend_alert`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ztbkit.analysis.leaderboard import trials_adjusted
from ztbkit.core.errors import UsageError
from ztbkit.data.session import Session, finished_sessions
from ztbkit.locale import _

METRIC_CHOICES = ("rl_sharpe", "dsr", "global_step")
DEFAULT_METRICS = ("rl_sharpe",)
MIN_BASELINE = 3


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
        raise UsageError("--dsr-below: need a probability between 0 and 1, got {value}", value=dsr_below)
    done = finished_sessions(sessions, now)
    if not done:
        return None
    newest, earlier = done[-1], done[:-1]
    result = TrendCheck(newest.session_id)
    if now is not None:
        result.skipped += [_("{id}: start time {start} is in the future; ordered as unknown").format(
            id=s.session_id, start=s.start_time.isoformat()) for s in done
            if s.start_time is not None and s.start_time > now]  # fmt: skip
    for metric in dict.fromkeys(metrics):
        value = _value(newest, metric)
        if value is None:
            result.skipped.append(_("{metric}: the newest session has no value").format(metric=metric))
            continue
        base = [(s.session_id, v) for s in earlier if (v := _value(s, metric)) is not None][-window:]
        if len(base) < MIN_BASELINE:
            result.skipped.append(_("{metric}: {n} earlier value(s), need {need}").format(
                metric=metric, n=len(base), need=MIN_BASELINE))  # fmt: skip
            continue
        med, mad = median_mad([v for _, v in base])
        threshold = med - mad_k * mad
        if not math.isfinite(threshold):  # finite values as far apart as ±1e308: no verdict, not "ok"
            result.skipped.append(_("{metric}: the baseline's spread is not a finite number (MAD {mad}); not judged")
                                  .format(metric=metric, mad=f"{mad:g}"))  # fmt: skip
            continue
        result.checks.append(MetricCheck(metric, value, med, mad, threshold, tuple(i for i, _ in base)))
    if dsr_below is not None:
        _check_dsr(done, result, dsr_below)
    return result


def _check_dsr(done: Sequence[Session], result: TrendCheck, dsr_below: float) -> None:
    board = trials_adjusted(done)
    row = next((r for r in board.rows if r.session_id == result.session_id), None)
    if row is None or row.dsr is None or board.sr0 is None:
        why = "; ".join(board.notes) if row is None or row.dsr is None else _("no SR0")
        result.skipped.append(_("trials-adjusted DSR: not available ({why})").format(why=why))
        return
    detail = _("{dsr} < {below} (N={n} trials, SR0 {sr0}, Sharpe {sharpe} from {source})").format(
        dsr=f"{row.dsr:.3f}", below=f"{dsr_below:g}", n=board.trials, sr0=f"{board.sr0:.3f}",
        sharpe=f"{row.sharpe:.3f}", source=row.source,
    )  # fmt: skip
    ids = tuple(r.session_id for r in board.rows)
    result.checks.append(
        MetricCheck("trials-adjusted DSR", row.dsr, math.nan, math.nan, dsr_below, ids, detail)
    )


def check_options(metrics: Sequence[str], window: int, mad_k: float) -> None:
    unknown = [m for m in metrics if m not in METRIC_CHOICES]
    if unknown:
        raise UsageError(
            "--metric: unknown {metrics} (choose from {choices})", metrics=", ".join(unknown),
            choices=", ".join(METRIC_CHOICES),
        )  # fmt: skip
    if window < 1:
        raise UsageError("--window: need at least 1 earlier session, got {window}", window=window)
    if not math.isfinite(mad_k) or mad_k < 0:
        raise UsageError("--mad-k: need a finite k >= 0, got {k}", k=mad_k)
