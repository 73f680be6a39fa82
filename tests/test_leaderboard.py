"""The trials-adjusted leaderboard on a small hand-made tree, against values computed by hand here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import MakeTree

from ztbkit.analysis.leaderboard import Assumptions, leaderboard_html, leaderboard_markdown, trials_adjusted
from ztbkit.core.errors import UsageError
from ztbkit.data.artifacts import load_artifacts

RETURNS = [0.01, -0.005, 0.02, 0.0, 0.015, -0.01, 0.005, 0.012]
TB_RETURNS = [0.004, -0.002, 0.006, 0.001, -0.003, 0.005, 0.002, 0.0, 0.003, -0.001]
EULER = 0.5772156649015329


def phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def inv_phi(p: float) -> float:
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if phi(mid) < p else (lo, mid)
    return (lo + hi) / 2


def hand_moments(xs: list[float]) -> tuple[float, float, float, int]:
    n = len(xs)
    mean = sum(xs) / n
    m2 = sum((x - mean) ** 2 for x in xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    skew = sum((x - mean) ** 3 for x in xs) / n / m2**1.5
    kurt = sum((x - mean) ** 4 for x in xs) / n / m2**2
    return mean / sd, skew, kurt, n


def hand_psr(sr: float, t: float, bench: float, skew: float, kurt: float) -> float:
    return phi((sr - bench) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr))


def write_tb(folder: Path, tag: str, values: list[float]) -> None:
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(folder))
    for i, v in enumerate(values):
        w.add_scalar(tag, v, i)
    w.close()


@pytest.fixture
def board_tree(make_tree: MakeTree) -> Path:
    root = make_tree(
        {
            "a": {"summary.json": {"rl_sharpe": 9.9, "dsr": 0.11}, "eval_returns.json": {"returns": RETURNS}},
            "b": {"summary.json": {"rl_sharpe": 1.2, "dsr": 0.7}},
            "c": {"summary.json": {"rl_sharpe": 0.4}},
            "d": {"summary.json": {"rl_sharpe": 3.0}},  # running: not a finished trial
            "e": {"summary.json": {"global_step": 10}},  # no Sharpe at all
            "f": {"summary.json": {"rl_sharpe": 0.1}},
        },
        index={"sessions": [{"id": "d", "status": "running"}]},
    )
    write_tb(root / "f" / "tb", "eval/return", TB_RETURNS)
    return root


def test_numbers_match_hand_computation(board_tree: Path) -> None:
    q, t_assumed = 252.0, 500
    board = trials_adjusted(
        load_artifacts(board_tree).sessions,
        Assumptions(observations=t_assumed, skew=-0.5, kurtosis=4.0, periods_per_year=q),
    )
    sr_a, skew_a, kurt_a, t_a = hand_moments(RETURNS)
    sr_f, skew_f, kurt_f, t_f = hand_moments(TB_RETURNS)
    sharpes = {"a": sr_a * math.sqrt(q), "b": 1.2, "c": 0.4, "f": sr_f * math.sqrt(q)}
    n = 4
    mean = sum(sharpes.values()) / n
    v = sum((s - mean) ** 2 for s in sharpes.values()) / (n - 1)
    sr0 = math.sqrt(v) * ((1 - EULER) * inv_phi(1 - 1 / n) + EULER * inv_phi(1 - 1 / (n * math.e)))
    assert (
        board.trials == n and board.variance == pytest.approx(v) and board.sr0 == pytest.approx(sr0, rel=1e-6)
    )
    rows = {r.session_id: r for r in board.rows}
    assert set(rows) == {"a", "b", "c", "f"}
    moments = {
        "a": (t_a, skew_a, kurt_a),
        "b": (t_assumed, -0.5, 4.0),
        "c": (t_assumed, -0.5, 4.0),
        "f": (t_f, skew_f, kurt_f),
    }
    for sid, (t, sk, ku) in moments.items():
        sr = sharpes[sid] / math.sqrt(q)
        assert rows[sid].sharpe == pytest.approx(sharpes[sid])
        assert rows[sid].psr_zero == pytest.approx(hand_psr(sr, t, 0.0, sk, ku), abs=1e-6)  # TB keeps float32
        assert rows[sid].dsr == pytest.approx(hand_psr(sr, t, sr0 / math.sqrt(q), sk, ku), abs=1e-6)
    assert rows["a"].from_data and rows["a"].source == "returns: eval_returns.json"
    assert rows["f"].from_data and rows["f"].source == "returns: TensorBoard eval/return"
    assert not rows["b"].from_data and rows["b"].bot_dsr == 0.7 and rows["a"].bot_dsr == 0.11
    dsrs = [r.dsr for r in board.rows]
    assert dsrs == sorted(dsrs, reverse=True)  # type: ignore[type-var]


def test_page_shows_every_assumption(board_tree: Path) -> None:
    board = trials_adjusted(load_artifacts(board_tree).sessions, Assumptions(observations=500))
    md = leaderboard_markdown(board)
    assert "N = 4 finished sessions" in md and "T = 500" in md and "raw kurtosis = 3" in md
    assert "Q = 252" in md and "2 of 4 session(s) have no return series" in md
    assert "Bot's DSR" in md and "DSR (trials-adjusted)" in md and "(T, moments assumed)" in md
    page = leaderboard_html(board)
    assert page.count("<tr>") == 5 and "&#x27;eval/return&#x27;" in page


def test_too_few_trials_and_bad_assumptions(make_tree: MakeTree) -> None:
    root = make_tree(
        {"only": {"summary.json": {"rl_sharpe": 1.0}}, "x<script>": {"summary.json": {"rl_sharpe": 2}}}
    )
    board = trials_adjusted(load_artifacts(root).sessions)
    assert board.trials == 2 and all(r.dsr is not None for r in board.rows)
    assert "<script>" not in leaderboard_html(board)
    one = trials_adjusted([s for s in load_artifacts(root).sessions if s.session_id == "only"])
    assert one.sr0 is None and one.rows[0].dsr is None and "need 2" in one.notes[0]
    with pytest.raises(UsageError, match="observations"):
        trials_adjusted([], Assumptions(observations=1))


def test_dashboard_notebook_shows_board_with_cli_parameters(board_tree: Path, tmp_path: Path) -> None:
    """The documented command, pasted as-is: `ztb report dashboard -p leaderboard '{...}'`."""
    import os
    import subprocess
    import sys

    out = tmp_path / "out"
    cmd = (f"{sys.executable} -m ztbkit report dashboard --artifacts-dir {board_tree} --out-dir {out} "
           """-p leaderboard '{"observations": 777, "kurtosis": 5}' -p curves '{"enabled": false}'""")  # fmt: skip
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path))}
    r = subprocess.run(
        ["/bin/sh", "-c", cmd], env=env, capture_output=True, text=True, timeout=600, encoding="utf-8"
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (md,) = out.glob("*/dashboard.md")
    text = md.read_text(encoding="utf-8")
    assert "Trials-adjusted leaderboard" in text and "T = 777" in text and "raw kurtosis = 5" in text
    assert "| a | " in text and "returns: eval_returns.json" in text and "Learning curves" not in text


def test_hostile_return_files(make_tree: MakeTree) -> None:
    import os

    root = make_tree({
        "h": {"summary.json": {"rl_sharpe": 0.5},
              "eval_0.json": b"\xff\xfe not utf-8",
              "eval_1.json": "[" * 5000 + "]" * 5000,
              "eval_2.json": {"returns": [10**400, "x", True, None, *RETURNS, 0.0]}},
        "k": {"summary.json": {"rl_sharpe": 0.3}},
    })  # fmt: skip
    os.mkfifo(root / "k" / "eval_fifo.json")  # must not hang the reader
    board = trials_adjusted(load_artifacts(root).sessions)
    rows = {r.session_id: r for r in board.rows}
    sr, skew, kurt, t = hand_moments([*RETURNS, 0.0])
    assert rows["h"].skew == pytest.approx(skew)
    assert rows["h"].source == "returns: eval_2.json" and rows["h"].observations == t
    assert rows["h"].sharpe == pytest.approx(sr * math.sqrt(252)) and rows["h"].kurtosis == pytest.approx(
        kurt
    )
    assert rows["k"].source == "bot rl_sharpe"


def test_markdown_cells_are_escaped(make_tree: MakeTree) -> None:
    root = make_tree(
        {"a|b<i>": {"summary.json": {"rl_sharpe": 1.0}}, "c": {"summary.json": {"rl_sharpe": 2.0}}}
    )
    md = leaderboard_markdown(trials_adjusted(load_artifacts(root).sessions))
    table = [ln for ln in md.splitlines() if ln.startswith("| a")]
    assert table and table[0].startswith("| a\\|b&lt;i&gt; |") and table[0].count(" | ") == 8


def test_a_sharpe_too_large_to_square_leaves_the_board_without_dsr_not_failed(make_tree: MakeTree) -> None:
    """rl_sharpe 1e308 is a finite JSON number, but the variance of the Sharpes overflows a float: the
    dashboard notebook failed with OverflowError. The board is still built: PSR vs 0 for the others,
    no DSR, and a note naming the session."""
    root = make_tree({
        "huge": {"summary.json": {"rl_sharpe": 1e308}},
        "b": {"summary.json": {"rl_sharpe": 1.0}},
        "c": {"summary.json": {"rl_sharpe": 2.0}},
    })  # fmt: skip
    board = trials_adjusted(load_artifacts(root).sessions)
    rows = {r.session_id: r for r in board.rows}
    assert board.trials == 3 and board.sr0 is None and all(r.dsr is None for r in board.rows)
    assert rows["b"].psr_zero == pytest.approx(hand_psr(1.0 / math.sqrt(252), 252, 0.0, 0.0, 3.0))
    assert any("variance" in note and "huge" in note for note in board.notes), board.notes
    assert "| b |" in leaderboard_markdown(board) and "huge" in leaderboard_html(board)
