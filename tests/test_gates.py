from __future__ import annotations

from typing import Any

import pytest

from ztbkit.fsio import Problem
from ztbkit.gates import parse_gates


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


@pytest.mark.parametrize(
    "doc",
    [
        {"gates": [{"name": None, "status": None, "error": None}]},
        {"gates": [{"name": 5, "status": 1, "error": ["x"]}, None, "str"]},
        {"gate_results": {"a": None, "b": {"status": "weird"}}},
        {"gates": None},
        [],
        None,
        {"something": "else"},
    ],
)
def test_null_and_odd_fields_never_crash(doc: Any) -> None:
    report, issues = parse(doc)
    assert report.verdict in ("pass", "fail", "none")
    if doc not in ({"gates": None},):
        assert issues, "odd input must be reported"


def test_declared_fail_without_results_is_fail_and_empty_is_none() -> None:
    assert parse({"pass": False})[0].verdict == "fail"
    assert parse({"gates": []})[0].verdict == "none"
