"""Issue 24 case 9: ``ztb doctor`` checks the scheduler as a sysadmin would. The state it judges is
written by real ``ztb cronish`` processes (wall clock set by Debian's libfaketime); the doctor then
looks with a FakeClock at the moment a sysadmin would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import MakeTree
from fakehook import FakeHook, Reply
from test_silent_failures import DUE, LIBFAKETIME, ZTB, nightly_args, offset_to, quick_job, slow_job, wait_for

from ztbkit.core.clock import FakeClock
from ztbkit.ops.checks import Check
from ztbkit.ops.doctor import run_doctor
from ztbkit.ops.schedule_checks import outbox_backlog, scheduler_schedule

SESSION = {"summary.json": {"global_step": 1, "rl_sharpe": 1.0}}
STATE = Path(".ztb") / "cronish-state.json"


def cron_run(d: Path, at: datetime, job: str, *extra: str, hook: str | None = None) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(d), "TZ": "UTC", "LD_PRELOAD": LIBFAKETIME,
           "FAKETIME": offset_to(at), "ZTB_DELIVERY_BUDGET_SEC": "3", "ZTB_WEBHOOK_TIMEOUT_SEC": "1"}  # fmt: skip
    if hook:
        env["ZTB_DISCORD_WEBHOOK"] = hook
    p = subprocess.run([*ZTB, "cronish", *extra, *nightly_args(d, job)], cwd=d, env=env, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    return p.stdout + p.stderr


def look(d: Path, make_tree: MakeTree, at: datetime, monkeypatch: pytest.MonkeyPatch) -> dict[str, Check]:
    monkeypatch.setenv("ZTB_HOME", str(d / ".ztb"))
    root = make_tree({"s": SESSION}, root=d / "artifacts")
    report = run_doctor(root, "s", checks=(scheduler_schedule, outbox_backlog), clock=FakeClock(at))
    return {c.name: c for c in report.checks}


def test_a_missed_0630_slot_is_a_warn_the_same_morning(
    tmp_path: Path, make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = cron_run(tmp_path, DUE, quick_job(tmp_path))
    assert "ok (exit 0)" in out, out
    on_time = look(tmp_path, make_tree, DUE + timedelta(hours=2), monkeypatch)["schedule"]
    assert on_time.status == "OK" and on_time.reason == "1 job(s) on time"
    # the next morning at 06:50 JST the 06:30 slot has not run: a WARN now, not in two days
    late = look(tmp_path, make_tree, DUE + timedelta(days=1, minutes=20), monkeypatch)["schedule"]
    assert late.status == "WARN", late
    assert late.reason.startswith("nightly: missed slot 2025-10-05T06:30:00+09:00: no successful run for it")
    # at 06:40 it may still be starting (cron ticks every 10 min): not yet
    assert (
        look(tmp_path, make_tree, DUE + timedelta(days=1, minutes=10), monkeypatch)["schedule"].status == "OK"
    )


def test_a_cancelled_last_run_and_a_kill_file_left_behind(
    tmp_path: Path, make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path
    env = {"PATH": os.environ["PATH"], "HOME": str(d), "TZ": "UTC", "LD_PRELOAD": LIBFAKETIME,
           "FAKETIME": offset_to(DUE)}  # fmt: skip
    p = subprocess.Popen([*ZTB, "cronish", *nightly_args(d, slow_job(d))], cwd=d, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    wait_for(lambda: (d / "started").exists(), "the nightly to start")
    (d / "ztb.stop").touch()  # the way a user stops it, and forgets the file
    p.communicate(timeout=60)
    check = look(d, make_tree, DUE + timedelta(minutes=5), monkeypatch)["schedule"]
    assert check.status == "FAIL"
    assert any(
        "last run cancelled (slot 2025-10-04T06:30:00+09:00 waits to be made up)" in x for x in check.details
    )
    assert any(f"the kill file {d / 'ztb.stop'} is present" in x for x in check.details)
    (d / "ztb.stop").unlink()
    assert look(d, make_tree, DUE + timedelta(minutes=5), monkeypatch)["schedule"].status == "WARN"


def test_a_job_running_past_its_timeout_after_its_runner_was_killed(
    tmp_path: Path, make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path
    env = {"PATH": os.environ["PATH"], "HOME": str(d), "TZ": "UTC", "LD_PRELOAD": LIBFAKETIME,
           "FAKETIME": offset_to(DUE)}  # fmt: skip
    p = subprocess.Popen([*ZTB, "cronish", "--timeout-sec", "7200", *nightly_args(d, slow_job(d))], cwd=d,
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for(lambda: (d / "started").exists(), "the nightly to start")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    check = look(d, make_tree, DUE + timedelta(hours=20), monkeypatch)["schedule"]
    assert check.status == "FAIL" and "running for 20.0 h, past its 7200 s timeout" in check.reason, check


def test_an_alert_stuck_in_the_outbox_and_how_old_it_is(
    tmp_path: Path, make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = FakeHook(always=Reply(503))
    try:
        out = cron_run(tmp_path, DUE, "exit 3", hook=down.url())
    finally:
        down.close()
    assert "kept in the outbox" in out, out
    checks = look(tmp_path, make_tree, DUE + timedelta(hours=3), monkeypatch)
    assert checks["outbox"].status == "WARN" and checks["outbox"].reason.startswith("1 alert(s) waiting in ")
    assert "the oldest for 3.0 h" in checks["outbox"].reason and "HTTP 503" in checks["outbox"].reason
    assert checks["schedule"].status == "FAIL" and "last run failed" in checks["schedule"].reason
    assert look(tmp_path, make_tree, DUE + timedelta(days=2), monkeypatch)["outbox"].status == "FAIL"


def test_a_bad_state_entry_is_named(
    tmp_path: Path, make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / STATE
    state.parent.mkdir(parents=True)
    state.write_text(
        json.dumps({"version": 1, "jobs": {"nightly": {"last_slot": "yesterday"}}}), encoding="utf-8"
    )
    check = look(tmp_path, make_tree, DUE, monkeypatch)["schedule"]
    assert (
        check.status == "WARN" and "jobs.nightly: 'last_slot' 'yesterday' is not an ISO time" in check.reason
    )


def test_the_cli_finds_the_state_file_where_the_scheduler_keeps_it(
    tmp_path: Path, make_tree: MakeTree
) -> None:
    """Not relative to the working folder: on a systemd install the admin runs it from anywhere."""
    var_lib = tmp_path / "var-lib-ztb"
    var_lib.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TZ": "UTC", "LD_PRELOAD": LIBFAKETIME,
           "FAKETIME": offset_to(DUE), "STATE_DIRECTORY": str(var_lib)}  # fmt: skip
    subprocess.run([*ZTB, "cronish", "--once", "--cron", "30 6 * * *", "--name", "nightly", "--", "false"],
                   cwd=tmp_path, env=env, capture_output=True, timeout=300, check=False)  # fmt: skip
    assert (var_lib / "cronish-state.json").is_file()
    root = make_tree({"s": SESSION}, root=tmp_path / "artifacts")
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    admin = {"PATH": os.environ["PATH"], "HOME": str(elsewhere), "ZTB_HOME": str(var_lib)}
    r = subprocess.run([*ZTB, "doctor", "--correlation-id", "s", "--artifacts-dir", str(root)], cwd=elsewhere,
                       env=admin, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert "[FAIL] schedule: nightly: last run failed" in r.stdout, r.stdout + r.stderr
    assert "no scheduler state" not in r.stdout
    assert r.returncode == 1
