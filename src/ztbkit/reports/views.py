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


def show_dashboard(artifacts_dir: str = "", *, interactive: bool = False, title: str = dash.TITLE,
                   leaderboard: dict[str, Any] | None = None, curves: dict[str, Any] | None = None,
                   snapshot: str = "") -> None:  # fmt: skip
    """The dashboard: title, counts, the session table, Sharpe/DSR and step-progress plots, then the
    trials-adjusted leaderboard and learning curves (``leaderboard``/``curves``: see ztbkit.reports.dashboard_analysis).
    ``snapshot``: the nightly's load-once snapshot file, read instead of the tree when it matches."""
    artifacts_dir, tree = load_tree(artifacts_dir, snapshot)
    sessions = tree.sessions

    def render(selected: Sequence[str] = (), start: date | None = None, end: date | None = None) -> None:
        chosen = dash.live_first(
            [s for s in sessions if picked(s.session_id, selected) and in_range(s, start, end)]
        )
        counts = {st: sum(s.status == st for s in chosen) for st in dash.STATUS_CLASSES}
        summary = ", ".join(f"{n} {st}" for st, n in counts.items() if n)
        failing = sum(s.gate_verdict == "fail" for s in chosen)
        display_items(
            note(
                f"{len(chosen)} session(s): {summary or 'none'}; {failing} failing gates. Artifacts: {artifacts_dir}"
            ),
            Block(dash.session_table_html(chosen, charts=True), dash.session_table_markdown(chosen)),
        )
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
                   "start": widgets.DatePicker(description="From"), "end": widgets.DatePicker(description="To")},
                  render)  # fmt: skip
    else:
        render()
    problems = issues_block(tree.all_issues())
    if problems:
        display_items(problems)


#: Up to this many points a trend chart labels each with its session id (else lowest, highest, latest).
LABEL_POINTS = 12


def _trend_figure(table: Any, metric: str, starts: dict[str, Any]) -> Figure:
    """The metric by session start date (JST); points labelled with their ids when few enough."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    pts = sorted((starts[r.session_id], r.values[metric], r.session_id) for r in table.rows
                 if r.values.get(metric) is not None and starts.get(r.session_id) is not None)  # fmt: skip
    if pts:
        xs: Any = [p[0] for p in pts]
        ax.plot(xs, [p[1] for p in pts], marker="o", markersize=3, linewidth=1)
        add_median_band(ax, xs, [float(p[1]) for p in pts])
        # Every id when few enough to read; else the ones people look for: lowest, highest, latest.
        keep = pts if len(pts) <= LABEL_POINTS else sorted({min(pts, key=lambda p: p[1]),
                                                           max(pts, key=lambda p: p[1]), pts[-1]})  # fmt: skip
        for x, y, sid in keep:
            ax.annotate(sid, (x, y), textcoords="offset points", xytext=(2, 3), fontsize=6, rotation=30)
    undated = sum(
        1 for r in table.rows if r.values.get(metric) is not None and starts.get(r.session_id) is None
    )
    ax.set_xlabel("session start (JST)" + (f"; {undated} without a start time not shown" if undated else ""))
    return dash.finish_axes(fig, ax, metric, f"no {metric} values", dates=True)


def show_trends(artifacts_dir: str = "", *, metrics: Sequence[str] = METRICS, interactive: bool = False,
                curves: dict[str, Any] | None = None, snapshot: str = "") -> None:  # fmt: skip
    """Per-metric trend: sparkline, min/max/latest, the values by session start date with a rolling
    median band; then learning curves of the recent sessions (``curves``: see ztbkit.reports.dashboard_analysis)."""
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
        stats = (f"{len(present)} values, min {format_number(min(present))}, max {format_number(max(present))}, "
                 f"latest {format_number(present[-1])}" if present else "no values")  # fmt: skip
        display_items(
            Block(
                f"<h2>{metric}</h2><p style='font-size:20px'>{spark}</p><p>{html.escape(stats)}</p>",
                f"## {metric}\n\n{spark}\n\n{stats}\n",
            ),
            _trend_figure(table, metric, starts),
        )

    display_items(
        heading("Trend Report"), note(f"{sum(s.on_disk for s in tree.sessions)} sessions in {artifacts_dir}")
    )
    interactive = widgets_wanted(interactive)
    if interactive:
        import ipywidgets as widgets

        interact({"metric": widgets.Dropdown(options=list(metrics), description="Metric"),
                   "selected": session_picker([s.session_id for s in tree.sessions if s.on_disk])},
                  render)  # fmt: skip
    else:
        for m in metrics:
            render(m)
    show_learning_curves(tree.sessions, curves, interactive=interactive)
    tagged = annotations_block(tree.sessions)
    if tagged:
        display_items(tagged)
