"""One run of a cronish job, in process (``ztbkit.schedule.runner`` docstring): what the job gets
(``ZTB_SCHEDULED_FOR``, ``ZTB_JOB_NAME``, its own process group, stderr in its log), what the state
says during and after it, the exact log lines, exit codes with ``--once`` and ``--fail-fast``, and a
job log that cannot be opened (a folder, a device, a FIFO: an ``error`` run, never a hang).
Expected values are written here; time is a FakeClock, the jobs are real processes.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ztbkit.core.clock import FakeClock
from ztbkit.core.errors import UsageError
from ztbkit.schedule.runner import Job, Runner

SLOT = "2025-10-04T09:00:00+09:00"
NOW = datetime(2025, 10, 4, 0, 0, 30, tzinfo=UTC)  # 09:00:30 in Tokyo: the 09:00 slot is due


def seed(tmp_path: Path, **entry: Any) -> Path:
    state = tmp_path / "state" / "s.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": 1, "jobs": {"daily": {"last_slot": "2025-10-03T09:00:00+09:00", **entry}}}
    state.write_text(json.dumps(doc), encoding="utf-8")
    return state


def job(code: str, **kw: Any) -> Job:
    return Job("daily", (sys.executable, "-c", code), cron="0 9 * * *", **kw)


def run(tmp_path: Path, j: Job, log_dir: Path | None = None, **kw: Any) -> tuple[Runner, int, list[str]]:
    lines: list[str] = []
    r = Runner([j], state_file=tmp_path / "state" / "s.json", log_dir=log_dir or tmp_path / "logs",
               clock=FakeClock(NOW), stop_file=tmp_path / "ztb.stop", say=lines.append, **kw)  # fmt: skip
    return r, r.run(once=True), lines


def entry(tmp_path: Path) -> dict[str, Any]:
    doc = json.loads((tmp_path / "state" / "s.json").read_text(encoding="utf-8"))
    return dict(doc["jobs"]["daily"])


def assert_error_run(tmp_path: Path, lines: list[str], detail: str, *, runs: int) -> None:
    """The runner's two lines for an error run, and its state entry: error, no exit code, the detail."""
    assert lines == [f"daily: slot {SLOT} started (due)", f"daily: slot {SLOT} error in 0.0 s: {detail}"]
    e = entry(tmp_path)
    assert (e["status"], e["exit_code"], e["detail"], e["runs"], e["last_slot"]) == (
        "error",
        None,
        detail,
        runs,
        SLOT,
    )


def test_what_the_job_sees_and_what_the_state_says_during_and_after(tmp_path: Path) -> None:
    import psutil

    seed(tmp_path, runs=4)
    out = tmp_path / "seen.json"
    pid_file = tmp_path / "state" / "locks" / "daily.pid"
    code = (
        "import json, os, sys, time, psutil\n"
        f"state = json.load(open({str(tmp_path / 'state' / 's.json')!r}, encoding='utf-8'))['jobs']['daily']\n"
        "deadline, lock = time.monotonic() + 30, {}\n"
        "while 'job_start' not in lock and time.monotonic() < deadline:  # recorded just after the start\n"
        f"    lock = json.load(open({str(pid_file)!r}, encoding='utf-8'))\n"
        "    time.sleep(0.05)\n"
        "seen = {'state': state, 'for': os.environ['ZTB_SCHEDULED_FOR'], 'name': os.environ['ZTB_JOB_NAME'],\n"
        "        'pid': os.getpid(), 'pgid': os.getpgid(0), 'sid': os.getsid(0), 'lock': lock,\n"
        "        'started': psutil.Process().create_time(),\n"
        "        'stdin_is_null': os.path.samestat(os.fstat(0), os.stat(os.devnull)),\n"
        "        'stdout_blocking': os.get_blocking(1)}\n"
        f"json.dump(seen, open({str(out)!r}, 'w', encoding='utf-8'))\n"
        "print('to stdout', flush=True); print('to stderr', file=sys.stderr, flush=True)\n"
    )
    # The runner's own stdin is a pipe nobody writes to (a terminal, under cron): the job must not get it.
    read_end, write_end = os.pipe()
    saved_stdin = os.dup(0)
    os.dup2(read_end, 0)
    try:
        _, rc, lines = run(tmp_path, job(code))
    finally:
        os.dup2(saved_stdin, 0)
        for fd in (saved_stdin, read_end, write_end):
            os.close(fd)
    assert rc == 0
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert (seen["for"], seen["name"]) == (SLOT, "daily")
    assert seen["stdin_is_null"] is True and seen["stdout_blocking"] is True  # an ordinary, blocking log file
    # The pid file names the runner and, from just after the start, the job: each by pid and start time.
    assert seen["lock"] == {
        "runner_pid": os.getpid(),
        "runner_start": pytest.approx(psutil.Process().create_time(), abs=0.05),
        "job_pid": seen["pid"],
        "job_start": pytest.approx(seen["started"], abs=0.05),
    }
    recorded = {
        "schedule": {
            "cron": "0 9 * * *",
            "interval_sec": None,
            "timezone": "Asia/Tokyo",
            "timeout_sec": None,
        },
        "stop_file": str(tmp_path / "ztb.stop"),
    }  # for ztb doctor: the job judged by its own schedule
    assert seen["state"] == {"last_slot": "2025-10-03T09:00:00+09:00", "runs": 4, "status": "running",
                             "last_start": "2025-10-04T00:00:30+00:00", "running_slot": SLOT,
                             "runner_pid": os.getpid(), **recorded}  # fmt: skip
    assert seen["pgid"] == seen["pid"] == seen["sid"] != os.getpgid(0)  # its own session and group
    assert entry(tmp_path) == {"last_slot": SLOT, "runs": 5, "status": "ok", "exit_code": 0, "detail": "",
                               "last_start": "2025-10-04T00:00:30+00:00",
                               "last_finish": "2025-10-04T00:00:30+00:00", "runner_pid": os.getpid(),
                               "last_ok_slot": SLOT, "period_sec": 86400.0, **recorded}  # fmt: skip
    log = (tmp_path / "logs" / "daily.log").read_text(encoding="utf-8")
    assert log == f"=== 2025-10-04T00:00:30+00:00 daily slot {SLOT}\nto stdout\nto stderr\n"
    assert lines == [f"daily: slot {SLOT} started (due)", f"daily: slot {SLOT} ok (exit 0) in 0.0 s"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "logs" / "daily.log").stat().st_mode) == 0o666 & ~umask  # not executable


def test_a_shell_job_runs_through_the_shell(tmp_path: Path) -> None:
    seed(tmp_path)
    out = tmp_path / "out.txt"
    j = Job("daily", f'echo "$ZTB_JOB_NAME at $ZTB_SCHEDULED_FOR" > "{out}"', cron="0 9 * * *", shell=True)
    _, rc, _ = run(tmp_path, j)
    assert rc == 0 and out.read_text(encoding="utf-8") == f"daily at {SLOT}\n"


def test_once_exits_1_when_a_job_failed_even_without_fail_fast(tmp_path: Path) -> None:
    seed(tmp_path)
    failed: list[tuple[str, str, int | None]] = []
    r, rc, lines = run(tmp_path, job("import sys; sys.exit(3)"),
                       on_failure=lambda j, rec: failed.append((j.name, rec.status, rec.exit_code)))  # fmt: skip
    assert rc == 1 and r.exit_code == 1 and failed == [("daily", "failed", 3)]
    assert lines[-1] == f"daily: slot {SLOT} failed (exit 3) in 0.0 s"
    assert entry(tmp_path)["status"] == "failed" and entry(tmp_path)["exit_code"] == 3


def test_a_job_past_its_timeout_is_killed_and_recorded_as_timed_out(tmp_path: Path) -> None:
    """``timeout_sec`` is wall time: the job (sleeping far longer) is killed, the log, the runner's line
    and the state say so, and ``--once`` exits 1."""
    seed(tmp_path, runs=1)
    failed: list[tuple[str, int | None, str]] = []
    _, rc, lines = run(tmp_path, job("import time; time.sleep(120)", timeout_sec=1.5),
                       on_failure=lambda j, rec: failed.append((rec.status, rec.exit_code, rec.detail)))  # fmt: skip
    assert rc == 1
    assert failed == [("timeout", None, "killed after the 1.5 s timeout")]
    assert (
        lines[-1] == f"daily: slot {SLOT} timeout in 0.0 s: killed after the 1.5 s timeout"
    )  # FakeClock time
    e = entry(tmp_path)
    assert (e["status"], e["exit_code"], e["detail"], e["runs"]) == ("timeout", None, failed[0][2], 2)
    log = (tmp_path / "logs" / "daily.log").read_text(encoding="utf-8")
    assert log.endswith("\n=== killed after the 1.5 s timeout\n")


def test_a_job_within_its_timeout_is_not_cut_short(tmp_path: Path) -> None:
    seed(tmp_path)
    _, rc, lines = run(tmp_path, job("import time; time.sleep(0.5); print('done')", timeout_sec=60))
    assert rc == 0 and lines[-1] == f"daily: slot {SLOT} ok (exit 0) in 0.0 s"
    assert (tmp_path / "logs" / "daily.log").read_text(encoding="utf-8").endswith("\ndone\n")


def test_fail_fast_says_why_it_stops(tmp_path: Path) -> None:
    seed(tmp_path)
    _, rc, lines = run(tmp_path, job("import sys; sys.exit(4)"), fail_fast=True)
    assert rc == 1 and lines[-1] == "stopping: daily failed and --fail-fast is set"


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.mkdir(), "Is a directory"),
        (make_fifo, "No such device or address"),  # a FIFO nobody reads: never a hang
        (lambda p: p.symlink_to("/dev/null"), "not a regular file"),
    ],
)
def test_a_job_log_that_cannot_be_opened_is_an_error_run(tmp_path: Path, make: Any, reason: str) -> None:
    seed(tmp_path, runs=2)
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "daily.log"
    make(log)
    ran = tmp_path / "ran.txt"
    _, rc, lines = run(tmp_path, job(f"open({str(ran)!r}, 'w').close()"))
    detail = f"cannot open its log {log}: {reason}"
    assert rc == 1 and not ran.exists()
    assert_error_run(tmp_path, lines, detail, runs=3)
    assert "running_slot" not in entry(tmp_path)


def test_the_log_folder_is_made_with_its_parents(tmp_path: Path) -> None:
    seed(tmp_path)
    logs = tmp_path / "var" / "log" / "ztb"
    _, rc, _ = run(tmp_path, job("print('hello')"), log_dir=logs)
    assert rc == 0 and (logs / "daily.log").read_text(encoding="utf-8").endswith("\nhello\n")


def test_a_log_of_exactly_the_limit_is_rotated(tmp_path: Path) -> None:
    seed(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "daily.log").write_bytes(b"x" * 100)
    run(tmp_path, job("pass"), log_max_bytes=100)
    assert (tmp_path / "logs" / "daily.log.1").read_bytes() == b"x" * 100
    assert (tmp_path / "logs" / "daily.log").read_text(encoding="utf-8").startswith("=== ")


def test_a_log_under_the_limit_is_kept(tmp_path: Path) -> None:
    seed(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "daily.log").write_bytes(b"x" * 99)
    run(tmp_path, job("pass"), log_max_bytes=100)
    assert not (tmp_path / "logs" / "daily.log.1").exists()
    assert (tmp_path / "logs" / "daily.log").read_bytes().startswith(b"x" * 99 + b"=== ")


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_to_the_runner_cancels_the_running_job_and_is_recorded(tmp_path: Path, sig: str) -> None:
    seed(tmp_path, runs=1)
    code = f"import os, signal, time; os.kill(os.getppid(), signal.{sig}); time.sleep(60)"
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    _, rc, lines = run(tmp_path, job(code))
    assert rc == 0  # a cancelled run is not a failure
    assert f"stopping: {sig}" in lines
    assert lines[-1] == (
        f"daily: slot {SLOT} cancelled in 0.0 s: cancelled: the runner was asked to stop; the slot counts "
        "as missed and it is made up only by a runner started with --max-catchup 1 or more"
    )
    e = entry(tmp_path)
    # the slot is not recorded as run: last_slot stays on the day before, the cut slot is named
    assert (e["status"], e["exit_code"], e["runs"]) == ("cancelled", None, 2)
    assert (e["last_slot"], e["missed_slot"]) == ("2025-10-03T09:00:00+09:00", SLOT)
    log = (tmp_path / "logs" / "daily.log").read_text(encoding="utf-8")
    assert log.endswith("=== cancelled: the runner is stopping; this slot counts as missed\n")
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_bad_runner_settings_are_usage_errors(tmp_path: Path) -> None:
    common: dict[str, Any] = {"state_file": tmp_path / "s.json", "log_dir": tmp_path / "logs"}
    for bad in ({"max_catchup": -1}, {"catchup_cooldown": -0.5}):
        with pytest.raises(UsageError) as err:
            Runner([job("pass")], **common, **bad)
        assert str(err.value) == "--max-catchup and --catchup-cooldown-sec must not be negative"
    Runner([job("pass")], **common, max_catchup=0, catchup_cooldown=0)  # zero is allowed
    with pytest.raises(UsageError) as err:
        Runner([job("pass"), Job("other", ("true",), cron="0 9 * * *"), job("pass")], **common)
    assert str(err.value) == "job names must be unique, got daily, other, daily"


def test_the_kill_file_is_named_when_it_stops_the_runner(tmp_path: Path) -> None:
    seed(tmp_path)
    (tmp_path / "ztb.stop").write_text("", encoding="utf-8")
    ran = tmp_path / "ran.txt"
    _, rc, lines = run(tmp_path, job(f"open({str(ran)!r}, 'w').close()"))
    assert rc == 1 and not ran.exists()
    assert len(lines) == 1 and lines[0].startswith(
        f"warning: the kill file {tmp_path / 'ztb.stop'} is present (since "
    )
    assert lines[0].endswith("no job runs until it is removed; delete it to resume the schedule")


def test_the_jobs_descendants_are_recorded_in_the_pid_file_while_it_runs(tmp_path: Path) -> None:
    """Every 2 s the pid file lists the job's descendants ([pid, start time]) for a takeover to kill."""
    seed(tmp_path)
    pid_file = tmp_path / "state" / "locks" / "daily.pid"
    out = tmp_path / "seen.json"
    code = (
        "import json, subprocess, sys, time, psutil\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "want = [[c.pid, psutil.Process(c.pid).create_time()]]\n"
        "deadline, got = time.monotonic() + 60, None\n"
        "while time.monotonic() < deadline:\n"
        f"    got = json.load(open({str(pid_file)!r}, encoding='utf-8')).get('descendants')\n"
        "    if got is not None:\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        f"json.dump({{'want': want, 'got': got}}, open({str(out)!r}, 'w', encoding='utf-8'))\n"
        "c.kill()\n"
    )
    _, rc, _ = run(tmp_path, job(code))
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert rc == 0 and seen["got"] == seen["want"]  # the child itself, not the runner's own family


def test_a_job_that_cannot_start_is_an_error_run_said_in_its_log(tmp_path: Path) -> None:
    seed(tmp_path, runs=1)
    prog = tmp_path / "no-such-program"
    _, rc, lines = run(tmp_path, Job("daily", (str(prog),), cron="0 9 * * *"))
    detail = f"cannot start: [Errno 2] No such file or directory: '{prog}'"
    assert rc == 1
    assert_error_run(tmp_path, lines, detail, runs=2)
    log = (tmp_path / "logs" / "daily.log").read_text(encoding="utf-8")
    assert log == f"=== 2025-10-04T00:00:30+00:00 daily slot {SLOT}\n=== {detail}\n"


def _sleeper() -> Any:
    import subprocess

    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)


def _dead_runners_pid_file(tmp_path: Path, **fields: Any) -> None:
    locks = tmp_path / "state" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "daily.pid").write_text(json.dumps({"runner_pid": 999999, **fields}), encoding="utf-8")


def test_a_dead_runners_job_and_its_descendants_are_killed_before_anything_runs(tmp_path: Path) -> None:
    """The lock is free but a pid file remains: its runner died mid-run (kill -9). The next runner kills
    that job (still that very process: same pid and start time) and the descendants it recorded, says
    so in one line, marks the run interrupted, then runs what is due."""
    import psutil

    seed(tmp_path, status="running", running_slot=SLOT, runner_pid=999999)
    leader, descendant = _sleeper(), _sleeper()
    try:
        _dead_runners_pid_file(tmp_path, job_pid=leader.pid, job_start=psutil.Process(leader.pid).create_time(),
                               descendants=[[descendant.pid, psutil.Process(descendant.pid).create_time()]])  # fmt: skip
        ran = tmp_path / "ran.txt"  # the job copies the pid file as it finds it
        pid_file = tmp_path / "state" / "locks" / "daily.pid"
        _, rc, lines = run(tmp_path, job(f"import shutil; shutil.copy({str(pid_file)!r}, {str(ran)!r})"))
        leader.wait(timeout=30)  # both sleep 120 s unless killed (kill_tree reaps them: no status here)
        descendant.wait(timeout=30)
        note = "daily: runner pid 999999 died holding the lock; killed its job's processes "
        assert lines[0].startswith(note), lines
        assert {leader.pid, descendant.pid} <= set(json.loads(lines[0][len(note) :]))
        assert lines[1:] == [f"daily: slot {SLOT} started (due)", f"daily: slot {SLOT} ok (exit 0) in 0.0 s"]
        assert rc == 0
        # Nothing of the dead runner's record is left to be killed a second time by a later takeover.
        after = json.loads(ran.read_text(encoding="utf-8"))
        assert after["runner_pid"] == os.getpid() and "descendants" not in after
        assert after.get("job_pid") not in (leader.pid, descendant.pid)  # its own job, once recorded
        assert entry(tmp_path)["status"] == "ok" and entry(tmp_path)["last_slot"] == SLOT
    finally:
        for p in (leader, descendant):
            p.kill()
            p.wait()


def run_watching_the_state(tmp_path: Path) -> tuple[int, list[str], list[tuple[str, str]]]:
    """Run a no-op job once; (exit code, the runner's lines, (status, detail) after each state change)."""
    states: list[tuple[str, str]] = []
    lines: list[str] = []
    r = Runner([job("pass")], state_file=tmp_path / "state" / "s.json", log_dir=tmp_path / "logs",
               clock=FakeClock(NOW), stop_file=tmp_path / "ztb.stop", say=lines.append)  # fmt: skip
    original = r.state.update

    def spy(name: str, now: datetime, change: Any) -> Any:
        result = original(name, now, change)
        e = entry(tmp_path)
        states.append((e.get("status", ""), e.get("detail", "")))
        return result

    r.state.update = spy  # type: ignore[method-assign]
    return r.run(once=True), lines, states


def test_a_recorded_pid_now_owned_by_another_process_is_left_alone(tmp_path: Path) -> None:
    """The dead runner's job ended and its pid was reused: a start time that differs means somebody
    else's process, never to be killed. The run it left is still marked interrupted."""
    import psutil

    seed(tmp_path, status="running", running_slot=SLOT, runner_pid=999999)
    stranger = _sleeper()
    try:
        started = psutil.Process(stranger.pid).create_time()
        _dead_runners_pid_file(tmp_path, job_pid=stranger.pid, job_start=started - 100.0,
                               descendants=[[stranger.pid, started - 100.0]])  # fmt: skip
        rc, lines, states = run_watching_the_state(tmp_path)
        assert rc == 0
        assert (
            lines[0]
            == f"daily: runner pid 999999 died holding the lock; its job (pid {stranger.pid}) had ended"
        )
        assert states[0] == ("interrupted", "runner pid 999999 died during the run")
        assert stranger.poll() is None, "an unrelated process was killed"
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize("job_start", [None, "not a time"], ids=["unknown", "garbled"])
def test_a_dead_runners_job_without_a_start_time_is_not_killed_and_the_run_goes_on(
    tmp_path: Path, job_start: Any
) -> None:
    """The job ended before its start time could be read (or the pid file is garbled): with no start
    time there is no way to tell the job from a reused pid, so nothing is killed. The takeover still
    says whose lock it was, marks the run interrupted, and the due slot runs."""
    seed(tmp_path, status="running", running_slot=SLOT, runner_pid=999999)
    stranger = _sleeper()
    try:
        _dead_runners_pid_file(tmp_path, job_pid=stranger.pid, job_start=job_start)
        rc, lines, interrupted = run_watching_the_state(tmp_path)
        assert rc == 0
        assert lines == ["daily: runner pid 999999 died holding the lock",
                         f"daily: slot {SLOT} started (due)", f"daily: slot {SLOT} ok (exit 0) in 0.0 s"]  # fmt: skip
        assert interrupted[0] == ("interrupted", "runner pid 999999 died during the run")
        assert entry(tmp_path)["status"] == "ok"
        assert stranger.poll() is None, "a process was killed on a pid alone"
    finally:
        stranger.kill()
        stranger.wait()


def test_fail_fast_stops_before_the_next_job_and_still_returns_1(tmp_path: Path) -> None:
    seed(tmp_path)
    second_ran = tmp_path / "second.txt"
    jobs = [Job("daily", (sys.executable, "-c", "import sys; sys.exit(5)"), cron="0 9 * * *"),
            Job("later", (sys.executable, "-c", f"open({str(second_ran)!r}, 'w').close()"), cron="0 9 * * *")]  # fmt: skip
    lines: list[str] = []
    r = Runner(jobs, state_file=tmp_path / "state" / "s.json", log_dir=tmp_path / "logs", clock=FakeClock(NOW),
               fail_fast=True, say=lines.append)  # fmt: skip
    assert r.run(once=True) == 1
    assert lines[-1] == "stopping: daily failed and --fail-fast is set"
    assert not second_ran.exists()


def test_an_unreadable_state_file_is_kept_aside_and_said_by_the_runner(tmp_path: Path) -> None:
    state = tmp_path / "state" / "s.json"
    state.parent.mkdir(parents=True)
    state.write_bytes(b"\x00{not json")
    _, rc, lines = run(tmp_path, job("pass"))
    assert rc == 0
    assert lines[0].startswith(f"warning: {state}") and lines[0].endswith(
        "; kept as s.json.unreadable, starting fresh"
    )
    assert (state.parent / "s.json.unreadable").read_bytes() == b"\x00{not json"
    assert lines[1:] == [f"daily: slot {SLOT} started (due)", f"daily: slot {SLOT} ok (exit 0) in 0.0 s"]
