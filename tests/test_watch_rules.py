"""The watch's rules on training, the scheduler and money; the digest; the doctor's watch check; the
``watch`` and ``digest-daily`` templates. In-process with an injected clock and the local webhook."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MakeTree, write
from fakehook import FakeHook
from watchkit import live_folder

from ztbkit.cli import cli
from ztbkit.core.clock import FakeClock
from ztbkit.watch.config import load_config
from ztbkit.watch.engine import evaluate_once

NOW = datetime.now(UTC)


def config(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "watch.toml", "[ztbkit]\ndisk_min_free_gb = 0\n" + text)


@pytest.fixture
def hook_env(hook_server: FakeHook) -> object:
    os.environ["ZTB_DISCORD_WEBHOOK"] = hook_server.url()
    yield hook_server
    del os.environ["ZTB_DISCORD_WEBHOOK"]


def test_training_stalled_failed_and_finished(
    tmp_path: Path, make_tree: MakeTree, hook_env: FakeHook
) -> None:
    index = {"sessions": [{"correlation_id": "run-a", "status": "running"}, {"correlation_id": "run-b", "status": "running"},
                          {"correlation_id": "old-fail", "status": "failed"}]}  # fmt: skip
    root = make_tree({"run-a": {"logs/train.log": "2025 INFO Step 1/10\n"},
                      "run-b": {"summary.json": {"rl_sharpe": 1.25, "dsr": 0.91},
                                "reports/cost_estimate.json": {"total_cost_jpy": 812.5, "gpu_hours": 2}},
                      "old-fail": {}}, index=index)  # fmt: skip
    cfg = load_config(config(tmp_path, f'[live]\nenabled = false\n[training]\nartifacts_dir = "{root}"\n'
                             "stalled_after_sec = 600\n"), tmp_path)  # fmt: skip
    clock = FakeClock(
        datetime.now(UTC)
    )  # the files were just written (NOW is from import: minutes ago under xdist)
    evaluate_once(cfg, clock=clock, say=lambda _l: None)
    assert hook_env.titles == []  # the first evaluation learns; old-fail is not news
    clock.advance(700)
    evaluate_once(cfg, clock=clock, say=lambda _l: None)
    assert sorted(hook_env.titles) == [
        "[firing] training_stalled · run-a",
        "[firing] training_stalled · run-b",
    ]
    write(
        root / "run-a" / "logs" / "train.log", "INFO Step 2/10\nERROR [train] CUDA out of memory\nINFO bye\n"
    )
    os.utime(root / "run-a" / "logs" / "train.log", (clock.now().timestamp(),) * 2)
    index["sessions"][0]["status"] = "failed"
    index["sessions"][1]["status"] = "stopped"
    write(root / "index.json", index)
    clock.advance(60)
    evaluate_once(cfg, clock=clock, say=lambda _l: None)
    bodies = {s.body["embeds"][0]["title"]: s.body["embeds"][0] for s in hook_env.seen}
    failed = bodies["[event] training_failed · run-a"]
    assert "ERROR [train] CUDA out of memory" in failed["description"]
    finished = bodies["[event] training_finished · run-b"]
    assert "Sharpe 1.25" in finished["description"] and "DSR 0.91" in finished["description"]
    assert "¥813" in finished["description"] or "¥812" in finished["description"]
    assert "[resolved] training_stalled · run-a" in bodies and "[resolved] training_stalled · run-b" in bodies
    clock.advance(60)
    count = len(hook_env.titles)
    evaluate_once(cfg, clock=clock, say=lambda _l: None)
    assert len(hook_env.titles) == count  # sent once


def test_scheduler_failed_missed_and_money_rules(tmp_path: Path, hook_env: FakeHook) -> None:
    live = live_folder(tmp_path / "live")
    today = NOW.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).date().isoformat()
    write(live / "stats.json", {"date": today, "data": [
        {"pair": "btc_jpy", "stats": {"trades": 3, "wins": 0, "realizedPnl": -8000, "maxDrawdown": 25000}},
        {"pair": "eth_jpy", "stats": {"trades": 2, "wins": 1, "realizedPnl": -2500, "maxDrawdown": 100}}]})  # fmt: skip
    state = write(tmp_path / ".ztb" / "cronish-state.json", {"version": 1, "jobs": {
        "nightly": {"status": "failed", "exit_code": 3, "last_finish": (NOW - timedelta(hours=30)).isoformat()},
        "hourly": {"status": "ok", "last_finish": (NOW - timedelta(hours=2)).isoformat()},
        "often": {"status": "ok", "last_finish": (NOW - timedelta(minutes=25)).isoformat(), "period_sec": 600},
        "daily": {"status": "ok", "last_finish": (NOW - timedelta(hours=25)).isoformat(),
                  "period_sec": 86400}}})  # fmt: skip
    cfg = load_config(config(tmp_path, '[live]\nstate_dir = "live"\n[training]\nenabled = false\n'
                             "[scheduler.jobs]\nhourly = 5400\n"), tmp_path)  # fmt: skip
    clock = FakeClock(NOW)
    evaluate_once(cfg, clock=clock, say=lambda _l: None)
    titles = set(hook_env.titles)
    assert {"[firing] scheduler_failed · nightly", "[firing] scheduler_missed · nightly",
            "[firing] scheduler_missed · hourly", f"[firing] live_daily_loss · {today}",
            "[firing] live_drawdown · btc_jpy"} <= titles, titles  # fmt: skip
    assert "[firing] live_drawdown · eth_jpy" not in titles
    assert (
        "[firing] scheduler_missed · often" in titles
    )  # its own 10-min schedule allows 20 min: 25 is a miss
    assert "[firing] scheduler_missed · daily" not in titles  # a daily job 25 h on: still within 27 h
    write(live / "trade-config.json", {"pair": "eth_jpy"})
    doc = json.loads(state.read_text())
    doc["jobs"]["nightly"] = {"status": "ok", "last_finish": NOW.isoformat()}
    write(state, doc)
    clock.advance(60)
    evaluate_once(cfg, clock=clock, say=lambda _l: None)
    new = hook_env.titles[len(titles) :]
    assert "[resolved] scheduler_failed · nightly" in new and "[resolved] scheduler_missed · nightly" in new
    assert "[event] live_config_changed · trade-config.json" in new


def test_the_digest_says_all_clear_or_what_happened(tmp_path: Path, hook_env: FakeHook) -> None:
    live = live_folder(tmp_path / "live")
    cfg = load_config(config(tmp_path, '[live]\nstate_dir = "live"\n[training]\nenabled = false\n'), tmp_path)
    evaluate_once(
        cfg, clock=FakeClock(datetime(2025, 9, 29, 3, tzinfo=UTC)), say=lambda _l: None
    )  # stats' day
    runner = CliRunner()
    args = [
        "digest",
        "--config",
        str(tmp_path / "watch.toml"),
        "--state-dir",
        str(tmp_path),
        "--date",
        "2025-09-29",
    ]
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "ztbkit digest 2025-09-29 (JST): all clear" in r.stdout and "btc_jpy ¥15,000" in r.stdout
    assert hook_env.titles[-1].startswith("✅ ztbkit digest 2025-09-29 (JST): all clear")
    os.utime(live / "stats.json", (NOW.timestamp() - 3600,) * 2)
    evaluate_once(cfg, clock=FakeClock(NOW), say=lambda _l: None)
    day = NOW.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).date().isoformat()
    r = runner.invoke(cli, [*args[:-1], day, "--dry-run"])
    assert "1 alert(s) fired" in r.stdout and "fired: live_stale · stats.json" in r.stdout
    r = runner.invoke(cli, ["silence", "add", "disk_low", "--for", "1d", "--state-dir", str(tmp_path)])
    r = runner.invoke(cli, [*args[:-1], day, "--period", "week", "--dry-run"])
    assert "silences active: disk_low until" in r.stdout
    assert runner.invoke(cli, [*args, "--period", "year"]).exit_code == 2


def test_doctor_shows_the_watch_state(tmp_path: Path, make_tree: MakeTree, hook_env: FakeHook) -> None:
    from ztbkit.ops.doctor import run_doctor
    from ztbkit.ops.watch_checks import watch_state

    root = make_tree({"s1": {"summary.json": {"global_step": 1}}})
    state_file = tmp_path / ".ztb" / "cronish-state.json"
    never = run_doctor(root, "s1", state_file=state_file, checks=(watch_state,))
    assert never.checks[0].status == "WARN" and "never run" in never.checks[0].reason
    live_folder(tmp_path / "live", age_sec=3600)
    cfg = load_config(config(tmp_path, '[live]\nstate_dir = "live"\n[training]\nenabled = false\n'), tmp_path)
    evaluate_once(cfg, clock=FakeClock(NOW), say=lambda _l: None)
    [check] = run_doctor(
        root, "s1", state_file=state_file, checks=(watch_state,), clock=FakeClock(NOW)
    ).checks
    assert check.status == "WARN" and "2 firing" in check.reason
    assert any("firing: live_stale · stats.json" in d for d in check.details)
    assert any("no heartbeat configured" in d for d in check.details)
    [late] = run_doctor(root, "s1", state_file=state_file, checks=(watch_state,),
                        clock=FakeClock(NOW + timedelta(hours=1))).checks  # fmt: skip
    assert "last evaluation 60 min ago" in late.reason


def test_watch_and_digest_daily_templates() -> None:
    from ztbkit.schedule.templates import template_json

    watch = template_json("watch")
    assert watch["command"] == ["ztb", "watch", "--once"] and watch["schedule"]["linux"] == "* * * * *"
    assert (
        watch["schedule"]["windows"] == "/SC MINUTE /MO 1"
        and "PT1M" in watch["schedule"]["windows_trigger_xml"]
    )
    digest = template_json("digest-daily")
    assert digest["schedule"]["linux"] == "0 21 * * *" and digest["schedule"]["linux_utc"] == "0 12 * * *"
    assert digest["command"] == ["ztb", "digest"]


def test_the_watch_recipes_are_valid_units_and_task_xml(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import xml.etree.ElementTree as ET

    from conftest import REPO

    ops = REPO / "ops"
    service = (ops / "systemd" / "ztb-watch.service").read_text(encoding="utf-8")
    assert "Restart=always" in service and "ztb watch --config" in service
    timer = (ops / "systemd" / "ztb-watch-once.timer").read_text(encoding="utf-8")
    assert "OnCalendar=*-*-* *:*:00" in timer
    task = ET.fromstring((ops / "windows" / "ztb_watch_task.xml").read_bytes())
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert task.findtext(".//t:Repetition/t:Interval", namespaces=ns) == "PT1M"
    assert task.findtext(".//t:Arguments", namespaces=ns).startswith("watch --once")
    cron = (ops / "cron" / "crontab.example").read_text(encoding="utf-8")
    assert "* * * * *    mkdir -p /srv/ztb/.ztb && cd /srv/ztb && /opt/ztb/.venv/bin/ztb watch --once" in cron
    if shutil.which("systemd-analyze") is None:
        return
    names = ("ztb-watch.service", "ztb-watch-once.service", "ztb-watch-once.timer")
    for name in names:
        text = (
            (ops / "systemd" / name)
            .read_text(encoding="utf-8")
            .replace("/opt/ztb/.venv/bin/ztb", "/bin/true")
        )
        (tmp_path / name).write_text(text, encoding="utf-8")
    p = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in names)], capture_output=True,
                       encoding="utf-8", errors="replace")  # fmt: skip
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr


def test_the_watch_and_digest_cron_lines_run_as_pasted(tmp_path: Path, hook_server: FakeHook) -> None:
    """ops/cron/crontab.example's two lines as cron runs them (sh -c, a bare environment, faketime)."""
    from test_schedule_ops import JST, as_cron, crontab

    _, jobs = crontab()
    watch_line = next(c for s, c in jobs if s == "* * * * *")
    digest_line = next(c for s, c in jobs if "digest-daily" in c)
    srv = tmp_path / "srv" / "ztb"
    srv.mkdir(parents=True)
    write(srv / "watch.toml", f'[live]\nstate_dir = "{tmp_path / "srv" / "bot"}"\n[routes]\nurgent = "{hook_server.url()}"\n'
          "[ztbkit]\ndisk_min_free_gb = 0\n")  # fmt: skip
    day = datetime.now(UTC).date() + timedelta(days=2)
    at = datetime(day.year, day.month, day.day, 21, 1, tzinfo=UTC) - JST  # 21:01 in Tokyo
    p = as_cron(tmp_path, watch_line, {}, at)
    assert p.returncode == 0 and p.stderr == "", p
    assert hook_server.titles == ["[firing] live_missing · state_dir"]  # the bot's folder is not there
    assert "1 firing (live_missing:state_dir)" in (srv / ".ztb" / "watch.log").read_text(encoding="utf-8")
    p = as_cron(tmp_path, digest_line, {}, at)
    cron_log = (srv / ".ztb" / "cron.log").read_text(encoding="utf-8")
    assert p.returncode == 0 and "digest-daily: slot" in cron_log and " ok (exit 0)" in cron_log, (
        p,
        cron_log,
    )
    # the watch started today: yesterday was not watched, and the digest says so instead of "all clear"
    assert hook_server.titles[-1] == f"⚠️ ztbkit digest {day - timedelta(days=1)} (JST): not watched"
    p = as_cron(tmp_path, digest_line, {}, at + timedelta(days=1))
    assert p.returncode == 0, p
    assert hook_server.titles[-1] == f"⚠️ ztbkit digest {day} (JST): 1 alert(s) fired, 0 session(s) failed"


def test_routes_disk_low_and_for_evaluations(tmp_path: Path, make_tree: MakeTree) -> None:
    """Urgent and info go to their own webhooks; disk_low fires under its threshold; for_evaluations
    holds a condition back until it was seen that many times in a row."""
    urgent, info = FakeHook(), FakeHook()
    try:
        live = live_folder(tmp_path / "live")
        text = (f'[live]\nstate_dir = "live"\n[training]\nenabled = false\n[routes]\nurgent = "{urgent.url()}"\n'
                f'info = "{info.url("slack")}"\n[rules.disk_low]\nfor_evaluations = 3\n')  # fmt: skip
        write(tmp_path / "watch.toml", text + "[ztbkit]\ndisk_min_free_gb = 1000000000\n")
        cfg = load_config(tmp_path / "watch.toml", tmp_path)
        clock = FakeClock(NOW)
        for n in range(3):
            evaluate_once(cfg, clock=clock, say=lambda _l: None)
            assert urgent.titles == ([] if n < 2 else [f"[firing] disk_low · {live}"])
            clock.advance(60)
        write(live / "trade-config.json", {"pair": "eth_jpy"})
        evaluate_once(cfg, clock=clock, say=lambda _l: None)
        [posted] = [s.body for s in info.seen]  # Slack's shape, on the info route only
        assert "live_config_changed" in json.dumps(posted, ensure_ascii=False)
        assert len(urgent.seen) == 1
    finally:
        urgent.close()
        info.close()
