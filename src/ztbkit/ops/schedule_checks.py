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
    return f"{hours:.1f} h" if hours >= 1 else f"{delta.total_seconds() / 60:.0f} min"


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
        say("FAIL", f"last run {status}: {entry.get('detail') or 'exit ' + str(entry.get('exit_code'))}")
    elif status == "cancelled":
        say("WARN", f"last run cancelled (slot {entry.get('missed_slot', '?')} waits to be made up)")
    stop = entry.get("stop_file")
    if isinstance(stop, str) and os.path.lexists(stop):
        say("FAIL", f"the kill file {stop} is present: no job runs until it is removed")
    job = _job_from(name, entry)
    started = parse_time(entry.get("last_start"))
    if status == "running" and started is not None:
        took = now - started
        limit = job.timeout_sec if job is not None else None
        if limit is not None and took > timedelta(seconds=limit + 60):
            say("FAIL", f"running for {_ago(took)}, past its {limit:g} s timeout (is its runner alive?)")
        elif limit is None and took > HUNG_NO_TIMEOUT:
            say("WARN", f"running for {_ago(took)} with no timeout (--timeout-sec)")
    if job is not None:
        due = job.prev_slot(now - LATE)
        ok_slot = parse_time(entry.get("last_ok_slot"))
        running_it = status == "running" and parse_time(entry.get("running_slot")) == due
        if (ok_slot is None or ok_slot < due) and not running_it:
            last = ok_slot.isoformat() if ok_slot else "never"
            say("WARN", f"missed slot {due.isoformat()}: no successful run for it (last success: {last})")
    if not lines:
        lines.append(f"{name}: {status or 'never run'}, on time")
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
        return Check("schedule", "WARN" if aside else "OK", f"no scheduler state at {path}", aside)
    if not read.ok or not isinstance(read.value, dict) or not isinstance(read.value.get("jobs"), dict):
        return Check("schedule", "FAIL", str(read.problem or f"{path}: 'jobs' missing or not an object"))
    now = ctx.clock.now()
    worst, details = "OK", []
    for name, entry in read.value["jobs"].items():
        why = entry_problem(entry, now)
        if why is not None:
            worst = "WARN" if worst == "OK" else worst
            details.append(f"{path}: jobs.{name}: {why}")
            continue
        status, lines = _judge(str(name), entry, now)
        details += lines
        if ("OK", "WARN", "FAIL").index(status) > ("OK", "WARN", "FAIL").index(worst):
            worst = status
    if aside:
        worst = "WARN" if worst == "OK" else worst
        details += [f"set aside next to the state file: {a}" for a in aside]
    bad = [d for d in details if not d.endswith(", on time")]
    reason = bad[0] if bad else f"{len(read.value['jobs'])} job(s) on time"
    return Check("schedule", worst, reason + (f" (+{len(bad) - 1} more; see details)" if len(bad) > 1 else ""),
                 details)  # fmt: skip


def outbox_backlog(ctx: Context) -> Check:
    """Alerts waiting in ztbkit's outbox (found by ``ztbkit.core.statedir``) and how old the oldest is."""
    from ztbkit.core.statedir import ztb_dir
    from ztbkit.notify.outbox import Outbox, OutboxError
    from ztbkit.notify.waiting import anything_waiting
    from ztbkit.schedule.state import parse_time

    folder = ztb_dir(None)
    if not anything_waiting(folder) and not (folder / "ztb-outbox-dead.jsonl").is_file():
        return Check("outbox", "OK", f"nothing waiting in {folder}")
    try:
        outbox = Outbox(folder)
        waiting = outbox.pending()
    except (OutboxError, OSError) as exc:
        return Check("outbox", "FAIL", f"{folder}: cannot read the outbox ({exc})")
    dead = outbox.dead_path
    dead_count = sum(1 for ln in dead.read_bytes().split(b"\n") if ln.strip()) if dead.is_file() else 0
    if not waiting:
        if dead_count:
            return Check("outbox", "WARN", f"{dead_count} alert(s) refused for good in {dead}")
        return Check("outbox", "OK", f"nothing waiting in {folder}")
    oldest = parse_time(waiting[0].get("created_at"))
    age = ctx.clock.now() - oldest if oldest else None
    level = "FAIL" if age is not None and age > OUTBOX_OLD else "WARN"
    reason = (f"{len(waiting)} alert(s) waiting in {outbox.path}, the oldest for {_ago(age) if age else '?'}"
              f" (last error: {waiting[0].get('last_error') or 'not tried yet'}); `ztb notify --flush-outbox`")  # fmt: skip
    return Check(
        "outbox",
        level,
        reason,
        [f"{e['id'][:8]} {e['created_at']} {e.get('last_error', '')}" for e in waiting],
    )
