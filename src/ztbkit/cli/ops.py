"""ztb schedule-template, cronish, tb-scrape, doctor and compat."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ztbkit.cli.base import (
    ARTIFACTS_OPT,
    LOCATION,
    SCHEDULER_STATE_OPT,
    STATE_DIR_OPT,
    VERBOSE_OPT,
    cli,
    fail,
    warn_issues,
)
from ztbkit.locale import _


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

    from ztbkit.core.fsio import atomic_write_text
    from ztbkit.schedule.templates import TEMPLATES, template_json

    if list_ == (name is not None):
        fail(_("give exactly one of --list or --template NAME"))
    if list_:
        for t in TEMPLATES.values():
            click.echo(f"{t.name:<15} {t.cron:<12} {_(t.description)}")
        return
    text = json.dumps(template_json(name or ""), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(_("wrote {path}").format(path=output))


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
    "--timeout-sec",
    type=float,
    default=None,
    help="Kill the job's whole process tree after this long (recorded as 'timeout' and alerted). "
    "Default: the template's (7200 for nightly), else none.",
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
    help="Per-job logs, capped while the job runs (see --log-max-mb).  [default: <state-file folder>/logs]",
)
@click.option(
    "--log-max-mb",
    type=click.FloatRange(min=0.001, max=10_000),
    default=5,
    show_default=True,
    help="A job log is rotated when it reaches this size, also during a run; with 3 backups a job's "
    "logs never take more than 4x this.",
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
@click.option(
    "--heartbeat-url", metavar="URL", envvar="ZTB_HEARTBEAT_URL", default=None,
    help="Ping URL/start when a job starts, URL when it succeeds, URL/fail when it fails "
    "(healthchecks.io, Uptime Kuma). Env ZTB_HEARTBEAT_URL.",
)  # fmt: skip
def cronish(command: tuple[str, ...], interval_sec: float | None, cron_expr: str | None, template_name: str | None,
            config: Path | None, name: str | None, timezone: str, timeout_sec: float | None, max_catchup: int,
            catchup_cooldown_sec: float, grace_sec: float, state_file: Path | None, log_dir: Path | None,
            log_max_mb: float, stop_file: Path, shell: bool, fail_fast: bool, once: bool,
            heartbeat_url: str | None) -> None:  # fmt: skip
    """Run a command on a schedule that survives reboots.

    Missed runs (after a reboot or suspend) are counted from the recorded state; at most
    --max-catchup of them run, each with ZTB_SCHEDULED_FOR set to its slot. One run per slot:
    a runner takes the job's lock, then reads the state, then decides, so runners can share a
    state file. A job dies with its runner. The kill file, SIGINT, SIGTERM or Ctrl+Break stop it
    within about a second (no new job starts after that); a run cut short that way is a missed
    slot, made up by the next runner within --max-catchup, and alerted. A kill file already
    present at start is a warning on every start (exit 1) and an alert once a day. With --shell,
    COMMAND's words are joined with spaces and run by the shell. Exit: 0 nothing failed; 1 a job
    run by --once failed, timed out or could not start (or any, with --fail-fast), or the kill
    file was present at start; 2 bad usage or input.

    \b
    Examples:
      ztb cronish --template nightly --max-catchup 1 --timeout-sec 7200   the 24/7 nightly reports
      ztb cronish --cron "0 2 * * *" -- python train.py --resume
      ztb cronish --interval-sec 300 --once -- ztb live-status --edit
      ztb cronish --config jobs.json --state-file /var/lib/ztb/state.json
      ztb cronish --template nightly --heartbeat-url https://hc-ping.com/<uuid>
    """
    from ztbkit.core.clock import SYSTEM_CLOCK
    from ztbkit.schedule.failures import failure_notifier, notice_notifier
    from ztbkit.schedule.runner import Job, Runner, load_jobs
    from ztbkit.schedule.templates import get_template

    chosen = [o for o, v in (("--interval-sec", interval_sec), ("--cron", cron_expr), ("--template", template_name),
                             ("--config", config)) if v is not None]  # fmt: skip
    if len(chosen) != 1:
        fail(_("give exactly one of --interval-sec, --cron, --template or --config")
             + (_(" (got {options})").format(options=", ".join(chosen)) if chosen else ""))  # fmt: skip
    if config is not None:
        jobs = load_jobs(config, command, timezone=timezone, timeout_sec=timeout_sec, shell=shell)
    else:
        cmd: tuple[str, ...] | str = command
        if template_name is not None and not command:
            cmd = get_template(template_name).command
        if not cmd:
            fail(
                _("COMMAND is required (put it after --, e.g. ztb cronish --cron '0 9 * * *' -- ztb nightly)")
            )
        job_cron = get_template(template_name).cron if template_name else cron_expr
        if timeout_sec is None and template_name is not None:
            timeout_sec = get_template(template_name).timeout_sec
        jobs = [Job(name or template_name or "job", " ".join(cmd) if shell else cmd, cron=job_cron,
                    interval_sec=interval_sec, timezone=timezone, timeout_sec=timeout_sec, shell=shell)]  # fmt: skip

    def say(line: str) -> None:
        from ztbkit.core.clock import SYSTEM_CLOCK, default_tz

        click.echo(
            f"{SYSTEM_CLOCK.now().astimezone(default_tz()):%Y-%m-%d %H:%M:%S} {line}",
            err=line.startswith("warning: "),
        )

    from ztbkit.core.statedir import scheduler_state_file, ztb_dir

    state_file = state_file or scheduler_state_file()
    logs = log_dir or state_file.parent / "logs"
    on_failure = failure_notifier(ztb_dir(), say, logs.absolute())
    on_start = on_success = None
    if heartbeat_url:
        from ztbkit.notify.webhook import redact
        from ztbkit.schedule.failures import heartbeat_pings

        if not heartbeat_url.strip().startswith(("http://", "https://")):
            fail(
                "--heartbeat-url: "
                + _("expected an http(s) URL, got {value}").format(value=redact(heartbeat_url))
            )
        on_start, on_success, on_fail_ping = heartbeat_pings(heartbeat_url.strip(), say)
        alert = on_failure

        def on_failure(job: Job, record: Any) -> None:
            on_fail_ping(job, record)
            if alert is not None:
                alert(job, record)

    runner = Runner(jobs, state_file=state_file, log_dir=logs, log_max_bytes=int(log_max_mb * 2**20),
                    max_catchup=max_catchup, catchup_cooldown=catchup_cooldown_sec, grace=grace_sec,
                    stop_file=stop_file, fail_fast=fail_fast, say=say, on_failure=on_failure,
                    on_start=on_start, on_success=on_success,
                    on_notice=notice_notifier(ztb_dir(), say, SYSTEM_CLOCK.now), on_tick=_outbox_flusher(say))  # fmt: skip
    sys.exit(runner.run(once=once))


def _outbox_flusher(say: Callable[[str], None]) -> Callable[[], None]:
    """Every tick sends what waits in ztbkit's outbox, at most once a minute (a dead webhook is not
    hammered by a runner that wakes every second while another holds a lock)."""
    import time

    last = [-1e9]

    def tick() -> None:
        from ztbkit.notify.waiting import flush_waiting

        if time.monotonic() - last[0] >= 60:
            last[0] = time.monotonic()
            flush_waiting(None, say)

    return tick


@cli.command("tb-scrape")
@click.option(
    "--run-dir",
    type=LOCATION,
    default=Path("runs"),
    show_default=True,
    help="Folder (or URL: mirrored locally, only changed objects fetched) holding TensorBoard runs.",
)
@click.option("--output", type=click.Path(path_type=Path), help="Write the JSON here instead of stdout.")
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=None,
    help="Incremental cache.  [default: ~/.cache/ztbkit/tb/<hash of the run folder>.json; none when "
    "ZTB_NO_CACHE=1]",
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
    from ztbkit.core.fsio import atomic_write_text, prepare_output
    from ztbkit.core.jsonread import Problem
    from ztbkit.data.mirror import mirror
    from ztbkit.data.storage import is_remote, redact
    from ztbkit.data.tbcache import adopt_legacy_cache, caching_disabled, default_cache_path
    from ztbkit.data.tensorboard import dumps, scrape

    if output is not None and not is_remote(output):
        prepare_output(output)  # a bad --output is exit 2 before the cache is touched
    url = str(run_dir) if is_remote(run_dir) else None
    run_dir = mirror(str(run_dir)) if url else run_dir  # object storage: a local copy, fetched incrementally
    cache_path = None if no_cache else cache
    if cache_path is None and not no_cache and not caching_disabled():
        cache_path = default_cache_path(url or run_dir)  # ztbkit's own cache folder, never the bot's
        adopt_legacy_cache(run_dir, cache_path)  # read once from where earlier versions put it
    result = scrape(run_dir, cache=cache_path, tags=list(tags) or None)
    if url:
        result.problems = [
            Problem(p.path.replace(str(run_dir), redact(url)), p.reason) for p in result.problems
        ]
    warn_issues(result.problems, verbose)
    text = dumps(result) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(_("wrote {path}: {runs} run(s); read {whole} file(s) whole, {incremental} incrementally, "
                     "{unchanged} unchanged").format(path=output, runs=len(result.runs), whole=result.files_whole,
                                                     incremental=result.files_incremental,
                                                     unchanged=result.files_unchanged))  # fmt: skip


@cli.command()
@click.option("--correlation-id", required=True, help="Session to examine (its folder name).")
@ARTIFACTS_OPT
@click.option(
    "--total-steps", type=click.IntRange(min=1), default=None, help="Planned steps, for percent and ETA."
)
@SCHEDULER_STATE_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(
    correlation_id: str, artifacts_dir: Path, total_steps: int | None, state_file: Path | None, as_json: bool
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

    from ztbkit.core.statedir import scheduler_state_file
    from ztbkit.ops.doctor import run_doctor

    report = run_doctor(artifacts_dir, correlation_id, total_steps=total_steps,
                        state_file=state_file or scheduler_state_file())  # fmt: skip
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for check in report.checks:
            click.echo(check.line())
        click.echo(_("details: {path}").format(path=report.report_path))
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

    Actions: status, run (read-and-report ztb commands with paths inside the artifacts and
    outputs folders; more programs via ZTB_COMPAT_ALLOW), doctor, version. The answer is one line
    of strict ASCII JSON. Exit 0 only when the response has "success": true.

    \b
    Examples:
      echo '{"action": "version"}' | ztb compat
      echo '{"action": "run", "params": {"command": ["ztb", "trends"], "timeout": 300}}' | ztb compat
      echo '{"action": "status"}' | ztb compat --state-dir /opt/bot --artifacts-dir /opt/bot/artifacts
    """
    from ztbkit.cli.compat import dumps_response, handle, read_request
    from ztbkit.locale import use_language

    # The answer is read by a program (the bot): its words are English whatever --lang, ZTB_LANG or
    # the locale say, so it is the same bytes in every language. A ``run`` child still gets the
    # caller's language (ZTB_LANG in its environment): its output is that command's own.
    use_language("en")
    raw = read_request(sys.stdin.buffer)
    if isinstance(raw, str):
        response = {"success": False, "action": None, "error": raw}
    else:
        response = handle(raw, artifacts_dir=artifacts_dir, state_dir=state_dir, config=config)
    # ASCII-only JSON as bytes: any console code page (cp932, cp1252) prints it unchanged.
    sys.stdout.buffer.write(dumps_response(response).encode("ascii") + b"\n")
    sys.stdout.flush()
    sys.exit(0 if response.get("success") is True else 1)
