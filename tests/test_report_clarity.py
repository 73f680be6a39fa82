"""Pages a trader reads without second-guessing: one "best" for both reports, legends that list only
what draws, the selected session drawn or the reason said, bands inside a metric's possible range,
DSR (a probability) on its own axis, and thousands separators on money and step axes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from conftest import MakeTree

from ztbkit.analysis.curves import SessionCurves, add_median_band, curves_figure
from ztbkit.data.artifacts import load_artifacts
from ztbkit.reports import dashboard
from ztbkit.reports.dashboard_analysis import build_leaderboard, curves_output, pick_highlight


def _tree(make_tree: MakeTree) -> Path:
    # "hi" has the highest bot Sharpe; "steady" has the longest, steadiest return series, so the
    # trials-adjusted DSR ranks it first. The two definitions disagree: the page must pick one.
    rng = random.Random(7)
    steady = [0.01 + rng.gauss(0, 0.002) for _ in range(400)]
    return make_tree(
        {
            "hi": {"summary.json": {"rl_sharpe": 2.093, "dsr": 0.2}},
            "steady": {
                "summary.json": {"rl_sharpe": 1.869, "dsr": 0.9},
                "eval_returns.json": {"returns": steady},
            },
            "low": {"summary.json": {"rl_sharpe": 0.3}},
        }
    )


def test_dashboard_and_trends_pick_the_same_best(make_tree: MakeTree) -> None:
    sessions = load_artifacts(_tree(make_tree)).sessions
    board = build_leaderboard(sessions)
    assert board.rows[0].session_id == "steady"
    on_dashboard = pick_highlight(sessions, board, None)  # the dashboard passes its leaderboard
    on_trends = pick_highlight(sessions, None, None)  # the trends page has none: it builds the same
    assert on_dashboard == on_trends == "steady"
    assert pick_highlight(sessions, None, "low") == "low"  # asked for: that one


def test_the_leaderboard_says_what_it_ranks_by_and_where_each_sharpe_comes_from(make_tree: MakeTree) -> None:
    from ztbkit.analysis.leaderboard import leaderboard_markdown

    md = leaderboard_markdown(build_leaderboard(load_artifacts(_tree(make_tree)).sessions))
    assert (
        "Ranked by DSR (trials-adjusted)" in md and "the session table shows the bot's summary Sharpe" in md
    )
    assert "| Sharpe from |" in md and "returns: eval_returns.json" in md and "bot rl_sharpe" in md
    table = dashboard.session_table_markdown(load_artifacts(_tree(make_tree)).sessions)
    assert "Sharpe (bot summary)" in table.splitlines()[0]


def _legend(fig: Any) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_the_legend_lists_only_sessions_that_draw() -> None:
    drawn = [SessionCurves(f"s{i}", {"train/loss": ([0, 1], [1.0, 0.5])}) for i in range(4)]
    silent = [SessionCurves("no-curves"), SessionCurves("other-tag", {"time/fps": ([0, 1], [5.0, 6.0])})]
    fig = curves_figure([*drawn, *silent], ["train/loss"], None)
    assert fig is not None and _legend(fig) == ["s0", "s1", "s2", "s3"]


def test_the_selected_session_is_drawn_or_the_page_says_why(make_tree: MakeTree) -> None:
    from ztbkit.reports.blocks import Block

    sessions = load_artifacts(make_tree({"a": {"summary.json": {"rl_sharpe": 1.0}}})).sessions
    out = curves_output(sessions, ["train/loss"], "a")
    notes = [b.markdown for b in out if isinstance(b, Block)]
    assert any("The selected session a is not drawn" in n for n in notes)
    fig = curves_figure([SessionCurves("a", {"train/loss": ([0, 1], [1.0, 0.5])})], ["train/loss"], "a")
    assert fig is not None and _legend(fig) == ["a (selected)"]


def test_bands_stay_inside_the_metric_range() -> None:
    from matplotlib.figure import Figure

    for values, limits in (
        ([0.001, 0.9, 0.002, 0.8, 0.001, 0.95, 0.003, 0.7], (0.0, 1.0)),  # p_value: wild swings near 0 and 1
        ([0.0, 5e6, 1e3, 9e6, 2e3, 8e6, 10.0, 7e6], (0.0, None)),  # global_step: never below 0
    ):
        ax = Figure().add_subplot()
        add_median_band(ax, list(range(len(values))), values, limits=limits)
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        lo, hi = limits
        assert band.min() >= lo and (hi is None or band.max() <= hi)
        unclipped = Figure().add_subplot()  # the same series without limits does leave the range
        add_median_band(unclipped, list(range(len(values))), values)
        assert unclipped.collections[0].get_paths()[0].vertices[:, 1].min() < lo


def test_dsr_has_its_own_axis_and_steps_and_yen_have_separators(make_tree: MakeTree) -> None:
    from ztbkit.reports.money_views import _cost_per_day_figure

    sessions = load_artifacts(
        make_tree(
            {
                f"s{i}": {
                    "summary.json": {"rl_sharpe": 3.0 * i, "dsr": 0.3, "global_step": 2_500_000 * i},
                    "run_metadata.json": {"start_time": f"2025-10-0{i + 1}T09:00:00+09:00"},
                    "reports/cost_estimate.json": {"total_cost_jpy": 12_000.0 * i, "gpu_hours": 1.0},
                }
                for i in range(1, 4)
            }
        )
    ).sessions
    metrics = dashboard.metrics_figure(sessions)
    sharpe_ax, dsr_ax = metrics.axes
    assert dsr_ax.get_ylim() == (-0.02, 1.02) and sharpe_ax.get_ylim()[1] > 5  # not squeezed to [0, 1]
    assert sorted(_legend_labels(sharpe_ax)) == ["DSR (probability, right axis)", "Sharpe (bot summary)"]

    def ticks(fig: Any) -> list[str]:
        fig.canvas.draw()
        return [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]

    assert any("," in t for t in ticks(dashboard.progress_figure(sessions)))  # 2,500,000 not 2.5e6
    from ztbkit.money.budget import budget_runs, rollup

    money = ticks(_cost_per_day_figure(rollup(budget_runs(sessions))))
    assert any(t.startswith("¥") and "," in t for t in money), money  # ¥10,000 not 10000


def _legend_labels(ax: Any) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_learning_curve_step_axes_have_separators() -> None:
    curves = [SessionCurves("a", {"train/loss": ([0, 2_500_000, 5_000_000], [1.0, 0.5, 0.25])})]
    fig = curves_figure(curves, ["train/loss"], None)
    assert fig is not None
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert "5,000,000" in ticks and not fig.axes[0].xaxis.get_offset_text().get_text()  # no "1e6" offset
