"""Schedule templates: the same schedule as a 5-field cron line (Linux) and as what Windows Task
Scheduler really takes — ``schtasks`` arguments (``windows``) and a task-XML trigger
(``windows_trigger_xml``) — in Asia/Tokyo.

Zones (users depend on it): ``linux`` is Tokyo wall time. cron reads its fields in the *system*
zone, so the JSON also carries ``crontab``: the line with ``CRON_TZ=Asia/Tokyo`` (cronie honours
it; Debian's cron does not) and ``linux_utc``, the same schedule for a machine whose zone is UTC
(null when the day would shift across a month boundary). Windows' ``/ST`` and ``StartBoundary`` are
the PC's local time: right on a PC set to Tokyo time. ``ztb cronish`` itself always computes the
slots in the job's zone, whatever the machine's zone; ``notes`` says all this in the JSON.

The template JSON is also a valid ``ztb cronish --config`` job file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ztbkit.core.clock import DEFAULT_TZ_NAME
from ztbkit.core.errors import UsageError
from ztbkit.locale import N_, _


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    description: str
    cron: str
    command: tuple[str, ...] = ()
    timeout_sec: float | None = None  # a hung job is killed after this long (the nightly: 2 h)


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("daily", N_("Every day at 09:00"), "0 9 * * *"),
        Template("hourly", N_("Every hour on the hour"), "0 * * * *"),
        Template("weekly", N_("Every Monday at 09:00"), "0 9 * * 1"),
        Template("monthly", N_("On the 1st of every month at 09:00"), "0 9 1 * *"),
        Template("training-daily", N_("Every day at 02:00 (the training window)"), "0 2 * * *"),
        Template("backup-hourly", N_("Every hour at :30"), "30 * * * *"),
        Template(
            "nightly",
            N_("The nightly reports (ztb nightly) every day at 06:30"),
            "30 6 * * *",
            ("ztb", "nightly"),
            7200,
        ),
        Template(
            "watch",
            N_("ztb watch --once every minute (alerts, heartbeat)"),
            "* * * * *",
            ("ztb", "watch", "--once"),
        ),
        Template(
            "digest-daily",
            N_("The all-clear digest (ztb digest) every day at 21:00"),
            "0 21 * * *",
            ("ztb", "digest"),
        ),
    )
}
_DAYS = {"1": ("MON", "Monday")}


def _windows(t: Template) -> tuple[str, str]:
    """(schtasks arguments, task-XML trigger) for the template's cron line."""
    minute, hour, dom, _month, dow = t.cron.split()
    if minute == "*":  # every minute: a daily trigger repeated every minute, all day
        repeat = "<Repetition><Interval>PT1M</Interval><Duration>P1D</Duration></Repetition>"
        return ("/SC MINUTE /MO 1",
                f"<CalendarTrigger>{repeat}<StartBoundary>2025-01-01T00:00:00</StartBoundary><Enabled>true</Enabled>"
                "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>")  # fmt: skip
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


TOKYO_UTC_OFFSET_H = 9  # Asia/Tokyo has had no daylight saving time since 1951


def cron_in_utc(cron: str) -> str | None:
    """A Tokyo-time template line as the same instants in UTC, or None when it cannot be written."""
    minute, hour, dom, month, dow = cron.split()
    if hour == "*":
        return cron
    h = int(hour) - TOKYO_UTC_OFFSET_H
    if h >= 0:
        return f"{minute} {h} {dom} {month} {dow}"
    if dom != "*":
        return None  # the 1st 02:00 JST is the last day of the previous month in UTC: not one cron line
    day = "*" if dow == "*" else str((int(dow) - 1) % 7)
    return f"{minute} {h + 24} {dom} {month} {day}"


def template_json(name: str) -> dict[str, Any]:
    """The template as FORMATS.md's schedule template JSON (plus ``command`` for job templates)."""
    t = get_template(name)
    schtasks, trigger = _windows(t)
    schedule: dict[str, Any] = {
        "description": _(t.description), "linux": t.cron, "windows": schtasks, "windows_trigger_xml": trigger,
        "timezone": DEFAULT_TZ_NAME,
        "crontab": f"CRON_TZ={DEFAULT_TZ_NAME}\n{t.cron} {' '.join(t.command) or '<command>'}",
        "linux_utc": cron_in_utc(t.cron),
        "notes": [
            _("cron reads 'linux' in the machine's zone: on a machine not set to Asia/Tokyo use 'crontab' "
              "(CRON_TZ, cronie) or 'linux_utc' (a UTC machine), or run `ztb cronish --once` every 10 "
              "minutes, which computes the slots in Asia/Tokyo itself"),
            _("Windows: /ST and StartBoundary are the PC's local time (06:30 means 06:30 JST only on a PC "
              "set to Tokyo time)"),
        ],
    }  # fmt: skip
    doc: dict[str, Any] = {"template": t.name, "schedule": schedule}
    if t.command:
        doc["command"] = list(t.command)
    if t.timeout_sec is not None:
        doc["timeout_sec"] = t.timeout_sec
    return doc


def get_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise UsageError(
            "--template: unknown template {name} (valid: {names})",
            name=repr(name),
            names=", ".join(TEMPLATES),
        )
    return TEMPLATES[name]
