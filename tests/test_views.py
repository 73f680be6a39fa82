"""The notebooks where they live: default and relative artifacts_dir, one-line errors in a real
kernel, the cost page priced from every cost shape and following the month, budget and trend axes."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import date, datetime
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, MakeTree

from ztbkit.reports.kernel import kernel_name
from ztbkit.reports.locations import resolve_artifacts_dir
from ztbkit.reports.runner import render_notebook

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_resolve_artifacts_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ZTB_ARTIFACTS_DIR", raising=False)
    monkeypatch.delenv("ZTB_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)  # the kernel's folder never matters
    assert resolve_artifacts_dir("") == str(REPO / "demo" / "artifacts")
    assert resolve_artifacts_dir("  ") == str(REPO / "demo" / "artifacts")
    assert resolve_artifacts_dir("data/arts") == str(REPO / "data" / "arts")
    assert resolve_artifacts_dir("/abs/arts") == "/abs/arts"
    assert resolve_artifacts_dir("s3://bucket/arts") == "s3://bucket/arts"
    assert resolve_artifacts_dir("~/arts") == str(Path.home() / "arts")
    monkeypatch.setenv("ZTB_ARTIFACTS_DIR", "env/arts")
    assert resolve_artifacts_dir("") == str(REPO / "env" / "arts")
    assert resolve_artifacts_dir("given") == str(REPO / "given")  # the parameter beats the environment
    monkeypatch.setenv("ZTB_ROOT", str(tmp_path / "root"))
    assert resolve_artifacts_dir("") == str(tmp_path / "root" / "env" / "arts")


def _run_in_notebooks_folder(
    name: str, params: dict[str, object], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> nbformat.NotebookNode:
    """Papermill on the user's workspace copy with the kernel started in the workspace (as JupyterLab
    started by ``ztb lab`` does)."""
    import papermill

    from ztbkit.reports.workspace import refresh_workspace

    workspace = tmp_path / "notebooks"
    refresh_workspace(workspace)
    monkeypatch.chdir(workspace)
    out = tmp_path / f"{name}-run.ipynb"
    with contextlib.suppress(papermill.PapermillExecutionError):  # a failed cell is what some tests want
        papermill.execute_notebook(str(workspace / f"{name}.ipynb"), str(out), parameters=params,
                                   kernel_name=kernel_name(), progress_bar=False, start_timeout=300)  # fmt: skip
    return nbformat.read(out, as_version=4)


def _outputs(nb: nbformat.NotebookNode) -> list[dict[str, object]]:
    return [o for c in nb.cells for o in c.get("outputs", [])]


def test_relative_artifacts_dir_is_from_the_project_root_not_the_kernel_folder(
    make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    make_tree({"20251001T000000Z": {"summary.json": {"global_step": 5, "rl_sharpe": 1.5}}},
              root=root / "my" / "arts")  # fmt: skip
    monkeypatch.setenv("ZTB_ROOT", str(root))
    monkeypatch.delenv("ZTB_ARTIFACTS_DIR", raising=False)
    nb = _run_in_notebooks_folder("trends", {"artifacts_dir": "my/arts"}, monkeypatch, tmp_path)
    assert not [o for o in _outputs(nb) if o["output_type"] == "error"]
    text = json.dumps(nb)
    assert f"1 sessions in {root / 'my' / 'arts'}" in text


def test_empty_artifacts_dir_uses_the_environment(
    make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arts = make_tree({"20251001T000000Z": {"summary.json": {"global_step": 5}}}, root=tmp_path / "env-arts")
    monkeypatch.setenv("ZTB_ARTIFACTS_DIR", str(arts))
    nb = _run_in_notebooks_folder("dashboard", {}, monkeypatch, tmp_path)  # the notebook's own default
    assert not [o for o in _outputs(nb) if o["output_type"] == "error"]
    assert f"Artifacts: {arts}" in json.dumps(nb)


@pytest.mark.parametrize("name", ["dashboard", "trends", "budget", "cost"])
def test_a_bad_artifacts_dir_is_one_line_naming_the_variable(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZTB_ROOT", str(tmp_path))  # a project root with no demo built
    monkeypatch.delenv("ZTB_ARTIFACTS_DIR", raising=False)
    nb = _run_in_notebooks_folder(name, {"artifacts_dir": "nowhere"}, monkeypatch, tmp_path)
    [err] = [o for o in _outputs(nb) if o["output_type"] == "error"]
    assert err["ename"] == "ParameterError"
    tb = err["traceback"]
    assert isinstance(tb, list) and len(tb) == 1 and "\n" not in tb[0]  # one line, not a traceback
    line = ANSI.sub("", tb[0])
    assert line.startswith("ParameterError: artifacts_dir = 'nowhere'") and str(tmp_path / "nowhere") in line
    assert "set artifacts_dir in the first cell" in line and "--artifacts-dir" not in line


def test_missing_demo_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZTB_ROOT", str(tmp_path))
    monkeypatch.delenv("ZTB_ARTIFACTS_DIR", raising=False)
    nb = _run_in_notebooks_folder("budget", {}, monkeypatch, tmp_path)
    [err] = [o for o in _outputs(nb) if o["output_type"] == "error"]
    line = ANSI.sub("", err["traceback"][0])  # type: ignore[index]
    assert (
        "artifacts_dir is empty" in line
        and "make demo" in line
        and str(tmp_path / "demo" / "artifacts") in line
    )


def test_cost_page_prices_every_shape_and_follows_the_month(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({
        # September: the older flat shape only (11.5 GPU-hours, ¥3,458) — energy is estimated, not 0 kWh.
        "sep-a": {"run_metadata.json": {"start_time": "2025-09-10T10:00:00", "gpu_model": "NVIDIA GeForce RTX 4090"},
                  "summary.json": {"global_step": 2_000_000},
                  "reports/cost_estimate.json": {"total_cost_jpy": 3000.0, "gpu_hours": 10.0}},
        "sep-b": {"run_metadata.json": {"start_time": "2025-09-20T10:00:00"},
                  "reports/cost_estimate.json": {"total_cost_jpy": 458.0, "gpu_hours": 1.5}},
        "sep-c": {"run_metadata.json": {"start_time": "2025-09-21T10:00:00"},
                  "reports/cost_estimate.json": {"total_cost_jpy": 99.0}},  # neither kWh nor GPU-hours
        # October: ztbkit's own shape with a recorded power_kwh.
        "oct-a": {"run_metadata.json": {"start_time": "2025-10-05T10:00:00"},
                  "summary.json": {"global_step": 1_000_000},
                  "reports/cost_estimate.json": {"gpu_hours": 1.0, "power_kwh": 7.0,
                                                 "costs": {"total_jpy": 500.0}}},
    })  # fmt: skip
    result = render_notebook("cost", artifacts_dir=root, out_dir=tmp_path / "o", parameters={"month": "2025-09"},
                             formats=("md",))  # fmt: skip
    assert result.status == "ok", result.error
    md = (tmp_path / "o" / "cost.md").read_text(encoding="utf-8")
    # 10 h × 450 W (RTX 4090) + 1.5 h × 300 W = 4.5 + 0.45 = 4.95 kWh, all estimated; sep-c unknown.
    assert "3 priced run(s) started in 2025-09: 4.95 kWh, of which 4.95 kWh estimated" in md
    assert "energy unknown (not in the kWh sum): sep-c" in md
    assert "| sep-a | 2025-09-10 10:00 | 4.50 | estimated (10 GPU-hours × 450 W, board power of" in md
    assert (
        "| sep-b | 2025-09-20 10:00 | 0.45 | estimated (1.5 GPU-hours × 300 W, no GPU model recorded) |" in md
    )
    assert "| sep-c | 2025-09-21 10:00 |  | energy unknown | ¥99 |  |" in md
    assert "¥1,500" in md  # sep-a: ¥3,000 / 2M steps, the month's cost per 1M steps
    assert "oct-a" not in md and "¥500" not in md  # nothing from October on September's page
    assert "Cost per 1M steps, 2025-09" in md


def test_budget_axis_is_continuous() -> None:
    from ztbkit.money.budget import BudgetDay
    from ztbkit.reports.money_views import daily_series

    days = [BudgetDay(date(2025, 10, 4)), BudgetDay(date(2025, 10, 1)), BudgetDay(None)]
    series = daily_series(days)
    assert [d for d, _ in series] == [date(2025, 10, n) for n in (1, 2, 3, 4)]
    assert [c for _, c in series] == [0.0, 0.0, 0.0, 0.0]


def test_budget_title_comes_first(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"a": {"run_metadata.json": {"start_time": "2025-10-01T10:00:00"}}})
    result = render_notebook("budget", artifacts_dir=root, out_dir=tmp_path / "o", formats=("md",))
    assert result.status == "ok", result.error
    md = (tmp_path / "o" / "budget.md").read_text(encoding="utf-8").lstrip()
    assert md.startswith("# Daily Budget") and md.index("# Daily Budget") < md.index("![")


def test_trend_chart_is_by_start_date_with_ids(make_tree: MakeTree) -> None:
    from ztbkit.analysis.trends import trend_table
    from ztbkit.core.clock import default_tz
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.reports.views import _trend_figure

    root = make_tree({
        "b-late": {"summary.json": {"rl_sharpe": 2.0}, "run_metadata.json": {"start_time": "2025-10-09T00:00:00"}},
        "a-early": {"summary.json": {"rl_sharpe": 1.0}, "run_metadata.json": {"start_time": "2025-09-01T00:00:00"}},
    })  # fmt: skip
    tree = load_artifacts(root)
    starts = {s.session_id: s.start_time.astimezone(default_tz()) for s in tree.sessions if s.start_time}
    fig = _trend_figure(trend_table(tree.sessions), "rl_sharpe", starts)
    ax = fig.axes[0]
    xs = [x.replace(tzinfo=None) for x in ax.lines[0].get_xdata()]
    assert xs == [datetime(2025, 9, 1), datetime(2025, 10, 9)]
    assert [t.get_text() for t in ax.texts] == ["a-early", "b-late"]


def test_cost_page_default_month_is_not_a_month_in_the_future(make_tree: MakeTree, tmp_path: Path) -> None:
    """One priced run whose start reads 2090 (a typo'd year) made 2090-10 "the newest month with
    priced runs": every nightly cost page showed that one run and none of the real ones."""
    root = make_tree({
        "real": {"run_metadata.json": {"start_time": "2025-10-05T10:00:00"},
                 "reports/cost_estimate.json": {"gpu_hours": 1.0, "power_kwh": 7.0, "costs": {"total_jpy": 500.0}}},
        "typo": {"run_metadata.json": {"start_time": "2090-10-05T10:00:00"},
                 "reports/cost_estimate.json": {"gpu_hours": 1.0, "power_kwh": 3.0, "costs": {"total_jpy": 200.0}}},
    })  # fmt: skip
    result = render_notebook("cost", artifacts_dir=root, out_dir=tmp_path / "o", formats=("md",))
    assert result.status == "ok", result.error
    md = (tmp_path / "o" / "cost.md").read_text(encoding="utf-8")
    assert "1 priced run(s) started in 2025-10: 7.00 kWh" in md and "| real |" in md and "| typo |" not in md
