"""The nightly job: every report a night needs, in order, into ``<out-dir>/<YYYY-MM-DD>/``.

Steps run in order; a failed step is recorded with its reason and the next step still runs, so one
broken report never costs the others. The date is the scheduled slot's date when the scheduler
passes one (``ZTB_SCHEDULED_FOR``), so a catch-up run after a reboot files under the right day.

Every step writes its own file, so no step overwrites another's: ``trends.csv``, ``trends_table.md``
(the trends-md table with sparklines), ``budget_daily.md``, then each notebook report as
``NAME.html``, ``NAME.md`` (figures in ``NAME_files/``) and the executed ``NAME.ipynb``. Last,
``night.json`` and the night-over-night index ``<out-dir>/index.html``/``index.md``
(:mod:`ztbkit.ops.night_index`); its step line is the one-line "what changed since the night before".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ztbkit.analysis.trends import write_trends_csv, write_trends_markdown
from ztbkit.core.clock import SYSTEM_CLOCK, Clock, report_date
from ztbkit.core.errors import Reason, ZtbError
from ztbkit.core.fsio import prepare_output_dir
from ztbkit.core.jsonread import Problem
from ztbkit.data.artifacts import ArtifactTree, load_artifacts
from ztbkit.data.storage import is_remote
from ztbkit.locale import N_, _

#: A step's status words, for the catalogue (shown translated, kept as the status value).
STATUS_WORDS = (N_("ok"), N_("failed"))

if TYPE_CHECKING:
    from ztbkit.data.loadcache import LoadCache


@dataclass(slots=True)
class StepResult:
    name: str
    status: str  # ok | failed
    output: Path | str | None = None  # a str: the URL of an uploaded output
    detail: str = ""

    def line(self) -> str:
        where = str(self.output) if self.output else "-"
        status = _(self.status)  # "ok" | "failed", in the run's language
        return f"{status:<6} {self.name:<12} {where}" + (f"  ({self.detail})" if self.detail else "")


@dataclass(slots=True)
class NightlyResult:
    day: date
    out_dir: Path | str
    steps: list[StepResult] = field(default_factory=list)
    issues: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.steps)


def _run_step(result: NightlyResult, name: str, fn: Callable[[], tuple[Path, str]]) -> None:
    try:
        out, detail = fn()
        result.steps.append(StepResult(name, "ok", out, detail))
    except (ZtbError, OSError) as exc:
        result.steps.append(StepResult(name, "failed", None, str(exc)))


def run_nightly(
    artifacts_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    date_text: str | None = None,
    date_source: str = "--date",
    notebooks: bool = True,
    clock: Clock = SYSTEM_CLOCK,
    state_dir: str | os.PathLike[str] | None = None,
    cache: LoadCache | bool | None = True,
    index: bool = True,
) -> NightlyResult:
    """Load the artifacts once, then write each report. A missing artifacts folder raises (exit 2).

    When a webhook is configured, ``ztb trend-alert`` runs too (after the budget), keeping its
    state and outbox in ``state_dir`` (default ``$ZTB_STATE_DIR``, else the current folder).

    ``date_source`` names where ``date_text`` came from, for the error message when it is bad.
    ``cache``: sessions unchanged since the last night are not parsed again (True: the default cache
    file of :mod:`ztbkit.data.loadcache`; a ``LoadCache``; False: parse everything).
    ``index``: write ``night.json`` and rewrite the night-over-night index (not for an ``--out-dir`` on
    object storage, whose earlier nights are not read back).
    """
    if is_remote(out_dir):  # object storage: render into a local staging folder, then upload
        return _run_uploaded(
            os.fspath(out_dir),
            lambda local: run_nightly(
                artifacts_dir,
                local,
                date_text=date_text,
                date_source=date_source,
                notebooks=notebooks,
                clock=clock,
                cache=cache,
                state_dir=state_dir,
                index=False,  # the index reads earlier nights, which are not in the staging folder
            ),
        )
    day = report_date(date_text, clock=clock, source=date_source)
    day_dir = Path(out_dir) / day.isoformat()
    # An unusable --out-dir (a file in the way, a path too long) is exit 2 before any work.
    prepare_output_dir(day_dir)
    load_cache: LoadCache | None = None
    if cache is True:
        from ztbkit.data.loadcache import LoadCache
        from ztbkit.data.tbcache import caching_disabled

        # ZTB_NO_CACHE=1 (compat): nothing written to the user's cache folder
        load_cache = None if caching_disabled() else LoadCache()
    elif cache:
        load_cache = cache
    tree: ArtifactTree = load_artifacts(artifacts_dir, cache=load_cache)
    result = NightlyResult(day=day, out_dir=day_dir, issues=tree.all_issues())
    csv_path, md_path = day_dir / "trends.csv", day_dir / "trends_table.md"

    def trends_csv() -> tuple[Path, str]:
        table = write_trends_csv(tree.sessions, csv_path)
        return csv_path, f"{len(table.rows)} sessions"

    def trends_md() -> tuple[Path, str]:
        table = write_trends_markdown(csv_path, md_path, clock=clock)
        return md_path, f"{len(table.rows)} sessions"

    def budget() -> tuple[Path, str]:
        from ztbkit.money.budget import write_budget

        out = day_dir / "budget_daily.md"
        # A tree on object storage is read-only to ztbkit: unpriced runs are listed, not priced there.
        budget_result = write_budget(tree, out, estimate_missing=not is_remote(artifacts_dir), clock=clock)
        result.issues.extend(
            Problem(sid, Reason("not estimated: {why}", why=why)) for sid, why in budget_result.skipped
        )
        return out, budget_result.line()

    _run_step(result, "trends.csv", trends_csv)
    _run_step(result, "trends-md", trends_md)
    _run_step(result, "budget.md", budget)
    _trend_alert_step(result, tree, artifacts_dir, state_dir, clock)
    if notebooks:
        _run_notebooks(result, artifacts_dir, day_dir, tree, load_cache)
    if index:
        _index_step(result, tree, Path(out_dir))
    return result


def _index_step(result: NightlyResult, tree: ArtifactTree, out_dir: Path) -> None:
    """``night.json`` for this night, then ``<out-dir>/index.html`` and ``index.md`` rewritten
    (:mod:`ztbkit.ops.night_index`); the step's detail is the one-line "what changed"."""
    from ztbkit.ops.night_index import night_record, summary_line, write_night_and_index

    day = result.day.isoformat()
    reports = [Path(str(s.output)).name for s in result.steps if s.status == "ok" and isinstance(s.output, Path)
               and s.output.parent == out_dir / day]  # fmt: skip
    alerts = [s.detail for s in result.steps if s.name == "trend-alert" and s.status == "ok" and s.detail]
    failed = sum(s.status != "ok" for s in result.steps)
    try:
        c = write_night_and_index(out_dir, night_record(day, tree.sessions, reports, alerts, failed))
    except (ZtbError, OSError) as exc:
        result.steps.append(StepResult("index", "failed", None, str(exc)))
        return
    detail = summary_line(c) if c is not None else "first night: nothing to compare with yet"
    result.steps.append(StepResult("index", "ok", out_dir / "index.html", detail))


def _trend_alert_step(result: NightlyResult, tree: ArtifactTree, artifacts_dir: str | os.PathLike[str],
                      state_dir: str | os.PathLike[str] | None, clock: Clock) -> None:  # fmt: skip
    from ztbkit.notify.trend_alert import nightly_trend_alert

    state = state_dir if state_dir is not None else os.environ.get("ZTB_STATE_DIR") or "."
    try:  # not run (no step line) when no webhook is configured
        done = nightly_trend_alert(tree.sessions, artifacts_dir, state, now=clock.now())
    except (ZtbError, OSError) as exc:
        result.steps.append(StepResult("trend-alert", "failed", None, str(exc)))
        return
    if done is not None:
        result.steps.append(StepResult("trend-alert", "ok", *done))


def _run_uploaded(out_url: str, run: Callable[[Path], NightlyResult]) -> NightlyResult:
    """Run the nightly into a staging folder, upload it to ``out_url``; outputs then name their URLs."""
    from ztbkit.data.storage import join, redact, staged_dir

    with staged_dir(out_url) as local:
        result = run(local)
        for step in result.steps:
            if isinstance(step.output, Path):
                step.output = join(redact(out_url), step.output.relative_to(local).as_posix())
    result.out_dir = join(redact(out_url), result.day.isoformat())
    return result


def _run_notebooks(
    result: NightlyResult,
    artifacts_dir: str | os.PathLike[str],
    day_dir: Path,
    tree: ArtifactTree,
    cache: LoadCache | None = None,
) -> None:
    """The report notebooks, in parallel; one step line each. They read the tree already loaded
    (a snapshot file, ztbkit.data.snapshot) instead of re-reading every session."""
    from ztbkit.data.snapshot import snapshot_file
    from ztbkit.reports.notebooks import NOTEBOOKS
    from ztbkit.reports.runner import render_reports

    try:
        columns = cache.columns_for(tree.sessions) if cache is not None else None  # unchanged rows copied
        with snapshot_file(tree, artifacts_dir, columns) as snap:
            reports = render_reports(
                NOTEBOOKS, artifacts_dir=artifacts_dir, out_dir=day_dir, parameters={"snapshot": snap}
            )
    except ZtbError as exc:
        result.steps.append(StepResult("notebooks", "failed", None, str(exc)))
        return
    for r in reports:
        out = Path(r.outputs[0]) if r.outputs else None
        detail = r.error or _("{seconds} s, + .md and .ipynb").format(seconds=f"{r.seconds:.1f}")
        result.steps.append(StepResult(f"{r.name}.html", "ok" if r.status == "ok" else "failed", out, detail))
