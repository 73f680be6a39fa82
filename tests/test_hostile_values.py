"""Hostile VALUES in well-formed files: each field that flows into a report holds a number no float
can hold. JSON has no size limit on integers and Python reads them exactly, so 10**400 is a valid
value in every file; it must become a warning naming the file and key, and every other session
must still be reported (tests/test_matrix.py covers hostile FILES)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MakeTree

from ztbkit.cli import cli

HUGE = 10**400  # more digits than a float's range, fewer than Python's int-parsing limit


def tree_with_huge_integers(make_tree: MakeTree) -> Path:
    index = {"sessions": [
        {"correlation_id": "idx", "created_at": HUGE, "eta": HUGE, "latest_step": HUGE},
        {"correlation_id": "ok", "created_at": "2025-10-01T10:00:00+09:00"},
    ]}  # fmt: skip
    return make_tree({
        "idx": {"summary.json": {"rl_sharpe": 0.5}},
        "sum": {"summary.json": {"global_step": HUGE, "best_sharpe": HUGE, "wall_clock_duration_hours": HUGE,
                                 "progress": {"steps_per_sec": HUGE}, "metadata": {"timestamp": HUGE}}},
        "met": {"metrics.json": {"steps": HUGE, "elapsed_time": HUGE, "rss_peaks": [HUGE, 1],
                                 "tb_latest": {"time/fps": HUGE}}, "summary.json": {"global_step": 10}},
        "rm": {"run_metadata.json": {"duration_seconds": HUGE, "gpu_count": HUGE, "energy_kwh": HUGE}},
        "ok": {"run_metadata.json": {"duration_seconds": 3600, "gpu_count": 1},
               "summary.json": {"global_step": 7, "rl_sharpe": 1.5}},
    }, index=index)  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ["trends", "--out", "{tmp}/t.csv"],
        ["budget", "--estimate-missing", "--out", "{tmp}/b.md"],
        ["trend-alert", "--dry-run"],
        ["cost", "--correlation-id", "rm", "--out", "{tmp}/c.json"],
        ["cost", "--correlation-id", "met", "--out", "{tmp}/c.json"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_an_integer_too_large_for_a_float_is_a_warning_in_every_command(
    make_tree: MakeTree, tmp_path: Path, command: list[str]
) -> None:
    """Loading divided such a global_step by steps/sec, and math.isfinite() raised OverflowError on
    such an epoch, ETA, energy or cost: every one of these commands died with a traceback."""
    root = tree_with_huge_integers(make_tree)
    args = [a.replace("{tmp}", str(tmp_path)) for a in command] + ["--artifacts-dir", str(root)]
    r = CliRunner().invoke(cli, args, env={"ZTB_DISCORD_WEBHOOK": "", "SLACK_WEBHOOK_URL": ""})
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code in (0, 1), r.output
    if command[0] == "trends":
        rows = (tmp_path / "t.csv").read_text(encoding="utf-8").splitlines()
        assert "ok,7,1.5,," in rows and "sum,,,," in rows
        assert (
            "sum/summary.json: global_step: int 1000000" in r.stderr and "too large for a float" in r.stderr
        )
    if command[0] == "budget":
        assert "5 run(s)" in r.stdout
        assert json.loads((root / "ok" / "reports" / "cost_estimate.json").read_text(encoding="utf-8"))
