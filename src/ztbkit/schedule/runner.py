"""``ztb cronish``: a small, dependable job runner (the loop; jobs in ``job.py``, state in ``state.py``).

Policy (users depend on it):

* **Due or missed.** The newest slot is *due* when it passed at most ``grace`` seconds ago (default
  120 s, never more than half the job's period); older unrun slots are *missed*. With no state yet,
  nothing counts as missed.
* **Catch-up.** At most ``max_catchup`` missed slots run (default 0: none), the newest ones, oldest
  first, ``catchup_cooldown`` seconds apart; missed runs beyond ``max_catchup`` are skipped and said
  so. Each run gets its slot's time in ``ZTB_SCHEDULED_FOR`` so a nightly report files under the
  right day.
* **One run per slot.** A runner takes the job's lock, *then* reads the job's state, then decides;
  it keeps the lock through the catch-up cooldown. A runner that finds the lock held does not run
  the job (it says which pid holds it) and, when long-running, looks again a second later.
* **No orphans.** A job runs in its own process group; on Linux its leader dies with the runner
  (PR_SET_PDEATHSIG), on Windows a kill-on-close job object holds it and everything it starts.
  The pid file records the job and (every 2 s) its descendants by pid and start time. A runner
  that takes over the lock of a dead runner first kills what is left of them (what is still in the
  job's process group, and recorded descendants that are still those very processes: a reused pid
  is never killed), marks the run ``interrupted``, and only then decides what to run.
* **Stopping.** The kill file (``ztb.stop``), SIGINT, SIGTERM or SIGBREAK (Windows) stop the runner
  within ``stop_poll`` (0.25 s) when idle or cooling down; a running job is cancelled (its whole
  process tree), recorded as ``cancelled`` *without* advancing ``last_slot`` (the slot is missed:
  the next runner makes it up within ``max_catchup``) and alerted. No job starts after a stop
  request. A kill file already present at start is a forgotten stop (``ztbkit.schedule.stopfile``).
* **Exit codes.** 0: nothing failed. 1: with ``--once``, a job it ran failed, timed out or could not
  start (the log line and the state entry say which); with ``--fail-fast``, the same stops the
  runner; the kill file was present at start. 2: bad usage, a bad config or state path (one line naming file and key).
* **Failures** (failed, timed out, could not start) and cancelled runs are pushed to Discord/Slack
  when a webhook is configured. Job logs are capped during the run (``ztbkit.schedule.logs``).
* **Time.** The runner never trusts a sleep: it waits in short chunks, re-reading the wall clock, so
  a suspend/resume or a jump forward is noticed and the slots it skipped follow the catch-up rule.
  When the clock goes back behind the last run's slot this is logged; an interval job resumes its
  cadence from the present (it does not pause until the clock catches up), a cron job never runs a
  slot at or before one it already ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ztbkit.core.clock import SYSTEM_CLOCK, Clock
from ztbkit.core.errors import UsageError
from ztbkit.core.proc import (
    KillOnCloseJob,
    descendants,
    job_popen_kwargs,
    kill_recorded,
    kill_recorded_group,
    kill_tree,
    start_time,
)
from ztbkit.locale import _
from ztbkit.schedule.failures import failure_notifier
from ztbkit.schedule.job import Job, RunRecord, load_jobs
from ztbkit.schedule.logs import LOG_MAX_BYTES, CappedLog
from ztbkit.schedule.state import JobLock, StateStore
from ztbkit.schedule.stopfile import stop_file_left

__all__ = ["Job", "RunRecord", "Runner", "failure_notifier", "load_jobs"]

Say = Callable[[str], None]
FAILED = ("failed", "timeout", "error")


@dataclass
class Runner:
    jobs: list[Job]
    state_file: Path
    log_dir: Path
    clock: Clock = SYSTEM_CLOCK
    max_catchup: int = 0
    catchup_cooldown: float = 0.0
    grace: float = 120.0
    stop_file: Path | None = None
    fail_fast: bool = False
    poll: float = 60.0
    stop_poll: float = 0.25
    on_failure: Callable[[Job, RunRecord], None] | None = None
    on_start: Callable[[Job], None] | None = None  # e.g. the heartbeat's /start ping
    on_success: Callable[[Job, RunRecord], None] | None = None
    on_notice: Callable[[str, str], None] | None = None
    on_tick: Callable[[], None] | None = None  # after each pass over the jobs (the CLI flushes the outbox)
    say: Say = print
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    log_max_bytes: int = LOG_MAX_BYTES
    _stop: threading.Event = field(default_factory=threading.Event)
    exit_code: int = 0

    def __post_init__(self) -> None:
        if self.max_catchup < 0 or self.catchup_cooldown < 0:
            raise UsageError(_("--max-catchup and --catchup-cooldown-sec must not be negative"))
        names = [j.name for j in self.jobs]
        if len(set(names)) != len(names):
            raise UsageError(_("job names must be unique, got {names}").format(names=", ".join(names)))
        self.state = StateStore(self.state_file, self.say)
        self.lock_dir = self.state_file.parent / "locks"
        self._once = False
        self._retry_soon = False
        self._told_locked: set[tuple[str, str]] = set()
        self._told_idle: datetime | None = None
        self._told_behind: set[tuple[str, datetime]] = set()

    # -- control
    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self.say(_("stopping: {reason}").format(reason=reason))
        self._stop.set()

    def _tell(self, job: Job, text: str, **values: Any) -> None:
        """Say ``text`` (a translated message) about ``job``, its placeholders filled from ``values``."""
        self.say(f"{job.name}: " + text.format(**values))

    def stopping(self) -> bool:
        if self.stop_file is not None and not self._stop.is_set() and os.path.lexists(self.stop_file):
            self.request_stop(_("kill file {path} found").format(path=self.stop_file))
        return self._stop.is_set()

    def _install_signals(self) -> dict[int, Any]:
        """Route SIGINT/SIGTERM (and SIGBREAK on Windows) to a clean stop; returns the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        sigs = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGBREAK] if hasattr(signal, "SIGBREAK") else [])
        for sig in sigs:
            previous[sig] = signal.signal(
                sig, lambda signum, _f: self.request_stop(signal.Signals(signum).name)
            )
        return previous

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` in chunks of ``stop_poll``; False (at once) when a stop is requested."""
        end = self.clock.monotonic() + seconds
        while not self.stopping():
            left = end - self.clock.monotonic()
            if left <= 0:
                return True
            self.clock.sleep(min(left, self.stop_poll))
        return False

    # -- main loop
    def run(self, once: bool = False) -> int:
        """Run until stopped (or, with ``once``, do catch-up and anything due now, then return)."""
        self._once = once
        if self.stop_file is not None and stop_file_left(
            self.stop_file, self.state_file, self.clock.now(), self.jobs[0].zone if self.jobs else None,
            self.say, self.on_notice,
        ):  # fmt: skip
            return 1
        previous = self._install_signals()
        try:
            while not self.stopping():
                self._retry_soon = False
                for job in self.jobs:
                    if self.stopping():
                        break
                    self._process(job)
                if self.on_tick is not None and not self.stopping():
                    self.on_tick()
                if once or self.stopping():
                    break
                self._wait_for_next()
            return self.exit_code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _grace(self, job: Job, slot: datetime) -> float:
        """How late a slot may be and still count as due: --grace-sec, but never half a period or more."""
        return min(self.grace, job.period(slot) / 2)

    def _wait_for_next(self) -> None:
        now = self.clock.now()
        target = min(job.next_slot(self.state.last_slot(job.name, now) or now) for job in self.jobs)
        if self._retry_soon:  # another runner holds a lock: look again in a second (its slot is
            target = now + timedelta(seconds=1)  # already due, so waiting for it would not wait at all)
        elif target != self._told_idle:
            self._told_idle = target
            self.say(_("idle until {when} (pid {pid})").format(when=target.isoformat(), pid=os.getpid()))
        before = now
        while not self.stopping():
            now = self.clock.now()  # re-read: sleeps are not trusted
            if now < before - timedelta(seconds=2):
                back = f"{(before - now).total_seconds():.0f}"
                self.say(_("the clock went back by {s} s; re-planning").format(s=back))
                return
            before = now
            left = (target - now).total_seconds()
            if left <= 0:
                return
            self.clock.sleep(min(self.poll, left, self.stop_poll))

    def _plan(
        self, job: Job, now: datetime, last: datetime | None
    ) -> tuple[datetime, list[datetime], list[datetime], int]:
        """(the reference slot, missed slots to catch up oldest first, the due slot if any, how many skipped)."""
        if last is None:  # first start: the newest slot runs only when it is due now
            latest = job.prev_slot(now)
            due_now = (now - latest).total_seconds() <= self._grace(job, latest)
            last = latest - timedelta(seconds=1) if due_now else latest
        elif last > now and job.interval_sec is not None:
            last = job.prev_slot(now)
        slots, total = job.slots_between(last, now, self.max_catchup + 1)
        if not total:
            return last, [], [], 0
        newest = slots[-1]
        due = [newest] if (now - newest).total_seconds() <= self._grace(job, newest) else []
        missed = slots[:-1] if due else slots
        kept = missed[-self.max_catchup :] if self.max_catchup else []
        return newest, kept, due, total - len(due) - len(kept)

    def _process(self, job: Job) -> None:
        now = self.clock.now()
        last = self.state.last_slot(job.name, now)
        if last is not None and last > now and (job.name, last) not in self._told_behind:
            self._told_behind.add((job.name, last))
            how = (_("resuming the interval from now") if job.interval_sec
                   else _("waiting for the next slot after it"))  # fmt: skip
            self._tell(job, _("the clock ({now}) is behind the last run's slot {slot}; {how}"), now=now.isoformat(),
                       slot=last.isoformat(), how=how)  # fmt: skip
        reference, missed, due, skipped = self._plan(job, now, last)
        todo = missed + due
        if not todo and not skipped and reference == last:
            return  # nothing to run or record: no need for the lock
        lock = JobLock(self.lock_dir, job.name)
        if not lock.try_acquire():
            holder = lock.holder() or {}
            pid = holder.get("runner_pid", _("not recorded yet"))
            key = (job.name, todo[-1].isoformat() if todo else "")
            if key not in self._told_locked:
                self._told_locked.add(key)
                self._tell(job, _("skipped: another runner (pid {pid}) holds its lock"), pid=pid)
            self._retry_soon = True
            return
        try:
            self._take_over(job, lock)
            lock.record(fresh=True, runner_pid=os.getpid(), runner_start=start_time(os.getpid()))
            self._run_planned(job, lock)
        finally:
            lock.release()

    def _take_over(self, job: Job, lock: JobLock) -> None:
        """A pid file under a lock we just got means its runner died: kill its job before anything."""
        holder = lock.holder()
        if not holder:
            return
        pid, jpid, jstart = holder.get("runner_pid"), holder.get("job_pid"), holder.get("job_start")
        note = f"{job.name}: " + _("runner pid {pid} died holding the lock").format(pid=pid)
        if isinstance(jpid, int) and isinstance(jstart, int | float):
            killed = kill_recorded_group(jpid, float(jstart)) + kill_recorded(holder.get("descendants"))
            note += (_("; killed its job's processes {pids}").format(pids=killed) if killed
                     else _("; its job (pid {pid}) had ended").format(pid=jpid))  # fmt: skip
        self.say(note)
        now = self.clock.now()

        def interrupted(entry: dict[str, Any]) -> None:
            if entry.get("status") == "running":
                why = _("runner pid {pid} died during the run").format(pid=pid)
                entry.update(status="interrupted", detail=why)

        self.state.update(job.name, now, interrupted)

    def _run_planned(self, job: Job, lock: JobLock) -> None:
        """Under the job's lock: read the state again and run what is (still) to do."""
        now = self.clock.now()
        last = self.state.last_slot(job.name, now)
        reference, missed, due, skipped = self._plan(job, now, last)
        if skipped > 0:
            self._tell(job, _("skipped {n} missed run(s) beyond --max-catchup {max}"), n=skipped,
                       max=self.max_catchup)  # fmt: skip
        for i, slot in enumerate(missed):
            if i > 0 and self.catchup_cooldown and not self._pause(self.catchup_cooldown):
                return
            if self.stopping():
                return
            self._execute(job, slot, _("catch-up {i} of {n}").format(i=i + 1, n=len(missed)), lock)
        for slot in due:
            if self.stopping():
                return
            self._execute(job, slot, _("due"), lock)
        if not missed and not due and (last is None or reference != last):
            self.state.update(job.name, now, lambda e: e.update(last_slot=reference.isoformat()))

    # -- one run
    def _execute(self, job: Job, slot: datetime, why: str, lock: JobLock) -> RunRecord:
        started = self.clock.now()
        mark = {"status": "running", "last_start": started.isoformat(), "running_slot": slot.isoformat(),
                "runner_pid": os.getpid(), "schedule": job.describe(),  # for ztb doctor
                "stop_file": str(self.stop_file.absolute()) if self.stop_file else None}  # fmt: skip
        self.state.update(job.name, started, lambda e: e.update(mark))
        self._tell(job, _("slot {slot} started ({why})"), slot=slot.isoformat(), why=why)
        if self.on_start is not None:
            self.on_start(job)
        record = self._spawn(job, slot, started, lock)
        self._record(job, record)
        took = f"{(record.finished - record.started).total_seconds():.1f}"
        said = (_("slot {slot} {status} (exit {code}) in {s} s") if record.exit_code is not None
                else _("slot {slot} {status} in {s} s"))  # fmt: skip
        said = said.format(slot=slot.isoformat(), status=_(record.status), code=record.exit_code, s=took)  # fmt: skip
        self.say(f"{job.name}: {said}" + (f": {record.detail}" if record.detail else ""))
        if record.status == "ok" and self.on_success is not None:
            self.on_success(job, record)
        if record.status in (*FAILED, "cancelled") and self.on_failure is not None:
            self.on_failure(job, record)  # a stop mid-run would lose that night unless someone is told
        if record.status in FAILED:
            if self._once:
                self.exit_code = 1
            if self.fail_fast:
                self.exit_code = 1
                why = _("{job} {status} and --fail-fast is set")
                self.request_stop(why.format(job=job.name, status=_(record.status)))
        return record

    def _record(self, job: Job, record: RunRecord) -> RunRecord:
        """The outcome in the state; a cancelled run leaves ``last_slot``: its slot is missed (see above)."""
        period = job.period(record.slot)
        self.state.update(job.name, record.finished, lambda entry: record.record_into(entry, period))
        return record

    def _spawn(self, job: Job, slot: datetime, started: datetime, lock: JobLock) -> RunRecord:
        log_path = self.log_dir / f"{job.name}.log"
        try:
            log = CappedLog(log_path, self.log_max_bytes)
        except OSError as exc:
            why = _("cannot open its log {path}: {reason}").format(path=log_path, reason=exc.strerror or exc)
            return RunRecord(slot, "error", None, started, self.clock.now(), why)
        env = {**self.env, "ZTB_SCHEDULED_FOR": slot.isoformat(), "ZTB_JOB_NAME": job.name}
        with log:
            log.write(f"=== {started.isoformat()} {job.name} slot {slot.isoformat()}\n")
            try:  # through a pipe, not the file: the runner caps the log while the job prints
                proc = subprocess.Popen(job.argv(), shell=job.shell, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        env=env, stdin=subprocess.DEVNULL, **job_popen_kwargs())  # fmt: skip
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                log.write(f"=== cannot start: {exc}\n")
                why = _("cannot start: {reason}").format(reason=exc)
                return RunRecord(slot, "error", None, started, self.clock.now(), why)
            assert proc.stdout is not None
            log.pump(proc.stdout)
            holder: KillOnCloseJob | None = None
            if os.name == "nt":
                try:
                    holder = KillOnCloseJob(int(proc._handle))  # type: ignore[attr-defined]
                except OSError as exc:
                    self._tell(
                        job, "warning: " + _("{problem}; the job will not die with the runner"), problem=exc
                    )
            lock.record(job_pid=proc.pid, job_start=start_time(proc.pid))
            try:
                status, code, detail = self._wait(proc, job, log, lock)
            finally:
                if holder is not None:
                    holder.close()
                log.finish()
                proc.stdout.close()
            if log.rotations:
                self._tell(job, _("its log reached {size} bytes {n} time(s) during the run and was rotated (older "
                                  "parts in {name}.1-.3)"), size=self.log_max_bytes, n=log.rotations,
                           name=log_path.name)  # fmt: skip
        return RunRecord(slot, status, code, started, self.clock.now(), detail)

    def _wait(
        self, proc: subprocess.Popen[bytes], job: Job, log: CappedLog, lock: JobLock
    ) -> tuple[str, int | None, str]:
        """Wait for the job in real time (its timeout is wall time), watching for a stop request;
        every 2 s the job's descendants are recorded in the pid file for a takeover to kill."""
        t0 = seen_at = time.monotonic()
        seen: list[list[float]] = []
        while True:
            try:
                code = proc.wait(timeout=0.2)
                return ("ok" if code == 0 else "failed"), code, ""
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() - seen_at >= 2:
                seen_at = time.monotonic()
                if (family := descendants(proc.pid)) != seen:
                    seen = family
                    lock.record(descendants=family)
            if job.timeout_sec is not None and time.monotonic() - t0 > job.timeout_sec:
                kill_tree(proc.pid)
                proc.wait()
                log.write(f"=== killed after the {job.timeout_sec:g} s timeout\n")
                return "timeout", None, _("killed after the {s} s timeout").format(s=f"{job.timeout_sec:g}")
            if self.stopping():
                kill_tree(proc.pid)
                proc.wait()
                log.write("=== cancelled: the runner is stopping; this slot counts as missed\n")
                then = (_("the next runner makes it up") if self.max_catchup else
                        _("it is made up only by a runner started with --max-catchup 1 or more"))  # fmt: skip
                why = _("cancelled: the runner was asked to stop; the slot counts as missed and {then}")
                return "cancelled", None, why.format(then=then)
