"""Which slots a ``ztb cronish`` pass runs, and what it says (``ztbkit.schedule.runner`` docstring):
a first start runs the newest slot only when it is due (up to and including the grace boundary),
catch-up runs the missed slots and then the due one, each once; a runner with nothing to do says
nothing and leaves the lock alone; a held lock is said once per slot; a clock behind the last run's
slot is said once. Expected values are written here from the docstring; time is a FakeClock.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from test_runner_waits import jst, marker_job, runner, runs, seed

from ztbkit.core.clock import FakeClock
from ztbkit.schedule.runner import Job, Runner
from ztbkit.schedule.state import JobLock

NINE = "2025-10-04T09:00:00+09:00"


@pytest.mark.parametrize(
    ("late", "ran"),
    [(30, [NINE]), (120, [NINE]), (121, [])],
    ids=["30s-late", "exactly-the-grace", "a-second-past-it"],
)
def test_a_first_start_runs_the_newest_slot_only_while_it_is_due(
    tmp_path: Path, late: int, ran: list[str]
) -> None:
    """No state yet: nothing counts as missed, and the newest slot runs when it passed at most
    ``grace`` (120 s) ago. Either way that slot becomes the job's last slot."""
    r, lines = runner(tmp_path, FakeClock(jst(2025, 10, 4, 9) + timedelta(seconds=late)), max_catchup=5)
    assert r.run(once=True) == 0
    assert runs(tmp_path) == ran
    state = json.loads((tmp_path / "state" / "s.json").read_text(encoding="utf-8"))
    assert state["jobs"]["daily"]["last_slot"] == NINE
    assert lines == (
        [f"daily: slot {NINE} started (due)", f"daily: slot {NINE} ok (exit 0) in 0.0 s"] if ran else []
    )


def test_catch_up_runs_each_missed_slot_and_then_the_due_one_once(tmp_path: Path) -> None:
    seed(tmp_path, jst(2025, 10, 1, 9))  # 2 and 3 October missed; 4 October due (30 s ago)
    r, lines = runner(tmp_path, FakeClock(jst(2025, 10, 4, 9, 0, 30)), max_catchup=5)
    assert r.run(once=True) == 0
    assert runs(tmp_path) == ["2025-10-02T09:00:00+09:00", "2025-10-03T09:00:00+09:00", NINE]
    assert [ln for ln in lines if " started " in ln or "skipped" in ln] == [
        "daily: slot 2025-10-02T09:00:00+09:00 started (catch-up 1 of 2)",
        "daily: slot 2025-10-03T09:00:00+09:00 started (catch-up 2 of 2)",
        f"daily: slot {NINE} started (due)",
    ]


def test_a_runner_with_nothing_to_do_says_nothing_and_does_not_want_the_lock(tmp_path: Path) -> None:
    """Today's slot already ran (30 s ago, so it would still be "due"); another runner holds the lock.
    Nothing is to run, so there is nothing to say about the lock either."""
    seed(tmp_path, jst(2025, 10, 4, 9))
    other = JobLock(tmp_path / "state" / "locks", "daily")
    assert other.try_acquire()
    try:
        r, lines = runner(tmp_path, FakeClock(jst(2025, 10, 4, 9, 0, 30)), max_catchup=5)
        assert r.run(once=True) == 0
    finally:
        other.release()
    assert lines == [] and runs(tmp_path) == []


def test_a_held_lock_is_said_once_per_slot_and_names_an_unrecorded_holder(tmp_path: Path) -> None:
    """The other runner took the lock but has not written its pid yet. Each slot it blocks is said once,
    however often this runner looks; a pass that would only record skipped slots is said too."""
    seed(tmp_path, jst(2025, 10, 3, 9))
    other = JobLock(tmp_path / "state" / "locks", "daily")
    assert other.try_acquire()
    clock = FakeClock(jst(2025, 10, 4, 9, 0, 30))
    r, lines = runner(tmp_path, clock)
    held = "daily: skipped: another runner (pid not recorded yet) holds its lock"
    try:
        said = []
        for step in (0, 15, 86400 - 15, 86400 + 3 * 3600):  # 4 Oct 09:00:30, :45; 5 Oct 09:00:30; 12:00:30
            clock.advance(step)
            r.run(once=True)
            said.append(lines.count(held))
    finally:
        other.release()
    # 4 Oct's slot: said; 4 Oct again: not; 5 Oct's slot: said; 5 Oct at 12:00, only skipped slots: said
    assert said == [1, 1, 2, 3]
    assert runs(tmp_path) == []


@pytest.mark.parametrize(
    ("kind", "how"),
    [("cron", "waiting for the next slot after it"), ("interval", "resuming the interval from now")],
)
def test_a_clock_behind_the_last_runs_slot_is_said_once(tmp_path: Path, kind: str, how: str) -> None:
    seed(tmp_path, jst(2025, 10, 4, 9))  # ran at 09:00; the clock was then set back to 08:00
    argv = (sys.executable, "-c", "pass")
    job = Job("daily", argv, cron="0 9 * * *") if kind == "cron" else Job("daily", argv, interval_sec=3600)
    lines: list[str] = []
    r = Runner([job], state_file=tmp_path / "state" / "s.json", log_dir=tmp_path / "logs",
               clock=FakeClock(jst(2025, 10, 4, 8)), say=lines.append)  # fmt: skip
    r.run(once=True)
    r.run(once=True)
    behind = [ln for ln in lines if "is behind" in ln]
    assert behind == [
        f"daily: the clock (2025-10-03T23:00:00+00:00) is behind the last run's slot 2025-10-04T00:00:00+00:00; {how}"
    ]


def test_a_clock_exactly_at_the_last_runs_slot_is_not_behind(tmp_path: Path) -> None:
    seed(tmp_path, jst(2025, 10, 4, 9))
    r, lines = runner(tmp_path, FakeClock(jst(2025, 10, 4, 9)))
    assert r.run(once=True) == 0
    assert lines == [] and runs(tmp_path) == []
    assert marker_job(tmp_path).prev_slot(jst(2025, 10, 4, 9)) == jst(2025, 10, 4, 9)  # 09:00 is that slot
