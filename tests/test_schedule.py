"""Schedule templates and the cronish runner: fake clock and sleep for time, real processes as jobs."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REPO

from ztbkit.cli import cli
from ztbkit.core.clock import FakeClock
from ztbkit.core.errors import InputFileError, UsageError
from ztbkit.schedule import runner as runner_mod
from ztbkit.schedule.runner import Job, Runner, load_jobs
from ztbkit.schedule.templates import template_json

JST = timedelta(hours=9)


def jst(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC) - JST  # the same instant as that Tokyo wall time


def marker_job(tmp_path: Path, name: str = "daily", cron: str = "0 9 * * *", code: int = 0, **kw: Any) -> Job:
    """A real command that appends its ZTB_SCHEDULED_FOR to a file."""
    script = (f"import os, sys; open({str(tmp_path / 'runs.txt')!r}, 'a').write(os.environ['ZTB_SCHEDULED_FOR'] + "
              f"'\\n'); print('ran', flush=True); sys.exit({code})")  # fmt: skip
    return Job(name, (sys.executable, "-c", script), cron=cron, **kw)


def runs(tmp_path: Path) -> list[str]:
    f = tmp_path / "runs.txt"
    return f.read_text(encoding="utf-8").split() if f.exists() else []


def make_runner(tmp_path: Path, jobs: list[Job], clock: FakeClock, **kw: Any) -> tuple[Runner, list[str]]:
    lines: list[str] = []
    r = Runner(jobs, state_file=tmp_path / "state" / "s.json", log_dir=tmp_path / "logs", clock=clock,
               stop_file=tmp_path / "ztb.stop", say=lines.append, **{"stop_poll": 3600, **kw})  # fmt: skip
    return r, lines


def seed_state(tmp_path: Path, job: str, last_slot: datetime) -> None:
    path = tmp_path / "state" / "s.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"version": 1, "jobs": {job: {"last_slot": last_slot.isoformat()}}}), encoding="utf-8"
    )


# ---------------------------------------------------------------- templates


def test_template_list_and_json() -> None:
    r = CliRunner().invoke(cli, ["schedule-template", "--list"])
    assert r.exit_code == 0
    assert [line.split()[0] for line in r.stdout.splitlines()] == [
        "daily", "hourly", "weekly", "monthly", "training-daily", "backup-hourly", "nightly", "watch",
        "digest-daily"]  # fmt: skip
    expected = {"daily": ("0 9 * * *", "/SC DAILY /ST 09:00"), "hourly": ("0 * * * *", "/SC HOURLY /MO 1 /ST 00:00"),
                "weekly": ("0 9 * * 1", "/SC WEEKLY /D MON /ST 09:00"),
                "monthly": ("0 9 1 * *", "/SC MONTHLY /D 1 /ST 09:00"),
                "training-daily": ("0 2 * * *", "/SC DAILY /ST 02:00"),
                "backup-hourly": ("30 * * * *", "/SC HOURLY /MO 1 /ST 00:30")}  # fmt: skip
    for name, (linux, windows) in expected.items():
        doc = json.loads(CliRunner().invoke(cli, ["schedule-template", "--template", name]).stdout)
        assert (
            doc["template"] == name
            and doc["schedule"]["linux"] == linux
            and doc["schedule"]["windows"] == windows
        )
        assert doc["schedule"]["timezone"] == "Asia/Tokyo" and doc["schedule"]["description"]
        trigger = ET.fromstring(doc["schedule"]["windows_trigger_xml"])  # a real task-XML trigger element
        start = windows.split("/ST ")[1]
        assert (
            trigger.tag == "CalendarTrigger" and trigger.findtext("StartBoundary") == f"2025-01-01T{start}:00"
        )
    assert template_json("nightly")["command"] == ["ztb", "nightly"]


def test_unknown_template_and_bad_usage() -> None:
    r = CliRunner().invoke(cli, ["schedule-template", "--template", "often"])
    assert r.exit_code == 2 and "unknown template 'often' (valid: daily, hourly, weekly" in r.stderr
    assert CliRunner().invoke(cli, ["schedule-template"]).exit_code == 2


def test_template_json_round_trip_into_config(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        cli, ["schedule-template", "--template", "nightly", "--output", str(tmp_path / "n.json")]
    )
    assert r.exit_code == 0
    [job] = load_jobs(tmp_path / "n.json")
    assert (job.name, job.cron, job.timezone, job.command) == (
        "nightly",
        "30 6 * * *",
        "Asia/Tokyo",
        ("ztb", "nightly"),
    )
    assert job.argv()[:3] == [sys.executable, "-m", "ztbkit"]
    CliRunner().invoke(
        cli, ["schedule-template", "--template", "daily", "--output", str(tmp_path / "d.json")]
    )
    [daily] = load_jobs(tmp_path / "d.json", ("echo", "hi"))
    assert daily.cron == "0 9 * * *" and daily.command == ("echo", "hi")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"jobs": []}, "'jobs' is empty"),
        ({"jobs": [{"name": "x", "cron": "61 * * * *", "command": ["true"]}]}, "not a 5-field cron"),
        ({"jobs": [{"name": "x", "cron": "0 9 * * *", "command": "echo hi"}]}, "list of strings"),
        ({"jobs": [{"name": "x", "interval_sec": -5, "command": ["true"]}]}, "must be positive"),
        (
            {"jobs": [{"name": "x", "cron": "0 9 * * *", "timezone": "Mars/Olympus", "command": ["true"]}]},
            "time zone",
        ),
        ([1, 2], "expected a job object"),
    ],
)
def test_bad_config_names_the_file_and_job(tmp_path: Path, doc: Any, message: str) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputFileError, match=message) as err:
        load_jobs(path)
    assert str(path) in str(err.value)


# ---------------------------------------------------------------- slots


def test_interval_and_cron_slots() -> None:
    job = Job("i", ("true",), interval_sec=3600)
    slots, total = job.slots_between(
        datetime(2025, 1, 1, 0, 30, tzinfo=UTC), datetime(2025, 1, 1, 5, 0, tzinfo=UTC), 2
    )
    assert total == 5 and slots == [datetime(2025, 1, 1, 4, tzinfo=UTC), datetime(2025, 1, 1, 5, tzinfo=UTC)]
    daily = Job("d", ("true",), cron="0 9 * * *")
    slots, total = daily.slots_between(jst(2025, 10, 1, 10), jst(2025, 10, 4, 12), 10)
    assert total == 3 and [s.isoformat() for s in slots] == [
        "2025-10-02T09:00:00+09:00", "2025-10-03T09:00:00+09:00", "2025-10-04T09:00:00+09:00"]  # fmt: skip
    # 02:30 does not exist in New York on 2025-03-09 (DST starts): the job still runs once that day.
    ny = Job("ny", ("true",), cron="30 2 * * *", timezone="America/New_York")
    first = ny.next_slot(datetime(2025, 3, 8, 12, tzinfo=UTC))
    second = ny.next_slot(first)
    assert first.date().isoformat() == "2025-03-09" and second.isoformat() == "2025-03-10T02:30:00-04:00"


# ---------------------------------------------------------------- catch-up


def test_no_state_means_no_catch_up(tmp_path: Path) -> None:
    runner, _ = make_runner(tmp_path, [marker_job(tmp_path)], FakeClock(jst(2025, 10, 4, 12)), max_catchup=5)
    assert runner.run(once=True) == 0 and runs(tmp_path) == []
    state = json.loads((tmp_path / "state" / "s.json").read_text(encoding="utf-8"))
    assert state["jobs"]["daily"]["last_slot"] == "2025-10-04T09:00:00+09:00"


def test_three_days_missed_with_max_5_runs_3(tmp_path: Path) -> None:
    seed_state(tmp_path, "daily", jst(2025, 10, 1, 9))
    clock = FakeClock(jst(2025, 10, 4, 12))
    runner, lines = make_runner(tmp_path, [marker_job(tmp_path)], clock, max_catchup=5, catchup_cooldown=30)
    assert runner.run(once=True) == 0
    assert runs(tmp_path) == [
        "2025-10-02T09:00:00+09:00",
        "2025-10-03T09:00:00+09:00",
        "2025-10-04T09:00:00+09:00",
    ]
    assert clock.sleeps == [30, 30]
    assert "daily: slot 2025-10-02T09:00:00+09:00 started (catch-up 1 of 3)" in lines


def test_max_2_runs_the_newest_2_with_one_cooldown(tmp_path: Path) -> None:
    seed_state(tmp_path, "daily", jst(2025, 10, 1, 9))
    clock = FakeClock(jst(2025, 10, 4, 12))
    runner, lines = make_runner(tmp_path, [marker_job(tmp_path)], clock, max_catchup=2, catchup_cooldown=45)
    runner.run(once=True)
    assert runs(tmp_path) == ["2025-10-03T09:00:00+09:00", "2025-10-04T09:00:00+09:00"]
    assert clock.sleeps == [45] and "daily: skipped 1 missed run(s) beyond --max-catchup 2" in lines


def test_default_max_catchup_0_skips_missed_but_runs_due(tmp_path: Path) -> None:
    seed_state(tmp_path, "daily", jst(2025, 10, 1, 9))
    runner, lines = make_runner(tmp_path, [marker_job(tmp_path)], FakeClock(jst(2025, 10, 4, 9, 1)))
    runner.run(once=True)
    assert runs(tmp_path) == ["2025-10-04T09:00:00+09:00"]  # a minute late is still "due"
    assert "daily: skipped 2 missed run(s) beyond --max-catchup 0" in lines


def test_state_after_each_run_and_after_a_crash(tmp_path: Path) -> None:
    seed_state(tmp_path, "daily", jst(2025, 10, 1, 9))
    runner, _ = make_runner(tmp_path, [marker_job(tmp_path)], FakeClock(jst(2025, 10, 4, 12)), max_catchup=3)
    real_spawn, calls = runner._spawn, []

    def crash_on_second(job: Job, slot: datetime, started: datetime, lock: Any) -> Any:
        calls.append(slot)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real_spawn(job, slot, started, lock)

    runner._spawn = crash_on_second  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        runner.run(once=True)
    state = json.loads((tmp_path / "state" / "s.json").read_text(encoding="utf-8"))["jobs"]["daily"]
    assert (
        state["last_slot"] == "2025-10-02T09:00:00+09:00" and state["runs"] == 1 and state["exit_code"] == 0
    )
    assert state["running_slot"] == "2025-10-03T09:00:00+09:00"  # the crash left evidence of what was running
    again, _ = make_runner(tmp_path, [marker_job(tmp_path)], FakeClock(jst(2025, 10, 4, 12)), max_catchup=3)
    again.run(once=True)
    assert runs(tmp_path) == [
        "2025-10-02T09:00:00+09:00",
        "2025-10-03T09:00:00+09:00",
        "2025-10-04T09:00:00+09:00",
    ]


def test_kill_file_stops_before_running(tmp_path: Path) -> None:
    seed_state(tmp_path, "daily", jst(2025, 10, 1, 9))
    (tmp_path / "ztb.stop").write_text("", encoding="utf-8")
    runner, lines = make_runner(
        tmp_path, [marker_job(tmp_path)], FakeClock(jst(2025, 10, 4, 12)), max_catchup=5
    )
    # a kill file already there at start is a forgotten stop: nothing runs, said, exit 1
    assert runner.run() == 1 and runs(tmp_path) == []
    assert any(ln.startswith("warning: the kill file") for ln in lines)


def test_fail_fast_and_failure_hook(tmp_path: Path) -> None:
    seed_state(tmp_path, "daily", jst(2025, 10, 1, 9))
    failures: list[Any] = []

    def hook(job: Job, rec: Any) -> None:
        failures.append((job.name, rec.status, rec.exit_code))

    runner, _ = make_runner(tmp_path, [marker_job(tmp_path, code=3)], FakeClock(jst(2025, 10, 4, 12)), max_catchup=3,
                            fail_fast=True, on_failure=hook)  # fmt: skip
    assert runner.run(once=True) == 1
    assert len(runs(tmp_path)) == 1 and failures == [("daily", "failed", 3)]
    state = json.loads((tmp_path / "state" / "s.json").read_text(encoding="utf-8"))["jobs"]["daily"]
    assert state["status"] == "failed" and state["exit_code"] == 3


def test_failure_is_pushed_to_the_webhook(
    tmp_path: Path, hook_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZTB_DISCORD_WEBHOOK", hook_server.url())
    seed_state(tmp_path, "daily", jst(2025, 10, 3, 9))
    lines: list[str] = []
    push = runner_mod.failure_notifier(tmp_path / "state", lines.append)
    runner, _ = make_runner(
        tmp_path, [marker_job(tmp_path, code=2)], FakeClock(jst(2025, 10, 4, 9)), on_failure=push
    )
    runner.run(once=True)
    embed = hook_server.seen[0].body["embeds"][0]
    assert embed["title"] == "Scheduled job daily failed" and embed["description"] == "exit code 2"
    assert any("failure alert delivered" in ln for ln in lines)


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    import psutil

    pid_file = tmp_path / "child.pid"
    script = (f"import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              f"open({str(pid_file)!r}, 'w').write(str(c.pid)); print('begin', flush=True); time.sleep(60)")  # fmt: skip
    job = Job("slow", (sys.executable, "-c", script), cron="0 9 * * *", timeout_sec=3)
    seed_state(tmp_path, "slow", jst(2025, 10, 3, 9))
    runner, lines = make_runner(tmp_path, [job], FakeClock(jst(2025, 10, 4, 9)))
    t0 = time.monotonic()
    runner.run(once=True)
    assert time.monotonic() - t0 < 20
    assert any("slow: slot" in ln and "timeout" in ln for ln in lines)
    child = int(pid_file.read_text(encoding="utf-8"))
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    log = (tmp_path / "logs" / "slow.log").read_text(encoding="utf-8")
    assert "begin" in log and "killed after the 3 s timeout" in log  # output streamed, not buffered


def test_clock_jump_after_suspend_follows_catch_up(tmp_path: Path) -> None:
    class SuspendingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 1:
                self.advance(3 * 3600)  # the lid was closed for three hours
            if len(self.sleeps) > 3:
                (tmp_path / "ztb.stop").write_text("", encoding="utf-8")

    job = marker_job(tmp_path, name="hourly", cron="0 * * * *")
    seed_state(tmp_path, "hourly", jst(2025, 10, 4, 9))
    clock = SuspendingClock(jst(2025, 10, 4, 9, 30))
    runner, lines = make_runner(tmp_path, [job], clock, max_catchup=1, poll=600)
    runner.run()
    assert all(s <= 600 for s in clock.sleeps)  # waits in chunks, re-reading the clock
    assert runs(tmp_path)[0] == "2025-10-04T12:00:00+09:00"  # after the jump: the newest missed slot
    assert any("skipped 2 missed run(s)" in ln for ln in lines)


def test_log_rotation(tmp_path: Path) -> None:
    seed_state(tmp_path, "daily", jst(2025, 10, 1, 9))
    runner, _ = make_runner(
        tmp_path, [marker_job(tmp_path)], FakeClock(jst(2025, 10, 4, 12)), max_catchup=3, log_max_bytes=10
    )
    runner.run(once=True)
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    # a 10-byte limit rotates at every start (three runs: at least two backups), and again during a
    # run when the job's output arrives in more than one piece; the oldest part is dropped, so there
    # are never more than the log and its three backups
    assert logs in (
        ["daily.log", "daily.log.1", "daily.log.2"],
        ["daily.log", "daily.log.1", "daily.log.2", "daily.log.3"],
    )


def test_stale_lock_from_a_dead_runner_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "state" / "locks").mkdir(parents=True)
    (tmp_path / "state" / "locks" / "daily.pid").write_text(str(dead.pid), encoding="utf-8")
    seed_state(tmp_path, "daily", jst(2025, 10, 3, 9))
    runner, lines = make_runner(tmp_path, [marker_job(tmp_path)], FakeClock(jst(2025, 10, 4, 9)))
    runner.run(once=True)
    assert f"daily: runner pid {dead.pid} died holding the lock" in lines and len(runs(tmp_path)) == 1


def cronish_proc(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ztbkit", "cronish", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8")  # fmt: skip


def test_sigterm_cancels_the_running_job_and_saves_state(tmp_path: Path) -> None:
    proc = cronish_proc(
        tmp_path, "--interval-sec", "1", "--", sys.executable, "-c", "import time; time.sleep(60)"
    )
    state = tmp_path / ".ztb" / "cronish-state.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and '"running"' not in (
        state.read_text(encoding="utf-8") if state.exists() else ""
    ):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    entry = json.loads(state.read_text(encoding="utf-8"))["jobs"]["job"]
    assert entry["status"] == "cancelled" and "stopping: SIGTERM" in out


def test_cronish_cli_usage_errors(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["cronish", "--interval-sec", "5"])
    assert r.exit_code == 2 and "COMMAND is required" in r.stderr
    r = CliRunner().invoke(cli, ["cronish", "--cron", "0 9 * * *", "--interval-sec", "5", "--", "true"])
    assert r.exit_code == 2 and "exactly one of --interval-sec, --cron, --template or --config" in r.stderr
    r = CliRunner().invoke(cli, ["cronish", "--cron", "bad", "--", "true"])
    assert r.exit_code == 2 and "not a 5-field cron expression" in r.stderr
    with pytest.raises(UsageError):
        Job("x", ("true",))


# ---------------------------------------------------------------- ops templates


def unit(name: str) -> str:
    return (REPO / "ops" / "systemd" / name).read_text(encoding="utf-8")


def test_systemd_units_content() -> None:
    live, nightly, timer = unit("ztb-live.service"), unit("ztb-nightly.service"), unit("ztb-nightly.timer")
    assert "MemoryMax=" in live and "MemoryLimit=" not in live + nightly
    assert "Restart=on-failure" in live and "User=ztb" in live and "ReadWritePaths=" in live
    assert "ProtectSystem=strict" in live and "cronish --config" in live and "--max-catchup 1" in live
    assert "Persistent=true" in timer and "OnCalendar=*-*-* 06:30:00 Asia/Tokyo" in timer
    assert "Type=oneshot" in nightly
    load_jobs(REPO / "ops" / "systemd" / "jobs.example.json")  # the example job file is valid


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    for name in ("ztb-live.service", "ztb-nightly.service", "ztb-nightly.timer"):
        # The units name /opt/ztb/.venv/bin/ztb, which does not exist here; verify checks executables.
        (tmp_path / name).write_text(
            unit(name).replace("/opt/ztb/.venv/bin/ztb", "/bin/true"), encoding="utf-8"
        )
    p = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in ("ztb-live.service",
                        "ztb-nightly.service", "ztb-nightly.timer"))], capture_output=True,
                       encoding="utf-8", errors="replace")  # fmt: skip
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
    (tmp_path / "old.service").write_text(
        unit("ztb-live.service").replace("MemoryMax=", "MemoryLimit="), encoding="utf-8"
    )
    p = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "old.service")],
        capture_output=True,
        encoding="utf-8",
        errors="replace",  # systemd-analyze speaks the locale's encoding
    )
    assert "MemoryLimit" in p.stderr  # the check above would catch a deprecated directive


def test_run_restores_the_previous_signal_handlers(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    runner, _ = make_runner(tmp_path, [marker_job(tmp_path)], FakeClock(jst(2025, 10, 4, 12)))
    runner.run(once=True)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.parametrize(
    "name", ["daily", "hourly", "weekly", "monthly", "training-daily", "backup-hourly", "nightly"]
)
def test_template_cron_forms_fire_at_the_same_instants(name: str) -> None:
    """`linux` read in Tokyo (a JST machine), `linux_utc` read in UTC (a UTC machine) and the CRON_TZ
    form all name the same instants; checked with croniter, not with the code that wrote them."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    sched = template_json(name)["schedule"]
    tz_line, cron_line = sched["crontab"].split("\n")
    assert tz_line == "CRON_TZ=Asia/Tokyo" and cron_line.startswith(sched["linux"] + " ")
    start = datetime(2025, 12, 25, tzinfo=UTC)
    jst_it = croniter(sched["linux"], start.astimezone(ZoneInfo("Asia/Tokyo")))
    jst_fires = [jst_it.get_next(datetime).astimezone(UTC) for _ in range(40)]
    if sched["linux_utc"] is None:  # only when the day would cross a month boundary
        assert name == "monthly" and "9" not in sched["linux"].split()[1]
        return
    utc_it = croniter(sched["linux_utc"], start)
    assert [utc_it.get_next(datetime) for _ in range(40)] == jst_fires
    assert "local time" in " ".join(sched["notes"]) and "Asia/Tokyo" in " ".join(sched["notes"])
