"""Interactive learning curves in the HTML reports: uPlot, shipped inside the package, offline.

Policy (users depend on it):

* No CDN and no network: uPlot 1.6.32 (MIT, from the npm registry; ``static/README.txt``) is inlined
  into the page once per chart block, so the HTML file works on a machine with no internet.
* Hover shows every run's value at that step (its nearest logged point: runs log at different
  steps); drag to zoom (double-click resets); a click on a run in the legend hides or shows it;
  "log y" switches to a log scale (only positive values are drawn then); "smoothing" is
  TensorBoard's exponential moving average (0 = raw).
* The series are the downsampled ones of :mod:`ztbkit.analysis.curves` (first, last, min and max of
  each bucket kept), cut again to at most :data:`PAGE_POINTS` points per run and tag, fewer when a
  chart has many runs (:data:`CHART_POINTS` shared), values to 5 significant digits.
* The static PNG stays: it is the Markdown export's figure, and the page shows it when the script
  cannot run (JavaScript off): the chart hides it once drawn.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from ztbkit.analysis.curves import SessionCurves, _downsample_np
from ztbkit.locale import _
from ztbkit.reports.webfont import FONT_STACK

STATIC = Path(__file__).resolve().parent / "static"
UPLOT_VERSION = "1.6.32"
#: Points per run and tag in the page, at most; a chart's runs share :data:`CHART_POINTS` (at least
#: :data:`MIN_POINTS` each), so 100 runs × 10 tags stays a few MB (the points are JSON in the page).
PAGE_POINTS = 400
CHART_POINTS = 20_000
MIN_POINTS = 100
_ids = itertools.count(1)


@cache
def uplot_assets() -> tuple[str, str]:
    """(the uPlot script, its stylesheet), read from the package once per process."""
    js = (STATIC / "uPlot.iife.min.js").read_text(encoding="utf-8")
    css = (STATIC / "uPlot.min.css").read_text(encoding="utf-8")
    return js, css


def _series_json(curves: Sequence[SessionCurves], tags: Sequence[str], highlight: str | None) -> str:
    import numpy as np

    out: dict[str, list[dict[str, object]]] = {}
    for tag in tags:
        runs = []
        having = [c for c in curves if tag in c.series]
        share = max(MIN_POINTS, min(PAGE_POINTS, CHART_POINTS // max(1, len(having))))
        for c in having:
            xs, ys = _downsample_np(np.asarray(c.series[tag][0]), np.asarray(c.series[tag][1]), share)
            runs.append({"name": c.session_id, "x": xs, "y": [float(f"{v:.5g}") for v in ys],
                         "hl": c.session_id == highlight})  # fmt: skip
        if runs:
            out[tag] = runs
    # No "<" at all inside the script element: a session id holding </script> or <!-- cannot end it.
    return json.dumps(out, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")


_CSS = (
    f".ztb-curves{{font-family:{FONT_STACK};font-size:12px}}"
    ".ztb-curves input{font-family:inherit}"
    """
.ztb-curves .ztb-cbar{display:flex;gap:1.2em;align-items:center;margin:.3em 0}
.ztb-curves .ztb-cgrid{display:flex;flex-wrap:wrap;gap:10px}
.ztb-curves .ztb-chart h4{margin:.2em 0;font-size:12px}
.ztb-curves .u-legend{font-size:11px;text-align:left}
.ztb-curves .u-legend .u-series{cursor:pointer}
"""
)

_JS = """
(function(){
  var root=document.getElementById("%(id)s"); if(!root||!window.uPlot) return;
  var data=JSON.parse(root.querySelector("script.ztb-data").textContent);
  var grid=root.querySelector(".ztb-cgrid"), logBox=root.querySelector("input.ztb-log");
  var smooth=root.querySelector("input.ztb-smooth"), smoothOut=root.querySelector(".ztb-smooth-v");
  var palette=["#1f77b4","#ff7f0e","#2ca02c","#d62728","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf"];
  var charts=[], hidden={};
  function ema(ys,w){ if(!w) return ys; var out=[], last=null, n=0, debias;
    for(var i=0;i<ys.length;i++){ var v=ys[i]; if(v===null){out.push(null);continue;}
      last=last===null?0:last; last=last*w+(1-w)*v; n++; debias=1-Math.pow(w,n); out.push(last/debias);} return out; }
  // Runs log at different steps, so at most x only some have a point: hover shows each run's nearest.
  function nearest(u,si,i){ var ys=u.data[si]; if(ys[i]!=null) return i;
    for(var d=1;d<ys.length;d++){ if(i-d>=0&&ys[i-d]!=null) return i-d; if(i+d<ys.length&&ys[i+d]!=null) return i+d; }
    return i; }
  function draw(){
    charts.forEach(function(c){c.destroy();}); charts=[]; grid.textContent="";
    var w=parseFloat(smooth.value), log=logBox.checked; smoothOut.textContent=w.toFixed(2);
    Object.keys(data).forEach(function(tag){
      var runs=data[tag], tables=runs.map(function(r){return [r.x, ema(r.y,w)];});
      var aligned=uPlot.join(tables);
      if(log){ for(var s=1;s<aligned.length;s++){ aligned[s]=aligned[s].map(function(v){return v!==null&&v>0?v:null;}); } }
      var series=[{label:%(step)s}].concat(runs.map(function(r,i){
        return {label:r.name, stroke:r.hl?"#000":palette[i%%palette.length], width:r.hl?2.5:1.2,
                spanGaps:true, show:!hidden[r.name], points:{show:false}};}));
      var box=document.createElement("div"); box.className="ztb-chart"; box.setAttribute("data-tag",tag);
      var h=document.createElement("h4"); h.textContent=tag; box.appendChild(h); grid.appendChild(box);
      var u=new uPlot({width:Math.min(560,Math.max(320,(root.clientWidth||900)/2-16)),height:240,series:series,
        scales:{x:{time:false},y:{distr:log?3:1}}, cursor:{drag:{x:true,y:false},dataIdx:nearest},
        legend:{live:true}, hooks:{setSeries:[function(u,i,opts){
          if(i!==null&&opts&&"show" in opts) hidden[u.series[i].label]=!opts.show; }]}
      }, aligned, box);
      charts.push(u);
    });
    var fallback=root.querySelector(".ztb-fallback"); if(fallback&&charts.length) fallback.hidden=true;
    root.ztbCharts=charts;  // for tests and the console: the uPlot instances, one per tag
    root.setAttribute("data-ready","1");
  }
  logBox.addEventListener("change",draw); smooth.addEventListener("input",draw);
  draw();
})();
"""


def curves_html(
    curves: Sequence[SessionCurves],
    tags: Sequence[str],
    highlight: str | None = None,
    fallback_png: bytes | None = None,
    alt: str = "",
) -> str:
    """The interactive charts of ``curves`` (one per tag that any run has) as self-contained HTML."""
    js, css = uplot_assets()
    log_y, smoothing = html.escape(_("log y")), html.escape(_("smoothing"))
    how = html.escape(_("drag to zoom, double-click to reset, click a run in a legend to hide it"))
    step = json.dumps(_("step"), ensure_ascii=False).replace("<", "\\u003c")  # the x series' legend name
    uid = f"ztb-curves-{next(_ids)}"
    img = ""
    if fallback_png is not None:
        src = base64.b64encode(fallback_png).decode("ascii")
        shown = html.escape(alt or _("learning curves"), quote=True)
        img = f'<div class="ztb-fallback"><img alt="{shown}" src="data:image/png;base64,{src}"></div>'
    return (
        f'<div class="ztb-curves" id="{html.escape(uid)}"><style>{css}{_CSS}</style>'
        f'<div class="ztb-cbar"><label><input type="checkbox" class="ztb-log"> {log_y}</label>'
        f'<label>{smoothing} <input type="range" class="ztb-smooth" min="0" max="0.99" step="0.01" '
        'value="0"> <span class="ztb-smooth-v">0.00</span></label>'
        f"<span>{how}</span></div>"
        f'<div class="ztb-cgrid"></div>{img}'
        f'<script type="application/json" class="ztb-data">{_series_json(curves, tags, highlight)}</script>'
        f"<script>{js}</script><script>{_JS % {'id': uid, 'step': step}}</script></div>"
    )


class CurvesOutput:
    """One notebook output with both forms: the HTML page gets the interactive charts (with the PNG
    as their fallback), the Markdown export gets the PNG."""

    def __init__(self, html_text: str, png: bytes, alt: str) -> None:
        self.html, self.png, self.alt = html_text, png, alt
        self.metadata = {"alt": alt}  # as on an IPython Image: what the PNG shows, in words

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        return {
            "text/html": self.html,
            "image/png": base64.b64encode(self.png).decode("ascii"),
            "text/plain": self.alt,
        }


def curves_output_item(
    curves: Sequence[SessionCurves], tags: Sequence[str], highlight: str | None, png: bytes, alt: str
) -> CurvesOutput:
    return CurvesOutput(curves_html(curves, tags, highlight, fallback_png=png, alt=alt), png, alt)
