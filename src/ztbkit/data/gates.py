"""Acceptance gates: reports/gates.json in both of its shapes → one :class:`GateReport`.

Shape 1: ``{"gates": [{"name": "gate1", "status": "pass"}, {"name": ..., "status": "fail", "error": ...}]}``
Shape 2: ``{"pass": false, "reasons": ["FAIL: memory_rss - ..."], "gate_results": {"memory_rss":
{"status": "fail", "reason": ..., "value": ..., "threshold": ...}}}``

Status is pass/fail/skip in any case; anything else is ``unknown`` and reported. A gate is critical
when its name is in :data:`CRITICAL_GATES` or its error text contains "critical". Null or non-string
fields never crash the parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ztbkit.core.errors import Reason
from ztbkit.core.jsonread import Problem

CRITICAL_GATES = frozenset({"memory_rss", "no_dup_steps"})
STATUSES = ("pass", "fail", "skip")
_REASON_LINE = re.compile(r"^\s*(PASS|FAIL|SKIP)\s*:\s*([^\s-][^-]*?)\s*(?:-\s*(.*))?$", re.IGNORECASE)


@dataclass(slots=True)
class GateResult:
    name: str
    status: str
    reason: str | None = None
    critical: bool = False


@dataclass(slots=True)
class GateReport:
    results: list[GateResult] = field(default_factory=list)
    #: The file's own overall verdict (shape 2 ``pass``), when it gives one.
    declared_pass: bool | None = None

    @property
    def failures(self) -> list[GateResult]:
        return [g for g in self.results if g.status == "fail"]

    @property
    def critical_failure(self) -> bool:
        return any(g.critical for g in self.failures)

    @property
    def verdict(self) -> str:
        """``fail`` if any gate failed or the file says it did not pass; ``pass``; or ``none``."""
        if self.failures or self.declared_pass is False:
            return "fail"
        if self.results or self.declared_pass is True:
            return "pass"
        return "none"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _result(
    name: Any, raw_status: Any, reason: Any, where: str, file: str, issues: list[Problem]
) -> GateResult:
    gate_name = _text(name) or where
    status = raw_status.strip().lower() if isinstance(raw_status, str) else None
    if status not in STATUSES:
        issues.append(
            Problem(
                file, Reason("{key}: status {value} is not pass/fail/skip", key=where, value=repr(raw_status))
            )
        )
        status = "unknown"
    text = reason if reason is None or type(reason) is str else str(reason)
    critical = gate_name in CRITICAL_GATES or (text is not None and "critical" in text.lower())
    return GateResult(gate_name, status, text, critical)


def parse_gates(doc: Any, file: str, issues: list[Problem]) -> GateReport:
    """Parse a gates document; problems are appended to ``issues`` (never raised)."""
    report = GateReport()
    if not isinstance(doc, dict):
        issues.append(Problem(file, Reason("expected a JSON object, got {type}", type=type(doc).__name__)))
        return report
    if isinstance(doc.get("pass"), bool):
        report.declared_pass = doc["pass"]
    gates = doc.get("gates")
    gate_results = doc.get("gate_results")
    if isinstance(gates, list):
        for i, g in enumerate(gates):
            if not isinstance(g, dict):
                where = f"gates[{i}]"
                issues.append(
                    Problem(
                        file,
                        Reason(
                            "{key}: expected an object, got {value}",
                            key=where,
                            value=type(g).__name__,
                        ),
                    )
                )
                continue
            report.results.append(
                _result(
                    g.get("name"),
                    g.get("status"),
                    g.get("error", g.get("reason")),
                    f"gates[{i}]",
                    file,
                    issues,
                )
            )
    elif isinstance(gate_results, dict) and gate_results:
        for name, g in gate_results.items():
            if not isinstance(g, dict):
                issues.append(
                    Problem(
                        file,
                        Reason(
                            "{key}: expected an object, got {value}",
                            key="gate_results." + name,
                            value=type(g).__name__,
                        ),
                    )
                )
                continue
            report.results.append(
                _result(name, g.get("status"), g.get("reason", g.get("error")), name, file, issues)
            )
    elif isinstance(doc.get("reasons"), list):
        # Shape 2 with only the reason lines: "FAIL: memory_rss - RSS: 2.50GB (threshold: 2.00GB)".
        for i, line in enumerate(doc["reasons"]):
            m = _REASON_LINE.match(line) if isinstance(line, str) else None
            if m is None:
                where = f"reasons[{i}]"
                issues.append(
                    Problem(file, Reason("{key}: not of the form 'FAIL: <gate> - <reason>'", key=where))
                )
                continue
            report.results.append(_result(m.group(2), m.group(1), m.group(3), f"reasons[{i}]", file, issues))
    elif "gates" in doc or "gate_results" in doc:
        key = "gates" if "gates" in doc else "gate_results"
        if doc[key] not in ({}, [], None):
            issues.append(
                Problem(file, Reason("{key}: unexpected type {type}", key=key, type=type(doc[key]).__name__))
            )
    elif report.declared_pass is None and doc:
        keys = ", ".join(sorted(map(str, doc))[:6])
        issues.append(Problem(file, Reason("unknown gates shape (keys: {keys})", keys=keys)))
    return report
