"""``ztb doctor``: one-shot triage of a session, in-process, continuing past failures.

Checks, in order: validate_artifacts, collect_last_errors, progress_eta, disk_health, then what an
operator needs in practice: the Jupyter kernel for reports starts, the webhook is configured (checked
without posting, URL redacted), the scheduler state is fresh and its lock not stale, TensorBoard logs
parse, ztb watch evaluates (firing alerts, silences, last heartbeat). Each is OK/WARN/FAIL with a
one-line reason; a check that crashes is a FAIL with its reason, never a crash of the doctor. stdout
ends with ``Doctor Summary: OK=n, WARN=n, FAIL=n``; details go to ``<session>/reports/doctor.txt``
(atomically).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ztbkit.core.clock import SYSTEM_CLOCK, Clock, default_tz
from ztbkit.core.errors import ArtifactsNotFoundError
from ztbkit.core.fsio import atomic_write_text
from ztbkit.core.ids import check_component, check_inside, safe_repr
from ztbkit.locale import _
from ztbkit.ops.checks import Check, Context, Host
from ztbkit.ops.host_checks import (
    disk_health,
    kernel_starts,
    scheduler_state,
    tensorboard_logs,
    webhook_configured,
)
from ztbkit.ops.schedule_checks import outbox_backlog, scheduler_schedule
from ztbkit.ops.session_checks import collect_last_errors, progress_eta, validate_artifacts
from ztbkit.ops.watch_checks import watch_state

CHECKS: tuple[Callable[[Context], Check], ...] = (
    validate_artifacts, collect_last_errors, progress_eta, disk_health, kernel_starts, webhook_configured,
    scheduler_state, scheduler_schedule, outbox_backlog, tensorboard_logs, watch_state,
)  # fmt: skip


@dataclass(slots=True)
class DoctorReport:
    correlation_id: str
    checks: list[Check]
    report_path: Path | None = None

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.checks) for s in ("OK", "WARN", "FAIL")}

    def summary_line(self) -> str:
        c = self.counts()
        return f"Doctor Summary: OK={c['OK']}, WARN={c['WARN']}, FAIL={c['FAIL']}"

    def to_json(self) -> dict[str, Any]:
        return {"correlation_id": self.correlation_id, "checks": [asdict(c) for c in self.checks],
                "summary": self.counts(), "report": str(self.report_path) if self.report_path else None}  # fmt: skip

    def text(self, now: datetime) -> str:
        lines = [
            f"ztb doctor — session {safe_repr(self.correlation_id)} — {now.astimezone(default_tz()):%Y-%m-%d %H:%M:%S %Z}",
            "",
        ]
        for c in self.checks:
            lines.append(c.line())
            lines += [f"    {safe_repr(d)}" for d in c.details]
        return "\n".join([*lines, "", self.summary_line()]) + "\n"


def run_doctor(
    artifacts_dir: str | os.PathLike[str],
    correlation_id: str,
    *,
    total_steps: int | None = None,
    state_file: str | os.PathLike[str] | None = None,
    checks: tuple[Callable[[Context], Check], ...] = CHECKS,
    clock: Clock = SYSTEM_CLOCK,
    host: Host | None = None,
) -> DoctorReport:
    """Run every check in order and write reports/doctor.txt. Raises only for an unknown session (exit 2)."""
    folder = Path(artifacts_dir) / check_component(correlation_id, "--correlation-id")
    if not folder.is_dir():
        raise ArtifactsNotFoundError(_("--correlation-id: no session folder {folder}").format(folder=folder))
    report_path = check_inside(folder / "reports" / "doctor.txt", artifacts_dir)  # before any work
    if state_file is None:  # where ztb cronish keeps it (ztbkit.core.statedir), not the working folder
        from ztbkit.core.statedir import scheduler_state_file

        state_file = scheduler_state_file()
    ctx = Context(folder, correlation_id, total_steps, Path(state_file), clock, host=host or Host())
    results = []
    for check in checks:
        name = check.__name__
        try:
            results.append(check(ctx))
        except Exception as exc:  # a crashing check is a FAIL with its reason, never a crash of the doctor
            where = traceback.extract_tb(exc.__traceback__)[-1]
            results.append(Check(name, "FAIL", f"check crashed: {type(exc).__name__}: {exc}",
                                 [f"at {Path(where.filename).name}:{where.lineno}"]))  # fmt: skip
    report = DoctorReport(correlation_id, results)
    report.report_path = report_path
    atomic_write_text(report.report_path, report.text(clock.now()))
    return report
