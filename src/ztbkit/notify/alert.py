"""The message ztbkit sends: one Alert, rendered per service by discord.py and slack.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

LEVELS = ("INFO", "WARN", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Alert:
    title: str
    level: str = "INFO"  # INFO | WARN | ERROR | CRITICAL
    description: str = ""
    fields: tuple[Field, ...] = ()
    url: str | None = None
    footer: str | None = "ztbkit"
    timestamp: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"alert level must be one of {', '.join(LEVELS)}, got {self.level!r}")
