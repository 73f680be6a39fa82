"""The long-running ``ztb cronish`` loop between slots (``ztbkit.schedule.runner`` docstring):
it waits in short chunks re-reading the clock, wakes exactly at the next slot, looks again a second
later when another runner holds the lock, spaces catch-up runs ``catchup_cooldown`` apart, and notices
a clock that went back. A FakeClock stands for time; the jobs are real processes.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ztbkit.core.clock import FakeClock
from ztbkit.schedule.runner import Job, Runner
from ztbkit.schedule.state import JobLock

JST = timedelta(hours=9)


def jst(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC) - JST  # that Tokyo wall time


def marker_job(tmp_path: Path, cron: str = "0 9 * * *") -> Job:
    script = (
        f"import os; open({str(tmp_path / 'runs.txt')!r}, 'a').write(os.environ['ZTB_SCHEDULED_FOR'] + '\\n')"
    )
    return Job("daily", (sys.executable, "-c", script), cron=cron)


def runs(tmp_path: Path) -> list[str]:
    f = tmp_path / "runs.txt"
    return f.read_text(encoding="utf-8").split() if f.exists() else []


def seed(tmp_path: Path, last_slot: datetime) -> None:
    (tmp_path / "state").mkdir(exist_ok=True)
    doc = {"version": 1, "jobs": {"daily": {"last_slot": last_slot.isoformat()}}}
    (tmp_path / "state" / "s.json").write_text(json.dumps(doc), encoding="utf-8")


class StopAfterRuns(FakeClock):
    """Writes the kill file once the job has run ``n`` times (or after ``max_sleeps`` sleeps)."""

    def __init__(self, start: datetime, tmp_path: Path, n: int = 1, max_sleeps: int = 5000) -> None:
        super().__init__(start)
        self.tmp_path, self.n, self.max_sleeps = tmp_path, n, max_sleeps

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(runs(self.tmp_path)) >= self.n or len(self.sleeps) >= self.max_sleeps:
            (self.tmp_path / "ztb.stop").write_text("", encoding="utf-8")


def runner(tmp_path: Path, clock: FakeClock, **kw: Any) -> tuple[Runner, list[str]]:
    lines: list[str] = []
    r = Runner([marker_job(tmp_path)], state_file=tmp_path / "state" / "s.json", log_dir=tmp_path / "logs",
               clock=clock, stop_file=tmp_path / "ztb.stop", say=lines.append, **kw)  # fmt: skip
    return r, lines


def started_at(tmp_path: Path) -> str:
    doc = json.loads((tmp_path / "state" / "s.json").read_text(encoding="utf-8"))
    return str(doc["jobs"]["daily"]["last_start"])


def test_idle_runner_waits_in_poll_chunks_and_wakes_exactly_at_the_next_slot(tmp_path: Path) -> None:
    seed(tmp_path, jst(2025, 10, 4, 9))
    clock = StopAfterRuns(jst(2025, 10, 4, 10, 0, 30), tmp_path)
    r, lines = runner(tmp_path, clock, poll=600, stop_poll=3600)
    assert r.run() == 0
    assert runs(tmp_path) == ["2025-10-05T09:00:00+09:00"]
    # 22 h 59 min 30 s = 137 chunks of 600 s and a last one of 570 s: no oversleeping past the slot.
    assert clock.sleeps[:138] == [600.0] * 137 + [570.0]
    assert started_at(tmp_path) == "2025-10-05T00:00:00+00:00"  # the job started at 09:00:00 JST sharp
    assert f"idle until 2025-10-05T09:00:00+09:00 (pid {os.getpid()})" in lines


def test_the_idle_line_is_said_once_per_target_and_small_clock_jitter_is_not_a_jump_back(
    tmp_path: Path,
) -> None:
    class Jittery(StopAfterRuns):  # NTP steps the clock back 2 s every hour
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) % 6 == 0:
                self.advance(-seconds - 2)  # this chunk ends 2 s before it began

    seed(tmp_path, jst(2025, 10, 4, 9))
    clock = Jittery(jst(2025, 10, 4, 10), tmp_path)
    r, lines = runner(tmp_path, clock, poll=600, stop_poll=3600)
    r.run()
    assert runs(tmp_path) == ["2025-10-05T09:00:00+09:00"]
    assert not any("clock went back" in ln for ln in lines), lines
    assert [ln for ln in lines if ln.startswith("idle until 2025-10-05T09:00:00+09:00")] != []
    assert len([ln for ln in lines if ln.startswith("idle until 2025-10-05")]) == 1


def test_a_clock_going_back_is_said_and_the_runner_re_plans_once(tmp_path: Path) -> None:
    class GoesBack(StopAfterRuns):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 3:
                self.advance(-seconds - 3)  # 3 s back: more than jitter

    seed(tmp_path, jst(2025, 10, 4, 9))
    clock = GoesBack(jst(2025, 10, 4, 10), tmp_path)
    r, lines = runner(tmp_path, clock, poll=600, stop_poll=3600)
    r.run()
    assert "the clock went back by 3 s; re-planning" in lines
    assert runs(tmp_path) == ["2025-10-05T09:00:00+09:00"]
    # the same target after re-planning: not announced twice
    assert len([ln for ln in lines if ln.startswith("idle until 2025-10-05")]) == 1


def test_a_cron_job_behind_its_last_slot_idles_until_the_slot_after_that_slot(tmp_path: Path) -> None:
    seed(tmp_path, jst(2025, 10, 4, 9))  # ran 09:00 today, then the clock was set back to 08:00
    clock = StopAfterRuns(jst(2025, 10, 4, 8), tmp_path, max_sleeps=3)
    r, lines = runner(tmp_path, clock, poll=60, stop_poll=3600)
    r.run()
    assert f"idle until 2025-10-05T09:00:00+09:00 (pid {os.getpid()})" in lines
    assert runs(tmp_path) == []


def test_a_held_lock_is_looked_at_again_a_second_later(tmp_path: Path) -> None:
    seed(tmp_path, jst(2025, 10, 3, 9))
    other = JobLock(tmp_path / "state" / "locks", "daily")
    assert other.try_acquire()
    other.record(runner_pid=424242)

    class ReleasesAfterTwoLooks(StopAfterRuns):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 2:
                other.release()

    clock = ReleasesAfterTwoLooks(jst(2025, 10, 4, 9), tmp_path)
    r, lines = runner(tmp_path, clock, poll=60, stop_poll=3600)
    try:
        r.run()
    finally:
        other.release()
    assert clock.sleeps[:2] == [1.0, 1.0]  # not the 60 s poll, and not until tomorrow's slot
    assert runs(tmp_path) == ["2025-10-04T09:00:00+09:00"]  # the due slot, 2 s late
    assert lines.count("daily: skipped: another runner (pid 424242) holds its lock") == 1
    assert not any(
        ln.startswith("idle until")
        for ln in lines[: lines.index("daily: slot 2025-10-04T09:00:00+09:00 started (due)")]
    )


def test_catch_up_runs_are_spaced_by_the_cooldown_in_stop_poll_chunks(tmp_path: Path) -> None:
    seed(tmp_path, jst(2025, 10, 1, 9))
    clock = FakeClock(jst(2025, 10, 4, 12))
    r, _ = runner(tmp_path, clock, max_catchup=3, catchup_cooldown=2.5, stop_poll=1)
    assert r.run(once=True) == 0
    assert len(runs(tmp_path)) == 3
    assert clock.sleeps == [1.0, 1.0, 0.5] * 2  # two gaps of exactly 2.5 s


def test_an_idle_runner_notices_the_kill_file_within_stop_poll(tmp_path: Path) -> None:
    seed(tmp_path, jst(2025, 10, 4, 9))
    clock = StopAfterRuns(jst(2025, 10, 4, 10), tmp_path, max_sleeps=1)  # the kill file after one nap
    r, lines = runner(tmp_path, clock, poll=60, stop_poll=0.25)
    assert r.run() == 0
    assert clock.sleeps == [0.25]  # idle naps are stop_poll long, not poll: it stops within 0.25 s
    assert lines[-1] == f"stopping: kill file {tmp_path / 'ztb.stop'} found"
