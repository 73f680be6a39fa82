"""Schedule templates: the same schedule as a 5-field cron line (Linux) and as what Windows Task
Scheduler really takes — ``schtasks`` arguments (``windows``) and a task-XML trigger
(``windows_trigger_xml``) — in Asia/Tokyo.

The template JSON is also a valid ``ztb cronish --config`` job file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ztbkit.clock import DEFAULT_TZ_NAME
from ztbkit.errors import UsageError


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    description: str
    cron: str
    command: tuple[str, ...] = ()


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("daily", "Every day at 09:00", "0 9 * * *"),
        Template("hourly", "Every hour on the hour", "0 * * * *"),
        Template("weekly", "Every Monday at 09:00", "0 9 * * 1"),
        Template("monthly", "On the 1st of every month at 09:00", "0 9 1 * *"),
        Template("training-daily", "Every day at 02:00 (the training window)", "0 2 * * *"),
        Template("backup-hourly", "Every hour at :30", "30 * * * *"),
        Template(
            "nightly",
            "The nightly reports (ztb nightly) every day at 06:30",
            "30 6 * * *",
            ("ztb", "nightly"),
        ),
    )
}
_DAYS = {"1": ("MON", "Monday")}


def _windows(t: Template) -> tuple[str, str]:
    """(schtasks arguments, task-XML trigger) for the template's cron line."""
    minute, hour, dom, _, dow = t.cron.split()
    start = f"2025-01-01T{int(hour) if hour != '*' else 0:02d}:{int(minute):02d}:00"
    st = f"{int(hour) if hour != '*' else 0:02d}:{int(minute):02d}"
    if hour == "*":
        repeat = "<Repetition><Interval>PT1H</Interval><Duration>P1D</Duration></Repetition>"
        return (f"/SC HOURLY /MO 1 /ST {st}",
                f"<CalendarTrigger>{repeat}<StartBoundary>{start}</StartBoundary><Enabled>true</Enabled>"
                "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>")  # fmt: skip
    if dow != "*":
        short, long = _DAYS[dow]
        return (f"/SC WEEKLY /D {short} /ST {st}",
                f"<CalendarTrigger><StartBoundary>{start}</StartBoundary><Enabled>true</Enabled><ScheduleByWeek>"
                f"<DaysOfWeek><{long} /></DaysOfWeek><WeeksInterval>1</WeeksInterval></ScheduleByWeek>"
                "</CalendarTrigger>")  # fmt: skip
    if dom != "*":
        months = "".join(f"<{m} />" for m in ("January", "February", "March", "April", "May", "June", "July",
                                                "August", "September", "October", "November", "December"))  # fmt: skip
        return (f"/SC MONTHLY /D {int(dom)} /ST {st}",
                f"<CalendarTrigger><StartBoundary>{start}</StartBoundary><Enabled>true</Enabled><ScheduleByMonth>"
                f"<DaysOfMonth><Day>{int(dom)}</Day></DaysOfMonth><Months>{months}</Months></ScheduleByMonth>"
                "</CalendarTrigger>")  # fmt: skip
    return (f"/SC DAILY /ST {st}",
            f"<CalendarTrigger><StartBoundary>{start}</StartBoundary><Enabled>true</Enabled>"
            "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>")  # fmt: skip


def template_json(name: str) -> dict[str, Any]:
    """The template as FORMATS.md's schedule template JSON (plus ``command`` for job templates)."""
    t = get_template(name)
    schtasks, trigger = _windows(t)
    schedule: dict[str, Any] = {
        "description": t.description, "linux": t.cron, "windows": schtasks, "windows_trigger_xml": trigger,
        "timezone": DEFAULT_TZ_NAME,
    }  # fmt: skip
    doc: dict[str, Any] = {"template": t.name, "schedule": schedule}
    if t.command:
        doc["command"] = list(t.command)
    return doc


def get_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise UsageError(f"--template: unknown template {name!r} (valid: {', '.join(TEMPLATES)})")
    return TEMPLATES[name]
