"""What one evaluation found: a :class:`Finding` is true now (a condition: the lifecycle decides what
is sent) or happened once (an event: sent once)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def _storable(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every non-finite float as None: it goes into watch-state.json and the events log,
    which are strict JSON (two pairs at -1e308 sum to -inf; an infinite loss must still be sent)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in data.items()}


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
        f = Finding(rule, subject, summary, _storable(data))
        old = self.conditions.get(f.key)
        self.conditions[f.key] = (
            f if old is None else Finding(rule, subject, f"{old.summary}; {summary}", old.data)
        )

    def event(self, rule: str, subject: str, summary: str, **data: Any) -> None:
        self.events.append(Finding(rule, subject, summary, _storable(data)))
