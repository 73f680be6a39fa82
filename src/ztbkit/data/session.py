"""One session folder of a zaif-trade-bot artifact tree → one normalised :class:`Session`.

Policy (users depend on it):

* Fields follow FORMATS.md's lookup order (:mod:`ztbkit.data.lookup`): the first present, non-null,
  *valid* value wins; a value of the wrong type is treated as missing and reported as an issue
  naming the file and key.
* Nothing in one session stops another from loading: every problem (unreadable file, invalid JSON,
  unknown shape, bad value) becomes a :class:`~ztbkit.core.jsonread.Problem` in that session's
  ``issues``.
* Naive timestamps are taken to be in Asia/Tokyo (the bot's home); all start times are returned
  as aware datetimes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from ztbkit.core.errors import N_, Reason
from ztbkit.core.jsonread import JsonRead, Problem, read_json_if_exists
from ztbkit.core.values import (
    FLOAT_MAX,
    amount_problem,
    check_bounded,
    check_count,
    check_number,
    describe,
    is_finite_number,
    parse_timestamp,
)
from ztbkit.data import gates as gates_mod
from ztbkit.data.hparams import session_hparams
from ztbkit.data.lookup import Scopes, candidates, lookup_bounded, lookup_count, lookup_number, scopes_of
from ztbkit.data.storage import RemoteTree

INDEX_FILE = "index.json"
KILL_FILE = "ztb.stop"


@dataclass(slots=True)
class Session:
    """One training session, normalised from whatever shapes its files had."""

    session_id: str
    #: The session folder as a string (None for an index entry whose folder is missing).
    folder: str | None
    on_disk: bool = True
    in_index: bool = False
    status: str = "unknown"
    stopped: bool = False
    is_best: bool = False
    start_time: datetime | None = None
    eta: str | None = None
    global_step: int | None = None
    rl_sharpe: float | None = None
    dsr: float | None = None
    p_value: float | None = None
    rss_peak_mb: float | None = None
    memory_peak_mb: float | None = None
    duration_seconds: float | None = None
    duration_source: str | None = None
    gpu_count: int | None = None
    steps_per_sec: float | None = None
    gates: gates_mod.GateReport | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    run_metadata: dict[str, Any] = field(default_factory=dict)
    run_metadata_shape: str | None = None
    cost_estimate: dict[str, Any] | None = None
    issues: list[Problem] = field(default_factory=list)
    #: Hyperparameters from run_metadata's config, TensorBoard hparams and the folder name
    #: (:mod:`ztbkit.data.hparams`), flat and sorted by name.
    hparams: dict[str, Any] = field(default_factory=dict)
    #: The user's tags and notes from ``<artifacts>/.ztb/notes.json`` (:mod:`ztbkit.data.notes`);
    #: attached when the tree is loaded, never stored in a snapshot or cache (they change on their own).
    tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def path(self) -> Path | None:
        """The session folder (None when the session exists only in index.json)."""
        return Path(self.folder) if self.folder is not None else None

    @property
    def gate_verdict(self) -> str:
        """``pass``, ``fail`` or ``none`` (no gates file or no gates in it)."""
        return self.gates.verdict if self.gates is not None else "none"


def _as_object(read: JsonRead | None, file: str, issues: list[Problem]) -> dict[str, Any]:
    """The JSON object of an optional file; {} (with an issue) when unreadable or not an object."""
    if read is None:
        return {}
    if read.problem is not None:
        issues.append(Problem(file, read.problem.reason))  # prefixed with the folder once, at the end
        return {}
    warn_duplicates(read, file, issues)
    if not isinstance(read.value, dict):
        why = Reason("expected a JSON object, got {type}", type=type(read.value).__name__)
        issues.append(Problem(file, why))
        return {}
    return read.value


def warn_duplicates(read: JsonRead, file: str, issues: list[Problem]) -> None:
    """A warning naming the file and each key given twice in one object (the last value is used)."""
    if read.duplicates:
        keys = ", ".join(repr(k) for k in read.duplicates[:5]) + (" ..." if len(read.duplicates) > 5 else "")
        why = Reason("duplicate key {keys} in one object; the last value is used", keys=keys)
        issues.append(Problem(file, why))


def classify_run_metadata(doc: Mapping[str, Any]) -> str:
    """Which of the four run_metadata shapes ``doc`` is: cost, environment, backtest, stub or unknown."""
    if isinstance(doc.get("payload"), dict):
        return "backtest"
    system = doc.get("system")
    if doc.get("correlation_id") == "dummy" or (isinstance(system, dict) and system.get("os") == "dummy"):
        return "stub"
    if not _ENVIRONMENT_KEYS.isdisjoint(doc.keys()):
        return "environment"
    if not _COST_KEYS.isdisjoint(doc.keys()):
        return "cost"
    return "unknown"


_ENVIRONMENT_KEYS = frozenset(("system", "packages", "git", "run_config"))
_COST_KEYS = frozenset(("duration_seconds", "gpu_count", "start_time", "correlation_id"))


#: Where a duration comes from, in order: (file, parent object, key, seconds per unit).
DURATION_SOURCES = (
    ("run_metadata.json", "", "duration_seconds", 1.0),
    ("run_metadata.json", "payload", "duration_seconds", 1.0),
    ("summary.json", "", "wall_clock_duration_hours", 3600.0),
    ("summary.json", "summary", "wall_clock_duration_hours", 3600.0),
    ("metrics.json", "", "wall_clock_duration", 1.0),
    ("metrics.json", "", "elapsed_time", 1.0),
)


def _derive_duration(s: Session, scopes: Scopes, issues: list[Problem]) -> None:
    """Duration in seconds from :data:`DURATION_SOURCES`, else global_step / steps-per-second.

    Zeros are skipped: the bot writes 0 as a placeholder before a run has measured anything. A
    negative duration is reported and skipped.
    """
    for file, parent, key, scale in DURATION_SOURCES:
        scope = scopes.get((file, parent))
        value = scope.get(key) if scope is not None else None
        if value is None:
            continue
        label = f"{parent}.{key}" if parent else key
        num = check_number(value, label, issues, file)
        if num is not None and num < 0:
            why = Reason("{key}: expected a non-negative number, got {value}", key=label, value=num)  # fmt: skip
            issues.append(Problem(file, why))
        elif num is not None and num > 0:
            s.duration_seconds, s.duration_source = float(num) * scale, f"{file}:{label}"
            return
    if s.global_step and s.steps_per_sec:
        s.duration_seconds = s.global_step / s.steps_per_sec
        s.duration_source = "global_step/steps_per_sec"


def _derive_rates(s: Session, scopes: Scopes, issues: list[Problem]) -> None:
    progress = scopes.get(("summary.json", "progress"))
    if progress is not None and progress.get("steps_per_sec") is not None:
        num = check_number(progress["steps_per_sec"], "progress.steps_per_sec", issues, "summary.json")
        if num is not None and num < 0:
            key = "progress.steps_per_sec"
            why = Reason("{key}: expected a positive number, got {value}", key=key, value=num)
            issues.append(Problem("summary.json", why))
        elif num is not None and num > 0:
            s.steps_per_sec = float(num)
    met = scopes.get(("metrics.json", ""))
    if met is None:
        return
    if s.steps_per_sec is None and ("steps" in met or "elapsed_time" in met):
        steps = check_count(met.get("steps"), "steps", issues, "metrics.json")
        elapsed = check_number(met.get("elapsed_time"), "elapsed_time", issues, "metrics.json")
        if steps and elapsed and elapsed > 0:
            s.steps_per_sec = float(steps) / float(elapsed)
    if s.rss_peak_mb is None and "rss_peaks" in met:
        s.rss_peak_mb = _peak(met["rss_peaks"], "rss_peaks", issues)
    if s.memory_peak_mb is None and "vram_peaks" in met:
        s.memory_peak_mb = _peak(met["vram_peaks"], "vram_peaks", issues)


def _peak(values: Any, key: str, issues: list[Problem]) -> float | None:
    """The largest valid number of a metrics.json peaks list; bad elements are reported and skipped."""
    if not isinstance(values, list):
        why = Reason("{key}: expected a list of numbers, got {value}", key=key, value=describe(values))  # fmt: skip
        issues.append(Problem("metrics.json", why))
        return None
    try:
        if all(type(v) in (int, float) and 0 <= v <= FLOAT_MAX for v in values):  # the common case
            return float(max(values)) if values else None
    except TypeError:
        pass
    good = [
        v
        for i, v in enumerate(values)
        if (num := check_number(v, f"{key}[{i}]", issues, "metrics.json")) is not None
        and check_bounded(num, f"{key}[{i}]", issues, "metrics.json", what=N_(" (a size)")) is not None
    ]
    return float(max(good)) if good else None


def _apply_run_metadata(s: Session, rm: dict[str, Any], issues: list[Problem]) -> None:
    s.run_metadata = rm
    s.run_metadata_shape = shape = classify_run_metadata(rm)
    if shape == "unknown":
        keys = ", ".join(sorted(map(str, rm))[:8]) or "none"
        why = Reason("unknown shape (keys: {keys}); its values are not used", keys=keys)  # fmt: skip
        issues.append(Problem("run_metadata.json", why))
        return
    if shape == "stub":
        return
    payload = rm.get("payload") if shape == "backtest" else None
    for doc, prefix in ((rm, ""), (payload, "payload.")):
        if isinstance(doc, dict) and "gpu_count" in doc and s.gpu_count is None:
            s.gpu_count = check_count(doc["gpu_count"], prefix + "gpu_count", issues, "run_metadata.json")


def _status(entry: Mapping[str, Any] | None, issues: list[Problem]) -> str:
    if not entry or entry.get("status") is None:
        return "unknown"
    raw = entry["status"]
    if not isinstance(raw, str) or not raw.strip():
        why = Reason("{key}: expected text, got {value}", key="status", value=describe(raw))  # fmt: skip
        issues.append(Problem(INDEX_FILE, why))
        return "unknown"
    return raw.strip().lower()


def finish_session(
    s: Session, docs: dict[str, dict[str, Any]], issues: list[Problem], tz: tzinfo | None
) -> None:
    """Fill the normalised fields of ``s`` from its documents (index entry included)."""
    scopes = scopes_of(docs)
    s.global_step = lookup_count("global_step", scopes, issues)
    s.rl_sharpe = lookup_number("rl_sharpe", scopes, issues)
    s.dsr = lookup_bounded("dsr", scopes, issues)
    s.p_value = lookup_bounded("p_value", scopes, issues)
    s.rss_peak_mb = lookup_bounded("rss_peak_mb", scopes, issues)
    s.memory_peak_mb = lookup_bounded("memory_peak_mb", scopes, issues)
    for file, key, value in candidates("start_time", scopes):
        s.start_time = parse_timestamp(value, tz)
        if s.start_time is not None:
            break
        issues.append(Problem(file, Reason("{key}: not a timestamp: {value}", key=key, value=describe(value))))  # fmt: skip
    else:
        if s.start_time is None:
            s.start_time = _timestamp_from_id(s.session_id, tz)
    for file, key, value in candidates("eta", scopes):
        if isinstance(value, str) and value.strip():
            s.eta = value.strip()
            break
        if is_finite_number(value):
            s.eta = f"{value:g}s"
            break
        why = Reason("{key}: expected text or seconds, got {value}", key=key, value=describe(value))
        issues.append(Problem(file, why))
    _derive_rates(s, scopes, issues)
    _derive_duration(s, scopes, issues)
    s.status = _status(docs.get(INDEX_FILE), issues)
    if s.stopped and s.status in ("running", "unknown"):
        s.status = "stopped"


def _timestamp_from_id(session_id: str, tz: tzinfo | None) -> datetime | None:
    """Correlation ids are usually UTC timestamps (``20250929T120000Z``): a last-resort start time."""
    if len(session_id) >= 15 and session_id[:8].isdigit() and session_id[8] == "T":
        return parse_timestamp(session_id, tz)
    return None


def _prefix_issues(issues: list[Problem], folder: str) -> list[Problem]:
    """Issues are collected with names relative to the session folder (index.json: to the root); give
    them the path a user opens."""
    root = os.path.dirname(folder.rstrip("/\\"))
    return [
        Problem(printable_name(folder if p.path == "." else os.path.join(root if p.path == INDEX_FILE else folder,
                                                                         p.path)), p.reason)
        for p in issues
    ]  # fmt: skip


def printable_name(name: str) -> str:
    """A file name fit to print and write as UTF-8: bytes that are not UTF-8 (a folder made on a
    cp932 or Latin-1 system) become U+FFFD replacement characters."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return (
            name.encode("utf-8", "surrogateescape")
            .decode("utf-8", "replace")
            .encode("utf-8", "replace")
            .decode()
        )
    return name


def load_session(
    folder: str | os.PathLike[str],
    index_entry: Mapping[str, Any] | None = None,
    *,
    tz: tzinfo | None = None,
    remote: RemoteTree | None = None,
) -> Session:
    """Load one session folder (its id is the folder name). Never raises for bad content.

    ``remote``: the folder is a URL in that listed tree; its files come from the tree's batch fetch.
    """
    folder = os.fspath(folder)
    read_json_if_exists, lexists = (
        (remote.read_json, remote.exists) if remote else (_read_local, os.path.lexists)
    )
    name = os.path.basename(folder.rstrip("/\\"))
    shown = printable_name(name)
    s = Session(session_id=shown, folder=folder, in_index=index_entry is not None)
    issues: list[Problem] = []
    if shown != name:  # still listed: its files are read through the real (undecodable) name
        issues.append(Problem(".", Reason("folder name is not valid UTF-8; shown as {name}", name=repr(shown))))  # fmt: skip
    docs: dict[str, dict[str, Any]] = {}
    if index_entry is not None:
        docs[INDEX_FILE] = dict(index_entry)
        s.is_best = index_entry.get("is_best") is True
    # Files are opened directly (no listing): a missing file costs one failed open, and the
    # non-blocking open in fsio means even a FIFO in the folder cannot hang the loop.
    base = folder + os.sep
    for file in ("summary.json", "metrics.json", "run_metadata.json"):
        read = read_json_if_exists(base + file)
        if read is not None:
            docs[file] = _as_object(read, file, issues)
    s.summary = docs.get("summary.json", {})
    s.metrics = docs.get("metrics.json", {})
    if docs.get("run_metadata.json"):
        _apply_run_metadata(s, docs["run_metadata.json"], issues)
    s.stopped = lexists(base + KILL_FILE)
    gates_file = "reports" + os.sep + "gates.json"
    read = read_json_if_exists(base + gates_file)
    if read is not None:
        if read.problem is not None:
            issues.append(Problem(gates_file, read.problem.reason))
        else:
            warn_duplicates(read, gates_file, issues)
            s.gates = gates_mod.parse_gates(read.value, gates_file, issues)
    cost_file = "reports" + os.sep + "cost_estimate.json"
    cost = read_json_if_exists(base + cost_file)
    if cost is not None:
        obj = _as_object(cost, cost_file, issues)
        s.cost_estimate = obj or None
        _check_amounts(obj, cost_file, issues)
    finish_session(s, docs, issues, tz)
    s.hparams = session_hparams(s.run_metadata, None if remote else folder, name, issues)
    if issues:
        s.issues = _prefix_issues(issues, folder)
    return s


def _check_amounts(doc: Mapping[str, Any], file: str, issues: list[Problem]) -> None:
    """A warning naming the file and key for each amount no run can have (the one rule:
    :data:`ztbkit.core.values.AMOUNT_LIMITS`); the budget then counts the run as not estimated."""
    costs = doc.get("costs")
    found = {k: doc.get(k) for k in ("total_cost_jpy", "gpu_hours", "power_kwh")}
    found["costs.total_jpy"] = costs.get("total_jpy") if isinstance(costs, dict) else None
    for key, value in found.items():
        if (why := amount_problem(value, key)) is not None:
            issues.append(Problem(file, why))


_read_local = read_json_if_exists


def finished_sessions(sessions: Iterable[Session], now: datetime | None = None) -> list[Session]:
    """Finished sessions (on disk, not marked running), oldest first by start time then id; a start
    time after ``now`` is ordered as unknown (first)."""
    done = [s for s in sessions if s.on_disk and s.status != "running"]
    floor = datetime.min.replace(tzinfo=UTC)

    def start(s: Session) -> datetime:
        return s.start_time if s.start_time is not None and (now is None or s.start_time <= now) else floor

    return sorted(done, key=lambda s: (start(s), s.session_id))
