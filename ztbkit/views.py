"""What the report notebooks display. Notebooks stay thin: one call per report.

Each ``show_*`` function loads what it needs, then displays blocks that carry both an HTML and a
Markdown representation (the ``.md`` export gets real Markdown tables) and figures as PNG images.
With ``interactive=True`` (JupyterLab) they add ipywidgets — session picker, metric selector, date
range — and redraw on change; headless runs (papermill) render static output.

``artifacts_dir`` follows :mod:`ztbkit.locations` (empty: ``$ZTB_ARTIFACTS_DIR``, else the demo
artifacts; relative paths start at the project root, not the kernel's folder). Inside a Jupyter
kernel every :class:`~ztbkit.errors.ZtbError` is shown as one line naming the notebook variable,
not a traceback; the cell still fails (papermill reports it, exit 1).
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ztbkit import dashboard as dash
from ztbkit.analysis import show_dashboard_analysis, show_learning_curves
from ztbkit.artifacts import Session
from ztbkit.budget import budget_markdown, budget_runs, rollup, run_energy
from ztbkit.clock import SYSTEM_CLOCK, default_tz
from ztbkit.costs import md_escape, resolve_rates, yen
from ztbkit.curves import add_median_band
from ztbkit.locations import load_tree
from ztbkit.nightly import report_date
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


def _markdown_only(*figs: Figure) -> None:
    """Figures for the .md export only: the HTML form is an empty comment (HTML pages show SVG)."""
    import base64

    from IPython.display import display

    for fig in figs:
        png = base64.b64encode(figure_png(fig)).decode("ascii")
        display(
            {"image/png": png, "text/html": "<!-- chart: linked SVG in the dashboard above -->"}, raw=True
        )


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


#: The picker's "all sessions" entry. Its value is "", which no session id can be (ids are folder names).
ALL = ("(all sessions)", "")


def _session_picker(ids: Sequence[str]) -> Any:
    """A multi-select of sessions with "(all sessions)" first, and chosen."""
    import ipywidgets as widgets

    return widgets.SelectMultiple(
        options=[ALL, *((i, i) for i in ids)], value=("",), description="Sessions", rows=7
    )


def _picked(session_id: str, selected: Sequence[str]) -> bool:
    """Nothing chosen, or "(all sessions)" among the choices, means every session."""
    return not selected or "" in selected or session_id in selected


def _interact(controls: dict[str, Any], render: Callable[..., None]) -> None:
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.interactive_output(render, controls)
    display(widgets.HBox(list(controls.values())), out)


def show_dashboard(artifacts_dir: str = "", *, interactive: bool = False, title: str = dash.TITLE,
                   leaderboard: dict[str, Any] | None = None, curves: dict[str, Any] | None = None,
                   snapshot: str = "") -> None:  # fmt: skip
    """The dashboard: title, counts, the session table, Sharpe/DSR and step-progress plots, then the
    trials-adjusted leaderboard and learning curves (``leaderboard``/``curves``: see ztbkit.analysis).
    ``snapshot``: the nightly's load-once snapshot file, read instead of the tree when it matches."""
    artifacts_dir, tree = load_tree(artifacts_dir, snapshot)
    sessions = tree.sessions

    def render(selected: Sequence[str] = (), start: date | None = None, end: date | None = None) -> None:
        chosen = [s for s in sessions if _picked(s.session_id, selected) and _in_range(s, start, end)]
        counts = {st: sum(s.status == st for s in chosen) for st in dash.STATUS_CLASSES}
        summary = ", ".join(f"{n} {st}" for st, n in counts.items() if n)
        failing = sum(s.gate_verdict == "fail" for s in chosen)
        _display(
            note(
                f"{len(chosen)} session(s): {summary or 'none'}; {failing} failing gates. Artifacts: {artifacts_dir}"
            ),
            Block(dash.session_table_html(chosen, charts=True), dash.session_table_markdown(chosen)),
        )
        if len(chosen) > dash.CHART_POINTS:  # too many points for inline SVG: the PNG charts for all
            _display(dash.metrics_figure(chosen), dash.progress_figure(chosen))
        else:  # the .md report's copy of the charts; the page shows the linked SVG ones above
            _markdown_only(dash.metrics_figure(chosen), dash.progress_figure(chosen))
        show_dashboard_analysis(chosen, leaderboard=leaderboard, curves=curves, interactive=interactive)

    _display(heading(title))
    if interactive:
        import ipywidgets as widgets

        _interact({"selected": _session_picker([s.session_id for s in sessions]),
                   "start": widgets.DatePicker(description="From"), "end": widgets.DatePicker(description="To")},
                  render)  # fmt: skip
    else:
        render()
    problems = _issues_block(tree.all_issues())
    if problems:
        _display(problems)


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
    median band; then learning curves of the recent sessions (``curves``: see ztbkit.analysis)."""
    artifacts_dir, tree = load_tree(artifacts_dir, snapshot)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown {', '.join(unknown)} (choose from {', '.join(METRICS)})")

    zone = default_tz()
    starts = {s.session_id: s.start_time.astimezone(zone) for s in tree.sessions if s.start_time}

    def render(metric: str, selected: Sequence[str] = ()) -> None:
        table = trend_table(s for s in tree.sessions if _picked(s.session_id, selected))
        present = [v for v in table.series(metric) if v is not None]
        spark = sparkline(present)
        stats = (f"{len(present)} values, min {format_number(min(present))}, max {format_number(max(present))}, "
                 f"latest {format_number(present[-1])}" if present else "no values")  # fmt: skip
        _display(
            Block(
                f"<h2>{metric}</h2><p style='font-size:20px'>{spark}</p><p>{html.escape(stats)}</p>",
                f"## {metric}\n\n{spark}\n\n{stats}\n",
            ),
            _trend_figure(table, metric, starts),
        )

    _display(
        heading("Trend Report"), note(f"{sum(s.on_disk for s in tree.sessions)} sessions in {artifacts_dir}")
    )
    if interactive:
        import ipywidgets as widgets

        _interact({"metric": widgets.Dropdown(options=list(metrics), description="Metric"),
                   "selected": _session_picker([s.session_id for s in tree.sessions if s.on_disk])},
                  render)  # fmt: skip
    else:
        for m in metrics:
            render(m)
    show_learning_curves(tree.sessions, curves, interactive=interactive)


def daily_series(days: Sequence[Any]) -> list[tuple[date, float]]:
    """(day, ¥) for every calendar day from the first to the last day with runs; days without runs are 0."""
    from datetime import timedelta

    cost = {d.day: d.cost_jpy for d in days if d.day is not None}
    if not cost:
        return []
    first, last = min(cost), max(cost)
    return [
        (first + timedelta(n), cost.get(first + timedelta(n), 0.0)) for n in range((last - first).days + 1)
    ]


def _cost_per_day_figure(days: Sequence[Any]) -> Figure:
    """Cost per day on a continuous date axis: a day without runs is a visible gap at ¥0."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3), layout="constrained")
    ax = fig.add_subplot()
    series = daily_series(days)
    if series:
        import matplotlib.dates as mdates

        xs: Any = [d for d, _ in series]
        ax.bar(xs, [c for _, c in series], width=0.8, color="#2563eb")
        zero: Any = [d for d, c in series if not c]
        if zero:  # a day without cost is a visible tick on the axis, not a missing day
            ax.scatter(zero, [0] * len(zero), marker="|", s=60, color="#9ca3af", clip_on=False)
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, len(series) // 10)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
        ax.set_xlim(mdates.date2num(xs[0]) - 0.7, mdates.date2num(xs[-1]) + 0.7)
        if not any(c for _, c in series):
            ax.set_ylim(0, 1)
            ax.text(
                0.5, 0.5, "no estimated cost on these days", ha="center", va="center", transform=ax.transAxes
            )
    return dash.finish_axes(fig, ax, "Cost per day (¥)", "no estimated runs", dates=True)


def show_budget(artifacts_dir: str = "", *, day: str | None = None, interactive: bool = False,
                snapshot: str = "") -> None:  # fmt: skip
    """The daily budget: title, cost per day (every day in the range, zero days too) and the tables."""
    artifacts_dir, tree = load_tree(artifacts_dir, snapshot)
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
        rest = md.partition("\n")[2]  # the title is shown once, above the widgets
        _display(_cost_per_day_figure(days), Block(_markdown_to_html_tables(rest), rest))

    title = budget_markdown([], only=only).partition("\n")[0]
    _display(Block(_markdown_to_html_tables(title), title + "\n"))

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


def show_cost(artifacts_dir: str = "", *, tariff: str = "jp_residential_tiered", month: str | None = None,
              interactive: bool = False, snapshot: str = "", now: datetime | None = None) -> None:  # fmt: skip
    """The month's electricity bill by tier (stacked bar), and cost per 1M steps per session.

    Everything on the page follows the chosen ``month`` (YYYY-MM of the run's start in Asia/Tokyo;
    default: the newest month with priced runs, not after ``now``'s: one run whose start reads 2090 does
    not take over the page). A run's energy comes from its cost file: ztbkit's
    ``power_kwh``, or for the older flat shape GPU-hours × board power (*estimated*); a file with
    neither is listed as *energy unknown* and left out of the kWh sum — never counted as 0 kWh.
    """
    artifacts_dir, tree = load_tree(artifacts_dir, snapshot)
    priced = [s for s in tree.sessions if s.on_disk and s.cost_estimate and s.start_time]
    undated = sum(1 for s in tree.sessions if s.on_disk and s.cost_estimate and not s.start_time)

    def month_of(s: Session) -> str:
        assert s.start_time is not None
        return s.start_time.astimezone(default_tz()).strftime("%Y-%m")

    months = sorted({month_of(s) for s in priced})
    this_month = (now or SYSTEM_CLOCK.now()).astimezone(default_tz()).strftime("%Y-%m")
    chosen_month = month or max(
        (m for m in months if m <= this_month), default=months[-1] if months else None
    )
    tariff_obj = load_tariff(tariff)
    if tariff_obj.flat_rate:
        tariff_obj = tariff_obj.with_rate(resolve_rates().kwh_rate_jpy)

    def render(selected_month: str | None) -> None:
        in_month = [s for s in priced if month_of(s) == selected_month]
        energy = {s.session_id: run_energy(s) for s in in_month}
        kwh = sum(e.kwh for e in energy.values() if e.kwh is not None)
        estimated = sum(e.kwh for e in energy.values() if e.kwh is not None and e.source == "estimated")
        unknown = [sid for sid, e in energy.items() if e.kwh is None]
        bill = tariff_obj.bill(kwh)
        lines = [(ln.label, ln.jpy) for ln in bill.lines]
        est_note = f", {estimated:.1f} estimated" if estimated else ""
        title = f"{selected_month or 'no month'}: {kwh:.1f} kWh{est_note} → {yen(bill.total_jpy)} ({tariff_obj.name})"
        runs = {r.session_id: r for r in budget_runs(in_month)}
        starts = {s.session_id: s.start_time for s in in_month}
        per_m = {sid: v for sid, r in runs.items() if (v := r.cost_per_million_steps) is not None}
        points = [(starts[sid], v) for sid, v in per_m.items()]
        head = "| session | start (JST) | kWh | energy | ¥ (cost file) | ¥ per 1M steps |\n|---|---|---:|---|---:|---:|\n"
        md_rows = ""
        for s in in_month:
            e, r, v = energy[s.session_id], runs.get(s.session_id), per_m.get(s.session_id)
            assert s.start_time is not None
            md_rows += (f"| {md_escape(s.session_id)} | {s.start_time.astimezone(default_tz()):%Y-%m-%d %H:%M} | "
                        f"{'' if e.kwh is None else f'{e.kwh:.2f}'} | "
                        f"{'energy unknown' if e.kwh is None else md_escape(f'{e.source} ({e.detail})')} | "
                        f"{yen(r.cost_jpy) if r and r.cost_jpy is not None else ''} | "
                        f"{'' if v is None else yen(v)} |\n")  # fmt: skip
        est_kwh = f", of which {estimated:.2f} kWh estimated (GPU-hours × board power)" if estimated else ""
        notes = [f"{len(in_month)} priced run(s) started in {selected_month or '—'}: {kwh:.2f} kWh{est_kwh}"]
        if unknown:
            notes.append(f"energy unknown (not in the kWh sum): {', '.join(unknown)}")
        if undated:
            notes.append(f"{undated} priced run(s) without a start time are in no month")
        _display(
            heading(f"Training electricity, {selected_month or '—'}", 2),
            note("; ".join(notes)),
            _tier_figure(lines, bill.base_fee_jpy, title),
            heading(f"Cost per 1M steps, {selected_month or '—'}", 2),
            _per_million_steps_figure(points),
            Block(_markdown_to_html_tables(head + md_rows), head + md_rows),
        )

    _display(heading("Cost Report"), note(f"{len(priced)} priced session(s); tariff {tariff_obj.name}"))
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
