"""Where each session field comes from: FORMATS.md's lookup order, and the lookups themselves.

The first present, non-null, *valid* value wins. A value of the wrong type (a string where a number
belongs, a list, NaN/Infinity, a bool) is treated as missing — the next source is tried — and
reported as an issue naming the file and key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ztbkit.core.jsonread import Problem
from ztbkit.core.values import FLOAT_MAX, check_bounded, check_count, check_number

#: Where each field comes from, in lookup order: (file, dotted key).
LOOKUP: dict[str, tuple[tuple[str, str], ...]] = {
    "global_step": (
        ("summary.json", "global_step"),
        ("summary.json", "summary.global_step"),
        ("index.json", "latest_step"),
        ("metrics.json", "global_step"),
    ),
    "rl_sharpe": (
        ("summary.json", "rl_sharpe"),
        ("summary.json", "best_sharpe"),
        ("summary.json", "summary.best_sharpe"),
    ),
    "dsr": (("summary.json", "dsr"), ("summary.json", "best_dsr"), ("summary.json", "summary.best_dsr")),
    "p_value": (
        ("summary.json", "p_value"),
        ("summary.json", "best_bootstrap_p_value"),
        ("summary.json", "summary.best_bootstrap_p_value"),
    ),
    "rss_peak_mb": (
        ("summary.json", "rss_peak_mb"),
        ("summary.json", "rss_peak"),
        ("summary.json", "summary.rss_peak_mb"),
    ),
    "memory_peak_mb": (
        ("summary.json", "vram_peak_mb"),
        ("summary.json", "memory_peak"),
        ("summary.json", "summary.vram_peak_mb"),
    ),
    "start_time": (
        ("index.json", "start_time"),
        ("index.json", "created_at"),
        ("summary.json", "metadata.timestamp"),
        ("summary.json", "timestamp"),
        ("run_metadata.json", "start_time"),
    ),
    "eta": (
        ("index.json", "eta"),
        ("summary.json", "progress.completion_time"),
        ("summary.json", "progress.eta"),
    ),
}


Scopes = dict[tuple[str, str], dict[str, Any]]
_INF = math.inf

#: LOOKUP split into (file, parent object, key, dotted label) once, so a lookup is two dict gets.
_COMPILED: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    name: tuple((file, *(key.split(".", 1) if "." in key else ("", key)), key) for file, key in sources)
    for name, sources in LOOKUP.items()
}


def scopes_of(docs: Mapping[str, dict[str, Any]]) -> Scopes:
    """Each document and each nested object a lookup names, keyed by (file, parent key)."""
    scopes: Scopes = {(file, ""): doc for file, doc in docs.items() if doc}
    for file, parent in (("summary.json", "summary"), ("summary.json", "metadata"), ("summary.json", "progress"),
                         ("run_metadata.json", "payload")):  # fmt: skip
        doc = docs.get(file)
        if doc:
            value = doc.get(parent)
            if isinstance(value, dict):
                scopes[(file, parent)] = value
    return scopes


def candidates(name: str, scopes: Scopes) -> Iterable[tuple[str, str, Any]]:
    """(file, dotted key, value) for each present, non-null source of ``name``, in lookup order."""
    for file, parent, key, label in _COMPILED[name]:
        scope = scopes.get((file, parent))
        if scope is not None:
            value = scope.get(key)
            if value is not None:
                yield file, label, value


def lookup_number(name: str, scopes: Scopes, issues: list[Problem]) -> float | None:
    for file, parent, key, label in _COMPILED[name]:
        scope = scopes.get((file, parent))
        if scope is None:
            continue
        value = scope.get(key)
        if value is None:
            continue
        kind = type(value)
        if (kind is int and -FLOAT_MAX <= value <= FLOAT_MAX) or (kind is float and -_INF < value < _INF):
            return value  # type: ignore[no-any-return]
        check_number(value, label, issues, file)  # reports why it is unusable; try the next source
    return None


#: Fields with a range: probabilities in [0, 1], sizes (MB) never negative. Outside it, a value is
#: missing with a warning naming the file and key (:func:`ztbkit.core.values.check_bounded`), and the
#: next source in the lookup order is tried.
BOUNDS: dict[str, tuple[float, float | None, str]] = {
    "dsr": (0.0, 1.0, " (a probability)"),
    "p_value": (0.0, 1.0, " (a probability)"),
    "rss_peak_mb": (0.0, None, " (a size)"),
    "memory_peak_mb": (0.0, None, " (a size)"),
}


def lookup_bounded(name: str, scopes: Scopes, issues: list[Problem]) -> float | None:
    """:func:`lookup_number` for a field of :data:`BOUNDS`: a number out of range is missing, with an issue."""
    low, high, what = BOUNDS[name]
    for file, parent, key, label in _COMPILED[name]:
        scope = scopes.get((file, parent))
        if scope is None or scope.get(key) is None:
            continue
        num = check_number(scope[key], label, issues, file)
        if (
            num is not None
            and check_bounded(num, label, issues, file, low=low, high=high, what=what) is not None
        ):
            return num
    return None


def lookup_count(name: str, scopes: Scopes, issues: list[Problem]) -> int | None:
    for file, label, value in candidates(name, scopes):
        if type(value) is int and 0 <= value <= FLOAT_MAX:  # the common, valid case
            return value
        num = check_count(value, label, issues, file)
        if num is not None:
            return num
    return None
