"""The night-over-night index after three nightlies: three nights listed, the right changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import MakeTree, write

from ztbkit.ops.night_index import changes, summary_line
from ztbkit.ops.nightly import run_nightly

FAIL = {"gates": [{"name": "memory_rss", "status": "fail"}]}
PASS = {"gates": [{"name": "memory_rss", "status": "pass"}]}


def _session(sharpe: float, dsr: float, cost: float | None = None, gates: Any = None) -> dict[str, Any]:
    files: dict[str, Any] = {"summary.json": {"global_step": 1000, "rl_sharpe": sharpe, "dsr": dsr}}
    if cost is not None:
        files["reports/cost_estimate.json"] = {"total_cost_jpy": cost, "gpu_hours": 1.0}
    if gates is not None:
        files["reports/gates.json"] = gates
    return files


def _index(statuses: dict[str, str]) -> dict[str, Any]:
    return {"sessions": [{"correlation_id": k, "status": v} for k, v in statuses.items()]}


def _night(root: Path, out: Path, day: str) -> Any:
    result = run_nightly(root, out, date_text=day, notebooks=False, cache=False, state_dir=root.parent)
    return result


def test_three_nightlies(make_tree: MakeTree, tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    # Night 1: a finished run and one still running.
    root = make_tree({"s1": _session(1.0, 0.5, 100.0, PASS), "s2": _session(0.5, 0.2)},
                     index=_index({"s1": "stopped", "s2": "running"}))  # fmt: skip
    first = _night(root, out, "2025-10-01")
    step = next(s for s in first.steps if s.name == "index")
    assert step.status == "ok" and step.detail == "first night: nothing to compare with yet"

    # Night 2: s2 finished (and now costs 300), s3 started; s1's memory gate started failing.
    shutil.rmtree(root)
    make_tree({"s1": _session(1.0, 0.5, 100.0, FAIL), "s2": _session(1.5, 0.6, 300.0),
               "s3": _session(0.1, 0.1)}, index=_index({"s1": "stopped", "s2": "stopped", "s3": "running"}))  # fmt: skip
    second = _night(root, out, "2025-10-02")
    line = next(s for s in second.steps if s.name == "index").detail
    assert line == (
        "since 2025-10-01: 1 new, 1 finished, 0 failed; best Sharpe 1.000 → 1.500, DSR 0.500 → 0.600; "
        "cost of the day ¥300; gates 1 started failing, 0 stopped; 0 alert(s) sent"
    )

    # Night 3: s3 failed, s4 appeared with the best DSR, s1's gate passes again; 50 yen more.
    shutil.rmtree(root)
    make_tree({"s1": _session(1.0, 0.5, 100.0, PASS), "s2": _session(1.5, 0.6, 300.0),
               "s3": _session(0.1, 0.1, 50.0), "s4": _session(1.2, 0.9)},
              index=_index({"s1": "stopped", "s2": "stopped", "s3": "failed", "s4": "running"}))  # fmt: skip
    third = _night(root, out, "2025-10-03")
    line = next(s for s in third.steps if s.name == "index").detail
    assert line == (
        "since 2025-10-02: 1 new, 0 finished, 1 failed; best Sharpe 1.500 → 1.500, DSR 0.600 → 0.900; "
        "cost of the day ¥50; gates 0 started failing, 1 stopped; 0 alert(s) sent"
    )

    md = (out / "index.md").read_text(encoding="utf-8")
    nights = [ln for ln in md.splitlines() if ln.startswith("- **")]
    assert [ln[4:14] for ln in nights] == ["2025-10-03", "2025-10-02", "2025-10-01"]  # newest first
    assert "[trends.csv](2025-10-03/trends.csv)" in nights[0]
    assert (
        "- New sessions: s4" in md
        and "- Failed sessions: s3" in md
        and "- Gates that stopped failing: s1:memory_rss" in md
    )
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.count("<li><b>2025-10-0") == 3 and "href='2025-10-01/budget_daily.md'" in html
    for day in ("2025-10-01", "2025-10-02", "2025-10-03"):
        doc = json.loads((out / day / "night.json").read_text(encoding="utf-8"))
        assert doc["date"] == day and doc["version"] == 1


def test_a_catch_up_for_an_older_night_keeps_the_newest_changes(make_tree: MakeTree, tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    root = make_tree({"s1": _session(1.0, 0.5)}, index=_index({"s1": "running"}))
    _night(root, out, "2025-10-01")
    make_tree({"s2": _session(2.0, 0.7)}, root=root)
    _night(root, out, "2025-10-03")
    _night(root, out, "2025-10-02")  # a missed night run later (the scheduler's catch-up)
    md = (out / "index.md").read_text(encoding="utf-8")
    assert md.splitlines()[2].startswith("## 2025-10-03: what changed since 2025-10-02")
    assert [ln[4:14] for ln in md.splitlines() if ln.startswith("- **")] == [
        "2025-10-03",
        "2025-10-02",
        "2025-10-01",
    ]


def test_an_unreadable_night_is_skipped_not_fatal(make_tree: MakeTree, tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    root = make_tree({"s1": _session(1.0, 0.5)})
    write(out / "2025-09-30" / "night.json", '{"date": "2025-09-30", "sessi')  # cut short by a crash
    result = _night(root, out, "2025-10-01")
    step = next(s for s in result.steps if s.name == "index")
    assert step.status == "ok" and step.detail.startswith("first night")


def test_alerts_are_counted() -> None:
    before = {"date": "2025-10-01", "sessions": {}}
    now = {"date": "2025-10-02", "sessions": {"a": {"status": "stopped", "rl_sharpe": None, "dsr": None,
           "cost_jpy": None, "failing_gates": []}}, "alerts": ["sent: 1 regression alert(s)"]}  # fmt: skip
    c = changes(before, now)
    assert c.new == ["a"] and c.alerts == ["sent: 1 regression alert(s)"]
    assert summary_line(c).endswith("1 alert(s) sent") and "best Sharpe — → —" in summary_line(c)
