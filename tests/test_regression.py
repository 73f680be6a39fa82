"""ztb trend-alert against the local fake webhook: once per session, never twice, races included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import MakeTree
from fakehook import TOKEN, FakeHook, Reply

from ztbkit.analysis.regression import check_trend
from ztbkit.cli import cli
from ztbkit.data.artifacts import load_artifacts

SHARPES = [1.0, 1.1, 0.9, 1.05, 1.0]  # baseline: median 1.0, MAD 0.05 → threshold 0.85 at k = 3


def tree(make_tree: MakeTree, newest: float, *, newest_status: str = "stopped", extra: int = 0) -> Path:
    values = [*SHARPES, newest]
    sessions: dict[str, dict[str, Any]] = {}
    index = []
    for i, v in enumerate(values):
        # ids sort opposite to start time: the order must come from the start time, not the id
        sid = f"run-{len(values) - i:02d}"
        sessions[sid] = {"summary.json": {"rl_sharpe": v, "dsr": 0.5}}
        status = newest_status if i == len(values) - 1 else "stopped"
        index.append(
            {"correlation_id": sid, "created_at": f"2025-10-{i + 1:02d}T00:00:00+09:00", "status": status}
        )
    return make_tree(sessions, index={"sessions": index})


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    r = CliRunner().invoke(
        cli, ["trend-alert", *args], env={"ZTB_DISCORD_WEBHOOK": "", "SLACK_WEBHOOK_URL": "", **(env or {})}
    )
    assert TOKEN not in r.stdout + r.stderr, "a webhook token was printed"
    return r


def test_check_numbers_by_hand(make_tree: MakeTree) -> None:
    check = check_trend(load_artifacts(tree(make_tree, 0.8)).sessions, window=10, mad_k=3)
    assert check is not None and check.session_id == "run-01"
    (c,) = check.checks
    assert (c.median, round(c.mad, 12), round(c.threshold, 12)) == (1.0, 0.05, 0.85) and c.regressed
    check = check_trend(load_artifacts(tree(make_tree, 0.86)).sessions, window=10, mad_k=3)
    assert check is not None and not check.regressions
    # window 2: only the two previous sessions → fewer than 3 values, not judged
    check = check_trend(load_artifacts(tree(make_tree, 0.1)).sessions, window=2)
    assert check is not None and not check.checks and "need 3" in check.skipped[0]


def test_sent_once_then_never_again(make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path) -> None:
    root = tree(make_tree, 0.2)
    args = (
        "--artifacts-dir",
        str(root),
        "--state-dir",
        str(tmp_path),
        "--discord-webhook",
        hook_server.url(),
    )
    r = run(*args)
    assert r.exit_code == 0, r.output
    assert len(hook_server.seen) == 1
    embed = hook_server.seen[0].body["embeds"][0]
    assert embed["title"] == "Trend regression: run-01" and "rl_sharpe" in embed["description"]
    assert "0.2 < median 1" in embed["description"]
    state = json.loads((tmp_path / ".ztb" / "trend-alert-state.json").read_text(encoding="utf-8"))
    assert list(state["alerted"]) == ["run-01"]
    r2 = run(*args)
    assert r2.exit_code == 0 and "already alerted" in r2.stdout
    assert len(hook_server.seen) == 1, "the same session was alerted twice"


def test_dry_run_prints_and_remembers_nothing(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    root = tree(make_tree, 0.2)
    r = run(
        "--artifacts-dir",
        str(root),
        "--state-dir",
        str(tmp_path),
        "--dry-run",
        env={"ZTB_DISCORD_WEBHOOK": hook_server.url()},
    )
    assert r.exit_code == 0, r.output
    assert '"title": "Trend regression: run-01"' in r.stdout and not hook_server.seen
    assert not (tmp_path / ".ztb" / "trend-alert-state.json").exists()


def test_no_regression_and_running_newest(make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path) -> None:
    url = hook_server.url()
    r = run(
        "--artifacts-dir", str(tree(make_tree, 0.95)), "--state-dir", str(tmp_path), "--discord-webhook", url
    )
    assert r.exit_code == 0 and "OK: run-01" in r.stdout and not hook_server.seen
    # a bad but still running session is not judged: the newest *finished* one is run-02 (1.0)
    root = tree(make_tree, 0.1, newest_status="running")
    r = run("--artifacts-dir", str(root), "--state-dir", str(tmp_path), "--discord-webhook", url)
    assert r.exit_code == 0 and "OK: run-02" in r.stdout and not hook_server.seen


def test_refused_alert_is_retried_next_run(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    hook_server.script.append(Reply(404, {"message": "Unknown Webhook"}))
    args = (
        "--artifacts-dir",
        str(tree(make_tree, 0.2)),
        "--state-dir",
        str(tmp_path),
        "--discord-webhook",
        hook_server.url(),
    )
    assert run(*args).exit_code == 1
    r = run(*args)
    assert r.exit_code == 0 and len(hook_server.seen) == 2 and "delivered" in r.stdout
    assert run(*args).exit_code == 0 and len(hook_server.seen) == 2


def test_no_webhook_is_exit_1(make_tree: MakeTree, tmp_path: Path) -> None:
    r = run("--artifacts-dir", str(tree(make_tree, 0.2)), "--state-dir", str(tmp_path))
    assert r.exit_code == 1 and "no webhook" in r.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [(["--metric", "nope"], "--metric"), (["--window", "0"], "--window"), (["--mad-k", "nan"], "--mad-k")],
)
def test_bad_options(make_tree: MakeTree, tmp_path: Path, args: list[str], flag: str) -> None:
    r = run("--artifacts-dir", str(tree(make_tree, 0.2)), "--state-dir", str(tmp_path), *args)
    assert r.exit_code == 2 and flag in r.stderr and "Traceback" not in r.output


def test_corrupt_state_file_is_named(make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path) -> None:
    (tmp_path / ".ztb").mkdir()
    (tmp_path / ".ztb" / "trend-alert-state.json").write_text('{"alerted": ', encoding="utf-8")
    r = run(
        "--artifacts-dir",
        str(tree(make_tree, 0.2)),
        "--state-dir",
        str(tmp_path),
        "--discord-webhook",
        hook_server.url(),
    )
    assert r.exit_code == 2 and "trend-alert-state.json" in r.stderr and not hook_server.seen


def test_two_processes_racing_alert_once(make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path) -> None:
    root = tree(make_tree, 0.2)
    env = {"PATH": os.environ.get("PATH", ""), "ZTB_DISCORD_WEBHOOK": hook_server.url()}
    for rep in range(3):
        state = tmp_path / f"state{rep}"
        cmd = [
            sys.executable,
            "-m",
            "ztbkit",
            "trend-alert",
            "--artifacts-dir",
            str(root),
            "--state-dir",
            str(state),
        ]
        procs = [
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
        ]
        codes = [p.wait(timeout=300) for p in procs]
        assert codes == [0, 0], [p.stderr.read() for p in procs if p.stderr]
        assert len(hook_server.seen) == rep + 1, "two racing runs both alerted"


def test_nightly_runs_it_only_with_a_webhook(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    root = tree(make_tree, 0.2)
    base = ["nightly", "--artifacts-dir", str(root), "--out-dir", str(tmp_path / "out"), "--skip-notebooks",
            "--date", "2025-10-31"]  # fmt: skip
    state = {"ZTB_STATE_DIR": str(tmp_path / "state")}
    r = CliRunner().invoke(cli, base, env={"ZTB_DISCORD_WEBHOOK": "", "SLACK_WEBHOOK_URL": "", **state})
    assert r.exit_code == 0 and "trend-alert" not in r.stdout and not hook_server.seen
    env = {**state, "ZTB_DISCORD_WEBHOOK": hook_server.url(), "SLACK_WEBHOOK_URL": ""}
    for _ in range(2):
        r = CliRunner().invoke(cli, base, env=env)
        assert r.exit_code == 0, r.output
        assert "trend-alert" in r.stdout and TOKEN not in r.stdout
    assert len(hook_server.seen) == 1 and hook_server.seen[0].body["embeds"][0]["title"].endswith("run-01")


def test_dsr_below_threshold(make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path) -> None:
    import math

    from test_leaderboard import EULER, hand_psr, inv_phi

    sharpes = [*SHARPES, 0.95]  # within median − 3·MAD: only the DSR check can fire
    n, mean = len(sharpes), sum(sharpes) / len(sharpes)
    v = sum((s - mean) ** 2 for s in sharpes) / (n - 1)
    sr0 = math.sqrt(v) * ((1 - EULER) * inv_phi(1 - 1 / n) + EULER * inv_phi(1 - 1 / (n * math.e)))
    dsr = hand_psr(0.95 / math.sqrt(252), 252, sr0 / math.sqrt(252), 0.0, 3.0)  # leaderboard defaults
    root = tree(make_tree, 0.95)
    args = [
        "--artifacts-dir",
        str(root),
        "--state-dir",
        str(tmp_path),
        "--discord-webhook",
        hook_server.url(),
    ]
    r = run(*args, "--dsr-below", f"{dsr - 0.01:.4f}")
    assert r.exit_code == 0 and "OK: run-01" in r.stdout and not hook_server.seen
    r = run(*args, "--dsr-below", f"{dsr + 0.01:.4f}")
    assert r.exit_code == 0 and len(hook_server.seen) == 1, r.output
    desc = hook_server.seen[0].body["embeds"][0]["description"]
    assert desc.startswith(f"• **trials-adjusted DSR** {dsr:.3f} < ") and "N=6 trials" in desc
    assert run(*args, "--dsr-below", "1.5").exit_code == 2


def test_a_start_time_in_the_future_does_not_hide_the_newest_session(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    """A finished session whose start reads 2090 (a typo'd year) sorted last forever: trend-alert
    judged it every night and never the real newest run, whose regression went unreported."""
    root = tree(make_tree, 0.2)
    index = json.loads((root / "index.json").read_text(encoding="utf-8"))
    index["sessions"].append(
        {"correlation_id": "typo", "created_at": "2090-10-03T00:00:00+09:00", "status": "stopped"}
    )
    (root / "typo").mkdir()
    (root / "typo" / "summary.json").write_text('{"rl_sharpe": 1.0, "dsr": 0.5}', encoding="utf-8")
    (root / "index.json").write_text(json.dumps(index), encoding="utf-8")
    r = run("--artifacts-dir", str(root), "--state-dir", str(tmp_path), "--dry-run",
            env={"ZTB_DISCORD_WEBHOOK": hook_server.url()})  # fmt: skip
    assert r.exit_code == 0, r.output
    assert '"title": "Trend regression: run-01"' in r.stdout
    assert "typo: start time 2090-10-03T00:00:00+09:00 is in the future" in r.stdout + r.stderr


def test_a_baseline_whose_spread_overflows_is_not_judged_rather_than_called_ok(make_tree: MakeTree) -> None:
    """Sharpes of ±1e308 are finite, but their MAD times k is not: the threshold was -inf, so any newest
    value was "ok". The metric is skipped with the reason, and the run says so."""
    sessions = {
        f"run-{i}": {"summary.json": {"rl_sharpe": v}}
        for i, v in enumerate([1e308, -1e308, 1e308, -1e308, -5.0])
    }
    index = {"sessions": [{"correlation_id": f"run-{i}", "created_at": f"2025-10-{i + 1:02d}T00:00:00+09:00"}
                          for i in range(5)]}  # fmt: skip
    root = make_tree(sessions, index=index)
    check = check_trend(load_artifacts(root).sessions, ["rl_sharpe"], window=10, mad_k=3)
    assert check is not None and check.session_id == "run-4" and check.checks == []
    assert check.skipped == ["rl_sharpe: the baseline's spread is not a finite number (MAD inf); not judged"]
    r = run("--artifacts-dir", str(root), "--metric", "rl_sharpe", "--dry-run", "--state-dir", str(root))
    assert "skipped rl_sharpe: the baseline's spread is not a finite number" in r.stdout + r.stderr, r.output
    assert "ok" not in (r.stdout + r.stderr).lower().split(), r.output
