"""What the report notebooks display. Notebooks stay thin: one call per report.

Each ``show_*`` function loads what it needs, then displays blocks that carry both an HTML and a
Markdown representation (the ``.md`` export gets real Markdown tables) and figures as PNG images.
With ``interactive=True`` (JupyterLab) they add ipywidgets — session picker, metric selector, date
range — and redraw on change; headless runs (papermill) render static output.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from ztbkit import dashboard as dash
from ztbkit.analysis import show_dashboard_analysis, show_learning_curves
from ztbkit.artifacts import Session
from ztbkit.budget import budget_markdown, budget_runs, rollup
from ztbkit.clock import default_tz
from ztbkit.costs import md_escape, resolve_rates, yen
from ztbkit.curves import add_median_band
from ztbkit.nightly import report_date
from ztbkit.snapshot import load_tree
from ztbkit.tariffs import load_tariff
from ztbkit.trends import METRICS, format_number, sparkline, trend_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True, slots=True)
class Block:
    """Output with an HTML and a Markdown form; IPython sends both, each exporter picks its own."""

    html: str
    markdown: str

    def _repr_html_(self) -> str:
        return self.html

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        # This is the text/plain copy in every notebook output: a short one, not the table again.
        first = self.markdown.strip().splitlines()[0] if self.markdown.strip() else ""
        return first[:120] + (" …" if len(first) > 120 or "\n" in self.markdown.strip() else "")


def heading(text: str, level: int = 1) -> Block:
    return Block(f"<h{level}>{html.escape(text)}</h{level}>", f"{'#' * level} {md_escape(text)}\n")


def note(text: str) -> Block:
    return Block(f"<p>{html.escape(text)}</p>", md_escape(text) + "\n")


def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _display(*items: Any) -> None:
    from IPython.display import Image, display

    for item in items:
        if hasattr(item, "savefig"):
            titles = [ax.get_title() for ax in item.axes if ax.get_title()]
            alt = "; ".join(titles) or "chart"
            display(Image(data=figure_png(item), format="png", metadata={"alt": alt}))
        else:
            display(item)


def _issues_block(problems: Sequence[Any], limit: int = 20) -> Block | None:
    if not problems:
        return None
    shown = [str(p) for p in problems[:limit]]
    more = f" … and {len(problems) - limit} more" if len(problems) > limit else ""
    items = "".join(f"<li>{html.escape(t)}</li>" for t in shown)
    return Block(
        f"<details><summary>{len(problems)} artifact problem(s){html.escape(more)}</summary><ul>{items}</ul></details>",
        f"**{len(problems)} artifact problem(s)**{more}\n\n" + "".join(f"- {md_escape(t)}\n" for t in shown),
    )


def _in_range(s: Session, start: date | None, end: date | None) -> bool:
    if start is None and end is None:
        return True
    if s.start_time is None:
        return False
    day = s.start_time.astimezone(default_tz()).date()
    return (start is None or day >= start) and (end is None or day <= end)


def _interact(controls: dict[str, Any], render: Callable[..., None]) -> None:
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.interactive_output(render, controls)
    display(widgets.HBox(list(controls.values())), out)


def show_dashboard(artifacts_dir: str, *, interactive: bool = False, title: str = dash.TITLE,
                   leaderboard: dict[str, Any] | None = None, curves: dict[str, Any] | None = None,
                   snapshot: str = "") -> None:  # fmt: skip
    """The dashboard: title, counts, the session table, Sharpe/DSR and step-progress plots, then the
    trials-adjusted leaderboard and learning curves (``leaderboard``/``curves``: see ztbkit.analysis).
    ``snapshot``: the nightly's load-once snapshot file, read instead of the tree when it matches."""
    tree = load_tree(artifacts_dir, snapshot)
    sessions = tree.sessions

    def render(selected: Sequence[str] = (), start: date | None = None, end: date | None = None) -> None:
        chosen = [
            s for s in sessions if (not selected or s.session_id in selected) and _in_range(s, start, end)
        ]
        counts = {st: sum(s.status == st for s in chosen) for st in dash.STATUS_CLASSES}
        summary = ", ".join(f"{n} {st}" for st, n in counts.items() if n)
        failing = sum(s.gate_verdict == "fail" for s in chosen)
        _display(
            note(
                f"{len(chosen)} session(s): {summary or 'none'}; {failing} failing gates. Artifacts: {artifacts_dir}"
            ),
            Block(dash.session_table_html(chosen), dash.session_table_markdown(chosen)),
            dash.metrics_figure(chosen),
            dash.progress_figure(chosen),
        )
        show_dashboard_analysis(chosen, leaderboard=leaderboard, curves=curves, interactive=interactive)

    _display(heading(title))
    if interactive:
        import ipywidgets as widgets

        picker = widgets.SelectMultiple(
            options=[s.session_id for s in sessions], description="Sessions", rows=6
        )
        _interact({"selected": picker, "start": widgets.DatePicker(description="From"),
                   "end": widgets.DatePicker(description="To")}, render)  # fmt: skip
    else:
        render()
    problems = _issues_block(tree.all_issues())
    if problems:
        _display(problems)


def _trend_figure(table: Any, metric: str) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 2.6), layout="constrained")
    ax = fig.add_subplot()
    pts = [(i, r.values.get(metric)) for i, r in enumerate(table.rows) if r.values.get(metric) is not None]
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, linewidth=1)
        add_median_band(ax, [p[0] for p in pts], [float(p[1]) for p in pts])
    ax.set_xlabel("session (oldest → newest)")
    return dash.finish_axes(fig, ax, metric, f"no {metric} values")


def show_trends(artifacts_dir: str, *, metrics: Sequence[str] = METRICS, interactive: bool = False,
                curves: dict[str, Any] | None = None, snapshot: str = "") -> None:  # fmt: skip
    """Per-metric trend: sparkline, min/max/latest, a line across sessions with its rolling median band;
    then learning curves of the recent sessions (``curves``: see ztbkit.analysis)."""
    tree = load_tree(artifacts_dir, snapshot)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown {', '.join(unknown)} (choose from {', '.join(METRICS)})")

    def render(metric: str, selected: Sequence[str] = ()) -> None:
        table = trend_table(s for s in tree.sessions if not selected or s.session_id in selected)
        present = [v for v in table.series(metric) if v is not None]
        spark = sparkline(present)
        stats = (f"{len(present)} values, min {format_number(min(present))}, max {format_number(max(present))}, "
                 f"latest {format_number(present[-1])}" if present else "no values")  # fmt: skip
        _display(
            Block(
                f"<h2>{metric}</h2><p style='font-size:20px'>{spark}</p><p>{html.escape(stats)}</p>",
                f"## {metric}\n\n{spark}\n\n{stats}\n",
            ),
            _trend_figure(table, metric),
        )

    _display(
        heading("Trend Report"), note(f"{sum(s.on_disk for s in tree.sessions)} sessions in {artifacts_dir}")
    )
    if interactive:
        import ipywidgets as widgets

        _interact({"metric": widgets.Dropdown(options=list(metrics), description="Metric"),
                   "selected": widgets.SelectMultiple(options=[s.session_id for s in tree.sessions if s.on_disk],
                                                      description="Sessions", rows=6)}, render)  # fmt: skip
    else:
        for m in metrics:
            render(m)
    show_learning_curves(tree.sessions, curves, interactive=interactive)


def _cost_per_day_figure(days: Sequence[Any]) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3), layout="constrained")
    ax = fig.add_subplot()
    dated = sorted((d.day, d.cost_jpy) for d in days if d.day is not None)
    if dated:
        ax.bar([str(d) for d, _ in dated], [c for _, c in dated], color="#2563eb")
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    return dash.finish_axes(fig, ax, "Cost per day (¥)", "no estimated runs")


def show_budget(artifacts_dir: str, *, day: str | None = None, interactive: bool = False,
                snapshot: str = "") -> None:  # fmt: skip
    """The daily budget: cost per day (bar chart) and the per-day / per-run tables."""
    tree = load_tree(artifacts_dir, snapshot)
    runs = budget_runs(tree.sessions)
    only = report_date(day, source="day") if day else None

    def render(start: date | None = None, end: date | None = None) -> None:
        chosen = [
            r
            for r in runs
            if (start is None or (r.day and r.day >= start)) and (end is None or (r.day and r.day <= end))
        ]
        days = rollup(chosen, only)
        md = budget_markdown(days, only=only)
        _display(_cost_per_day_figure(days), Block(_markdown_to_html_tables(md), md))

    if interactive:
        import ipywidgets as widgets

        _interact(
            {"start": widgets.DatePicker(description="From"), "end": widgets.DatePicker(description="To")},
            render,
        )
    else:
        render()


def _tier_figure(bill_lines: Sequence[tuple[str, float]], base_fee: float, title: str) -> Figure:
    """The month's bill as one horizontal bar stacked by base fee and tier."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 2.4), layout="constrained")
    ax = fig.add_subplot()
    left = 0.0
    for label, jpy in [("base fee", base_fee), *bill_lines]:
        ax.barh(["bill"], [jpy], left=[left], label=f"{label}: {yen(jpy)}")
        left += jpy
    ax.set_xlabel("yen")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncols=4, fontsize=8, frameon=False)
    return dash.finish_axes(fig, ax, title, "no usage", legend=False)


def _per_million_steps_figure(points: Sequence[tuple[Any, float]]) -> Figure:
    """Cost per 1M steps by session start: a scatter, readable for 10 sessions or 10,000."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3), layout="constrained")
    ax = fig.add_subplot()
    if points:
        times: Any = [t for t, _ in points]
        ax.scatter(times, [v for _, v in points], s=12, color="#15803d")
    return dash.finish_axes(
        fig, ax, "Cost per 1M steps (¥), by session start", "no estimated runs with steps", dates=True
    )


def show_cost(artifacts_dir: str, *, tariff: str = "jp_residential_tiered", month: str | None = None,
              interactive: bool = False, snapshot: str = "") -> None:  # fmt: skip
    """The month's electricity bill by tier (stacked bar), and cost per 1M steps per session.

    The month's kWh is the sum of the runs' ``power_kwh`` (from their cost estimates) started in
    ``month`` (YYYY-MM; default: the newest month with runs).
    """
    tree = load_tree(artifacts_dir, snapshot)
    estimates = [(s, s.cost_estimate) for s in tree.sessions if s.on_disk and s.cost_estimate]
    months = sorted(
        {s.start_time.astimezone(default_tz()).strftime("%Y-%m") for s, _ in estimates if s.start_time}
    )
    chosen_month = month or (months[-1] if months else None)
    tariff_obj = load_tariff(tariff)
    if tariff_obj.flat_rate:
        tariff_obj = tariff_obj.with_rate(resolve_rates().kwh_rate_jpy)

    def render(selected_month: str | None) -> None:
        kwh = sum(float(e.get("power_kwh") or 0) for s, e in estimates if s.start_time
                  and s.start_time.astimezone(default_tz()).strftime("%Y-%m") == selected_month)  # fmt: skip
        bill = tariff_obj.bill(kwh)
        lines = [(ln.label, ln.jpy) for ln in bill.lines]
        title = f"{selected_month or 'no month'}: {kwh:.1f} kWh → {yen(bill.total_jpy)} ({tariff_obj.name})"
        runs = budget_runs(s for s, _ in estimates)
        per_m = [(r.session_id, v) for r in runs if (v := r.cost_per_million_steps) is not None]
        starts = {s.session_id: s.start_time for s, _ in estimates}
        points = [(starts[sid], v) for sid, v in per_m if starts.get(sid) is not None]
        md_rows = "".join(f"| {md_escape(sid)} | {yen(v)} |\n" for sid, v in per_m)
        _display(
            heading(f"Training electricity, {selected_month or '—'}", 2),
            _tier_figure(lines, bill.base_fee_jpy, title),
            heading("Cost per 1M steps", 2),
            _per_million_steps_figure(points),
            Block(
                _markdown_to_html_tables("| session | ¥ per 1M steps |\n|---|---:|\n" + md_rows),
                "| session | ¥ per 1M steps |\n|---|---:|\n" + md_rows,
            ),
        )

    _display(heading("Cost Report"), note(f"{len(estimates)} estimated session(s); tariff {tariff_obj.name}"))
    if interactive and months:
        import ipywidgets as widgets

        _interact(
            {"selected_month": widgets.Dropdown(options=months, value=chosen_month, description="Month")},
            render,
        )
    else:
        render(chosen_month)


def _markdown_to_html_tables(md: str) -> str:
    """Render the simple Markdown our reports emit (headings, paragraphs, pipe tables) as HTML."""
    out: list[str] = []
    rows: list[list[str]] = []

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in line.strip().strip("|").split(" | ")]

    def flush() -> None:
        if rows:
            head, body = rows[0], rows[2:]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
                       + "</tbody></table>")  # fmt: skip
            rows.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            rows.append(cells(line))
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def _inline(text: str) -> str:
    """Markdown cell text → HTML. Our Markdown escapes &, < and > already; ** marks bold."""
    parts = text.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
