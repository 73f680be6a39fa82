"""Failed, timed-out and cancelled scheduled runs (and a forgotten kill file) pushed to Discord/Slack
(the notify package's public API does the sending).

Policy (users depend on it): the alert names the job, its status, the slot, and the log file with
its folder. A cancelled run says that its slot will be made up by the next runner. An alert that
cannot be queued in the outbox (read-only or full disk) is still sent; when sending fails too, the
runner's output says ``LOST`` in one line (never "kept").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit.core.errors import UsageError
from ztbkit.locale import N_, _

if TYPE_CHECKING:
    from ztbkit.schedule.job import Job, RunRecord

Say = Callable[[str], None]
#: A run's status words (RunRecord.status), for the catalogue: the alert and the runner's lines show
#: them translated; the state file keeps the English word.
STATUS_WORDS = (N_("failed"), N_("timeout"), N_("cancelled"), N_("error"), N_("ok"), N_("interrupted"))


def _sender(state_dir: Path, say: Say) -> Callable[[Any], str] | None:
    """A function sending one Alert and returning the one-line outcome; None with no webhook.

    Called on every tick: with no webhook configured it imports nothing beyond the standard library
    (the sending half, and requests with it, is imported only when there is somewhere to send)."""
    from ztbkit.notify.webhook import resolve_webhook

    try:
        hook = resolve_webhook()
    except UsageError as exc:
        say("warning: " + _("failures will not be pushed: {problem}").format(problem=exc))
        return None
    if hook is None:
        return None

    def send(alert: Any) -> str:
        # Imported here, not above: a configured webhook is no reason for an idle tick to load requests.
        from ztbkit.notify import Outbox, OutboxError, payload_for, send_with_outbox
        from ztbkit.notify.delivery import result_line

        try:
            outbox: Outbox | None = Outbox(state_dir, warn=lambda m: say(f"warning: {m}"))
        except OutboxError as exc:
            say("warning: " + _("{problem}; sending the alert without the outbox").format(problem=exc))
            outbox = None
        report = send_with_outbox(hook, payload_for(hook.service, alert), outbox)
        return result_line(report.result, hook, kept=report.queued)

    return send


def failure_notifier(
    state_dir: Path, say: Say, log_dir: Path | None = None
) -> Callable[[Job, RunRecord], None] | None:
    """Push failed/timed-out/cancelled runs to Discord/Slack when a webhook is configured."""
    send = _sender(state_dir, say)
    if send is None:
        return None

    def push(job: Job, record: RunRecord) -> None:
        from ztbkit.notify import Alert, Field

        log = str((log_dir / f"{job.name}.log") if log_dir is not None else f"{job.name}.log")
        level = "WARN" if record.status == "cancelled" else "ERROR"
        alert = Alert(_("Scheduled job {job} {status}").format(job=job.name, status=_(record.status)), level,
                      record.detail or (_("exit code {code}").format(code=record.exit_code)
                                        if record.exit_code is not None else _(record.status)),
                      (Field(_("Slot"), record.slot.isoformat(), True), Field(_("Log"), log, True)),
                      footer="ztb cronish", timestamp=record.finished)  # fmt: skip
        said = _("cancel alert {result}") if record.status == "cancelled" else _("failure alert {result}")
        say(f"{job.name}: " + said.format(result=send(alert)))

    return push


def notice_notifier(
    state_dir: Path, say: Say, now: Callable[[], datetime]
) -> Callable[[str, str], None] | None:
    """Push a scheduler notice (e.g. the kill file left in place) when a webhook is configured."""
    send = _sender(state_dir, say)
    if send is None:
        return None
    from ztbkit.notify import Alert

    def push(title: str, detail: str) -> None:
        result = send(Alert(title, "WARN", detail, (), footer="ztb cronish", timestamp=now()))
        say(_("alert {result}").format(result=result))

    return push


def heartbeat_pings(url: str, say: Say) -> tuple[Callable[[Job], None], Callable[[Job, RunRecord], None],
                                                  Callable[[Job, RunRecord], None]]:  # fmt: skip
    """(on_start, on_success, on_failure) pinging ``url/start``, ``url`` and ``url/fail`` (healthchecks.io
    convention). One attempt each, at most 10 s, the URL redacted in what is said."""
    from ztbkit.notify.heartbeat import ping

    def start(job: Job) -> None:
        say(f"{job.name}: {ping(url, 'start').line()}")

    def success(job: Job, record: RunRecord) -> None:
        say(f"{job.name}: {ping(url).line()}")

    def failure(job: Job, record: RunRecord) -> None:
        say(f"{job.name}: {ping(url, 'fail').line()}")

    return start, success, failure
