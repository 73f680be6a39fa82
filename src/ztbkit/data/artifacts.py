"""Load a zaif-trade-bot artifact tree: index.json and every session folder → :class:`ArtifactTree`.

Policy (users depend on it):

* Every folder directly under the artifacts root whose name does not start with ``.`` is a session,
  with or without an index entry or a readable summary. An index entry with no folder is a session
  with status ``missing`` and ``on_disk=False``.
* Nothing in one session stops another from loading: each session is loaded by
  :func:`ztbkit.data.session.load_session`, and problems with index.json itself are the tree's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit.core.clock import default_tz
from ztbkit.core.errors import ArtifactsNotFoundError, Reason, os_reason
from ztbkit.core.jsonread import Problem, read_json_if_exists
from ztbkit.core.values import describe
from ztbkit.data.session import INDEX_FILE, Session, finish_session, load_session
from ztbkit.data.storage import RemoteTree, is_remote, local_path
from ztbkit.locale import _

if TYPE_CHECKING:
    import pandas as pd

    from ztbkit.data.loadcache import LoadCache


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
    "tags",
)  # fmt: skip
#: Then one ``hp.<name>`` column per hyperparameter any session has (:mod:`ztbkit.data.hparams`), by name.
HP_PREFIX = "hp."


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
        cols["tags"].append(",".join(s.tags))
    names = sorted({name for s in rows for name in s.hparams})
    for name in names:
        cols[HP_PREFIX + name] = [s.hparams.get(name) for s in rows]
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
    if read.duplicates:
        keys = ", ".join(map(repr, read.duplicates[:5]))
        issues.append(
            Problem(path, Reason("duplicate key {keys} in one object; the last value is used", keys=keys))
        )
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
            Reason("object with keys {keys}", keys=", ".join(sorted(map(str, doc))[:6]))
            if isinstance(doc, dict)
            else type(doc).__name__
        )
        issues.append(
            Problem(
                path,
                Reason("unknown index shape ({what}); expected a list or {{'sessions': [...]}}", what=what),
            )
        )
        return {}
    entries: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(raw_entries):
        where = f"sessions[{i}]"
        if not isinstance(entry, dict):
            issues.append(
                Problem(
                    path,
                    Reason("{key}: expected an object, got {value}", key=where, value=describe(entry)),
                )
            )
            continue
        sid = entry.get("correlation_id", entry.get("id"))
        if isinstance(sid, int) and not isinstance(sid, bool):
            sid = str(sid)
        if not isinstance(sid, str) or not sid.strip():
            issues.append(
                Problem(
                    path,
                    Reason(
                        "{key}: no usable 'correlation_id' or 'id' ({value})",
                        key=where,
                        value=describe(sid),
                    ),
                )
            )
            continue
        if sid in entries:
            issues.append(
                Problem(
                    path,
                    Reason(
                        "{key}: duplicate entry for {id}; the first one is used",
                        key=where,
                        id=repr(sid),
                    ),
                )
            )
            continue
        entries[sid] = entry if sid not in best else {**entry, "is_best": True}
    return entries


def index_entries(root: str | os.PathLike[str], issues: list[Problem]) -> dict[str, dict[str, Any]]:
    """``index.json`` (any of its three shapes) → {session id: entry}; its problems go to ``issues``."""
    return _index_entries(os.fspath(root), issues)


def index_entry(root: str | os.PathLike[str], session_id: str) -> dict[str, Any] | None:
    """The ``index.json`` entry (any index shape) of one session under ``root``, or None."""
    return _index_entries(os.fspath(root), []).get(session_id)


def _session_folders(root: str, issues: list[Problem]) -> list[str]:
    """The session folder names under ``root``, sorted. An entry that cannot be followed or looked at
    (a symlink loop, permission denied, gone since the listing) is a warning naming it, never the end
    of the listing: one bad entry must not hide every other session. Only a root that cannot be listed
    at all is an error."""
    try:
        with os.scandir(root) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except OSError as exc:
        raise ArtifactsNotFoundError(
            "cannot list artifacts folder {root}: {reason}", root=repr(root), reason=os_reason(exc)
        ) from exc
    names = []
    for entry in entries:
        try:
            if entry.is_dir():  # follows a link: a linked session folder counts as one
                names.append(entry.name)
        except OSError as exc:  # ELOOP, EACCES on the link's target, ENOENT raced
            issues.append(
                Problem(
                    entry.path,
                    Reason("cannot follow this folder entry: {reason}; skipped", reason=os_reason(exc)),
                )
            )
    return sorted(names)


def load_artifacts(
    root: str | os.PathLike[str],
    *,
    tz: tzinfo | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache: LoadCache | None = None,
) -> ArtifactTree:
    """Load every session under ``root``; sessions sorted by id (plain string order).

    Raises :class:`~ztbkit.core.errors.ArtifactsNotFoundError` when ``root`` is not a folder; every
    other problem is recorded, not raised. ``progress(done, total)`` is called every 500 sessions.
    ``root`` may be an fsspec URL (``s3://bucket/prefix``): see :mod:`ztbkit.data.storage`. With ``cache``,
    sessions whose files did not change since the cached load are not parsed again (:mod:`ztbkit.data.loadcache`).
    """
    root_s = local_path(root)
    remote = RemoteTree(root_s) if is_remote(root_s) else None  # listed once, files fetched concurrently
    root_s = remote.url if remote else root_s
    if remote is None and not os.path.isdir(root_s):
        what = _("is not a folder") if os.path.exists(root_s) else _("does not exist")
        if not os.path.isabs(root_s):  # README's relative paths pasted from another folder: say which one
            what += _(" in {folder}").format(folder=os.getcwd())
        raise ArtifactsNotFoundError(
            _("artifacts folder {root} {what} (set it with --artifacts-dir)").format(
                root=repr(root_s), what=what
            )
        )
    tz = tz or default_tz()  # resolved once, not per timestamp
    if cache is not None:
        cache.begin(root_s, remote, tz)  # before any read: a remote tree then skips unchanged sessions' files
    tree_issues: list[Problem] = []
    entries = _index_entries(root_s, tree_issues, remote)
    folders = remote.folders if remote else _session_folders(root_s, tree_issues)
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
            finish_session(ghost, {INDEX_FILE: entry}, issues, tz)
            ghost.status = "missing"
            ghost.issues = [Problem(os.path.join(root_s, p.path), p.reason) for p in issues]
            ghost.issues.append(
                Problem(os.path.join(root_s, sid), Reason("listed in index.json but the folder is missing"))
            )
            sessions.append(ghost)
    sessions.sort(key=lambda s: s.session_id)
    if cache is not None:
        cache.save(sessions)
    from ztbkit.data.notes import annotate

    problem = annotate(sessions, root_s)  # after the cache: notes change without the bot's files changing
    if problem is not None:
        tree_issues.append(problem)
    return ArtifactTree(root=Path(root_s), sessions=sessions, issues=tree_issues)
