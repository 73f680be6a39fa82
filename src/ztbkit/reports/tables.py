"""Paged tables: sortable, filterable HTML tables that open fast at any size.

Every cell is escaped by the caller; the first :data:`PAGE_ROWS` rows are in the page and the rest are
inert text (``<script type="text/html">``) that the browser does not parse until the first sort, filter
or "Show all" needs them. A few lines of inline JavaScript sort by a click on a column header and
filter with a text box over every row — no CDN, works offline; "Show all" shows them all. The
dashboard's session table and the leaderboard are both made here, in the page's language.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Sequence

from ztbkit.locale import _
from ztbkit.reports.webfont import FONT_STACK

_ids = itertools.count(1)

# Selectors are specific enough to beat JupyterLab's table rules (table-layout: fixed, right-aligned cells).
_CSS = (
    f".ztb-dash{{font-family:{FONT_STACK};font-size:13px}}"
    # Form controls do not inherit the page's font: without this the filter's Japanese placeholder is tofu.
    ".ztb-dash input,.ztb-dash button{font-family:inherit}"
    """
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
)

#: Rows in the DOM at once. The rest wait as unparsed text until a sort or filter needs them: laying out 10,000
#: table rows on every sort is what makes a big table slow, not the sort itself.
PAGE_ROWS = 500

# Sorting and filtering work on the whole array of rows; the table then shows the first PAGE_ROWS
# matches (or all, after "Show all"). Keys are read once per sort; row text is lower-cased once.
_JS = """
(function(){
  var root=document.getElementById("%(id)s"); if(!root) return;
  var table=root.querySelector("table"), tbody=table.tBodies[0], heads=table.tHead.rows[0].cells;
  var more=root.querySelector("script.ztb-more"), count=root.querySelector(".ztb-count");
  var button=root.querySelector("button.ztb-all"), input=root.querySelector("input.ztb-filter");
  var rows=Array.prototype.slice.call(tbody.rows), total=%(total)d, text=null, order=null;
  // The rows past the first page are text until the first sort, filter or "Show all" needs them:
  // parsing them (most of a 10,000-row page's bytes) is what made the page slow to open.
  function ensure(){
    if(text) return;
    if(more){var t=document.createElement("template");
      t.innerHTML="<table><tbody>"+more.textContent+"</tbody></table>";
      rows=rows.concat(Array.prototype.slice.call(t.content.querySelectorAll("tr"))); more=null;}
    total=rows.length; order=rows.map(function(r,i){return i;});
    text=rows.map(function(r){return r.textContent.toLowerCase();});
  }
  var points=[];  // [svg element, row index] for every chart point linked to a table row
  Array.prototype.forEach.call(root.querySelectorAll("figure[data-series]"),function(f){
    var series=JSON.parse(f.getAttribute("data-series"));
    Object.keys(series).forEach(function(gid){
      var g=f.querySelector('g[id="'+gid+'"] > g')||f.querySelector('g[id="'+gid+'"]'); if(!g) return;
      var els=Array.prototype.filter.call(g.children,function(e){return e.tagName!=="defs";});
      series[gid].forEach(function(row,k){ if(els[k]) points.push([els[k],row]); });
    });
  });
  var page=%(page)d, showAll=false;
  function label(q,n,nh){
    count.textContent=(n<nh?%(showing)s:"")+(q?%(match)s:%(all)s);
    button.hidden=n>=nh;
  }
  function render(){
    ensure();
    var q=input.value.trim().toLowerCase(), hits=[], frag=document.createDocumentFragment();
    var hit=new Uint8Array(rows.length);
    for(var k=0;k<order.length;k++){var i=order[k]; if(!q||text[i].indexOf(q)>=0){hits.push(i); hit[i]=1;}}
    for(var p=0;p<points.length;p++) points[p][0].style.display=hit[points[p][1]]?"":"none";
    var n=showAll?hits.length:Math.min(page,hits.length);
    for(var j=0;j<n;j++) frag.appendChild(rows[hits[j]]);
    tbody.textContent=""; tbody.appendChild(frag);
    label(q,n,hits.length);
  }
  Array.prototype.forEach.call(heads,function(th,col){
    th.addEventListener("click",function(){
      ensure();
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
  label("",Math.min(page,total),total);  // the page as written: the first rows, in their order
})();
"""


def _table_words(noun: str) -> dict[str, str]:
    """The words of a paged table in the page's language: ``noun`` is "sessions" or "leaderboard rows"."""
    if noun == "leaderboard rows":
        return {
            "match": _("{hits} of {rows} leaderboard rows match"),
            "all": _("{rows} leaderboard rows"),
            "hint": _("Filter leaderboard rows…"),
            "label": _("Filter leaderboard rows"),
            "show_all": _("Show all"),
        }
    return {
        "match": _("{hits} of {rows} sessions match"),
        "all": _("{rows} sessions"),
        "hint": _("Filter sessions…"),
        "label": _("Filter sessions"),
        "show_all": _("Show all"),
    }


def _js_words(noun: str = "sessions") -> dict[str, str]:
    """The table's counter in the page's language, as JavaScript expressions over hits, rows and n."""
    import json

    def expr(template: str) -> str:  # "{hits} of {rows}" → "" + hits.length + " of " + rows.length + ""
        parts = re.split(r"\{(hits|rows|n)\}", template)
        js = {"hits": "nh", "rows": "total", "n": "n"}
        return "+".join(json.dumps(p) if i % 2 == 0 else js[p] for i, p in enumerate(parts))

    words = _table_words(noun)
    return {"match": expr(words["match"]), "all": expr(words["all"]), "showing": expr(_("showing {n} — "))}


def paged_table_html(
    head: str,
    rows: Sequence[str],
    *,
    table_class: str = "ztb-sessions",
    noun: str = "sessions",
    after: str = "",
) -> str:
    """A sortable, filterable table of ``rows`` (``<tr>`` HTML, already escaped) under the header cells
    ``head``: the first :data:`PAGE_ROWS` rows in the page, the rest as inert text (a
    ``<script type="text/html">``) parsed on the first sort, filter or "Show all".
    Header cells with class ``num`` sort numerically (by a cell's ``data-v``, else its text; blanks
    last). Sorting and the filter box cover every row; "Show all" puts them all in the page."""
    uid = f"ztb-dash-{next(_ids)}"
    shown, rest = "".join(rows[:PAGE_ROWS]), "".join(rows[PAGE_ROWS:])
    # Inert text, not markup the browser parses on load: a script block of an unknown type. Cells are
    # escaped by the callers, so "</script" cannot occur in them; were it ever to, it is broken up.
    rest = re.sub(r"</(script)", r"<\\/\1", rest, flags=re.IGNORECASE)
    more = f'<script type="text/html" class="ztb-more">{rest}</script>' if rest else ""
    css = (
        _CSS if table_class == "ztb-sessions" else _CSS.replace("table.ztb-sessions", f"table.{table_class}")
    )
    words = _table_words(noun)
    hint, label, show_all = (html.escape(words[k]) for k in ("hint", "label", "show_all"))
    return (
        f'<div class="ztb-dash" id="{uid}"><style>{css}</style>'
        f'<div class="ztb-bar"><input type="search" class="ztb-filter" placeholder="{hint}" '
        f'aria-label="{label}"><span class="ztb-count"></span>'
        f'<button type="button" class="ztb-all" hidden>{show_all}</button></div>'
        f'<div class="ztb-scroll"><table class="{table_class}"><thead><tr>{head}</tr></thead><tbody>{shown}'
        f"</tbody></table></div>{more}{after}"
        f"<script>{_JS % {'id': uid, 'page': PAGE_ROWS, 'total': len(rows), **_js_words(noun)}}</script></div>"
    )
