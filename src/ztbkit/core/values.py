"""Values read from artifacts: numbers that must be finite and of the right kind, and timestamps.

A value of the wrong type (a string where a number belongs, a bool, NaN/Infinity, a list) is
treated as missing and reported as a :class:`~ztbkit.core.jsonread.Problem` naming the file and key — never
passed on as if valid. Naive timestamps are taken to be in Asia/Tokyo.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeGuard

from ztbkit.core.clock import default_tz
from ztbkit.core.errors import Reason
from ztbkit.core.jsonread import Problem

FLOAT_MAX = int(sys.float_info.max)


def is_finite_number(value: Any) -> TypeGuard[int | float]:
    """An int or float (not bool) that is finite and that a float can hold: not NaN, not ±inf, and
    not an integer past ±1.8e308 (``math.isfinite`` raises OverflowError on those)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and -FLOAT_MAX <= value <= FLOAT_MAX


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to 40 characters (a 400-digit integer must not fill an error line)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(value: Any) -> str:
    return f"{type(value).__name__} {short_repr(value)}"


def check_number(value: Any, where: str, issues: list[Problem], file: str) -> float | int | None:
    """A finite int/float (not bool), else None with an issue. None stays None silently.

    An integer too large for a float (a 400-digit global_step) is refused too: every figure derived
    from it (a duration, a rate) would raise OverflowError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        issues.append(
            Problem(file, Reason("{key}: expected a number, got {value}", key=where, value=describe(value)))
        )
        return None
    if isinstance(value, int) and not -FLOAT_MAX <= value <= FLOAT_MAX:
        issues.append(
            Problem(file, Reason("{key}: {value} is too large for a float", key=where, value=describe(value)))
        )
        return None
    if isinstance(value, float) and not math.isfinite(value):
        issues.append(Problem(file, Reason("{key}: {value} is not a finite number", key=where, value=value)))
        return None
    return value


def check_count(value: Any, where: str, issues: list[Problem], file: str) -> int | None:
    """A non-negative whole number (``1000.0`` is accepted as 1000), else None with an issue."""
    num = check_number(value, where, issues, file)
    if num is None:
        return None
    if isinstance(num, float):
        if not num.is_integer():
            issues.append(
                Problem(file, Reason("{key}: expected a whole number, got {value}", key=where, value=num))
            )
            return None
        num = int(num)
    if num < 0:
        issues.append(
            Problem(file, Reason("{key}: expected a non-negative number, got {value}", key=where, value=num))
        )
        return None
    return num


def parse_timestamp(value: Any, tz: tzinfo | None = None) -> datetime | None:
    """ISO-8601 text (extended or basic, ``Z`` or offset or naive) or epoch seconds → aware datetime.

    Naive values are taken to be in ``tz`` (default Asia/Tokyo). Returns None when unparseable, and
    for an instant in year 1 or 9999 (UTC): such a time cannot be shown in every time zone (Tokyo
    days, a -12:00 offset) without leaving the calendar Python holds, so it is a bad value, not a time.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not is_finite_number(value):
            return None
        try:
            return _on_calendar(datetime.fromtimestamp(value, tz or default_tz()))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return _on_calendar(dt if dt.tzinfo is not None else dt.replace(tzinfo=tz or default_tz()))


def _on_calendar(dt: datetime) -> datetime | None:
    """``dt`` when it is at least a day inside the years 1-9999 in UTC, so any offset can show it."""
    try:
        year = dt.astimezone(UTC).year
    except OverflowError:
        return None
    return dt if 1 < year < 9999 else None


#: The one rule for amounts read from a cost file, by key: (unit shown, ceiling). Above its ceiling a
#: figure is no real run's (¥10⁹ is a billion yen for one run; 10⁶ GPU-hours is 114 GPU-years; 10⁷ kWh
#: is ten GPU-years at a megawatt): such a run is *not estimated*, with a warning naming file and key,
#: never summed into a total it would swallow (two runs of 1e308 made every report say ¥∞).
AMOUNT_LIMITS: dict[str, tuple[str, float]] = {
    "total_cost_jpy": ("¥", 1e9),
    "costs.total_jpy": ("¥", 1e9),
    "gpu_hours": ("GPU-hours", 1e6),
    "power_kwh": ("kWh", 1e7),
}


def amount_problem(value: Any, key: str) -> str | None:
    """Why ``value`` under ``key`` is not a usable amount (see :data:`AMOUNT_LIMITS`), else None.
    A missing value (None) is not a problem here: the caller decides what absent means."""
    if value is None:
        return None
    unit, ceiling = AMOUNT_LIMITS.get(key, ("", math.inf))
    if not is_finite_number(value):
        return Reason("{key}: {value} is not a finite number; not estimated", key=key, value=describe(value))
    if value < 0:
        return Reason("{key}: {value} is negative; not estimated", key=key, value=short_repr(value))
    if value > ceiling:
        limit = f"¥{ceiling:,.0f}" if unit == "¥" else f"{ceiling:,.0f} {unit}"
        return Reason("{key}: {value} is above the ceiling of {limit} per run; not estimated", key=key,
                      value=short_repr(value), limit=limit)  # fmt: skip
    return None


def check_bounded(value: float, where: str, issues: list[Problem], file: str, *, low: float = 0.0,
                  high: float | None = None, what: str = "") -> float | None:  # fmt: skip
    """``value`` when ``low <= value`` (and ``<= high``), else None with an issue: a probability
    (dsr, p_value) outside [0, 1] or a negative size (RSS, VRAM) is treated as missing."""
    if value < low or (high is not None and value > high):
        shown, low_text, high_text = short_repr(value), format(low, "g"), format(high or 0, "g")
        if high is not None:
            why = Reason("{key}: {value} is outside [{low}, {high}]{what}; treated as missing", key=where,
                         value=shown, low=low_text, high=high_text, what=what)  # fmt: skip
        else:
            why = Reason("{key}: {value} is below {low}{what}; treated as missing", key=where, value=shown,
                         low=low_text, what=what)  # fmt: skip
        issues.append(Problem(file, why))
        return None
    return value
