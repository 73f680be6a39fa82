"""The dashboard's session table and plots.

The table is self-contained HTML: every value from the artifacts is HTML-escaped (a session id
``<script>alert(1)</script>`` shows as text), status is shown by colour, and a few lines of inline
JavaScript sort it by a click on a column header and filter it with a text box — no CDN, works
offline. Large tables keep the first :data:`ztbkit.reports.tables.PAGE_ROWS` rows in the page and the rest as inert
text, parsed on the first sort or filter; sorting and filtering cover every row, and "Show all" shows them all. The same rows
render as a Markdown table for the ``.md`` report.

Layout: the ID column is sticky and headers are compact (the full name is the header's tooltip), so
the money columns (GPU-hours, ¥) fit a 1280 px window; the table scrolls inside its own box. With
``charts=True`` the Sharpe/DSR and step-progress charts are inline SVG inside the same box, and the
one text filter hides the points of filtered-out sessions too (client-side, no kernel needed).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from ztbkit.core.clock import default_tz
from ztbkit.core.formatting import md_escape, yen
from ztbkit.data.session import Session
from ztbkit.locale import N_, _, lazy
from ztbkit.locale.fonts import chart_fonts, steps_axis
from ztbkit.locale.numbers import report_day
from ztbkit.money.budget import read_cost
from ztbkit.reports.tables import paged_table_html

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TITLE = lazy("Zaif Trade Bot Dashboard")
STATUS_CLASSES = ("running", "stopped", "failed", "missing", "unknown")
#: The table bar's words, for the catalogue (shown translated in session_table_html).
BAR_WORDS = (N_("Filter sessions…"), N_("Filter sessions"), N_("Show all"))
#: The same words for the catalogue: a status is shown translated (``_(status)``), kept as the class name.
STATUS_WORDS = (N_("running"), N_("stopped"), N_("failed"), N_("missing"), N_("unknown"))
#: A gate verdict's words (``none``: no gates file) likewise: shown translated, kept as the class name.
VERDICT_WORDS = (N_("pass"), N_("fail"), N_("none"))


@dataclass(frozen=True, slots=True)
class Column:
    title: str  # English, the key the cells test; shown translated (_)
    kind: str  # "num" sorts numerically (blanks last), "text" as text
    value: Callable[[Session, tzinfo], Any]
    shown: Callable[[Any], str]
    short: str = ""  # the HTML header when the title is long; the title becomes its tooltip


def _num(fmt: str) -> Callable[[Any], str]:
    return lambda v: "" if v is None else fmt.format(v)


def _start(s: Session, tz: tzinfo) -> str | None:
    """``2025-10-31 09:15`` (English), ``2025/10/31(金) 09:15`` (Japanese): both sort as text."""
    if s.start_time is None:
        return None
    local = s.start_time.astimezone(tz)
    return f"{report_day(local.date())} {local:%H:%M}"


#: The last cost file read and its figures: the GPU-hours and yen columns read the same file in turn.
_LAST_COST: list[Any] = [None, (None, None)]


def _cost(s: Session) -> tuple[float | None, float | None]:
    doc = s.cost_estimate
    if doc is not None and _LAST_COST[0] is doc:  # the same object (held here, so its id is not reused)
        return _LAST_COST[1]  # type: ignore[no-any-return]
    total, gpu_hours, _source = read_cost(doc)
    _LAST_COST[:] = [doc, (total, gpu_hours)]
    return total, gpu_hours


COLUMNS: tuple[Column, ...] = (
    # Money right after progress: GPU-hours and yen stay in view in a narrow window or a JupyterLab panel.
    Column(N_("ID"), "text", lambda s, tz: s.session_id, str),
    Column(
        N_("Start (JST)"),
        "text",
        lambda s, tz: _start(s, tz),
        lambda v: v or "",
    ),
    Column(N_("Status"), "text", lambda s, tz: s.status, str),
    Column(N_("Latest step"), "num", lambda s, tz: s.global_step, _num("{:,}"), N_("Step")),
    Column(N_("ETA"), "text", lambda s, tz: s.eta, lambda v: eta_text(v)),
    Column(N_("GPU-hours"), "num", lambda s, tz: _cost(s)[1], _num("{:.2f}"), N_("GPU h")),
    Column(N_("Cost (¥)"), "num", lambda s, tz: _cost(s)[0], lambda v: "" if v is None else yen(v)),
    # The bot's own summary figure; the leaderboard's Sharpe may come from the return series instead.
    Column(N_("Sharpe (bot summary)"), "num", lambda s, tz: s.rl_sharpe, _num("{:.3f}"), N_("Sharpe (bot)")),
    Column("DSR", "num", lambda s, tz: s.dsr, _num("{:.3f}")),
    Column(N_("p-value"), "num", lambda s, tz: s.p_value, _num("{:.4f}")),
    Column(N_("Gates"), "text", lambda s, tz: s.gate_verdict, lambda v: _(str(v))),
    Column(N_("VRAM peak (MB)"), "num", lambda s, tz: s.memory_peak_mb, _num("{:,.0f}"), N_("VRAM MB")),
    Column(N_("RSS peak (MB)"), "num", lambda s, tz: s.rss_peak_mb, _num("{:,.0f}"), N_("RSS MB")),
    # The user's own words (ztb tag / ztb note): the filter box finds them like any other cell.
    Column(N_("Tags"), "text", lambda s, tz: ", ".join(s.tags), str),
    Column(
        N_("Notes"), "text", lambda s, tz: " | ".join(s.notes), lambda v: v if len(v) <= 80 else v[:79] + "…"
    ),
)


def eta_text(eta: str | None) -> str:
    """``15909s`` (as the bot writes it) → ``4h 25m``; anything else is shown as given."""
    if not eta:
        return ""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*s\s*", eta)
    if m is None:
        return eta
    minutes = round(float(m.group(1)) / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}d {hours}h" if days else f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def _cell(col: Column, value: Any) -> str:
    shown = html.escape(col.shown(value)) if value is not None else ""
    cls = ' class="num"' if col.kind == "num" else ""
    if col.title == "Status":
        status = value if value in STATUS_CLASSES else "unknown"
        return f'<td><span class="st st-{status}">{html.escape(_(str(value)))}</span></td>'
    if col.title == "Gates":
        return f'<td class="g-{html.escape(str(value))}">{html.escape(_(str(value)))}</td>'
    if col.kind == "num":
        raw = "" if value is None else repr(value)
        return f'<td{cls} data-v="{html.escape(raw)}">{shown}</td>'
    if col.title == "Tags":
        return f"<td>{_tag_cell(str(value))}</td>"
    if col.title == "ID":
        return f'<td title="{html.escape(str(value), quote=True)}">{shown}</td>'
    return f"<td>{shown}</td>"


def live_first(sessions: Sequence[Session]) -> list[Session]:
    """The session tagged ``live`` (the model that trades now) first, the others in their order."""
    return sorted(sessions, key=lambda s: "live" not in s.tags)


def session_table_html(sessions: Sequence[Session], tz: tzinfo | None = None, *, charts: bool = False,
                       columns: Sequence[Column] = COLUMNS) -> str:  # fmt: skip
    """The sortable, filterable, escaped session table (HTML with inline CSS and JavaScript).

    ``charts=True`` adds the two dashboard charts as inline SVG that follow the same filter.
    ``columns``: another report's columns (the compare report's hyperparameters), same behaviour.
    """
    zone = tz or default_tz()
    head = "".join(
        f'<th class="{"num" if c.kind == "num" else "text"}" scope="col" title="{html.escape(_(c.title))}">'
        f"{html.escape(_(c.short or c.title))}</th>"
        for c in columns
    )
    body = []
    for s in sessions:
        status = s.status if s.status in STATUS_CLASSES else "unknown"
        cells = "".join(_cell(c, c.value(s, zone)) for c in columns)
        body.append(f'<tr class="row-{status}">{cells}</tr>')
    return paged_table_html(head, body, after=_charts_html(sessions, zone) if charts else "")


def _tag_cell(value: str) -> str:
    return "".join(
        f'<span class="tag tag-{html.escape(t)}">{html.escape(t)}</span>' for t in value.split(", ") if t
    )


def session_table_markdown(sessions: Sequence[Session], tz: tzinfo | None = None,
                           columns: Sequence[Column] = COLUMNS) -> str:  # fmt: skip
    """The same table as Markdown (for the .md report)."""
    zone = tz or default_tz()
    lines = ["| " + " | ".join(_(c.title) for c in columns) + " |",
             "|" + "|".join("---:" if c.kind == "num" else "---" for c in columns) + "|"]  # fmt: skip
    for s in sessions:
        cells = []
        for c in columns:
            v = c.value(s, zone)
            cells.append(md_escape(c.shown(v)) if v is not None else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def finish_axes(
    fig: Figure, ax: Any, title: str, empty: str, *, dates: bool = False, legend: bool = True
) -> Figure:
    """Title, grid, a legend when something is labelled, and a note instead of a blank chart."""
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if not ax.has_data():
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
    elif legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    if dates and ax.has_data():
        fig.autofmt_xdate()
    return fig


def _finite(v: float | int | None) -> bool:
    return v is not None and math.isfinite(v)


#: Above this many points the inline charts are left out (the PNG charts still show every session).
CHART_POINTS = 5000


def metrics_figure(
    sessions: Sequence[Session], tz: tzinfo | None = None, *, link: dict[str, list[int]] | None = None
) -> Figure:
    """Sharpe and DSR across sessions, by start time (one point per session).

    ``link`` collects, per plotted series (SVG group id), the index in ``sessions`` of each point.
    """
    from matplotlib.figure import Figure

    zone = tz or default_tz()
    chart_fonts()
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    # DSR is a probability: it gets its own axis, fixed to [0, 1], on the right; Sharpe keeps the left.
    prob = ax.twinx()
    series = (("rl_sharpe", _("Sharpe (bot summary)"), "o", ax, "C0"),
              ("dsr", _("DSR (probability, right axis)"), "s", prob, "C1"))  # fmt: skip
    for attr, label, marker, target, color in series:
        pts = sorted((s.start_time.astimezone(zone), getattr(s, attr), i) for i, s in enumerate(sessions)
                     if s.start_time and _finite(getattr(s, attr)))  # fmt: skip
        if pts:
            _scatter(target, pts, link, f"ztb-{attr}", s=12, marker=marker, label=label, color=color)
    ax.set_xlabel(_("session start (JST)"))
    ax.set_ylabel(_("Sharpe"))
    prob.set_ylim(-0.02, 1.02)
    prob.set_ylabel(_("DSR (probability)"))
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = prob.get_legend_handles_labels()
    if more:  # one legend for both axes
        ax.legend(lines + more, labels + more_labels, loc="best")
    empty = "" if prob.has_data() else _("no Sharpe or DSR values yet")
    return finish_axes(fig, ax, _("Sharpe and DSR across sessions"), empty, dates=True, legend=not more)


def _scatter(ax: Any, pts: Sequence[tuple[Any, Any, int]], link: dict[str, list[int]] | None, gid: str,
             **style: Any) -> None:  # fmt: skip
    times: Any = [p[0] for p in pts]  # matplotlib plots datetimes; its stubs say floats
    ax.scatter(times, [p[1] for p in pts], gid=gid, **style)
    if link is not None:
        link[gid] = [p[2] for p in pts]


#: Progress chart groups: (status test, label, colour, marker). Failed runs stand apart.
_PROGRESS_GROUPS: tuple[tuple[Callable[[str], bool], str, str, str], ...] = (
    (lambda st: st not in ("running", "failed"), N_("finished / stopped"), "#6b7280", "o"),
    (lambda st: st == "running", N_("running"), "#2563eb", "o"),
    (lambda st: st == "failed", N_("failed"), "#dc2626", "X"),
)


def progress_figure(
    sessions: Sequence[Session], tz: tzinfo | None = None, *, link: dict[str, list[int]] | None = None
) -> Figure:
    """Latest step per session over time: running in blue, failed as red crosses, the rest grey."""
    from matplotlib.figure import Figure

    zone = tz or default_tz()
    chart_fonts()
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for n, (test, label, color, marker) in enumerate(_PROGRESS_GROUPS):
        pts = sorted((s.start_time.astimezone(zone), s.global_step, i) for i, s in enumerate(sessions)
                     if s.start_time and s.global_step is not None and test(s.status))  # fmt: skip
        if pts:
            _scatter(ax, pts, link, f"ztb-progress-{n}", s=24 if marker == "X" else 14, color=color,
                     marker=marker, label=_(label))  # fmt: skip
    ax.set_ylabel(_("latest step"))
    steps_axis(ax)
    return finish_axes(fig, ax, _("Step progress"), _("no step counts yet"), dates=True)


def _charts_html(sessions: Sequence[Session], zone: tzinfo) -> str:
    """The two charts as inline SVG figures whose points the table's filter can hide."""
    import io
    import json

    if len(sessions) > CHART_POINTS:
        return ""
    out = []
    for make in (metrics_figure, progress_figure):
        link: dict[str, list[int]] = {}
        fig = make(sessions, zone, link=link)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        svg = buf.getvalue()
        svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: inline in HTML
        title = html.escape(fig.axes[0].get_title(), quote=True)
        out.append(f"<figure role=\"img\" aria-label=\"{title}\" data-series='{html.escape(json.dumps(link))}'>"
                   f"{svg}</figure>")  # fmt: skip
    return '<div class="ztb-charts">' + "".join(out) + "</div>"
