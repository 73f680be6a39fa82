"""Alerts in the chosen language: gates and trend alerts (``--dry-run``, the payload printed) and a
scheduler failure pushed to the local fake Discord; English stays the default."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import MakeTree

from ztbkit.cli import cli

QUIET = {"ZTB_DISCORD_WEBHOOK": "", "SLACK_WEBHOOK_URL": ""}


def _payload(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    r = CliRunner().invoke(cli, args, env={**QUIET, **(env or {})})
    assert r.exit_code == 0, r.output
    embed: dict[str, Any] = json.loads(r.stdout[r.stdout.index("{") :])["embeds"][0]
    return embed


@pytest.fixture
def failing_gates(make_tree: MakeTree) -> Path:
    gates = {"gates": [{"name": "memory_rss", "status": "fail", "error": "RSS 30 GB > 24 GB"}]}
    return make_tree({"s1": {"reports/gates.json": gates}})


@pytest.mark.parametrize(
    ("how", "env"),
    [(["--lang", "ja"], None), ([], {"ZTB_LANG": "ja"}), (["--lang", "en"], {"ZTB_LANG": "ja"})],
)
def test_gates_alert_speaks_the_chosen_language(failing_gates: Path, how: list[str], env: Any) -> None:
    embed = _payload(["gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(failing_gates),
                      "--dry-run", *how], env)  # fmt: skip
    names = [f["name"] for f in embed["fields"]]
    if "en" in how:  # --lang beats ZTB_LANG
        assert embed["title"] == "Critical gate failed: s1" and names == ["Session", "Failed", "Dashboard"]
    else:
        assert embed["title"] == "重大なゲートが不合格：s1" and names == [
            "セッション",
            "不合格",
            "ダッシュボード",
        ]
        assert [f["value"] for f in embed["fields"]][1] == "1件中1件"
    assert "memory_rss" in embed["description"] and "RSS 30 GB > 24 GB" in embed["description"]


def test_trend_alert_in_japanese(make_tree: MakeTree) -> None:
    sharpes = [1.0, 1.1, 0.9, 1.05, 1.0, 0.2]  # the newest far below median − 3·MAD
    sessions = {f"run-{i:02d}": {"summary.json": {"rl_sharpe": v, "dsr": 0.5}} for i, v in enumerate(sharpes)}
    index = [{"correlation_id": sid, "created_at": f"2025-10-{i + 1:02d}T00:00:00+09:00", "status": "stopped"}
             for i, sid in enumerate(sessions)]  # fmt: skip
    root = make_tree(sessions, index={"sessions": index})
    r = CliRunner().invoke(
        cli, ["trend-alert", "--artifacts-dir", str(root), "--dry-run", "--lang", "ja"], env=QUIET
    )
    assert (
        "DRY RUN: run-05 を通知します（送信はしていません）" in r.stdout.splitlines()
    )  # not said to be sent
    embed = _payload(["trend-alert", "--artifacts-dir", str(root), "--dry-run", "--lang", "ja"])
    assert embed["title"] == "成績の悪化：run-05" and "中央値" in embed["description"]
    assert [f["name"] for f in embed["fields"]] == ["セッション", "指標", "ダッシュボード"]


def test_a_scheduler_failure_reaches_discord_in_japanese(
    tmp_path: Path, hook_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ztbkit.locale import use_language
    from ztbkit.schedule.failures import failure_notifier
    from ztbkit.schedule.job import Job, RunRecord

    monkeypatch.setenv("ZTB_DISCORD_WEBHOOK", hook_server.url())
    use_language("ja")
    lines: list[str] = []
    push = failure_notifier(tmp_path, lines.append)
    assert push is not None
    slot = datetime(2025, 10, 4, 9, tzinfo=timezone(timedelta(hours=9)))
    push(Job("nightly", ("ztb", "nightly"), cron="0 9 * * *"), RunRecord(slot, "timeout", None, slot, slot))
    embed = hook_server.seen[0].body["embeds"][0]
    assert (
        embed["title"] == "定期ジョブ nightly：時間切れ" and embed["description"] == "時間切れ"
    )  # no exit code: said as what happened
    assert [f["name"] for f in embed["fields"]] == ["予定時刻", "ログ"]


def test_doctor_details_in_japanese_and_its_summary_line_unchanged(
    make_tree: MakeTree, tmp_path: Path
) -> None:
    """The reasons a person reads are Japanese; check names, [OK]/[WARN]/[FAIL] and the last line
    ``Doctor Summary: OK=…`` (FORMATS.md: other tools parse it) are the same in every language."""
    root = make_tree({"s1": {"summary.json": {"global_step": 1200}}})
    args = ["doctor", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-file",
            str(tmp_path / "none.json"), "--lang", "ja"]  # fmt: skip
    r = CliRunner().invoke(cli, args, env=QUIET)
    lines = r.stdout.strip().splitlines()
    assert lines[-1].startswith("Doctor Summary: OK=") and ", WARN=" in lines[-1] and ", FAIL=" in lines[-1]
    assert any(ln.startswith("[WARN] validate_artifacts: ") and "がありません" in ln for ln in lines), lines
    assert any("スケジューラーの状態ファイルがありません" in ln for ln in lines), lines
    report = (root / "s1" / "reports" / "doctor.txt").read_text(encoding="utf-8")
    assert "ステップ 1,200" in report and report.strip().splitlines()[-1] == lines[-1]


def test_live_status_in_japanese_and_english_as_formats_md_gives_it(tmp_path: Path) -> None:
    (tmp_path / "trade-state.json").write_text('{"phase": 2, "consecutiveDays": 3}', encoding="utf-8")
    stats = {"date": "2025-10-31", "data": [{"pair": "btc_jpy", "stats": {"trades": 10, "wins": 6,
             "realizedPnl": 20000, "maxDrawdown": 3000}}]}  # fmt: skip
    (tmp_path / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    ja = _payload(["live-status", "--state-dir", str(tmp_path), "--dry-run", "--lang", "ja"])
    assert ja["title"] == "🤖 ボット稼働状況スナップショット"
    names = [f["name"] for f in ja["fields"]]
    assert names == ["📊 取引状態", "📈 成績サマリー", "💱 btc_jpy"]
    summary = ja["fields"][1]["value"]
    assert "損益合計: ¥20,000" in summary and "勝率: 60.0%" in summary
    assert "欠落：trade-config.json" in ja["footer"]["text"]
    en = _payload(["live-status", "--state-dir", str(tmp_path), "--dry-run"])
    assert en["title"] == "🤖 Live Bot Status Snapshot"
    assert [f["name"] for f in en["fields"]] == ["📊 Trade State", "📈 Performance Summary", "💱 btc_jpy"]
    assert "Total P&L: ¥20,000" in en["fields"][1]["value"]


def test_a_delivery_and_the_verdict_line_in_japanese(
    failing_gates: Path, hook_server: Any, tmp_path: Path
) -> None:
    """ "Sent" is said only when it is true, in either language: a delivered alert says so, and the
    FAIL:/OK: prefix a log reader greps for stays."""
    r = CliRunner().invoke(cli, ["gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(failing_gates),
                                 "--state-dir", str(tmp_path), "--discord-webhook", hook_server.url(), "--lang", "ja"],
                           env=QUIET)  # fmt: skip
    lines = r.stdout.splitlines()
    assert r.exit_code == 0 and lines[0] == "FAIL: ゲート 1件が不合格（ERROR）：memory_rss"
    assert any(ln.startswith("discord ") and "に送信しました（1回目）" in ln for ln in lines), lines
    assert hook_server.seen[0].body["embeds"][0]["title"] == "重大なゲートが不合格：s1"
