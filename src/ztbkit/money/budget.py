"""Cost files in the artifact tree, and the daily budget rollup.

* :func:`price_session` (:mod:`ztbkit.money.pricing`) prices one session and writes
  ``<id>/reports/cost_estimate.json`` (atomically), so the dashboard and the budget find it.
* :func:`budget_runs` reads every session's cost file in either shape — ztbkit's own
  (``costs.total_jpy``) or the flat ``{"total_cost_jpy", "gpu_hours"}`` — and a session without one
  is *not estimated*, never silently ¥0.
* Days are the session's start time in Asia/Tokyo, newest day first; sessions with no start time
  are grouped under "unknown date".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from ztbkit.core.clock import SYSTEM_CLOCK, Clock, default_tz
from ztbkit.core.formatting import md_escape, yen
from ztbkit.core.fsio import atomic_write_text
from ztbkit.core.values import amount_problem
from ztbkit.data.artifacts import ArtifactTree
from ztbkit.data.session import Session
from ztbkit.locale import N_, _
from ztbkit.locale.numbers import amount, report_day
from ztbkit.money.costs import (
    Rates,
    resolve_rates,
)
from ztbkit.money.energy import RunEnergy, run_energy  # noqa: F401  (re-exported: callers import them from here)
from ztbkit.money.energy import finite_amount as _finite
from ztbkit.money.pricing import COST_FILE as COST_FILE  # re-exported: callers import them from here
from ztbkit.money.pricing import estimate_missing_costs as estimate_missing_costs
from ztbkit.money.pricing import find_session as find_session
from ztbkit.money.pricing import price_session as price_session

if TYPE_CHECKING:
    import pandas as pd


@dataclass(slots=True)
class BudgetRun:
    session_id: str
    day: date | None
    status: str
    cost_jpy: float | None  # None: not estimated
    gpu_hours: float | None
    global_step: int | None
    problem: str | None = None
    # What the total is made of (ztbkit's own cost files; None for the flat shape, which has no split):
    power_jpy: float | None = None  # electricity actually paid (kWh × tariff): out of pocket
    cloud_jpy: float | None = None  # cloud GPU rental: out of pocket
    gpu_jpy: float | None = None  # GPU time at the user's notional rate: not money paid
    gpu_rate: float | None = None  # that rate, ¥ per GPU-hour, as the cost file recorded it

    @property
    def estimated(self) -> bool:
        return self.cost_jpy is not None

    @property
    def cost_per_million_steps(self) -> float | None:
        if self.cost_jpy is None or not self.global_step:
            return None
        return self.cost_jpy / (self.global_step / 1_000_000)


def read_cost(doc: Mapping[str, Any] | None) -> tuple[float | None, float | None, str | None]:
    """(total yen, GPU-hours, problem) from a cost file in either shape.

    A total or GPU-hours that is not finite, negative or above its ceiling makes the run *not
    estimated* (the problem names the key); the loader has already warned, naming the file."""
    if not doc:
        return None, None, None
    costs = doc.get("costs")
    if isinstance(costs, dict) and "total_jpy" in costs:
        key, raw = "costs.total_jpy", costs.get("total_jpy")
    elif "total_cost_jpy" in doc:
        key, raw = "total_cost_jpy", doc.get("total_cost_jpy")
    else:
        return None, None, "cost_estimate.json has neither costs.total_jpy nor total_cost_jpy"
    why = amount_problem(raw, key) or amount_problem(doc.get("gpu_hours"), "gpu_hours")
    if raw is None or why is not None:
        return None, None, f"cost_estimate.json: {(why or key + ': missing').removesuffix('; not estimated')}"
    return float(raw), _finite(doc.get("gpu_hours"), "gpu_hours"), None


def budget_runs(sessions: Iterable[Session], tz: tzinfo | None = None) -> list[BudgetRun]:
    """One BudgetRun per session folder (index-only sessions have no cost file to read)."""
    zone = tz or default_tz()
    runs = []
    for s in sessions:
        if not s.on_disk:
            continue
        total, gpu_hours, problem = read_cost(s.cost_estimate)
        day = s.start_time.astimezone(zone).date() if s.start_time else None
        doc = s.cost_estimate or {}
        costs = doc.get("costs")
        costs = costs if isinstance(costs, dict) else {}
        rates = doc.get("rates")
        rates = rates if isinstance(rates, dict) else {}
        runs.append(BudgetRun(s.session_id, day, s.status, total, gpu_hours, s.global_step, problem,
                              power_jpy=_finite(costs.get("power_jpy")), cloud_jpy=_finite(costs.get("cloud_jpy")),
                              gpu_jpy=_finite(costs.get("gpu_jpy")),
                              gpu_rate=_finite(rates.get("gpu_rate_jpy_per_hour"))))  # fmt: skip
    return runs


def money_lines(runs: Iterable[BudgetRun]) -> list[str]:
    """What the total is made of, for people: out of pocket (electricity, cloud) apart from the
    notional GPU time, and that the notional rate is the user's own setting. Runs whose cost file has
    only a total (the flat shape) are counted and said, not split by guess."""
    priced = [r for r in runs if r.estimated]
    split = [r for r in priced if r.power_jpy is not None and r.gpu_jpy is not None]
    if not split:
        return []
    power = sum(r.power_jpy or 0.0 for r in split)
    cloud = sum(r.cloud_jpy or 0.0 for r in split)
    gpu = sum(r.gpu_jpy or 0.0 for r in split)
    rates = sorted({r.gpu_rate for r in split if r.gpu_rate is not None})
    rate = "/".join(yen(v) for v in rates) or "?"
    lines = [
        _("Out of pocket: {total} (electricity actually paid, kWh × tariff: {power}; cloud: {cloud}).").format(
            total=amount(power + cloud), power=yen(power), cloud=yen(cloud)),
        _("Notional: {gpu} of GPU time at your rate of {rate} per GPU-hour. This is not money paid: it values "
          "your own GPU's time; set it with --gpu-rate or GPU_RATE_JPY_PER_HOUR (default ¥300).").format(
            gpu=amount(gpu), rate=rate),
    ]  # fmt: skip
    if len(split) < len(priced):
        lines.append(
            _("{n} priced run(s) have only a total in their cost file: not split above.").format(
                n=len(priced) - len(split)
            )
        )
    return lines


@dataclass(slots=True)
class BudgetDay:
    day: date | None
    runs: list[BudgetRun] = field(default_factory=list)

    @property
    def cost_jpy(self) -> float:
        return sum(r.cost_jpy for r in self.runs if r.cost_jpy is not None)

    @property
    def gpu_hours(self) -> float:
        return sum(r.gpu_hours for r in self.runs if r.gpu_hours is not None)

    @property
    def not_estimated(self) -> int:
        return sum(not r.estimated for r in self.runs)


def rollup(runs: Iterable[BudgetRun], only: date | None = None) -> list[BudgetDay]:
    """Runs grouped by day, newest day first (unknown dates last); ``only`` keeps one day."""
    days: dict[date | None, BudgetDay] = {}
    for r in runs:
        if only is not None and r.day != only:
            continue
        days.setdefault(r.day, BudgetDay(r.day)).runs.append(r)
    ordered = sorted(
        (d for d in days.values() if d.day is not None), key=lambda d: d.day or date.min, reverse=True
    )
    if None in days:
        ordered.append(days[None])
    for d in ordered:
        d.runs.sort(key=lambda r: r.session_id)
    return ordered


#: The bot's statuses a person reads translated in the 状態 column (the dashboard's words); any
#: other status is shown as the bot wrote it.
STATUS_WORDS = {"running": N_("running"), "stopped": N_("stopped"), "failed": N_("failed")}


def status_word(status: str) -> str:
    """A run's status as the reader's language says it."""
    return _(STATUS_WORDS[status]) if status in STATUS_WORDS else status


def budget_markdown(days: list[BudgetDay], *, only: date | None = None, now: datetime | None = None) -> str:
    """The daily budget report: per-day totals, per-run lines, and a grand total, in the current
    language (:mod:`ztbkit.locale`); under the total, out of pocket apart from notional (:func:`money_lines`)."""
    when = (
        _(" (generated {when})").format(when=f"{now.astimezone(default_tz()):%Y-%m-%d %H:%M %Z}")
        if now
        else ""
    )
    title = _("Daily Budget for {day}").format(day=report_day(only)) if only else _("Daily Budget")
    lines = [
        f"# {title}",
        "",
        _("Costs in yen by the session's start day, Asia/Tokyo{when}.").format(when=when),
        "",
    ]
    all_runs = [r for d in days for r in d.runs]
    total_word, not_estimated = _("Total"), _("not estimated")
    total = sum(d.cost_jpy for d in days)
    hours = sum(d.gpu_hours for d in days)
    missing = sum(d.not_estimated for d in days)
    heads = [_("day"), _("runs"), _("GPU-hours"), _("cost"), _("not estimated")]
    lines += ["| " + " | ".join(heads) + " |", "|---|---:|---:|---:|---:|"]
    for d in days:
        label = report_day(d.day) if d.day else _("unknown date")
        lines.append(
            f"| {label} | {len(d.runs)} | {d.gpu_hours:.2f} | {yen(d.cost_jpy)} | {d.not_estimated} |"
        )
    lines.append(
        f"| **{total_word}** | **{len(all_runs)}** | **{hours:.2f}** | **{yen(total)}** | **{missing}** |"
    )
    money = money_lines(all_runs)
    if money:
        lines += ["", *money]
    if not days:
        lines += [
            "",
            _("No runs started on {day}.").format(day=report_day(only)) if only else _("No runs found."),
        ]
    for d in days:
        label = report_day(d.day) if d.day else _("unknown date")
        heads = [_("session"), _("status"), _("GPU-hours"), _("cost"), _("¥ per 1M steps")]
        lines += ["", f"## {label}", "", "| " + " | ".join(heads) + " |", "|---|---|---:|---:|---:|"]  # fmt: skip
        for r in d.runs:
            if r.estimated:
                gh = f"{r.gpu_hours:.2f}" if r.gpu_hours is not None else "—"
                per = yen(r.cost_per_million_steps) if r.cost_per_million_steps is not None else "—"
                lines.append(
                    f"| {md_escape(r.session_id)} | {md_escape(status_word(r.status))} | {gh} "
                    f"| {yen(r.cost_jpy or 0)} | {per} |"
                )
            else:
                why = f" ({md_escape(r.problem)})" if r.problem else ""
                lines.append(
                    f"| {md_escape(r.session_id)} | {md_escape(status_word(r.status))} | — | {not_estimated}{why} | — |"
                )
    return "\n".join(lines) + "\n"


def budget_dataframe(runs: Iterable[BudgetRun]) -> pd.DataFrame:
    """Per-run budget rows for notebooks: day, cost, GPU-hours, cost per 1M steps, estimated."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "session_id": r.session_id,
                "day": r.day,
                "status": r.status,
                "cost_jpy": r.cost_jpy,
                "gpu_hours": r.gpu_hours,
                "global_step": r.global_step,
                "cost_per_1m_steps_jpy": r.cost_per_million_steps,
                "estimated": r.estimated,
            }
            for r in runs
        ],
        columns=["session_id", "day", "status", "cost_jpy", "gpu_hours", "global_step", "cost_per_1m_steps_jpy",
                 "estimated"],
    )  # fmt: skip


@dataclass(slots=True)
class BudgetResult:
    days: list[BudgetDay]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        runs = sum(len(d.runs) for d in self.days)
        missing = sum(d.not_estimated for d in self.days)
        total = sum(d.cost_jpy for d in self.days)
        return _("{days} day(s), {runs} run(s), {missing} not estimated, total {total}").format(
            days=len(self.days), runs=runs, missing=missing, total=yen(total)
        )


def write_budget(
    tree: ArtifactTree,
    out: str | os.PathLike[str],
    *,
    only: date | None = None,
    estimate_missing: bool = False,
    rates: Rates | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> BudgetResult:
    """Write the daily budget Markdown for ``tree`` (optionally pricing unpriced sessions first)."""
    skipped: list[tuple[str, str]] = []
    if estimate_missing:
        skipped = estimate_missing_costs(tree.sessions, rates or resolve_rates(), clock=clock)
    days = rollup(budget_runs(tree.sessions), only)
    atomic_write_text(out, budget_markdown(days, only=only, now=clock.now()))
    return BudgetResult(days, skipped)
