"""The ``ztb`` command. Each command is a thin call into the library.

Exit codes: 0 success; 1 the job found a problem (a FAIL, an undelivered alert, a failed step);
2 bad usage or bad input that stopped the command. Errors are one line naming the file or flag;
user errors never print a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from ztbkit import __version__
from ztbkit.errors import ZtbError
from ztbkit.fsio import Problem

MAX_WARNINGS = 10


class ZtbGroup(click.Group):
    """A click group that turns ZtbError into ``ztb: error: ...`` and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZtbError as exc:
            click.echo(f"ztb: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"ztb: error: {message}", err=True)
    sys.exit(code)


def warn_issues(issues: Sequence[Problem], verbose: bool = False) -> None:
    """Print problems as warnings on stderr, the first few unless ``verbose``."""
    shown = issues if verbose else issues[:MAX_WARNINGS]
    for p in shown:
        click.echo(f"warning: {p}", err=True)
    if len(issues) > len(shown):
        click.echo(f"warning: ... and {len(issues) - len(shown)} more (use -v to list all)", err=True)


def progress_printer(label: str, min_total: int = 2000) -> Callable[[int, int], None]:
    """A progress callback printing ``label: done/total`` to stderr for long jobs only."""

    def show(done: int, total: int) -> None:
        if total >= min_total:
            click.echo(f"{label}: {done}/{total}", err=True)

    return show


ARTIFACTS_OPT = click.option(
    "--artifacts-dir", type=click.Path(path_type=Path), default=Path("artifacts"), show_default=True,
    help="Root of the bot's artifact tree (one folder per session).",
)  # fmt: skip
VERBOSE_OPT = click.option(
    "-v", "--verbose", is_flag=True, help="List every warning, not just the first ten."
)


@click.group(cls=ZtbGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ztb")
def cli() -> None:
    """ztbkit: the operations side of zaif-trade-bot.

    \b
    Quick start:
      ztb demo --out-dir demo                   build a realistic demo artifact tree
      ztb nightly --artifacts-dir demo/artifacts --out-dir outputs
      ztb trends --artifacts-dir artifacts      write artifacts/trends.csv

    Exit codes: 0 ok, 1 the job found a problem, 2 bad usage or input.
    """


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
    from ztbkit.demo import build_demo

    result = build_demo(out_dir, sessions=sessions, seed=seed, progress=progress_printer("building sessions"))
    click.echo(f"demo artifacts: {result.artifacts_dir} ({result.sessions} sessions)")
    click.echo(f"demo live state: {result.state_dir}")


@cli.command()
@ARTIFACTS_OPT
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="CSV to write.  [default: <artifacts-dir>/trends.csv]",
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
    from ztbkit.artifacts import load_artifacts
    from ztbkit.trends import default_csv_path, write_trends_csv

    tree = load_artifacts(artifacts_dir, progress=progress_printer("loading sessions"))
    target = out or default_csv_path(artifacts_dir)
    table = write_trends_csv(tree.sessions, target)
    issues = tree.all_issues()
    warn_issues(issues, verbose)
    click.echo(f"wrote {target} ({len(table.rows)} sessions, {len(issues)} warnings)")
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
    from ztbkit.trends import write_trends_markdown

    table = write_trends_markdown(csv_path, out)
    warn_issues(table.issues, verbose)
    click.echo(f"wrote {out} ({len(table.rows)} sessions)")


@cli.command()
@ARTIFACTS_OPT
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    default=Path("outputs"),
    show_default=True,
    help="Reports go to <out-dir>/<YYYY-MM-DD>/.",
)
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
@VERBOSE_OPT
def nightly(
    artifacts_dir: Path, out_dir: Path, date_text: str | None, skip_notebooks: bool, verbose: bool
) -> None:
    """Run every nightly report, in order; one line per output.

    trends.csv, trends.md, budget_daily.md (pricing runs not yet estimated), then the dashboard,
    trends, budget and cost notebooks as HTML + Markdown. Steps run in order and a failed step does
    not stop the next; the exit code is 1 if any failed.

    \b
    Examples:
      ztb nightly --artifacts-dir artifacts --out-dir outputs
      ztb nightly --date 2025-10-31
    """
    from ztbkit.nightly import run_nightly

    scheduled = os.environ.get("ZTB_SCHEDULED_FOR")
    source = "--date" if date_text or not scheduled else "ZTB_SCHEDULED_FOR"
    result = run_nightly(artifacts_dir, out_dir, date_text=date_text or scheduled, date_source=source,
                         notebooks=not skip_notebooks)  # fmt: skip
    warn_issues(result.issues, verbose)
    for step in result.steps:
        click.echo(step.line())
    if not result.ok:
        sys.exit(1)


@cli.command()
@click.option("--correlation-id", required=True, help="Session to price (its folder name).")
@ARTIFACTS_OPT
@click.option("--gpu-rate", metavar="JPY/h", help="GPU time price. Env GPU_RATE_JPY_PER_HOUR; default 300.")
@click.option(
    "--kwh-rate",
    metavar="JPY/kWh",
    help="Flat electricity price (simple tariff). Env KWH_RATE_JPY; default 35.",
)
@click.option(
    "--cloud-rate", metavar="JPY/h", help="Cloud price per run hour. Env CLOUD_RATE_JPY_PER_HOUR; default 0."
)
@click.option(
    "--tariff", metavar="NAME|FILE.toml", help="simple (default), jp_residential_tiered, or a tariff file."
)
@click.option("--kwh", metavar="N", help="Energy of the run in kWh (overrides what the run recorded).")
@click.option(
    "--gpu-watts", metavar="W", help="Power per GPU when estimating energy (default: board power or 300)."
)
@click.option("--hours", metavar="H", help="Run duration in hours (overrides what the run recorded).")
@click.option(
    "--household-kwh",
    metavar="N",
    default="0",
    show_default=True,
    help="The rest of the month's household use, for the marginal electricity cost.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Also write the estimate to X.json or X.md.")
def cost(correlation_id: str, artifacts_dir: Path, gpu_rate: str | None, kwh_rate: str | None,
         cloud_rate: str | None, tariff: str | None, kwh: str | None, gpu_watts: str | None, hours: str | None,
         household_kwh: str, out: Path | None) -> None:  # fmt: skip
    """Estimate what a session cost in yen: GPU time, electricity and cloud.

    Writes <artifacts-dir>/<ID>/reports/cost_estimate.json and prints the JSON (or writes --out).
    Every input says where it came from: measured, estimated, override or default.
    Exit 1 when the session has no run_metadata.json/summary.json or no duration.

    \b
    Examples:
      ztb cost --correlation-id 20250929T120000Z
      ztb cost --correlation-id 20250929T120000Z --tariff jp_residential_tiered --out cost.md
      GPU_RATE_JPY_PER_HOUR=250 ztb cost --correlation-id 20250929T120000Z --kwh 1.2
    """
    import json

    from ztbkit.budget import estimate_session
    from ztbkit.costs import parse_rate, resolve_rates
    from ztbkit.fsio import atomic_write_text

    if out is not None and out.suffix.lower() not in (".json", ".md"):
        fail(f"--out: {out} must end in .json or .md")
    rates = resolve_rates(gpu_rate=gpu_rate, kwh_rate=kwh_rate, cloud_rate=cloud_rate, tariff=tariff)

    def number(value: str | None, flag: str) -> float | None:
        return parse_rate(value, flag) if value is not None else None

    estimate = estimate_session(
        artifacts_dir,
        correlation_id,
        rates,
        hours=number(hours, "--hours"),
        kwh=number(kwh, "--kwh"),
        gpu_watts=number(gpu_watts, "--gpu-watts"),
        household_kwh=parse_rate(household_kwh, "--household-kwh"),
    )
    text = json.dumps(estimate.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    atomic_write_text(out, text if out.suffix.lower() == ".json" else estimate.to_markdown())
    click.echo(f"wrote {out}: total {yen(estimate.total_jpy)} (GPU {yen(estimate.gpu_jpy)}, "
               f"electricity {yen(estimate.power_jpy)}, cloud {yen(estimate.cloud_jpy)})")  # fmt: skip


@cli.command()
@ARTIFACTS_OPT
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="Only runs started on this day (Asia/Tokyo).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("reports/budget_daily.md"),
    show_default=True,
    help="Markdown report to write.",
)
@click.option(
    "--estimate-missing",
    is_flag=True,
    help="First price sessions that have no cost file (rates from the environment or defaults).",
)
@VERBOSE_OPT
def budget(
    artifacts_dir: Path, date_text: str | None, out: Path, estimate_missing: bool, verbose: bool
) -> None:
    """Write the daily budget: cost, GPU-hours and runs per day, newest first, and a grand total.

    Reads each session's reports/cost_estimate.json (ztbkit's shape or the flat
    {"total_cost_jpy", "gpu_hours"}); runs without one are listed as not estimated.

    \b
    Examples:
      ztb budget
      ztb budget --date 2025-10-31 --out reports/budget_2025-10-31.md
      ztb budget --artifacts-dir artifacts --estimate-missing
    """
    from ztbkit.artifacts import load_artifacts
    from ztbkit.budget import write_budget
    from ztbkit.nightly import report_date

    only = report_date(date_text) if date_text else None
    tree = load_artifacts(artifacts_dir, progress=progress_printer("loading sessions"))
    result = write_budget(tree, out, only=only, estimate_missing=estimate_missing)
    warn_issues(tree.all_issues(), verbose)
    for sid, why in result.skipped:
        click.echo(f"warning: {sid}: not estimated: {why}", err=True)
    click.echo(f"wrote {out}: {result.line()}")


CELL_TIMEOUT_OPT = click.option("--cell-timeout", type=click.IntRange(min=1), default=600, show_default=True,
                                help="Seconds one notebook cell may run.")  # fmt: skip


@cli.command("dashboard")
@ARTIFACTS_OPT
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="HTML page to write.  [default: <artifacts-dir>/dashboard.html]",
)
@CELL_TIMEOUT_OPT
def dashboard_cmd(artifacts_dir: Path, out: Path | None, cell_timeout: int) -> None:
    """Render the dashboard page (runs the dashboard notebook).

    A self-contained HTML page: the session table (click a header to sort, type to filter),
    status colours, Sharpe/DSR and step-progress plots. The executed notebook is kept beside it.
    Exit 1 when a cell fails, 3 when the kernel dies or times out.

    \b
    Examples:
      ztb dashboard
      ztb dashboard --artifacts-dir /data/bot/artifacts --out /var/www/ztb/index.html
    """
    from ztbkit.artifacts import load_artifacts
    from ztbkit.reports import render_notebook

    load_artifacts(artifacts_dir)  # a missing folder is exit 2 here, before a kernel starts
    target = out or artifacts_dir / "dashboard.html"
    result = render_notebook("dashboard", artifacts_dir=artifacts_dir, out_dir=target.parent, stem=target.stem,
                             formats=("html",), cell_timeout=cell_timeout)  # fmt: skip
    click.echo(result.line())
    sys.exit(result.exit_code)


@cli.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@ARTIFACTS_OPT
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    default=Path("outputs"),
    show_default=True,
    help="Reports go to <out-dir>/<YYYY-MM-DD>/NAME.{html,md,ipynb}.",
)
@click.option(
    "-p",
    "--parameter",
    "params",
    type=(str, str),
    multiple=True,
    metavar="KEY VALUE",
    help="Notebook parameter (JSON values such as true, 3 or [1,2] are parsed). Repeatable.",
)
@click.option(
    "--date", "date_text", metavar="YYYY-MM-DD", help="Output folder date (default: today in Asia/Tokyo)."
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="Notebooks run at once (default: CPU count)."
)
@CELL_TIMEOUT_OPT
@click.option(
    "--run-timeout",
    type=click.IntRange(min=1),
    default=1800,
    show_default=True,
    help="Seconds a whole notebook may run before its kernel is killed.",
)
def report(names: tuple[str, ...], artifacts_dir: Path, out_dir: Path, params: tuple[tuple[str, str], ...],
           date_text: str | None, jobs: int | None, cell_timeout: int, run_timeout: int) -> None:  # fmt: skip
    """Render report notebooks (dashboard, trends, budget, cost) to HTML, Markdown and .ipynb.

    Several names run in parallel processes; one progress line is printed per notebook as it ends.
    Exit 1 when a cell failed, 3 when a kernel died or timed out.

    \b
    Examples:
      ztb report dashboard trends budget cost
      ztb report trends --artifacts-dir demo/artifacts -p metrics '["rl_sharpe"]'
      ztb report budget -p day 2025-10-31 --out-dir /srv/reports
    """
    from ztbkit.artifacts import load_artifacts
    from ztbkit.nightly import report_date
    from ztbkit.reports import parse_parameter, render_reports

    load_artifacts(artifacts_dir)
    day_dir = out_dir / report_date(date_text).isoformat()
    parameters = {k: parse_parameter(v) for k, v in params}
    total, done = len(names), 0

    def progress(result: Any) -> None:
        nonlocal done
        done += 1
        click.echo(f"[{done}/{total}] {result.line()}")

    click.echo(f"rendering {', '.join(names)} into {day_dir}", err=True)
    results = render_reports(names, artifacts_dir=artifacts_dir, out_dir=day_dir, parameters=parameters,
                             cell_timeout=cell_timeout, run_timeout=run_timeout, jobs=jobs, on_done=progress)  # fmt: skip
    sys.exit(max(r.exit_code for r in results))


def yen(amount: float) -> str:
    from ztbkit.costs import yen as fmt

    return fmt(amount)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``ztb``, ``python -m ztbkit``)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="ztb")
