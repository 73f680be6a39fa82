"""The compare analysis (varying hyperparameters, metrics, trials-adjusted DSR) and its widgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import MakeTree

from ztbkit.analysis.compare import compare, cost_per_1m_steps, varying_hparams
from ztbkit.core.errors import UsageError
from ztbkit.data.artifacts import load_artifacts
from ztbkit.data.notes import set_tag
from ztbkit.reports import compare_view


def _cfg(**config: Any) -> dict[str, Any]:
    return {"correlation_id": "x", "payload": {"config": config}}


@pytest.fixture
def sweep(make_tree: MakeTree) -> Path:
    return make_tree({
        "a": {"run_metadata.json": _cfg(lr=0.001, gamma=0.99, policy="ppo"),
              "summary.json": {"global_step": 2_000_000, "rl_sharpe": 1.0, "dsr": 0.4},
              "reports/cost_estimate.json": {"total_cost_jpy": 1000.0, "gpu_hours": 1.0}},
        "b": {"run_metadata.json": _cfg(lr=0.0003, gamma=0.99, policy="ppo"),
              "summary.json": {"global_step": 1_000_000, "rl_sharpe": 2.0, "dsr": 0.6}},
        "c": {"run_metadata.json": _cfg(lr=0.0001, gamma=0.99, policy="a2c"),
              "summary.json": {"global_step": 1_000_000, "rl_sharpe": 1.5}},
    })  # fmt: skip


def test_only_the_varying_hyperparameters(sweep: Path) -> None:
    tree = load_artifacts(sweep)
    assert varying_hparams(tree.sessions) == ["lr", "policy"]  # gamma is the same everywhere
    cmp = compare(tree.sessions, "sharpe")
    assert cmp.hparams == ["lr", "policy"] and cmp.numeric == {"lr": True, "policy": False}
    assert [r.metric for r in cmp.rows] == [1.0, 2.0, 1.5]
    # Every row has its trials-adjusted DSR (3 trials); the best Sharpe has the best DSR.
    dsr = {r.session.session_id: r.dsr for r in cmp.rows}
    assert all(d is not None and 0 <= d <= 1 for d in dsr.values()) and max(dsr, key=dsr.__getitem__) == "b"
    assert cmp.board.trials == 3
    # Text on an axis by its sorted values.
    assert cmp.axis_values("policy") == ([1.0, 1.0, 0.0], ["a2c", "ppo"])


def test_metrics(sweep: Path) -> None:
    tree = load_artifacts(sweep)
    a = tree.get("a")
    assert a is not None and cost_per_1m_steps(a) == 500.0
    assert [r.metric for r in compare(tree.sessions, "cost_per_1m_steps").rows] == [500.0, None, None]
    assert [r.metric for r in compare(tree.sessions, "bot_dsr").rows] == [0.4, 0.6, None]
    with pytest.raises(UsageError, match="metric: unknown 'pnl'"):
        compare(tree.sessions, "pnl")


def test_a_missing_hyperparameter_counts_as_varying(make_tree: MakeTree) -> None:
    root = make_tree(
        {"a": {"run_metadata.json": _cfg(lr=0.1)}, "b": {"run_metadata.json": _cfg(lr=0.1, extra=1)}}
    )
    assert varying_hparams(load_artifacts(root).sessions) == ["extra"]


def test_the_widgets_redraw_on_metric_session_and_tag(sweep: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """interactive=True (JupyterLab): a metric dropdown, a session picker and a tag box; each change
    redraws the report for that choice."""
    import ipywidgets as widgets

    monkeypatch.delenv("ZTB_HEADLESS", raising=False)
    set_tag(sweep, "c", "candidate")
    made: list[Any] = []
    real = widgets.interactive_output

    def keep(render: Any, controls: dict[str, Any]) -> Any:
        made.append(controls)
        return real(render, controls)

    monkeypatch.setattr(widgets, "interactive_output", keep)
    seen: list[str] = []
    monkeypatch.setattr(compare_view, "display_items", lambda *items: seen.extend(map(repr, items)))
    compare_view.show_compare(str(sweep), interactive=True, curves={"enabled": False})
    [controls] = made
    # Each metric by its name and what it means; the value is the name the notebook parameter takes.
    assert [v for _label, v in controls["metric"].options] == [
        "sharpe",
        "dsr",
        "bot_dsr",
        "cost_per_1m_steps",
    ]
    assert controls["metric"].label == "dsr — DSR (trials-adjusted)"
    assert any("3 sessions compared on DSR (trials-adjusted)" in s for s in seen)
    seen.clear()
    controls["metric"].value = "cost_per_1m_steps"
    assert any("compared on Cost per 1M steps" in s for s in seen)
    seen.clear()
    controls["tag"].value = "candidate"
    assert any("1 session compared" in s for s in seen)
    seen.clear()
    controls["tag"].value = ""
    controls["selected"].value = ("a", "b")
    assert any("2 sessions compared" in s for s in seen)


def test_the_widgets_and_the_report_speak_japanese(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lang="ja" (the notebook's parameter): widget labels, the metric names in the dropdown, the note,
    headings and chart titles in Japanese; hp.<name> and session ids as they are."""
    import ipywidgets as widgets

    from ztbkit import locale as zl

    monkeypatch.delenv("ZTB_HEADLESS", raising=False)
    made: list[Any] = []
    real = widgets.interactive_output
    monkeypatch.setattr(widgets, "interactive_output", lambda r, c: made.append(c) or real(r, c))
    seen: list[Any] = []
    monkeypatch.setattr(compare_view, "display_items", lambda *items: seen.extend(items))
    try:
        compare_view.show_compare(str(sweep), interactive=True, curves={"enabled": False}, lang="ja")
        [controls] = made
        assert controls["metric"].description == "指標" and controls["tag"].description == "タグ"
        assert controls["selected"].description == "セッション"
        assert controls["metric"].label == "dsr — DSR（試行回数補正）"
        texts = [getattr(i, "markdown", "") for i in seen]
        assert any(t.startswith("3セッションをDSR（試行回数補正）で比較。") for t in texts), texts
        assert (
            "## 平行座標プロット\n" in texts and "## ハイパーパラメーターごとのDSR（試行回数補正）\n" in texts
        )
        figures = [i for i in seen if hasattr(i, "axes")]
        titles = [ax.get_title() for f in figures for ax in f.axes]
        assert "ハイパーパラメーター → DSR（試行回数補正）（3セッション）" in titles, titles
        labels = [ax.get_xlabel() for f in figures for ax in f.axes if ax.get_visible()]
        assert {"hp.lr", "hp.policy"} <= set(labels)  # hyperparameter names as the bot wrote them
    finally:
        zl.use_language("en")


def test_the_dashboard_lists_the_live_run_first_with_tags_and_notes(
    sweep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from ztbkit.data.notes import add_note
    from ztbkit.reports import views

    set_tag(sweep, "b", "live")
    add_note(sweep, "b", "trades since Oct 2", datetime(2025, 10, 2, tzinfo=UTC))
    shown: list[Any] = []
    monkeypatch.setattr(views, "display_items", lambda *items: shown.extend(items))
    monkeypatch.setattr(views, "show_dashboard_analysis", lambda *a, **k: None)
    monkeypatch.setattr(views, "markdown_only", lambda *a, **k: None)
    views.show_dashboard(str(sweep))
    table = next(i for i in shown if hasattr(i, "html") and "ztb-sessions" in i.html)
    rows = table.html.split("<tbody>", 1)[1].split("</tr>")
    assert '<td title="b">b</td>' in rows[0] and "tag-live" in rows[0] and "trades since Oct 2" in rows[0]
    md_rows = [ln for ln in table.markdown.splitlines() if ln.startswith("| ")][1:]
    assert md_rows[0].startswith("| b |") and "live" in md_rows[0]


def test_the_curves_page_shares_its_points_and_escapes_ids() -> None:
    """100 runs of 5,000 steps: each run gets 200 points per chart (20,000 shared), min and max kept;
    a run named like a closing script tag cannot end the data block."""
    import json
    import re

    from ztbkit.analysis.curves import SessionCurves
    from ztbkit.reports.interactive_curves import curves_html

    steps = list(range(5000))
    runs = [
        SessionCurves(f"run{i}", {"loss": (steps, [float((s * (i + 1)) % 97) for s in steps])})
        for i in range(99)
    ]
    runs.append(SessionCurves("</script><script>alert(1)", {"loss": (steps, [0.0] * 4999 + [1e9])}))
    page = curves_html(runs, ["loss"], highlight="run3")
    block = re.search(r'<script type="application/json" class="ztb-data">(.*?)</script>', page, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert [len(r["x"]) <= 200 for r in data["loss"]] == [True] * 100
    assert data["loss"][-1]["name"] == "</script><script>alert(1)" and max(data["loss"][-1]["y"]) == 1e9
    assert [r["name"] for r in data["loss"] if r["hl"]] == ["run3"]
    assert page.count("<script>alert(1)") == 0


@pytest.mark.parametrize("report", ["trends", "budget", "cost"])
def test_reports_without_a_session_table_show_tags_and_notes(
    sweep: Path, monkeypatch: pytest.MonkeyPatch, report: str
) -> None:
    from datetime import UTC, datetime

    from ztbkit.data.notes import add_note
    from ztbkit.reports import money_views, views

    set_tag(sweep, "c", "discard")
    set_tag(sweep, "b", "live")
    add_note(sweep, "c", "<b>diverged</b> after 1M steps", datetime(2025, 10, 2, tzinfo=UTC))
    shown: list[Any] = []
    module = views if report == "trends" else money_views
    monkeypatch.setattr(module, "display_items", lambda *items: shown.extend(items))
    if report == "trends":
        monkeypatch.setattr(views, "show_learning_curves", lambda *a, **k: None)
    getattr(module, f"show_{report}")(str(sweep))
    block = next(i for i in shown if hasattr(i, "html") and "Tags and notes" in i.html)
    assert block.html.index(">b<") < block.html.index(">c<")  # the live run first
    assert "&lt;b&gt;diverged&lt;/b&gt;" in block.html and "<b>diverged" not in block.html
    assert (
        "| c | discard | <b>diverged</b> after 1M steps |" not in block.markdown
    )  # escaped for Markdown too
    assert block.markdown.splitlines()[4].startswith("| b | live |")
