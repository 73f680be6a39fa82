"""Failed scheduled runs pushed to Discord/Slack (the notify package's public API does the sending)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ztbkit.core.errors import UsageError
from ztbkit.locale import N_, _

if TYPE_CHECKING:
    from ztbkit.schedule.job import Job, RunRecord

Say = Callable[[str], None]
#: A failed run's status words (RunRecord.status), for the catalogue: the alert shows them translated.
STATUS_WORDS = (N_("failed"), N_("timeout"), N_("cancelled"), N_("error"))


def failure_notifier(state_dir: Path, say: Say) -> Callable[[Job, RunRecord], None] | None:
    """Push failed runs to Discord/Slack when a webhook is configured (undelivered ones wait in the outbox)."""
    from ztbkit.notify import Alert, Field, Outbox, payload_for, resolve_webhook, send_with_outbox
    from ztbkit.notify.delivery import result_line

    try:
        hook = resolve_webhook()
    except UsageError as exc:
        say(f"warning: failures will not be pushed: {exc}")
        return None
    if hook is None:
        return None

    def push(job: Job, record: RunRecord) -> None:
        alert = Alert(_("Scheduled job {job} {status}").format(job=job.name, status=_(record.status)), "ERROR",
                      record.detail or (_("exit code {code}").format(code=record.exit_code)
                                        if record.exit_code is not None else _(record.status)),
                      (Field(_("Slot"), record.slot.isoformat(), True), Field(_("Log"), f"{job.name}.log", True)),
                      footer="ztb cronish", timestamp=record.finished)  # fmt: skip
        report = send_with_outbox(hook, payload_for(hook.service, alert), Outbox(state_dir))
        say(f"{job.name}: failure alert {result_line(report.result, hook)}")

    return push
