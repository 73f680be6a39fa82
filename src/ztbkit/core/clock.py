"""Injectable time.

Nothing else in ztbkit reads the wall clock or sleeps: functions that need "now" take a
:class:`Clock` (default :data:`SYSTEM_CLOCK`). Tests pass a :class:`FakeClock`, whose ``sleep``
advances time instantly, so no test waits for real.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from ztbkit.core.errors import UsageError

#: The bot's home time zone; naive timestamps in artifacts are taken to be in it.
DEFAULT_TZ_NAME = "Asia/Tokyo"


def default_tz() -> tzinfo:
    """The default zone for naive timestamps and report dates (Asia/Tokyo)."""
    return ZoneInfo(DEFAULT_TZ_NAME)


class Clock(Protocol):
    """What ztbkit needs of time: an aware "now", a monotonic counter and a way to wait."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock for tests and dry runs: ``sleep`` advances time instead of waiting.

    >>> c = FakeClock(datetime(2025, 9, 29, tzinfo=UTC)); c.sleep(60); c.now().minute
    1
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2025, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start
        self._mono = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        """Move time forward (or the wall clock backward with a negative value, as after NTP)."""
        self._now += timedelta(seconds=seconds)
        self._mono += max(0.0, seconds)


SYSTEM_CLOCK: Clock = SystemClock()


def report_date(text: str | None, *, clock: Clock = SYSTEM_CLOCK, source: str = "--date") -> date:
    """``YYYY-MM-DD`` or an ISO datetime (its Asia/Tokyo date); None → today in Asia/Tokyo."""
    if not text:
        return clock.now().astimezone(default_tz()).date()
    try:
        if len(text.strip()) == 10:
            return date.fromisoformat(text.strip())
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            "{source}: {text} is not a date (expected YYYY-MM-DD)", source=source, text=repr(text)
        ) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=default_tz())).astimezone(default_tz()).date()


def parse_aware(value: object) -> datetime | None:
    """An aware datetime from ISO text, else None (naive times are refused: their zone is a guess).
    For ztbkit's own records (scheduler and watch state, the outbox), which always carry a zone."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
