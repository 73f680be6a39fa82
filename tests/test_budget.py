from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from click.testing import CliRunner
from conftest import MakeTree

from ztbkit import load_artifacts
from ztbkit.cli import cli
from ztbkit.core.clock import FakeClock
from ztbkit.money.budget import budget_dataframe, budget_markdown, budget_runs, read_cost, rollup

OURS = {"correlation_id": "x", "gpu_hours": 2.0, "costs": {"gpu_jpy": 600, "power_jpy": 21, "cloud_jpy": 0,
        "total_jpy": 621.0}, "generator": "ztbkit"}  # fmt: skip
FLAT = {"total_cost_jpy": 1000.0, "gpu_hours": 5.0}


def tree_with_days(make_tree: MakeTree) -> Path:
    index = {"sessions": [
        {"correlation_id": "a", "created_at": "2025-10-01T10:00:00+09:00", "status": "stopped"},
        {"correlation_id": "b", "created_at": "2025-10-01T16:00:00+00:00", "status": "stopped"},  # 10-02 in Tokyo
        {"correlation_id": "c", "created_at": "2025-10-02T09:00:00+09:00", "status": "running"},
        {"correlation_id": "d", "created_at": "2025-09-30T23:59:59", "status": "failed"},  # naive = Tokyo
    ]}  # fmt: skip
    return make_tree({
        "a": {"reports/cost_estimate.json": OURS, "summary.json": {"global_step": 2_000_000}},
        "b": {"reports/cost_estimate.json": FLAT},
        "c": {},  # no cost file: not estimated
        "d": {"reports/cost_estimate.json": {"costs": {"total_jpy": "lots"}}},
        "nodate": {"reports/cost_estimate.json": FLAT},
    }, index=index)  # fmt: skip


def test_read_cost_both_shapes_and_bad() -> None:
    assert read_cost(OURS) == (621.0, 2.0, None)
    assert read_cost(FLAT) == (1000.0, 5.0, None)
    assert read_cost(None) == (None, None, None)
    assert read_cost({"costs": {"total_jpy": -1}})[2] == "cost_estimate.json: costs.total_jpy: -1 is negative"
    assert "neither" in (read_cost({"foo": 1})[2] or "")


def test_rollup_by_tokyo_day_newest_first(make_tree: MakeTree) -> None:
    runs = budget_runs(load_artifacts(tree_with_days(make_tree)).sessions)
    days = rollup(runs)
    assert [d.day for d in days] == [date(2025, 10, 2), date(2025, 10, 1), date(2025, 9, 30), None]
    oct2, oct1, sep30, unknown = days
    assert [r.session_id for r in oct2.runs] == ["b", "c"]
    assert oct2.cost_jpy == 1000.0 and oct2.gpu_hours == 5.0 and oct2.not_estimated == 1
    assert oct1.cost_jpy == 621.0 and oct1.runs[0].cost_per_million_steps == 310.5
    assert sep30.not_estimated == 1 and sep30.runs[0].problem is not None
    assert unknown.runs[0].session_id == "nodate"


def test_budget_markdown_totals_and_not_estimated(make_tree: MakeTree) -> None:
    days = rollup(budget_runs(load_artifacts(tree_with_days(make_tree)).sessions))
    md = budget_markdown(days, now=datetime(2025, 10, 3, tzinfo=UTC))
    assert md.startswith("# Daily Budget\n")
    assert "| 2025-10-02 | 2 | 5.00 | ¥1,000 | 1 |" in md
    assert "| **Total** | **5** | **12.00** | **¥2,621** | **2** |" in md
    assert "| c | running | — | not estimated | — |" in md
    assert "| a | stopped | 2.00 | ¥621 | ¥311 |" in md
    assert md.index("## 2025-10-02") < md.index("## 2025-10-01") < md.index("## unknown date")


def test_date_filter(make_tree: MakeTree) -> None:
    days = rollup(budget_runs(load_artifacts(tree_with_days(make_tree)).sessions), date(2025, 10, 1))
    assert [d.day for d in days] == [date(2025, 10, 1)]
    assert "No runs started on 2025-10-05." in budget_markdown(
        rollup([], date(2025, 10, 5)), only=date(2025, 10, 5)
    )


def test_budget_dataframe_for_notebooks(make_tree: MakeTree) -> None:
    df = budget_dataframe(budget_runs(load_artifacts(tree_with_days(make_tree)).sessions))
    assert list(df.columns) == ["session_id", "day", "status", "cost_jpy", "gpu_hours", "global_step",
                                "cost_per_1m_steps_jpy", "estimated"]  # fmt: skip
    assert df.set_index("session_id").loc["c", "estimated"] == False  # noqa: E712


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args), env={})
    return r.exit_code, r.stdout, r.stderr


def test_budget_cli(make_tree: MakeTree, tmp_path: Path) -> None:
    root = tree_with_days(make_tree)
    out = tmp_path / "b.md"
    code, stdout, _ = run("budget", "--artifacts-dir", str(root), "--out", str(out))
    assert code == 0 and "4 day(s), 5 run(s), 2 not estimated, total ¥2,621" in stdout
    code, stdout, _ = run("budget", "--artifacts-dir", str(root), "--out", str(out), "--date", "2025-10-02")
    assert code == 0 and out.read_text(encoding="utf-8").startswith("# Daily Budget for 2025-10-02")
    code, _, err = run("budget", "--artifacts-dir", str(root), "--date", "2025/10/02")
    assert code == 2 and "--date: '2025/10/02' is not a date" in err


def test_estimate_missing_prices_unpriced_runs_only(make_tree: MakeTree, tmp_path: Path) -> None:
    run_md = {
        "correlation_id": "n",
        "duration_seconds": 7200,
        "gpu_count": 1,
        "start_time": "2025-10-01T00:00:00",
    }
    root = make_tree({"n": {"run_metadata.json": run_md}, "f": {"reports/cost_estimate.json": FLAT},
                      "nodur": {"summary.json": {"dsr": 0.1}}})  # fmt: skip
    code, stdout, err = run("budget", "--artifacts-dir", str(root), "--out", str(tmp_path / "b.md"),
                            "--estimate-missing")  # fmt: skip
    assert code == 0
    assert (
        json.loads((root / "n" / "reports" / "cost_estimate.json").read_text(encoding="utf-8"))["costs"][
            "gpu_jpy"
        ]
        == 600
    )
    assert (
        json.loads((root / "f" / "reports" / "cost_estimate.json").read_text(encoding="utf-8")) == FLAT
    )  # other tools' files kept
    assert "warning: nodur: not estimated: no duration" in err
    assert "1 not estimated" in stdout


def test_nightly_includes_the_budget(make_tree: MakeTree, tmp_path: Path) -> None:
    from ztbkit.ops.nightly import run_nightly

    root = make_tree({"n": {"run_metadata.json": {"duration_seconds": 3600, "gpu_count": 1,
                                                  "start_time": "2025-10-30T12:00:00"}}})  # fmt: skip
    result = run_nightly(root, tmp_path / "o", date_text="2025-10-31", notebooks=False, clock=FakeClock())
    assert [s.name for s in result.steps] == ["trends.csv", "trends-md", "budget.md", "index"] and result.ok
    assert "¥311" in (tmp_path / "o" / "2025-10-31" / "budget_daily.md").read_text(encoding="utf-8")


def test_a_start_time_at_the_calendar_edge_is_a_warning_not_a_crash(
    make_tree: MakeTree, tmp_path: Path
) -> None:
    """Year 1 at +14:00 (or a naive year 1 in Tokyo) is before 0001-01-01 UTC, and 9999-12-31 at
    -12:00 is after the last date Python holds: converting either to Tokyo days raised OverflowError.
    Such a start is reported naming the file and key; the other runs are still summed."""
    index = {"sessions": [
        {"correlation_id": "early", "created_at": "0001-01-01T00:00:00+14:00"},
        {"correlation_id": "late", "created_at": "9999-12-31T23:59:59-12:00"},
        {"correlation_id": "ok", "created_at": "2025-10-01T10:00:00+09:00"},
    ]}  # fmt: skip
    root = make_tree({
        "early": {"reports/cost_estimate.json": FLAT},
        "late": {"reports/cost_estimate.json": FLAT},
        "naive": {"reports/cost_estimate.json": FLAT, "summary.json": {"timestamp": "0001-01-01T00:00:00"}},
        "ok": {"reports/cost_estimate.json": OURS},
    }, index=index)  # fmt: skip
    out = tmp_path / "b.md"
    code, stdout, err = run("budget", "--artifacts-dir", str(root), "--out", str(out))
    assert code == 0 and "Traceback" not in err, err
    assert "index.json: created_at: not a timestamp: str '0001-01-01T00:00:00+14:00'" in err
    assert "index.json: created_at: not a timestamp: str '9999-12-31T23:59:59-12:00'" in err
    assert "summary.json: timestamp: not a timestamp: str '0001-01-01T00:00:00'" in err
    assert "4 run(s)" in stdout and "total ¥3,621" in stdout
    assert "| 2025-10-01 |" in out.read_text(encoding="utf-8")


def test_a_line_break_in_an_index_status_stays_in_its_table_cell(make_tree: MakeTree, tmp_path: Path) -> None:
    """Markdown ends a table row at a line break: a status of "a\\nb|c" split the run's row in two."""
    index = {
        "sessions": [{"correlation_id": "s", "created_at": "2025-10-01T10:00:00+09:00", "status": "a\r\nb|c"}]
    }
    root = make_tree({"s": {"reports/cost_estimate.json": OURS}}, index=index)
    out = tmp_path / "b.md"
    code, _, err = run("budget", "--artifacts-dir", str(root), "--out", str(out))
    assert code == 0, err
    rows = [ln for ln in out.read_text(encoding="utf-8").splitlines() if ln.startswith("| s |")]
    assert rows == ["| s | a b\\|c | 2.00 | ¥621 | — |"]


def test_totals_past_the_ceiling_are_not_estimated_not_summed_to_infinity(
    make_tree: MakeTree, tmp_path: Path
) -> None:
    """Three cost files of ¥1e308 each are finite, but their sum is not: the budget died with
    OverflowError formatting it, then (#25) showed ¥∞ and swallowed every other run. Above the
    ceiling of ¥10⁹ per run a run is not estimated, with a warning naming the file and key."""
    big = {"total_cost_jpy": 1e308, "gpu_hours": 1.0}
    root = make_tree({s: {"reports/cost_estimate.json": big} for s in ("x", "y", "z")})
    out = tmp_path / "b.md"
    code, stdout, err = run("budget", "--artifacts-dir", str(root), "--out", str(out))
    assert code == 0 and "Traceback" not in err, err
    assert "3 not estimated, total ¥0" in stdout and "∞" not in out.read_text(encoding="utf-8")
    assert err.count("total_cost_jpy: 1e+308 is above the ceiling of ¥1,000,000,000 per run") == 3, err


def test_estimate_missing_goes_on_past_a_session_that_cannot_be_priced(
    make_tree: MakeTree, tmp_path: Path
) -> None:
    """steps_per_sec 5e-324 makes the derived duration infinite, and 1e306 GPUs an infinite energy: each
    stopped `ztb budget --estimate-missing` (and the nightly's budget.md) with exit 2, for every run.
    Such a session is listed as not estimated, with why; the others are priced."""
    root = make_tree({
        "slow": {"summary.json": {"global_step": 5_000_000, "progress": {"steps_per_sec": 5e-324}}},
        "gpus": {"run_metadata.json": {"duration_seconds": 3600, "gpu_count": 10**306}},
        "ok": {"run_metadata.json": {"duration_seconds": 3600, "gpu_count": 1}},
    })  # fmt: skip
    code, stdout, err = run(
        "budget", "--artifacts-dir", str(root), "--out", str(tmp_path / "b.md"), "--estimate-missing"
    )
    assert code == 0, err
    assert "3 run(s), 2 not estimated" in stdout
    assert "warning: slow: not estimated: " in err and "warning: gpus: not estimated: " in err
    assert (
        json.loads((root / "ok" / "reports" / "cost_estimate.json").read_text(encoding="utf-8"))["costs"][
            "gpu_jpy"
        ]
        == 300
    )
