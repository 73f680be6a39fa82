"""``ztb cronish``: a small, dependable job runner.

Policy (users depend on it):

* **Slots.** A cron job's slots come from croniter in the job's time zone (default Asia/Tokyo, DST
  safe); an interval job's slots are multiples of the interval since the Unix epoch, so they do
  not drift across restarts.
* **Due or missed.** The newest slot is *due* when it passed less than ``grace`` seconds ago (default
  120 s, never more than half the job's period); older unrun slots are *missed*. With no state yet,
  nothing counts as missed.
* **Catch-up.** At most ``max_catchup`` missed slots run (default 0: none), the newest ones, oldest
  first, ``catchup_cooldown`` seconds apart; missed runs beyond ``max_catchup`` are skipped and said
  so. Each run gets its slot's time in ``ZTB_SCHEDULED_FOR`` so a nightly report files under the
  right day.
* **State** per job (last slot, last start, last finish, exit code, status) is written atomically at
  every start and after every run, so catch-up after a crash or reboot counts from the true last run.
* **No overlap.** One OS file lock per job (filelock; the kernel releases it when a runner dies, so a
  dead runner's lock is taken over — its recorded pid is reported). A runner that finds the job
  locked skips that slot.
* **Stopping.** The kill file (``ztb.stop``) stops the loop between jobs; SIGINT/SIGTERM cancel a
  running job (its whole process tree), save state and exit 0.
* **Failures.** A non-zero exit or a timeout (the job's process tree is killed) is recorded and
  pushed to Discord/Slack when a webhook is configured; ``fail_fast`` stops the runner (exit 1).
* **Time.** The runner never trusts a sleep: it waits in chunks of at most ``poll`` seconds and
  re-reads the wall clock, so a suspend/resume or clock jump is noticed, and the slots it skipped
  follow the catch-up rule.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ztbkit.clock import DEFAULT_TZ_NAME, SYSTEM_CLOCK, Clock
from ztbkit.errors import InputFileError, UsageError
from ztbkit.fsio import atomic_write_json, read_json
from ztbkit.proc import kill_tree, pid_alive

LOG_MAX_BYTES = 5 * 2**20
LOG_BACKUPS = 3
Say = Callable[[str], None]


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
        if (self.cron is None) == (self.interval_sec is None):
            raise UsageError(f"job {self.name!r}: give exactly one of a cron expression or an interval")
        if self.cron is not None:
            from croniter import croniter

            if len(self.cron.split()) != 5 or not croniter.is_valid(self.cron):
                raise UsageError(f"job {self.name!r}: {self.cron!r} is not a 5-field cron expression")
        if self.interval_sec is not None and not 0 < self.interval_sec < 1e300:  # NaN/inf from a job file
            raise UsageError(f"job {self.name!r}: the interval must be positive, got {self.interval_sec}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"job {self.name!r}: unknown time zone {self.timezone!r}") from None
        if not self.command:
            raise UsageError(f"job {self.name!r}: no command to run")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

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
        if self.shell:
            return self.command if isinstance(self.command, str) else shlex.join(self.command)
        cmd = list(self.command) if not isinstance(self.command, str) else shlex.split(self.command)
        if cmd and cmd[0] == "ztb":  # no PATH needed under systemd or Task Scheduler
            return [sys.executable, "-m", "ztbkit", *cmd[1:]]
        return cmd


@dataclass(slots=True)
class RunRecord:
    slot: datetime
    status: str  # ok | failed | timeout | cancelled | skipped-locked | error
    exit_code: int | None
    started: datetime
    finished: datetime
    detail: str = ""


class StateStore:
    """The runner's state file: {"jobs": {name: {...}}}, rewritten atomically."""

    def __init__(self, path: str | os.PathLike[str], say: Say) -> None:
        self.path = Path(path)
        self.jobs: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            read = read_json(self.path)
            if read.ok and isinstance(read.value, dict) and isinstance(read.value.get("jobs"), dict):
                self.jobs = read.value["jobs"]
            else:
                backup = self.path.with_name(f"{self.path.name}.unreadable")
                os.replace(self.path, backup)
                say(f"warning: {self.path} was unreadable ({read.problem or 'unknown shape'}); "
                    f"kept as {backup.name}, starting fresh")  # fmt: skip

    def get(self, name: str) -> dict[str, Any]:
        return self.jobs.setdefault(name, {})

    def last_slot(self, name: str) -> datetime | None:
        raw = self.jobs.get(name, {}).get("last_slot")
        try:
            return datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            return None

    def save(self) -> None:
        atomic_write_json(self.path, {"version": 1, "jobs": self.jobs})


def _rotate(log: Path) -> None:
    """Keep the per-job log under LOG_MAX_BYTES: job.log → job.log.1 → … job.log.3."""
    if not log.exists() or log.stat().st_size < LOG_MAX_BYTES:
        return
    for i in range(LOG_BACKUPS, 0, -1):
        src = log if i == 1 else log.with_name(f"{log.name}.{i - 1}")
        if src.exists():
            os.replace(src, log.with_name(f"{log.name}.{i}"))


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
    on_failure: Callable[[Job, RunRecord], None] | None = None
    say: Say = print
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _stop: threading.Event = field(default_factory=threading.Event)
    exit_code: int = 0

    def __post_init__(self) -> None:
        if self.max_catchup < 0 or self.catchup_cooldown < 0:
            raise UsageError("--max-catchup and --catchup-cooldown-sec must not be negative")
        names = [j.name for j in self.jobs]
        if len(set(names)) != len(names):
            raise UsageError(f"job names must be unique, got {', '.join(names)}")
        self.state = StateStore(self.state_file, self.say)
        self.lock_dir = self.state_file.parent / "locks"

    # -- control
    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self.say(f"stopping: {reason}")
        self._stop.set()

    def stopping(self) -> bool:
        if self.stop_file is not None and self.stop_file.exists() and not self._stop.is_set():
            self.request_stop(f"kill file {self.stop_file} found")
        return self._stop.is_set()

    def _install_signals(self) -> dict[int, Any]:
        """Route SIGINT/SIGTERM to a clean stop; returns the previous handlers to put back."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(
                sig, lambda signum, _frame: self.request_stop(signal.Signals(signum).name)
            )
        return previous

    # -- main loop
    def run(self, once: bool = False) -> int:
        """Run until stopped (or, with ``once``, do catch-up and anything due now, then return)."""
        previous = self._install_signals()
        try:
            return self._run(once)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, once: bool) -> int:
        now = self.clock.now()
        for job in self.jobs:  # first start: nothing is missed yet
            if self.state.last_slot(job.name) is None:
                latest = job.prev_slot(now)
                due_now = (now - latest).total_seconds() <= self._grace(job, latest)
                start = latest - timedelta(seconds=1) if due_now else latest
                self.state.get(job.name)["last_slot"] = start.isoformat()
        self.state.save()
        while not self.stopping():
            for job in self.jobs:
                if self.stopping():
                    break
                self._process(job)
            if once or self.stopping():
                break
            self._wait_for_next()
        self.state.save()
        return self.exit_code

    def _grace(self, job: Job, slot: datetime) -> float:
        """How late a slot may be and still count as due: --grace-sec, but never a whole period."""
        return min(self.grace, (job.next_slot(slot) - slot).total_seconds() / 2)

    def _wait_for_next(self) -> None:
        now = self.clock.now()
        target = min(job.next_slot(self.state.last_slot(job.name) or now) for job in self.jobs)
        while not self.stopping():
            left = (target - self.clock.now()).total_seconds()  # re-read: sleeps are not trusted
            if left <= 0:
                return
            self.clock.sleep(min(self.poll, left))

    def _process(self, job: Job) -> None:
        now = self.clock.now()
        last = self.state.last_slot(job.name) or now
        slots, total = job.slots_between(last, now, self.max_catchup + 1)
        if not total:
            return
        newest = slots[-1]
        due = [newest] if (now - newest).total_seconds() <= self._grace(job, newest) else []
        missed = slots[:-1] if due else slots
        missed_kept = missed[-self.max_catchup :] if self.max_catchup else []
        skipped = total - len(due) - len(missed_kept)
        if skipped > 0:
            self.say(f"{job.name}: skipped {skipped} missed run(s) beyond --max-catchup {self.max_catchup}")
        for i, slot in enumerate(missed_kept):
            if self.stopping():
                return
            if i > 0 and self.catchup_cooldown:
                self.clock.sleep(self.catchup_cooldown)
            self._execute(job, slot, f"catch-up {i + 1} of {len(missed_kept)}")
        for slot in due:
            if not self.stopping():
                self._execute(job, slot, "due")
        if not missed_kept and not due:
            self.state.get(job.name)["last_slot"] = (slots[-1] if slots else now).isoformat()
            self.state.save()

    # -- one run
    def _execute(self, job: Job, slot: datetime, why: str) -> RunRecord:
        from filelock import FileLock, Timeout

        self.lock_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_dir / f"{job.name}.lock"), timeout=0)
        pid_file = self.lock_dir / f"{job.name}.pid"
        started = self.clock.now()
        try:
            lock.acquire()
        except Timeout:
            holder = pid_file.read_text().strip() if pid_file.exists() else "?"
            record = RunRecord(
                slot, "skipped-locked", None, started, started, f"another runner (pid {holder}) has it"
            )
            self.say(
                f"{job.name}: slot {slot.isoformat()} skipped: another runner (pid {holder}) is running it"
            )
            return self._record(job, record)
        try:
            if pid_file.exists():
                old = pid_file.read_text().strip()
                if old.isdigit() and int(old) != os.getpid() and not pid_alive(int(old)):
                    self.say(f"{job.name}: took over a stale lock left by dead runner pid {old}")
            pid_file.write_text(str(os.getpid()))
            entry = self.state.get(job.name)
            entry.update(status="running", last_start=started.isoformat(), running_slot=slot.isoformat(),
                         runner_pid=os.getpid())  # fmt: skip
            self.state.save()
            self.say(f"{job.name}: slot {slot.isoformat()} started ({why})")
            record = self._spawn(job, slot, started)
        finally:
            lock.release()
        self._record(job, record)
        took = (record.finished - record.started).total_seconds()
        self.say(f"{job.name}: slot {slot.isoformat()} {record.status}"
                 + (f" (exit {record.exit_code})" if record.exit_code is not None else "")
                 + f" in {took:.1f} s" + (f": {record.detail}" if record.detail else ""))  # fmt: skip
        if record.status in ("failed", "timeout", "error"):
            if self.on_failure is not None:
                self.on_failure(job, record)
            if self.fail_fast:
                self.exit_code = 1
                self.request_stop(f"{job.name} {record.status} and --fail-fast is set")
        return record

    def _record(self, job: Job, record: RunRecord) -> RunRecord:
        entry = self.state.get(job.name)
        entry.pop("running_slot", None)
        entry.update(last_slot=record.slot.isoformat(), last_finish=record.finished.isoformat(),
                     exit_code=record.exit_code, status=record.status, detail=record.detail,
                     runs=int(entry.get("runs", 0)) + (record.status != "skipped-locked"))  # fmt: skip
        self.state.save()
        return record

    def _spawn(self, job: Job, slot: datetime, started: datetime) -> RunRecord:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{job.name}.log"
        _rotate(log_path)
        env = {**self.env, "ZTB_SCHEDULED_FOR": slot.isoformat(), "ZTB_JOB_NAME": job.name}
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"=== {started.isoformat()} {job.name} slot {slot.isoformat()}\n")
            log.flush()
            try:
                proc = subprocess.Popen(job.argv(), shell=job.shell, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL, start_new_session=os.name == "posix")  # fmt: skip
            except OSError as exc:
                return RunRecord(slot, "error", None, started, self.clock.now(), f"cannot start: {exc}")
            status, code, detail = self._wait(proc, job, log)
        return RunRecord(slot, status, code, started, self.clock.now(), detail)

    def _wait(self, proc: subprocess.Popen[bytes], job: Job, log: TextIO) -> tuple[str, int | None, str]:
        """Wait for the job in real time (its timeout is wall time), watching for a stop request."""
        t0 = time.monotonic()
        while True:
            try:
                code = proc.wait(timeout=0.2)
                return ("ok" if code == 0 else "failed"), code, ""
            except subprocess.TimeoutExpired:
                pass
            if job.timeout_sec is not None and time.monotonic() - t0 > job.timeout_sec:
                kill_tree(proc.pid)
                proc.wait()
                log.write(f"=== killed after the {job.timeout_sec:g} s timeout\n")
                return "timeout", None, f"killed after the {job.timeout_sec:g} s timeout"
            if self._stop.is_set():
                kill_tree(proc.pid)
                proc.wait()
                log.write("=== cancelled: the runner is stopping\n")
                return "cancelled", None, "cancelled: the runner was asked to stop"


def _job_from(
    doc: Mapping[str, Any], where: str, command: tuple[str, ...], defaults: Mapping[str, Any]
) -> Job:
    from ztbkit.schedule.templates import get_template

    if not isinstance(doc, Mapping):
        raise InputFileError(f"{where}: a job must be an object")
    name = doc.get("name") or doc.get("template") or "job"
    raw_sched = doc.get("schedule")
    sched: Mapping[str, Any] = raw_sched if isinstance(raw_sched, Mapping) else {}
    cron = doc.get("cron") or sched.get("linux")
    if doc.get("template") and not cron and not doc.get("interval_sec"):
        cron = get_template(str(doc["template"])).cron
    cmd: Any = (
        doc.get("command") or (["ztb", *doc["ztb"]] if isinstance(doc.get("ztb"), list) else None) or command
    )
    if doc.get("template") and not cmd:
        cmd = get_template(str(doc["template"])).command
    shell = bool(doc.get("shell", defaults.get("shell", False)))
    if isinstance(cmd, list) and all(isinstance(c, str) for c in cmd):
        cmd = tuple(cmd)
    elif not (isinstance(cmd, str) and shell) and not isinstance(cmd, tuple):
        raise InputFileError(
            f"{where}: 'command' must be a list of strings (or a string with \"shell\": true)"
        )
    try:
        return Job(
            name=str(name), command=cmd, cron=cron, interval_sec=doc.get("interval_sec"),
            timezone=str(doc.get("timezone") or sched.get("timezone") or defaults.get("timezone", DEFAULT_TZ_NAME)),
            timeout_sec=doc.get("timeout_sec", defaults.get("timeout_sec")), shell=shell,
        )  # fmt: skip
    except UsageError as exc:
        raise InputFileError(f"{where}: {exc}") from None


def load_jobs(path: str | os.PathLike[str], command: tuple[str, ...] = (), **defaults: Any) -> list[Job]:
    """Jobs from a config file: ``{"jobs": [...]}``, or a single job — a schedule template's JSON works."""
    read = read_json(path)
    if not read.ok:
        raise InputFileError(f"--config: {read.problem}")
    doc = read.value
    if isinstance(doc, dict) and isinstance(doc.get("jobs"), list):
        if not doc["jobs"]:
            raise InputFileError(f"{path}: 'jobs' is empty")
        return [_job_from(j, f"{path}: jobs[{i}]", command, defaults) for i, j in enumerate(doc["jobs"])]
    if isinstance(doc, dict):
        return [_job_from(doc, str(path), command, defaults)]
    raise InputFileError(f'{path}: expected a job object or {{"jobs": [...]}}')


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
