"""Hyperparameters against results: the data of the compare report.

Policy (users depend on it):

* Only hyperparameters that **vary** among the compared sessions are shown (a name some sessions
  lack counts as varying: "missing" is a value).
* The metric is one of :data:`METRICS`: ``sharpe`` (the Sharpe the leaderboard uses), ``dsr`` (the
  trials-adjusted DSR of :mod:`ztbkit.analysis.leaderboard`: the Sharpe deflated for the number of
  sessions tried, so a sweep's winner is not read without the multiple-testing penalty), ``bot_dsr``
  (the bot's own), ``cost_per_1m_steps`` (yen per million steps, from the cost estimate).
* Every row carries the trials-adjusted DSR beside its metric, whichever metric is chosen.
* Text hyperparameters are placed on an axis by their sorted distinct values; numbers by value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ztbkit.analysis.leaderboard import Assumptions, Leaderboard, trials_adjusted
from ztbkit.core.errors import UsageError
from ztbkit.data.session import Session
from ztbkit.locale import N_
from ztbkit.money.budget import read_cost

#: The metrics by name, each with its English label (shown translated: ``_(label)``).
METRICS = {
    "sharpe": N_("Sharpe"),
    "dsr": N_("DSR (trials-adjusted)"),
    "bot_dsr": N_("DSR (bot's own)"),
    "cost_per_1m_steps": N_("Cost per 1M steps (¥)"),
}
_MISSING = "—"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def varying_hparams(sessions: Sequence[Session]) -> list[str]:
    """Names of the hyperparameters whose value is not the same in every session, sorted."""
    names = sorted({n for s in sessions for n in s.hparams})
    out = []
    for n in names:
        seen = {repr(s.hparams.get(n, _MISSING)) for s in sessions}
        if len(seen) > 1:
            out.append(n)
    return out


def cost_per_1m_steps(s: Session) -> float | None:
    total, _, _ = read_cost(s.cost_estimate)
    if total is None or not s.global_step:
        return None
    return total / s.global_step * 1_000_000


@dataclass(slots=True)
class CompareRow:
    session: Session
    metric: float | None
    dsr: float | None  # trials-adjusted, always
    sharpe: float | None


@dataclass(slots=True)
class Comparison:
    metric: str
    hparams: list[str]
    rows: list[CompareRow]
    board: Leaderboard
    numeric: dict[str, bool] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return METRICS[self.metric]

    def axis_values(self, name: str) -> tuple[list[float | None], list[str] | None]:
        """A hyperparameter's value per row on a numeric axis, and the category names for a text one."""
        values = [r.session.hparams.get(name) for r in self.rows]
        if self.numeric.get(name):
            return [float(v) if v is not None and _is_number(v) else None for v in values], None
        cats = sorted({str(v) for v in values if v is not None})
        pos = {c: float(i) for i, c in enumerate(cats)}
        return [pos[str(v)] if v is not None else None for v in values], cats


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise UsageError(
            "metric: unknown {metric} (choose from {choices})",
            metric=repr(metric),
            choices=", ".join(METRICS),
        )
    return metric


def compare(
    sessions: Sequence[Session],
    metric: str = "dsr",
    *,
    assumptions: Assumptions | None = None,
    board: Leaderboard | None = None,
) -> Comparison:
    """The comparison of ``sessions`` on ``metric`` (sessions not on disk are left out)."""
    check_metric(metric)
    chosen = [s for s in sessions if s.on_disk]
    board = board if board is not None else trials_adjusted(chosen, assumptions or Assumptions())
    by_id = {r.session_id: r for r in board.rows}
    rows = []
    for s in chosen:
        lb = by_id.get(s.session_id)
        dsr = lb.dsr if lb is not None else None
        sharpe = lb.sharpe if lb is not None else s.rl_sharpe
        value = {"sharpe": sharpe, "dsr": dsr, "bot_dsr": s.dsr, "cost_per_1m_steps": cost_per_1m_steps(s)}[
            metric
        ]
        rows.append(CompareRow(s, value if value is None or math.isfinite(value) else None, dsr, sharpe))
    names = varying_hparams(chosen)
    numeric = {
        n: all(_is_number(r.session.hparams[n]) for r in rows if r.session.hparams.get(n) is not None)
        for n in names
    }
    return Comparison(metric, names, rows, board, numeric)
