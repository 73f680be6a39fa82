"""The trials-adjusted leaderboard: every session's Sharpe, deflated for the number of sessions tried.

Policy (shown on the dashboard, every assumption a notebook parameter):

* The trials are the finished sessions (see :func:`ztbkit.data.session.finished_sessions`) in the
  chosen window that have a Sharpe. N is their number, V the sample variance (ddof=1) of their
  annualised Sharpes, SR0 the expected maximum Sharpe of N trials with variance V
  (:func:`ztbkit.analysis.stats.expected_max_sharpe`). Each session gets DSR = PSR(SR0) and PSR vs 0.
* A session's Sharpe, skew, kurtosis and T come **from data** when the session holds an evaluation
  return series — ``eval_*.json`` in its folder with a list of per-period returns under ``returns``,
  ``eval_returns`` or ``daily_returns`` (or the file is that list), else a TensorBoard scalar tag
  (``returns_tag``, default ``eval/return``; one value per period, in step order). The Sharpe is then
  mean/std × √Q. Otherwise the bot's reported ``rl_sharpe`` (taken as annualised) is used and T,
  skew and kurtosis are the stated assumptions. Each row says which.
* The bot's own ``dsr`` is shown unchanged in its own column, labelled as the bot's.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ztbkit.analysis.returns_cache import Pending, ReturnsCache
from ztbkit.analysis.stats import Moments, expected_max_sharpe, moments, psr
from ztbkit.core.errors import UsageError
from ztbkit.core.jsonread import read_json
from ztbkit.data.session import Session, finished_sessions
from ztbkit.locale import N_, _

RETURN_KEYS = ("returns", "eval_returns", "daily_returns")
DEFAULT_RETURNS_TAG = "eval/return"


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What is assumed where a session has no return series (all notebook parameters)."""

    observations: int = 252  # T: returns behind a reported Sharpe (a year of daily returns)
    skew: float = 0.0
    kurtosis: float = 3.0  # raw; 3 = normal returns
    periods_per_year: float = 252.0  # Q: annualises series Sharpes, de-annualises reported ones
    returns_tag: str = DEFAULT_RETURNS_TAG

    def check(self) -> None:
        if self.observations <= 1:
            raise UsageError("observations: need T > 1, got {t}", t=self.observations)
        for name in ("skew", "kurtosis", "periods_per_year"):
            if not math.isfinite(getattr(self, name)):
                raise UsageError("{name}: expected a finite number", name=name)
        if self.periods_per_year <= 0 or self.kurtosis < 1:
            raise UsageError("periods_per_year must be > 0 and kurtosis (raw) >= 1")


@dataclass(slots=True)
class Row:
    session_id: str
    sharpe: float  # annualised
    source: str  # "returns: <where>" or "bot rl_sharpe"
    observations: float
    skew: float
    kurtosis: float
    from_data: bool
    psr_zero: float | None = None
    dsr: float | None = None
    bot_dsr: float | None = None
    problem: str = ""  # why PSR/DSR could not be computed


@dataclass(slots=True)
class Leaderboard:
    rows: list[Row]
    trials: int
    variance: float | None
    sr0: float | None  # annualised
    assumptions: Assumptions
    notes: list[str] = field(default_factory=list)


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    try:
        v = float(x)
    except OverflowError:  # a huge JSON integer
        return None
    return v if math.isfinite(v) else None


def _finite_numbers(doc: list[Any]) -> list[float]:
    """The usable numbers of a JSON list (booleans, NaN, infinities and huge integers dropped)."""
    if set(map(type, doc)) <= {float}:  # the usual series: filtered in C, no per-item Python calls
        return list(filter(math.isfinite, doc))
    return [v for x in doc if (v := _number(x)) is not None]


def _eval_files(folder: Path, notes: list[str] | None = None) -> list[str]:
    """The ``eval_*.json`` names in ``folder``, in name order (one directory read, no glob machinery:
    a 10,000-session dashboard lists every folder). A folder that cannot be listed (permission
    denied, a link loop) is a note naming it in ``notes``; one that is gone is simply empty."""
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if e.name.startswith("eval_") and e.name.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        if notes is not None:
            notes.append(f"cannot list {folder}: {exc.strerror or exc}; its eval_*.json files were not read")
        return []


def _returns_from_json(folder: Path, notes: list[str] | None = None) -> tuple[list[float], str] | None:
    """The first ``eval_*.json`` (name order) holding a list of returns; unreadable files are skipped."""
    for name in _eval_files(folder, notes):
        read = read_json(folder / name)
        if not read.ok:
            continue
        doc = read.value
        if isinstance(doc, dict):
            doc = next((doc[k] for k in RETURN_KEYS if isinstance(doc.get(k), list)), None)
        if isinstance(doc, list):
            series = _finite_numbers(doc)
            if series:
                return series, name
    return None


def _returns_from_tb(folder: Path, tag: str) -> tuple[list[float], str] | None:
    from ztbkit.data.tensorboard import iter_points

    for sub in ("tb", "tensorboard"):
        if os.path.isdir(os.path.join(folder, sub)):
            pts = sorted((step, value) for _run, _tag, step, _wall, value in iter_points(folder / sub, [tag]))
            if pts:
                return [v for _step, v in pts], f"TensorBoard {tag}"
    return None


def session_returns(
    s: Session,
    returns_tag: str = DEFAULT_RETURNS_TAG,
    notes: list[str] | None = None,
    cache: ReturnsCache | None = None,
) -> tuple[Moments, str] | None:
    """Moments of the session's evaluation return series and where it came from; None if it has none.
    A session folder that cannot be listed is a line in ``notes``. ``cache``: reused while the files
    they came from are unchanged (:mod:`ztbkit.analysis.returns_cache`)."""
    if s.folder is None or not os.path.isdir(s.folder):
        return None
    pending = None
    if cache is not None:
        try:
            got = cache.lookup(s.folder, returns_tag)
        except OSError:  # cannot be listed: the reading below says so in the notes
            got = None
            pending = None
        else:
            if not isinstance(got, Pending):
                return got
            pending = got
    folder = Path(s.folder)
    found = _returns_from_json(folder, notes)
    if found is not None and (m := moments(found[0])) is not None:
        if pending is not None and cache is not None:
            cache.store(pending, returns_tag, (m, found[1]), from_json=True)
        return m, found[1]
    # Only then the TensorBoard logs: decoding them is the slow part of a large dashboard.
    result = None
    found = _returns_from_tb(folder, returns_tag)
    if found is not None and (m := moments(found[0])) is not None:
        result = m, found[1]
    if pending is not None and cache is not None:
        cache.store(pending, returns_tag, result, from_json=False)
    return result


def _row(
    s: Session, a: Assumptions, notes: list[str] | None = None, cache: ReturnsCache | None = None
) -> Row | None:
    found = session_returns(s, a.returns_tag, notes, cache)
    if found is not None:
        m, where = found
        return Row(
            s.session_id,
            m.annualised_sharpe(a.periods_per_year),
            f"returns: {where}",
            m.observations,
            m.skew,
            m.kurtosis,
            True,
            bot_dsr=s.dsr,
        )
    if s.rl_sharpe is None or not math.isfinite(s.rl_sharpe):
        return None
    return Row(
        s.session_id, s.rl_sharpe, "bot rl_sharpe", a.observations, a.skew, a.kurtosis, False, bot_dsr=s.dsr
    )


def trials_adjusted(
    sessions: Iterable[Session], assumptions: Assumptions = Assumptions(), cache: ReturnsCache | bool = True
) -> Leaderboard:
    """The leaderboard of the finished sessions with a Sharpe, best DSR first.

    When the Sharpes' variance is not a finite number (one Sharpe of 1e308), the board says so in a
    note and has PSR vs 0 but no SR0 and no DSR, rather than failing the dashboard.
    ``cache``: each session's return moments are reused while their files are unchanged (True: the
    default cache file, off under ``ZTB_NO_CACHE``; False: read every series)."""
    from ztbkit.data.tbcache import caching_disabled

    assumptions.check()
    unlisted: list[str] = []
    store = (
        cache
        if isinstance(cache, ReturnsCache)
        else (ReturnsCache() if cache and not caching_disabled() else None)
    )
    rows = [
        r for s in finished_sessions(sessions) if (r := _row(s, assumptions, unlisted, store)) is not None
    ]
    if store is not None:
        store.save()
    n = len(rows)
    board = Leaderboard(rows, n, None, None, assumptions)
    board.notes.extend(unlisted)
    if n < 2:
        board.notes.append(f"{n} finished session(s) with a Sharpe: need 2 to estimate V; no DSR")
        return board
    try:
        board.variance = statistics.variance([r.sharpe for r in rows])
        board.sr0 = expected_max_sharpe(n, board.variance)
    except (OverflowError, UsageError):  # a finite Sharpe such as 1e308 whose square is not
        board.variance = None
        worst = max(rows, key=lambda r: abs(r.sharpe))
        board.notes.append(
            f"the variance of the Sharpes is not a finite number (Sharpe {worst.sharpe:g} in "
            f"{worst.session_id}): no SR0, no DSR"
        )
    root_q = math.sqrt(assumptions.periods_per_year)
    for r in rows:
        sr = r.sharpe / root_q
        try:
            r.psr_zero = psr(sr, r.observations, skew=r.skew, kurtosis=r.kurtosis)
            if board.sr0 is not None:
                r.dsr = psr(
                    sr, r.observations, benchmark=board.sr0 / root_q, skew=r.skew, kurtosis=r.kurtosis
                )
        except UsageError as exc:
            r.problem = str(exc)
    rows.sort(key=lambda r: (r.dsr is None, -(r.dsr or 0.0), r.session_id))
    assumed = sum(not r.from_data for r in rows)
    if assumed:
        board.notes.append(
            _("{assumed} of {n} session(s) have no return series: their Sharpe is the bot's rl_sharpe (taken as "
              "annualised) with assumed T={t}, skew={skew}, kurtosis={kurtosis}").format(
                assumed=assumed, n=n, t=assumptions.observations, skew=f"{assumptions.skew:g}",
                kurtosis=f"{assumptions.kurtosis:g}")
        )  # fmt: skip
    return board


def _f(v: float | None, fmt: str = ".3f") -> str:
    return "—" if v is None or not math.isfinite(v) else format(v, fmt)


#: Column headings (English source; shown translated).
HEADERS = (
    N_("Session"),
    N_("Sharpe (ann.)"),
    N_("Sharpe from"),
    "T",
    N_("skew"),
    N_("kurtosis"),
    N_("PSR vs 0"),
    N_("DSR (trials-adjusted)"),
    N_("Bot's DSR"),
)


def table_rows(board: Leaderboard) -> list[list[str]]:
    return [
        [
            r.session_id,
            _f(r.sharpe),
            _source(r.source) + ("" if r.from_data else _(" (T, moments assumed)")),
            f"{r.observations:g}",
            _f(r.skew, ".2f"),
            _f(r.kurtosis, ".2f"),
            _f(r.psr_zero),
            _f(r.dsr),
            _f(r.bot_dsr),
        ]
        for r in board.rows
    ]


def assumption_lines(board: Leaderboard) -> list[str]:
    a = board.assumptions
    head = _(
        "N = {n} finished sessions with a Sharpe; V = {v} (variance of their annualised Sharpes); "
        "SR0 = {sr0} annualised (expected max Sharpe of N trials)"
    ).format(n=board.trials, v=_f(board.variance, ".4f"), sr0=_f(board.sr0))
    return [
        _("Ranked by DSR (trials-adjusted). Each Sharpe here comes from the session's return series where it "
          "has one, else from the bot's summary rl_sharpe (column 'Sharpe from'); the session table shows "
          "the bot's summary Sharpe."),
        head,
        _("periods per year Q = {q}; returns tag '{tag}'; defaults where no return series: T = {t}, "
          "skew = {skew}, raw kurtosis = {kurtosis}").format(
            q=f"{a.periods_per_year:g}", tag=a.returns_tag, t=a.observations, skew=f"{a.skew:g}",
            kurtosis=f"{a.kurtosis:g}"),
        *board.notes,
    ]  # fmt: skip


def _source(source: str) -> str:
    """Where a Sharpe came from, in the reader's language (a file name or tag stays as it is)."""
    if source == "bot rl_sharpe":
        return _("bot rl_sharpe")
    if source.startswith("returns: "):
        return _("returns: {where}").format(where=source.removeprefix("returns: "))
    return source


def leaderboard_markdown(board: Leaderboard) -> str:
    from ztbkit.core.formatting import md_escape

    lines = ["| " + " | ".join(_(h) for h in HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in table_rows(board)]
    return "\n".join([*(f"- {md_escape(x)}" for x in assumption_lines(board)), "", *lines]) + "\n"


def leaderboard_html(board: Leaderboard) -> str:
    import html

    head = "".join(f"<th>{html.escape(_(h))}</th>" for h in HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table_rows(board)
    )
    notes = "".join(f"<li>{html.escape(x)}</li>" for x in assumption_lines(board))
    return (
        f'<div class="ztb-leaderboard"><ul class="ztb-assumptions">{notes}</ul>'
        f'<table class="ztb-leaderboard-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def sessions_window(sessions: Sequence[Session], ids: Sequence[str] = ()) -> list[Session]:
    """The sessions the dashboard shows (``ids`` picked in the session picker; all when empty)."""
    return [s for s in sessions if not ids or s.session_id in ids]
