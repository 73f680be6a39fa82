"""What the budget and cost notebooks display (see :mod:`ztbkit.reports.views` for the policy)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ztbkit.core.clock import SYSTEM_CLOCK, default_tz, report_date
from ztbkit.core.formatting import md_escape, yen
from ztbkit.data.session import Session
from ztbkit.locale import N_, _, use_language
from ztbkit.locale.fonts import chart_fonts, yen_axis
from ztbkit.locale.numbers import month_label, report_day
from ztbkit.money.budget import budget_markdown, budget_runs, rollup
from ztbkit.money.costs import resolve_rates
from ztbkit.money.energy import run_energy
from ztbkit.money.tariffs import load_tariff
from ztbkit.reports import dashboard as dash
from ztbkit.reports.blocks import (
    Block,
    annotations_block,
    display_items,
    heading,
    interact,
    markdown_to_html,
    note,
    widgets_wanted,
)
from ztbkit.reports.locations import load_tree

#: Where a run's kWh came from (``run_energy(...).source``), for the catalogue: shown translated.
ENERGY_SOURCES = (N_("recorded"), N_("estimated"), N_("unknown"))

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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

    chart_fonts()
    fig = Figure(figsize=(9, 3), layout="constrained")
    ax = fig.add_subplot()
    series = daily_series(days)
    if series:
        import matplotlib.dates as mdates

        xs: Any = [d for d, _c in series]
        ax.bar(xs, [c for _d, c in series], width=0.8, color="#2563eb")
        zero: Any = [d for d, c in series if not c]
        if zero:  # a day without cost is a visible tick on the axis, not a missing day
            ax.scatter(zero, [0] * len(zero), marker="|", s=60, color="#9ca3af", clip_on=False)
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, len(series) // 10)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
        ax.set_xlim(mdates.date2num(xs[0]) - 0.7, mdates.date2num(xs[-1]) + 0.7)
        if not any(c for _d, c in series):
            ax.set_ylim(0, 1)
            ax.text(
                0.5,
                0.5,
                _("no estimated cost on these days"),
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
    yen_axis(ax)
    return dash.finish_axes(fig, ax, _("Cost per day (¥)"), _("no estimated runs"), dates=True)


def show_budget(artifacts_dir: str = "", *, day: str | None = None, interactive: bool = False,
                snapshot: str = "", lang: str = "") -> None:  # fmt: skip
    """The daily budget: title, cost per day (every day in the range, zero days too) and the tables.
    ``lang``: ja or en (empty: ``ZTB_LANG``, else the locale; :mod:`ztbkit.locale`)."""
    use_language(lang or None)
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
        display_items(_cost_per_day_figure(days), Block(markdown_to_html(rest), rest))

    title = budget_markdown([], only=only).partition("\n")[0]
    display_items(Block(markdown_to_html(title), title + "\n"))
    interactive = widgets_wanted(interactive)

    if interactive:
        import ipywidgets as widgets

        interact(
            {
                "start": widgets.DatePicker(description=_("From")),
                "end": widgets.DatePicker(description=_("To")),
            },
            render,
        )
    else:
        render()
    tagged = annotations_block(tree.sessions)
    if tagged:
        display_items(tagged)


def _tier_figure(bill_lines: Sequence[tuple[str, float]], base_fee: float, title: str) -> Figure:
    """The month's bill as one horizontal bar stacked by base fee and tier."""
    from matplotlib.figure import Figure

    chart_fonts()
    fig = Figure(figsize=(9, 2.4), layout="constrained")
    ax = fig.add_subplot()
    left = 0.0
    for label, jpy in [(_("base fee"), base_fee), *bill_lines]:
        ax.barh([_("bill")], [jpy], left=[left], label=f"{label}: {yen(jpy)}")
        left += jpy
    ax.set_xlabel(_("yen"))
    yen_axis(ax, "x")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncols=4, fontsize=8, frameon=False)
    return dash.finish_axes(fig, ax, title, _("no usage"), legend=False)


def _per_million_steps_figure(points: Sequence[tuple[Any, float]]) -> Figure:
    """Cost per 1M steps by session start: a scatter, readable for 10 sessions or 10,000."""
    from matplotlib.figure import Figure

    chart_fonts()
    fig = Figure(figsize=(9, 3), layout="constrained")
    ax = fig.add_subplot()
    if points:
        times: Any = [t for t, _v in points]
        ax.scatter(times, [v for _t, v in points], s=12, color="#15803d")
    yen_axis(ax)
    return dash.finish_axes(
        fig, ax, _("Cost per 1M steps (¥), by session start"), _("no estimated runs with steps"), dates=True
    )


def show_cost(artifacts_dir: str = "", *, tariff: str = "jp_residential_tiered", month: str | None = None,
              interactive: bool = False, snapshot: str = "", now: datetime | None = None,
              lang: str = "") -> None:  # fmt: skip
    """The month's electricity bill by tier (stacked bar), and cost per 1M steps per session.

    Everything on the page follows the chosen ``month`` (YYYY-MM of the run's start in Asia/Tokyo;
    default: the newest month with priced runs, not after ``now``'s: one run whose start reads 2090 does
    not take over the page). A run's energy comes from its cost file: ztbkit's
    ``power_kwh``, or for the older flat shape GPU-hours × board power (*estimated*); a file with
    neither is listed as *energy unknown* and left out of the kWh sum — never counted as 0 kWh.
    Priced runs without a start time belong to no month: they are named as such, and no month's bill
    (not even the base fee) is drawn for them. ``lang``: ja or en (empty: ``ZTB_LANG``, else the locale).
    """
    use_language(lang or None)
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
        est_note = _(", {kwh} estimated").format(kwh=f"{estimated:.1f}") if estimated else ""
        shown_month = month_label(selected_month or "")
        title = _("{month}: {kwh} kWh{estimated} → {total} ({tariff})").format(
            month=shown_month, kwh=f"{kwh:.1f}", estimated=est_note, total=yen(bill.total_jpy),
            tariff=tariff_name)  # fmt: skip
        runs = {r.session_id: r for r in budget_runs(in_month)}
        starts = {s.session_id: s.start_time for s in in_month}
        per_m = {sid: v for sid, r in runs.items() if (v := r.cost_per_million_steps) is not None}
        points = [(starts[sid], v) for sid, v in per_m.items()]
        head = ("| " + " | ".join([_("session"), _("start (JST)"), "kWh", _("energy"), _("¥ (cost file)"),
                                   _("¥ per 1M steps")]) + " |\n|---|---|---:|---|---:|---:|\n")  # fmt: skip
        md_rows, unknown_word = "", _("energy unknown")
        for s in in_month:
            e, r, v = energy[s.session_id], runs.get(s.session_id), per_m.get(s.session_id)
            assert s.start_time is not None
            local = s.start_time.astimezone(default_tz())
            md_rows += (f"| {md_escape(s.session_id)} | {report_day(local.date())} {local:%H:%M} | "
                        f"{'' if e.kwh is None else f'{e.kwh:.2f}'} | "
                        f"{unknown_word if e.kwh is None else md_escape(f'{_(e.source)} ({e.detail})')} | "
                        f"{yen(r.cost_jpy) if r and r.cost_jpy is not None else ''} | "
                        f"{'' if v is None else yen(v)} |\n")  # fmt: skip
        est_kwh = (_(", of which {kwh} kWh estimated (GPU-hours × board power)").format(kwh=f"{estimated:.2f}")
                   if estimated else "")  # fmt: skip
        notes = [_("{n} priced run(s) started in {month}: {kwh} kWh{estimated}").format(
            n=len(in_month), month=shown_month, kwh=f"{kwh:.2f}", estimated=est_kwh)]  # fmt: skip
        if unknown:
            notes.append(_("energy unknown (not in the kWh sum): {ids}").format(ids=", ".join(unknown)))
        if undated:
            notes.append(_("{n} priced run(s) without a start time are in no month").format(n=undated))
        notes.append(_("This is the electricity actually paid (kWh × the tariff), out of pocket."))
        display_items(
            heading(_("Training electricity, {month}").format(month=shown_month), 2),
            note(_("; ").join(notes)),
            _tier_figure(lines, bill.base_fee_jpy, title),
            heading(_("Cost per 1M steps, {month}").format(month=shown_month), 2),
            _per_million_steps_figure(points),
            Block(markdown_to_html(head + md_rows), head + md_rows),
        )

    tariff_name = (
        tariff_obj.shown_name if tariff_obj.title or not tariff_obj.flat_rate else _("flat rate per kWh")
    )
    display_items(
        heading(_("Cost Report")),
        note(_("{n} priced session(s); tariff {tariff}").format(n=len(priced), tariff=tariff_name)),
    )
    if chosen_month is None:  # nothing to bill: no month is drawn, not even a base fee for "no month"
        display_items(
            note(
                _("No priced run has a start time, so no month can be billed.")
                + (
                    " " + _("{n} priced run(s) without a start time are in no month").format(n=undated)
                    if undated
                    else ""
                )
            )
        )
        if tagged := annotations_block(tree.sessions):  # the user's notes still show on a page with no bill
            display_items(tagged)
        return
    interactive = widgets_wanted(interactive)
    if interactive and months:
        import ipywidgets as widgets

        interact(
            {
                "selected_month": widgets.Dropdown(
                    options=[(month_label(m), m) for m in months], value=chosen_month, description=_("Month")
                )
            },
            render,
        )
    else:
        render(chosen_month)
    tagged = annotations_block(tree.sessions)
    if tagged:
        display_items(tagged)
