"""Load a zaif-trade-bot artifact tree into one normalised :class:`Session` per session.

Policy (users depend on it):

* Every folder directly under the artifacts root whose name does not start with ``.`` is a session,
  with or without an index entry or a readable summary. An index entry with no folder is a session
  with status ``missing`` and ``on_disk=False``.
* Fields follow FORMATS.md's lookup order: the first present, non-null, *valid* value wins. A value
  of the wrong type (a string where a number belongs, a list, NaN/Infinity, a bool) is treated as
  missing — the next source is tried — and reported as an issue naming the file and key.
* Nothing in one session stops another from loading: every problem (unreadable file, invalid JSON,
  unknown shape, bad value) becomes a :class:`~ztbkit.fsio.Problem` in that session's ``issues``
  (or the tree's, for index.json itself).
* Naive timestamps are taken to be in Asia/Tokyo (the bot's home); all start times are returned
  as aware datetimes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit import gates as gates_mod
from ztbkit.clock import default_tz
from ztbkit.errors import ArtifactsNotFoundError
from ztbkit.fsio import JsonRead, Problem, read_json_if_exists
from ztbkit.storage import RemoteTree, is_remote, local_path
from ztbkit.values import FLOAT_MAX, check_count, check_number, describe, is_finite_number, parse_timestamp

if TYPE_CHECKING:
    import pandas as pd

    from ztbkit.loadcache import LoadCache

INDEX_FILE = "index.json"
KILL_FILE = "ztb.stop"

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

    @property
    def path(self) -> Path | None:
        """The session folder (None when the session exists only in index.json)."""
        return Path(self.folder) if self.folder is not None else None

    @property
    def gate_verdict(self) -> str:
        """``pass``, ``fail`` or ``none`` (no gates file or no gates in it)."""
        return self.gates.verdict if self.gates is not None else "none"


@dataclass(slots=True)
class ArtifactTree:
    """All sessions of one artifacts root, sorted by session id, plus tree-level problems."""

    root: Path
    sessions: list[Session]
    issues: list[Problem] = field(default_factory=list)

    def get(self, session_id: str) -> Session | None:
        return next((s for s in self.sessions if s.session_id == session_id), None)

    def all_issues(self) -> list[Problem]:
        """Tree-level problems followed by every session's, in session order."""
        out = list(self.issues)
        for s in self.sessions:
            out.extend(s.issues)
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """One row per session (see :data:`DATAFRAME_COLUMNS`); start times in Asia/Tokyo."""
        return sessions_to_dataframe(self.sessions)


DATAFRAME_COLUMNS = (
    "session_id", "status", "on_disk", "in_index", "stopped", "is_best", "start_time", "eta",
    "global_step", "rl_sharpe", "dsr", "p_value", "memory_peak_mb", "rss_peak_mb",
    "duration_seconds", "gpu_count", "steps_per_sec", "gate_verdict", "gates_failed", "issue_count",
)  # fmt: skip


def sessions_to_dataframe(sessions: Iterable[Session], tz: tzinfo | None = None) -> pd.DataFrame:
    """Build the sessions DataFrame (nullable Int64 for counts, NaN for missing floats).

    A count past 64 bits (global_step 2**70), which Int64 cannot hold, is NA here; the Session keeps it."""
    import pandas as pd

    zone = tz or default_tz()
    rows = list(sessions)
    cols: dict[str, list[Any]] = {c: [] for c in DATAFRAME_COLUMNS}
    for s in rows:
        cols["session_id"].append(s.session_id)
        cols["status"].append(s.status)
        cols["on_disk"].append(s.on_disk)
        cols["in_index"].append(s.in_index)
        cols["stopped"].append(s.stopped)
        cols["is_best"].append(s.is_best)
        cols["start_time"].append(s.start_time.astimezone(zone) if s.start_time else None)
        cols["eta"].append(s.eta)
        cols["global_step"].append(_int64(s.global_step))
        cols["rl_sharpe"].append(s.rl_sharpe)
        cols["dsr"].append(s.dsr)
        cols["p_value"].append(s.p_value)
        cols["memory_peak_mb"].append(s.memory_peak_mb)
        cols["rss_peak_mb"].append(s.rss_peak_mb)
        cols["duration_seconds"].append(s.duration_seconds)
        cols["gpu_count"].append(_int64(s.gpu_count))
        cols["steps_per_sec"].append(s.steps_per_sec)
        cols["gate_verdict"].append(s.gate_verdict)
        cols["gates_failed"].append(",".join(g.name for g in s.gates.failures) if s.gates else "")
        cols["issue_count"].append(len(s.issues))
    df = pd.DataFrame(cols)
    df["start_time"] = pd.to_datetime(df["start_time"], utc=True).dt.tz_convert(zone)
    for c in ("global_step", "gpu_count"):
        df[c] = df[c].astype("Int64")
    for c in (
        "rl_sharpe",
        "dsr",
        "p_value",
        "memory_peak_mb",
        "rss_peak_mb",
        "duration_seconds",
        "steps_per_sec",
    ):
        df[c] = df[c].astype("float64")
    return df


def _int64(value: int | None) -> int | None:
    return value if value is None or -(2**63) <= value < 2**63 else None


# --------------------------------------------------------------------------- loading


Scopes = dict[tuple[str, str], dict[str, Any]]
_INF = math.inf

#: LOOKUP split into (file, parent object, key, dotted label) once, so a lookup is two dict gets.
_COMPILED: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    name: tuple((file, *(key.split(".", 1) if "." in key else ("", key)), key) for file, key in sources)
    for name, sources in LOOKUP.items()
}


def _scopes(docs: Mapping[str, dict[str, Any]]) -> Scopes:
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


def _candidates(name: str, scopes: Scopes) -> Iterable[tuple[str, str, Any]]:
    """(file, dotted key, value) for each present, non-null source of ``name``, in lookup order."""
    for file, parent, key, label in _COMPILED[name]:
        scope = scopes.get((file, parent))
        if scope is not None:
            value = scope.get(key)
            if value is not None:
                yield file, label, value


def _lookup_number(name: str, scopes: Scopes, issues: list[Problem]) -> float | None:
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


def _lookup_count(name: str, scopes: Scopes, issues: list[Problem]) -> int | None:
    for file, label, value in _candidates(name, scopes):
        if type(value) is int and 0 <= value <= FLOAT_MAX:  # the common, valid case
            return value
        num = check_count(value, label, issues, file)
        if num is not None:
            return num
    return None


def _as_object(read: JsonRead | None, file: str, issues: list[Problem]) -> dict[str, Any]:
    """The JSON object of an optional file; {} (with an issue) when unreadable or not an object."""
    if read is None:
        return {}
    if read.problem is not None:
        issues.append(Problem(file, read.problem.reason))  # prefixed with the folder once, at the end
        return {}
    if not isinstance(read.value, dict):
        issues.append(Problem(file, f"expected a JSON object, got {type(read.value).__name__}"))
        return {}
    return read.value


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
            issues.append(Problem(file, f"{label}: expected a non-negative number, got {num}"))
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
            issues.append(
                Problem("summary.json", f"progress.steps_per_sec: expected a positive number, got {num}")
            )
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
        issues.append(Problem("metrics.json", f"{key}: expected a list of numbers, got {describe(values)}"))
        return None
    try:
        if all(type(v) in (int, float) and -FLOAT_MAX <= v <= FLOAT_MAX for v in values):  # the common case
            return float(max(values)) if values else None
    except TypeError:
        pass
    good = [
        v for i, v in enumerate(values) if check_number(v, f"{key}[{i}]", issues, "metrics.json") is not None
    ]
    return float(max(good)) if good else None


def _apply_run_metadata(s: Session, rm: dict[str, Any], issues: list[Problem]) -> None:
    s.run_metadata = rm
    s.run_metadata_shape = shape = classify_run_metadata(rm)
    if shape == "unknown":
        keys = ", ".join(sorted(map(str, rm))[:8]) or "none"
        issues.append(Problem("run_metadata.json", f"unknown shape (keys: {keys}); its values are not used"))
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
        issues.append(Problem(INDEX_FILE, f"status: expected text, got {describe(raw)}"))
        return "unknown"
    return raw.strip().lower()


def _finish(s: Session, docs: dict[str, dict[str, Any]], issues: list[Problem], tz: tzinfo | None) -> None:
    """Fill the normalised fields of ``s`` from its documents (index entry included)."""
    scopes = _scopes(docs)
    s.global_step = _lookup_count("global_step", scopes, issues)
    s.rl_sharpe = _lookup_number("rl_sharpe", scopes, issues)
    s.dsr = _lookup_number("dsr", scopes, issues)
    s.p_value = _lookup_number("p_value", scopes, issues)
    s.rss_peak_mb = _lookup_number("rss_peak_mb", scopes, issues)
    s.memory_peak_mb = _lookup_number("memory_peak_mb", scopes, issues)
    for file, key, value in _candidates("start_time", scopes):
        s.start_time = parse_timestamp(value, tz)
        if s.start_time is not None:
            break
        issues.append(Problem(file, f"{key}: not a timestamp: {describe(value)}"))
    else:
        if s.start_time is None:
            s.start_time = _timestamp_from_id(s.session_id, tz)
    for file, key, value in _candidates("eta", scopes):
        if isinstance(value, str) and value.strip():
            s.eta = value.strip()
            break
        if is_finite_number(value):
            s.eta = f"{value:g}s"
            break
        issues.append(Problem(file, f"{key}: expected text or seconds, got {describe(value)}"))
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
        issues.append(Problem(".", f"folder name is not valid UTF-8; shown as {shown!r}"))
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
            s.gates = gates_mod.parse_gates(read.value, gates_file, issues)
    cost_file = "reports" + os.sep + "cost_estimate.json"
    cost = read_json_if_exists(base + cost_file)
    if cost is not None:
        obj = _as_object(cost, cost_file, issues)
        s.cost_estimate = obj or None
    _finish(s, docs, issues, tz)
    if issues:
        s.issues = _prefix_issues(issues, folder)
    return s


_read_local = read_json_if_exists


def _index_entries(
    root: str, issues: list[Problem], remote: RemoteTree | None = None
) -> dict[str, dict[str, Any]]:
    """index.json in any of its three shapes → {session id: entry}, in index order."""
    path = os.path.join(root, INDEX_FILE)
    read = remote.read_json(path) if remote else read_json_if_exists(path)
    if read is None:
        return {}
    if read.problem is not None:
        issues.append(read.problem)
        return {}
    doc = read.value
    best: set[str] = set()
    if isinstance(doc, dict) and isinstance(doc.get("sessions"), list):
        raw_entries: list[Any] = doc["sessions"]
        if isinstance(doc.get("best"), list):
            best = {b for b in doc["best"] if isinstance(b, str)}
    elif isinstance(doc, list):
        raw_entries = doc
    else:
        what = (
            f"object with keys {', '.join(sorted(map(str, doc))[:6])}"
            if isinstance(doc, dict)
            else type(doc).__name__
        )
        issues.append(
            Problem(path, f"unknown index shape ({what}); expected a list or {{'sessions': [...]}}")
        )
        return {}
    entries: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(raw_entries):
        if not isinstance(entry, dict):
            issues.append(Problem(path, f"sessions[{i}]: expected an object, got {describe(entry)}"))
            continue
        sid = entry.get("correlation_id", entry.get("id"))
        if isinstance(sid, int) and not isinstance(sid, bool):
            sid = str(sid)
        if not isinstance(sid, str) or not sid.strip():
            issues.append(
                Problem(path, f"sessions[{i}]: no usable 'correlation_id' or 'id' ({describe(sid)})")
            )
            continue
        if sid in entries:
            issues.append(Problem(path, f"sessions[{i}]: duplicate entry for {sid!r}; the first one is used"))
            continue
        entries[sid] = entry if sid not in best else {**entry, "is_best": True}
    return entries


def index_entry(root: str | os.PathLike[str], session_id: str) -> dict[str, Any] | None:
    """The ``index.json`` entry (any index shape) of one session under ``root``, or None."""
    return _index_entries(os.fspath(root), []).get(session_id)


def load_artifacts(
    root: str | os.PathLike[str],
    *,
    tz: tzinfo | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache: LoadCache | None = None,
) -> ArtifactTree:
    """Load every session under ``root``; sessions sorted by id (plain string order).

    Raises :class:`~ztbkit.errors.ArtifactsNotFoundError` when ``root`` is not a folder; every
    other problem is recorded, not raised. ``progress(done, total)`` is called every 500 sessions.
    ``root`` may be an fsspec URL (``s3://bucket/prefix``): see :mod:`ztbkit.storage`. With ``cache``,
    sessions whose files did not change since the cached load are not parsed again (:mod:`ztbkit.loadcache`).
    """
    root_s = local_path(root)
    remote = RemoteTree(root_s) if is_remote(root_s) else None  # listed once, files fetched concurrently
    root_s = remote.url if remote else root_s
    if remote is None and not os.path.isdir(root_s):
        what = "is not a folder" if os.path.exists(root_s) else "does not exist"
        if not os.path.isabs(root_s):  # README's relative paths pasted from another folder: say which one
            what += f" in {os.getcwd()}"
        raise ArtifactsNotFoundError(f"artifacts folder {root_s!r} {what} (set it with --artifacts-dir)")
    tz = tz or default_tz()  # resolved once, not per timestamp
    if cache is not None:
        cache.begin(root_s, remote, tz)  # before any read: a remote tree then skips unchanged sessions' files
    tree_issues: list[Problem] = []
    entries = _index_entries(root_s, tree_issues, remote)
    try:
        folders = (
            remote.folders
            if remote
            else sorted(e.name for e in os.scandir(root_s) if not e.name.startswith(".") and e.is_dir())
        )
    except OSError as exc:
        raise ArtifactsNotFoundError(
            f"cannot list artifacts folder {root_s!r}: {exc.strerror or exc}"
        ) from exc
    sessions: list[Session] = []
    total = len(folders)
    for n, name in enumerate(folders, 1):
        folder, entry = os.path.join(root_s, name), entries.get(name)
        cached = cache.get(folder, entry) if cache is not None else None  # unchanged: not parsed again
        sessions.append(cached or load_session(folder, entry, tz=tz, remote=remote))
        if progress is not None and (n % 500 == 0 or n == total):
            progress(n, total)
    on_disk = set(folders)
    for sid, entry in entries.items():
        if sid not in on_disk:
            ghost = Session(
                session_id=sid,
                folder=None,
                on_disk=False,
                in_index=True,
                is_best=entry.get("is_best") is True,
            )
            issues: list[Problem] = []
            _finish(ghost, {INDEX_FILE: entry}, issues, tz)
            ghost.status = "missing"
            ghost.issues = [Problem(os.path.join(root_s, p.path), p.reason) for p in issues]
            ghost.issues.append(
                Problem(os.path.join(root_s, sid), "listed in index.json but the folder is missing")
            )
            sessions.append(ghost)
    sessions.sort(key=lambda s: s.session_id)
    if cache is not None:
        cache.save(sessions)
    return ArtifactTree(root=Path(root_s), sessions=sessions, issues=tree_issues)
