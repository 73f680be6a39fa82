"""ztb dsr and ztb trend-alert: selection-aware Sharpe statistics and regression alerts."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from ztbkit.cli.base import ARTIFACTS_OPT, STATE_DIR_OPT, VERBOSE_OPT, cli, fail, warn_issues
from ztbkit.locale import _

DSR_FLAGS = ("sharpe", "observations", "trials", "sharpe-variance", "skew", "kurtosis", "periods-per-year")


def _fmt(value: float | None, periods_per_year: float) -> str:
    if value is None:
        return _("never (SR is not above the benchmark)")
    return _("{n} observations ({years} years)").format(
        n=f"{math.ceil(value):,}", years=f"{value / periods_per_year:.1f}"
    )


@cli.command("dsr")
@click.option(
    "--sharpe", type=float, required=True, help="Observed Sharpe ratio, annualised (the best trial's)."
)
@click.option(
    "--observations", type=float, required=True, help="T: number of returns behind the Sharpe (> 1)."
)
@click.option("--trials", type=int, required=True, help="N: number of independent trials tried (>= 1).")
@click.option(
    "--sharpe-variance", type=float, required=True, help="V: variance of the trials' annualised Sharpes."
)
@click.option("--skew", type=float, default=0.0, show_default=True, help="Skewness of the returns.")
@click.option(
    "--kurtosis", type=float, default=3.0, show_default=True, help="Raw kurtosis of the returns (3 = normal)."
)
@click.option("--periods-per-year", type=float, default=252.0, show_default=True, help="Q: returns per year.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def dsr_cmd(
    sharpe: float,
    observations: float,
    trials: int,
    sharpe_variance: float,
    skew: float,
    kurtosis: float,
    periods_per_year: float,
    as_json: bool,
) -> None:
    """Deflated Sharpe ratio, PSR vs 0 and minimum track record (Bailey & López de Prado 2012, 2014).

    SR and V are annualised and de-annualised by √Q; the expected maximum Sharpe (SR0) is printed
    annualised. MinTRL is the number of observations for 95 % confidence that the true Sharpe
    beats SR0 (``min_track_record``) or 0 (``min_track_record_zero``); null when it never does.

    \b
    Examples:
      ztb dsr --sharpe 2.5 --observations 1250 --trials 100 --sharpe-variance 0.5 \\
              --skew -3 --kurtosis 10 --periods-per-year 250 --json
    """
    from ztbkit.analysis.stats import deflated_sharpe
    from ztbkit.core.errors import UsageError

    try:
        res = deflated_sharpe(sharpe, observations, trials, sharpe_variance, skew=skew, kurtosis=kurtosis,
                              periods_per_year=periods_per_year)  # fmt: skip
    except UsageError as exc:  # the library names the input; on the command line it is a flag
        fail(f"--{exc}" if str(exc).split(":")[0].split("/")[0] in DSR_FLAGS else str(exc))
    if as_json:
        click.echo(json.dumps(res.to_json(), sort_keys=True))
        return
    from ztbkit.core.formatting import pad, text_width

    max_sr = _("{value} annualised, N={trials}, V={variance}").format(
        value=f"{res.expected_max_sharpe:.4f}", trials=trials, variance=f"{sharpe_variance:g}"
    )
    rows = [(_("DSR (P[true SR > SR0])"), f"{res.dsr:.4f}"), (_("PSR vs 0"), f"{res.psr_zero:.4f}"),
            (_("Expected max Sharpe (SR0)"), max_sr),
            (_("MinTRL vs SR0 (95 %)"), _fmt(res.min_track_record, periods_per_year)),
            (_("MinTRL vs 0 (95 %)"), _fmt(res.min_track_record_zero, periods_per_year))]  # fmt: skip
    width = max(text_width(label) for label, _v in rows) + 3
    for label, value in rows:
        click.echo(pad(label + ":", width) + value)


@cli.command("trend-alert")
@ARTIFACTS_OPT
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="M",
    help="Metric to watch (rl_sharpe, dsr, global_step); repeatable. Default: rl_sharpe.",
)
@click.option(
    "--window", type=int, default=10, show_default=True, help="Earlier finished sessions to compare with."
)
@click.option("--mad-k", type=float, default=3.0, show_default=True, help="Alert below median − k·MAD.")
@click.option(
    "--dsr-below",
    type=float,
    default=None,
    metavar="P",
    help="Also alert when the newest session's trials-adjusted DSR (all finished sessions as trials) is below P.",
)
@click.option("--webhook", metavar="URL", help="Webhook URL (Slack or Discord). Env SLACK_WEBHOOK_URL.")
@click.option(
    "--discord-webhook",
    metavar="URL",
    help="Discord webhook URL; wins over everything else. Env ZTB_DISCORD_WEBHOOK.",
)
@STATE_DIR_OPT
@click.option(
    "--dry-run", is_flag=True, help="Print the alert payload instead of posting it; remember nothing."
)
@VERBOSE_OPT
def trend_alert_cmd(
    artifacts_dir: Path,
    metrics: tuple[str, ...],
    window: int,
    mad_k: float,
    dsr_below: float | None,
    webhook: str | None,
    discord_webhook: str | None,
    state_dir: Path,
    dry_run: bool,
    verbose: bool,
) -> None:
    """Alert when the newest finished session is clearly worse than the previous --window ones.

    Per metric: below median − k·MAD of the earlier finished sessions (at least 3 values) is a
    regression; with --dsr-below P, so is a trials-adjusted DSR below P. One alert per session,
    ever: alerted ids are kept in <state-dir>/.ztb/. Exit 0 when nothing regressed or the alert was
    delivered; 1 when it could not be delivered (it waits in the outbox) or no webhook is
    configured; 2 on bad input.

    \b
    Examples:
      ztb trend-alert --artifacts-dir artifacts --dry-run
      ztb trend-alert --metric rl_sharpe --metric dsr --window 20 --mad-k 2.5
    """
    from ztbkit.analysis.regression import DEFAULT_METRICS
    from ztbkit.core.clock import SYSTEM_CLOCK
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.notify.trend_alert import run_trend_alert

    tree = load_artifacts(artifacts_dir)
    warn_issues(tree.all_issues(), verbose)
    out = run_trend_alert(
        tree.sessions,
        artifacts_dir,
        state_dir,
        metrics=metrics or DEFAULT_METRICS,
        window=window,
        mad_k=mad_k,
        dsr_below=dsr_below,
        dry_run=dry_run,
        discord_webhook=discord_webhook,
        webhook=webhook,
        now=SYSTEM_CLOCK.now(),
    )
    for line in out.lines:
        click.echo(line)
    if out.status in ("nothing", "ok", "already-alerted"):  # nothing new: still send what waits
        from ztbkit.notify.waiting import flush_waiting

        flush_waiting(state_dir, click.echo, lambda m: click.echo(m, err=True))
    if out.payload is not None:
        click.echo(json.dumps(out.payload, indent=2, ensure_ascii=False))
    if out.status == "no-webhook":
        fail(out.lines[-1].split(" but ", 1)[-1], 1)
    sys.exit(out.exit_code)
