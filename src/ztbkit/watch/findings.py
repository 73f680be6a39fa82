"""What one evaluation found: a :class:`Finding` is true now (a condition: the lifecycle decides what
is sent) or happened once (an event: sent once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    subject: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.subject}"


@dataclass(slots=True)
class Findings:
    conditions: dict[str, Finding] = field(default_factory=dict)
    events: list[Finding] = field(default_factory=list)

    def cond(self, rule: str, subject: str, summary: str, **data: Any) -> None:
        """One alert per rule + subject: a second finding of the same key adds to its summary."""
        f = Finding(rule, subject, summary, data)
        old = self.conditions.get(f.key)
        self.conditions[f.key] = (
            f if old is None else Finding(rule, subject, f"{old.summary}; {summary}", old.data)
        )

    def event(self, rule: str, subject: str, summary: str, **data: Any) -> None:
        self.events.append(Finding(rule, subject, summary, data))
