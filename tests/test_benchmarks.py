"""The benchmark scripts must keep working: run them at a tiny size (figures are not asserted)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_load
import pytest


@pytest.fixture(autouse=True)
def _script_environment() -> Iterator[None]:
    """The benchmarks are scripts: they set what their process needs (a cache folder, the cache off
    for a measurement) and exit. Run in-process here, that is undone after each one."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


def test_load_benchmark_runs_at_small_scale(tmp_path: Path) -> None:
    result = bench_load.run(sessions=25, repeat=1, data=tmp_path)
    assert result["sessions"] == 25
    assert result["json_files"] >= 25 * 3  # index + summary/metrics/run_metadata (+ gates) per session
    assert result["baseline_s"] > 0 and result["ztbkit_s"] > 0 and result["ratio"] > 0
    assert (tmp_path / "tree-25" / "artifacts" / "index.json").is_file()


def test_curves_benchmark_runs_at_small_scale(tmp_path: Path) -> None:
    import bench_curves

    result = bench_curves.run(sessions=3, tags=5, points=300, data=tmp_path, long_points=20_000)
    assert result["points_read"] == 3 * 5 * 300
    assert result["baseline_s"] > 0 and result["curves_s"] > 0
    assert result["html_kb_curves"] > result["html_kb_baseline"]  # the figure is in the page
    assert result["long_points"] == 20_000 and result["long_plot_whole_s"] > 0 and result["plot_full_s"] > 0


def test_incremental_benchmark_changes_exactly_the_sessions_it_names(tmp_path: Path) -> None:
    import json

    import bench_incremental
    from gen_tree import ensure_tree

    tree = ensure_tree(tmp_path / "t", 30)
    before = {p.parent.name: p.read_bytes() for p in tree.glob("*/summary.json")}
    picked = bench_incremental.change_sessions(tree, 3)
    after = {p.parent.name: p.read_bytes() for p in tree.glob("*/summary.json")}
    assert len(picked) == 3
    assert {k for k in before if before[k] != after.get(k)} == set(picked)
    assert all("rl_sharpe" in json.loads(after[k]) for k in picked)


def test_watch_benchmark_runs_at_small_scale(tmp_path: Path) -> None:
    import bench_watch

    result = bench_watch.run(sessions=20, repeat=1, data=tmp_path)
    assert result["base_cpu"] > 0 and result["watch_cpu"] > 0 and result["sent_steady"] == 0
    assert (tmp_path / "tree-20" / ".ztb" / "watch-state.json").is_file()


def test_joblog_benchmark_runs_at_small_scale(tmp_path: Path) -> None:
    import bench_joblog

    result = bench_joblog.run(mb=2, limit_mb=0.25, data=tmp_path)
    assert result["baseline_log_mb"] == 2 and result["capped_logs_mb"] <= 4 * 0.25 + 0.01
    assert result["rotations"] >= 7 and result["baseline_s"] > 0 and result["capped_s"] > 0


def test_idle_benchmark_counts_what_the_idle_tick_imports(tmp_path: Path) -> None:
    import bench_idle

    result = bench_idle.run(callgrind=False, work=tmp_path)
    assert result["idle_tick_heavy"] == [] and result["idle_watch_heavy"] == []
    assert isinstance(result["idle_tick_modules"], int) and isinstance(result["ztb_help_modules"], int)
    assert result["idle_tick_modules"] > result["ztb_help_modules"]  # the tick does more than --help
    assert isinstance(result["idle_watch_modules"], int)
    assert result["idle_watch_modules"] > result["ztb_help_modules"]
    assert (tmp_path / "state.json").is_file()  # the tick ran and kept its state there
    assert (tmp_path / ".ztb" / "watch-state.json").is_file() and result["watch_sent_idle"] == 0


def test_compare_benchmark_runs_at_small_scale(tmp_path: Path) -> None:
    import bench_compare

    result = bench_compare.run(sessions=12, hparams=6, data=tmp_path)
    assert result["sessions_with_hparams"] == 12
    assert result["dashboard_s"] > 0 and result["compare_s"] > 0 and result["compare_kb"] > 0


def test_interactive_curves_benchmark_runs_at_small_scale(tmp_path: Path) -> None:
    import bench_interactive

    result = bench_interactive.run(sessions=3, tags=2, points=200, data=tmp_path, repeat=1)
    assert result["curves_kb"] > result["baseline_kb"] and result["curves_ready_ms"] > 0


PROBE = """
import time
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_probe(i: int) -> None:
    time.sleep(0.3)
"""


def test_suite_benchmark_runs_both_ways_and_times_the_serial_unit(tmp_path: Path) -> None:
    """A suite of 10 tests of 0.3 s, 4 of them in a SERIAL module: both runs count the same 10 passed,
    and the serial unit's length is read from the parallel run (the 4 serial tests, one after another)."""
    import shutil

    import bench_suite

    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(Path(__file__).with_name("conftest.py"), tests / "conftest.py")
    (tests / "test_proc.py").write_text(PROBE.format(n=4), encoding="utf-8")  # a SERIAL module
    (tests / "test_ids.py").write_text(PROBE.format(n=6), encoding="utf-8")
    result = bench_suite.run([str(tests)], cwd=tmp_path, tests_dir=tests, work=tmp_path / "runs")
    assert result["order"] == ["one_process", "parallel"]
    for r in (result["one_process"], result["parallel"]):
        assert (r["exit"], r["passed"], r["failed"]) == (0, 10, 0), r
    assert result["same_tests"] and result["ratio"] > 0
    assert result["serial_unit_tests"] == 4 and 1.2 <= result["serial_unit_s"] < result["all_tests_s"]
    assert result["bound_s"] >= result["all_tests_s"] / 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["one_process.xml", "parallel.xml"]
