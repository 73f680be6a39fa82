"""gates-alert, live-status and notify, end to end against the local fake Discord/Slack server."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import MakeTree, write
from fakehook import TOKEN, FakeHook, Reply

from ztbkit.cli import cli
from ztbkit.notify.live import TITLE

FORMATS_STATE = {
    "phase": 2,
    "consecutiveDays": 5,
    "totalSuccess": 15,
    "lastDate": "2025-09-29",
    "ordersPerDay": 3,
}
FORMATS_CONFIG = {"pair": "btc_jpy", "phase": 2, "maxOrdersPerDay": 5, "maxLossPerDay": 2, "slippageGuardPct": 1e-7,
                  "phaseSteps": [{"phase": 1, "ordersPerDay": 1}]}  # fmt: skip
FORMATS_STATS = {"date": "2025-09-29", "data": [
    {"pair": "btc_jpy", "stats": {"trades": 10, "wins": 7, "realizedPnl": 15000, "maxDrawdown": 3000}},
    {"pair": "eth_jpy", "stats": {"trades": 4, "wins": 1, "realizedPnl": 5000, "maxDrawdown": None}},
]}  # fmt: skip


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(
        cli, list(args), env={"ZTB_DISCORD_WEBHOOK": "", "SLACK_WEBHOOK_URL": "", **(env or {})}
    )
    assert TOKEN not in result.stdout + result.stderr, "a webhook token was printed"
    return result


def gates_tree(make_tree: MakeTree, gates: object) -> Path:
    return make_tree({"s1": {"reports/gates.json": gates}})


def test_skip_when_missing_or_empty(make_tree: MakeTree, hook_server: FakeHook) -> None:
    root = make_tree(
        {"s1": {}, "s2": {"reports/gates.json": ""}, "s3": {"reports/gates.json": {"gates": []}}}
    )
    for sid in ("s1", "s2", "s3", "no_such_session"):
        r = run(
            "gates-alert",
            "--correlation-id",
            sid,
            "--artifacts-dir",
            str(root),
            "--discord-webhook",
            hook_server.url(),
        )
        assert r.exit_code == 0 and r.stdout.startswith("SKIP: no gates to check"), r.output
    assert hook_server.seen == []


def test_no_failures_sends_nothing(make_tree: MakeTree, hook_server: FakeHook) -> None:
    root = gates_tree(
        make_tree, {"gates": [{"name": "g1", "status": "PASS"}, {"name": "g2", "status": "skip"}]}
    )
    r = run(
        "gates-alert",
        "--correlation-id",
        "s1",
        "--artifacts-dir",
        str(root),
        "--discord-webhook",
        hook_server.url(),
    )
    assert r.exit_code == 0 and r.stdout.strip() == "OK: 2 gate(s), none failed; nothing sent"
    assert hook_server.seen == []


def test_failures_without_webhook_exit_1(make_tree: MakeTree) -> None:
    root = gates_tree(make_tree, {"gates": [{"name": "g1", "status": "fail", "error": "bad"}]})
    r = run("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root))
    assert r.exit_code == 1 and "FAIL: 1 gate(s) failed (WARN): g1" in r.stdout
    assert "no webhook is configured" in r.stderr


def test_critical_failure_alert_to_discord(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    gates = {"pass": False, "gate_results": {
        "memory_rss": {"status": "fail", "reason": "RSS: 2.50GB (threshold: 2.00GB)"},
        "sharpe": {"status": "fail", "reason": None}, "dsr": {"status": "FAIL", "reason": 0.1},
        "drawdown": {"status": "fail", "reason": "x" * 5000}, "pvalue": {"status": "fail"},
        "ok_gate": {"status": "pass"},
    }}  # fmt: skip
    root = gates_tree(make_tree, gates)
    env = {"ZTB_DISCORD_WEBHOOK": hook_server.url(), "ZTB_DASHBOARD_URL": "https://ops.example/dash?id={id}"}
    r = run(
        "gates-alert",
        "--correlation-id",
        "s1",
        "--artifacts-dir",
        str(root),
        "--state-dir",
        str(tmp_path),
        env=env,
    )
    assert r.exit_code == 0, r.output
    assert "delivered to discord http://127.0.0.1:" in r.stdout and "/api/webhooks/123456/****" in r.stdout
    embed = hook_server.seen[0].body["embeds"][0]
    assert embed["title"] == "Critical gate failed: s1" and embed["color"] == 0xE74C3C  # ERROR
    assert embed["description"].splitlines() == [
        "• **memory_rss**: RSS: 2.50GB (threshold: 2.00GB)", "• **sharpe**: no reason given", "• **dsr**: 0.1",
        "+2 more: drawdown, pvalue"]  # fmt: skip
    assert embed["url"] == "https://ops.example/dash?id=s1"
    assert {f["name"]: f["value"] for f in embed["fields"]}["Failed"] == "5 of 6"


def test_non_critical_is_warn_and_long_reasons_fit(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    gates = {"gates": [{"name": f"g{i}", "status": "fail", "error": "why " * 2000} for i in range(2)]}
    root = gates_tree(make_tree, gates)
    r = run("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--discord-webhook",
            hook_server.url(), "--state-dir", str(tmp_path))  # fmt: skip
    assert r.exit_code == 0, r.output  # the fake answers 400 to anything over Discord's limits
    embed = hook_server.seen[0].body["embeds"][0]
    assert embed["color"] == 0xF1C40F and embed["title"] == "Acceptance gates failed: s1"
    assert embed["description"].endswith("…") and embed["fields"][2]["value"].endswith("dashboard.html")


def test_slack_and_permanent_failure(make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path) -> None:
    root = gates_tree(make_tree, {"gates": [{"name": "g1", "status": "fail", "error": "bad"}]})
    r = run("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-dir", str(tmp_path),
            env={"SLACK_WEBHOOK_URL": hook_server.url("slack")})  # fmt: skip
    assert r.exit_code == 0 and "delivered to slack" in r.stdout and "blocks" in hook_server.seen[0].body
    hook_server.script = [Reply(404, {"message": "Unknown Webhook"})]
    r = run("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-dir", str(tmp_path),
            "--discord-webhook", hook_server.url())  # fmt: skip
    assert r.exit_code == 1 and "failed permanently" in r.stdout and "HTTP 404: Unknown Webhook" in r.stdout


def test_dry_run_posts_nothing(make_tree: MakeTree, hook_server: FakeHook) -> None:
    root = gates_tree(make_tree, {"gates": [{"name": "g1", "status": "fail", "error": "bad"}]})
    r = run("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--dry-run")
    assert r.exit_code == 0 and json.loads(r.stdout.split("\n", 1)[1])["embeds"][0]["title"].endswith("s1")
    assert hook_server.seen == []


def test_a_line_break_in_a_gate_name_cannot_forge_an_output_line(make_tree: MakeTree) -> None:
    """gates.json is written by the bot: a gate named "x\nOK: ..." must not print an OK line that a
    log reader (``ztb gates-alert ... | logger``) would take for ztbkit's own verdict."""
    root = gates_tree(make_tree, {"gates": [{"name": "x\nOK: 1 gate(s), none failed", "status": "fail"}]})
    r = run("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--dry-run")
    first, payload = r.stdout.split("\n", 1)
    assert r.exit_code == 0 and first == "FAIL: 1 gate(s) failed (WARN): x\\x0aOK: 1 gate(s), none failed"
    assert json.loads(payload)["embeds"][0]["description"].startswith("• **x\nOK: 1 gate(s)")


def test_a_bidi_override_in_a_gate_name_is_shown_escaped(make_tree: MakeTree) -> None:
    """U+202E reverses what follows on a terminal (Trojan Source): a gate named "\u202eliaf_ton" read
    "not_fail" in the FAIL line. Bidi controls are printed as \\u escapes, like control characters."""
    root = gates_tree(make_tree, {"gates": [{"name": "\u202eliaf_ton", "status": "fail"}]})
    r = run("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--dry-run")
    assert r.exit_code == 0 and r.stdout.split("\n", 1)[0].endswith("(WARN): \\u202eliaf_ton"), r.stdout


def test_invalid_gates_json_is_exit_2_naming_the_file(make_tree: MakeTree) -> None:
    root = gates_tree(make_tree, "{not json")
    r = run("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root))
    assert r.exit_code == 2 and "gates.json: invalid JSON" in r.stderr


def live_dir(tmp_path: Path, *, state: bool = True, config: bool = True, stats: bool = True) -> Path:
    d = tmp_path / "bot"
    d.mkdir(exist_ok=True)
    for flag, name, doc in ((state, "trade-state.json", FORMATS_STATE), (config, "trade-config.json", FORMATS_CONFIG),
                            (stats, "stats.json", FORMATS_STATS)):  # fmt: skip
        if flag:
            write(d / name, doc)
    return d


def test_live_status_embed_from_formats_fixtures(tmp_path: Path, hook_server: FakeHook) -> None:
    r = run("live-status", hook_server.url(), "--state-dir", str(live_dir(tmp_path)))
    assert r.exit_code == 0, r.output
    embed = hook_server.seen[0].body["embeds"][0]
    assert embed["title"] == TITLE == "🤖 Live Bot Status Snapshot"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert list(fields) == [
        "📊 Trade State",
        "⚙️ Configuration",
        "📈 Performance Summary",
        "💱 btc_jpy",
        "💱 eth_jpy",
    ]
    assert "Phase: 2\nConsecutive Days: 5" in fields["📊 Trade State"]
    assert "Active Pair: btc_jpy" in fields["⚙️ Configuration"]
    assert "Total Trades: 14\nTotal Wins: 8" in fields["📈 Performance Summary"]
    assert "Total P&L: ¥20,000" in fields["📈 Performance Summary"]
    assert "P&L: ¥15,000" in fields["💱 btc_jpy"] and "Max Drawdown: —" in fields["💱 eth_jpy"]


def test_live_status_totals_leave_out_a_pair_with_a_bad_value_and_say_so(tmp_path: Path) -> None:
    """stats.json is hand-edited or half-written: a P&L of "15000" (text) or -5 trades used to drop
    silently out of the totals (Total P&L ¥5,000 shown as if right) or make them absurd (Win Rate
    -900%). The pair is left out of every total, named in the summary, and each value is a warning."""
    d = live_dir(tmp_path)
    btc = {"trades": -5, "wins": 7, "realizedPnl": "15000", "maxDrawdown": 3000}
    write(
        d / "stats.json",
        {"date": "2025-09-29", "data": [{"pair": "btc_jpy", "stats": btc}, FORMATS_STATS["data"][1]]},
    )
    r = run("live-status", "--state-dir", str(d), "--dry-run")
    assert r.exit_code == 0, r.output
    fields = {f["name"]: f["value"] for f in json.loads(r.stdout)["embeds"][0]["fields"]}
    summary = fields["📈 Performance Summary"]
    assert "Total Trades: 4\nTotal Wins: 1\nWin Rate: 25.0%\nTotal P&L: ¥5,000" in summary
    assert "Not counted: btc_jpy" in summary
    assert "Trades: —\nWins: 7\nP&L: —" in fields["💱 btc_jpy"]
    assert "stats.json: data[0].stats.trades: expected a non-negative number, got -5" in r.stderr
    assert "stats.json: data[0].stats.realizedPnl: expected a number, got str '15000'" in r.stderr


def test_live_status_missing_files_drop_fields_not_the_message(tmp_path: Path, hook_server: FakeHook) -> None:
    r = run("live-status", hook_server.url(), "--state-dir", str(live_dir(tmp_path, config=False)))
    assert r.exit_code == 0
    names = [f["name"] for f in hook_server.seen[0].body["embeds"][0]["fields"]]
    assert "⚙️ Configuration" not in names and "📊 Trade State" in names
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("live-status", hook_server.url(), "--state-dir", str(empty))
    assert r.exit_code == 0
    embed = hook_server.seen[1].body["embeds"][0]
    assert embed["title"] == TITLE and "No readable state files" in embed["description"]
    assert "missing: trade-state.json, trade-config.json, stats.json" in embed["footer"]["text"]


def test_live_status_dry_run_and_errors(tmp_path: Path, hook_server: FakeHook) -> None:
    r = run("live-status", "--state-dir", str(live_dir(tmp_path)), "--dry-run")
    assert r.exit_code == 0 and json.loads(r.stdout)["embeds"][0]["title"] == TITLE and hook_server.seen == []
    r = run("live-status", "--state-dir", str(live_dir(tmp_path)))
    assert r.exit_code == 2 and "no webhook" in r.stderr
    r = run("live-status", hook_server.url("slack"), "--state-dir", str(live_dir(tmp_path)), "--edit")
    assert r.exit_code == 2 and "--edit needs a Discord webhook" in r.stderr


def test_live_status_edit_keeps_one_message(tmp_path: Path, hook_server: FakeHook) -> None:
    state = live_dir(tmp_path)
    r = run("live-status", "--discord-webhook", hook_server.url(), "--state-dir", str(state), "--edit")
    assert r.exit_code == 0 and "posted status message" in r.stdout
    first = hook_server.seen[0]
    assert first.method == "POST" and first.query == {"wait": ["true"]}
    [message_id] = list(hook_server.messages)
    saved = (state / ".ztb" / "live-status.json").read_text(encoding="utf-8")
    assert TOKEN not in saved and message_id in saved
    r = run("live-status", "--discord-webhook", hook_server.url(), "--state-dir", str(state), "--edit")
    assert r.exit_code == 0 and f"edited status message {message_id}" in r.stdout
    assert hook_server.seen[1].method == "PATCH" and hook_server.seen[1].path.endswith(
        f"/messages/{message_id}"
    )
    hook_server.messages.clear()  # someone deleted the message in Discord
    r = run("live-status", "--discord-webhook", hook_server.url(), "--state-dir", str(state), "--edit")
    assert r.exit_code == 0 and "posted status message" in r.stdout and "is gone" in r.stderr
    assert [s.method for s in hook_server.seen] == ["POST", "PATCH", "PATCH", "POST"]


def test_notify_shows_and_flushes_the_outbox(tmp_path: Path, hook_server: FakeHook) -> None:
    from ztbkit.notify import Outbox
    from ztbkit.notify.discord import build_payload
    from ztbkit.notify.webhook import Webhook

    outbox = Outbox(tmp_path / ".ztb")
    hook = Webhook(hook_server.url(), "discord", "ZTB_DISCORD_WEBHOOK")
    from ztbkit.notify import Alert

    entry = outbox.enqueue(hook, build_payload(Alert("waiting", "WARN")))
    outbox.record(entry, "failed-will-retry", 4, "HTTP 503", 503)
    r = run("notify", "--state-dir", str(tmp_path))
    assert r.exit_code == 0 and r.stdout.startswith("1 alert(s) waiting in")
    r = run("notify", "--flush-outbox", "--state-dir", str(tmp_path))
    assert (
        r.exit_code == 0 and "delivered to discord" in r.stdout and "1 delivered, 0 still waiting" in r.stdout
    )
    assert hook_server.seen[0].body["embeds"][0]["title"] == "waiting"


def test_notify_check_posts_nothing(hook_server: FakeHook) -> None:
    r = run("notify", "--check", env={"ZTB_DISCORD_WEBHOOK": hook_server.url()})
    assert r.exit_code == 0 and r.stdout.startswith(
        "OK: discord webhook from ZTB_DISCORD_WEBHOOK: http://127.0.0.1:"
    )
    assert r.stdout.rstrip().endswith("/api/webhooks/123456/****") and hook_server.seen == []
    r = run("notify", "--check")
    assert r.exit_code == 1 and "FAIL: no webhook configured" in r.stdout
    r = run("notify", "--check", env={"SLACK_WEBHOOK_URL": f"hooks.slack.com/{TOKEN}"})
    assert r.exit_code == 1 and "SLACK_WEBHOOK_URL: not an http(s) webhook URL" in r.stdout


def test_live_status_edit_failures_are_queued_and_the_edit_retried(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    from ztbkit.notify import Outbox

    state = live_dir(tmp_path)
    args = ("live-status", "--discord-webhook", hook_server.url(), "--state-dir", str(state), "--edit")
    fast = {"ZTB_DELIVERY_BUDGET_SEC": "2.5", "ZTB_WEBHOOK_TIMEOUT_SEC": "1"}
    assert run(*args).exit_code == 0
    [message_id] = list(hook_server.messages)
    outbox = Outbox(state / ".ztb")
    # The connection is closed without an answer, then the server rate-limits: both are kept to retry.
    for failure in (Reply(drop=True), Reply(429, {"retry_after": 0.1})):
        hook_server.script = [failure] * 8
        r = run(*args, env=fast)
        assert r.exit_code == 1 and "failed, kept in the outbox to retry" in r.stdout, r.output
        [queued] = outbox.pending()  # the newer edit replaced the older one: one waits, not two
        assert (queued["method"], queued["suffix"]) == ("PATCH", f"/messages/{message_id}")
    hook_server.script = []
    write(state / "trade-state.json", {**FORMATS_STATE, "phase": 3})
    seen_before = len(hook_server.seen)
    r = run(*args)
    assert r.exit_code == 0 and f"edited status message {message_id}" in r.stdout, r.output
    patches = [s for s in hook_server.seen[seen_before:] if s.method == "PATCH"]
    assert len(patches) == 1 and "Phase: 3" in patches[0].body["embeds"][0]["fields"][0]["value"]
    assert (
        outbox.pending() == []
        and "Phase: 3" in hook_server.messages[message_id]["embeds"][0]["fields"][0]["value"]
    )


def test_flush_command_reports_and_keeps_failures(tmp_path: Path, hook_server: FakeHook) -> None:
    from ztbkit.notify import Alert, Outbox
    from ztbkit.notify.discord import build_payload
    from ztbkit.notify.webhook import Webhook

    outbox = Outbox(tmp_path / ".ztb")
    hook = Webhook(hook_server.url(), "discord", "ZTB_DISCORD_WEBHOOK")
    for title in ("first", "second"):
        outbox.enqueue(hook, build_payload(Alert(title, "WARN")))
    hook_server.script = [Reply(500, {"message": "down"})] * 4
    r = run("notify", "--flush-outbox", "--state-dir", str(tmp_path), env={"ZTB_DELIVERY_BUDGET_SEC": "60"})
    # The first fails for now; the second waits behind it instead of burning the run's time.
    assert r.exit_code == 1 and "0 delivered, 2 still waiting" in r.stdout, r.output
    assert hook_server.titles == ["first"] * 4
    assert [e["payload"]["embeds"][0]["title"] for e in outbox.pending()] == ["first", "second"]


def test_gates_alert_from_the_wrong_folder_is_an_error_not_a_skip(tmp_path: Path) -> None:
    """Run from a folder without artifacts/ (cron's home, a typo in --artifacts-dir): the gates were
    never looked at, so this must not read as "no gates to check" (exit 0 would hide every failure)."""
    missing = tmp_path / "no-artifacts-here"
    r = run("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(missing))
    assert r.exit_code == 2, r.output
    assert "SKIP" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and "--artifacts-dir" in lines[0], r.stderr
    assert not missing.exists()
