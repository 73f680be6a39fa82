"""ztb cost and budget."""

from __future__ import annotations

from pathlib import Path

import click

from ztbkit.cli.base import (
    ARTIFACTS_OPT,
    LOCATION,
    VERBOSE_OPT,
    cli,
    fail,
    progress_printer,
    warn_issues,
    yen,
)
from ztbkit.core.errors import shown
from ztbkit.core.ids import safe_repr
from ztbkit.locale import _


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

    from ztbkit.core.fsio import atomic_write_text, prepare_output
    from ztbkit.money.budget import find_session, price_session
    from ztbkit.money.costs import parse_rate, resolve_rates

    if out is not None and out.suffix.lower() not in (".json", ".md"):
        fail(_("--out: {path} must end in .json or .md").format(path=out))
    if out is not None:
        prepare_output(out)  # a bad --out is exit 2 before the session's cost file is written
    rates = resolve_rates(gpu_rate=gpu_rate, kwh_rate=kwh_rate, cloud_rate=cloud_rate, tariff=tariff)

    def number(value: str | None, flag: str) -> float | None:
        return parse_rate(value, flag) if value is not None else None

    session = find_session(artifacts_dir, correlation_id)
    warn_issues(session.issues)  # a bad value that was set aside is said before the figures it changed
    estimate = price_session(
        session,
        rates,
        hours=number(hours, "--hours"),
        kwh=number(kwh, "--kwh"),
        gpu_watts=number(gpu_watts, "--gpu-watts"),
        household_kwh=parse_rate(household_kwh, "--household-kwh"),
    )
    if estimate.tariff.note:
        click.echo(f"warning: {shown(estimate.tariff.note)}", err=True)
    text = json.dumps(estimate.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    atomic_write_text(out, text if out.suffix.lower() == ".json" else estimate.to_markdown())
    click.echo(_("wrote {out}: total {total} (GPU {gpu}, electricity {power}, cloud {cloud})").format(
        out=out, total=yen(estimate.total_jpy), gpu=yen(estimate.gpu_jpy), power=yen(estimate.power_jpy),
        cloud=yen(estimate.cloud_jpy)))  # fmt: skip


@cli.command()
@ARTIFACTS_OPT
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="Only runs started on this day (Asia/Tokyo).")
@click.option(
    "--out",
    type=LOCATION,
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
    from ztbkit.core.clock import report_date
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.data.storage import is_remote, redact, staged_file
    from ztbkit.money.budget import write_budget

    only = report_date(date_text) if date_text else None
    if estimate_missing and is_remote(artifacts_dir):
        fail(_("--estimate-missing writes cost files into the sessions: it needs a local --artifacts-dir"))
    tree = load_artifacts(artifacts_dir, progress=progress_printer("loading sessions"))
    with staged_file(out) as local:  # a URL: written locally, then uploaded whole
        result = write_budget(tree, local, only=only, estimate_missing=estimate_missing)
    warn_issues(tree.all_issues(), verbose)
    for sid, why in result.skipped:
        click.echo(
            safe_repr(f"warning: {sid}: " + _("not estimated: {why}").format(why=shown(why))), err=True
        )
    click.echo(_("wrote {path}: {summary}").format(path=redact(str(out)), summary=result.line()))
