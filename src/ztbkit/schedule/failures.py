"""Failed scheduled runs pushed to Discord/Slack (the notify package's public API does the sending)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ztbkit.core.errors import UsageError

if TYPE_CHECKING:
    from ztbkit.schedule.job import Job, RunRecord

Say = Callable[[str], None]


def failure_notifier(state_dir: Path, say: Say) -> Callable[[Job, RunRecord], None] | None:
    """Push failed runs to Discord/Slack when a webhook is configured (undelivered ones wait in the outbox).

    Called on every tick: with no webhook configured it imports nothing beyond the standard library
    (the sending half, and requests with it, is imported only when there is somewhere to send)."""
    from ztbkit.notify.webhook import resolve_webhook

    try:
        hook = resolve_webhook()
    except UsageError as exc:
        say(f"warning: failures will not be pushed: {exc}")
        return None
    if hook is None:
        return None

    def push(job: Job, record: RunRecord) -> None:
        from ztbkit.notify import Alert, Field, Outbox, payload_for, send_with_outbox
        from ztbkit.notify.delivery import result_line

        alert = Alert(f"Scheduled job {job.name} {record.status}", "ERROR",
                      record.detail or f"exit code {record.exit_code}",
                      (Field("Slot", record.slot.isoformat(), True), Field("Log", f"{job.name}.log", True)),
                      footer="ztb cronish", timestamp=record.finished)  # fmt: skip
        report = send_with_outbox(hook, payload_for(hook.service, alert), Outbox(state_dir))
        say(f"{job.name}: failure alert {result_line(report.result, hook)}")

    return push
