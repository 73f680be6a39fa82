"""``ztb watch``, its digest and ``ztb silence`` in Japanese; the scheduler's and notify's own lines;
month labels. Every rule fires and resolves against the local fake Discord and Slack (real HTTP on
127.0.0.1); the documented commands run as a user pastes them. English stays the default."""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from conftest import REPO, MakeTree, sh, write
from fakehook import FakeHook, Reply
from watchkit import env_for, live_folder, watch_once, write_config

import ztbkit.locale as zl
from ztbkit.cli import cli
from ztbkit.core.clock import FakeClock
from ztbkit.locale import catalog
from ztbkit.watch.config import EVENTS, RULES, load_config
from ztbkit.watch.engine import evaluate_once

PACKAGE = REPO / "src" / "ztbkit"
JST = ZoneInfo("Asia/Tokyo")
KANA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _english_chunks(folder: str) -> set[str]:
    """The literal English pieces of every message in ``folder`` (placeholders cut out): a Japanese
    payload that still contains one shows a message that escaped translation."""
    chunks: set[str] = set()
    for m in catalog.extract(PACKAGE / folder):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        for text in ids:
            for piece in re.split(r"\{\w*\}", text or ""):
                piece = piece.strip(" ;:,.()[]·")
                if len(piece) >= 6 and sum(c.isalpha() for c in piece) >= 5 and " " in piece:
                    chunks.add(piece)
    return chunks


def _posted(hook: FakeHook) -> list[dict[str, Any]]:
    """Each message the fake received as (title, description, field names), Discord or Slack."""
    out = []
    for seen in hook.seen:
        body = seen.body
        if not isinstance(body, dict):
            continue
        if "embeds" in body:
            e = body["embeds"][0]
            out.append({"title": e["title"], "text": e.get("description", "") + " " + e.get("footer", {}).get("text", ""),
                        "fields": [f["name"] for f in e.get("fields", [])]})  # fmt: skip
        else:
            blocks = body["blocks"]
            title = blocks[0]["text"]["text"].split(" ", 1)[1]
            text = " ".join(b["text"]["text"] for b in blocks[1:] if b.get("text"))
            text += " " + " ".join(
                el["text"] for b in blocks if b["type"] == "context" for el in b["elements"]
            )
            names = [
                f["text"].split("\n")[0].strip("*") for b in blocks if "fields" in b for f in b["fields"]
            ]
            out.append({"title": title, "text": text, "fields": names})
    return out


def _scenario(tmp_path: Path, make_tree: MakeTree, url: str, bad: FakeHook) -> list[Any]:
    """Four evaluations that make every rule fire and then resolve (events: happen once).

    1 learns; 2 fires live_stale, live_daily_loss, live_drawdown, live_config_changed, training_*,
    scheduler_*, outbox_backlog, disk_low; 3 resolves those and fires live_missing, live_unreadable;
    4 resolves the last two."""
    now = datetime.now(UTC)
    clock = FakeClock(now)
    today = now.astimezone(JST).date().isoformat()
    live = live_folder(tmp_path / "live")
    index = {"sessions": [{"correlation_id": s, "status": "running"} for s in ("run-a", "run-b", "run-c")]}
    art = make_tree({"run-a": {"logs/train.log": "INFO step 1\n"},
                     "run-b": {"summary.json": {"rl_sharpe": 1.25, "dsr": 0.91},
                               "reports/cost_estimate.json": {"total_cost_jpy": 812.5, "gpu_hours": 2}},
                     "run-c": {"logs/train.log": "INFO step 1\n"}}, index=index)  # fmt: skip
    sched = tmp_path / ".ztb" / "cronish-state.json"
    before = (now - timedelta(hours=2)).isoformat()  # older than nightly = 3600 allows: missed from the start
    write(sched, {"version": 1, "jobs": {"nightly": {"status": "ok", "last_finish": before}}})

    def cfg(disk: float) -> Any:
        text = (f'[live]\nstate_dir = "live"\nstale_after_sec = 600\ndaily_loss_jpy = 1000\nmax_drawdown_jpy = 5000\n'
                f'[training]\nartifacts_dir = "{art}"\nstalled_after_sec = 600\n'
                f'[scheduler.jobs]\nnightly = 3600\n[ztbkit]\noutbox_backlog_sec = 60\ndisk_min_free_gb = {disk}\n'
                f'[routes]\nurgent = "{url}"\ninfo = "{url}"\n')  # fmt: skip
        return load_config(write(tmp_path / "watch.toml", text), tmp_path)

    def stats(pnl: float, dd: float) -> None:
        write(live / "stats.json", {"date": today, "data": [
            {"pair": "btc_jpy", "stats": {"trades": 3, "wins": 0, "realizedPnl": pnl, "maxDrawdown": dd}}]})  # fmt: skip

    def age(path: Path, seconds: float) -> None:
        t = clock.now().timestamp() - seconds
        os.utime(path, (t, t))

    lines: list[str] = []
    stats(100, 100)
    for p in (*live.iterdir(), *(art / s for s in ("run-a", "run-b", "run-c"))):
        age(p, 0)
    evaluate_once(cfg(0), clock=clock, say=lines.append)  # 1: learns (scheduler_missed fires)
    from ztbkit.notify.outbox import Outbox
    from ztbkit.notify.webhook import Webhook

    Outbox(tmp_path / ".ztb", clock=clock).enqueue(Webhook(bad.url(), "discord", "test"), {"content": "old"})
    clock.advance(700)
    stats(-5000, 9000)
    age(live / "stats.json", 700)
    write(live / "trade-config.json", {"pair": "eth_jpy"})
    index["sessions"][1]["status"], index["sessions"][2]["status"] = "stopped", "failed"
    write(art / "index.json", index)
    write(art / "run-c" / "logs" / "train.log", "INFO step 2\nERROR [train] CUDA out of memory\n")
    write(sched, {"version": 1, "jobs": {"nightly": {"status": "failed", "exit_code": 3,
                                                     "last_finish": (now - timedelta(hours=2)).isoformat()}}})  # fmt: skip
    evaluate_once(cfg(1e9), clock=clock, say=lines.append)  # 2: fires
    bad.always = None  # the webhook is back: the backlog drains
    clock.advance(60)
    stats(100, 100)
    (live / "trade-state.json").unlink()
    write(live / "trade-state.json", {"phase": "two"})
    (live / "stats.json").unlink()
    for p in (live / "trade-state.json", art / "run-a" / "logs" / "train.log"):
        age(p, 0)
    write(
        sched, {"version": 1, "jobs": {"nightly": {"status": "ok", "last_finish": clock.now().isoformat()}}}
    )
    evaluate_once(cfg(0), clock=clock, say=lines.append)  # 3: resolves; live_missing, live_unreadable fire
    clock.advance(60)
    live_folder(live)
    stats(100, 100)
    for p in (*live.iterdir(), art / "run-a" / "logs" / "train.log"):
        age(p, 0)
    evaluate_once(cfg(0), clock=clock, say=lines.append)  # 4: resolves them
    return lines


@pytest.mark.parametrize("service", ["discord", "slack"])
def test_every_rule_fires_and_resolves_in_japanese_on_discord_and_slack(
    tmp_path: Path, make_tree: MakeTree, hook_server: FakeHook, service: str
) -> None:
    bad = FakeHook(always=Reply(503))
    try:
        zl.use_language("ja")
        lines = _scenario(tmp_path, make_tree, hook_server.url(service), bad)
    finally:
        bad.close()
    posted = [p for p in _posted(hook_server) if p["title"] != "old"]
    titles = [p["title"] for p in posted]
    for rule in RULES:
        if rule == "watchdog":
            continue
        if rule in EVENTS:
            assert any(t.startswith(f"[出来事] {rule} · ") for t in titles), (rule, titles)
        else:
            assert any(t.startswith(f"[発生中] {rule} · ") for t in titles), (rule, titles)
            assert any(t.startswith(f"[解消] {rule} · ") for t in titles), (rule, titles)
    english = _english_chunks("watch")
    for p in posted:
        assert p["fields"] == ["ルール", "対象", "状態", "発生時刻"], p
        assert KANA.search(p["text"]), p
        leaked = [c for c in english if c in p["text"] or c in p["title"]]
        assert leaked == [], (p["title"], leaked)
    finished = next(p for p in posted if "training_finished" in p["title"])["text"]
    assert "シャープレシオ 1.25" in finished and "DSR 0.91" in finished and "費用 ¥81" in finished
    resolved = next(p for p in posted if p["title"].startswith("[解消] live_stale"))["text"]
    assert "分後に解消しました。内容：" in resolved and "ミュート：ztb silence add live_stale:" in resolved
    # What it printed: Japanese, but the rule ids, subjects and the "ok:" / "warning:" prefixes stay.
    assert any(ln.startswith("ok: ") and "に評価：発生中" in ln for ln in lines), lines
    assert not any(ln.startswith("warning") and not ln.startswith("warning: ") for ln in lines)


def test_the_state_and_event_log_stay_machine_readable_in_japanese(
    tmp_path: Path, make_tree: MakeTree, hook_server: FakeHook
) -> None:
    """Rule ids, kinds, keys and the severity in watch-state.json and watch-events.jsonl are the
    English ids whatever the language: the doctor, the digest and scripts read them."""
    bad = FakeHook(always=Reply(503))
    try:
        zl.use_language("ja")
        _scenario(tmp_path, make_tree, hook_server.url(), bad)
    finally:
        bad.close()
    events = [
        json.loads(x) for x in (tmp_path / ".ztb" / "watch-events.jsonl").read_text("utf-8").splitlines()
    ]
    assert {e["kind"] for e in events} == {"firing", "resolved", "event"}
    assert {e["rule"] for e in events} == set(RULES) - {"watchdog"}
    assert {e["severity"] for e in events} <= {"urgent", "info"}
    state = json.loads((tmp_path / ".ztb" / "watch-state.json").read_text("utf-8"))
    assert (
        set(state) >= {"version", "alerts", "outgoing", "memory"}
        and state["alerts"]["watchdog:ztbkit"]["state"] == "firing"
    )


def test_watch_dry_run_prints_japanese_as_pasted_and_english_by_default(tmp_path: Path) -> None:
    """The documented command, pasted: ``--lang ja`` and ``ZTB_LANG=ja`` both speak Japanese; nothing
    is said to be sent; with neither (and LANG=C.UTF-8) it is the English it always was."""
    live_folder(tmp_path / "live", age_sec=3600)
    write_config(tmp_path / "watch.toml")
    for extra, env in (("--dry-run --lang ja", env_for()), ("--dry-run", env_for(ZTB_LANG="ja"))):
        r = watch_once(tmp_path, env, extra=extra)
        assert r.returncode == 0, r.stderr
        assert (
            "送信予定 [発生中] live_stale · stats.json：" in r.stdout
            and "ボットは動いていますか？" in r.stdout
        )
        assert (
            "ドライラン：発生中 2件、送信予定のメッセージ 2件。何も書き込まず、送信もしていません" in r.stdout
        )
        assert "would send" not in r.stdout and not (tmp_path / ".ztb" / "watch-state.json").exists()
    r = watch_once(tmp_path, env_for(), extra="--dry-run")
    assert "would send [firing] live_stale · stats.json: " in r.stdout and "is the bot running?" in r.stdout
    assert not KANA.search(r.stdout)


def test_watch_sends_japanese_as_pasted_and_a_bad_config_is_one_japanese_line(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    live_folder(tmp_path / "live", age_sec=3600)
    write_config(tmp_path / "watch.toml")
    r = watch_once(tmp_path, env_for(hook_server.url(), ZTB_LANG="ja"))
    assert r.returncode == 0, r.stderr
    assert sorted(hook_server.titles) == [
        "[発生中] live_stale · stats.json",
        "[発生中] live_stale · trade-state.json",
    ]
    assert "メッセージ 2件を送信待ちキューに渡しました" in r.stdout
    assert "[発生中] live_stale · stats.json: discord " in r.stdout and "に送信しました（1回目）" in r.stdout
    write(tmp_path / "watch.toml", "[live]\nstale_after_sec = -1\n")
    bad = watch_once(tmp_path, env_for(hook_server.url(), ZTB_LANG="ja"))
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "ztb: error: watch.toml: [live] stale_after_sec: 1 以上の数値を指定してください（指定値：-1）"
    ]


def test_the_digest_in_japanese_is_delivered_and_dry_run_prints_it(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    live = live_folder(tmp_path / "live")
    write(
        tmp_path / "watch.toml",
        '[ztbkit]\ndisk_min_free_gb = 0\n[live]\nstate_dir = "live"\n[training]\nenabled = false\n',
    )
    cfg = load_config(tmp_path / "watch.toml", tmp_path)
    evaluate_once(cfg, clock=FakeClock(datetime(2025, 9, 29, 3, tzinfo=UTC)), say=lambda _l: None)
    assert live.is_dir()
    args = [
        "digest",
        "--config",
        str(tmp_path / "watch.toml"),
        "--state-dir",
        str(tmp_path),
        "--date",
        "2025-09-29",
    ]
    env = {"ZTB_DISCORD_WEBHOOK": hook_server.url(), "SLACK_WEBHOOK_URL": ""}
    r = CliRunner().invoke(cli, [*args, "--lang", "ja"], env=env)
    assert r.exit_code == 0, r.output
    assert "ztbkit ダイジェスト 2025/09/29(月)（日本時間）：異常なし" in r.stdout
    assert "損益 ¥15,000：btc_jpy ¥15,000" in r.stdout and "有効なミュート：なし" in r.stdout
    assert "ダイジェスト：discord " in r.stdout and "に送信しました" in r.stdout
    assert hook_server.titles[-1] == "✅ ztbkit ダイジェスト 2025/09/29(月)（日本時間）：異常なし"
    body = hook_server.seen[-1].body["embeds"][0]["description"]
    assert "学習：終了 0件、失敗 0件" in body and "アラート：発生 0件、解消 0件" in body
    dry = CliRunner().invoke(cli, [*args, "--dry-run"], env={**env, "ZTB_LANG": "ja"})
    payload = json.loads(dry.stdout[dry.stdout.index("{") :])
    assert payload["embeds"][0]["title"].startswith("✅ ztbkit ダイジェスト") and len(hook_server.seen) == 1
    english = CliRunner().invoke(cli, args, env=env)
    assert "ztbkit digest 2025-09-29 (JST): all clear" in english.stdout


def test_silence_add_list_expire_and_a_bad_duration_in_japanese(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--state-dir", str(tmp_path), "--lang", "ja"]
    added = runner.invoke(cli, ["silence", "add", "live_stale", "--for", "2h", *base])
    assert added.exit_code == 0, added.output
    sid = re.search(
        r"ミュート (\w+)：live_stale を .* JST まで（早く終えるには ztb silence expire \1）", added.stdout
    )
    assert sid, added.stdout
    listed = runner.invoke(cli, ["silence", "list", *base]).stdout
    assert f"{sid[1]}  live_stale" in listed and " 有効   " in listed and " JST まで" in listed
    expired = runner.invoke(cli, ["silence", "expire", sid[1], *base])
    assert expired.stdout.strip() == f"ミュート {sid[1]}（live_stale）を終了しました"
    assert runner.invoke(cli, ["silence", "list", *base]).stdout.strip() == "有効なミュートはありません"
    bad = runner.invoke(cli, ["silence", "add", "live_stale", "--for", "5x", *base])
    assert bad.exit_code == 2 and bad.stderr.strip() == (
        "ztb: error: --for: '5x' は期間ではありません（例：30m、2h、1d、1h30m）"
    )
    unknown = runner.invoke(cli, ["silence", "add", "nope", "--for", "1h", *base])
    assert (
        unknown.exit_code == 2
        and "RULE: 不明なルール 'nope' です（使えるルール：live_stale" in unknown.stderr
    )
    english = runner.invoke(cli, ["silence", "list", "--state-dir", str(tmp_path)])
    assert english.stdout.strip() == "no active silences"


# --- the scheduler and notify -------------------------------------------------------------------


#: The pasted command runs 5 s after its slot (06:30 UTC), so the slot is due and runs.
DUE = "faketime '2025-10-01 06:30:05'"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
           "LANG": "C.UTF-8", "TZ": "UTC"}  # fmt: skip
    return {**env, **extra}


def test_cronish_once_speaks_japanese_and_a_failure_is_said_as_one(tmp_path: Path) -> None:
    cmd = f"{DUE} ztb cronish --once --cron '30 6 * * *' --timezone UTC --name probe --state-file state/c.json -- false"
    r = sh(cmd, _clean_env(ZTB_LANG="ja", ZTB_DISCORD_WEBHOOK="", SLACK_WEBHOOK_URL=""), tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"probe: \S+ の回を開始しました（定刻）", r.stdout), r.stdout
    assert re.search(r"probe: \S+ の回：失敗（終了コード 1）、[\d.]+ 秒", r.stdout), r.stdout
    doc = json.loads((tmp_path / "state" / "c.json").read_text("utf-8"))
    assert doc["jobs"]["probe"]["status"] == "failed"  # the state keeps the English word
    english = sh(cmd.replace("probe", "probe2"), _clean_env(), tmp_path)
    assert "probe2: slot " in english.stdout and " failed (exit 1) in " in english.stdout


def test_a_scheduler_failure_alert_line_says_delivered_only_when_it_was(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    cmd = f"{DUE} ztb cronish --once --cron '30 6 * * *' --timezone UTC --name probe --state-file s.json -- false"
    ok = sh(cmd, _clean_env(ZTB_LANG="ja", ZTB_DISCORD_WEBHOOK=hook_server.url()), tmp_path)
    assert "probe: 失敗の通知：" in ok.stdout and "に送信しました" in ok.stdout.split("失敗の通知：")[1]
    assert hook_server.titles == ["定期ジョブ probe：失敗"]
    down = FakeHook(always=Reply(503))
    try:
        env = _clean_env(ZTB_LANG="ja", ZTB_DISCORD_WEBHOOK=down.url(), ZTB_DELIVERY_BUDGET_SEC="2")
        kept = sh(cmd.replace("probe", "probe2"), env, tmp_path)
    finally:
        down.close()
    line = next(ln for ln in kept.stdout.splitlines() if "失敗の通知：" in ln)
    assert "送信しました" not in line and "送信待ちに保存しました" in line, line


def test_sent_kept_and_lost_are_honest_in_japanese(tmp_path: Path, hook_server: FakeHook) -> None:
    """One test per word: 送信しました (sent) only after a 2xx; 保存しました (kept) only when the outbox
    holds it; 喪失 (lost) when it is in no outbox."""
    from ztbkit.notify import Outbox, send_with_outbox
    from ztbkit.notify.delivery import result_line
    from ztbkit.notify.heartbeat import ping
    from ztbkit.notify.webhook import Webhook

    zl.use_language("ja")
    assert ping(hook_server.url()).line().endswith("：送信しました（HTTP 204）")
    down = FakeHook(always=Reply(503))
    try:
        failed = ping(down.url()).line()
        assert "送信しました" not in failed and "：失敗（HTTP 503）" in failed
        hook = Webhook(down.url(), "discord", "test")
        os.environ["ZTB_DELIVERY_BUDGET_SEC"] = "2"
        try:
            queued = send_with_outbox(hook, {"content": "x"}, Outbox(tmp_path))
            kept = result_line(queued.result, hook, kept=queued.queued)
            lost_report = send_with_outbox(hook, {"content": "x"}, None)
            lost = result_line(lost_report.result, hook, kept=lost_report.queued)
        finally:
            del os.environ["ZTB_DELIVERY_BUDGET_SEC"]
    finally:
        down.close()
    assert queued.queued and "送信待ちに保存しました" in kept and "喪失" not in kept, kept
    assert "送信しました" not in kept
    assert lost.startswith("喪失：") and "保存もされていません" in lost and "送信しました" not in lost, lost
    delivered = send_with_outbox(
        Webhook(hook_server.url(), "discord", "t"), {"content": "y"}, Outbox(tmp_path)
    )
    assert "に送信しました" in result_line(delivered.result, Webhook(hook_server.url(), "discord", "t"))
    assert hook_server.url().split("/")[-1] not in kept + lost  # the token is never printed


def test_notify_summary_and_schedule_templates_in_japanese(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["notify", "--state-dir", str(tmp_path), "--lang", "ja"])
    assert r.exit_code == 0 and r.stdout.startswith("送信待ちの通知 0件（"), r.output
    check = runner.invoke(
        cli, ["notify", "--check", "--lang", "ja"], env={"ZTB_DISCORD_WEBHOOK": "", "SLACK_WEBHOOK_URL": ""}
    )
    assert check.exit_code == 1 and check.stdout.strip() == (
        "FAIL: Webhook が設定されていません（ZTB_DISCORD_WEBHOOK または SLACK_WEBHOOK_URL）"
    )
    listed = runner.invoke(cli, ["schedule-template", "--list", "--lang", "ja"]).stdout
    assert "nightly         30 6 * * *   夜間レポート（ztb nightly）を毎日 06:30 に" in listed
    ja = json.loads(runner.invoke(cli, ["schedule-template", "--template", "nightly", "--lang", "ja"]).stdout)
    en = json.loads(runner.invoke(cli, ["schedule-template", "--template", "nightly"]).stdout)
    # What cron and Task Scheduler read is the same in both languages; what a person reads is not.
    for key in ("linux", "windows", "windows_trigger_xml", "timezone", "crontab", "linux_utc"):
        assert ja["schedule"][key] == en["schedule"][key]
    assert ja.keys() == en.keys() and ja["command"] == ["ztb", "nightly"]
    assert ja["schedule"]["description"] == "夜間レポート（ztb nightly）を毎日 06:30 に"
    assert all(KANA.search(n) for n in ja["schedule"]["notes"])
    assert en["schedule"]["description"] == "The nightly reports (ztb nightly) every day at 06:30"


# --- month labels -------------------------------------------------------------------------------


def test_a_month_reads_as_japanese_writes_it_and_its_key_stays(make_tree: MakeTree, capsys: Any) -> None:
    from ztbkit.locale.numbers import month_label
    from ztbkit.reports.money_views import show_cost

    assert month_label("2025-10", "ja") == "2025年10月" and month_label("2025-10", "en") == "2025-10"
    assert month_label("2025-01", "ja") == "2025年1月" and month_label("garbage", "ja") == "garbage"
    cost = {"correlation_id": "m", "gpu_hours": 1.0, "power_kwh": 0.3,
            "costs": {"gpu_jpy": 300.0, "power_jpy": 1255.87, "cloud_jpy": 0.0, "total_jpy": 1555.87},
            "rates": {"gpu_rate_jpy_per_hour": 300.0, "tariff": "jp_residential_tiered"}}  # fmt: skip
    root = make_tree({"m": {"run_metadata.json": {"start_time": "2025-10-01T09:00:00+09:00"},
                            "reports/cost_estimate.json": cost}})  # fmt: skip
    show_cost(str(root), lang="ja", now=datetime(2025, 10, 31, tzinfo=UTC))
    out = capsys.readouterr().out
    assert "学習にかかった電気代（2025年10月）" in out and "100万ステップあたりの費用（2025年10月）" in out
    assert "2025年10月に開始した費用のある実行 1件" in out and "2025-10" not in out
    show_cost(str(root), lang="en", now=datetime(2025, 10, 31, tzinfo=UTC))
    assert "Training electricity, 2025-10" in capsys.readouterr().out
    # The page's choice is still the key: a month given as 2025-10 selects it in Japanese too.
    show_cost(str(root), lang="ja", month="2025-10", now=datetime(2025, 10, 31, tzinfo=UTC))
    assert "学習にかかった電気代（2025年10月）" in capsys.readouterr().out


# --- no bare English in the cli modules this work owns ----------------------------------------

#: Calls whose first argument a person reads on the terminal.
SAID = {"echo", "secho", "UsageError", "fail", "_say", "_warn", "say"}
#: cli modules (and, for a shared one, the functions) whose output is translated.
OWNED_CLI = {"cli/watching.py": None, "cli/alerting.py": None,
             "cli/ops.py": {"schedule_template", "cronish", "_outbox_flusher"}}  # fmt: skip


def _bare_said(tree: ast.AST, functions: set[str] | None) -> list[str]:
    from test_locale import _bare_text

    roots: list[ast.AST] = [tree] if functions is None else [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in functions]  # fmt: skip
    bare = []
    for root in roots:
        for node in ast.walk(root):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in SAID and (text := _bare_text(node.args[0])) is not None:
                bare.append(f"{node.lineno}: {text!r}")
    return bare


@pytest.mark.parametrize("rel", sorted(OWNED_CLI))
def test_no_bare_english_is_echoed_by_the_cli_modules_translated_here(rel: str) -> None:
    assert _bare_said(ast.parse((PACKAGE / rel).read_text(encoding="utf-8")), OWNED_CLI[rel]) == []


def test_the_echo_check_catches_a_bare_literal() -> None:
    tree = ast.parse(
        'def cronish():\n    click.echo("wrote it")\n    fail(f"no {x} here")\n    _say(_("fine"))\n'
    )
    assert _bare_said(tree, {"cronish"}) == ["2: 'wrote it'", "3: 'no  here'"]
    assert _bare_said(tree, {"other"}) == []


def test_an_outbox_that_cannot_be_used_is_said_in_japanese(tmp_path: Path) -> None:
    """``ztb notify`` where the outbox file is a folder: a Japanese warning (its ``warning:`` prefix
    kept for log readers) naming the path, never a count said to be fine without it."""
    (tmp_path / ".ztb" / "ztb-outbox.jsonl").mkdir(parents=True)
    r = CliRunner().invoke(cli, ["notify", "--state-dir", str(tmp_path), "--lang", "ja"])
    warning = f"warning: {tmp_path / '.ztb' / 'ztb-outbox.jsonl'} はフォルダーで、送信待ちのファイルではありません。"
    assert r.stderr.startswith(warning) and "通知を入れられるよう別の場所へ移してください" in r.stderr, (
        r.output
    )


def test_a_forgotten_kill_file_is_said_and_alerted_in_japanese(tmp_path: Path, hook_server: FakeHook) -> None:
    (tmp_path / "ztb.stop").write_text("", encoding="utf-8")
    cmd = f"{DUE} ztb cronish --once --cron '30 6 * * *' --timezone UTC --stop-file ztb.stop --state-file s.json -- true"
    r = sh(cmd, _clean_env(ZTB_LANG="ja", ZTB_DISCORD_WEBHOOK=hook_server.url()), tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert (
        "warning: 停止ファイル ztb.stop があります（" in r.stderr
        and "削除するまでジョブは実行されません" in r.stderr
    )
    assert hook_server.titles == ["停止ファイルでスケジューラーが止まっています"], hook_server.titles
    assert "通知：discord " in r.stdout and "に送信しました" in r.stdout
