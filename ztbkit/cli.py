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
SCHEDULER_STATE_OPT = click.option(
    "--state-file", type=click.Path(path_type=Path), default=Path(".ztb/cronish-state.json"), show_default=True,
    help="The scheduler's state file (ztb cronish writes it; ztb doctor checks it).",
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


STATE_DIR_OPT = click.option(
    "--state-dir", type=click.Path(path_type=Path), default=Path("."), envvar="ZTB_STATE_DIR", show_default=True,
    help="The bot's state folder (trade-state.json...); ztbkit keeps its outbox in <state-dir>/.ztb/. "
    "Env ZTB_STATE_DIR.",
)  # fmt: skip
WEBHOOK_OPTS = (
    click.option("--webhook", metavar="URL", help="Webhook URL (Slack or Discord). Env SLACK_WEBHOOK_URL."),
    click.option(
        "--discord-webhook",
        metavar="URL",
        help="Discord webhook URL; wins over everything else. Env ZTB_DISCORD_WEBHOOK.",
    ),
)


def _outbox(state_dir: Path) -> Any:
    from ztbkit.notify import Outbox

    return Outbox(state_dir / ".ztb")


def _echo_flushed(flushed: Sequence[tuple[dict[str, Any], Any]]) -> None:
    from ztbkit.notify.delivery import result_line
    from ztbkit.notify.webhook import Webhook

    for entry, result in flushed:
        hook = Webhook(entry["url"], entry.get("service", "slack"), entry.get("source", "outbox"))
        click.echo(
            f"outbox {entry.get('id', '?')[:8]} ({entry.get('created_at', '?')}): {result_line(result, hook)}"
        )


@cli.command("gates-alert")
@click.option("--correlation-id", required=True, help="Session whose reports/gates.json to check.")
@ARTIFACTS_OPT
@WEBHOOK_OPTS[0]
@WEBHOOK_OPTS[1]
@STATE_DIR_OPT
@click.option("--dry-run", is_flag=True, help="Print the alert payload instead of posting it.")
@VERBOSE_OPT
def gates_alert_cmd(correlation_id: str, artifacts_dir: Path, webhook: str | None, discord_webhook: str | None,
                    state_dir: Path, dry_run: bool, verbose: bool) -> None:  # fmt: skip
    """Alert Discord/Slack when a session's acceptance gates failed.

    No gates file (or an empty one): prints SKIP, exit 0. No failures: nothing is sent, exit 0.
    Failures: one alert naming the first 3 failing gates (+N more) with reasons and a dashboard link,
    ERROR when a critical gate failed, else WARN. Failures with no webhook configured: exit 1.
    An alert that cannot be delivered now is kept in the outbox and sent first next time (exit 1).

    \b
    Examples:
      ztb gates-alert --correlation-id 20250929T120000Z
      ztb gates-alert --correlation-id 20250929T120000Z --discord-webhook "$HOOK"
      ztb gates-alert --correlation-id 20250929T120000Z --dry-run
    """
    import json

    from ztbkit.alerts import dashboard_link, gates_alert, read_gates
    from ztbkit.clock import SYSTEM_CLOCK
    from ztbkit.notify import payload_for, resolve_webhook, send_with_outbox
    from ztbkit.notify.delivery import result_line

    check = read_gates(artifacts_dir, correlation_id)
    warn_issues(check.issues, verbose)
    if check.report is None:
        click.echo(f"SKIP: no gates to check ({check.path} is missing or empty)")
        return
    link = dashboard_link(artifacts_dir, correlation_id, os.environ)
    alert = gates_alert(correlation_id, check, link, now=SYSTEM_CLOCK.now())
    if alert is None:
        click.echo(f"OK: {len(check.report.results)} gate(s), none failed; nothing sent")
        return
    failed = check.report.failures
    click.echo(
        f"FAIL: {len(failed)} gate(s) failed ({alert.level}): {', '.join(g.name for g in failed) or 'pass: false'}"
    )
    hook = resolve_webhook(discord_webhook=discord_webhook, webhook=webhook)
    payload = payload_for(hook.service if hook else "discord", alert)
    if dry_run:
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if hook is None:
        fail("gates failed but no webhook is configured (--discord-webhook, ZTB_DISCORD_WEBHOOK, --webhook or "
             "SLACK_WEBHOOK_URL)", 1)  # fmt: skip
    report = send_with_outbox(hook, payload, _outbox(state_dir))
    _echo_flushed(report.flushed)
    click.echo(result_line(report.result, hook))
    sys.exit(0 if report.result.delivered else 1)


@cli.command("live-status")
@click.argument("webhook_url", required=False)
@STATE_DIR_OPT
@WEBHOOK_OPTS[1]
@click.option("--dry-run", is_flag=True, help="Print the payload instead of posting it (no webhook needed).")
@click.option(
    "--edit", is_flag=True, help="Keep one Discord message up to date instead of posting a new one."
)
def live_status(webhook_url: str | None, state_dir: Path, discord_webhook: str | None, dry_run: bool,
                edit: bool) -> None:  # fmt: skip
    """Post the live bot status snapshot (trade state, configuration, performance per pair).

    Reads trade-state.json, trade-config.json and stats.json from --state-dir; a missing file drops
    its field, never the message. WEBHOOK_URL counts as --webhook in the precedence order.

    \b
    Examples:
      ztb live-status --state-dir /opt/bot --dry-run
      ztb live-status "$SLACK_HOOK" --state-dir /opt/bot
      ZTB_DISCORD_WEBHOOK=... ztb live-status --state-dir /opt/bot --edit
    """
    import json

    from ztbkit.clock import SYSTEM_CLOCK
    from ztbkit.live import load_live_state, save_message_id, saved_message_id, status_alert
    from ztbkit.notify import deliver, payload_for, resolve_webhook, send_with_outbox
    from ztbkit.notify.delivery import result_line

    live = load_live_state(state_dir)
    warn_issues(live.problems)
    alert = status_alert(live, state_dir, now=SYSTEM_CLOCK.now())
    hook = resolve_webhook(discord_webhook=discord_webhook, webhook=webhook_url)
    payload = payload_for(hook.service if hook else "discord", alert)
    if dry_run:
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if hook is None:
        fail(
            "no webhook: pass WEBHOOK_URL or --discord-webhook, or set ZTB_DISCORD_WEBHOOK or SLACK_WEBHOOK_URL"
        )
    if not edit:
        report = send_with_outbox(hook, payload, _outbox(state_dir))
        _echo_flushed(report.flushed)
        click.echo(result_line(report.result, hook))
        sys.exit(0 if report.result.delivered else 1)
    if hook.service != "discord":
        fail("--edit needs a Discord webhook (Slack incoming webhooks cannot edit a message)")
    message_id = saved_message_id(state_dir, hook.url)
    if message_id:
        edit_body = {k: v for k, v in payload.items() if k not in ("username", "avatar_url")}
        result = deliver(hook, edit_body, method="PATCH", suffix=f"/messages/{message_id}")
        if result.delivered:
            click.echo(f"edited status message {message_id} via {hook.redacted}")
            return
        if result.http_status != 404:
            click.echo(result_line(result, hook))
            sys.exit(1)
        click.echo(f"status message {message_id} is gone; posting a new one", err=True)
    result = deliver(hook, payload, params={"wait": "true"})
    new_id = result.response.get("id") if isinstance(result.response, dict) else None
    if result.delivered and isinstance(new_id, str | int):
        save_message_id(state_dir, hook.url, str(new_id))
        click.echo(f"posted status message {new_id} via {hook.redacted}; later runs with --edit update it")
        return
    click.echo(result_line(result, hook))
    sys.exit(0 if result.delivered else 1)


@cli.command()
@click.option("--flush-outbox", is_flag=True, help="Send every alert waiting in the outbox now.")
@click.option("--check", is_flag=True, help="Validate the webhook configuration and a payload; post nothing.")
@STATE_DIR_OPT
def notify(flush_outbox: bool, check: bool, state_dir: Path) -> None:
    """Show or flush the outbox of alerts that could not be delivered yet.

    \b
    Examples:
      ztb notify                      how many alerts are waiting
      ztb notify --flush-outbox --state-dir /opt/bot
      ztb notify --check              is a webhook configured and valid? (posts nothing)
    """
    if check:
        from ztbkit.notify import check_configuration

        ok, why = check_configuration()
        click.echo(f"{'OK' if ok else 'FAIL'}: {why}")
        sys.exit(0 if ok else 1)
    outbox = _outbox(state_dir)
    if not flush_outbox:
        waiting = outbox.entries()
        click.echo(f"{len(waiting)} alert(s) waiting in {outbox.path}")
        return
    flushed = outbox.flush()
    _echo_flushed(flushed)
    left = len(outbox.entries())
    click.echo(f"{sum(r.delivered for _, r in flushed)} delivered, {left} still waiting in {outbox.path}")
    sys.exit(0 if left == 0 and all(r.delivered for _, r in flushed) else 1)


@cli.command("schedule-template")
@click.option("--list", "list_", is_flag=True, help="List the templates.")
@click.option("--template", "name", metavar="NAME", help="The template to print.")
@click.option("--output", type=click.Path(path_type=Path), help="Write the JSON here instead of stdout.")
def schedule_template(list_: bool, name: str | None, output: Path | None) -> None:
    """Print a schedule template: cron line, Windows Task Scheduler trigger, time zone.

    The JSON is also a job file for `ztb cronish --config`.

    \b
    Examples:
      ztb schedule-template --list
      ztb schedule-template --template nightly --output nightly.json
      ztb cronish --config nightly.json --max-catchup 1
    """
    import json

    from ztbkit.fsio import atomic_write_text
    from ztbkit.schedule.templates import TEMPLATES, template_json

    if list_ == (name is not None):
        fail("give exactly one of --list or --template NAME")
    if list_:
        for t in TEMPLATES.values():
            click.echo(f"{t.name:<15} {t.cron:<12} {t.description}")
        return
    text = json.dumps(template_json(name or ""), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}")


@cli.command()
@click.argument("command", nargs=-1)
@click.option("--interval-sec", type=float, help="Run every N seconds.")
@click.option("--cron", "cron_expr", metavar="EXPR", help='A 5-field cron line, e.g. "0 9 * * *".')
@click.option(
    "--template", "template_name", metavar="NAME", help="A schedule template (ztb schedule-template --list)."
)
@click.option(
    "--config", "config", type=click.Path(path_type=Path), help='A job file: one job or {"jobs": [...]}.'
)
@click.option(
    "--name", default=None, help="Job name (logs, state, lock). Default: the template name, else 'job'."
)
@click.option("--timezone", default="Asia/Tokyo", show_default=True, help="Time zone of cron schedules.")
@click.option(
    "--timeout-sec", type=float, default=None, help="Kill the job's whole process tree after this long."
)
@click.option(
    "--max-catchup",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Missed runs to make up at start (the newest ones); the rest are skipped.",
)
@click.option(
    "--catchup-cooldown-sec",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Pause between catch-up runs.",
)
@click.option(
    "--grace-sec",
    type=click.FloatRange(min=0),
    default=120,
    show_default=True,
    help="A slot this recent counts as due, not missed.",
)
@SCHEDULER_STATE_OPT
@click.option(
    "--log-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Per-job logs (rotated at 5 MB).  [default: <state-file folder>/logs]",
)
@click.option(
    "--stop-file",
    type=click.Path(path_type=Path),
    default=Path("ztb.stop"),
    show_default=True,
    help="The kill file: when it exists the runner stops.",
)
@click.option("--shell", is_flag=True, help="Run COMMAND through the shell (off by default).")
@click.option("--fail-fast", is_flag=True, help="Stop the runner (exit 1) when a job fails.")
@click.option(
    "--once", is_flag=True, help="Do catch-up and anything due now, then exit (for cron/Task Scheduler)."
)
def cronish(command: tuple[str, ...], interval_sec: float | None, cron_expr: str | None, template_name: str | None,
            config: Path | None, name: str | None, timezone: str, timeout_sec: float | None, max_catchup: int,
            catchup_cooldown_sec: float, grace_sec: float, state_file: Path, log_dir: Path | None,
            stop_file: Path, shell: bool, fail_fast: bool, once: bool) -> None:  # fmt: skip
    """Run a command on a schedule that survives reboots.

    Missed runs (after a reboot or suspend) are counted from the recorded state; at most
    --max-catchup of them run, each with ZTB_SCHEDULED_FOR set to its slot. One file lock per
    job keeps two runners from overlapping. The kill file or SIGINT/SIGTERM stop it cleanly.

    \b
    Examples:
      ztb cronish --template nightly --max-catchup 1            the 24/7 nightly reports
      ztb cronish --cron "0 2 * * *" -- python train.py --resume
      ztb cronish --interval-sec 300 --once -- ztb live-status --edit
      ztb cronish --config jobs.json --state-file /var/lib/ztb/state.json
    """
    from ztbkit.schedule.runner import Job, Runner, failure_notifier, load_jobs
    from ztbkit.schedule.templates import get_template

    chosen = [o for o, v in (("--interval-sec", interval_sec), ("--cron", cron_expr), ("--template", template_name),
                             ("--config", config)) if v is not None]  # fmt: skip
    if len(chosen) != 1:
        fail("give exactly one of --interval-sec, --cron, --template or --config"
             + (f" (got {', '.join(chosen)})" if chosen else ""))  # fmt: skip
    if config is not None:
        jobs = load_jobs(config, command, timezone=timezone, timeout_sec=timeout_sec, shell=shell)
    else:
        cmd: tuple[str, ...] | str = command
        if template_name is not None and not command:
            cmd = get_template(template_name).command
        if not cmd:
            fail("COMMAND is required (put it after --, e.g. ztb cronish --cron '0 9 * * *' -- ztb nightly)")
        job_cron = get_template(template_name).cron if template_name else cron_expr
        jobs = [Job(name or template_name or "job", shlex_join(cmd) if shell else cmd, cron=job_cron,
                    interval_sec=interval_sec, timezone=timezone, timeout_sec=timeout_sec, shell=shell)]  # fmt: skip

    def say(line: str) -> None:
        from ztbkit.clock import SYSTEM_CLOCK, default_tz

        click.echo(
            f"{SYSTEM_CLOCK.now().astimezone(default_tz()):%Y-%m-%d %H:%M:%S} {line}",
            err=line.startswith("warning"),
        )

    runner = Runner(jobs, state_file=state_file, log_dir=log_dir or state_file.parent / "logs",
                    max_catchup=max_catchup, catchup_cooldown=catchup_cooldown_sec, grace=grace_sec,
                    stop_file=stop_file, fail_fast=fail_fast, say=say,
                    on_failure=failure_notifier(state_file.parent, say))  # fmt: skip
    sys.exit(runner.run(once=once))


@cli.command("tb-scrape")
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Folder holding TensorBoard runs (searched recursively).",
)
@click.option("--output", type=click.Path(path_type=Path), help="Write the JSON here instead of stdout.")
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=None,
    help="Incremental cache.  [default: <run-dir>/.ztb-tb-cache.json]",
)
@click.option("--no-cache", is_flag=True, help="Read every file whole and keep no cache.")
@click.option("--tag", "tags", multiple=True, help="Only these tags (repeatable).")
@VERBOSE_OPT
def tb_scrape(run_dir: Path, output: Path | None, cache: Path | None, no_cache: bool, tags: tuple[str, ...],
              verbose: bool) -> None:  # fmt: skip
    """Latest value of every TensorBoard scalar, per run, as JSON.

    Output: {"<run>": {"<tag>": value, ..., "_latest_step": n, "_latest_wall_time": t}}. Reads
    simple_value and TF2 scalar tensors; a re-scrape reads only bytes added since the last one.
    A file cut short while training writes it is fine; corrupt records are reported and skipped.

    \b
    Examples:
      ztb tb-scrape --run-dir runs
      ztb tb-scrape --run-dir artifacts/20250929T120000Z/tb --output tb_latest.json --tag time/fps
    """
    from ztbkit.fsio import atomic_write_text
    from ztbkit.tensorboard import dumps, scrape

    cache_path = None if no_cache else (cache or run_dir / ".ztb-tb-cache.json")
    result = scrape(run_dir, cache=cache_path, tags=list(tags) or None)
    warn_issues(result.problems, verbose)
    text = dumps(result) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}: {len(result.runs)} run(s); read {result.files_whole} file(s) whole, "
                   f"{result.files_incremental} incrementally, {result.files_unchanged} unchanged")  # fmt: skip


@cli.command()
@click.option("--correlation-id", required=True, help="Session to examine (its folder name).")
@ARTIFACTS_OPT
@click.option(
    "--total-steps", type=click.IntRange(min=1), default=None, help="Planned steps, for percent and ETA."
)
@SCHEDULER_STATE_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(
    correlation_id: str, artifacts_dir: Path, total_steps: int | None, state_file: Path, as_json: bool
) -> None:
    """Triage a session in one command: artifacts, errors, progress, disk, kernel, webhook, scheduler, TensorBoard.

    Each check is OK, WARN or FAIL with a one-line reason; details go to
    <artifacts-dir>/<ID>/reports/doctor.txt. Exit 0 when nothing FAILed.

    \b
    Examples:
      ztb doctor --correlation-id 20250929T120000Z
      ztb doctor --correlation-id 20250929T120000Z --total-steps 1000000 --json
    """
    import json

    from ztbkit.doctor import run_doctor

    report = run_doctor(artifacts_dir, correlation_id, total_steps=total_steps, state_file=state_file)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for check in report.checks:
            click.echo(check.line())
        click.echo(f"details: {report.report_path}")
        click.echo(report.summary_line())
    sys.exit(1 if report.counts()["FAIL"] else 0)


@cli.command()
@ARTIFACTS_OPT
@STATE_DIR_OPT
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    default=None,
    help='JSON config; its "allow" list extends the run allow-list.',
)
def compat(artifacts_dir: Path, state_dir: Path, config: Path | None) -> None:
    """Answer one JSON request from stdin with one JSON response on stdout.

    Actions: status, run (an allow-listed argument list; ztb subcommands by default, more via
    ZTB_COMPAT_ALLOW), doctor, version. Exit 0 only when the response has "success": true.

    \b
    Examples:
      echo '{"action": "version"}' | ztb compat
      echo '{"action": "run", "params": {"command": ["ztb", "trends"], "timeout": 300}}' | ztb compat
      echo '{"action": "status"}' | ztb compat --state-dir /opt/bot --artifacts-dir /opt/bot/artifacts
    """
    import json

    from ztbkit.compat import handle

    response = handle(sys.stdin.read(), artifacts_dir=artifacts_dir, state_dir=state_dir, config=config)
    click.echo(json.dumps(response, ensure_ascii=False, default=str))
    sys.exit(0 if response.get("success") else 1)


def shlex_join(parts: Sequence[str] | str) -> str:
    import shlex

    return parts if isinstance(parts, str) else shlex.join(parts)


def yen(amount: float) -> str:
    from ztbkit.costs import yen as fmt

    return fmt(amount)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``ztb``, ``python -m ztbkit``)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="ztb")
