"""Incremental loading: a session whose files did not change since the last load is not parsed again.

Policy (users depend on it):

* A session is reused from the cache only when every file the loader reads in its folder
  (summary.json, metrics.json, run_metadata.json, reports/gates.json, reports/cost_estimate.json,
  ztb.stop) has the same identity as when it was cached — on disk: type, size, ``mtime_ns``, inode and
  ``ctime_ns``;
  on object storage: ETag (or version id) and size from the one listing — and its index.json entry
  is the same. Anything else (a new, changed, removed or replaced file) means the session is parsed.
  Writers that replace files (as the bot and ztbkit do: new inode) are always seen, and so is a rewrite
  in place (nanosecond mtimes are compared). An identity taken within 2 s of a file's mtime is *racy*
  (:mod:`ztbkit.data.folderid`) and is not reused, so a same-size rewrite in the same clock tick as the
  read is read again the next time. A same-size rewrite whose mtime is then put back exactly
  (``touch -r``, ``cp -p`` or ``rsync -a`` of an older copy over the file) is seen by its change time,
  which cannot be put back. (Folder mtimes do not replace these checks here: every file the
  loader reads must be looked at anyway to see a rewrite in place, and it lists no folder.)
* The cache is a base file — the snapshot format (:mod:`ztbkit.data.snapshot`) plus an ``identity``
  column — and an append-only journal beside it (``NAME.parquet.journal``): a night appends one line per
  session it parsed (or priced) instead of rewriting 10,000 rows. When the journal outgrows a quarter of
  the tree (at least :data:`COMPACT_MIN` lines) the base is rewritten atomically with a new generation,
  and the journal of the old one is ignored. A run killed mid-append leaves a torn last line, which is
  skipped (that session is parsed again); nothing else is lost.
* It is valid only for the same tree, time zone, schema version and parser code (a fingerprint of the
  loader modules); a corrupted, foreign or mismatched cache is ignored with a :class:`SnapshotWarning` and
  rebuilt — never used to produce a report. A journal line of the wrong shape is skipped.
* It lives in ``$XDG_CACHE_HOME/ztbkit/load/`` (default ``~/.cache``), one file per tree; deleting it is
  always safe (the next run is a cold one).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
import warnings
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit.core.errors import ZtbError
from ztbkit.core.fsio import atomic_write_bytes
from ztbkit.data.columns import (
    SCHEMA_VERSION,
    SnapshotWarning,
    _dumps,
    _loads,
    columns_to_sessions,
    read_parquet,
    sessions_to_columns,
    utf8_ok,
)
from ztbkit.data.folderid import RACY_NS, now_ns
from ztbkit.data.storage import SESSION_FILES, RemoteTree, redact

if TYPE_CHECKING:
    from ztbkit.data.session import Session

#: A journal longer than this many lines (and a quarter of the tree) is folded into a new base file.
COMPACT_MIN = 1000
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
    """[type, size, mtime_ns, inode, ctime_ns] of each file the loader reads in ``folder`` (None: absent)."""
    out: list[Any] = []
    base = folder + os.sep
    for name in _FILES:
        try:
            st = os.lstat(base + name)
        except OSError:
            out.append(None)
            continue
        out.append([stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns])
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
        self._racy: set[str] = set()  # folders with a file modified within a clock tick of the read
        self._generation = ""  # the base file's; journal lines of another generation are ignored
        self._journaled = 0  # journal lines applied
        self._taken = 0
        self.reused = 0
        self.parsed = 0

    def begin(self, root: str, remote: RemoteTree | None, tz: tzinfo) -> None:
        """Read the cache of ``root``; tell a remote tree which folders' files need no fetching."""
        self.path = self.path or default_path(root)
        self._remote = remote
        self._meta = {"version": SCHEMA_VERSION, "root": root, "tz": str(tz), "parser": _parser_fingerprint()}
        self._rows, self._cols, self._idents, self._clean = {}, {}, {}, {}
        self._racy, self._generation, self._journaled = set(), "", 0
        self._taken = now_ns()  # identities taken from now on: a file modified after this is racy
        got = read_parquet(self.path, "load cache") if self.path.exists() else None
        if got is not None:
            cols, meta = got
            if {k: meta.get(k) for k in self._meta} != self._meta or "identity" not in cols:
                warnings.warn(f"load cache {self.path} ignored: written for another tree, time zone or "
                              "ztbkit version", SnapshotWarning, stacklevel=3)  # fmt: skip
            else:
                self._cols = cols
                self._generation = str(meta.get("generation") or "")
                self._rows = {f: i for i, f in enumerate(cols["folder"]) if f is not None}
                self._replay(journal_path(self.path))
        if remote is not None:
            sep = os.sep
            remote.skip = {
                name for name in remote.folders
                if (i := self._rows.get(f"{root}{sep}{name}")) is not None
                and _stored_files(self._cols["identity"][i]) == remote.identity(f"{root}{sep}{name}")
            }  # fmt: skip

    def get(self, folder: str, entry: Mapping[str, Any] | None) -> Session | None:
        """The cached session of ``folder`` when nothing it was parsed from changed; else None."""
        files = self._remote.identity(folder) if self._remote is not None else local_identity(folder)
        ident = _identity_text([files, entry])
        self._idents[folder] = ident
        if self._remote is None and any(f is not None and f[2] >= self._taken - RACY_NS for f in files):
            self._racy.add(folder)  # changed within a clock tick of this read: not trusted next time
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

    def _replay(self, path: Path) -> None:
        """Apply the journal's lines of this base's generation (torn or foreign lines are skipped)."""
        try:
            data = path.read_bytes()
        except OSError:
            return
        names = set(self._cols)
        for line in data.split(b"\n"):
            try:
                rec = _loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue  # a torn last line (a run killed mid-append), or not ours
            if not (isinstance(rec, dict) and rec.get("g") == self._generation and self._generation):
                continue
            row = rec.get("row")
            if not (isinstance(row, dict) and set(row) == names and _row_ok(row)):
                continue
            for name, col in self._cols.items():
                col.append(row[name])
            self._rows[row["folder"]] = len(self._cols["folder"]) - 1
            self._journaled += 1

    def save(self, sessions: list[Session]) -> None:
        """Record the sessions just loaded (best effort: a cache that cannot be written only means the
        next run parses everything): the ones parsed or priced since are appended to the journal; the
        whole base is rewritten only on a first run or when the journal has grown (see above)."""
        # A folder whose name is not UTF-8 (kept as surrogates) cannot go into Parquet: parsed every run.
        kept = [
            s for s in sessions if s.folder is not None and s.folder in self._idents and utf8_ok(s.folder)
        ]
        if self.path is None:
            return
        changed = [s for s in kept if not self._is_clean(s)]
        if self._generation and self._journaled + len(changed) <= max(COMPACT_MIN, len(kept) // 4):
            self._append(changed)
        else:
            self._rewrite(kept)

    def _is_clean(self, s: Session) -> bool:
        hit = self._clean.get(s.folder or "")
        return hit is not None and hit[0] is s and hit[1] is s.cost_estimate and s.folder not in self._racy

    def _identity_of(self, s: Session) -> str:
        return "racy" if s.folder in self._racy else self._idents[s.folder or ""]

    def _append(self, changed: list[Session]) -> None:
        if not changed:
            return
        try:
            cols = self.columns_for(changed)
            lines = [
                _dumps({"g": self._generation, "row": {**{n: c[k] for n, c in cols.items()},
                                                        "identity": self._identity_of(s)}})
                for k, s in enumerate(changed)
            ]  # fmt: skip
            data = ("\n".join(lines) + "\n").encode("utf-8")
        except (ValueError, TypeError) as exc:
            warnings.warn(f"load cache {self.path} not written: {exc}", SnapshotWarning, stacklevel=3)
            return
        path = journal_path(self.path or Path())
        try:
            append_line_block(path, data)
        except OSError as exc:
            warnings.warn(f"load cache {path} not written: {exc}", SnapshotWarning, stacklevel=3)

    def _rewrite(self, kept: list[Session]) -> None:
        from ztbkit.data.columns import to_parquet_bytes

        meta = {**self._meta, "generation": secrets.token_hex(8)}
        try:
            cols = self.columns_for(kept)
            data = to_parquet_bytes(cols, meta, extra={"identity": [self._identity_of(s) for s in kept]})
        except ValueError as exc:  # UnicodeEncodeError and pyarrow's ArrowInvalid among them
            warnings.warn(f"load cache {self.path} not written: {exc}", SnapshotWarning, stacklevel=3)
            return
        assert self.path is not None
        try:
            atomic_write_bytes(self.path, data, durable=False)
        except (OSError, ZtbError) as exc:
            warnings.warn(f"load cache {self.path} not written: {exc}", SnapshotWarning, stacklevel=3)
            return
        # The old journal belongs to the old generation (ignored if this removal never happens).
        with contextlib.suppress(OSError):
            os.unlink(journal_path(self.path))


def _stored_files(identity: Any) -> Any:
    try:
        return json.loads(identity)[0]
    except (ValueError, TypeError, IndexError, KeyError):  # "racy", or not ours
        return None


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def append_line_block(path: Path, data: bytes) -> None:
    """Append ``data`` (whole lines) in one write. A torn tail left by a killed run is cut back to its last
    complete line first, so the new lines never continue a broken one."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        size = os.fstat(fd).st_size
        if size:
            tail = (
                os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20))) if hasattr(os, "pread") else b"\n"
            )
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                os.ftruncate(fd, size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))
        os.write(fd, data)
    finally:
        os.close(fd)


#: Column kinds a journal line must have (the base file's Parquet schema checks its own).
def _row_ok(row: dict[str, Any]) -> bool:
    from ztbkit.data.columns import _BOOLS, _FLOATS, _INTS

    if not isinstance(row.get("folder"), str) or not isinstance(row.get("session_id"), str):
        return False
    for name, value in row.items():
        if value is None:
            continue
        if name in _BOOLS:
            ok = isinstance(value, bool)
        elif name in _INTS:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif name in _FLOATS:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            return False
    return True
