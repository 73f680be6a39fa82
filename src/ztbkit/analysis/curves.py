"""Learning curves from TensorBoard scalar series, and the rolling median band of the trends plots.

Downsampling policy (so a 1M-point run plots as fast as a 1k-point one): a series longer than
``max_points`` is cut into ``max_points // 4`` equal runs of consecutive points (buckets), and
each bucket keeps its first, last, lowest and highest point, in step order. Every spike and dip
survives (the min and max of each bucket are kept exactly), the first and last point of the run
are kept, and the drawn line touches the same extremes as the full series would.

Reading (:func:`read_curves`): each event file's points are first reduced by step to at most
``max_points`` buckets of equal width with the same first/last/min/max rule (this is what the curve
cache keeps between nights, :mod:`ztbkit.data.curvecache`), then the files merge by step and the rule
above gives the drawn series. A run shorter than ``max_points`` steps per file is drawn from every point.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit.core.errors import UsageError
from ztbkit.data.session import Session
from ztbkit.locale import _
from ztbkit.locale.fonts import chart_fonts, steps_axis

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Key tags, first present wins per row: (label, candidate TensorBoard tags).
DEFAULT_TAGS = ("rollout/ep_rew_mean", "eval/mean_reward", "train/loss", "time/fps")
DEFAULT_MAX_POINTS = 2000
PANEL_POINTS = 40_000  # drawn per panel, shared among the sessions
LEGEND_MAX = 8
TB_FOLDERS = ("tb", "tensorboard")

Series = tuple[list[int], list[float]]


def downsample(steps: Sequence[int], values: Sequence[float], max_points: int = DEFAULT_MAX_POINTS) -> Series:
    """At most ``max_points`` points; per bucket the first, last, min and max (see module docstring)."""
    n = len(values)
    if max_points < 4:
        raise UsageError("max_points: need at least 4, got {n}", n=max_points)
    if n <= max_points:
        return list(steps), list(values)
    buckets = max_points // 4
    keep: list[int] = []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        chunk = range(lo, hi)
        lowest = min(chunk, key=values.__getitem__)
        highest = max(chunk, key=values.__getitem__)
        keep.extend(sorted({lo, hi - 1, lowest, highest}))
    return [steps[i] for i in keep], [values[i] for i in keep]


def _downsample_np(steps: Any, values: Any, max_points: int) -> Series:
    """The same policy with numpy, for long series (the pure-Python loop is the readable reference)."""
    import numpy as np

    n = len(values)
    if n <= max_points:
        return [int(s) for s in steps], [float(v) for v in values]
    buckets = max_points // 4
    edges = (np.arange(buckets + 1) * n) // buckets
    lo, hi = edges[:-1], edges[1:] - 1
    width = int((hi - lo).max()) + 1
    idx = np.minimum(lo[:, None] + np.arange(width)[None, :], hi[:, None])
    block = values[idx]
    picks = np.stack([lo, hi, lo + block.argmin(axis=1), lo + block.argmax(axis=1)], axis=1)
    picks.sort(axis=1)
    keep = [int(i) for row in picks for i in dict.fromkeys(row.tolist())]
    return [int(steps[i]) for i in keep], [float(values[i]) for i in keep]


@dataclass(slots=True)
class SessionCurves:
    session_id: str
    series: dict[str, Series] = field(default_factory=dict)  # tag → downsampled (steps, values)
    points: int = 0  # points read before downsampling


def read_curves(
    folder: str | os.PathLike[str],
    tags: Iterable[str],
    max_points: int = DEFAULT_MAX_POINTS,
    *,
    cache: bool = True,
) -> dict[str, Series]:
    """The scalar series of ``tags`` below ``folder`` (any run inside), by step, downsampled.

    Several event files of one run (resumed training) merge; a step written twice keeps the last value.
    Each file's points are first reduced to ``max_points`` step buckets (first, last, min and max of
    each, :mod:`ztbkit.data.curvecache`) and kept in the curve cache unless ``cache`` is False or
    ``ZTB_NO_CACHE`` is set: a later read decodes only the bytes added since.
    """
    from ztbkit.data.curvecache import default_path, folder_series
    from ztbkit.data.tbcache import caching_disabled

    wanted = list(dict.fromkeys(tags))
    path = default_path(folder, wanted, max_points) if cache and not caching_disabled() else None
    found = folder_series(folder, wanted, max_points, path)
    return {
        tag: _downsample_np(found.series[tag][0], found.series[tag][1], max_points)
        for tag in wanted
        if tag in found.series
    }


def session_curves(s: Session, tags: Iterable[str], max_points: int = DEFAULT_MAX_POINTS) -> SessionCurves:
    """A session's curves from its ``tb/`` or ``tensorboard/`` folder (empty when it has none)."""
    found = SessionCurves(s.session_id)
    if s.path is None:
        return found
    for sub in TB_FOLDERS:
        if (s.path / sub).is_dir():
            found.series = read_curves(s.path / sub, tags, max_points)
            break
    return found


def recent_sessions(sessions: Sequence[Session], count: int) -> list[Session]:
    """The ``count`` most recently started sessions on disk, oldest first."""
    on_disk = [s for s in sessions if s.on_disk]
    on_disk.sort(key=lambda s: (s.start_time.timestamp() if s.start_time else -math.inf, s.session_id))
    return on_disk[-count:] if count > 0 else []


def curves_figure(
    curves: Sequence[SessionCurves], tags: Sequence[str], highlight: str | None = None
) -> Figure | None:
    """Small multiples, one panel per tag that any session has; ``highlight`` drawn thick on top.

    Each panel draws at most about :data:`PANEL_POINTS` points: every other session gets an equal
    share (at least 200, downsampled again with the same min/max rule) and all of them go into one
    LineCollection, so a panel of 100 sessions costs about what a panel of 10 does. The legend names
    the sessions when there are at most :data:`LEGEND_MAX` of them, else counts them.
    """
    import numpy as np
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    shown = [t for t in tags if any(t in c.series for c in curves)]
    if not shown:
        return None
    others = [c for c in curves if c.session_id != highlight]
    chosen = [c for c in curves if c.session_id == highlight]
    share = max(200, PANEL_POINTS // max(1, len(curves)))
    colours = {c.session_id: f"C{i % 10}" for i, c in enumerate(others)}
    selected = _("{id} (selected)").format(id=highlight)
    cols = 2 if len(shown) > 1 else 1
    rows = math.ceil(len(shown) / cols)
    chart_fonts()
    fig = Figure(figsize=(9, 2.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, tag in zip(axes, shown, strict=False):
        segments, segment_colours = [], []
        for c in others:
            if tag in c.series:
                xs, ys = _downsample_np(np.asarray(c.series[tag][0]), np.asarray(c.series[tag][1]), share)
                segments.append(np.column_stack([xs, ys]))
                segment_colours.append(colours[c.session_id])
        if segments:
            ax.add_collection(LineCollection(segments, colors=segment_colours, linewidths=0.8, alpha=0.55))
            ax.autoscale_view()
        for c in chosen:
            if tag in c.series:
                ax.plot(*c.series[tag], linewidth=2.4, color="black", label=selected)
        ax.set_title(tag, fontsize=9)
        ax.set_xlabel(_("step"), fontsize=8)
        steps_axis(ax, "x")  # the x axis is the training step
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    # The legend names only sessions that draw a line in some panel: one without any shown tag is not listed.
    drawn = [c for c in others if any(t in c.series for t in shown)]
    if len(drawn) <= LEGEND_MAX:
        handles = [
            Line2D([], [], color=colours[c.session_id], linewidth=0.8, label=c.session_id) for c in drawn
        ]
    else:
        handles = [Line2D([], [], color="C0", linewidth=0.8,
                          label=_("{n} other sessions").format(n=len(drawn)))]  # fmt: skip
    handles += [
        Line2D([], [], color="black", linewidth=2.4, label=selected)
        for c in chosen
        if any(t in c.series for t in shown)
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), fontsize=7)
    return fig


def curves_alt(tags: Sequence[str], curves: Sequence[SessionCurves], highlight: str | None) -> str:
    shown = [t for t in tags if any(t in c.series for c in curves)]
    sel = _("; {id} highlighted").format(id=highlight) if highlight else ""
    return _("Learning curves of {n} session(s): {tags}").format(n=len(curves), tags=", ".join(shown)) + sel


def rolling_band(
    values: Sequence[float], window: int = 10, k: float = 3.0
) -> list[tuple[float, float, float] | None]:
    """Per point: (median − k·MAD, median, median + k·MAD) of the ``window`` points before it.

    The band at point i uses points i − window … i − 1, exactly the baseline ``ztb trend-alert``
    judges point i against; a point below the band's lower edge is what it alerts on. None where fewer
    than 3 earlier points exist.
    """
    out: list[tuple[float, float, float] | None] = []
    for i in range(len(values)):
        base = values[max(0, i - window) : i]
        if len(base) < 3:
            out.append(None)
            continue
        med = statistics.median(base)
        mad = statistics.median([abs(v - med) for v in base])
        out.append((med - k * mad, med, med + k * mad))
    return out


def add_median_band(
    ax: Axes, xs: Sequence[Any], ys: Sequence[float], window: int = 10, k: float = 3.0,
    limits: tuple[float | None, float | None] = (None, None),
) -> None:  # fmt: skip
    """Draw the rolling median (dashed) and its ±k·MAD band behind a trends line (x: dates or positions).

    ``limits``: the metric's possible range (global_step ≥ 0, a probability in [0, 1]); the band is
    clipped to it, so it never reaches a value the metric cannot take."""
    lo, hi = limits

    def clip(v: float) -> float:
        if lo is not None:
            v = max(v, lo)
        return min(v, hi) if hi is not None else v

    band = [None if b is None else (clip(b[0]), clip(b[1]), clip(b[2])) for b in rolling_band(ys, window, k)]
    pts = [(x, b) for x, b in zip(xs, band, strict=True) if b is not None]
    if not pts:
        return
    px = [p[0] for p in pts]
    ax.fill_between(
        px,
        [p[1][0] for p in pts],
        [p[1][2] for p in pts],
        alpha=0.15,
        color="tab:gray",
        label=_("rolling median ± {k}·MAD (last {n})").format(k=f"{k:g}", n=window),
    )
    ax.plot(px, [p[1][1] for p in pts], linestyle="--", linewidth=1, color="tab:gray")


def parse_tags(tags: Mapping[str, Any] | Sequence[str] | str | None) -> list[str]:
    """Tags from a notebook parameter: a list, or one comma-separated string."""
    if tags is None:
        return list(DEFAULT_TAGS)
    if isinstance(tags, str):
        return [t.strip() for t in tags.split(",") if t.strip()]
    return [str(t) for t in tags]


def tb_folder(s: Session) -> Path | None:
    if s.path is None:
        return None
    return next((s.path / sub for sub in TB_FOLDERS if (s.path / sub).is_dir()), None)
