"""What the compare notebook displays: hyperparameters against results (see :mod:`ztbkit.analysis.compare`).

Order: the hyperparameter table (only the varying columns, then the metric, the trials-adjusted DSR,
tags and notes; sortable and filterable like the dashboard's table, the live run first), the
parallel coordinates (every varying hyperparameter → the metric, one line per session, coloured by
the metric), one scatter per varying hyperparameter against the metric with each run's
trials-adjusted DSR written beside it, then the interactive learning curves of the compared runs.
In JupyterLab (``interactive=True``) a metric dropdown, a session picker and a tag filter redraw it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from ztbkit.analysis.compare import METRICS, Comparison, check_metric, compare
from ztbkit.core.formatting import yen
from ztbkit.data.session import Session
from ztbkit.locale import N_, _, lazy, ngettext
from ztbkit.locale.fonts import chart_fonts
from ztbkit.reports import dashboard as dash
from ztbkit.reports.blocks import (
    Block,
    display_items,
    heading,
    interact,
    note,
    picked,
    session_picker,
    widgets_wanted,
)
from ztbkit.reports.locations import load_tree

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TITLE = lazy("Compare Runs")
#: Up to this many points a scatter writes each run's trials-adjusted DSR beside it.
LABEL_POINTS = 30
SCATTER_COLS = 3
#: Learning curves of at most this many compared runs (the most recent, plus the best): reading every
#: run's TensorBoard files for a 10,000-session comparison would take minutes. ``curves.sessions`` sets it.
CURVES_SESSIONS = 20
#: A positive numeric axis spanning this factor or more is drawn on a log scale (learning rates).
LOG_SPAN = 10.0


def _fmt(v: Any) -> str:
    """A hyperparameter or metric as people read it: whole numbers with thousands separators
    (``5,000,000`` steps, not ``5e+06``), other numbers to 4 significant digits."""
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:.4g}"


def _tick(v: float) -> str:
    """An axis end on the parallel coordinates: ``2,048`` and ``5,000,000``, else 3 significant digits."""
    return f"{int(v):,}" if float(v).is_integer() and abs(v) < 1e15 else f"{v:.3g}"


def _probability(v: Any) -> str:
    """The trials-adjusted DSR is a probability: 3 decimals, as the dashboard shows DSR (never ``8e-05``)."""
    return "" if v is None else f"{v:.3f}"


def _hp_getter(name: str) -> Callable[[Session, tzinfo], Any]:
    return lambda s, tz: s.hparams.get(name)


def table_columns(cmp: Comparison) -> list[dash.Column]:
    """ID, each varying hyperparameter, the metric, the trials-adjusted DSR, tags and notes."""
    metric_of = {id(r.session): r for r in cmp.rows}
    cols = [dash.COLUMNS[0]]
    for name in cmp.hparams:
        kind = "num" if cmp.numeric.get(name) else "text"
        cols.append(dash.Column(f"hp.{name}", kind, _hp_getter(name), _fmt))
    shown = (lambda v: "" if v is None else yen(v)) if cmp.metric == "cost_per_1m_steps" else _fmt
    if cmp.metric != "dsr":
        cols.append(dash.Column(cmp.label, "num", lambda s, tz: metric_of[id(s)].metric, shown))
    # Titles stay English (the key the table's cells test) and are shown translated.
    dsr = dash.Column(METRICS["dsr"], "num", lambda s, tz: metric_of[id(s)].dsr, _probability, N_("DSR adj"))
    cols.append(dsr)
    cols += [c for c in dash.COLUMNS if c.title in ("Status", "Gates", "Tags", "Notes")]
    return cols


def _norm(values: Sequence[float | None]) -> list[float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return [None] * len(values)
    lo, hi = min(present), max(present)
    if hi == lo:  # one value (the others missing): the middle of the axis
        return [None if v is None else 0.5 for v in values]
    return [None if v is None else (v - lo) / (hi - lo) for v in values]


def _log_axis(values: Sequence[float | None]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and min(present) > 0 and max(present) / min(present) >= LOG_SPAN


def parallel_figure(cmp: Comparison) -> Figure | None:
    """Parallel coordinates: one axis per varying hyperparameter, the metric last; lines coloured by
    the metric (grey: no value). A positive axis spanning :data:`LOG_SPAN` or more (a learning rate
    sweep) is on a log scale. One LineCollection, so 10,000 sessions draw as fast as 100."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    if not cmp.hparams or not cmp.rows:
        return None
    axes_vals = [cmp.axis_values(n) for n in cmp.hparams]
    logged = [_log_axis(v) if c is None else False for v, c in axes_vals]
    axes_vals = [([math.log10(x) if x is not None else None for x in v], c) if lg else (v, c)
                 for (v, c), lg in zip(axes_vals, logged, strict=True)]  # fmt: skip
    metric = [r.metric for r in cmp.rows]
    cols = [_norm(v) for v, _ in axes_vals] + [_norm(metric)]
    chart_fonts()
    fig = Figure(figsize=(max(6.0, 1.4 * len(cols)), 3.6), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["viridis"]
    normed_metric = cols[-1]
    segs, colours = [], []
    for i in range(len(cmp.rows)):
        pts = [(k, c[i]) for k, c in enumerate(cols) if c[i] is not None]
        if len(pts) < 2:
            continue
        segs.append(np.asarray(pts, dtype=float))
        m = normed_metric[i]
        colours.append(cmap(m) if m is not None else (0.6, 0.6, 0.6, 0.5))
    ax.add_collection(LineCollection(segs, colors=colours, linewidths=0.9, alpha=0.8))
    log_word = _("(log)")
    names = [f"hp.{n} {log_word}" if lg else f"hp.{n}" for n, lg in zip(cmp.hparams, logged, strict=True)]
    names.append(_(cmp.label))
    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8, ha="right")
    ax.set_xlim(-0.2, len(names) - 0.8)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    for k, (vals, cats) in enumerate([*axes_vals, (metric, None)]):
        ax.axvline(k, color="#444", linewidth=0.8)
        present = [v for v in vals if v is not None]
        log = k < len(logged) and logged[k]
        if cats is not None:  # each category where its lines cross the axis (one: the middle)
            ticks = [(c, j / (len(cats) - 1) if len(cats) > 1 else 0.5) for j, c in enumerate(cats)]
        elif present and min(present) == max(present):
            ticks = [(_tick(10 ** present[0] if log else present[0]), 0.5)]
        elif present:
            lo, hi = (10 ** min(present), 10 ** max(present)) if log else (min(present), max(present))
            ticks = [(_tick(lo), 0.0), (_tick(hi), 1.0)]
        else:
            ticks = []
        for text, y in ticks:
            ax.annotate(text[:14], (k, y), fontsize=6, xytext=(3, 0), textcoords="offset points")
    title = ngettext("Hyperparameters → {metric} ({n} session)", "Hyperparameters → {metric} ({n} sessions)",
                     len(segs))  # fmt: skip
    ax.set_title(title.format(metric=_(cmp.label), n=len(segs)), fontsize=10)
    return fig


def scatter_figure(cmp: Comparison) -> Figure | None:
    """One panel per varying hyperparameter: its value against the metric; each run's trials-adjusted
    DSR written beside it when there are at most :data:`LABEL_POINTS` runs."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if not cmp.hparams:
        return None
    n = len(cmp.hparams)
    ncols = min(SCATTER_COLS, n)
    nrows = math.ceil(n / ncols)
    chart_fonts()
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, cmp.hparams, strict=False):
        xs, cats = cmp.axis_values(name)
        pts = [
            (x, r.metric, r.dsr)
            for x, r in zip(xs, cmp.rows, strict=True)
            if x is not None and r.metric is not None
        ]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, alpha=0.8)
        if len(pts) <= LABEL_POINTS:
            for x, y, d in pts:
                ax.annotate(f"DSR {d:.2f}" if d is not None else "DSR —", (x, y), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")  # fmt: skip
        if cats is not None:
            ax.set_xticks(range(len(cats)), [c[:12] for c in cats], fontsize=7, rotation=20)
        if cats is None:  # numbers as in the table: 5,000,000 and 0.0003, never an offset like "1e6"
            xs_here = sorted({p[0] for p in pts})
            if len(xs_here) == 1:  # one value (the other runs do not set it): that value, not 7.6…8.4
                ax.set_xticks(xs_here)
            else:  # few ticks, so 7-digit step counts do not run into each other
                whole = all(float(x).is_integer() for x in xs_here)
                ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=whole))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick(v)))
        ax.set_xlabel(f"hp.{name}", fontsize=8)
        ax.set_ylabel(_(cmp.label), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig


def _choose(sessions: Sequence[Session], selected: Sequence[str], tag: str) -> list[Session]:
    tag = tag.strip().lower()
    return [
        s for s in sessions if s.on_disk and picked(s.session_id, selected) and (not tag or tag in s.tags)
    ]


def show_compare(artifacts_dir: str = "", *, metric: str = "dsr", sessions: Sequence[str] = (), tag: str = "",
                 interactive: bool = False, curves: dict[str, Any] | None = None,
                 snapshot: str = "", lang: str = "") -> None:  # fmt: skip
    """The compare report (see the module docstring). ``sessions``: ids to compare (empty: all);
    ``tag``: only sessions with this tag (e.g. ``candidate``). ``lang``: ja or en (empty: ``ZTB_LANG``,
    else the locale): headings, notes, table headers, chart titles and axes, widget labels. Metric
    names (``dsr``…), ``hp.<name>`` columns, session ids, tags and notes are shown as they are."""
    from ztbkit.locale import use_language
    from ztbkit.reports.dashboard_analysis import show_learning_curves

    use_language(lang or None)

    check_metric(metric)
    artifacts_dir, tree = load_tree(artifacts_dir, snapshot)
    everything = tree.sessions

    def render(metric: str, selected: Sequence[str] = (), tag: str = "") -> None:
        chosen = dash.live_first(_choose(everything, selected, tag))
        cmp = compare(chosen, metric)
        columns = table_columns(cmp)
        label = _(cmp.label)
        compared = ngettext(
            "{n} session compared on {metric}", "{n} sessions compared on {metric}", len(chosen)
        )
        trials = ngettext("{trials} trial behind the trials-adjusted DSR", "{trials} trials behind the "
                          "trials-adjusted DSR", cmp.board.trials)  # fmt: skip
        varying = _("Varying hyperparameters: {names}.").format(names=_(", ").join(cmp.hparams) or _("none"))
        display_items(
            note(
                _("{compared}; {trials}. {varying} Artifacts: {folder}").format(
                    compared=compared.format(n=len(chosen), metric=label),
                    trials=trials.format(trials=cmp.board.trials),
                    varying=varying,
                    folder=artifacts_dir,
                )
            ),
            Block(
                dash.session_table_html(chosen, columns=columns),
                dash.session_table_markdown(chosen, columns=columns),
            ),
        )
        if not cmp.hparams:
            why = _("No hyperparameter varies among these sessions: nothing to plot against {metric}.")
            where = _('README "Comparing runs" says where hyperparameters are read.')
            display_items(note(why.format(metric=label) + " " + where))
            return
        display_items(heading(_("Parallel coordinates"), 2))
        fig = parallel_figure(cmp)
        if fig is not None:
            display_items(fig)
        display_items(heading(_("Each hyperparameter against {metric}").format(metric=label), 2))
        fig = scatter_figure(cmp)
        if fig is not None:
            display_items(fig)
        cv = {"sessions": min(len(chosen), CURVES_SESSIONS), **(curves or {})}
        show_learning_curves(chosen, cv, interactive=False, board=cmp.board)

    legend = _(", ").join(f"{k} = {_(v)}" for k, v in METRICS.items())
    intro = _("Metrics: {legend}").format(legend=legend)
    display_items(heading(str(TITLE)), Block(f"<p>{html.escape(intro)}</p>", intro + "\n"))
    if widgets_wanted(interactive):
        import ipywidgets as widgets

        interact({"metric": widgets.Dropdown(options=[(f"{k} — {_(v)}", k) for k, v in METRICS.items()],
                                             value=metric, description=_("Metric")),
                  "selected": session_picker([s.session_id for s in everything if s.on_disk]),
                  "tag": widgets.Text(value=tag, description=_("Tag"))}, render)  # fmt: skip
    else:
        render(metric, list(sessions), tag)
