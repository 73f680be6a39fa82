"""Incremental loading: a session whose files did not change since the last load is not parsed again.

Policy (users depend on it):

* A session is reused from the cache only when every file the loader reads in its folder
  (summary.json, metrics.json, run_metadata.json, reports/gates.json, reports/cost_estimate.json,
  ztb.stop) has the same identity as when it was cached — on disk: type, size, ``mtime_ns`` and inode;
  on object storage: ETag (or version id) and size from the one listing — and its index.json entry
  is the same. Anything else (a new, changed, removed or replaced file) means the session is parsed.
  Writers that replace files (as the bot and ztbkit do: new inode) are always seen; a same-size
  rewrite in place within the file system's timestamp resolution is the one change it cannot see.
* The cache file is the snapshot format (:mod:`ztbkit.data.snapshot`) plus an ``identity`` column. It is
  valid only for the same tree, time zone, schema version and parser code (a fingerprint of the loader
  modules); a corrupted, foreign or mismatched cache is ignored with a :class:`SnapshotWarning` and
  rebuilt — never used to produce a report.
* It lives in ``$XDG_CACHE_HOME/ztbkit/load/`` (default ``~/.cache``), one file per tree; deleting it is
  always safe (the next run is a cold one).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit.core.fsio import atomic_write_bytes
from ztbkit.data.columns import (
    SCHEMA_VERSION,
    SnapshotWarning,
    columns_to_sessions,
    read_parquet,
    sessions_to_columns,
    utf8_ok,
)
from ztbkit.data.storage import SESSION_FILES, RemoteTree, redact

if TYPE_CHECKING:
    from ztbkit.data.session import Session

_FILES = tuple(name.replace("/", os.sep) for name in (*SESSION_FILES, "ztb.stop"))
#: The loader's own code, relative to the package: a change to any of them invalidates the cache.
_PARSER_MODULES = (
    "data/artifacts.py",
    "data/session.py",
    "data/lookup.py",
    "data/gates.py",
    "data/columns.py",
    "data/hparams.py",  # the hyperparameter rules: a changed rule re-reads every session
    "data/loadcache.py",
    "core/values.py",
    "core/jsonread.py",
    "core/fsio.py",
)


def _parser_fingerprint() -> str:
    """A hash of the loader's own code: a cache written by other parsing rules is not reused."""
    h = hashlib.sha256()
    for name in _PARSER_MODULES:
        h.update((Path(__file__).parents[1] / name).read_bytes())
    return h.hexdigest()[:16]


def default_path(root: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ztbkit" / "load" / f"{hashlib.sha256(redact(root).encode()).hexdigest()[:16]}.parquet"


def _identity_text(value: Any) -> str:
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # integers past 64 bits in an index entry
        return json.dumps(value, sort_keys=True, default=str)


def local_identity(folder: str) -> list[Any]:
    """[type, size, mtime_ns, inode] of each file the loader reads in ``folder`` (None: absent)."""
    out: list[Any] = []
    base = folder + os.sep
    for name in _FILES:
        try:
            st = os.lstat(base + name)
        except OSError:
            out.append(None)
            continue
        out.append([stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino])
    return out


class LoadCache:
    """One tree's parse cache. ``load_artifacts(root, cache=LoadCache())`` uses and refreshes it.

    ``parsed`` counts the sessions parsed in the last load (the rest came from the cache).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._rows: dict[str, int] = {}
        self._cols: dict[str, list[Any]] = {}
        self._idents: dict[str, str] = {}
        #: folder → (the session handed out, its cost_estimate object, its row in the old columns)
        self._clean: dict[str, tuple[Session, Any, int]] = {}
        self._remote: RemoteTree | None = None
        self._meta: dict[str, Any] = {}
        self.reused = 0
        self.parsed = 0

    def begin(self, root: str, remote: RemoteTree | None, tz: tzinfo) -> None:
        """Read the cache of ``root``; tell a remote tree which folders' files need no fetching."""
        self.path = self.path or default_path(root)
        self._remote = remote
        self._meta = {"version": SCHEMA_VERSION, "root": root, "tz": str(tz), "parser": _parser_fingerprint()}
        self._rows, self._cols, self._idents, self._clean = {}, {}, {}, {}
        got = read_parquet(self.path, "load cache") if self.path.exists() else None
        if got is not None:
            cols, meta = got
            if {k: meta.get(k) for k in self._meta} != self._meta or "identity" not in cols:
                warnings.warn(f"load cache {self.path} ignored: written for another tree, time zone or "
                              "ztbkit version", SnapshotWarning, stacklevel=3)  # fmt: skip
            else:
                self._cols = cols
                self._rows = {f: i for i, f in enumerate(cols["folder"]) if f is not None}
        if remote is not None:
            sep = os.sep
            remote.skip = {
                name for name in remote.folders
                if (i := self._rows.get(f"{root}{sep}{name}")) is not None
                and json.loads(self._cols["identity"][i])[0] == remote.identity(f"{root}{sep}{name}")
            }  # fmt: skip

    def get(self, folder: str, entry: Mapping[str, Any] | None) -> Session | None:
        """The cached session of ``folder`` when nothing it was parsed from changed; else None."""
        files = self._remote.identity(folder) if self._remote is not None else local_identity(folder)
        ident = _identity_text([files, entry])
        self._idents[folder] = ident
        i = self._rows.get(folder)
        if i is not None and self._cols["identity"][i] == ident:
            self.reused += 1
            s = columns_to_sessions(self._cols, [i])[0]
            self._clean[folder] = (s, s.cost_estimate, i)
            return s
        self.parsed += 1
        return None

    def columns_for(self, sessions: list[Session]) -> dict[str, list[Any]]:
        """Snapshot columns of ``sessions``: rows of unchanged cached sessions are copied, not serialised
        again (a session whose cost estimate was replaced since, by pricing, is serialised afresh)."""
        old: dict[int, int] = {}
        for s in sessions:
            hit = self._clean.get(s.folder or "")
            if hit is not None and hit[0] is s and hit[1] is s.cost_estimate:
                old[id(s)] = hit[2]
        fresh = [s for s in sessions if id(s) not in old]
        new = sessions_to_columns(fresh)
        pos = {id(s): k for k, s in enumerate(fresh)}
        return {
            name: [self._cols[name][old[id(s)]] if id(s) in old else col[pos[id(s)]] for s in sessions]
            for name, col in new.items()
        }

    def save(self, sessions: list[Session]) -> None:
        """Write the cache for the sessions just loaded (best effort: a cache that cannot be written
        only means the next run parses everything)."""
        from ztbkit.data.columns import to_parquet_bytes

        # A folder whose name is not UTF-8 (kept as surrogates) cannot go into Parquet: parsed every run.
        kept = [
            s for s in sessions if s.folder is not None and s.folder in self._idents and utf8_ok(s.folder)
        ]
        try:
            cols = self.columns_for(kept)
            data = to_parquet_bytes(
                cols, self._meta, extra={"identity": [self._idents[s.folder or ""] for s in kept]}
            )
        except ValueError as exc:  # UnicodeEncodeError and pyarrow's ArrowInvalid among them
            warnings.warn(f"load cache {self.path} not written: {exc}", SnapshotWarning, stacklevel=3)
            return
        if self.path is None:
            return
        try:
            atomic_write_bytes(self.path, data, durable=False)
        except OSError as exc:
            warnings.warn(f"load cache {self.path} not written: {exc}", SnapshotWarning, stacklevel=3)
