from __future__ import annotations

from typing import Any

import pytest

from ztbkit.core.jsonread import Problem
from ztbkit.data.gates import parse_gates


def parse(doc: Any) -> tuple[Any, list[Problem]]:
    issues: list[Problem] = []
    return parse_gates(doc, "reports/gates.json", issues), issues


def test_shape1_statuses_any_case_and_critical_by_text() -> None:
    report, issues = parse({"gates": [
        {"name": "g1", "status": "PASS"}, {"name": "g2", "status": "Skip"},
        {"name": "g3", "status": "fail", "error": "CRITICAL: drawdown beyond limit"},
    ]})  # fmt: skip
    assert [g.status for g in report.results] == ["pass", "skip", "fail"]
    assert report.verdict == "fail" and report.critical_failure and issues == []


def test_shape2_critical_names_and_all_pass() -> None:
    report, _ = parse({"pass": True, "reasons": [], "gate_results": {"no_dup_steps": {"status": "pass"}}})
    assert report.verdict == "pass" and report.results[0].critical
    report, _ = parse({"pass": False, "gate_results": {"no_dup_steps": {"status": "fail", "reason": None}}})
    assert report.verdict == "fail" and report.critical_failure


def test_shape2_reasons_only() -> None:
    report, issues = parse(
        {"pass": False, "reasons": ["FAIL: memory_rss - RSS: 2.50GB (threshold: 2.00GB)", 7]}
    )
    assert [(g.name, g.status, g.reason) for g in report.results] == [
        ("memory_rss", "fail", "RSS: 2.50GB (threshold: 2.00GB)")
    ]
    assert report.critical_failure and "reasons[1]" in issues[0].reason


F = "reports/gates.json"


@pytest.mark.parametrize(
    ("doc", "verdict", "results", "reasons"),
    [
        # An unknown status is reported, and is not a failure by itself (only "fail" fails a run).
        ({"gates": [{"name": None, "status": None, "error": None}]}, "pass",
         [("gates[0]", "unknown", None, False)], ["gates[0]: status None is not pass/fail/skip"]),
        ({"gates": [{"name": 5, "status": 1, "error": ["x"]}, None, "str"]}, "pass",
         [("5", "unknown", "['x']", False)],
         ["gates[0]: status 1 is not pass/fail/skip", "gates[1]: expected an object, got NoneType",
          "gates[2]: expected an object, got str"]),
        ({"gate_results": {"a": None, "b": {"status": "weird"}}}, "pass", [("b", "unknown", None, False)],
         ["gate_results.a: expected an object, got NoneType", "b: status 'weird' is not pass/fail/skip"]),
        ({"gates": [{"name": "x", "status": " FAIL ", "error": {"why": "Critical"}}]}, "fail",
         [("x", "fail", "{'why': 'Critical'}", True)], []),
        ({"gates": None}, "none", [], []),
        ([], "none", [], ["expected a JSON object, got list"]),
        (None, "none", [], ["expected a JSON object, got NoneType"]),
        ({"something": "else"}, "none", [], ["unknown gates shape (keys: something)"]),
        ({"gates": "fail"}, "none", [], ["gates: unexpected type str"]),
    ],
)  # fmt: skip
def test_null_and_odd_fields_never_crash(
    doc: Any, verdict: str, results: list[Any], reasons: list[str]
) -> None:
    report, issues = parse(doc)
    assert report.verdict == verdict
    assert [(g.name, g.status, g.reason, g.critical) for g in report.results] == results
    assert [(p.path, p.reason) for p in issues] == [(F, r) for r in reasons]


def test_declared_fail_without_results_is_fail_and_empty_is_none() -> None:
    assert parse({"pass": False})[0].verdict == "fail"
    assert parse({"gates": []})[0].verdict == "none"
