"""The analysis section of the dashboard: the trials-adjusted leaderboard and learning curves.

``views.show_dashboard`` calls :func:`show_dashboard_analysis` with the sessions in its window and
two notebook parameters (plain dicts, so ``ztb report dashboard -p leaderboard '{"observations": 500}'``
works):

* ``leaderboard``: ``observations`` (T assumed where no return series, default 252), ``skew`` (0),
  ``kurtosis`` (raw, 3), ``periods_per_year`` (252), ``returns_tag`` ("eval/return"); ``{"enabled": false}``
  hides it.
* ``curves``: ``tags`` (default rollout/ep_rew_mean, eval/mean_reward, train/loss, time/fps),
  ``sessions`` (the 6 most recent), ``max_points`` per series (2000, min/max preserved), ``highlight``
  (a session id; default the best trials-adjusted DSR, else the best rl_sharpe); ``{"enabled": false}``
  hides them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ztbkit.analysis.curves import (
    DEFAULT_MAX_POINTS,
    curves_alt,
    curves_figure,
    parse_tags,
    recent_sessions,
    session_curves,
)
from ztbkit.analysis.leaderboard import (
    Assumptions,
    Leaderboard,
    assumption_lines,
    leaderboard_markdown,
    table_rows,
    trials_adjusted,
)
from ztbkit.core.errors import UsageError
from ztbkit.data.session import Session
from ztbkit.locale import _

LEADERBOARD_KEYS = ("enabled", "observations", "skew", "kurtosis", "periods_per_year", "returns_tag")
CURVES_KEYS = ("enabled", "tags", "sessions", "max_points", "highlight")


def _check_keys(name: str, params: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise UsageError(f"{name}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})")


def _int_param(params: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"curves: {key} must be a whole number >= {minimum}, got {value!r}")
    return value


def build_leaderboard(sessions: Sequence[Session], params: Mapping[str, Any] | None = None) -> Leaderboard:
    """The leaderboard with the notebook's ``leaderboard`` parameter applied."""
    p = dict(params or {})
    _check_keys("leaderboard", p, LEADERBOARD_KEYS)
    p.pop("enabled", None)
    try:
        assumptions = Assumptions(**p)
    except TypeError as exc:
        raise UsageError(f"leaderboard: {exc}") from None
    return trials_adjusted(sessions, assumptions)


def pick_highlight(
    sessions: Sequence[Session], board: Leaderboard | None, requested: str | None
) -> str | None:
    """The requested session, else "the best": the top trials-adjusted DSR, else the highest rl_sharpe.

    This is the one definition of best both reports use: the trends page, which shows no leaderboard,
    builds one with the default assumptions to find it, so dashboard and trends highlight the same run
    (unless the dashboard's ``leaderboard`` parameter changes the assumptions)."""
    if requested:
        return requested
    if board is None:
        board = build_leaderboard(sessions)
    if board.rows and board.rows[0].dsr is not None:
        return board.rows[0].session_id
    scored = [s for s in sessions if s.rl_sharpe is not None and math.isfinite(s.rl_sharpe)]
    return max(scored, key=lambda s: s.rl_sharpe or 0.0).session_id if scored else None


def _image(fig: Any, alt: str) -> Any:
    from IPython.display import Image

    from ztbkit.reports.blocks import figure_png

    return Image(data=figure_png(fig), format="png", metadata={"alt": alt})


def curves_output(
    sessions: Sequence[Session],
    tags: Sequence[str],
    highlight: str | None,
    max_points: int = DEFAULT_MAX_POINTS,
) -> list[Any]:
    """What the learning-curves part displays: a PNG with alt text naming the tags, or a note."""
    from ztbkit.reports.blocks import note

    data = [session_curves(s, tags, max_points) for s in sessions]
    fig = curves_figure(data, tags, highlight)
    # The selected session is drawn, or the page says why not (never a "(selected)" with no line).
    missing = [] if not highlight or any(d.series for d in data if d.session_id == highlight) else [
        note(_("The selected session {id} is not drawn: none of these TensorBoard tags were found for it.").format(
            id=highlight))]  # fmt: skip
    if fig is None:
        return [
            note(
                _("No learning curves: none of {n} session(s) has TensorBoard tags {tags}").format(
                    n=len(sessions), tags=", ".join(tags)
                )
            ),
            *missing,
        ]
    from ztbkit.reports.blocks import figure_png
    from ztbkit.reports.interactive_curves import curves_output_item

    return [
        curves_output_item(data, tags, highlight, figure_png(fig), curves_alt(tags, data, highlight)),
        note(
            _(
                "Series longer than {n} points are downsampled (per bucket: first, last, min, max kept)."
            ).format(n=max_points)
        ),
        *missing,
    ]


def leaderboard_table_html(board: Leaderboard) -> str:
    """The leaderboard as the dashboard shows it: paged like the session table (10,000 sessions are
    9,000+ rows), every row sorted and filtered; its assumptions listed above it, all escaped."""
    import html

    from ztbkit.analysis.leaderboard import HEADERS
    from ztbkit.reports.tables import paged_table_html

    text_columns = {0, 2}  # session id, where the Sharpe came from; the rest are numbers ("—": blank)
    head = "".join(
        f'<th class="{"text" if i in text_columns else "num"}" scope="col">{html.escape(h)}</th>'
        for i, h in enumerate(HEADERS)
    )
    rows = [
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>" if i in text_columns
            else f'<td class="num" data-v="{"" if c == "—" else html.escape(c)}">{html.escape(c)}</td>'
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in table_rows(board)
    ]  # fmt: skip
    notes = "".join(f"<li>{html.escape(x)}</li>" for x in assumption_lines(board))
    table = paged_table_html(head, rows, table_class="ztb-leaderboard-table", noun="leaderboard rows")
    return f'<div class="ztb-leaderboard"><ul class="ztb-assumptions">{notes}</ul>{table}</div>'


def show_dashboard_analysis(
    sessions: Sequence[Session],
    *,
    leaderboard: Mapping[str, Any] | None = None,
    curves: Mapping[str, Any] | None = None,
    interactive: bool = False,
) -> None:
    """Display the leaderboard and learning curves for ``sessions`` (the dashboard's window)."""
    from IPython.display import display

    from ztbkit.reports.blocks import Block, heading

    lb = dict(leaderboard or {})
    cv = dict(curves or {})
    _check_keys("curves", cv, CURVES_KEYS)
    board = None
    if lb.get("enabled", True):
        board = build_leaderboard(sessions, lb)
        display(
            heading(_("Trials-adjusted leaderboard"), 2),
            Block(leaderboard_table_html(board), leaderboard_markdown(board)),
        )
    show_learning_curves(sessions, cv, interactive=interactive, board=board)


def show_learning_curves(
    sessions: Sequence[Session],
    curves: Mapping[str, Any] | None = None,
    *,
    interactive: bool = False,
    board: Leaderboard | None = None,
) -> None:
    """Learning curves (small multiples of the key tags) of the most recent ``sessions``."""
    from IPython.display import display

    from ztbkit.reports.blocks import heading

    cv = dict(curves or {})
    _check_keys("curves", cv, CURVES_KEYS)
    if not cv.get("enabled", True):
        return
    tags = parse_tags(cv.get("tags"))
    count, max_points = _int_param(cv, "sessions", 6, 0), _int_param(cv, "max_points", DEFAULT_MAX_POINTS, 4)
    recent = recent_sessions(sessions, count)
    highlight = pick_highlight(sessions, board, cv.get("highlight"))
    if highlight and highlight not in {s.session_id for s in recent}:
        recent += [s for s in sessions if s.session_id == highlight and s.on_disk]
    display(heading(_("Learning curves"), 2))
    if not interactive:
        display(*curves_output(recent, tags, highlight, max_points))
        return
    import ipywidgets as widgets

    on_disk = [s for s in sessions if s.on_disk]
    picker = widgets.SelectMultiple(
        options=[s.session_id for s in on_disk],
        value=[s.session_id for s in recent],
        description=_("Curves of"),
        rows=6,
    )
    tag_picker = widgets.Text(value=", ".join(tags), description=_("Tags"))

    def render(chosen: Sequence[str], tag_text: str) -> None:
        picked = [s for s in on_disk if s.session_id in chosen]
        display(*curves_output(picked, parse_tags(tag_text), highlight, max_points))

    out = widgets.interactive_output(render, {"chosen": picker, "tag_text": tag_picker})
    display(widgets.HBox([picker, tag_picker]), out)
