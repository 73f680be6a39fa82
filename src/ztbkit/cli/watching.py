"""ztb watch, silence and digest (the watch layer: ``ztbkit.watch``)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from ztbkit.cli.base import STATE_DIR_OPT, cli, fail
from ztbkit.core.statedir import ztb_dir
from ztbkit.locale import _

CONFIG_OPT = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None, envvar="ZTB_WATCH_CONFIG",
    help="watch.toml: thresholds, [routes] urgent/info webhooks, [heartbeat] url (README, Watching the bot). "
    "Env ZTB_WATCH_CONFIG.  [default: the documented defaults]",
)  # fmt: skip


def _say(line: str) -> None:
    from ztbkit.core.ids import safe_repr

    with contextlib.suppress(OSError):  # the reader of our output went away: the evaluation goes on
        click.echo(safe_repr(line), err=line.startswith("warning: "))


@cli.command()
@CONFIG_OPT
@STATE_DIR_OPT
@click.option("--once", is_flag=True, help="Evaluate once and exit (for cron, cronish or a systemd timer).")
@click.option("--interval-sec", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Without --once: evaluate this often until SIGTERM/Ctrl-C.")  # fmt: skip
@click.option(
    "--dry-run", is_flag=True, help="Evaluate and print what would be sent; write and send nothing."
)
def watch(config_path: Path | None, state_dir: Path, once: bool, interval_sec: float, dry_run: bool) -> None:
    """Watch the live bot, training and ztbkit itself; send what changed (firing, repeat, resolved).

    Each rule (live_stale, live_daily_loss, training_failed, scheduler_missed, disk_low, ...) fires
    after holding for its for_sec, is sent once, repeated every repeat_interval_sec (4 h) while it
    lasts, and resolved once when it clears. State, silences and the outbox live in
    <state-dir>/.ztb/; the state is written before anything is sent. With [heartbeat] url, each
    evaluation that worked pings it (url/fail when alerts are not getting through), so an outside
    monitor tells you when the PC goes dark. Exit: 0 ok; 1 a message or the heartbeat did not get
    through (messages wait in the outbox); 2 bad usage or config.

    \b
    Examples:
      ztb watch --once --state-dir /opt/bot                       every minute from cron
      ztb watch --config /opt/bot/watch.toml --state-dir /opt/bot    a loop (systemd Restart=always)
      ztb watch --once --dry-run                                  what would be sent now
    """
    from ztbkit.watch.config import load_config
    from ztbkit.watch.engine import evaluate_once, route, watch_loop

    cfg = load_config(config_path, state_dir)
    if not dry_run and route(cfg, "urgent") is None:
        fail(_("no webhook to send alerts to: set [routes] urgent in --config, ZTB_DISCORD_WEBHOOK or "
               "SLACK_WEBHOOK_URL (or use --dry-run)"))  # fmt: skip
    if once:
        sys.exit(evaluate_once(cfg, say=_say, dry_run=dry_run, interval_sec=None).exit_code)
    sys.exit(watch_loop(cfg, interval_sec, say=_say, dry_run=dry_run))


@cli.group(cls=type(cli))
def silence() -> None:
    """Mute an alert for a while: add, list, expire (same --state-dir as ztb watch).

    \b
    Examples:
      ztb silence add live_stale --for 2h --comment "moving the bot to the new PC"
      ztb silence add training_stalled:20250929T120000Z --for 1d
      ztb silence list
      ztb silence expire 3f9a1c2e
    """


@silence.command("add")
@click.argument("matcher", metavar="RULE[:SUBJECT]")
@click.option(
    "--for", "duration", required=True, metavar="DURATION", help="How long: 30m, 2h, 1d, 1h30m (max 90d)."
)
@click.option("--comment", default="", help="Why (shown by ztb silence list and the digest).")
@STATE_DIR_OPT
def silence_add(matcher: str, duration: str, comment: str, state_dir: Path) -> None:
    """Silence RULE (every subject) or RULE:SUBJECT for --for. Expires on its own."""
    from ztbkit.core.clock import SYSTEM_CLOCK, default_tz
    from ztbkit.watch.silences import add_silence, parse_duration

    now = SYSTEM_CLOCK.now()
    s = add_silence(ztb_dir(state_dir), matcher, parse_duration(duration), comment, now)
    ends = datetime_jst(s.ends, default_tz())
    _say(
        _("silence {id}: {matcher} until {ends} (ztb silence expire {id} ends it sooner)").format(
            id=s.id, matcher=s.matcher, ends=ends
        )
    )


@silence.command("list")
@STATE_DIR_OPT
@click.option("--all", "show_all", is_flag=True, help="Also the silences that ended in the last 7 days.")
def silence_list(state_dir: Path, show_all: bool) -> None:
    """The active silences: id, RULE[:SUBJECT], end time (JST), comment."""
    from ztbkit.core.clock import SYSTEM_CLOCK, default_tz
    from ztbkit.watch.silences import load_silences

    now = SYSTEM_CLOCK.now()
    shown = [s for s in load_silences(ztb_dir(state_dir)) if show_all or s.active(now)]
    for s in shown:
        state = _("active") if s.active(now) else _("ended")
        until = _("until {ends}").format(ends=datetime_jst(s.ends, default_tz()))
        _say(f"{s.id}  {s.matcher:<40} {_pad(state, 6)} {until}  {s.comment}")
    if not shown:
        _say(_("no active silences"))


@silence.command("expire")
@click.argument("silence_id", metavar="ID")
@STATE_DIR_OPT
def silence_expire(silence_id: str, state_dir: Path) -> None:
    """End silence ID now; an alert it held back that still fires is sent at the next evaluation."""
    from ztbkit.core.clock import SYSTEM_CLOCK
    from ztbkit.watch.silences import expire_silence

    s = expire_silence(ztb_dir(state_dir), silence_id, SYSTEM_CLOCK.now())
    _say(_("silence {id} ({matcher}) expired").format(id=s.id, matcher=s.matcher))


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a kanji takes two), so the list's columns line up."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - used)


def datetime_jst(iso: str, tz: object) -> str:
    from datetime import datetime, tzinfo

    assert isinstance(tz, tzinfo)
    return f"{datetime.fromisoformat(iso).astimezone(tz):%Y-%m-%d %H:%M JST}"


@cli.command()
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="day", show_default=True)
@click.option("--date", "date_text", metavar="YYYY-MM-DD", default=None,
              help="The (last) day of the period.  [default: yesterday, JST]")  # fmt: skip
@CONFIG_OPT
@STATE_DIR_OPT
@click.option("--dry-run", is_flag=True, help="Print the digest and its payload; send nothing.")
def digest(
    period: str, date_text: str | None, config_path: Path | None, state_dir: Path, dry_run: bool
) -> None:
    """The all-clear digest: P&L per pair, sessions finished/failed, cost, alerts, silences.

    Sent to the [routes] info webhook (else the usual precedence) and printed; "all clear" when
    nothing fired. Reads what ztb watch recorded in <state-dir>/.ztb/. Exit 0 sent; 1 not delivered
    (it waits in the outbox); 2 bad usage.

    \b
    Examples:
      ztb digest --state-dir /opt/bot                     yesterday (JST)
      ztb digest --period week --date 2025-10-31 --dry-run
    """
    import json
    from datetime import timedelta

    from ztbkit.core.clock import SYSTEM_CLOCK, default_tz, report_date
    from ztbkit.watch.config import load_config
    from ztbkit.watch.digest import build_digest, digest_alert, period_days

    now = SYSTEM_CLOCK.now()
    when = report_date(date_text) if date_text else now.astimezone(default_tz()).date() - timedelta(days=1)
    first, last = period_days(period, when)
    cfg = load_config(config_path, state_dir)
    d = build_digest(cfg.ztb_dir, first, last, now)
    for line in d.lines():
        _say(line)
    from ztbkit.notify import payload_for
    from ztbkit.watch.engine import route

    hook = route(cfg, "info")
    alert = digest_alert(d, now)
    if dry_run:
        click.echo(
            json.dumps(payload_for(hook.service if hook else "discord", alert), indent=2, ensure_ascii=False)
        )
        return
    if hook is None:
        fail(_("no webhook to send the digest to: set [routes] info in --config, ZTB_DISCORD_WEBHOOK or "
               "SLACK_WEBHOOK_URL (or use --dry-run)"), 1)  # fmt: skip
    from ztbkit.notify import Outbox, send_with_outbox
    from ztbkit.notify.delivery import result_line

    report = send_with_outbox(hook, payload_for(hook.service, alert), Outbox(cfg.ztb_dir))
    _say(_("digest: {result}").format(result=result_line(report.result, hook)))
    sys.exit(0 if report.result.delivered else 1)
