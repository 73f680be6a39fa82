"""A scheduled job: its schedule (cron in a zone, or a fixed interval), its command, and the job file.

Policy (users depend on it):

* A cron job's slots come from croniter in the job's time zone (default Asia/Tokyo, DST safe); an
  interval job's slots are multiples of the interval since the Unix epoch, so they do not drift
  across restarts.
* Every value is checked when the job is built: a wrong type, an absurd number or an unknown
  (misspelt) key is one line naming the file and key (exit 2), never a traceback mid-run. Intervals
  are 1 s to 366 days, timeouts up to 30 days; a job name is one path component
  (``ztbkit.core.ids``), so its lock, pid file and log stay inside the state folder.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ztbkit.core.clock import DEFAULT_TZ_NAME
from ztbkit.core.errors import N_, InputFileError, UsageError
from ztbkit.core.ids import problem_with_component, safe_repr
from ztbkit.core.jsonread import read_json
from ztbkit.core.values import is_finite_number
from ztbkit.schedule.state import parse_time

MAX_INTERVAL_SEC = 366 * 86400
MAX_TIMEOUT_SEC = 30 * 86400
#: The keys a job object may have (a schedule template's JSON is one: ``template``, ``schedule``...).
JOB_KEYS = frozenset({"name", "template", "schedule", "cron", "interval_sec", "timezone", "timeout_sec",
                      "command", "ztb", "shell"})  # fmt: skip


def _seconds(
    value: Any, job: str, key: str, lowest: float, highest: float, *, strict_low: bool = False
) -> float:
    """``value`` as seconds, or UsageError naming the job and ``key``: numbers only (no strings, no bools)."""
    ok = is_finite_number(value)
    if ok:
        ok = (value > lowest if strict_low else value >= lowest) and value <= highest
    if not ok:
        values = {"job": repr(job), "key": repr(key), "low": f"{lowest:g}", "high": f"{highest:.0f}",
                  "value": repr(value)}  # fmt: skip
        if strict_low:
            raise UsageError("job {job}: {key} must be a number of seconds, more than {low} and at most "
                             "{high} (got {value})", **values)  # fmt: skip
        raise UsageError("job {job}: {key} must be a number of seconds, at least {low} and at most "
                         "{high} (got {value})", **values)  # fmt: skip
    return float(value)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    command: tuple[str, ...] | str
    cron: str | None = None
    interval_sec: float | None = None
    timezone: str = DEFAULT_TZ_NAME
    timeout_sec: float | None = None
    shell: bool = False

    def __post_init__(self) -> None:
        why = problem_with_component(self.name) if isinstance(self.name, str) else N_("is not text")
        if why is not None:
            raise UsageError("name {name} {why}: a job name must be a single file name",
                             name=repr(safe_repr(str(self.name))), why=why)  # fmt: skip
        job = repr(self.name)
        if (self.cron is None) == (self.interval_sec is None):
            raise UsageError("job {job}: give exactly one of a cron expression or an interval", job=job)
        if self.cron is not None:
            from croniter import croniter

            if not isinstance(self.cron, str):
                raise UsageError('job {job}: \'cron\' must be text like "0 9 * * *" (got {value})',
                                 job=job, value=repr(self.cron))  # fmt: skip
            if len(self.cron.split()) != 5 or not croniter.is_valid(self.cron):
                raise UsageError(
                    "job {job}: {cron} is not a 5-field cron expression", job=job, cron=repr(self.cron)
                )
            from croniter import CroniterBadDateError

            try:  # "0 0 31 2 *" parses, but has no date: refuse it now, not with a traceback mid-run
                it = croniter(self.cron, datetime(2026, 1, 1, tzinfo=UTC))
                it.get_next(datetime), it.get_prev(datetime)
            except CroniterBadDateError:
                raise UsageError(
                    "job {job}: {cron} never fires (no such date)", job=job, cron=repr(self.cron)
                ) from None
        if self.interval_sec is not None:
            number = isinstance(self.interval_sec, int | float) and not isinstance(self.interval_sec, bool)
            if number and self.interval_sec <= 0:
                raise UsageError("job {job}: the interval must be positive, got {value}", job=job,
                                 value=self.interval_sec)  # fmt: skip
            _seconds(self.interval_sec, self.name, "interval_sec", 1, MAX_INTERVAL_SEC)
        if self.timeout_sec is not None:
            _seconds(self.timeout_sec, self.name, "timeout_sec", 0, MAX_TIMEOUT_SEC, strict_low=True)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise UsageError(
                "job {job}: unknown time zone {zone}", job=job, zone=repr(self.timezone)
            ) from None
        if not self.command:
            raise UsageError("job {job}: no command to run", job=job)

    def describe(self) -> dict[str, Any]:
        """The schedule as the state file keeps it, so ``ztb doctor`` can judge the job by its own
        schedule and timeout without the job file."""
        return {"cron": self.cron, "interval_sec": self.interval_sec, "timezone": self.timezone,
                "timeout_sec": self.timeout_sec}  # fmt: skip

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def period(self, slot: datetime) -> float:
        """Seconds from ``slot`` to the slot after it."""
        return (self.next_slot(slot) - slot).total_seconds()

    def _cron(self, start: datetime) -> Any:
        from croniter import croniter

        return croniter(self.cron or "", start.astimezone(self.zone))

    def next_slot(self, after: datetime) -> datetime:
        """The first slot strictly after ``after``."""
        if self.interval_sec is not None:
            step = self.interval_sec
            return datetime.fromtimestamp((after.timestamp() // step + 1) * step, UTC)
        return self._cron(after).get_next(datetime)  # type: ignore[no-any-return]

    def prev_slot(self, at: datetime) -> datetime:
        """The latest slot at or before ``at``."""
        if self.interval_sec is not None:
            return datetime.fromtimestamp(at.timestamp() // self.interval_sec * self.interval_sec, UTC)
        return self._cron(at + timedelta(seconds=1)).get_prev(datetime)  # type: ignore[no-any-return]

    def slots_between(self, after: datetime, until: datetime, newest: int) -> tuple[list[datetime], int]:
        """(up to ``newest`` of the slots in (after, until], oldest first; how many there are in all)."""
        if self.interval_sec is not None:
            step = self.interval_sec
            first = after.timestamp() // step + 1
            last = until.timestamp() // step
            count = max(0, int(last - first + 1))
            keep = [datetime.fromtimestamp((last - i) * step, UTC) for i in range(min(count, newest))]
            return keep[::-1], count
        it = self._cron(until + timedelta(seconds=1))
        found: list[datetime] = []
        count = 0
        while count < 10_000:  # counting further back than that is of no use to anybody
            slot = it.get_prev(datetime)
            if slot <= after:
                break
            count += 1
            if len(found) < newest:
                found.append(slot)
        return found[::-1], count

    def argv(self) -> list[str] | str:
        """What Popen gets: a shell string with ``shell``, else an argv (``ztb`` → this Python's ztbkit)."""
        if self.shell:
            return self.command if isinstance(self.command, str) else " ".join(self.command)
        cmd = list(self.command) if not isinstance(self.command, str) else shlex.split(self.command)
        if cmd and cmd[0] == "ztb":  # no PATH needed under systemd or Task Scheduler
            return [sys.executable, "-m", "ztbkit", *cmd[1:]]
        return cmd


def _job_from(
    doc: Mapping[str, Any], where: str, command: tuple[str, ...], defaults: Mapping[str, Any]
) -> Job:
    from ztbkit.schedule.templates import get_template

    if not isinstance(doc, Mapping):
        raise InputFileError("{where}: a job must be an object", where=where)
    if unknown := sorted(set(doc) - JOB_KEYS, key=str):
        # A misspelt key ("timout_sec") would otherwise be ignored and the job run without its bound.
        raise InputFileError("{where}: unknown key {key} (known: {known})", where=where, key=repr(unknown[0]),
                             known=", ".join(sorted(JOB_KEYS)))  # fmt: skip
    for key, kind in (("name", str), ("template", str), ("timezone", str), ("cron", str), ("shell", bool)):
        if key in doc and not isinstance(doc[key], kind):
            if kind is bool:
                raise InputFileError("{where}: {key} must be true or false (got {value})", where=where,
                                     key=repr(key), value=repr(doc[key]))  # fmt: skip
            raise InputFileError("{where}: {key} must be text (got {value})", where=where, key=repr(key),
                                 value=repr(doc[key]))  # fmt: skip
    name = doc.get("name") or doc.get("template") or "job"
    raw_sched = doc.get("schedule")
    sched: Mapping[str, Any] = raw_sched if isinstance(raw_sched, Mapping) else {}
    cron = doc.get("cron") or sched.get("linux")
    if doc.get("template") and not cron and doc.get("interval_sec") is None:
        cron = get_template(str(doc["template"])).cron
    cmd: Any = (
        doc.get("command") or (["ztb", *doc["ztb"]] if isinstance(doc.get("ztb"), list) else None) or command
    )
    if doc.get("template") and not cmd:
        cmd = get_template(str(doc["template"])).command
    shell = doc.get("shell", defaults.get("shell", False))
    timeout = doc.get("timeout_sec", defaults.get("timeout_sec"))
    if timeout is None and doc.get("template"):
        timeout = get_template(str(doc["template"])).timeout_sec  # a template's bound (nightly: 2 h)
    if isinstance(cmd, list) and all(isinstance(c, str) for c in cmd):
        cmd = tuple(cmd)
    elif not (isinstance(cmd, str) and shell) and not isinstance(cmd, tuple):
        raise InputFileError('{where}: \'command\' must be a list of strings (or a string with "shell": true)',
                             where=where)  # fmt: skip
    try:
        return Job(
            name=str(name), command=cmd, cron=cron, interval_sec=doc.get("interval_sec"),
            timezone=doc.get("timezone") or sched.get("timezone") or defaults.get("timezone", DEFAULT_TZ_NAME),
            timeout_sec=timeout, shell=bool(shell),
        )  # fmt: skip
    except UsageError as exc:
        raise InputFileError("{where}: {error}", where=where, error=exc) from None


def load_jobs(path: str | os.PathLike[str], command: tuple[str, ...] = (), **defaults: Any) -> list[Job]:
    """Jobs from a config file: ``{"jobs": [...]}``, or a single job — a schedule template's JSON works."""
    read = read_json(path)
    if not read.ok:
        raise InputFileError("--config: {problem}", problem=read.problem)
    doc = read.value
    if isinstance(doc, dict) and isinstance(doc.get("jobs"), list):
        if not doc["jobs"]:
            raise InputFileError("{path}: 'jobs' is empty", path=path)
        return [_job_from(j, f"{path}: jobs[{i}]", command, defaults) for i, j in enumerate(doc["jobs"])]
    if isinstance(doc, dict):
        return [_job_from(doc, str(path), command, defaults)]
    raise InputFileError('{path}: expected a job object or {{"jobs": [...]}}', path=path)


@dataclass(slots=True)
class RunRecord:
    """One run of a job in one slot, as the state file and the failure alert record it."""

    slot: datetime
    status: str  # ok | failed | timeout | cancelled | error
    exit_code: int | None
    started: datetime
    finished: datetime
    detail: str = ""

    def record_into(self, entry: dict[str, Any], period_sec: float | None) -> None:
        """This run's outcome in its job's state entry. A cancelled run does not advance ``last_slot``
        (its slot counts as missed and is made up within ``--max-catchup``); ``missed_slot`` says which."""
        entry.pop("running_slot", None)
        entry["runs"] = int(entry.get("runs", 0)) + 1
        if self.status == "cancelled":
            if parse_time(entry.get("last_slot")) is None:  # a first run: mark just before its slot
                entry["last_slot"] = (self.slot - timedelta(seconds=1)).isoformat()  # so it is missed
            entry.update(last_finish=self.finished.isoformat(), exit_code=None, status="cancelled",
                         detail=self.detail, missed_slot=self.slot.isoformat())  # fmt: skip
            return
        entry.pop("missed_slot", None)
        if self.status == "ok":
            entry["last_ok_slot"] = self.slot.isoformat()
        entry.update(last_slot=self.slot.isoformat(), last_finish=self.finished.isoformat(),
                     exit_code=self.exit_code, status=self.status, detail=self.detail,
                     period_sec=period_sec)  # fmt: skip
