"""``ztb doctor``'s scheduler checks, as a sysadmin would look: is every job on time, is anything
stuck, is anything waiting to be said.

Policy (users depend on it). The state file is found the way ``ztb cronish`` finds it
(``ztbkit.core.statedir``), never relative to an unrelated working folder. Per job, from the state
file (which records each job's schedule, timeout and kill file when it runs):

* **last status** ``failed``/``timeout``/``error``/``interrupted``: FAIL; ``cancelled`` (a stop
  mid-run; the slot waits to be made up): WARN.
* **on time**: the newest slot that passed more than ``LATE`` (15 min) ago must have a successful
  run; otherwise WARN "missed slot …" — so a missed 06:30 nightly is a WARN the same morning,
  whatever the job's period, not after two days.
* **stuck**: a run ``running`` longer than its timeout (plus a minute): FAIL; with no timeout,
  longer than a day: WARN.
* **kill file** present: FAIL (nothing runs until it is removed).
* **bad entries** (wrong types, a future ``last_slot``) and entries already set aside
  (``*.bad.json``, ``*.unreadable``): WARN naming the file and key.

The outbox (``outbox`` check): alerts waiting — WARN with how many and how old the oldest is; FAIL
when the oldest waits more than a day; dead letters (refused for good) WARN.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ztbkit.core.errors import shown
from ztbkit.locale import _
from ztbkit.ops.checks import Check, Context

LATE = timedelta(minutes=15)  # cron ticks every 10 min: a slot this late may still be starting
HUNG_NO_TIMEOUT = timedelta(days=1)
OUTBOX_OLD = timedelta(days=1)


def _job_from(name: str, entry: dict[str, Any]) -> Any:
    """The job's schedule as recorded in its state entry (None when it was never recorded)."""
    from ztbkit.core.errors import ZtbError
    from ztbkit.schedule.job import Job

    sched = entry.get("schedule")
    if not isinstance(sched, dict):
        return None
    try:
        return Job(name, ("recorded",), cron=sched.get("cron"), interval_sec=sched.get("interval_sec"),
                   timezone=sched.get("timezone") or "Asia/Tokyo", timeout_sec=sched.get("timeout_sec"))  # fmt: skip
    except (ZtbError, ValueError, TypeError):
        return None


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 1:
        return _("{n} h").format(n=f"{hours:.1f}")
    return _("{n} min").format(n=f"{delta.total_seconds() / 60:.0f}")


def _judge(name: str, entry: dict[str, Any], now: datetime) -> tuple[str, list[str]]:
    """(worst status, detail lines) for one job's entry."""
    import os

    from ztbkit.schedule.state import parse_time

    worst, lines = "OK", []

    def say(level: str, text: str) -> None:
        nonlocal worst
        lines.append(f"{name}: {text}")
        if ("OK", "WARN", "FAIL").index(level) > ("OK", "WARN", "FAIL").index(worst):
            worst = level

    status = entry.get("status")
    if status in ("failed", "timeout", "error", "interrupted"):
        detail = entry.get("detail") or _("exit {code}").format(code=entry.get("exit_code"))
        say("FAIL", _("last run {status}: {detail}").format(status=status, detail=detail))
    elif status == "cancelled":
        say("WARN", _("last run cancelled (slot {slot} waits to be made up)").format(
            slot=entry.get("missed_slot", "?")))  # fmt: skip
    stop = entry.get("stop_file")
    if isinstance(stop, str) and os.path.lexists(stop):
        say("FAIL", _("the kill file {path} is present: no job runs until it is removed").format(path=stop))
    job = _job_from(name, entry)
    started = parse_time(entry.get("last_start"))
    if status == "running" and started is not None:
        took = now - started
        limit = job.timeout_sec if job is not None else None
        if limit is not None and took > timedelta(seconds=limit + 60):
            say("FAIL", _("running for {took}, past its {limit} s timeout (is its runner alive?)").format(
                took=_ago(took), limit=f"{limit:g}"))  # fmt: skip
        elif limit is None and took > HUNG_NO_TIMEOUT:
            say("WARN", _("running for {took} with no timeout (--timeout-sec)").format(took=_ago(took)))
    if job is not None:
        due = job.prev_slot(now - LATE)
        ok_slot = parse_time(entry.get("last_ok_slot"))
        running_it = status == "running" and parse_time(entry.get("running_slot")) == due
        if (ok_slot is None or ok_slot < due) and not running_it:
            last = ok_slot.isoformat() if ok_slot else _("never")
            say("WARN", _("missed slot {slot}: no successful run for it (last success: {last})").format(
                slot=due.isoformat(), last=last))  # fmt: skip
    if not lines:  # worst stays OK: the one line says the job is on time
        lines.append(_("{name}: {status}, on time").format(name=name, status=status or _("never run")))
    return worst, lines


def scheduler_schedule(ctx: Context) -> Check:
    """Each job judged against its own schedule (see the module docstring)."""
    from ztbkit.core.jsonread import read_json_if_exists
    from ztbkit.schedule.state import entry_problem

    path = ctx.state_file
    read = read_json_if_exists(path)
    aside = sorted(
        p.name for p in path.parent.glob(f"{path.name}.*") if p.name.endswith((".bad.json", ".unreadable"))
    )
    if read is None:
        return Check("schedule", "WARN" if aside else "OK", _("no scheduler state at {path}").format(path=path),
                     aside)  # fmt: skip
    if not read.ok or not isinstance(read.value, dict) or not isinstance(read.value.get("jobs"), dict):
        missing = _("{path}: 'jobs' missing or not an object").format(path=path)
        return Check("schedule", "FAIL", str(read.problem or missing))
    now = ctx.clock.now()
    worst, details, bad = "OK", [], []
    for name, entry in read.value["jobs"].items():
        why = entry_problem(entry, now)
        if why is not None:
            worst = "WARN" if worst == "OK" else worst
            details.append(f"{path}: jobs.{name}: {shown(why)}")
            bad.append(details[-1])
            continue
        status, lines = _judge(str(name), entry, now)
        details += lines
        bad += lines if status != "OK" else []
        if ("OK", "WARN", "FAIL").index(status) > ("OK", "WARN", "FAIL").index(worst):
            worst = status
    if aside:
        worst = "WARN" if worst == "OK" else worst
        details += [_("set aside next to the state file: {name}").format(name=a) for a in aside]
        bad += details[-len(aside) :]
    jobs = len(read.value["jobs"])
    reason = bad[0] if bad else _("{n} job(s) on time").format(n=jobs)
    more = _(" (+{n} more; see details)").format(n=len(bad) - 1) if len(bad) > 1 else ""
    return Check("schedule", worst, reason + more, details)


def outbox_backlog(ctx: Context) -> Check:
    """Alerts waiting in ztbkit's outbox (found by ``ztbkit.core.statedir``) and how old the oldest is."""
    from ztbkit.core.statedir import ztb_dir
    from ztbkit.notify.outbox import Outbox, OutboxError
    from ztbkit.notify.waiting import anything_waiting
    from ztbkit.schedule.state import parse_time

    folder = ztb_dir(None)
    if not anything_waiting(folder) and not (folder / "ztb-outbox-dead.jsonl").is_file():
        return Check("outbox", "OK", _("nothing waiting in {folder}").format(folder=folder))
    try:
        outbox = Outbox(folder)
        waiting = outbox.pending()
    except (OutboxError, OSError) as exc:
        return Check(
            "outbox", "FAIL", _("{folder}: cannot read the outbox ({error})").format(folder=folder, error=exc)
        )
    dead = outbox.dead_path
    dead_count = sum(1 for ln in dead.read_bytes().split(b"\n") if ln.strip()) if dead.is_file() else 0
    if not waiting:
        if dead_count:
            return Check("outbox", "WARN", _("{n} alert(s) refused for good in {path}").format(n=dead_count,
                                                                                          path=dead))  # fmt: skip
        return Check("outbox", "OK", _("nothing waiting in {folder}").format(folder=folder))
    oldest = parse_time(waiting[0].get("created_at"))
    age = ctx.clock.now() - oldest if oldest else None
    level = "FAIL" if age is not None and age > OUTBOX_OLD else "WARN"
    reason = _("{n} alert(s) waiting in {path}, the oldest for {age} (last error: {error}); "
               "`ztb notify --flush-outbox`").format(n=len(waiting), path=outbox.path, age=_ago(age) if age else "?",
                                                     error=waiting[0].get("last_error") or _("not tried yet"))  # fmt: skip
    return Check(
        "outbox",
        level,
        reason,
        [f"{e['id'][:8]} {e['created_at']} {e.get('last_error', '')}" for e in waiting],
    )
