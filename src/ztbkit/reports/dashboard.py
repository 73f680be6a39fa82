"""The dashboard's session table and plots.

The table is self-contained HTML: every value from the artifacts is HTML-escaped (a session id
``<script>alert(1)</script>`` shows as text), status is shown by colour, and a few lines of inline
JavaScript sort it by a click on a column header and filter it with a text box — no CDN, works
offline. Large tables keep the first :data:`PAGE_ROWS` rows in the page and the rest in an inert
``<template>``; sorting and filtering cover every row, and "Show all" shows them all. The same rows
render as a Markdown table for the ``.md`` report.

Layout: the ID column is sticky and headers are compact (the full name is the header's tooltip), so
the money columns (GPU-hours, ¥) fit a 1280 px window; the table scrolls inside its own box. With
``charts=True`` the Sharpe/DSR and step-progress charts are inline SVG inside the same box, and the
one text filter hides the points of filtered-out sessions too (client-side, no kernel needed).
"""

from __future__ import annotations

import html
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from ztbkit.core.clock import default_tz
from ztbkit.core.formatting import md_escape, yen
from ztbkit.data.session import Session
from ztbkit.money.budget import read_cost

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TITLE = "Zaif Trade Bot Dashboard"
STATUS_CLASSES = ("running", "stopped", "failed", "missing", "unknown")
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    kind: str  # "num" sorts numerically (blanks last), "text" as text
    value: Callable[[Session, tzinfo], Any]
    shown: Callable[[Any], str]
    short: str = ""  # the HTML header when the title is long; the title becomes its tooltip


def _num(fmt: str) -> Callable[[Any], str]:
    return lambda v: "" if v is None else fmt.format(v)


def _cost(s: Session) -> tuple[float | None, float | None]:
    total, gpu_hours, _ = read_cost(s.cost_estimate)
    return total, gpu_hours


COLUMNS: tuple[Column, ...] = (
    # Money right after progress: GPU-hours and yen stay in view in a narrow window or a JupyterLab panel.
    Column("ID", "text", lambda s, tz: s.session_id, str),
    Column(
        "Start (JST)",
        "text",
        lambda s, tz: s.start_time.astimezone(tz).strftime("%Y-%m-%d %H:%M") if s.start_time else None,
        lambda v: v or "",
    ),
    Column("Status", "text", lambda s, tz: s.status, str),
    Column("Latest step", "num", lambda s, tz: s.global_step, _num("{:,}"), "Step"),
    Column("ETA", "text", lambda s, tz: s.eta, lambda v: eta_text(v)),
    Column("GPU-hours", "num", lambda s, tz: _cost(s)[1], _num("{:.2f}"), "GPU h"),
    Column("Cost (¥)", "num", lambda s, tz: _cost(s)[0], lambda v: "" if v is None else yen(v)),
    Column("Sharpe", "num", lambda s, tz: s.rl_sharpe, _num("{:.3f}")),
    Column("DSR", "num", lambda s, tz: s.dsr, _num("{:.3f}")),
    Column("p-value", "num", lambda s, tz: s.p_value, _num("{:.4f}")),
    Column("Gates", "text", lambda s, tz: s.gate_verdict, str),
    Column("VRAM peak (MB)", "num", lambda s, tz: s.memory_peak_mb, _num("{:,.0f}"), "VRAM MB"),
    Column("RSS peak (MB)", "num", lambda s, tz: s.rss_peak_mb, _num("{:,.0f}"), "RSS MB"),
    # The user's own words (ztb tag / ztb note): the filter box finds them like any other cell.
    Column("Tags", "text", lambda s, tz: ", ".join(s.tags), str),
    Column("Notes", "text", lambda s, tz: " | ".join(s.notes), lambda v: v if len(v) <= 80 else v[:79] + "…"),
)

# Selectors are specific enough to beat JupyterLab's table rules (table-layout: fixed, right-aligned cells).
_CSS = """
.ztb-dash{font-family:system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans CJK JP",sans-serif;font-size:13px}
.ztb-dash .ztb-bar{display:flex;gap:1em;align-items:center;margin:.5em 0}
.ztb-dash input.ztb-filter{padding:.3em .5em;min-width:18em;font-size:13px}
.ztb-dash .ztb-scroll{overflow:auto;max-height:70vh;max-width:100%;border:1px solid #e5e7eb}
.ztb-dash table.ztb-sessions{border-collapse:separate;border-spacing:0;table-layout:auto;width:auto;margin:0}
.ztb-dash table.ztb-sessions th,.ztb-dash table.ztb-sessions td{padding:3px 6px;border-bottom:1px solid #ddd;
  text-align:left;white-space:nowrap;max-width:none}
.ztb-dash table.ztb-sessions th{cursor:pointer;user-select:none;background:#f3f4f6;position:sticky;top:0;z-index:1}
.ztb-dash table.ztb-sessions th:first-child,.ztb-dash table.ztb-sessions td:first-child{position:sticky;left:0;
  background:#fff;z-index:2;max-width:15em;overflow:hidden;text-overflow:ellipsis;border-right:1px solid #ddd}
.ztb-dash table.ztb-sessions th:first-child{background:#f3f4f6;z-index:3}
.ztb-dash .ztb-charts{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px}
.ztb-dash .ztb-charts figure{margin:0;max-width:100%}.ztb-dash .ztb-charts svg{max-width:100%;height:auto}
.ztb-dash table.ztb-sessions th.num,.ztb-dash table.ztb-sessions td.num{text-align:right}
.ztb-dash table.ztb-sessions th[aria-sort=ascending]::after{content:" ▲"}
.ztb-dash table.ztb-sessions th[aria-sort=descending]::after{content:" ▼"}
.ztb-dash .st{border-radius:8px;padding:1px 8px;color:#fff;font-weight:600}
.ztb-dash .st-running{background:#2563eb}.ztb-dash .st-stopped{background:#6b7280}
.ztb-dash .st-failed{background:#dc2626}.ztb-dash .st-missing{background:#d97706}
.ztb-dash .st-unknown{background:#9ca3af}
.ztb-dash .g-pass{color:#15803d;font-weight:600}.ztb-dash .g-fail{color:#dc2626;font-weight:700}
.ztb-dash table.ztb-sessions tr.row-failed td{background:#fef2f2}
.ztb-dash table.ztb-sessions tr.row-missing td{background:#fffbeb}
.ztb-dash .tag{border:1px solid #9ca3af;border-radius:8px;padding:0 6px;margin-right:3px}
.ztb-dash .tag-live{background:#15803d;border-color:#15803d;color:#fff;font-weight:600}
.ztb-dash .tag-discard{color:#9ca3af;text-decoration:line-through}
"""

#: Rows in the DOM at once. The rest wait, parsed but inert, in a <template>: laying out 10,000
#: table rows on every sort is what makes a big table slow, not the sort itself.
PAGE_ROWS = 500

# Sorting and filtering work on the whole array of rows; the table then shows the first PAGE_ROWS
# matches (or all, after "Show all"). Keys are read once per sort; row text is lower-cased once.
_JS = """
(function(){
  var root=document.getElementById("%(id)s"); if(!root) return;
  var table=root.querySelector("table"), tbody=table.tBodies[0], heads=table.tHead.rows[0].cells;
  var more=root.querySelector("template.ztb-more"), count=root.querySelector(".ztb-count");
  var button=root.querySelector("button.ztb-all"), input=root.querySelector("input.ztb-filter");
  var rows=Array.prototype.slice.call(tbody.rows);
  if(more) rows=rows.concat(Array.prototype.slice.call(more.content.querySelectorAll("tr")));
  var text=rows.map(function(r){return r.textContent.toLowerCase();});
  var points=[];  // [svg element, row index] for every chart point linked to a table row
  Array.prototype.forEach.call(root.querySelectorAll("figure[data-series]"),function(f){
    var series=JSON.parse(f.getAttribute("data-series"));
    Object.keys(series).forEach(function(gid){
      var g=f.querySelector('g[id="'+gid+'"] > g')||f.querySelector('g[id="'+gid+'"]'); if(!g) return;
      var els=Array.prototype.filter.call(g.children,function(e){return e.tagName!=="defs";});
      series[gid].forEach(function(row,k){ if(els[k]) points.push([els[k],row]); });
    });
  });
  var order=rows.map(function(r,i){return i;}), page=%(page)d, showAll=false;
  function render(){
    var q=input.value.trim().toLowerCase(), hits=[], frag=document.createDocumentFragment();
    var hit=new Uint8Array(rows.length);
    for(var k=0;k<order.length;k++){var i=order[k]; if(!q||text[i].indexOf(q)>=0){hits.push(i); hit[i]=1;}}
    for(var p=0;p<points.length;p++) points[p][0].style.display=hit[points[p][1]]?"":"none";
    var n=showAll?hits.length:Math.min(page,hits.length);
    for(var j=0;j<n;j++) frag.appendChild(rows[hits[j]]);
    tbody.textContent=""; tbody.appendChild(frag);
    var label=q?hits.length+" of "+rows.length+" sessions match":rows.length+" sessions";
    count.textContent=(n<hits.length?"showing "+n+" — ":"")+label;
    button.hidden=n>=hits.length;
  }
  Array.prototype.forEach.call(heads,function(th,col){
    th.addEventListener("click",function(){
      var asc=th.getAttribute("aria-sort")!=="ascending", num=th.classList.contains("num");
      Array.prototype.forEach.call(heads,function(h){h.removeAttribute("aria-sort");});
      th.setAttribute("aria-sort",asc?"ascending":"descending");
      var keys=rows.map(function(r){var c=r.cells[col], v=c.getAttribute("data-v");
        if(v===null) v=c.textContent; return num?(v===""?NaN:parseFloat(v)):v;});
      order.sort(function(a,b){var x=keys[a],y=keys[b];
        if(num){var xn=isNaN(x),yn=isNaN(y); if(xn||yn) return xn===yn?a-b:(xn?1:-1);}
        var d=x<y?-1:(x>y?1:0); return (asc?d:-d)||a-b;});
      render();
    });
  });
  input.addEventListener("input",render);
  button.addEventListener("click",function(){showAll=true; render();});
  render();
})();
"""


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
        return f'<td><span class="st st-{status}">{html.escape(str(value))}</span></td>'
    if col.title == "Gates":
        return f'<td class="g-{html.escape(str(value))}">{html.escape(str(value))}</td>'
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
    uid = f"ztb-dash-{next(_ids)}"
    head = "".join(
        f'<th class="{"num" if c.kind == "num" else "text"}" scope="col" title="{html.escape(c.title)}">'
        f"{html.escape(c.short or c.title)}</th>"
        for c in columns
    )
    body = []
    for s in sessions:
        status = s.status if s.status in STATUS_CLASSES else "unknown"
        cells = "".join(_cell(c, c.value(s, zone)) for c in columns)
        body.append(f'<tr class="row-{status}">{cells}</tr>')
    shown, rest = "".join(body[:PAGE_ROWS]), "".join(body[PAGE_ROWS:])
    more = f'<template class="ztb-more"><table><tbody>{rest}</tbody></table></template>' if rest else ""
    return (
        f'<div class="ztb-dash" id="{uid}"><style>{_CSS}</style>'
        '<div class="ztb-bar"><input type="search" class="ztb-filter" placeholder="Filter sessions…" '
        'aria-label="Filter sessions"><span class="ztb-count"></span>'
        '<button type="button" class="ztb-all" hidden>Show all</button></div>'
        f'<div class="ztb-scroll"><table class="ztb-sessions"><thead><tr>{head}</tr></thead><tbody>{shown}'
        f"</tbody></table></div>{more}{_charts_html(sessions, zone) if charts else ''}"
        f"<script>{_JS % {'id': uid, 'page': PAGE_ROWS}}</script></div>"
    )


def _tag_cell(value: str) -> str:
    return "".join(
        f'<span class="tag tag-{html.escape(t)}">{html.escape(t)}</span>' for t in value.split(", ") if t
    )


def session_table_markdown(sessions: Sequence[Session], tz: tzinfo | None = None,
                           columns: Sequence[Column] = COLUMNS) -> str:  # fmt: skip
    """The same table as Markdown (for the .md report)."""
    zone = tz or default_tz()
    lines = ["| " + " | ".join(c.title for c in columns) + " |",
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
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for attr, label, marker in (("rl_sharpe", "Sharpe", "o"), ("dsr", "DSR", "s")):
        pts = sorted((s.start_time.astimezone(zone), getattr(s, attr), i) for i, s in enumerate(sessions)
                     if s.start_time and _finite(getattr(s, attr)))  # fmt: skip
        if pts:
            _scatter(ax, pts, link, f"ztb-{attr}", s=12, marker=marker, label=label)
    ax.set_xlabel("session start (JST)")
    return finish_axes(fig, ax, "Sharpe and DSR across sessions", "no Sharpe or DSR values yet", dates=True)


def _scatter(ax: Any, pts: Sequence[tuple[Any, Any, int]], link: dict[str, list[int]] | None, gid: str,
             **style: Any) -> None:  # fmt: skip
    times: Any = [p[0] for p in pts]  # matplotlib plots datetimes; its stubs say floats
    ax.scatter(times, [p[1] for p in pts], gid=gid, **style)
    if link is not None:
        link[gid] = [p[2] for p in pts]


#: Progress chart groups: (status test, label, colour, marker). Failed runs stand apart.
_PROGRESS_GROUPS: tuple[tuple[Callable[[str], bool], str, str, str], ...] = (
    (lambda st: st not in ("running", "failed"), "finished / stopped", "#6b7280", "o"),
    (lambda st: st == "running", "running", "#2563eb", "o"),
    (lambda st: st == "failed", "failed", "#dc2626", "X"),
)


def progress_figure(
    sessions: Sequence[Session], tz: tzinfo | None = None, *, link: dict[str, list[int]] | None = None
) -> Figure:
    """Latest step per session over time: running in blue, failed as red crosses, the rest grey."""
    from matplotlib.figure import Figure

    zone = tz or default_tz()
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for n, (test, label, color, marker) in enumerate(_PROGRESS_GROUPS):
        pts = sorted((s.start_time.astimezone(zone), s.global_step, i) for i, s in enumerate(sessions)
                     if s.start_time and s.global_step is not None and test(s.status))  # fmt: skip
        if pts:
            _scatter(ax, pts, link, f"ztb-progress-{n}", s=24 if marker == "X" else 14, color=color,
                     marker=marker, label=label)  # fmt: skip
    ax.set_ylabel("latest step")
    return finish_axes(fig, ax, "Step progress", "no step counts yet", dates=True)


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
