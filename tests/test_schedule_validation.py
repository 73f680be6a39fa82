"""cronish against hostile state and config: wrong types, naive or far-future times, absurd numbers,
path-escaping job names, FIFOs where files belong. One line naming file and key, never a traceback;
a bad state entry is set aside and only that job starts fresh. Plus the slot rules' boundaries."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ztbkit.core.clock import FakeClock
from ztbkit.schedule.runner import Job, Runner

OTHER = {"last_slot": "2025-10-01T09:00:00+09:00", "runs": 4, "status": "ok"}


def cronish(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ZTB_DISCORD_WEBHOOK", "SLACK_WEBHOOK_URL")}
    return subprocess.run([sys.executable, "-m", "ztbkit", "cronish", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=timeout, env=env, encoding="utf-8")  # fmt: skip


def state_file(tmp_path: Path) -> Path:
    return tmp_path / ".ztb" / "cronish-state.json"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (5, "jobs.job: is int, expected an object"),
        ({"runs": "x"}, "'runs' 'x' is not a count"),
        ({"runs": True}, "'runs' True is not a count"),
        (
            {"last_slot": "2025-10-01T09:00:00"},
            "'last_slot' '2025-10-01T09:00:00' is not an ISO time with a UTC offset",
        ),
        ({"last_slot": 5}, "'last_slot' 5 is not an ISO time"),
        (
            {"last_slot": "2099-01-01T00:00:00+00:00"},
            "'last_slot' 2099-01-01T00:00:00+00:00 is in the future",
        ),
        ({"last_slot": "2025-10-01T09:00:00+09:00", "status": ["ok"]}, "'status' ['ok'] is not text"),
    ],
)
def test_bad_state_entry_is_set_aside_and_the_job_starts_fresh(tmp_path: Path, entry: Any, says: str) -> None:
    path = state_file(tmp_path)
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "jobs": {"job": entry, "other": OTHER}}), encoding="utf-8")
    p = cronish(tmp_path, "--interval-sec", "3600", "--once", "--", "true")
    assert p.returncode == 0 and "Traceback" not in p.stderr + p.stdout, p.stderr
    [warning] = [ln for ln in p.stderr.splitlines() if "warning" in ln]
    rel = path.relative_to(tmp_path)  # the default --state-file is relative to the working folder
    assert f"{rel}: {says}" in warning or f"{rel}: jobs.job: {says}" in warning, warning
    aside = json.loads((path.parent / "cronish-state.json.job.bad.json").read_text(encoding="utf-8"))
    assert aside["entry"] == entry
    jobs = json.loads(path.read_text(encoding="utf-8"))["jobs"]
    assert jobs["other"] == OTHER  # another job's entry in the shared file is untouched
    assert datetime.fromisoformat(jobs["job"]["last_slot"]) <= datetime.now(UTC)  # started fresh


@pytest.mark.parametrize("content", [b'{"jobs": [1]}', b'{"jobs": {"job": {"last_sl', b"\xff\xfe\x00garbage"])
def test_unreadable_state_file_is_kept_aside(tmp_path: Path, content: bytes) -> None:
    path = state_file(tmp_path)
    path.parent.mkdir()
    path.write_bytes(content)
    p = cronish(tmp_path, "--interval-sec", "3600", "--once", "--", "true")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert (path.parent / "cronish-state.json.unreadable").read_bytes() == content
    assert "kept as cronish-state.json.unreadable, starting fresh" in p.stderr
    assert json.loads(path.read_text(encoding="utf-8"))["jobs"]["job"]["last_slot"]


@pytest.mark.parametrize(
    ("job", "key_says"),
    [
        ({"timeout_sec": "5"}, "'timeout_sec' must be a number of seconds"),
        ({"timeout_sec": 1e308}, "'timeout_sec' must be a number of seconds"),
        ({"timeout_sec": 0}, "'timeout_sec' must be a number of seconds, more than 0"),
        ({"interval_sec": "60", "cron": None}, "'interval_sec' must be a number of seconds"),
        ({"interval_sec": 1e-300, "cron": None}, "'interval_sec' must be a number of seconds, at least 1"),
        ({"interval_sec": 1e308, "cron": None}, "'interval_sec' must be a number of seconds"),
        ({"interval_sec": True, "cron": None}, "'interval_sec' must be a number of seconds"),
        ({"cron": 5}, "'cron' must be text (got 5)"),
        ({"shell": "yes"}, "'shell' must be true or false"),
        ({"name": "../../../x"}, "name '../../../x' contains a path separator"),
        ({"name": "CON"}, "name 'CON' is a Windows device name"),
        ({"name": 7}, "'name' must be text"),
        ({"timezone": 9}, "'timezone' must be text"),
    ],
)
def test_bad_config_value_is_one_line_naming_file_and_key(
    tmp_path: Path, job: dict[str, Any], key_says: str
) -> None:
    doc = {"name": "x", "cron": "0 9 * * *", "command": ["true"], **job}
    doc = {k: v for k, v in doc.items() if v is not None}
    cfg = tmp_path / "jobs.json"
    cfg.write_text(json.dumps({"jobs": [doc]}), encoding="utf-8")
    p = cronish(tmp_path, "--config", str(cfg), "--once")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    [line] = p.stderr.strip().splitlines()
    assert f"{cfg}: jobs[0]" in line and key_says in line, line
    assert (
        not (tmp_path / ".ztb").exists() and not (tmp_path.parent / "x").exists()
    )  # nothing written anywhere


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--interval-sec", "1e-300"], "'interval_sec' must be a number of seconds, at least 1"),
        (["--interval-sec", "60", "--timeout-sec", "1e308"], "'timeout_sec' must be a number of seconds"),
        (["--interval-sec", "60", "--name", "../x"], "name '../x' contains a path separator"),
    ],
)
def test_bad_cli_values(tmp_path: Path, args: list[str], says: str) -> None:
    p = cronish(tmp_path, *args, "--once", "--", "true")
    assert p.returncode == 2 and says in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


@pytest.mark.parametrize(
    "where", ["locks/job.pid", "locks/job.lock", "cronish-state.json", "cronish-state.json.lock"]
)
def test_fifo_where_a_file_belongs_is_reported_not_opened(tmp_path: Path, where: str) -> None:
    fifo = tmp_path / ".ztb" / where
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    p = cronish(
        tmp_path, "--interval-sec", "3600", "--once", "--", "true", timeout=30
    )  # a block would time out
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert f"{fifo.relative_to(tmp_path)}: is not a regular file" in p.stderr, p.stderr


def test_shell_command_from_the_command_line(tmp_path: Path) -> None:
    p = cronish(tmp_path, "--interval-sec", "60", "--grace-sec", "60", "--once", "--shell", "--",
                "echo \"$ZTB_JOB_NAME $HOME\" >> out.txt")  # fmt: skip
    # First start: the current slot runs when it is due (within the grace); else nothing is missed.
    if "started" in p.stdout:
        assert (tmp_path / "out.txt").read_text(encoding="utf-8") == f"job {os.environ.get('HOME', '')}\n"
    seeded = state_file(tmp_path)
    seeded.write_text(
        json.dumps({"jobs": {"job": {"last_slot": "2020-01-01T00:00:00+00:00"}}}), encoding="utf-8"
    )
    (tmp_path / "out.txt").unlink(missing_ok=True)
    p = cronish(tmp_path, "--interval-sec", "60", "--max-catchup", "1", "--once", "--shell", "--",
                "echo \"$ZTB_JOB_NAME $HOME\" >> out.txt")  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()[
        0
    ] == f"job {os.environ.get('HOME', '')}"


# ---------------------------------------------------------------- slot rule boundaries (fake clock)

JST = timedelta(hours=9)


def jst(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC) - JST


def run_once(
    tmp_path: Path, job: Job, last: datetime, now: datetime, **kw: Any
) -> tuple[list[str], list[str]]:
    state = tmp_path / "s.json"
    state.write_text(json.dumps({"jobs": {job.name: {"last_slot": last.isoformat()}}}), encoding="utf-8")
    lines: list[str] = []
    Runner([job], state_file=state, log_dir=tmp_path / "logs", clock=FakeClock(now), say=lines.append,
           stop_file=tmp_path / "stop", **kw).run(once=True)  # fmt: skip
    out = tmp_path / "out.txt"
    return (out.read_text(encoding="utf-8").split() if out.exists() else []), lines


def marker(tmp_path: Path, **sched: Any) -> Job:
    script = (
        f"import os; open({str(tmp_path / 'out.txt')!r}, 'a').write(os.environ['ZTB_SCHEDULED_FOR'] + '\\n')"
    )
    return Job("j", (sys.executable, "-c", script), **sched)


@pytest.mark.parametrize(("late", "runs"), [(120, 1), (121, 0)])
def test_due_boundary_is_inclusive(tmp_path: Path, late: int, runs: int) -> None:
    """Exactly `grace` seconds late is still due; one second more is missed (skipped with catch-up 0)."""
    slot = jst(2025, 10, 4, 9)
    ran, lines = run_once(
        tmp_path, marker(tmp_path, cron="0 9 * * *"), jst(2025, 10, 3, 9), slot + timedelta(seconds=late)
    )
    assert len(ran) == runs
    assert (runs == 0) == ("j: skipped 1 missed run(s) beyond --max-catchup 0" in lines)


@pytest.mark.parametrize(("late_min", "runs"), [(30, 1), (31, 0)])
def test_grace_is_capped_at_half_the_period(tmp_path: Path, late_min: int, runs: int) -> None:
    """--grace-sec 3600 on an hourly job still counts a slot as due for 30 minutes only."""
    job = marker(tmp_path, cron="0 * * * *")
    ran, _ = run_once(tmp_path, job, jst(2025, 10, 4, 9), jst(2025, 10, 4, 10, late_min), grace=3600)
    assert len(ran) == runs


def test_clock_going_back_does_not_pause_an_interval_job(tmp_path: Path) -> None:
    """After the first run the clock is set back an hour (NTP): the 5-minute job keeps its cadence."""
    stop = tmp_path / "stop"

    class BackwardsClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 1:
                self.advance(-3600)
            if self.now() > start + timedelta(minutes=12) - timedelta(hours=1):
                stop.write_text("", encoding="utf-8")

    start = datetime(2025, 10, 4, 3, 0, 30, tzinfo=UTC)
    clock = BackwardsClock(start)
    job = marker(tmp_path, interval_sec=300)
    state = tmp_path / "s.json"
    state.write_text(
        json.dumps({"jobs": {"j": {"last_slot": "2025-10-04T02:55:00+00:00"}}}), encoding="utf-8"
    )
    lines: list[str] = []
    Runner([job], state_file=state, log_dir=tmp_path / "logs", clock=clock, say=lines.append, stop_file=stop,
           poll=30, stop_poll=3600).run()  # fmt: skip
    ran = (tmp_path / "out.txt").read_text(encoding="utf-8").split()
    # 03:00 ran before the jump; then 02:05 and 02:10 (fake time after going back), not a pause to 03:05.
    assert ran == ["2025-10-04T03:00:00+00:00", "2025-10-04T02:05:00+00:00", "2025-10-04T02:10:00+00:00"], (
        lines
    )
    assert any(re.search(r"the clock went back by \d+ s; re-planning", ln) for ln in lines), lines
    assert any(
        "is behind the last run's slot" in ln and "resuming the interval from now" in ln for ln in lines
    )


def test_clock_going_back_never_reruns_a_cron_slot(tmp_path: Path) -> None:
    ran, lines = run_once(
        tmp_path, marker(tmp_path, cron="0 9 * * *"), jst(2025, 10, 4, 9), jst(2025, 10, 4, 8, 59)
    )
    assert ran == [] and any("waiting for the next slot after it" in ln for ln in lines)


@pytest.mark.parametrize("runs", ["NaN", "Infinity", "1e999", "-Infinity"])
def test_state_entry_with_non_finite_number_is_set_aside(tmp_path: Path, runs: str) -> None:
    """Python's json reads NaN/Infinity/1e999 but refuses to write them back: the set-aside copy of the
    bad entry must still be written (as text), not crash the runner on every start."""
    path = state_file(tmp_path)
    path.parent.mkdir()
    raw = '{"version": 1, "jobs": {"job": {"runs": ' + runs + '}, "other": ' + json.dumps(OTHER) + "}}"
    path.write_text(raw, encoding="utf-8")
    p = cronish(tmp_path, "--interval-sec", "3600", "--once", "--", "true")
    assert p.returncode == 0 and "Traceback" not in p.stderr + p.stdout, p.stderr
    [warning] = [ln for ln in p.stderr.splitlines() if "warning" in ln]
    assert "jobs.job: 'runs'" in warning and "is not a count" in warning, warning
    aside = (path.parent / "cronish-state.json.job.bad.json").read_text(encoding="utf-8")
    assert json.loads(aside)["job"] == "job" and ("nan" if runs == "NaN" else "inf") in aside
    jobs = json.loads(path.read_text(encoding="utf-8"))["jobs"]
    assert jobs["other"] == OTHER
    assert datetime.fromisoformat(jobs["job"]["last_slot"]) <= datetime.now(UTC)


@pytest.mark.parametrize("expr", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"])
@pytest.mark.parametrize("where", ["cli", "config"])
def test_cron_that_never_fires_is_bad_usage(tmp_path: Path, expr: str, where: str) -> None:
    """A valid-looking cron line with no date at all (Feb 31) is refused at start, naming it."""
    if where == "cli":
        p = cronish(tmp_path, "--cron", expr, "--once", "--", "true")
    else:
        cfg = tmp_path / "jobs.json"
        cfg.write_text(
            json.dumps({"jobs": [{"name": "x", "cron": expr, "command": ["true"]}]}), encoding="utf-8"
        )
        p = cronish(tmp_path, "--config", str(cfg), "--once")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    [line] = p.stderr.strip().splitlines()
    assert expr in line and "never" in line, line
    assert not (tmp_path / ".ztb").exists()


@pytest.mark.parametrize("kind", ["fifo", "file-for-folder", "folder-for-file"])
def test_unusable_job_log_is_a_failed_start_not_a_hang(tmp_path: Path, kind: str) -> None:
    """A FIFO at logs/job.log used to block the runner in open() (deaf even to SIGTERM); a file where
    the log folder belongs crashed it and left the state saying "running" forever."""
    logs = tmp_path / ".ztb" / "logs"
    if kind == "file-for-folder":
        logs.parent.mkdir(parents=True)
        logs.write_text("not a folder\n", encoding="utf-8")
        where = logs
    else:
        logs.mkdir(parents=True)
        where = logs / "job.log"
        os.mkfifo(where) if kind == "fifo" else where.mkdir()
    long_ago = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    state_file(tmp_path).write_text(
        json.dumps({"jobs": {"job": {"last_slot": long_ago.isoformat()}}}), encoding="utf-8"
    )
    p = cronish(tmp_path, "--interval-sec", "3600", "--max-catchup", "1", "--once", "--", "true", timeout=30)
    assert p.returncode == 1 and "Traceback" not in p.stderr + p.stdout, p.stderr
    assert str(where.relative_to(tmp_path)) in p.stdout + p.stderr, p.stdout + p.stderr
    entry = json.loads(state_file(tmp_path).read_text(encoding="utf-8"))["jobs"]["job"]
    assert entry["status"] == "error" and "running_slot" not in entry, entry
