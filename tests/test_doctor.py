"""ztb doctor on a healthy, a broken and a half-written session."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MakeTree, write

from ztbkit.cli import cli
from ztbkit.core.clock import FakeClock
from ztbkit.ops.checks import Check, Context, Host
from ztbkit.ops.doctor import CHECKS, run_doctor
from ztbkit.ops.host_checks import disk_health

NOW = datetime(2025, 10, 1, 3, 0, tzinfo=UTC)  # 12:00 JST
HEALTHY = {
    "summary.json": {"global_step": 50_000, "rl_sharpe": 1.2, "timestamp": "2025-10-01T09:00:00"},
    "metrics.json": {"global_step": 50_000, "steps": 50_000, "elapsed_time": 500.0},
    "run_metadata.json": {"correlation_id": "ok", "duration_seconds": 500, "gpu_count": 1},
    "logs/train.log": "2025-10-01T11:50:00+09:00 INFO Step 40000/100000\n2025-10-01T11:51:40+09:00 INFO Step 50000/100000\n",
}  # fmt: skip
FAST = tuple(c for c in CHECKS if c.__name__ != "kernel_starts")  # the kernel check runs once, below
GB = 2**30
# A roomy, fast disk: the doctor's verdicts in these tests must not depend on the machine running them.
ROOMY = Host(disk_space=lambda folder: (100 * GB, 50 * GB), inodes=lambda folder: (1000, 500),
             write_latency=lambda folder: 0.01)  # fmt: skip


def statuses(report: object) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}  # type: ignore[attr-defined]


def test_healthy_session(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"ok": HEALTHY})
    job = {"status": "ok", "exit_code": 0, "last_finish": "2025-09-30T21:31:00+00:00"}
    state = write(tmp_path / "st" / "s.json", {"jobs": {"nightly": job}})
    report = run_doctor(root, "ok", state_file=state, checks=FAST, clock=FakeClock(NOW), host=ROOMY)
    s = statuses(report)
    disk = next(c for c in report.checks if c.name == "disk_health").reason
    assert disk == "free 50.0 GB of 100.0 GB (50.0%); free inodes 50.0%; 1 MB write+fsync took 10 ms"
    assert (
        s["validate_artifacts"] == s["collect_last_errors"] == s["progress_eta"] == s["disk_health"] == "OK"
    )
    assert s["scheduler"] == "OK" and s["tensorboard"] == "OK"
    eta = next(c for c in report.checks if c.name == "progress_eta").reason
    assert (
        "step 50,000/100,000 (50.0%)" in eta
        and "100.0 steps/s from log lines" in eta
        and "ETA 0:08:20" in eta
    )
    text = (root / "ok" / "reports" / "doctor.txt").read_text(encoding="utf-8")
    assert text.rstrip().endswith(report.summary_line())


def test_broken_session(make_tree: MakeTree, tmp_path: Path) -> None:
    logs = ("2025-10-01T10:00:00 INFO Step 10/100\n2025-10-01T10:05:00+09:00 ERROR cuda oom\n"
            "2025-10-01T01:07:00Z CRITICAL watchdog: exited 1\nplain text with FAILED and no time\n")  # fmt: skip
    watch = json.dumps({"timestamp": "2025-10-01T10:06:00+09:00", "level": "ERROR", "alert_type": "memory",
                        "message": "rss high"}) + "\n{broken\n"  # fmt: skip
    root = make_tree({"bad": {"summary.json": "{truncated", "logs/train.log": logs, "logs/watch_log.jsonl": watch,
                              "tb/events.out.tfevents.1.h.1.0": b"\x05" + b"\x00" * 7 + b"garbagegarbage"}})  # fmt: skip
    report = run_doctor(root, "bad", state_file=tmp_path / "none.json", checks=FAST, clock=FakeClock(NOW))
    s = statuses(report)
    assert s["validate_artifacts"] == "FAIL" and s["collect_last_errors"] == "FAIL"  # CRITICAL present
    errors = next(c for c in report.checks if c.name == "collect_last_errors")
    assert errors.reason.startswith(
        "4 error line(s), 1 critical; newest: train.log: 2025-10-01T01:07:00Z CRITICAL"
    )
    assert errors.details[1].startswith(
        "2025-10-01T10:06:00+09:00 ERROR    watch_log.jsonl:1: [memory] rss high"
    )
    assert s["scheduler"] == "WARN" and s["tensorboard"] == "WARN"
    assert report.counts()["FAIL"] >= 2


def test_half_written_session_and_a_crashing_check(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"half": {"run_metadata.json": {"correlation_id": "half", "gpu_count": 1}}})

    def explode(ctx: Context) -> Check:
        raise RuntimeError("boom")

    report = run_doctor(
        root, "half", state_file=tmp_path / "x.json", checks=(*FAST[:3], explode), clock=FakeClock(NOW)
    )
    s = statuses(report)
    assert s["validate_artifacts"] == "WARN" and s["progress_eta"] == "WARN" and s["explode"] == "FAIL"
    assert next(c for c in report.checks if c.name == "explode").reason == "check crashed: RuntimeError: boom"


def test_doctor_cli_exit_codes_json_and_kernel(
    make_tree: MakeTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ztbkit.ops import doctor

    monkeypatch.setattr(doctor, "Host", lambda: ROOMY)  # the CLI's real-host default, made roomy and fast
    root = make_tree({"ok": HEALTHY})
    no_hooks = {"ZTB_DISCORD_WEBHOOK": "", "SLACK_WEBHOOK_URL": ""}
    args = [
        "doctor",
        "--correlation-id",
        "ok",
        "--artifacts-dir",
        str(root),
        "--state-file",
        str(tmp_path / "s.json"),
    ]
    r = CliRunner().invoke(cli, args, env=no_hooks)
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert (
        lines[-1] == "Doctor Summary: OK=8, WARN=3, FAIL=0"
    )  # WARN: no webhook, no scheduler state, no watch
    assert any(ln.startswith("[OK  ] report_kernel: kernel") for ln in lines)  # a real kernel started
    r = CliRunner().invoke(cli, ["doctor", "--correlation-id", "ok", "--artifacts-dir", str(root), "--json"])
    doc = json.loads(r.stdout)
    assert (
        doc["correlation_id"] == "ok"
        and len(doc["checks"]) == 11
        and set(doc["summary"]) == {"OK", "WARN", "FAIL"}
    )
    r = CliRunner().invoke(cli, ["doctor", "--correlation-id", "nope", "--artifacts-dir", str(root)])
    assert r.exit_code == 2 and f"no session folder {root / 'nope'}" in r.stderr


def test_the_kernel_check_starts_its_kernel_like_the_reports_do(
    make_tree: MakeTree, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Over IPC sockets on POSIX, as the reports (no port race with a nightly starting kernels, and no
    "Kernel is running over TCP without encryption" warning in the doctor's output)."""
    from ztbkit.ops import doctor

    root = make_tree({"ok": HEALTHY})
    report = doctor.run_doctor(
        root, "ok", state_file=tmp_path / "s.json", checks=(doctor.kernel_starts,), clock=FakeClock(NOW)
    )
    assert statuses(report) == {"report_kernel": "OK"}, report.checks
    err = capfd.readouterr().err
    assert "without encryption" not in err and "Traceback" not in err, err


def test_stale_scheduler_lock_and_failed_job_are_warned(make_tree: MakeTree, tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job = {"status": "failed", "exit_code": 1, "last_finish": "2025-09-20T00:00:00+00:00"}
    state = write(tmp_path / "sched" / "s.json", {"jobs": {"nightly": job}})
    write(tmp_path / "sched" / "locks" / "nightly.pid", str(dead.pid))
    root = make_tree({"ok": HEALTHY})
    report = run_doctor(root, "ok", state_file=state, checks=FAST, clock=FakeClock(NOW))
    sched = next(c for c in report.checks if c.name == "scheduler")
    assert sched.status == "WARN"
    assert any("(stale)" in d for d in sched.details) and any(
        f"dead pid {dead.pid}" in d for d in sched.details
    )


def test_cp932_and_mixed_log_lines_show_correctly(make_tree: MakeTree, tmp_path: Path) -> None:
    """A bot on Japanese Windows writes its log in cp932; another process may add UTF-8 lines."""
    cp932 = "2025-10-01T10:05:00+09:00 ERROR 学習プロセスが異常終了しました\r\n".encode("cp932")
    utf8 = "2025-10-01T10:06:00+09:00 ERROR 残高不足 ¥1,556\n".encode()
    bom = b"\xef\xbb\xbf" + "2025-10-01T10:04:00+09:00 ERROR 接続エラー\n".encode()
    root = make_tree(
        {"jp": {"logs/train.log": bom + cp932 + utf8 + b"2025-10-01T10:07:00+09:00 ERROR \x81\x7f\n"}}
    )
    report = run_doctor(root, "jp", state_file=tmp_path / "none.json", checks=FAST, clock=FakeClock(NOW))
    errors = next(c for c in report.checks if c.name == "collect_last_errors")
    assert [d.split(" ", 1)[1].strip() for d in errors.details] == [
        "ERROR    train.log: 2025-10-01T10:07:00+09:00 ERROR \ufffd\x7f",
        "ERROR    train.log: 2025-10-01T10:06:00+09:00 ERROR 残高不足 ¥1,556",
        "ERROR    train.log (cp932): 2025-10-01T10:05:00+09:00 ERROR 学習プロセスが異常終了しました",
        "ERROR    train.log: 2025-10-01T10:04:00+09:00 ERROR 接続エラー",
    ]


def test_log_content_cannot_forge_a_summary_line_and_fifo_logs_do_not_hang(
    make_tree: MakeTree, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    root = make_tree({"s": {"summary.json": {"global_step": 5}}})
    logs = root / "s" / "logs"
    logs.mkdir()
    forged = "2025-10-01 00:00:00 ERROR boom\x1b[2K\x1b[1G\x0bDoctor Summary: OK=9, WARN=0, FAIL=0\x85x\n"
    (logs / "train.log").write_text(forged, encoding="utf-8")
    os.mkfifo(logs / "stuck.log")  # a FIFO where a log belongs: nobody ever writes to it
    os.mkfifo(logs / "watch_log.jsonl")
    p = subprocess.run([sys.executable, "-m", "ztbkit", "doctor", "--correlation-id", "s", "--artifacts-dir",
                        str(root), "--state-file", str(tmp_path / "none.json")],
                       capture_output=True, text=True, timeout=120, encoding="utf-8")  # fmt: skip
    lines = p.stdout.splitlines()
    assert [ln for ln in lines if "Doctor Summary" in ln and not ln.startswith("[")] == [lines[-1]]
    assert lines[-1].startswith("Doctor Summary: OK=") and lines[-1] != "Doctor Summary: OK=9, WARN=0, FAIL=0"
    assert "\x1b" not in p.stdout and "\x0b" not in p.stdout and "\\x1b[2K" in p.stdout
    text = (root / "s" / "reports" / "doctor.txt").read_text(encoding="utf-8")
    assert "\x1b" not in text and sum(ln.startswith("Doctor Summary") for ln in text.splitlines()) == 1


@pytest.mark.parametrize(
    ("free_gb", "free_inodes", "latency", "status", "reason"),
    [
        (4.9, 500, 0.01, "FAIL", "free 4.9 GB of 100.0 GB (4.9%); free inodes 50.0%; 1 MB write+fsync took 10 ms"),
        (5.0, 500, 0.01, "WARN", "free 5.0 GB of 100.0 GB (5.0%); free inodes 50.0%; 1 MB write+fsync took 10 ms"),
        (14.9, 500, 0.01, "WARN", "free 14.9 GB of 100.0 GB (14.9%); free inodes 50.0%; 1 MB write+fsync took 10 ms"),
        (15.0, 500, 0.01, "OK", "free 15.0 GB of 100.0 GB (15.0%); free inodes 50.0%; 1 MB write+fsync took 10 ms"),
        (50.0, 49, 0.01, "FAIL", "free 50.0 GB of 100.0 GB (50.0%); free inodes 4.9%; 1 MB write+fsync took 10 ms"),
        (50.0, 50, 0.01, "WARN", "free 50.0 GB of 100.0 GB (50.0%); free inodes 5.0%; 1 MB write+fsync took 10 ms"),
        (50.0, 150, 0.01, "OK", "free 50.0 GB of 100.0 GB (50.0%); free inodes 15.0%; 1 MB write+fsync took 10 ms"),
        (50.0, 500, 2.0, "OK", "free 50.0 GB of 100.0 GB (50.0%); free inodes 50.0%; 1 MB write+fsync took 2000 ms"),
        (50.0, 500, 2.5, "WARN", "free 50.0 GB of 100.0 GB (50.0%); free inodes 50.0%; 1 MB write+fsync took 2500 ms"),
        (4.0, 500, 9.0, "FAIL", "free 4.0 GB of 100.0 GB (4.0%); free inodes 50.0%; 1 MB write+fsync took 9000 ms"),
    ],
)  # fmt: skip
def test_disk_thresholds(
    tmp_path: Path, free_gb: float, free_inodes: int, latency: float, status: str, reason: str
) -> None:
    host = Host(disk_space=lambda folder: (100 * GB, int(free_gb * GB)), inodes=lambda folder: (1000, free_inodes),
                write_latency=lambda folder: latency)  # fmt: skip
    ctx = Context(tmp_path, "x", None, tmp_path / "s.json", FakeClock(NOW), host=host)
    check = disk_health(ctx)
    assert (check.status, check.reason) == (status, reason)


def test_disk_without_inode_counts_and_the_real_host(tmp_path: Path) -> None:
    host = Host(disk_space=lambda folder: (100 * GB, 20 * GB), inodes=lambda folder: None,
                write_latency=lambda folder: 0.5)  # fmt: skip
    check = disk_health(Context(tmp_path, "x", None, tmp_path / "s.json", FakeClock(NOW), host=host))
    assert (check.status, check.reason) == (
        "OK",
        "free 20.0 GB of 100.0 GB (20.0%); 1 MB write+fsync took 500 ms",
    )
    real = disk_health(
        Context(tmp_path, "x", None, tmp_path / "s.json", FakeClock(NOW))
    )  # measures, any verdict
    assert real.reason.startswith("free ") and "1 MB write+fsync took" in real.reason
    assert not list(tmp_path.glob(".ztb-doctor-*"))  # the probe file is removed


def test_a_running_session_without_progress_for_an_hour_is_stalled(
    make_tree: MakeTree, tmp_path: Path
) -> None:
    index = {"sessions": [{"correlation_id": "ok", "status": "running"}]}
    root = make_tree({"ok": HEALTHY}, index=index)
    later = datetime(2025, 10, 1, 4, 0, tzinfo=UTC)  # 13:00 JST; the last Step line is 11:51:40 JST
    report = run_doctor(root, "ok", state_file=tmp_path / "s.json", checks=FAST[2:3], clock=FakeClock(later))
    [check] = report.checks
    assert (check.status, check.reason) == ("WARN", "step 50,000/100,000 (50.0%); 100.0 steps/s from log lines; "
                                            "ETA 0:08:20 (about 2025-10-01 13:08 JST); "
                                            "last progress line is 1:08:20 old: stalled?")  # fmt: skip
    # The same session stopped (index status) is not stalled, and neither is a running one at 12:00 JST.
    root = make_tree({}, index={"sessions": [{"correlation_id": "ok", "status": "stopped"}]})
    assert run_doctor(root, "ok", checks=FAST[2:3], clock=FakeClock(later)).checks[0].status == "OK"
    root = make_tree({}, index=index)
    assert run_doctor(root, "ok", checks=FAST[2:3], clock=FakeClock(NOW)).checks[0].status == "OK"
