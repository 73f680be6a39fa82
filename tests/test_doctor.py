"""ztb doctor on a healthy, a broken and a half-written session."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from conftest import MakeTree, write

from ztbkit.cli import cli
from ztbkit.clock import FakeClock
from ztbkit.doctor import CHECKS, Check, Context, run_doctor

NOW = datetime(2025, 10, 1, 3, 0, tzinfo=UTC)  # 12:00 JST
HEALTHY = {
    "summary.json": {"global_step": 50_000, "rl_sharpe": 1.2, "timestamp": "2025-10-01T09:00:00"},
    "metrics.json": {"global_step": 50_000, "steps": 50_000, "elapsed_time": 500.0},
    "run_metadata.json": {"correlation_id": "ok", "duration_seconds": 500, "gpu_count": 1},
    "logs/train.log": "2025-10-01T11:50:00+09:00 INFO Step 40000/100000\n2025-10-01T11:51:40+09:00 INFO Step 50000/100000\n",
}  # fmt: skip
FAST = tuple(c for c in CHECKS if c.__name__ != "kernel_starts")  # the kernel check runs once, below


def statuses(report: object) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}  # type: ignore[attr-defined]


def test_healthy_session(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"ok": HEALTHY})
    job = {"status": "ok", "exit_code": 0, "last_finish": "2025-09-30T21:31:00+00:00"}
    state = write(tmp_path / "st" / "s.json", {"jobs": {"nightly": job}})
    report = run_doctor(root, "ok", state_file=state, checks=FAST, clock=FakeClock(NOW))
    s = statuses(report)
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


def test_doctor_cli_exit_codes_json_and_kernel(make_tree: MakeTree, tmp_path: Path) -> None:
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
    assert lines[-1] == "Doctor Summary: OK=6, WARN=2, FAIL=0"  # WARN: no webhook, no scheduler state
    assert any(ln.startswith("[OK  ] report_kernel: kernel") for ln in lines)  # a real kernel started
    r = CliRunner().invoke(cli, ["doctor", "--correlation-id", "ok", "--artifacts-dir", str(root), "--json"])
    doc = json.loads(r.stdout)
    assert (
        doc["correlation_id"] == "ok"
        and len(doc["checks"]) == 8
        and set(doc["summary"]) == {"OK", "WARN", "FAIL"}
    )
    r = CliRunner().invoke(cli, ["doctor", "--correlation-id", "nope", "--artifacts-dir", str(root)])
    assert r.exit_code == 2 and f"no session folder {root / 'nope'}" in r.stderr


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
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = p.stdout.splitlines()
    assert [ln for ln in lines if "Doctor Summary" in ln and not ln.startswith("[")] == [lines[-1]]
    assert lines[-1].startswith("Doctor Summary: OK=") and lines[-1] != "Doctor Summary: OK=9, WARN=0, FAIL=0"
    assert "\x1b" not in p.stdout and "\x0b" not in p.stdout and "\\x1b[2K" in p.stdout
    text = (root / "s" / "reports" / "doctor.txt").read_text(encoding="utf-8")
    assert "\x1b" not in text and sum(ln.startswith("Doctor Summary") for ln in text.splitlines()) == 1
