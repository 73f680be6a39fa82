"""ztb demo, trends, trends-md and nightly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ztbkit.cli.base import (
    ARTIFACTS_OPT,
    LOCATION,
    OUT_DIR_OPT,
    VERBOSE_OPT,
    cli,
    progress_printer,
    warn_issues,
)
from ztbkit.locale import _


@cli.command()
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Where to build demo/artifacts and demo/state (only a folder made by the demo is replaced).",
)
@click.option(
    "--sessions", type=click.IntRange(min=1), default=36, show_default=True, help="How many sessions."
)
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Random seed; the same seed gives the same tree."
)
def demo(out_dir: Path, sessions: int, seed: int) -> None:
    """Build a realistic demo artifact tree to try every report on.

    \b
    Examples:
      ztb demo
      ztb demo --out-dir /tmp/ztb-demo --sessions 200 --seed 1
    """
    from ztbkit.data.demo import build_demo

    result = build_demo(out_dir, sessions=sessions, seed=seed, progress=progress_printer("building sessions"))
    click.echo(
        _("demo artifacts: {folder} ({n} sessions)").format(folder=result.artifacts_dir, n=result.sessions)
    )
    click.echo(_("demo live state: {folder}").format(folder=result.state_dir))


@cli.command()
@ARTIFACTS_OPT
@click.option(
    "--out",
    type=LOCATION,
    default=None,
    help="CSV to write (a path or URL).  [default: <artifacts-dir>/trends.csv]",
)
@click.option("--strict", is_flag=True, help="Exit 1 when any artifact had a problem.")
@VERBOSE_OPT
def trends(artifacts_dir: Path, out: Path | None, strict: bool, verbose: bool) -> None:
    """Write the trends CSV (one row per session).

    Columns: session_id,global_step,rl_sharpe,dsr,p_value. One row per session folder,
    sorted by id; missing or invalid values are empty cells. Files that cannot be read are
    reported as warnings and the other sessions still count.

    \b
    Examples:
      ztb trends
      ztb trends --artifacts-dir /data/bot/artifacts --out reports/trends.csv
    """
    from ztbkit.analysis.trends import write_trends_csv
    from ztbkit.cli.base import followed
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.data.storage import join, redact, staged_file

    tree = load_artifacts(artifacts_dir, progress=progress_printer("loading sessions"))
    target = out or join(followed(artifacts_dir), "trends.csv")
    with staged_file(target) as local:  # a URL: written locally, then uploaded whole
        table = write_trends_csv(tree.sessions, local)
    issues = tree.all_issues()
    warn_issues(issues, verbose)
    click.echo(_("wrote {file} ({n} sessions, {warnings} warnings)").format(
        file=redact(str(target)), n=len(table.rows), warnings=len(issues)))  # fmt: skip
    if strict and issues:
        sys.exit(1)


@cli.command("trends-md")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(path_type=Path),
    default=Path("artifacts/trends.csv"),
    show_default=True,
    help="Trends CSV to read (from `ztb trends`).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("reports/trends.md"),
    show_default=True,
    help="Markdown report to write.",
)
@VERBOSE_OPT
def trends_md(csv_path: Path, out: Path, verbose: bool) -> None:
    """Write the Markdown trend report from a trends CSV.

    Per-metric tables with ▁▂▃▄▅▆▇█ sparklines, oldest session first.

    \b
    Examples:
      ztb trends-md
      ztb trends-md --csv outputs/trends.csv --out outputs/trends.md
    """
    from ztbkit.analysis.trends import write_trends_markdown

    table = write_trends_markdown(csv_path, out)
    warn_issues(table.issues, verbose)
    click.echo(_("wrote {file} ({n} sessions)").format(file=out, n=len(table.rows)))


@cli.command()
@ARTIFACTS_OPT
@OUT_DIR_OPT
@click.option(
    "--date",
    "date_text",
    default=None,
    metavar="YYYY-MM-DD",
    help="Report date (folder name). Default: $ZTB_SCHEDULED_FOR's date, else today in Asia/Tokyo.",
)
@click.option(
    "--skip-notebooks", is_flag=True, help="Only the CSV/Markdown reports (no Jupyter kernel needed)."
)
@click.option(
    "--no-cache", is_flag=True, help="Parse every session (default: only those changed since the last run)."
)
@VERBOSE_OPT
def nightly(
    artifacts_dir: Path,
    out_dir: Path,
    date_text: str | None,
    skip_notebooks: bool,
    no_cache: bool,
    verbose: bool,
) -> None:
    """Run every nightly report, in order; one line per output.

    trends.csv, trends_table.md, budget_daily.md (pricing runs not yet estimated), then the dashboard,
    trends, budget, cost and compare notebooks as HTML + Markdown. Steps run in order and a failed step does
    not stop the next; the exit code is 1 if any failed.

    \b
    Examples:
      ztb nightly --artifacts-dir artifacts --out-dir outputs
      ztb nightly --date 2025-10-31
    """
    from ztbkit.ops.nightly import run_nightly

    scheduled = os.environ.get("ZTB_SCHEDULED_FOR")
    source = "--date" if date_text or not scheduled else "ZTB_SCHEDULED_FOR"
    result = run_nightly(artifacts_dir, out_dir, date_text=date_text or scheduled, date_source=source,
                         notebooks=not skip_notebooks, cache=not no_cache)  # fmt: skip
    warn_issues(result.issues, verbose)
    for step in result.steps:
        click.echo(step.line())
    from ztbkit.notify.waiting import flush_waiting

    flush_waiting(
        None, click.echo, lambda m: click.echo(m, err=True)
    )  # alerts queued on an earlier night go out with this one
    if not result.ok:
        sys.exit(1)
