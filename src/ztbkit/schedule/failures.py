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
        alert = Alert(f"Scheduled job {job.name} {record.status}", "ERROR",
                      record.detail or f"exit code {record.exit_code}",
                      (Field("Slot", record.slot.isoformat(), True), Field("Log", f"{job.name}.log", True)),
                      footer="ztb cronish", timestamp=record.finished)  # fmt: skip
        report = send_with_outbox(hook, payload_for(hook.service, alert), Outbox(state_dir))
        say(f"{job.name}: failure alert {result_line(report.result, hook)}")

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
