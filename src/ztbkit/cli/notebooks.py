"""ztb dashboard, report and lab: the notebook reports, and a workspace to open them in JupyterLab."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ztbkit.cli.base import (
    ARTIFACTS_OPT,
    LOCATION,
    OUT_DIR_OPT,
    cli,
    fail,
)
from ztbkit.locale import _

CELL_TIMEOUT_OPT = click.option("--cell-timeout", type=click.IntRange(min=1), default=600, show_default=True,
                                help="Seconds one notebook cell may run.")  # fmt: skip


@cli.command("dashboard")
@ARTIFACTS_OPT
@click.option(
    "--out",
    type=LOCATION,
    default=None,
    help="HTML page to write (a path or URL).  [default: <artifacts-dir>/dashboard.html]",
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
    from ztbkit.cli.base import followed
    from ztbkit.core.fsio import prepare_output
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.data.storage import is_remote, join, shown, staged_file
    from ztbkit.reports.runner import render_notebook

    load_artifacts(artifacts_dir)  # a missing folder is exit 2 here, before a kernel starts
    target = out or join(followed(artifacts_dir), "dashboard.html")
    if not is_remote(target):
        prepare_output(target)  # a bad --out is exit 2 here, before a kernel starts
    with staged_file(target) as local:  # a URL: rendered locally, then uploaded with its .ipynb
        result = render_notebook("dashboard", artifacts_dir=artifacts_dir, out_dir=local.parent, stem=local.stem,
                                 formats=("html",), cell_timeout=cell_timeout)  # fmt: skip
    click.echo(shown(result.line(), local.parent, target, up=1))
    sys.exit(result.exit_code)


@cli.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@ARTIFACTS_OPT
@OUT_DIR_OPT
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
    """Render report notebooks (dashboard, trends, budget, cost, compare) to HTML, Markdown and .ipynb.

    Several names run in parallel processes; one progress line is printed per notebook as it ends.
    Exit 1 when a cell failed, 3 when a kernel died or timed out.

    \b
    Examples:
      ztb report dashboard trends budget cost compare
      ztb report trends --artifacts-dir demo/artifacts -p metrics '["rl_sharpe"]'
      ztb report budget -p day 2025-10-31 --out-dir /srv/reports
    """
    from ztbkit.core.clock import report_date
    from ztbkit.core.fsio import prepare_output_dir
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.data.storage import is_remote, join, redact, shown, staged_dir
    from ztbkit.reports.notebooks import check_parameters, parse_parameter
    from ztbkit.reports.runner import render_reports

    check_parameters(names, [k for k, _v in params])  # a mistyped -p name: exit 2, before any kernel
    load_artifacts(artifacts_dir)
    day_dir = join(out_dir, report_date(date_text).isoformat())
    if not is_remote(day_dir):
        prepare_output_dir(day_dir)  # a bad --out-dir is exit 2 here, before a kernel starts
    parameters = {k: parse_parameter(v) for k, v in params}
    total, done = len(names), 0

    def progress(result: Any) -> None:
        nonlocal done
        done += 1
        click.echo(f"[{done}/{total}] {shown(result.line(), local, day_dir)}")

    click.echo(
        _("rendering {names} into {folder}").format(names=", ".join(names), folder=redact(str(day_dir))),
        err=True,
    )
    with staged_dir(day_dir) as local:  # a URL: rendered locally, then uploaded
        results = render_reports(names, artifacts_dir=artifacts_dir, out_dir=local, parameters=parameters,
                                 cell_timeout=cell_timeout, run_timeout=run_timeout, jobs=jobs,
                                 on_done=progress)  # fmt: skip
    sys.exit(max(r.exit_code for r in results))


@cli.command("lab", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=None,
              help="Your notebook workspace.  [default: notebooks/ in the project (or the current folder)]")  # fmt: skip
@click.option(
    "--prepare-only", is_flag=True, help="Make or refresh the copies, then exit without starting JupyterLab."
)
@click.pass_context
def lab_cmd(ctx: click.Context, folder: Path | None, prepare_only: bool) -> None:
    """Open the report notebooks in JupyterLab, in a workspace of your own.

    The workspace holds copies of the five report notebooks: set interactive = True there, change
    parameters, save freely. The nightly, ztb report and ztb dashboard always run the notebooks that
    ship inside ztbkit, so nothing you save here changes a nightly report. On every start a missing
    copy is made and a copy you never edited is refreshed to this ztbkit's version; a copy you edited
    is kept as it is. Arguments after the options go to JupyterLab.

    \b
    Examples:
      ztb lab
      ztb lab --dir ~/ztb-notebooks --port 8889 --no-browser
      ztb lab --prepare-only          (just make or refresh the copies)
    """
    import importlib.util
    import os
    import subprocess

    from ztbkit.reports.locations import project_root
    from ztbkit.reports.workspace import refresh_workspace, workspace_summary

    target = folder if folder is not None else project_root() / "notebooks"
    outcomes = refresh_workspace(target)
    for o in outcomes:
        if o.action != "current":
            click.echo(o.line())
    click.echo(
        _("notebook workspace {folder}: {summary}").format(folder=target, summary=workspace_summary(outcomes))
    )
    if prepare_only:
        return
    if importlib.util.find_spec("jupyterlab") is None:
        fail(
            _(
                "JupyterLab is not installed in this Python: pip install 'ztbkit[lab]' (in the project: make lab)"
            )
        )
    args = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={target}", *ctx.args]
    if os.name == "posix" and os.geteuid() == 0 and "--allow-root" not in ctx.args:
        args.append("--allow-root")
    sys.exit(subprocess.call(args))
