"""What the report notebooks display. Notebooks stay thin: one call per report.

Each ``show_*`` function loads what it needs, then displays blocks that carry both an HTML and a
Markdown representation (the ``.md`` export gets real Markdown tables) and figures as PNG images.
With ``interactive=True`` (JupyterLab) they add ipywidgets — session picker, metric selector, date
range — and redraw on change; headless runs (papermill) render static output.

``artifacts_dir`` follows :mod:`ztbkit.reports.locations` (empty: ``$ZTB_ARTIFACTS_DIR``, else the demo
artifacts; relative paths start at the project root, not the kernel's folder). Inside a Jupyter
kernel every :class:`~ztbkit.core.errors.ZtbError` is shown as one line naming the notebook variable,
not a traceback; the cell still fails (papermill reports it, exit 1).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from ztbkit.analysis.curves import add_median_band
from ztbkit.analysis.trends import METRICS, format_number, sparkline, trend_table
from ztbkit.core.clock import default_tz
from ztbkit.locale import _, use_language
from ztbkit.locale.fonts import chart_fonts, steps_axis
from ztbkit.reports import dashboard as dash
from ztbkit.reports.blocks import (
    Block,
    annotations_block,
    display_items,
    heading,
    in_range,
    interact,
    issues_block,
    markdown_only,
    note,
    picked,
    session_picker,
    widgets_wanted,
)
from ztbkit.reports.dashboard_analysis import show_dashboard_analysis, show_learning_curves
from ztbkit.reports.locations import load_tree

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def show_dashboard(artifacts_dir: str = "", *, interactive: bool = False, title: str = "",
                   leaderboard: dict[str, Any] | None = None, curves: dict[str, Any] | None = None,
                   snapshot: str = "", lang: str = "") -> None:  # fmt: skip
    """The dashboard: title, counts, the session table, Sharpe/DSR and step-progress plots, then the
    trials-adjusted leaderboard and learning curves (``leaderboard``/``curves``: see ztbkit.reports.dashboard_analysis).
    ``snapshot``: the nightly's load-once snapshot file, read instead of the tree when it matches.
    ``lang``: ja or en (empty: ``ZTB_LANG``, else the locale); ``title`` empty: the translated default."""
    use_language(lang or None)
    title = title or str(dash.TITLE)
    artifacts_dir, tree = load_tree(artifacts_dir, snapshot)
    sessions = tree.sessions

    def render(selected: Sequence[str] = (), start: date | None = None, end: date | None = None) -> None:
        chosen = dash.live_first(
            [s for s in sessions if picked(s.session_id, selected) and in_range(s, start, end)]
        )
        counts = {st: sum(s.status == st for s in chosen) for st in dash.STATUS_CLASSES}
        summary = _(", ").join(f"{n} {_(st)}" for st, n in counts.items() if n)
        failing = sum(s.gate_verdict == "fail" for s in chosen)
        display_items(
            note(
                _("{n} session(s): {summary}; {failing} failing gates. Artifacts: {where}").format(
                    n=len(chosen), summary=summary or _("none"), failing=failing, where=artifacts_dir
                )
            ),
            Block(dash.session_table_html(chosen, charts=True), dash.session_table_markdown(chosen)),
            note(_("Cost (¥) is each run's cost file total: GPU time at your notional rate (not money paid) "
                   "+ electricity + cloud. The budget page shows what is out of pocket apart.")),
        )  # fmt: skip
        if len(chosen) > dash.CHART_POINTS:  # too many points for inline SVG: the PNG charts for all
            display_items(dash.metrics_figure(chosen), dash.progress_figure(chosen))
        else:  # the .md report's copy of the charts; the page shows the linked SVG ones above
            markdown_only(dash.metrics_figure(chosen), dash.progress_figure(chosen))
        show_dashboard_analysis(chosen, leaderboard=leaderboard, curves=curves, interactive=interactive)

    display_items(heading(title))
    interactive = widgets_wanted(interactive)
    if interactive:
        import ipywidgets as widgets

        interact({"selected": session_picker([s.session_id for s in sessions]),
                   "start": widgets.DatePicker(description=_("From")), "end": widgets.DatePicker(description=_("To"))},
                  render)  # fmt: skip
    else:
        render()
    problems = issues_block(tree.all_issues())
    if problems:
        display_items(problems)


#: Each metric's possible range: its rolling band is clipped to it (no step below 0, no p below 0).
METRIC_LIMITS: dict[str, tuple[float | None, float | None]] = {
    "global_step": (0.0, None), "dsr": (0.0, 1.0), "p_value": (0.0, 1.0),
}  # fmt: skip
#: Up to this many points a trend chart labels each with its session id (else lowest, highest, latest).
LABEL_POINTS = 12


def _trend_figure(table: Any, metric: str, starts: dict[str, Any]) -> Figure:
    """The metric by session start date (JST); points labelled with their ids when few enough."""
    from matplotlib.figure import Figure

    chart_fonts()
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    pts = sorted((starts[r.session_id], r.values[metric], r.session_id) for r in table.rows
                 if r.values.get(metric) is not None and starts.get(r.session_id) is not None)  # fmt: skip
    if pts:
        xs: Any = [p[0] for p in pts]
        ax.plot(xs, [p[1] for p in pts], marker="o", markersize=3, linewidth=1)
        add_median_band(ax, xs, [float(p[1]) for p in pts], limits=METRIC_LIMITS.get(metric, (None, None)))
        # Every id when few enough to read; else the ones people look for: lowest, highest, latest.
        keep = pts if len(pts) <= LABEL_POINTS else sorted({min(pts, key=lambda p: p[1]),
                                                           max(pts, key=lambda p: p[1]), pts[-1]})  # fmt: skip
        for x, y, sid in keep:
            ax.annotate(sid, (x, y), textcoords="offset points", xytext=(2, 3), fontsize=6, rotation=30)
    undated = sum(
        1 for r in table.rows if r.values.get(metric) is not None and starts.get(r.session_id) is None
    )
    ax.set_xlabel(_("session start (JST)") + (_("; {n} without a start time not shown").format(n=undated)
                                              if undated else ""))  # fmt: skip
    if metric == "global_step":
        steps_axis(ax)
    return dash.finish_axes(fig, ax, metric, _("no {metric} values").format(metric=metric), dates=True)


def show_trends(artifacts_dir: str = "", *, metrics: Sequence[str] = METRICS, interactive: bool = False,
                curves: dict[str, Any] | None = None, snapshot: str = "", lang: str = "") -> None:  # fmt: skip
    """Per-metric trend: sparkline, min/max/latest, the values by session start date with a rolling
    median band; then learning curves of the recent sessions (``curves``: see ztbkit.reports.dashboard_analysis).
    Each section is headed by the metric's own name (``## rl_sharpe``) in every language. ``lang``: ja or
    en (empty: ``ZTB_LANG``, else the locale)."""
    use_language(lang or None)
    artifacts_dir, tree = load_tree(artifacts_dir, snapshot)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown {', '.join(unknown)} (choose from {', '.join(METRICS)})")

    zone = default_tz()
    starts = {s.session_id: s.start_time.astimezone(zone) for s in tree.sessions if s.start_time}

    def render(metric: str, selected: Sequence[str] = ()) -> None:
        table = trend_table(s for s in tree.sessions if picked(s.session_id, selected))
        present = [v for v in table.series(metric) if v is not None]
        spark = sparkline(present)
        stats = (_("{n} values, min {min}, max {max}, latest {latest}").format(
                     n=len(present), min=format_number(min(present)), max=format_number(max(present)),
                     latest=format_number(present[-1])) if present else _("no values"))  # fmt: skip
        display_items(
            Block(
                f"<h2>{metric}</h2><p style='font-size:20px'>{spark}</p><p>{html.escape(stats)}</p>",
                f"## {metric}\n\n{spark}\n\n{stats}\n",
            ),
            _trend_figure(table, metric, starts),
        )

    # The page's heading is translated; the machine-read trends Markdown (FORMATS.md's "# Trend Report")
    # is trends-md's file (the nightly's trends_table.md), which never changes with the language.
    display_items(
        heading(_("Trend Report")),
        note(_("How Sharpe, DSR, p-value and steps move across sessions.")),
        note(
            _("{n} sessions in {where}").format(n=sum(s.on_disk for s in tree.sessions), where=artifacts_dir)
        ),
    )
    interactive = widgets_wanted(interactive)
    if interactive:
        import ipywidgets as widgets

        interact({"metric": widgets.Dropdown(options=list(metrics), description=_("Metric")),
                   "selected": session_picker([s.session_id for s in tree.sessions if s.on_disk])},
                  render)  # fmt: skip
    else:
        for m in metrics:
            render(m)
    show_learning_curves(tree.sessions, curves, interactive=interactive)
    tagged = annotations_block(tree.sessions)
    if tagged:
        display_items(tagged)
