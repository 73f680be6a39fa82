"""#25 case 4: values that are valid JSON but impossible are not taken as they are.

Totals that are not finite, negative or above the stated ceiling (¥10⁹ per run, 10⁶ GPU-hours,
10⁷ kWh) are *not estimated* with a warning naming the file and key; probabilities outside [0, 1]
and negative sizes are missing with a warning; a key given twice in one object is a warning naming
the file and key.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import sh

from ztbkit.core import jsonread
from ztbkit.core.values import AMOUNT_LIMITS
from ztbkit.data.artifacts import load_artifacts
from ztbkit.money.budget import budget_runs, run_energy


def env_for(tmp_path: Path) -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)
    return {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
            "XDG_CACHE_HOME": str(tmp_path / "xdg"), "ZTB_SCHEDULED_FOR": ""}  # fmt: skip


def session(root: Path, sid: str, summary: dict[str, Any] | str, cost: str | None = None) -> None:
    folder = root / sid
    (folder / "reports").mkdir(parents=True)
    text = summary if isinstance(summary, str) else json.dumps(summary)
    (folder / "summary.json").write_text(text, encoding="utf-8")
    if cost is not None:
        (folder / "reports" / "cost_estimate.json").write_text(cost, encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    for i, (total, hours) in enumerate([(120, 0.4), (300, 1.0), (80, 0.25)]):
        session(root, f"2025100{i + 1}T000000Z", {"global_step": 1000}, json.dumps({"total_cost_jpy": total,
                                                                                   "gpu_hours": hours}))  # fmt: skip
    for sid in ("20251005T000000Z", "20251006T000000Z"):  # the issue's two files
        session(root, sid, {"global_step": 1000}, '{"total_cost_jpy": 1e308, "gpu_hours": 1e308}')
    return root


@pytest.mark.parametrize(
    "command", ["ztb budget --out b.md", "ztb nightly --skip-notebooks --out-dir out --date 2025-10-01"]
)
def test_impossible_totals_are_not_estimated_and_the_others_still_add_up(
    tmp_path: Path, tree: Path, command: str
) -> None:
    done = sh(command, env_for(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    report = (tmp_path / ("b.md" if "budget" in command else "out/2025-10-01/budget_daily.md")).read_text(
        encoding="utf-8"
    )
    assert "∞" not in report and "inf" not in report.lower()
    assert "¥500" in report  # 120 + 300 + 80: the other runs' contribution is still there
    assert "1.65" in report  # GPU-hours 0.4 + 1.0 + 0.25, not a 309-digit cell
    assert max(len(cell.strip()) for line in report.splitlines() for cell in line.split("|")) < 200
    for sid in ("20251005T000000Z", "20251006T000000Z"):
        for key, limit in (("total_cost_jpy", "¥1,000,000,000"), ("gpu_hours", "1,000,000 GPU-hours")):
            assert (
                f"{sid}/reports/cost_estimate.json: {key}: 1e+308 is above the ceiling of {limit}"
                in done.stderr
            ), done.stderr
    if "budget" in command:
        assert "2 not estimated, total ¥500" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("cost", "reason"),
    [('{"total_cost_jpy": -5, "gpu_hours": 1}', "total_cost_jpy: -5 is negative"),
     ('{"total_cost_jpy": NaN, "gpu_hours": 1}', "total_cost_jpy: float nan is not a finite number"),
     ('{"total_cost_jpy": 1000000001, "gpu_hours": 1}', "total_cost_jpy: 1000000001 is above the ceiling"),
     ('{"costs": {"total_jpy": 2e9}, "gpu_hours": 1}', "costs.total_jpy: 2000000000.0 is above the ceiling"),
     ('{"total_cost_jpy": 10, "gpu_hours": 1000001}', "gpu_hours: 1000001 is above the ceiling"),
     ('{"total_cost_jpy": 10, "gpu_hours": -1}', "gpu_hours: -1 is negative")],
)  # fmt: skip
def test_each_impossible_amount_is_one_warning_naming_file_and_key(
    tmp_path: Path, cost: str, reason: str
) -> None:
    root = tmp_path / "artifacts"
    session(root, "20251001T000000Z", {"global_step": 1}, cost)
    tree = load_artifacts(root)
    issues = [str(p) for p in tree.all_issues()]
    assert any(i.startswith(str(root / "20251001T000000Z" / "reports" / "cost_estimate.json") + ": " + reason)
               for i in issues), issues  # fmt: skip
    (run,) = budget_runs(tree.sessions)
    assert run.cost_jpy is None and not run.estimated and run.problem and reason.split(":")[0] in run.problem


def test_the_ceilings_themselves_are_accepted(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    session(root, "20251001T000000Z", {"global_step": 1}, json.dumps(
        {"total_cost_jpy": 1e9, "gpu_hours": 1e6, "power_kwh": 1e7}))  # fmt: skip
    tree = load_artifacts(root)
    assert tree.all_issues() == []
    (run,) = budget_runs(tree.sessions)
    assert (run.cost_jpy, run.gpu_hours) == (1e9, 1e6)
    assert run_energy(tree.sessions[0]).kwh == 1e7
    assert AMOUNT_LIMITS["total_cost_jpy"][1] == 1e9 and AMOUNT_LIMITS["gpu_hours"][1] == 1e6


def test_an_absurd_recorded_energy_is_energy_unknown_on_the_cost_page(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    session(root, "20251001T000000Z", {"global_step": 1}, '{"costs": {"total_jpy": 10}, "power_kwh": 1e308}')
    tree = load_artifacts(root)
    assert run_energy(tree.sessions[0]).kwh is None
    assert any(
        "power_kwh: 1e+308 is above the ceiling of 10,000,000 kWh" in str(p) for p in tree.all_issues()
    )


def test_probabilities_outside_0_1_and_negative_sizes_are_missing_with_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    session(root, "20251001T000000Z", {"global_step": 1, "dsr": 1.7, "p_value": -0.2, "rss_peak_mb": -5,
                                       "vram_peak_mb": -1.5})  # fmt: skip
    session(root, "20251002T000000Z", {"global_step": 1, "dsr": 1, "p_value": 0, "rss_peak_mb": 0})
    (root / "20251003T000000Z").mkdir()
    (root / "20251003T000000Z" / "metrics.json").write_text('{"rss_peaks": [100, -3], "vram_peaks": [-7]}')
    done = sh("ztb trends --out t.csv -v", env_for(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["session_id"]: r for r in csv.DictReader((tmp_path / "t.csv").open(encoding="utf-8"))}
    assert (rows["20251001T000000Z"]["dsr"], rows["20251001T000000Z"]["p_value"]) == ("", "")
    assert (rows["20251002T000000Z"]["dsr"], rows["20251002T000000Z"]["p_value"]) == ("1", "0")  # the bounds
    summary = "artifacts/20251001T000000Z/summary.json"
    for line in (f"{summary}: dsr: 1.7 is outside [0, 1] (a probability); treated as missing",
                 f"{summary}: p_value: -0.2 is outside [0, 1] (a probability)",
                 f"{summary}: rss_peak_mb: -5 is below 0 (a size)", f"{summary}: vram_peak_mb: -1.5 is below 0",
                 "20251003T000000Z/metrics.json: rss_peaks[1]: -3 is below 0 (a size)",
                 "20251003T000000Z/metrics.json: vram_peaks[0]: -7 is below 0"):  # fmt: skip
        assert line in done.stderr, done.stderr
    sessions = {s.session_id: s for s in load_artifacts(root).sessions}
    assert (
        sessions["20251001T000000Z"].rss_peak_mb is None
        and sessions["20251001T000000Z"].memory_peak_mb is None
    )
    assert (
        sessions["20251003T000000Z"].rss_peak_mb == 100
        and sessions["20251003T000000Z"].memory_peak_mb is None
    )


@pytest.mark.parametrize("nan", [False, True], ids=["orjson", "stdlib-fallback"])
def test_a_key_given_twice_is_a_warning_naming_file_and_key(tmp_path: Path, nan: bool) -> None:
    root = tmp_path / "artifacts"
    extra = ', "rl_sharpe": NaN' if nan else ""  # NaN sends the file through the standard library
    session(
        root, "20251001T000000Z", '{"global_step": 1, "dsr": 0.9, "p_value": 0.01, "dsr": 0.1' + extra + "}"
    )
    done = sh("ztb trends --out t.csv", env_for(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("artifacts/20251001T000000Z/summary.json: duplicate key 'dsr' in one object; the last value is used"
            in done.stderr), done.stderr  # fmt: skip


@pytest.mark.parametrize(
    ("text", "duplicates"),
    [(b'{"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]}', ()),  # the same key in different objects
     (b'{"note": "x\\":y", "k": "\\":\\":"}', ()),  # separators inside strings
     (b'{"a": 1, "a": 2, "b": {"c": 1, "c": 2, "a": 0}}', ("a", "c")),
     (b'{"a" : 1, "a" : 2}', ("a",)),
     (b'[{"x": 1, "y": 2, "x": 3}]', ("x",)),
     (b'{"\\u00e9": 1, "\\u00e9": 2}', ("\u00e9",))],
)  # fmt: skip
def test_duplicate_detection_names_only_real_duplicates(text: bytes, duplicates: tuple[str, ...]) -> None:
    read = jsonread.parse_json_bytes(text, "f.json")
    assert read.ok and sorted(read.duplicates) == sorted(duplicates)
    assert read.value == json.loads(text)  # the value is what both readers make of it (the last wins)
